import { EmulatedBleBindings } from '../../emulator/ble/noble-bindings.ts';
import type { EmulatedChip } from '../../emulator/emulated-chip.ts';
import { ConfigError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import { BleTransport } from '../../transport/ble/ble-transport.ts';
import type { Advertisement, BleLink, GattLink } from '../../transport/ble/connection.ts';
import {
  connectGatt,
  createNoble,
  type NobleSource,
  scanFido,
  stop as stopNoble,
} from '../../transport/ble/noble.ts';
import type { DeviceSpec } from '../device-spec.ts';
import { serveBleOnHciPty } from '../emulated.ts';
import type { StationFile } from '../station-file.ts';
import type { Link, LinkContext, LinkKind } from './registry.ts';

/**
 * Bluetooth LE: FIDO over GATT through noble, to a real device over the host's (or a UART)
 * controller, or to the emulated chip (in-process bindings, or noble's own HCI stack over a
 * pty to the emulated controller).
 */
export class FidoBleLink implements Link {
  readonly kind = 'ble';
  #transport: BleTransport | undefined;
  #gatt: BleLink | undefined;

  constructor(private readonly ctx: LinkContext) {}

  get current(): BleTransport | undefined {
    return this.#transport;
  }

  get isOpen(): boolean {
    return this.#transport !== undefined;
  }

  /** The FIDO BLE transport, opened on first use. */
  async open(): Promise<BleTransport> {
    if (!this.#transport) {
      const { replay, record, spec, file, emulator, traffic, hci } = this.ctx;
      const open = () => openBleLink(spec, file, emulator, traffic, hci);
      this.#gatt = replay ? await replay.openBle() : record ? await record.openBle(open) : await open();
      try {
        this.#transport = await BleTransport.open(this.#gatt.link, { log: traffic });
      } catch (error) {
        await this.close();
        throw error;
      }
    }
    return this.#transport;
  }

  /** The GATT link under the transport (GATT-level cases: BLE-GATT-*, BLE-VER-*). */
  async gatt(): Promise<GattLink> {
    await this.open();
    return this.#gatt!.link;
  }

  /**
   * What a scanning central sees of the device (BLE-ADV-*). The chip advertises only while
   * no central holds it, so the link is dropped first; the next use reconnects.
   */
  async scan(timeoutMs: number): Promise<Advertisement[]> {
    await this.close();
    this.ctx.note('BLE link dropped to scan for advertisements');
    const { replay, record, spec, file, emulator, hci } = this.ctx;
    const scan = () => scanBle(spec, file, emulator, timeoutMs, hci);
    if (replay) return replay.scan(timeoutMs);
    return record ? record.scan(timeoutMs, scan) : scan();
  }

  async close(): Promise<void> {
    const ble = this.#transport;
    const gatt = this.#gatt;
    this.#transport = undefined;
    this.#gatt = undefined;
    await ble?.close().catch(() => undefined);
    await gatt?.close().catch(() => undefined);
  }

  /** Whether the rig can put the device in and out of pairing mode itself (the emulated chip). */
  get canSetPairingMode(): boolean {
    if (this.ctx.replay) return this.ctx.replay.header.canSetPairingMode;
    return this.ctx.emulator !== undefined;
  }

  setPairingMode(on: boolean): void {
    this.ctx.note(`pairing mode ${on ? 'on' : 'off'}`);
    if (this.ctx.emulator) this.ctx.emulator.blePeripheral().pairingMode = on;
  }

  facts(): Record<string, string> {
    return {};
  }
}

/**
 * A GATT link to the device: the emulated chip through noble with in-process bindings, or
 * through noble's real HCI stack over a pty to the emulated controller (needs socat).
 */
export async function openBleLink(
  spec: DeviceSpec,
  file: StationFile,
  emulator: EmulatedChip | undefined,
  log: TrafficLog,
  hci?: string,
): Promise<BleLink> {
  if (spec.kind === 'ble') {
    const noble = createNoble(nobleSource(hci ?? file.ble.hci));
    try {
      const link = await connectGatt(noble, spec.target, {
        timeoutMs: 15_000,
        callTimeoutMs: file.timeouts.exchangeMs,
        log,
      });
      const close = async () => {
        await link.close().catch(() => undefined);
        await stopNoble(noble);
      };
      return { link, close };
    } catch (error) {
      await stopNoble(noble);
      throw error;
    }
  }
  if (spec.kind !== 'emulator') throw new ConfigError(`device ${spec.text} has no BLE interface`);
  const ble = file.emulator!.ble;
  const peripheral = emulator!.blePeripheral({
    controlPointLength: ble.controlPointLength,
    keepaliveMs: ble.keepaliveMs,
    presenceTimeoutMs: ble.presenceTimeoutMs,
  });
  const timeouts = { timeoutMs: 10_000, callTimeoutMs: file.timeouts.exchangeMs, log };
  if (ble.path === 'in-process') {
    const pacer = emulator!.blePacer();
    const bindings = new EmulatedBleBindings([peripheral], pacer ? { pacer } : {});
    const noble = createNoble({ kind: 'bindings', bindings });
    const link = await connectGatt(noble, peripheral.address, timeouts);
    const close = async () => {
      await link.close().catch(() => undefined);
      await stopNoble(noble);
    };
    return { link, close };
  }
  const pty = await serveBleOnHciPty(emulator!, ble.pty);
  const noble = createNoble({ kind: 'hci-uart', port: pty.path });
  try {
    const link = await connectGatt(noble, peripheral.address, timeouts);
    // noble must stop before the pty goes, or it retries the port for ~10 s.
    const close = async () => {
      await link.close().catch(() => undefined);
      await stopNoble(noble);
      await pty.stop();
    };
    return { link, close };
  } catch (error) {
    await stopNoble(noble);
    await pty.stop();
    throw error;
  }
}

/**
 * Scans for FIDO advertisers (service FFFD) the way a central sees them, without a
 * connection (the chip only advertises while no central holds it): BLE-ADV-*.
 */
export async function scanBle(
  spec: DeviceSpec,
  file: StationFile,
  emulator: EmulatedChip | undefined,
  timeoutMs: number,
  hci?: string,
): Promise<Advertisement[]> {
  if (spec.kind === 'ble') {
    const noble = createNoble(nobleSource(hci ?? file.ble.hci));
    try {
      return await scanFido(noble, { timeoutMs });
    } finally {
      await stopNoble(noble);
    }
  }
  if (spec.kind !== 'emulator') throw new ConfigError(`device ${spec.text} has no BLE interface`);
  const ble = file.emulator!.ble;
  const peripheral = emulator!.blePeripheral();
  if (ble.path === 'in-process') {
    const noble = createNoble({ kind: 'bindings', bindings: new EmulatedBleBindings([peripheral]) });
    try {
      return await scanFido(noble, { timeoutMs });
    } finally {
      await stopNoble(noble);
    }
  }
  const pty = await serveBleOnHciPty(emulator!, ble.pty);
  const noble = createNoble({ kind: 'hci-uart', port: pty.path });
  try {
    return await scanFido(noble, { timeoutMs });
  } finally {
    await stopNoble(noble);
    await pty.stop();
  }
}

/** "uart:PATH[@BAUD]" (the --hci flag and station ble.hci) as a noble source; absent: the host adapter. */
export function nobleSource(hci: string | undefined): NobleSource {
  if (hci === undefined) return { kind: 'default' };
  const m = /^uart:([^@]+)(?:@(\d+))?$/.exec(hci);
  if (!m) throw new ConfigError(`--hci: "${hci}" is not uart:PATH[@BAUD] (e.g. uart:/dev/ttyACM0@1000000)`);
  return { kind: 'hci-uart', port: m[1]!, ...(m[2] ? { baudRate: Number(m[2]) } : {}) };
}

export const BLE_LINK: LinkKind = {
  kind: 'ble',
  name: 'Bluetooth LE',
  letter: 'B',
  serves: (spec) => spec.kind === 'ble',
  create: (ctx) => new FidoBleLink(ctx),
};
