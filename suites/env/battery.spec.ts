import assert from 'node:assert/strict';
import { area, type CaseContext, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { instrumentsOf } from '../support/env.ts';
import { authenticate, register } from '../support/u2f.ts';

const station = await getStation();
const kind = station.transports[0]!;
const battery = station.profile.battery;
/** Signatures measured in one window, and the window: long enough for their current to settle. */
const SIGNATURES = 3;
const IDLE_WINDOW_MS = 1000;
const SIGNING_WINDOW_MS = 3000;

async function meterOf(ctx: CaseContext) {
  const { meter } = await instrumentsOf(station, ctx);
  if (!meter) ctx.skip('the station has no power meter (instruments.meter in the station file)');
  return meter;
}

describe(`${TRANSPORT_NAMES[kind]} · battery`, () => {
  const check = area(station, kind, 'battery');

  check(
    'ENV-BATT-01',
    `charge per signature from the power meter; projected signatures per ${battery.capacityMah} mAh charge`,
    async (ctx) => {
      const meter = await meterOf(ctx);
      const u2f = await station.u2fOver(kind);
      const cred = await register(u2f);
      const idle = await meter.measure(IDLE_WINDOW_MS);
      // The window opens, the signatures run inside it, the window closes.
      const window = meter.measure(SIGNING_WINDOW_MS);
      for (let i = 0; i < SIGNATURES; i++) await authenticate(u2f, cred);
      const busy = await window;
      const extraUah = busy.chargeUah - (idle.meanUa * busy.durationMs) / 3_600_000;
      const perSignatureUah = extraUah / SIGNATURES;
      assert.ok(
        perSignatureUah > 0,
        `no charge above idle measured for ${SIGNATURES} signatures (${extraUah} µAh)`,
      );
      const perCharge = (battery.capacityMah * 1000) / perSignatureUah;
      const min = battery.expect?.signaturesPerCharge?.min;
      ctx.measure.declare({ name: 'charge.per_signature', unit: 'µAh', better: 'lower' });
      ctx.measure.declare({
        name: 'signatures.per_charge',
        unit: 'signatures',
        better: 'higher',
        ...(min !== undefined
          ? { limits: { min }, source: 'device profile battery.expect.signaturesPerCharge' }
          : {}),
      });
      ctx.measure.record('charge.per_signature', perSignatureUah);
      ctx.measure.record('signatures.per_charge', perCharge);
    },
    { timeoutMs: 120_000 },
  );

  check(
    'ENV-BATT-02',
    `idle current from the power meter; projected standby days on a ${battery.capacityMah} mAh charge`,
    async (ctx) => {
      const meter = await meterOf(ctx);
      const idle = await meter.measure(IDLE_WINDOW_MS);
      assert.ok(idle.samples > 0, 'the power meter returned no samples');
      const days =
        idle.meanUa > 0 ? (battery.capacityMah * 1000) / idle.meanUa / 24 : Number.POSITIVE_INFINITY;
      const min = battery.expect?.standbyDays?.min;
      ctx.measure.declare({ name: 'idle.current', unit: 'µA', better: 'lower' });
      ctx.measure.declare({
        name: 'standby.days',
        unit: 'days',
        better: 'higher',
        ...(min !== undefined
          ? { limits: { min }, source: 'device profile battery.expect.standbyDays' }
          : {}),
      });
      ctx.measure.record('idle.current', idle.meanUa);
      ctx.measure.record('standby.days', days);
    },
    { timeoutMs: 60_000 },
  );
});
