import { Station } from './station.ts';
import type { StationOptions } from './station-options.ts';

/**
 * The station the suites run against. `chiprig run` opens it (so configuration and
 * device errors are reported before any test) and hands it over with useStation; under
 * plain mocha (npm test) it is opened from CHIPRIG_STATION / CHIPRIG_DEVICE /
 * CHIPRIG_PRESENCE / CHIPRIG_PLATFORM / CHIPRIG_SOAK_MS, defaulting to the built-in emulated station.
 */
let active: Station | undefined;
let opening: Promise<Station> | undefined;

export function useStation(station: Station): void {
  active = station;
}

export async function getStation(): Promise<Station> {
  if (active) return active;
  opening ??= Station.open(optionsFromEnv());
  active = await opening;
  return active;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): StationOptions {
  const opts: StationOptions = {};
  if (env.CHIPRIG_STATION) opts.stationFile = env.CHIPRIG_STATION;
  if (env.CHIPRIG_DEVICE) opts.device = env.CHIPRIG_DEVICE;
  const presence = env.CHIPRIG_PRESENCE;
  if (presence === 'actuator' || presence === 'prompt' || presence === 'auto') opts.presence = presence;
  if (env.CHIPRIG_PLATFORM) opts.platform = env.CHIPRIG_PLATFORM;
  const soak = Number(env.CHIPRIG_SOAK_MS);
  if (soak > 0) opts.soakMs = soak;
  return opts;
}
