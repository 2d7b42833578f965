/**
 * The nightly hardware-in-the-loop matrix: one job per device under test in the lab's
 * inventory, sent to a self-hosted GitHub Actions runner by capability label. Capabilities
 * come from the device's station file, not from hand-kept labels: its transports (hid, nfc,
 * ble) and its instruments (chamber, ppk2, power, presser).
 */
import { dirname, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseDeviceSpec } from '../station/device-spec.ts';
import { transportsOf } from '../station/links/index.ts';
import { loadStationFile, type StationFile } from '../station/station-file.ts';
import { readYamlFile } from '../yaml-file.ts';

const InventorySchema = z.strictObject({
  devices: z
    .array(
      z.strictObject({
        /** Unique device name: the job name and its concurrency group. */
        id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
        /** Station file, relative to the inventory. */
        station: z.string().min(1),
        /** Suites to run (chiprig run --suite); default: every suite the station supports. */
        suites: z.string().optional(),
      }),
    )
    .min(1),
});

export interface HilJob {
  id: string;
  /** Station file, relative to `root` (the repository), as the job's checkout sees it. */
  station: string;
  suites?: string;
  capabilities: string[];
  /** runs-on: self-hosted runners carrying every capability label. */
  labels: string[];
  concurrency: string;
}

export function capabilitiesOf(file: StationFile): string[] {
  const caps: string[] = [
    ...transportsOf(parseDeviceSpec(file.device, `${file.path}: field "device"`), file),
  ];
  const i = file.instruments;
  if (i.chamber?.kind === 'watlow-f4') caps.push('chamber');
  if (i.meter?.kind === 'ppk2') caps.push('ppk2');
  if (i.power?.kind === 'firmata') caps.push('power');
  if (i.touch?.kind === 'firmata') caps.push('presser');
  return caps;
}

export function hilMatrix(inventoryPath: string, root: string): { include: HilJob[] } {
  const inventory = readYamlFile(resolve(inventoryPath), InventorySchema, 'lab inventory');
  const seen = new Set<string>();
  const include = inventory.devices.map((d) => {
    if (seen.has(d.id)) throw new ConfigError(`${inventoryPath}: device id "${d.id}" appears twice`);
    seen.add(d.id);
    const file = loadStationFile(resolve(dirname(inventoryPath), d.station));
    if (file.device === 'emulator' || file.device.startsWith('emulator:')) {
      throw new ConfigError(
        `${inventoryPath}: ${d.id}: station ${d.station} drives the emulator, not a device`,
      );
    }
    const capabilities = capabilitiesOf(file);
    return {
      id: d.id,
      station: relative(root, file.path),
      ...(d.suites ? { suites: d.suites } : {}),
      capabilities,
      labels: ['self-hosted', 'chiprig', ...capabilities],
      concurrency: `chiprig-dut-${d.id}`,
    };
  });
  return { include };
}
