import assert from 'node:assert/strict';
import { settle } from '../../rig/instruments/chamber.ts';
import { area, type CaseContext, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { instrumentsOf } from '../support/env.ts';
import { authenticate, type Credential, register } from '../support/u2f.ts';

const station = await getStation();
const env = station.profile.environment;
/** Said by each case when the profile states no temperature ranges to check against. */
const NO_RANGES = `the device profile (${station.profileChoice?.name ?? 'device'}) states no operating or storage temperature range (environment: in the profile)`;
const operating = env?.operatingTemperatureC;
const storage = env?.storageTemperatureC;
const sweep = env
  ? (env.sweepC ?? [env.operatingTemperatureC.min, 0, 25, 40, env.operatingTemperatureC.max])
  : [undefined];
const kind = station.transports[0]!;
const ROOM_C = 25;

/** The chamber and how it settles, or the case is skipped with the reason. */
async function chamberOf(ctx: CaseContext) {
  const { chamber, chamberSettle } = await instrumentsOf(station, ctx);
  if (!chamber) ctx.skip('the station has no climate chamber (instruments.chamber in the station file)');
  const how = chamberSettle ?? {
    timeoutMs: 2 * 3_600_000,
    toleranceC: 1,
    soakMs: 600_000,
  };
  return { chamber, how };
}

/** Settles at `target` and records the chamber's reading with the result. */
async function step(ctx: CaseContext, target: number, name: string): Promise<number> {
  const { chamber, how } = await chamberOf(ctx);
  ctx.measure.declare({ name, unit: 'C', description: `chamber temperature at ${target} C` });
  let shown = 0;
  const reading = await settle(chamber, {
    ...how,
    target,
    // Live progress on long steps: a line every 30 s.
    onReading: (c, ms) => {
      if (ms - shown < 30_000) return;
      shown = ms;
      process.stdout.write(`      chamber ${c} C, heading for ${target} C (${Math.round(ms / 1000)} s)\n`);
    },
  });
  ctx.measure.record(name, reading);
  return reading;
}

/** REGISTER, two AUTHENTICATEs, the counter rising: the smoke run at each point. */
async function smoke(ctx: CaseContext): Promise<void> {
  const u2f = await station.u2fOver(kind);
  const cred = await register(u2f);
  const c1 = (await authenticate(u2f, cred)).counter;
  const c2 = (await authenticate(u2f, cred)).counter;
  assert.ok(c2 > c1, `the counter must rise: ${c1} -> ${c2}`);
  ctx.observe(`register and authenticate work; counter ${c1} -> ${c2}`);
}

describe(`${TRANSPORT_NAMES[kind]} · temperature`, () => {
  const check = area(station, kind, 'temperature');
  after(() => station.closeInstruments());
  sweep.forEach((target, i) => {
    check(
      `ENV-TEMP-${String(i + 1).padStart(2, '0')}`,
      operating && target !== undefined
        ? `at ${target} C (operating range ${operating.min}..${operating.max} C): register, authenticate, counter rises`
        : 'across the operating temperature range: register, authenticate, counter rises',
      async (ctx) => {
        if (target === undefined) return ctx.skip(NO_RANGES);
        await step(ctx, target, 'chamber.temperature');
        await smoke(ctx);
      },
      { timeoutMs: 3 * 3_600_000, exchangeSteps: true },
    );
  });

  for (const [id, target] of [
    ['ENV-STOR-01', storage?.min],
    ['ENV-STOR-02', storage?.max],
  ] as const) {
    check(
      id,
      `stored unpowered at ${target === undefined ? 'its storage limit' : `${target} C`}, back at ${ROOM_C} C: it works and keeps its keys and counter`,
      async (ctx) => {
        if (target === undefined) return ctx.skip(NO_RANGES);
        if (!(await instrumentsOf(station, ctx)).power)
          ctx.skip('the station has no power switch (instruments.power)');
        await chamberOf(ctx);
        await step(ctx, ROOM_C, 'chamber.before');
        const u2f = await station.u2fOver(kind);
        const cred: Credential = await register(u2f);
        const before = (await authenticate(u2f, cred)).counter;
        await station.setPower(false);
        try {
          await step(ctx, target, 'chamber.storage');
          await step(ctx, ROOM_C, 'chamber.after');
        } finally {
          await station.setPower(true);
        }
        const after = (await authenticate(u2f, cred)).counter;
        assert.ok(
          after > before,
          `the counter after storage (${after}) must exceed the one before (${before})`,
        );
        ctx.observe(`key kept; counter ${before} -> ${after}`);
      },
      { timeoutMs: 6 * 3_600_000 },
    );
  }
});
