import { type FaultName, parseFault } from '../emulator/faults.ts';
import { ConfigError } from '../errors.ts';

/**
 * A device spec names the device under test on the command line and in station files.
 * These forms are a contract with lab scripts:
 *   emulator              the built-in emulated MitID chip
 *   emulator:FAULT        the same chip with a deliberate non-conformance (rig/emulator/faults.ts)
 *   hid:VID:PID[:SERIAL]  a USB HID key by 4-digit hex vendor and product ID
 *   hid:PATH              a USB HID key by OS path (e.g. /dev/hidraw3)
 *   pcsc:READER           a contactless card in the PC/SC reader whose name contains READER
 *   ble:NAME-or-ADDRESS   a Bluetooth LE authenticator by advertised name or address
 *   fifo:PATH             a HID device behind two named pipes, PATHin and PATHout (the device
 *                         shim of u2f-ref-code's HID tests; `chiprig emulate --fifo PATH`)
 *   replay:FILE           a recording of an earlier run (`chiprig run --record FILE`) played back
 */
export type DeviceSpec =
  | { kind: 'emulator'; text: string; fault?: FaultName }
  | { kind: 'hid'; text: string; vendorId: number; productId: number; serialNumber?: string }
  | { kind: 'hid-path'; text: string; path: string }
  | { kind: 'pcsc'; text: string; reader: string }
  | { kind: 'ble'; text: string; target: string }
  | { kind: 'fifo'; text: string; path: string }
  | { kind: 'replay'; text: string; path: string };

const VID_PID = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?::(.+))?$/;

export function parseDeviceSpec(text: string, where = '--device'): DeviceSpec {
  const spec = text.trim();
  if (spec === 'emulator') return { kind: 'emulator', text: spec };
  if (spec.startsWith('emulator:'))
    return { kind: 'emulator', text: spec, fault: parseFault(spec.slice(9), where) };
  if (spec.startsWith('pcsc:') && spec.length > 5) return { kind: 'pcsc', text: spec, reader: spec.slice(5) };
  if (spec.startsWith('ble:') && spec.length > 4) return { kind: 'ble', text: spec, target: spec.slice(4) };
  if (spec.startsWith('fifo:') && spec.length > 5) return { kind: 'fifo', text: spec, path: spec.slice(5) };
  if (spec.startsWith('replay:') && spec.length > 7)
    return { kind: 'replay', text: spec, path: spec.slice(7) };
  if (spec.startsWith('hid:')) {
    const rest = spec.slice(4);
    const m = VID_PID.exec(rest);
    if (m) {
      const out: DeviceSpec = {
        kind: 'hid',
        text: spec,
        vendorId: Number.parseInt(m[1]!, 16),
        productId: Number.parseInt(m[2]!, 16),
      };
      return m[3] ? { ...out, serialNumber: m[3] } : out;
    }
    if (rest.length > 0 && !/^[0-9a-fA-F]{1,4}(:[0-9a-fA-F]{0,4})?$/.test(rest)) {
      return { kind: 'hid-path', text: spec, path: rest };
    }
  }
  throw new ConfigError(
    `${where}: "${text}" is not a device spec. Use one of: emulator, emulator:FAULT, hid:VID:PID[:SERIAL] (4-digit hex IDs, e.g. hid:1050:0407), hid:PATH (e.g. hid:/dev/hidraw3), pcsc:READER (part of the reader name, e.g. "pcsc:Virtual PCD"), ble:NAME-or-ADDRESS, fifo:PATH (named pipes PATHin/PATHout, e.g. fifo:/tmp/u2f-), replay:FILE (a recording from chiprig run --record)`,
  );
}

export function hidSpecFor(info: { vendorId: number; productId: number; serialNumber?: string }): string {
  const h = (n: number) => n.toString(16).padStart(4, '0');
  return `hid:${h(info.vendorId)}:${h(info.productId)}${info.serialNumber ? `:${info.serialNumber}` : ''}`;
}
