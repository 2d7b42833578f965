import { startHciPty } from '../emulator/ble/hci-pty.ts';
import { EmulatedBleBindings } from '../emulator/ble/noble-bindings.ts';
import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { serveVpcd } from '../emulator/vpcd-card.ts';
import { ConfigError } from '../errors.ts';
import type { TrafficLog } from '../traffic.ts';
import type { Advertisement, GattLink } from '../transport/ble/connection.ts';
import {
  connectGatt,
  createNoble,
  type NobleSource,
  scanFido,
  stop as stopNoble,
} from '../transport/ble/noble.ts';
import type { HidConnection } from '../transport/hid/connection.ts';
import { openFifoHid } from '../transport/hid/fifo-hid.ts';
import { openNodeHid } from '../transport/hid/node-hid.ts';
import type { CardConnection } from '../transport/nfc/connection.ts';
import { openPcscCard } from '../transport/nfc/nfc-pcsc.ts';
import type { TransportKind } from '../transport/transport.ts';
import type { DeviceSpec } from './device-spec.ts';
import type { StationFile } from './station-file.ts';

/**
 * Opens the byte-level connections to the device under test: real adapters (node-hid,
 * nfc-pcsc) or the emulated chip's front-ends. The adapters load their native libraries
 * only when first used, so a machine without them still runs the emulated station. (They
 * are imported statically on purpose: under mocha's CommonJS loading a dynamic import()
 * makes a second copy of rig/errors.ts, and `instanceof TransportError` stops working.)
 */
export function transportsOf(
  spec: DeviceSpec,
  file: StationFile,
  recorded?: readonly TransportKind[],
): TransportKind[] {
  if (spec.kind === 'replay') return [...(recorded ?? [])];
  if (spec.kind === 'emulator')
    return (file.emulator?.transports ?? ['hid', 'nfc', 'ble']) as TransportKind[];
  if (spec.kind === 'pcsc') return ['nfc'];
  if (spec.kind === 'ble') return ['ble'];
  return ['hid'];
}

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

export interface CardLink {
  connection: CardConnection;
  /** A fresh connection to the same card (after a link fault), keeping what serves it. */
  reopen: () => Promise<CardConnection>;
  /** Stops serving the emulated card (vpcd path). */
  stop?: () => Promise<void>;
}

export async function openCardConnection(
  spec: DeviceSpec,
  file: StationFile,
  emulator: EmulatedChip | undefined,
  log: TrafficLog,
): Promise<CardLink> {
  const timeouts = { transmitTimeoutMs: file.timeouts.exchangeMs };
  if (spec.kind === 'emulator') {
    const nfc = file.emulator?.nfc ?? { path: 'in-process' as const };
    if (nfc.path === 'in-process') {
      return { connection: emulator!.cardConnection(), reopen: async () => emulator!.cardConnection() };
    }
    // The same card, served to pcscd through vpcd, reached through nfc-pcsc like a real reader.
    const [host, port] = splitHostPort(nfc.vpcd ?? '127.0.0.1:35963', 'emulator.nfc.vpcd');
    const server = await serveVpcd(emulator!.nfcCard(), { host, port, log });
    const open = () => openPcscCard(nfc.reader ?? 'Virtual PCD 00 00', { ...timeouts, log });
    try {
      return { connection: await open(), reopen: open, stop: () => server.close() };
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  if (spec.kind === 'pcsc') {
    const open = () => openPcscCard(spec.reader, { ...timeouts, log });
    return { connection: await open(), reopen: open };
  }
  throw new ConfigError(`device ${spec.text} has no NFC interface`);
}

export function splitHostPort(text: string, field: string): [string, number] {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) throw new ConfigError(`${field}: "${text}" is not HOST:PORT`);
  return [m[1]!, port];
}

export interface BleLink {
  link: GattLink;
  /** Disconnects and releases noble (and the emulated controller, on the pty path). */
  close: () => Promise<void>;
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
  const pty = await startHciPty(peripheral, { path: ble.pty });
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
  const pty = await startHciPty(peripheral, { path: ble.pty });
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
