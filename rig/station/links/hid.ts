import type { EmulatedChip } from '../../emulator/emulated-chip.ts';
import { ConfigError, isDeviceFailure, isTransportError, TransportError } from '../../errors.ts';
import type { HidConnection } from '../../transport/hid/connection.ts';
import { FifoHidConnection, openFifoHid } from '../../transport/hid/fifo-hid.ts';
import { HidTransport } from '../../transport/hid/hid-transport.ts';
import { openNodeHid } from '../../transport/hid/node-hid.ts';
import type { DeviceSpec } from '../device-spec.ts';
import { troubleError } from '../trouble.ts';
import type { Link, LinkContext, LinkKind } from './registry.ts';

/** How long a device may take to come back after its power is restored (USB re-enumeration). */
const POWER_UP_MS = 5000;

/**
 * USB HID: node-hid, a FIFO device (u2f-ref-code's named pipes) or the emulated chip's HID
 * front-end, with the rig's CTAPHID INIT on top. A device whose INIT answer is wrong keeps
 * a raw connection for the cases that judge it (HID-INIT-01); the others cannot run.
 */
export class HidLink implements Link {
  readonly kind = 'hid';
  #transport: HidTransport | undefined;
  /** A HID connection open without a working HidTransport on it (its INIT failed, or a probe's). */
  #raw: HidConnection | undefined;
  /** The FIFO device's own connection (its touch command), under any recording wrapper. */
  #fifo: FifoHidConnection | undefined;

  constructor(private readonly ctx: LinkContext) {}

  get current(): HidTransport | undefined {
    return this.#transport;
  }

  get isOpen(): boolean {
    return this.#transport !== undefined || this.#raw !== undefined;
  }

  /** The HID transport, opened (and INIT done) on first use. */
  async open(): Promise<HidTransport> {
    if (this.#transport) return this.#transport;
    const trouble = this.ctx.trouble();
    if (trouble) throw troubleError(trouble);
    // A connection whose INIT is answered wrongly stays open for the raw cases (close
    // closes it); one whose INIT goes unanswered is closed, so nothing is left open behind.
    const connection = await this.raw();
    try {
      this.#transport = await HidTransport.open(connection, {
        log: this.ctx.traffic,
        timeoutMs: this.ctx.file.timeouts.exchangeMs,
      });
    } catch (error) {
      // The device answered INIT, wrongly: no channel for the rig's own exchanges. The case
      // on that requirement judges it; the others cannot run over this link.
      if (isDeviceFailure(error)) {
        this.ctx.markTrouble({
          state: 'unusable',
          since: this.ctx.currentCase(),
          why: (error as Error).message,
          judgedBy: ['HID-INIT-01'],
        });
      } else {
        // Silent or gone: nothing stays open, and the next use opens afresh.
        this.#raw = undefined;
        await connection.close().catch(() => undefined);
      }
      throw error;
    }
    this.#raw = undefined;
    return this.#transport;
  }

  /**
   * The device's HID connection without the rig's INIT: the open transport's, or one opened
   * for raw access where no transport could be (a device whose INIT answer is wrong).
   */
  async raw(): Promise<HidConnection> {
    if (this.#transport) return this.#transport.connection;
    if (!this.#raw) {
      const { record, replay, spec, emulator } = this.ctx;
      const open = async () => {
        if (replay) return replay.openHid();
        const raw = await openHidConnection(spec, emulator);
        if (raw instanceof FifoHidConnection) this.#fifo = raw;
        return raw;
      };
      this.#raw = record ? await record.openHid(open) : await open();
    }
    return this.#raw;
  }

  /** Touches a FIFO device (its INTERRUPT 199 toggles touch: dev.cc's DEV_touch). */
  async touchFifo(): Promise<void> {
    await this.open();
    if (!this.#fifo) throw new ConfigError(`${this.ctx.spec.text} is not a FIFO device`);
    await this.#fifo.touch();
  }

  async close(): Promise<void> {
    const old = this.#transport;
    const raw = this.#raw;
    this.#transport = undefined;
    this.#raw = undefined;
    await old?.close().catch(() => undefined);
    if (raw && raw !== old?.connection) await raw.close().catch(() => undefined);
  }

  async powerRestored(reopen: () => Promise<void>, reenumerates: boolean): Promise<void> {
    if (!this.isOpen) return;
    if (!reenumerates) return reopen();
    // After power-up a USB device re-enumerates: a relay's contacts settle, the chip boots,
    // the host finds it again. Until then opening it fails; retry for a while before
    // calling the device gone.
    const deadline = performance.now() + POWER_UP_MS;
    for (;;) {
      try {
        await reopen();
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const gone = isTransportError(error) && (code === 'DISCONNECTED' || code === 'NOT_FOUND');
        if (!gone) throw error;
        if (performance.now() >= deadline) {
          throw new TransportError(
            'DISCONNECTED',
            `${this.ctx.spec.text} did not come back within ${POWER_UP_MS} ms of power-up: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  facts(): Record<string, string> {
    // The descriptors are part of the device identity (rig/station/identity.ts).
    return {};
  }
}

/** The byte-level HID connection a device spec names: node-hid, a FIFO device or the emulator. */
export async function openHidConnection(
  spec: DeviceSpec,
  emulator: EmulatedChip | undefined,
): Promise<HidConnection> {
  if (spec.kind === 'emulator') return emulator!.hid();
  if (spec.kind === 'hid-path') return openNodeHid({ path: spec.path }, spec.text);
  if (spec.kind === 'fifo') return openFifoHid(spec.path);
  if (spec.kind === 'hid') {
    return openNodeHid(
      {
        vendorId: spec.vendorId,
        productId: spec.productId,
        ...(spec.serialNumber ? { serialNumber: spec.serialNumber } : {}),
      },
      spec.text,
    );
  }
  throw new ConfigError(`device ${spec.text} has no USB HID interface`);
}

export const HID_LINK: LinkKind = {
  kind: 'hid',
  name: 'USB HID',
  letter: 'H',
  serves: (spec) => spec.kind === 'hid' || spec.kind === 'hid-path' || spec.kind === 'fifo',
  create: (ctx) => new HidLink(ctx),
};
