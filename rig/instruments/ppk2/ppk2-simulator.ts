/**
 * A PPK2 on a byte stream: answers GetMetadata, obeys RegulatorSet, SetPowerMode,
 * DeviceRunningSet, AverageStart and AverageStop, and streams sample words encoded from a
 * modelled current, so the driver can be tested (and the emulated chip measured) over a pty.
 *
 * Sample rate: the real PPK2 streams 100 kHz (400 KB/s). Over a pty that load would make the
 * test timing depend on the machine, so the simulator streams in real time at a configurable,
 * lower rate (default 10 kHz, 40 KB/s). The driver must be given the same rate
 * (Ppk2MeterOptions.sampleRateHz) because it derives time from the sample count: integration
 * (mean, charge) stays correct, only time resolution is coarser.
 */
import type { Duplex } from 'node:stream';
import { openSerialPort } from '../serial.ts';
import {
  COUNTER_MODULO,
  formatMetadata,
  microampsToSample,
  type Ppk2Calibration,
  type Ppk2Mode,
  Ppk2Op,
  parseMetadata,
  SAMPLE_BYTES,
  splitCommands,
  writeSample,
} from './ppk2-protocol.ts';

/**
 * Calibration values of one real unit as published on Nordic DevZone (q-a 92921: resistors,
 * GS, GI, S, I of a PPK2; O values there are in another format and are left 0 here).
 * Realistic non-default gains make the simulator exercise the whole conversion formula.
 */
export const SIMULATED_CALIBRATION: Ppk2Calibration = {
  calibrated: false,
  r: [1008.1857, 102.3791, 10.4143, 0.9783, 0.0574],
  gs: [0, 138.3582, 21.5994, 3.013, 0.0876],
  gi: [1, 0.9614, 0.9534, 0.9415, 0.9521],
  o: [0, 0, 0, 0, 0],
  s: [-0.000000009, -0.000000064, -0.000000512, -0.000004891, 0.002447326],
  i: [0.000000044, 0.000000364, 0.000061116, -0.000254856, -0.007713722],
  ug: [1, 1, 1, 1, 1],
  vddMv: 3300,
  hw: 54350,
  mode: 2,
  ia: 58,
  extra: {},
};

export interface Ppk2SimulatorOptions {
  /** The DUT's current in microamperes, `tMs` since AverageStart (sample time, not wall time). */
  current: (tMs: number) => number;
  /** Streamed samples per second, in real time. Default 10 000 (see the file comment). */
  sampleRateHz?: number;
  /** GetMetadata answer; default formatMetadata(SIMULATED_CALIBRATION). */
  metadata?: string;
  /** How often due samples are written, ms. Default 10. */
  tickMs?: number;
  /** Samples to leave out (they still advance the counter), to model USB data loss. */
  dropSample?: (index: number) => boolean;
  /** Logic-port bits in every sample. Default 0. */
  logic?: number;
}

export class Ppk2Simulator {
  /** Every command frame received, in order (the exact bytes). */
  readonly commands: Uint8Array[] = [];
  vddMv: number;
  mode: Ppk2Mode | undefined;
  dutPowered = false;
  private readonly calibration: Ppk2Calibration;
  private readonly metadata: string;
  private readonly rate: number;
  private readonly tickMs: number;
  private pending: Uint8Array = new Uint8Array(0);
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private sent = 0;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    private readonly stream: Duplex,
    private readonly opts: Ppk2SimulatorOptions,
  ) {
    this.metadata = opts.metadata ?? formatMetadata(SIMULATED_CALIBRATION);
    // Encode with what the driver will decode (the text, rounded as printed), so the round trip is exact.
    this.calibration = parseMetadata(this.metadata);
    this.vddMv = this.calibration.vddMv ?? 3300;
    this.rate = opts.sampleRateHz ?? 10_000;
    this.tickMs = opts.tickMs ?? 10;
    if (!(this.rate > 0)) throw new RangeError(`sampleRateHz must be positive, got ${this.rate}`);
    stream.on('data', this.onData);
  }

  get streaming(): boolean {
    return this.timer !== undefined;
  }

  /** Stops streaming and detaches from the stream (does not close it). */
  stop(): void {
    this.stopStreaming();
    this.stream.off('data', this.onData);
  }

  private receive(chunk: Uint8Array): void {
    const all = new Uint8Array(this.pending.length + chunk.length);
    all.set(this.pending);
    all.set(chunk, this.pending.length);
    const { frames, rest } = splitCommands(all);
    this.pending = rest;
    for (const f of frames) {
      this.commands.push(f);
      this.execute(f);
    }
  }

  private execute(f: Uint8Array): void {
    switch (f[0]) {
      case Ppk2Op.GetMetadata:
        this.stream.write(Buffer.from(this.metadata, 'latin1'));
        break;
      case Ppk2Op.RegulatorSet:
        this.vddMv = (f[1]! << 8) | f[2]!;
        break;
      case Ppk2Op.SetPowerMode:
        this.mode = f[1] === 2 ? 'source' : 'ampere';
        break;
      case Ppk2Op.DeviceRunningSet:
        this.dutPowered = f[1] === 1;
        break;
      case Ppk2Op.AverageStart:
        this.startStreaming();
        break;
      case Ppk2Op.AverageStop:
        this.stopStreaming();
        break;
      default:
        // Other commands (user gains, reset, spike filter) change nothing the simulator models.
        break;
    }
  }

  private startStreaming(): void {
    this.stopStreaming();
    this.startedAt = performance.now();
    this.sent = 0;
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  private stopStreaming(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.startedAt) * this.rate) / 1000);
    if (due <= this.sent) return;
    const buf = Buffer.alloc((due - this.sent) * SAMPLE_BYTES);
    let at = 0;
    for (let k = this.sent; k < due; k++) {
      if (this.opts.dropSample?.(k)) continue;
      // In source mode with the output off the DUT is unpowered and draws nothing.
      const ua = this.mode === 'source' && !this.dutPowered ? 0 : this.opts.current((k * 1000) / this.rate);
      const { range, adc } = microampsToSample(this.calibration, ua, this.vddMv);
      writeSample(buf, at, { adc, range, counter: k % COUNTER_MODULO, logic: this.opts.logic ?? 0 });
      at += SAMPLE_BYTES;
    }
    this.sent = due;
    if (at > 0) this.stream.write(buf.subarray(0, at));
  }
}

/** Opens `path` (a pty end) with serialport and puts a simulator on it. */
export async function openPpk2Simulator(
  path: string,
  opts: Ppk2SimulatorOptions,
): Promise<{ simulator: Ppk2Simulator; close(): Promise<void> }> {
  const port = await openSerialPort(path, 115200, 'the PPK2 simulator');
  const simulator = new Ppk2Simulator(port, opts);
  let closing: Promise<void> | undefined;
  return {
    simulator,
    close() {
      closing ??= new Promise<void>((resolve) => {
        simulator.stop();
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      });
      return closing;
    },
  };
}
