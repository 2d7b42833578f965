import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PowerModel } from '../emulator/power-model.ts';
import { isDeviceFailure } from '../errors.ts';
import { outcomeOf } from '../report/console.ts';
import { InconclusiveMeasurementError, MeasurementLimitError, Measurements } from './measurement.ts';
import {
  binomialCdf,
  decide,
  type Estimate,
  mapEstimate,
  meanInterval,
  quantileInterval,
  quantileRanks,
  sampleUntilDecided,
  tCdf,
  tQuantile,
} from './stats.ts';

const close = (a: number, b: number, tol: number) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

/** A deterministic pseudo-random stream (xorshift32), for simulated measurements. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** A normal deviate (Box-Muller). */
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

describe('stats: distributions', () => {
  it("Student's t quantiles match the published table", () => {
    // Two-sided 95 % critical values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [4, 2.776],
      [9, 2.262],
      [19, 2.093],
      [29, 2.045],
      [100, 1.984],
    ];
    for (const [df, t] of table) close(tQuantile(0.975, df), t, 0.001);
    close(tQuantile(0.025, 9), -2.262, 0.001);
    close(tCdf(0, 5), 0.5, 1e-12);
  });

  it('binomial CDF: exact small cases', () => {
    close(binomialCdf(0, 3, 0.5), 0.125, 1e-12);
    close(binomialCdf(1, 3, 0.5), 0.5, 1e-12);
    close(binomialCdf(19, 20, 0.99), 1 - 0.99 ** 20, 1e-12);
    assert.equal(binomialCdf(-1, 5, 0.3), 0);
    assert.equal(binomialCdf(5, 5, 0.3), 1);
  });
});

describe('stats: intervals', () => {
  it('t interval of the mean: known figures, one sample bounds nothing, no spread is exact', () => {
    // mean 5, sd 1.5811 (n 5): half-width 2.776 * 1.5811 / sqrt(5) = 1.963
    const e = meanInterval([3, 4, 5, 6, 7]);
    assert.equal(e.value, 5);
    close(e.hi - e.value, 1.963, 0.001);
    close(e.value - e.lo, 1.963, 0.001);
    assert.equal(e.n, 5);
    const one = meanInterval([4]);
    assert.equal(one.lo, -Infinity);
    assert.equal(one.hi, Infinity);
    const flat = meanInterval([7.98, 7.98, 7.98]);
    assert.equal(flat.lo, flat.hi);
    assert.throws(() => meanInterval([]), /no samples/);
    assert.throws(() => meanInterval([1, Number.NaN]), /not a finite sample/);
  });

  it('p99 interval needs 368 samples for its upper end and 2 over it for its lower end', () => {
    const xs = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    assert.equal(quantileInterval(xs(367), 0.99).hi, Infinity);
    assert.ok(Number.isFinite(quantileInterval(xs(368), 0.99).hi));
    const twenty = quantileInterval(xs(20), 0.99);
    assert.equal(twenty.hi, Infinity);
    // P(B >= 19) for B ~ Bin(20, 0.99) is 0.983 >= 0.975: X(19) bounds the p99 from below.
    assert.equal(twenty.lo, 19);
    assert.equal(twenty.value, 20);
    // The median of 21: the textbook 95 % interval is X(6) .. X(16).
    const med = quantileInterval(xs(21), 0.5);
    assert.deepEqual([med.lo, med.value, med.hi], [6, 11, 16]);
  });

  it('large counts: the normal approximation of the ranks agrees with the exact binomial ones', () => {
    const exact = quantileRanks(100_000, 0.99);
    const approx = quantileRanks(100_001, 0.99);
    assert.ok(Math.abs(exact.l - approx.l) <= 3, `${exact.l} vs ${approx.l}`);
    assert.ok(Math.abs(exact.u - approx.u) <= 3, `${exact.u} vs ${approx.u}`);
    assert.ok(exact.l < 99_000 && exact.u > 99_000);
  });

  it('property: the interval holds the estimate, and more agreeing samples never widen a mean interval', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 60 }),
        (xs) => {
          const e = meanInterval(xs);
          assert.ok(e.lo <= e.value + 1e-9 && e.value <= e.hi + 1e-9);
          const q = quantileInterval(xs, 0.9);
          assert.ok(q.lo <= q.value && q.value <= q.hi);
          const doubled = meanInterval([...xs, ...xs]);
          assert.ok(doubled.hi - doubled.lo <= e.hi - e.lo + 1e-6 * (1 + Math.abs(e.value)));
        },
      ),
    );
  });

  it('property: decide is pass when the whole interval is inside, fail when wholly outside, else inconclusive', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        (lo, width, limit) => {
          const e = { lo, hi: lo + width };
          const d = decide(e, { max: limit });
          if (e.hi <= limit) assert.equal(d, 'pass');
          else if (e.lo > limit) assert.equal(d, 'fail');
          else assert.equal(d, 'inconclusive');
          // The same interval against a floor: the mirror image.
          const f = decide(e, { min: limit });
          if (e.lo >= limit) assert.equal(f, 'pass');
          else if (e.hi < limit) assert.equal(f, 'fail');
          else assert.equal(f, 'inconclusive');
        },
      ),
    );
  });

  it('property: the 95 % mean interval covers the true mean about 95 % of the time', () => {
    // 2000 simulated measurements of 8 samples from N(10, 2): coverage within 93.5..96.5 %.
    const r = rng(20240611);
    let covered = 0;
    const trials = 2000;
    for (let i = 0; i < trials; i++) {
      const xs = Array.from({ length: 8 }, () => 10 + 2 * normal(r));
      const e = meanInterval(xs);
      if (e.lo <= 10 && 10 <= e.hi) covered++;
    }
    const share = covered / trials;
    assert.ok(share > 0.935 && share < 0.965, `coverage ${share}`);
  });

  it('a decreasing map swaps the ends (charge per signature into signatures per charge)', () => {
    const e: Estimate = { value: 2, lo: 1.6, hi: 2.5, confidence: 0.95, n: 5, method: 'm' };
    const perCharge = mapEstimate(e, (uah) => 35_000 / uah);
    assert.equal(perCharge.value, 17_500);
    assert.equal(perCharge.lo, 14_000);
    assert.equal(perCharge.hi, 21_875);
  });
});

describe('stats: taking enough samples', () => {
  it('stops at the first look when the interval decides', async () => {
    let taken = 0;
    const run = await sampleUntilDecided({
      take: async () => {
        taken++;
        return 10 + (taken % 2) * 0.1;
      },
      estimate: meanInterval,
      limits: { max: 20 },
      minN: 5,
      maxN: 100,
    });
    assert.equal(run.decision, 'pass');
    assert.equal(taken, 5);
    assert.equal(run.looks, 1);
  });

  it('doubles the samples while undecided, and gives up at maxN as inconclusive', async () => {
    const r = rng(7);
    const counts: number[] = [];
    const run = await sampleUntilDecided({
      // Mean exactly at the limit: no sample count can decide it.
      take: async () => 20 + normal(r),
      estimate: (xs) => {
        counts.push(xs.length);
        return meanInterval(xs);
      },
      limits: { max: 20 },
      minN: 4,
      maxN: 40,
    });
    assert.deepEqual(counts.slice(0, 3), [4, 8, 16]);
    assert.equal(run.samples.length, 40);
    assert.equal(run.decision, 'inconclusive');
  });

  it('a device clearly over its limit fails after few samples', async () => {
    const r = rng(11);
    const run = await sampleUntilDecided({
      take: async () => 30 + normal(r),
      estimate: meanInterval,
      limits: { max: 20 },
      minN: 5,
      maxN: 100,
    });
    assert.equal(run.decision, 'fail');
    assert.equal(run.samples.length, 5);
  });
});

describe('measurements graded on intervals', () => {
  const est = (value: number, lo: number, hi: number): Estimate => ({
    value,
    lo,
    hi,
    confidence: 0.95,
    n: 7,
    method: 't interval of the mean',
  });

  it('pass inside, fail wholly outside (a device failure), inconclusive across (broken, with n, interval and limit)', () => {
    const m = new Measurements('ENV-BATT-01');
    m.declare({ name: 'per_charge', unit: 'signatures', limits: { min: 5000 }, source: 'profile' });
    assert.equal(m.recordEstimate('per_charge', est(9000, 8000, 10_000)).verdict, 'pass');
    m.verify();

    const undecided = new Measurements('ENV-BATT-01');
    undecided.declare({ name: 'per_charge', unit: 'signatures', limits: { min: 5000 }, source: 'profile' });
    const v = undecided.recordEstimate('per_charge', est(5200, 4100, 6300));
    assert.equal(v.verdict, 'inconclusive');
    assert.deepEqual(v.interval, {
      lo: 4100,
      hi: 6300,
      confidence: 0.95,
      n: 7,
      method: 't interval of the mean',
    });
    const error = (() => {
      try {
        undecided.verify();
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(error instanceof InconclusiveMeasurementError);
    assert.equal(isDeviceFailure(error), false, 'inconclusive is never a device failure');
    assert.equal(outcomeOf(error), 'broken', 'the run shows it broken (exit 3), not failed');
    assert.match(error.message, /inconclusive/);
    assert.match(error.message, /n = 7/);
    assert.match(error.message, /\[4100\.0, 6300\.0\]/);
    assert.match(error.message, />= 5000 signatures/);

    const failed = new Measurements('ENV-BATT-01');
    failed.declare({ name: 'per_charge', unit: 'signatures', limits: { min: 5000 } });
    assert.equal(failed.recordEstimate('per_charge', est(3000, 2500, 3500)).verdict, 'fail');
    assert.throws(() => failed.verify(), MeasurementLimitError);
  });

  it('a failure outranks an undecided figure; an unbounded end is kept as null', () => {
    const m = new Measurements('PERF-LAT-03');
    m.declare({ name: 'a', unit: 'ms', limits: { max: 10 } });
    m.declare({ name: 'b', unit: 'ms', limits: { max: 10 } });
    const b = m.recordEstimate('a', est(9, 5, Infinity));
    assert.equal(b.verdict, 'inconclusive');
    assert.equal(b.interval?.hi, null);
    m.recordEstimate('b', est(30, 20, 40));
    assert.throws(() => m.verify(), MeasurementLimitError);
  });

  it('marginal is judged on the value once the interval passes', () => {
    const m = new Measurements('PERF-LAT-01');
    m.declare({ name: 'p99', unit: 'ms', limits: { max: 50 }, marginal: { max: 30 } });
    assert.equal(m.recordEstimate('p99', est(35, 20, 45)).verdict, 'marginal');
    assert.equal(m.recordEstimate('p99', est(10, 5, 15)).verdict, 'pass');
  });
});

describe('emulated power model: a power cut ends the signatures in flight', () => {
  it('no signing current resumes on power-up', () => {
    let t = 0;
    const p = new PowerModel({}, () => t);
    p.signed();
    t = 100;
    assert.equal(p.state, 'signing');
    p.setState('off');
    p.setState('idle');
    assert.equal(p.currentUa(), p.table.idleUa);
  });
});

describe('stats: the samples’ spread', () => {
  it('is the standard deviation for a mean, IQR / 1.349 for a percentile, and follows mapEstimate', () => {
    const xs = [2, 4, 4, 4, 5, 5, 7, 9];
    const m = meanInterval(xs);
    assert.ok(Math.abs(m.spread! - Math.sqrt(32 / 7)) < 1e-12);
    const q = quantileInterval(
      Array.from({ length: 100 }, (_, i) => i + 1),
      0.5,
    );
    assert.equal(q.spread, (75 - 25) / 1.349);
    const inv = mapEstimate(m, (x) => 100 / x);
    assert.ok(Math.abs(inv.spread! - Math.abs(100 / (m.value + m.spread!) - 100 / m.value)) < 1e-12);
    assert.equal(meanInterval([3]).spread, undefined, 'one sample has no spread');
  });
});
