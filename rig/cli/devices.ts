import { hidSpecFor } from '../station/device-spec.ts';
import { listFidoHidDevices } from '../transport/hid/node-hid.ts';

/** `chiprig devices`: attached FIDO HID devices, each with the --device string that addresses it. */
export async function devices(opts: { json?: boolean }): Promise<number> {
  const found = await listFidoHidDevices();
  const rows = found.map((d) => ({
    device: hidSpecFor(d),
    path: `hid:${d.path}`,
    manufacturer: d.manufacturer ?? '',
    product: d.product ?? '',
    serialNumber: d.serialNumber ?? '',
  }));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write(
      'No FIDO HID device is attached (usage page 0xF1D0). The built-in emulated chip is always available as --device emulator.\n',
    );
    return 0;
  }
  for (const r of rows) {
    process.stdout.write(`${r.device.padEnd(28)} ${r.path.padEnd(22)} ${r.manufacturer} ${r.product}\n`);
  }
  return 0;
}
