import { InstrumentError } from '../../rig/errors.ts';
import type { PowerMeter } from '../../rig/instruments/roles.ts';
import type { StationInstruments } from '../../rig/station/instruments.ts';
import type { Station } from '../../rig/station/station.ts';
import type { TransportKind } from '../../rig/transport/transport.ts';
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

/** The settle windows: this long each, at most this many before the device counts as never idle. */
const SETTLE_WINDOW_MS = 300;
const SETTLE_WINDOWS = 12;

/**
 * Puts the device in a known state before an environmental case measures it:
 * - the links the case does not use are closed (a Bluetooth request still waiting for a
 *   press goes with its link, so this case's press cannot release it and sign inside the
 *   measurement);
 * - with a power switch, power is cycled (no operation of an earlier case still running);
 * - with a power meter, the current is waited out until two windows in a row agree (the
 *   draw of the last signatures, a boot, has ended), or the case is broken saying so.
 * Returns what it did, for the report.
 */
export async function startFromKnownState(
  station: Station,
  ctx: CaseContext,
  kind: TransportKind,
): Promise<string> {
  const done: string[] = [];
  for (const other of ['hid', 'ble'] as const) {
    if (other !== kind && station.transports.includes(other)) await station.closeLink(other);
  }
  done.push(`links other than ${kind} closed`);
  const { power, meter } = await instrumentsOf(station, ctx);
  if (power) {
    await station.setPower(false);
    await station.setPower(true);
    done.push('power cycled');
  }
  if (meter) done.push(`idle after ${await settleIdle(meter)}`);
  const what = done.join('; ');
  ctx.observe(`known state: ${what}`);
  return what;
}

/**
 * Waits until the meter shows the device idle: two windows in a row whose means agree
 * within 5 % (or 0.5 µA). Returns how long it took; an InstrumentError if it never settles.
 */
export async function settleIdle(meter: PowerMeter): Promise<string> {
  const means: number[] = [];
  for (let i = 0; i < SETTLE_WINDOWS; i++) {
    means.push((await meter.measure(SETTLE_WINDOW_MS)).meanUa);
    const [a, b] = means.slice(-2);
    if (a !== undefined && b !== undefined && Math.abs(a - b) <= Math.max(0.05 * Math.max(a, b), 0.5)) {
      return `${means.length} windows of ${SETTLE_WINDOW_MS} ms (${b.toPrecision(4)} µA)`;
    }
  }
  throw new InstrumentError(
    'UNSTABLE',
    `${meter.name}: the current did not settle to idle in ${SETTLE_WINDOWS} windows of ${SETTLE_WINDOW_MS} ms (means ${means.map((m) => m.toPrecision(4)).join(', ')} µA): the device is still busy or the meter is noisy`,
  );
}
