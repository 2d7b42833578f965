import { release } from 'node:os';
import { ConfigError } from '../errors.ts';
import { TRANSPORT_NAMES, type TransportKind } from '../transport/transport.ts';
import type { DeviceProfile } from './device-profile.ts';

/** The platform names chiprig knows besides those a device profile lists. */
export const KNOWN_PLATFORMS = ['linux', 'windows', 'windows-11', 'macos', 'android', 'ios'] as const;

export interface HostPlatform {
  /** A device profile's platform name: windows, windows-11, macos, linux, android, ios. */
  readonly name: string;
  /** Where it came from: detected, --platform, the station file, CHIPRIG_PLATFORM. */
  readonly source: string;
}

/**
 * The host's platform in the device profile's terms. Windows 11 reports itself as Windows
 * NT 10.0 with a build number of 22000 or more (os.release() "10.0.22631").
 */
export function detectPlatform(platform: string = process.platform, osRelease: string = release()): string {
  if (platform === 'win32') return Number(osRelease.split('.')[2]) >= 22000 ? 'windows-11' : 'windows';
  if (platform === 'darwin') return 'macos';
  return platform;
}

/** The platform to judge the run by: the one reported (flag, station file), else the host's. */
/** The platform a run reports instead of the detected one: --platform, a recording's, the station's. */
export function reportedPlatform(
  flag: string | undefined,
  replay: { header: { platform?: string | undefined } } | undefined,
  file: { name: string; platform?: string | undefined },
): { name: string; source: string } | undefined {
  if (flag) return { name: flag, source: '--platform' };
  if (replay?.header.platform) return { name: replay.header.platform, source: 'the recording' };
  if (file.platform) return { name: file.platform, source: `station ${file.name}` };
  return undefined;
}

export function hostPlatform(
  profile: DeviceProfile,
  reported?: { name: string; source: string },
): HostPlatform {
  if (!reported) return { name: detectPlatform(), source: 'detected' };
  const known = new Set<string>([...KNOWN_PLATFORMS, ...Object.keys(profile.platforms)]);
  if (!known.has(reported.name)) {
    throw new ConfigError(
      `${reported.source}: "${reported.name}" is not a platform (known: ${[...known].join(', ')})`,
    );
  }
  return reported;
}

/**
 * Why the device cannot be tested over `transport` on `platform`, from the device profile's
 * platform list, or undefined where it can (or where the profile does not list the platform,
 * e.g. a Linux lab host: then every transport runs).
 */
export function unsupportedReason(
  profile: DeviceProfile,
  platform: HostPlatform,
  transport: TransportKind,
): string | undefined {
  const entry = profile.platforms[platform.name];
  if (!entry || entry.transports.includes(transport)) return undefined;
  const works = entry.transports.map((t) => TRANSPORT_NAMES[t]).join(', ') || 'nothing';
  return `${profile.name} on ${platform.name} (${platform.source}): ${entry.note ?? `it works over ${works} only`}; no ${TRANSPORT_NAMES[transport]} (device profile, platforms.${platform.name})`;
}
