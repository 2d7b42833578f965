import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Station } from '../station/station.ts';
import type { HidTransport } from '../transport/hid/hid-transport.ts';

const CHIPRIG_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export function chiprigVersion(): string {
  return CHIPRIG_VERSION;
}

/** What the report's overview shows about the run: station, device, attestation, versions. */
export function environmentInfo(station: Station, hid: HidTransport): Record<string, string> {
  const info = hid.connection.info;
  const h = (n: number) => n.toString(16).padStart(4, '0');
  const env: Record<string, string> = {
    station: station.name,
    'device spec': station.deviceSpec.text,
    'device vendor': `${info.manufacturer ?? '?'} (${h(info.vendorId)})`,
    'device product': `${info.product ?? '?'} (${h(info.productId)})`,
    'device serial': info.serialNumber ?? '(none)',
    'device profile': station.profile.name,
    'presence mode': station.presence.mode,
    chiprig: CHIPRIG_VERSION,
    node: process.version,
    host: `${process.platform} ${process.arch}`,
  };
  if (station.emulator) {
    env['attestation certificate subject'] = new X509Certificate(
      station.emulator.attestationCertificate,
    ).subject.replace(/\n/g, ', ');
  }
  return env;
}
