/** What the host knows of a HID device before and after opening it. */
export interface HidDeviceInfo {
  /** OS path (hidraw node on Linux); 'emulator' for the built-in chip. */
  readonly path: string;
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber?: string;
  readonly manufacturer?: string;
  readonly product?: string;
  readonly release?: number;
  readonly usagePage?: number;
  readonly usage?: number;
  readonly interface?: number;
}

/**
 * Bytes to and from one HID device: 64-byte FIDO reports, no report ID.
 * Implemented by the node-hid adapter and by the emulator's HID front-end.
 *
 * Contract:
 * - `write` takes exactly 64 bytes (the report ID quirk of the OS stays inside adapters).
 * - `read(timeoutMs)` resolves with the next 64-byte input report, or `undefined` when none
 *   arrived within `timeoutMs`. Reports arriving while nobody reads are queued in order.
 * - After the device goes away, `write` and `read` reject with TransportError('DISCONNECTED').
 * - `close` is idempotent and releases the device.
 */
export interface HidConnection {
  readonly info: HidDeviceInfo;
  write(report: Uint8Array): Promise<void>;
  read(timeoutMs: number): Promise<Uint8Array | undefined>;
  /**
   * Optional: the next input report if one has already arrived, else undefined, without
   * waiting and without a promise (what `read(0)` would give, but synchronous). Throws
   * where `read` would reject (DISCONNECTED). Only valid while no `read` is pending.
   * The emulator's front-end has it, so a host skips a promise round per queued report.
   */
  readQueued?(): Uint8Array | undefined;
  close(): Promise<void>;
  /** The HID report descriptor, or undefined where the platform does not expose it. */
  reportDescriptor?(): Promise<Uint8Array | undefined>;
  /** The USB interface behind the HID device, or undefined where it cannot be seen. */
  usbInterface?(): Promise<UsbInterfaceInfo | undefined>;
}

/** What the USB descriptors say of the HID interface (hidapi hides them; sysfs shows them). */
export interface UsbInterfaceInfo {
  interfaceClass: number;
  endpoints: { name: string; type: string; direction: string; interval: string }[];
  /** Where the figures came from, for the report. */
  source: string;
}

export const HID_REPORT_SIZE = 64;
