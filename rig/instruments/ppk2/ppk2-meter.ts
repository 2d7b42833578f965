/**
 * PowerMeter over a Nordic PPK2 (USB CDC serial). Protocol facts and sources: ppk2-protocol.ts.
 *
 * open:    AverageStop (an earlier run may have left it streaming), GetMetadata (the
 *          calibration), RegulatorSet (the supply, e.g. 3.7 V for a Li-ion cell; the
 *          conversion's S term needs it in ampere mode too), SetPowerMode, and in source mode
 *          DeviceRunningSet 1 (power the DUT) — the order of the public example scripts.
 * measure: AverageStart, count samples until the window is full, AverageStop, wait for quiet.
 * close:   AverageStop, DeviceRunningSet 0 if this driver powered the DUT, close the port.
 *
 * Time comes from the sample count (the PPK2's own clock), not the host's: the window is
 * durationMs × sampleRateHz samples, dropped ones (counter gaps) included. Give the simulator's
 * rate in `sampleRateHz` when measuring a simulator.
 */
import { SerialPort } from 'serialport';
import { InstrumentError } from '../../errors.ts';
import type { CurrentMeasurement, PowerMeter } from '../roles.ts';
import {
  adcToMicroamps,
  averageStartFrame,
  averageStopFrame,
  deviceRunningFrame,
  extractMetadata,
  getMetadataFrame,
  PPK2_SAMPLE_RATE_HZ,
  type Ppk2Calibration,
  type Ppk2Mode,
  Ppk2SampleDecoder,
  parseMetadata,
  powerModeFrame,
  regulatorFrame,
} from './ppk2-protocol.ts';

export interface Ppk2MeterOptions {
  /** Serial port of the PPK2 (its first CDC ACM interface). */
  path: string;
  /** Instrument name in messages and reports. Default "ppk2". */
  name?: string;
  /** Default "source": the PPK2 stands in for the battery. "ampere": the battery powers the DUT through the PPK2. */
  mode?: Ppk2Mode;
  /** Regulator voltage, mV. Default 3700 (a Li-ion cell's nominal voltage). */
  voltageMv?: number;
  /** Samples per second the instrument streams. Default 100 000 (the PPK2); a simulator's rate otherwise. */
  sampleRateHz?: number;
  /** Limit for every wait on the instrument (open, metadata, write, stop), ms. Default 2000. */
  timeoutMs?: number;
}

/** A CurrentMeasurement with the PPK2's data-quality counts. */
export interface Ppk2Measurement extends CurrentMeasurement {
  /** Samples missing from the stream (counter gaps); the charge assumes they drew the mean. */
  droppedSamples: number;
  /** Samples with a range code the PPK2 does not have (5..7), left out of the statistics. */
  invalidSamples: number;
  sampleRateHz: number;
}

type Phase = 'idle' | 'metadata' | 'sampling' | 'stopping';

interface Waiter {
  done: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

const QUIET_MS = 50;

export class Ppk2Meter implements PowerMeter {
  readonly name: string;
  readonly path: string;
  readonly mode: Ppk2Mode;
  readonly voltageMv: number;
  readonly sampleRateHz: number;
  calibration: Ppk2Calibration | undefined;
  private readonly timeoutMs: number;
  private readonly port: SerialPort;
  private phase: Phase = 'idle';
  private inbox: Buffer = Buffer.alloc(0);
  private readonly decoder = new Ppk2SampleDecoder();
  private waiter: Waiter | undefined;
  private lastDataAt = 0;
  private poweredDut = false;
  private busy = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  private failure: InstrumentError | undefined;
  private acc = { target: 0, n: 0, sum: 0, max: Number.NEGATIVE_INFINITY, dropped: 0, invalid: 0 };

  private constructor(opts: Ppk2MeterOptions) {
    this.name = opts.name ?? 'ppk2';
    this.path = opts.path;
    this.mode = opts.mode ?? 'source';
    this.voltageMv = opts.voltageMv ?? 3700;
    this.sampleRateHz = opts.sampleRateHz ?? PPK2_SAMPLE_RATE_HZ;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    if (!(this.sampleRateHz > 0))
      throw new RangeError(`sampleRateHz must be positive, got ${this.sampleRateHz}`);
    regulatorFrame(this.voltageMv); // validates before any port is opened
    this.port = new SerialPort({ path: this.path, baudRate: 115200, autoOpen: false });
    this.port.on('data', (chunk: Buffer) => this.receive(chunk));
    this.port.on('error', (err: Error) =>
      this.fail(new InstrumentError('DISCONNECTED', `${this.where()}: port error: ${err.message}`)),
    );
    this.port.on('close', () => {
      if (!this.closed)
        this.fail(new InstrumentError('DISCONNECTED', `${this.where()}: port closed (unplugged?)`));
    });
  }

  /** Opens the port and configures the PPK2; on failure the port is closed again. */
  static async open(opts: Ppk2MeterOptions): Promise<Ppk2Meter> {
    const meter = new Ppk2Meter(opts);
    try {
      await meter.start();
      return meter;
    } catch (e) {
      await meter.shutdown(false);
      throw e;
    }
  }

  private where(): string {
    return `PPK2 "${this.name}" on ${this.path}`;
  }

  private async start(): Promise<void> {
    await this.withTimeout(
      new Promise<void>((resolve, reject) =>
        this.port.open((err) =>
          err
            ? reject(
                new InstrumentError(
                  'UNAVAILABLE',
                  `${this.where()}: cannot open the port: ${err.message}. Check the path (chiprig devices lists ports), ` +
                    'that the PPK2 is plugged in and that no other program (nRF Connect Power Profiler) holds it',
                ),
              )
            : resolve(),
        ),
      ),
      'opening the port',
    );
    await this.send(averageStopFrame());
    await this.waitQuiet();
    this.inbox = Buffer.alloc(0);
    this.phase = 'metadata';
    await this.send(getMetadataFrame());
    let meta: { text: string } | undefined;
    await this.waitFor(
      () => {
        meta = extractMetadata(this.inbox);
        return meta !== undefined;
      },
      () =>
        new InstrumentError(
          'TIMEOUT',
          `${this.where()}: no metadata answer to GetMetadata (0x19) within ${this.timeoutMs} ms ` +
            `(${this.inbox.length} bytes received). Check that the port is a PPK2 (not another CDC device), ` +
            'replug it, or update its firmware with nRF Connect Power Profiler',
        ),
    );
    this.phase = 'idle';
    this.inbox = Buffer.alloc(0);
    try {
      this.calibration = parseMetadata(meta!.text);
    } catch (e) {
      throw new InstrumentError('PROTOCOL', `${this.where()}: ${(e as Error).message}`, { cause: e });
    }
    await this.send(regulatorFrame(this.voltageMv));
    await this.send(powerModeFrame(this.mode));
    if (this.mode === 'source') {
      await this.send(deviceRunningFrame(true));
      this.poweredDut = true;
    }
  }

  /** Told once when the running window's first sample arrives. */
  private onStart: (() => void) | undefined;

  async measure(durationMs: number, opts: { onStart?: () => void } = {}): Promise<Ppk2Measurement> {
    if (!(Number.isFinite(durationMs) && durationMs > 0)) {
      throw new RangeError(`measure: durationMs must be a positive number, got ${durationMs}`);
    }
    if (this.closed) throw new InstrumentError('CLOSED', `${this.where()}: measure() after close()`);
    if (this.failure) throw this.failure;
    if (this.busy) throw new InstrumentError('BUSY', `${this.where()}: a measurement is already running`);
    this.busy = true;
    try {
      const target = Math.max(1, Math.round((durationMs * this.sampleRateHz) / 1000));
      this.acc = { target, n: 0, sum: 0, max: Number.NEGATIVE_INFINITY, dropped: 0, invalid: 0 };
      this.decoder.reset();
      this.onStart = opts.onStart;
      this.phase = 'sampling';
      await this.send(averageStartFrame());
      // Slack for USB latency and a slow host; a stream slower than sampleRateHz ends here.
      const limitMs = durationMs + Math.max(this.timeoutMs, durationMs);
      await this.waitFor(
        () => this.windowFilled(),
        () =>
          new InstrumentError(
            'TIMEOUT',
            `${this.where()}: ${this.acc.n + this.acc.dropped} of ${target} samples in ${limitMs} ms. ` +
              `Check that sampleRateHz (${this.sampleRateHz}) is the rate the instrument streams at, and the USB link`,
          ),
        limitMs,
      );
      this.phase = 'stopping';
      await this.send(averageStopFrame());
      await this.waitQuiet();
      const a = this.acc;
      const windowMs = ((a.n + a.dropped + a.invalid) * 1000) / this.sampleRateHz;
      if (a.n === 0) {
        throw new InstrumentError(
          'PROTOCOL',
          `${this.where()}: no valid sample in the window (${a.invalid} with an unknown range): check the firmware`,
        );
      }
      const meanUa = a.sum / a.n;
      return {
        durationMs: windowMs,
        samples: a.n,
        meanUa,
        maxUa: a.max,
        // µA × ms / (3 600 000 ms/h) = µAh
        chargeUah: (meanUa * windowMs) / 3_600_000,
        droppedSamples: a.dropped,
        invalidSamples: a.invalid,
        sampleRateHz: this.sampleRateHz,
      };
    } catch (e) {
      if (this.phase === 'sampling' && this.port.isOpen) {
        this.phase = 'stopping';
        await this.send(averageStopFrame()).catch(() => undefined);
        // Let the tail drain now, or it would be counted in the next window.
        await this.waitQuiet().catch(() => undefined);
      }
      throw e;
    } finally {
      this.onStart = undefined;
      this.phase = 'idle';
      this.busy = false;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown(true);
    return this.closing;
  }

  private async shutdown(orderly: boolean): Promise<void> {
    this.closed = true;
    this.waiter?.reject(new InstrumentError('CANCELLED', `${this.where()}: closed while waiting`));
    let powerOffError: Error | undefined;
    if (orderly && this.port.isOpen) {
      await this.send(averageStopFrame()).catch(() => undefined);
      if (this.poweredDut) {
        try {
          await this.send(deviceRunningFrame(false));
          this.poweredDut = false;
        } catch (e) {
          powerOffError = e as Error;
        }
      }
    }
    if (this.port.isOpen) {
      await this.withTimeout(
        new Promise<void>((resolve) => this.port.close(() => resolve())),
        'closing the port',
      ).catch(() => undefined);
    }
    if (powerOffError) {
      throw new InstrumentError(
        'DISCONNECTED',
        `${this.where()}: could not switch the DUT supply off (${powerOffError.message}); it may still be powered: unplug the PPK2`,
        { cause: powerOffError },
      );
    }
  }

  private windowFilled(): boolean {
    const a = this.acc;
    return a.n + a.dropped + a.invalid >= a.target;
  }

  private receive(chunk: Buffer): void {
    this.lastDataAt = performance.now();
    if (this.phase === 'metadata') {
      // Bounded: an unrelated device streaming binary must not grow it without end.
      this.inbox = Buffer.concat([this.inbox, chunk]).subarray(-65536);
    } else if (this.phase === 'sampling') {
      const cal = this.calibration!;
      const a = this.acc;
      this.decoder.push(chunk, (s, gap) => {
        if (this.windowFilled()) return;
        if (this.onStart) {
          const started = this.onStart;
          this.onStart = undefined;
          started();
        }
        a.dropped += Math.min(gap, a.target - (a.n + a.dropped + a.invalid));
        if (this.windowFilled()) return;
        const ua = adcToMicroamps(cal, s.range, s.adc, this.voltageMv);
        if (Number.isNaN(ua)) {
          a.invalid++;
          return;
        }
        a.n++;
        a.sum += ua;
        if (ua > a.max) a.max = ua;
      });
    }
    // idle / stopping: samples still in flight after AverageStop are discarded.
    if (this.waiter?.done()) this.waiter.resolve();
  }

  private fail(e: InstrumentError): void {
    this.failure ??= e;
    this.waiter?.reject(e);
  }

  /** Resolves when `done()` holds (checked on every received chunk), rejects with `onTimeout()` after `ms`. */
  private waitFor(done: () => boolean, onTimeout: () => InstrumentError, ms = this.timeoutMs): Promise<void> {
    if (done()) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const finish = (e?: Error) => {
        clearTimeout(timer);
        this.waiter = undefined;
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => finish(onTimeout()), ms);
      this.waiter = { done, resolve: () => finish(), reject: (e) => finish(e) };
    });
  }

  /** Waits until no byte has arrived for QUIET_MS (the tail of a stopped stream), at most timeoutMs. */
  private async waitQuiet(): Promise<void> {
    const deadline = performance.now() + this.timeoutMs;
    this.lastDataAt = Math.max(this.lastDataAt, performance.now());
    for (;;) {
      const now = performance.now();
      if (now - this.lastDataAt >= QUIET_MS) return;
      if (now > deadline) {
        throw new InstrumentError(
          'PROTOCOL',
          `${this.where()}: still streaming ${this.timeoutMs} ms after AverageStop (0x07): replug the PPK2`,
        );
      }
      if (this.failure) throw this.failure;
      await new Promise((r) => setTimeout(r, QUIET_MS / 2));
    }
  }

  private async send(frame: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const hex = Buffer.from(frame).toString('hex');
    await this.withTimeout(
      new Promise<void>((resolve, reject) => {
        this.port.write(Buffer.from(frame), (err) => {
          if (err) return reject(err);
          this.port.drain((e) => (e ? reject(e) : resolve()));
        });
      }),
      `writing command ${hex}`,
    ).catch((e: unknown) => {
      if (e instanceof InstrumentError) throw e;
      throw new InstrumentError(
        'DISCONNECTED',
        `${this.where()}: writing command ${hex} failed: ${(e as Error).message}. Replug the PPK2`,
        { cause: e },
      );
    });
  }

  private withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new InstrumentError(
              'TIMEOUT',
              `${this.where()}: ${what} took over ${this.timeoutMs} ms: replug the PPK2 or check the port`,
            ),
          ),
        this.timeoutMs,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}
