import assert from 'node:assert/strict';
import { InstrumentError } from '../../rig/errors.ts';
import type { PowerMeter } from '../../rig/instruments/roles.ts';
import { type Limits, profileLimit } from '../../rig/measure/measurement.ts';
import {
  type Estimate,
  formatEstimate,
  mapEstimate,
  meanInterval,
  sampleUntilDecided,
} from '../../rig/measure/stats.ts';
import type { TransportKind } from '../../rig/transport/transport.ts';
import type { U2fClient } from '../../rig/u2f/u2f-client.ts';
import { UUID } from '../support/ble.ts';
import { area, type CaseContext, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { instrumentsOf, settleIdle, startFromKnownState } from '../support/env.ts';
import { authenticate, type Credential, register } from '../support/u2f.ts';

const station = await getStation();
const kind = station.transports[0]!;
const stated = station.profile.battery;
/** The profile's battery, or the case is skipped: nothing to project a charge onto. */
function batteryOf(ctx: CaseContext) {
  if (!stated)
    ctx.skip(
      `the device profile (${station.profileChoice?.name ?? 'device'}) states no battery capacity (battery: in the profile)`,
    );
  return stated;
}
const capacity = stated ? `${stated.capacityMah} mAh` : 'full';
/** Signatures measured in one busy window, and the windows: long enough for their current to settle. */
const SIGNATURES = 3;
const IDLE_WINDOW_MS = 500;
const SIGNING_WINDOW_MS = 3000;
/** Trials of (idle window, busy window): at least, and at most while the interval cannot decide. */
const MIN_TRIALS = 3;
const MAX_TRIALS = 12;
/** Idle windows for ENV-BATT-02. */
const IDLE_WINDOWS = 5;

async function meterOf(ctx: CaseContext) {
  const { meter } = await instrumentsOf(station, ctx);
  if (!meter) ctx.skip('the station has no power meter (instruments.meter in the station file)');
  return meter;
}

/**
 * One trial: charge one signature costs above idle, µAh. An idle window, then a busy window
 * with the signatures inside it: it opens (its first sample is in), they run, it closes
 * after their current has settled. The idle window's mean is the baseline over the busy one.
 */
async function trial(meter: PowerMeter, u2f: U2fClient, cred: Credential): Promise<number> {
  const idle = await meter.measure(IDLE_WINDOW_MS);
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const window = meter.measure(SIGNING_WINDOW_MS, { onStart: () => opened() });
  // A window that fails before it opens must not leave the signatures waiting.
  await Promise.race([open, window]);
  for (let i = 0; i < SIGNATURES; i++) await authenticate(u2f, cred);
  const busy = await window;
  return (busy.chargeUah - (idle.meanUa * busy.durationMs) / 3_600_000) / SIGNATURES;
}

/**
 * Charge one signature costs above idle, µAh, with its interval: trials from a known device
 * state (other links closed, power cycled, current settled) until the projection decides
 * against `limit` (signatures per charge), or MAX_TRIALS. Shown per trial in the report.
 */
async function chargePerSignature(
  ctx: CaseContext,
  over: TransportKind,
  perCharge?: (uah: number) => number,
  limit?: Limits,
): Promise<Estimate> {
  const meter = await meterOf(ctx);
  await startFromKnownState(station, ctx, over);
  const u2f = await station.u2fOver(over);
  const cred = await register(u2f);
  // REGISTER signs too on a real chip: its draw ends before the first idle window.
  await settleIdle(meter);
  const run = await sampleUntilDecided({
    take: () => trial(meter, u2f, cred),
    // Signatures per charge, decided on the interval of the charge carried through (a charge
    // of zero or less projects to no limit: the interval stays open above).
    estimate: (xs) => (perCharge ? mapEstimate(meanInterval(xs), perCharge) : meanInterval(xs)),
    limits: perCharge && limit ? limit : undefined,
    minN: MIN_TRIALS,
    maxN: MAX_TRIALS,
  });
  const e = meanInterval(run.samples);
  ctx.observe(
    `charge per signature in ${run.samples.length} trials of ${SIGNATURES} signatures: ${run.samples.map((x) => x.toFixed(3)).join(', ')} µAh`,
  );
  // No charge above idle at all: the meter cannot see the signatures (a rig fault).
  if (e.hi <= 0) {
    throw new InstrumentError(
      'NO_SIGNAL',
      `the power meter saw no charge above idle for ${SIGNATURES} signatures: ${formatEstimate(e, 'µAh')} per signature`,
    );
  }
  return e;
}

describe(`${TRANSPORT_NAMES[kind]} · battery`, () => {
  const check = area(station, kind, 'battery');
  after(() => station.closeInstruments());

  check(
    'ENV-BATT-01',
    `charge per signature from the power meter; projected signatures per ${capacity} charge`,
    async (ctx) => {
      const battery = batteryOf(ctx);
      ctx.measure.declare({ name: 'charge.per_signature', unit: 'µAh', better: 'lower' });
      const projected = ctx.measure.declare({
        name: 'signatures.per_charge',
        unit: 'signatures',
        better: 'higher',
        ...profileLimit(
          battery.expect?.signaturesPerCharge,
          'device profile battery.expect.signaturesPerCharge',
        ),
      });
      const toPerCharge = (uah: number) => (uah > 0 ? (battery.capacityMah * 1000) / uah : Infinity);
      const perSignature = await chargePerSignature(ctx, kind, toPerCharge, projected.limits);
      ctx.measure.recordEstimate('charge.per_signature', perSignature);
      ctx.measure.recordEstimate('signatures.per_charge', mapEstimate(perSignature, toPerCharge));
    },
    { timeoutMs: 120_000 },
  );

  check(
    'ENV-BATT-02',
    `idle current from the power meter; projected standby days on a ${capacity} charge`,
    async (ctx) => {
      const battery = batteryOf(ctx);
      const meter = await meterOf(ctx);
      await startFromKnownState(station, ctx, kind);
      const windows: number[] = [];
      for (let i = 0; i < IDLE_WINDOWS; i++) {
        const idle = await meter.measure(IDLE_WINDOW_MS);
        if (!(idle.samples > 0))
          throw new InstrumentError('NO_SIGNAL', 'the power meter returned no samples');
        windows.push(idle.meanUa);
      }
      const idle = meanInterval(windows);
      const toDays = (ua: number) =>
        ua > 0 ? (battery.capacityMah * 1000) / ua / 24 : Number.POSITIVE_INFINITY;
      ctx.measure.declare({ name: 'idle.current', unit: 'µA', better: 'lower' });
      ctx.measure.declare({
        name: 'standby.days',
        unit: 'days',
        better: 'higher',
        ...profileLimit(battery.expect?.standbyDays, 'device profile battery.expect.standbyDays'),
      });
      ctx.measure.recordEstimate('idle.current', idle);
      ctx.measure.recordEstimate('standby.days', mapEstimate(idle, toDays));
    },
    { timeoutMs: 60_000 },
  );
});

if (station.transports.includes('ble')) {
  describe(`${TRANSPORT_NAMES.ble} · battery level`, () => {
    const check = area(station, 'ble', 'battery');
    after(() => station.closeInstruments());
    check(
      'ENV-BATT-03',
      'the BLE Battery Level falls as the power meter says it should over enough signatures for 2 %',
      async (ctx) => {
        const battery = batteryOf(ctx);
        // Charge per signature from the meter first (as ENV-BATT-01).
        const perSignature = await chargePerSignature(ctx, 'ble');
        const perSignatureUah = perSignature.value;
        const u2f = await station.u2fOver('ble');
        const cred = await register(u2f);
        const level = async () => {
          const raw = await (await station.bleLink()).read(UUID.BATTERY_SERVICE, UUID.BATTERY_LEVEL);
          assert.equal(raw.length, 1, `Battery Level must be 1 byte, read ${raw.length}`);
          return raw[0]!;
        };
        // Enough signatures to move the level by 2 percentage points by the meter's account.
        const count = Math.ceil((0.02 * battery.capacityMah * 1000) / perSignatureUah);
        if (count > 5000)
          ctx.skip(`${count} signatures would be needed to move the level by 2 %: too many for one run`);
        const before = await level();
        if (before < 5)
          ctx.skip(`the battery is nearly empty (${before} %): charge the chip before this case`);
        for (let i = 0; i < count; i++) await authenticate(u2f, cred);
        const after = await level();
        const predicted = mapEstimate(
          perSignature,
          (uah) => (100 * count * uah) / (battery.capacityMah * 1000),
        );
        ctx.measure.declare({
          name: 'level.drop',
          unit: '%',
          description: 'Battery Level before minus after',
        });
        ctx.measure.declare({ name: 'level.predicted', unit: '%', description: 'drop the meter predicts' });
        // Whole percents: the level may lag or lead the prediction by one point of rounding.
        ctx.measure.declare({
          name: 'level.error',
          unit: '%',
          limits: { min: -1.5, max: 1.5 },
          source: 'whole-percent Battery Level: one point of rounding either way',
          description: 'drop read minus drop predicted',
        });
        const drop = before - after;
        ctx.measure.record('level.drop', drop);
        ctx.measure.recordEstimate('level.predicted', predicted);
        ctx.measure.recordEstimate(
          'level.error',
          mapEstimate(predicted, (p) => drop - p),
        );
        ctx.observe(
          `after ${count} signatures the Battery Level went from ${before}% to ${after}%; the meter's ${formatEstimate(perSignature, 'µAh')} a signature predicts ${formatEstimate(predicted, 'points')}`,
        );
      },
      { timeoutMs: 600_000, exchangeSteps: false },
    );
  });
}
