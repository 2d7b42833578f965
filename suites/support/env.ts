import { InstrumentError } from '../../rig/errors.ts';
import type { StationInstruments } from '../../rig/station/instruments.ts';
import type { Station } from '../../rig/station/station.ts';
import type { CaseContext } from './conformance.ts';

/**
 * The station's instruments, opened on first use. Simulated instruments need socat for
 * their ptys: without it the case is skipped with that reason (a machine limit, not a
 * device or rig fault); any other failure to open leaves the case broken.
 */
export async function instrumentsOf(station: Station, ctx: CaseContext): Promise<StationInstruments> {
  try {
    return await station.openInstruments();
  } catch (error) {
    if (error instanceof InstrumentError && error.code === 'UNAVAILABLE' && /socat/.test(error.message)) {
      ctx.skip(`the station's simulated instruments need socat: ${error.message}`);
    }
    if (
      error instanceof InstrumentError &&
      error.code === 'UNAVAILABLE' &&
      /"simulated"/.test(error.message)
    ) {
      ctx.skip(error.message);
    }
    throw error;
  }
}
