import { fromHex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import {
  HID_REPORT_SIZE,
  type HidConnection,
  type HidDeviceInfo,
  type UsbInterfaceInfo,
} from '../../transport/hid/connection.ts';
import type { HidPacer } from '../timing/pacers.ts';
import {
  type ChannelRules,
  CtaphidDevice,
  type CtaphidFaults,
  type DeviceVersion,
} from './ctaphid-device.ts';
import { ReportQueue } from './report-queue.ts';

/**
 * FIDO usage page F1D0, usage 01, 64-byte input (0x20) and output (0x21) reports: the typical
 * descriptor from catalogue §1.2 (OpenSK, google/OpenSK#399); HID-DESC-01 checks its prefix.
 */
export const TYPICAL_REPORT_DESCRIPTOR_HEX =
  '06D0F10901A1010920150026FF007508954081020921150026FF00750895409102C0';

export interface EmulatedHidDeviceOptions {
  /** The authenticator core (not part of this front-end). */
  handleApdu: (apdu: Uint8Array) => Promise<Uint8Array>;
  /** Default WINK | LOCK. */
  capabilities?: number;
  version?: DeviceVersion;
  /** Default 500 ms (catalogue §1.2). */
  frameTimeoutMs?: number;
  /** Default 'legacy' (U2F HID / GH expectations); see ChannelRules. */
  channelRules?: ChannelRules;
  onWink?: () => void;
  /** USB identity shown to the station; `path` is always 'emulator'. */
  info?: Partial<Omit<HidDeviceInfo, 'path'>>;
  /** Default TYPICAL_REPORT_DESCRIPTOR_HEX. */
  reportDescriptor?: Uint8Array;
  /** Deterministic CID allocation for tests; random by default. */
  firstCid?: number;
  /** USB link timing (polling interval, processing time); absent: reports pass at once. */
  pacer?: HidPacer;
  /** Deliberate CTAPHID non-conformances (emulator faults). */
  faults?: CtaphidFaults;
  /** HID-MSG-01 (disputed): see CtaphidDeviceOptions.emptyMsg. */
  emptyMsg?: 'invalid-len' | 'apdu-status';
}

type LinkState = 'connected' | 'unplugged' | 'closed';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The emulator's USB HID front-end: a HidConnection whose far side is the emulated chip's
 * CTAPHID state machine, so an emulated run exercises the real host framing code
 * (architecture.md, "Layers"). Everything happens in-process through promise resolution:
 * write() runs the state machine synchronously and queues the answer reports for read().
 */
export class EmulatedHidDevice implements HidConnection {
  readonly info: HidDeviceInfo;
  readonly #descriptor: Uint8Array;
  readonly #queue = new ReportQueue();
  readonly #device: CtaphidDevice;
  readonly #pacer: HidPacer | undefined;
  #state: LinkState = 'connected';
  /** Bumped on unplug and close, so reports paced before then are dropped. */
  #epoch = 0;

  constructor(options: EmulatedHidDeviceOptions) {
    if (typeof options?.handleApdu !== 'function')
      throw new TypeError('options.handleApdu: must be a function');
    this.info = {
      vendorId: 0x1209,
      productId: 0x0001,
      product: 'chiprig emulated U2F chip',
      manufacturer: 'chiprig',
      usagePage: 0xf1d0,
      usage: 0x01,
      ...options.info,
      path: 'emulator',
    };
    this.#descriptor = Uint8Array.from(options.reportDescriptor ?? fromHex(TYPICAL_REPORT_DESCRIPTOR_HEX));
    this.#pacer = options.pacer;
    const push = (report: Uint8Array) => {
      if (this.#state === 'connected' && !this.#hung) this.#queue.push(report);
    };
    this.#device = new CtaphidDevice({
      handleApdu: options.handleApdu,
      send: this.#pacer ? (report) => this.#pacer!.chipSends(report, this.#unlessReset(push)) : push,
      capabilities: options.capabilities,
      version: options.version,
      frameTimeoutMs: options.frameTimeoutMs,
      channelRules: options.channelRules,
      ...(options.emptyMsg ? { emptyMsg: options.emptyMsg } : {}),
      onWink: options.onWink,
      firstCid: options.firstCid,
      faults: options.faults,
    });
  }

  get capabilities(): number {
    return this.#device.capabilities;
  }

  get channelRules(): ChannelRules {
    return this.#device.channelRules;
  }

  /** Input reports queued and not yet read. */
  get pendingReports(): number {
    return this.#queue.size;
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** The host closed this handle; the chip itself lives on. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  write(report: Uint8Array): Promise<void> {
    if (this.#state !== 'connected') return Promise.reject(this.#gone());
    if (!(report instanceof Uint8Array) || report.length !== HID_REPORT_SIZE) {
      return Promise.reject(
        new RangeError(`report: must be ${HID_REPORT_SIZE} bytes, got ${report?.length}`),
      );
    }
    if (this.#hung) return RESOLVED;
    if (this.#pacer) {
      // On a timed link the report reaches the chip at its polling slot; the host's write
      // returns once the report is handed to the link, as a USB stack's does.
      const copy = new Uint8Array(report);
      this.#pacer.hostWrites(
        copy,
        this.#unlessReset((r) => this.#device.receive(r)),
      );
      return RESOLVED;
    }
    try {
      this.#device.receive(report);
    } catch (error) {
      return Promise.reject(error);
    }
    return RESOLVED;
  }

  /** Wraps a paced delivery so it is dropped if the link was unplugged or closed meanwhile. */
  #unlessReset(deliver: (report: Uint8Array) => void): (report: Uint8Array) => void {
    const epoch = this.#epoch;
    return (report) => {
      if (epoch === this.#epoch && this.#state === 'connected') deliver(report);
    };
  }

  read(timeoutMs: number): Promise<Uint8Array | undefined> {
    if (this.#state !== 'connected') return Promise.reject(this.#gone());
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(new RangeError(`timeoutMs: must be a number >= 0: ${timeoutMs}`));
    }
    return this.#queue.take(timeoutMs);
  }

  /** HidConnection.readQueued: a queued input report or undefined, at once. */
  readQueued(): Uint8Array | undefined {
    if (this.#state !== 'connected') throw this.#gone();
    return this.#queue.shift();
  }

  reportDescriptor(): Promise<Uint8Array> {
    return Promise.resolve(Uint8Array.from(this.#descriptor));
  }
  /**
   * The emulated chip's USB interface: HID class with one interrupt IN and one interrupt
   * OUT endpoint, polled every bInterval ms (full speed; 1 unless the link timing says more).
   */
  usbInterface(): Promise<UsbInterfaceInfo | undefined> {
    const interval = `${this.#pacer?.bInterval ?? 1}ms`;
    return Promise.resolve({
      interfaceClass: 0x03,
      endpoints: [
        { name: 'ep_81', type: 'Interrupt', direction: 'in', interval },
        { name: 'ep_01', type: 'Interrupt', direction: 'out', interval },
      ],
      source: 'emulated USB descriptors',
    });
  }

  /** Simulates unplugging: pending and later reads/writes reject DISCONNECTED; state is lost. */
  disconnect(): void {
    if (this.#state !== 'connected') return;
    this.#state = 'unplugged';
    this.#epoch++;
    this.#queue.fail(this.#gone());
    this.#device.reset();
    this.#device.dispose();
  }

  /**
   * The firmware locks up: the device stays on the bus, takes every report and answers
   * none, until the host closes it (a re-plug or power cycle brings up a fresh device).
   */
  hang(): void {
    this.#hung = true;
    this.#epoch++; // answers already on their way are lost too
  }

  #hung = false;

  /** Plugs the device back in with fresh state (no channels, no lock, empty queue). */
  reconnect(): void {
    if (this.#state === 'closed') throw new TransportError('DISCONNECTED', 'emulated HID device: closed');
    this.#device.reset();
    this.#queue.clear();
    this.#state = 'connected';
  }

  close(): Promise<void> {
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#epoch++;
      this.#queue.fail(this.#gone());
      this.#queue.dispose();
      this.#device.reset();
      this.#device.dispose();
    }
    return RESOLVED;
  }

  #gone(): TransportError {
    const why = this.#state === 'closed' ? 'closed' : 'unplugged';
    return new TransportError('DISCONNECTED', `emulated HID device: ${why}`);
  }
}
