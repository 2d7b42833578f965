import assert from 'node:assert/strict';
import { profileLimit } from '../../rig/measure/measurement.ts';
import type { TransportKind } from '../../rig/transport/transport.ts';
import { UUID } from '../support/ble.ts';
import { area, type CaseContext, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { instrumentsOf } from '../support/env.ts';
import { authenticate, register } from '../support/u2f.ts';

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
/** Signatures measured in one window, and the window: long enough for their current to settle. */
const SIGNATURES = 3;
const IDLE_WINDOW_MS = 1000;
const SIGNING_WINDOW_MS = 3000;

async function meterOf(ctx: CaseContext) {
  const { meter } = await instrumentsOf(station, ctx);
  if (!meter) ctx.skip('the station has no power meter (instruments.meter in the station file)');
  return meter;
}

/**
 * Charge one signature costs above idle, µAh: an idle window, then a window with the
 * signatures inside it (it opens, they run, it closes).
 */
async function chargePerSignature(ctx: CaseContext, over: TransportKind): Promise<number> {
  const meter = await meterOf(ctx);
  const u2f = await station.u2fOver(over);
  const cred = await register(u2f);
  const idle = await meter.measure(IDLE_WINDOW_MS);
  const window = meter.measure(SIGNING_WINDOW_MS);
  for (let i = 0; i < SIGNATURES; i++) await authenticate(u2f, cred);
  const busy = await window;
  const extraUah = busy.chargeUah - (idle.meanUa * busy.durationMs) / 3_600_000;
  assert.ok(extraUah > 0, `no charge above idle measured for ${SIGNATURES} signatures (${extraUah} µAh)`);
  return extraUah / SIGNATURES;
}

describe(`${TRANSPORT_NAMES[kind]} · battery`, () => {
  const check = area(station, kind, 'battery');
  after(() => station.closeInstruments());

  check(
    'ENV-BATT-01',
    `charge per signature from the power meter; projected signatures per ${capacity} charge`,
    async (ctx) => {
      const battery = batteryOf(ctx);
      const perSignatureUah = await chargePerSignature(ctx, kind);
      const perCharge = (battery.capacityMah * 1000) / perSignatureUah;
      ctx.measure.declare({ name: 'charge.per_signature', unit: 'µAh', better: 'lower' });
      ctx.measure.declare({
        name: 'signatures.per_charge',
        unit: 'signatures',
        better: 'higher',
        ...profileLimit(
          battery.expect?.signaturesPerCharge,
          'device profile battery.expect.signaturesPerCharge',
        ),
      });
      ctx.measure.record('charge.per_signature', perSignatureUah);
      ctx.measure.record('signatures.per_charge', perCharge);
    },
    { timeoutMs: 120_000 },
  );

  check(
    'ENV-BATT-02',
    `idle current from the power meter; projected standby days on a ${capacity} charge`,
    async (ctx) => {
      const battery = batteryOf(ctx);
      const meter = await meterOf(ctx);
      const idle = await meter.measure(IDLE_WINDOW_MS);
      assert.ok(idle.samples > 0, 'the power meter returned no samples');
      const days =
        idle.meanUa > 0 ? (battery.capacityMah * 1000) / idle.meanUa / 24 : Number.POSITIVE_INFINITY;
      ctx.measure.declare({ name: 'idle.current', unit: 'µA', better: 'lower' });
      ctx.measure.declare({
        name: 'standby.days',
        unit: 'days',
        better: 'higher',
        ...profileLimit(battery.expect?.standbyDays, 'device profile battery.expect.standbyDays'),
      });
      ctx.measure.record('idle.current', idle.meanUa);
      ctx.measure.record('standby.days', days);
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
        const perSignatureUah = await chargePerSignature(ctx, 'ble');
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
        const predicted = (100 * count * perSignatureUah) / (battery.capacityMah * 1000);
        ctx.measure.declare({
          name: 'level.drop',
          unit: '%',
          description: 'Battery Level before minus after',
        });
        ctx.measure.declare({ name: 'level.predicted', unit: '%', description: 'drop the meter predicts' });
        ctx.measure.record('level.drop', before - after);
        ctx.measure.record('level.predicted', predicted);
        // Whole percents: the level may lag or lead the prediction by one point of rounding.
        assert.ok(
          Math.abs(before - after - predicted) <= 1.5,
          `after ${count} signatures the Battery Level went from ${before}% to ${after}%, but the meter's ${perSignatureUah.toFixed(3)} µAh a signature predicts a drop of ${predicted.toFixed(2)} points`,
        );
      },
      { timeoutMs: 600_000, exchangeSteps: false },
    );
  });
}
