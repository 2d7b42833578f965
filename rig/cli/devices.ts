import { ChiprigError } from '../errors.ts';
import { listSerialPorts } from '../instruments/serial-ports.ts';
import { hidSpecFor } from '../station/device-spec.ts';
import { nobleSource } from '../station/links/ble.ts';
import { createNoble, scanFido, stop as stopNoble } from '../transport/ble/noble.ts';
import { listFidoHidDevices } from '../transport/hid/node-hid.ts';
import { listReaders } from '../transport/nfc/nfc-pcsc.ts';
import { deviceText } from '../untrusted.ts';

interface Row {
  device: string;
  transport: 'hid' | 'nfc' | 'ble';
  name: string;
  detail: string;
}

/**
 * `chiprig devices`: attached FIDO HID devices, PC/SC readers and BLE advertisers, each with
 * the --device string that addresses it, then the serial ports instruments may sit on.
 * A missing native library, service or tool (udevadm) is reported, not fatal.
 */
export async function devices(opts: { json?: boolean; hci?: string; scanMs?: number }): Promise<number> {
  // Libraries print warnings with console.log (noble: "adapter does not support BLE"); with
  // --json, stdout is the JSON document alone, so their lines go to stderr.
  const log = console.log;
  if (opts.json) console.log = (...args: unknown[]) => console.error(...args);
  try {
    return await listAll(opts);
  } finally {
    console.log = log;
  }
}

async function listAll(opts: { json?: boolean; hci?: string; scanMs?: number }): Promise<number> {
  const rows: Row[] = [];
  const problems: string[] = [];
  try {
    for (const d of await listFidoHidDevices()) {
      rows.push({
        device: hidSpecFor(d),
        transport: 'hid',
        name: `${d.manufacturer ?? ''} ${d.product ?? ''}`.trim(),
        detail: `hid:${d.path}`,
      });
    }
  } catch (error) {
    problems.push(`USB HID: ${error instanceof ChiprigError ? error.message : String(error)}`);
  }
  try {
    for (const r of await listReaders()) {
      rows.push({
        device: `pcsc:${r.name}`,
        transport: 'nfc',
        name: r.name,
        detail: r.cardPresent ? 'card present' : 'no card',
      });
    }
  } catch (error) {
    problems.push(`PC/SC: ${error instanceof ChiprigError ? error.message : String(error)}`);
  }
  let noble: ReturnType<typeof createNoble> | undefined;
  try {
    // FIDO advertisers (service FFFD), through the host adapter or --hci uart:PATH.
    noble = createNoble(nobleSource(opts.hci));
    for (const a of await scanFido(noble, { timeoutMs: opts.scanMs ?? 3000 })) {
      const pairing = a.serviceData.find((d) => d.uuid === 'fffd')?.data[0];
      rows.push({
        device: `ble:${a.localName ?? a.address}`,
        transport: 'ble',
        name: a.localName ?? '',
        detail: `${a.address}${pairing !== undefined && pairing & 0x80 ? ' pairing mode' : ''}`,
      });
    }
  } catch (error) {
    problems.push(`Bluetooth LE: ${error instanceof ChiprigError ? error.message : String(error)}`);
  } finally {
    if (noble) await stopNoble(noble).catch(() => undefined);
  }
  // Instruments' serial ports (presser, chamber controller, power meter): not devices under test.
  const serial = await listSerialPorts();
  if (serial.problem) problems.push(serial.problem);
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ devices: rows, problems, serialPorts: serial.ports }, null, 2)}\n`,
    );
    return 0;
  }
  if (rows.length === 0)
    process.stdout.write('No FIDO HID device, PC/SC reader or FIDO BLE advertiser found.\n');
  // Names and paths come from the devices and the OS: shown escaped (rig/untrusted.ts).
  for (const r of rows) {
    process.stdout.write(
      `${deviceText(r.device).padEnd(36)} ${deviceText(r.detail).padEnd(22)} ${deviceText(r.name)}\n`,
    );
  }
  if (serial.ports.length > 0) process.stdout.write('Serial ports (for instruments in a station file):\n');
  for (const p of serial.ports) {
    const ids = p.vendorId ? ` ${p.vendorId}:${p.productId ?? '?'}` : '';
    process.stdout.write(`  ${p.path.padEnd(34)}${ids} ${p.hint ?? p.manufacturer ?? ''}\n`);
  }
  for (const p of problems) process.stdout.write(`(${p})\n`);
  process.stdout.write('The built-in emulated MitID chip is always available as --device emulator.\n');
  return 0;
}
