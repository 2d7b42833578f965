import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.ts';
import type { Station } from '../station/station.ts';

const CHIPRIG_VERSION = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string })
  .version;

export function chiprigVersion(): string {
  return CHIPRIG_VERSION;
}

/** What the report's overview shows about the run: station, device, attestation, versions. */
export async function environmentInfo(station: Station, strict: boolean): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    station: station.name,
    'device spec': station.deviceSpec.text,
    'device profile': `${station.profile.id} (${station.profile.name})${station.profileChoice ? `, from ${station.profileChoice.source}` : ''}`,
    'advisory breaches': strict ? 'fail (--strict)' : 'shown apart, exit code unchanged',
    transports: station.transports.join(', '),
    'presence mode': station.presence.mode,
    chiprig: CHIPRIG_VERSION,
    node: process.version,
    host: `${process.platform} ${process.arch}`,
    'host platform': `${station.platform.name} (${station.platform.source})`,
  };
  // Which device: its descriptors, attestation certificate and the station file's identity.
  return { ...env, ...station.identity, ...(await station.deviceFacts()) };
}
