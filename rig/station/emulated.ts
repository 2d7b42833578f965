/**
 * The emulated MitID chip as a station file describes it, and the front-ends that serve it
 * to hosts outside this process: the one place both `chiprig run` (a station whose device is
 * "emulator", rig/station/links/) and `chiprig emulate` assemble it.
 */
import { resolve } from 'node:path';
import { startHciPty } from '../emulator/ble/hci-pty.ts';
import { disputedChoices } from '../emulator/disputed.ts';
import { EmulatedChip } from '../emulator/emulated-chip.ts';
import type { FaultName } from '../emulator/faults.ts';
import { serveFifoHid } from '../emulator/front-ends/fifo-server.ts';
import { type ServeVpcdOptions, serveVpcd } from '../emulator/vpcd-card.ts';
import { ConfigError } from '../errors.ts';
import type { StationFile } from './station-file.ts';

/** The emulated chip a station file describes (also what `chiprig emulate` serves). */
export function makeEmulator(
  file: StationFile,
  fault: FaultName | undefined,
  masterKey?: Uint8Array,
): EmulatedChip {
  const e = file.emulator;
  if (!e) {
    throw new ConfigError(`station file ${file.path}: device "emulator" needs an "emulator" section`);
  }
  // counter and channelRules are the older names for three of the disputed points.
  const choices = disputedChoices(
    {
      ...(e.counter === 'per-credential' ? { 'U2F-CTR-04': 'per-credential' } : {}),
      ...(e.channelRules === 'strict'
        ? {
            'HID-INIT-03': 'strict-invalid-channel',
            'HID-CID-03': 'strict-invalid-channel',
            'HID-INIT-05': 'refused',
          }
        : {}),
      ...e.disputed,
    },
    `station file ${file.path}: emulator.disputed`,
  );
  return new EmulatedChip({
    vendorId: e.usb.vendorId,
    productId: e.usb.productId,
    manufacturer: e.manufacturer,
    product: e.product,
    serialNumber: e.serialNumber,
    release: e.usb.release,
    firmwareRevision: e.firmwareRevision,
    hardwareRevision: e.hardwareRevision,
    counter: choices['U2F-CTR-04'],
    channelRules: choices['HID-INIT-03'] === 'legacy-echo' ? 'legacy' : 'strict',
    disputed: choices,
    presenceWindowMs: e.presenceWindowMs,
    ...(e.approvesByItself ? { approvesByItself: true } : {}),
    attestationCertificatePath: resolve(file.dir, e.attestation.certificate),
    attestationKeyPath: resolve(file.dir, e.attestation.key),
    ...(fault ? { faults: [fault] } : {}),
    ...(masterKey ? { masterKey } : {}),
    ...(e.timing ? { timing: e.timing } : {}),
    ...(e.thermal ? { thermal: withoutUndefined(e.thermal) } : {}),
    ...(e.persistCounterEvery ? { persistCounterEvery: e.persistCounterEvery } : {}),
  });
}

function withoutUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

/** Where pcscd's vpcd driver listens for its first reader, "Virtual PCD 00 00" (35964: "Virtual PCD 00 01"). */
export const DEFAULT_VPCD = '127.0.0.1:35963';

/** A vpcd address, HOST:PORT (`field` names the setting in a ConfigError); absent: DEFAULT_VPCD. */
export function vpcdAddress(text: string | undefined, field: string): { host: string; port: number } {
  const [host, port] = splitHostPort(text ?? DEFAULT_VPCD, field);
  return { host, port };
}

/** The chip as a contactless card, served to pcscd's vpcd driver (the card a real reader would see). */
export function serveCardToVpcd(
  chip: EmulatedChip,
  at: { host: string; port: number },
  opts: Omit<ServeVpcdOptions, 'host' | 'port'> = {},
) {
  return serveVpcd(chip.nfcCard(), { ...opts, host: at.host, port: at.port });
}

/**
 * The chip as a FIDO BLE peripheral behind an emulated HCI controller on a pty at `path`
 * (needs socat), for any host that speaks HCI over a UART. `peripheral` shapes the GATT
 * side (the chip keeps the first peripheral it makes).
 */
export function serveBleOnHciPty(
  chip: EmulatedChip,
  path: string,
  peripheral: Parameters<EmulatedChip['blePeripheral']>[0] = {},
) {
  return startHciPty(chip.blePeripheral(peripheral), { path });
}

/**
 * The chip's USB HID interface behind two FIFOs, PATHin and PATHout (the u2f-ref-code
 * device shim's protocol); the host's INTERRUPT 199 presses the chip's button.
 */
export function serveHidOnFifos(chip: EmulatedChip, path: string, onEvent?: (text: string) => void) {
  return serveFifoHid(chip.hid(), {
    path,
    press: () => chip.pressButton(),
    ...(onEvent ? { onEvent } : {}),
  });
}

/** "HOST:PORT" as host and port (`field` names the setting in a ConfigError). */
export function splitHostPort(text: string, field: string): [string, number] {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) throw new ConfigError(`${field}: "${text}" is not HOST:PORT`);
  return [m[1]!, port];
}
