import { activeRun } from '../../rig/run/context.ts';
import type { Station } from '../../rig/station/station.ts';

/** The station of the run mocha is running (chiprig run's, or one plain mocha opens). */
export function getStation(): Promise<Station> {
  return activeRun().station();
}
