import assert from 'node:assert/strict';
import { LatencyHistogram } from './histogram.ts';
import {
  grade,
  type MeasuredValue,
  MeasurementLimitError,
  Measurements,
  profileLimit,
} from './measurement.ts';
import { escapeXml, histogramSvg } from './svg.ts';

describe('measurements', () => {
  it('grades against limits and the marginal band', () => {
    assert.equal(grade(5, { max: 10 }, { max: 8 }), 'pass');
    assert.equal(grade(9, { max: 10 }, { max: 8 }), 'marginal');
    assert.equal(grade(10, { max: 10 }, { max: 8 }), 'marginal');
    assert.equal(grade(10.01, { max: 10 }, { max: 8 }), 'fail');
    assert.equal(grade(1, { min: 2 }, { min: 4 }), 'fail');
    assert.equal(grade(3, { min: 2 }, { min: 4 }), 'marginal');
    assert.equal(grade(3, undefined, undefined), 'recorded');
    assert.equal(grade(Number.NaN, { max: 1 }), 'fail');
  });

  it('records declared values at once to the sink and fails only on a value outside its limits', () => {
    const seen: MeasuredValue[] = [];
    const m = new Measurements('PERF-X', { record: (v) => seen.push(v) });
    m.declare({
      name: 'latency.p99',
      unit: 'ms',
      limits: { max: 100 },
      marginal: { max: 50 },
      source: 'profile',
    });
    m.declare({ name: 'count', unit: 'samples' });
    m.record('count', 20);
    m.record('latency.p99', 70);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]?.verdict, 'marginal');
    m.verify(); // marginal passes
    m.record('latency.p99', 120);
    assert.throws(
      () => m.verify(),
      (e: unknown) =>
        e instanceof MeasurementLimitError &&
        /latency\.p99 = 120\.000 ms is outside <= 100 ms \(profile\)/.test(e.message),
    );
  });

  it('turns a profile ceiling or floor into limits, marginal band and source', () => {
    assert.deepEqual(profileLimit({ max: 500, marginal: 300 }, 'p'), {
      limits: { max: 500 },
      marginal: { max: 300 },
      source: 'p',
    });
    assert.deepEqual(profileLimit({ min: 2 }, 'q'), { limits: { min: 2 }, source: 'q' });
    assert.deepEqual(profileLimit(undefined, 'r'), {});
  });

  it('refuses undeclared, doubly declared and inconsistent measurements', () => {
    const m = new Measurements('PERF-X');
    assert.throws(() => m.record('nope', 1), /not declared/);
    m.declare({ name: 'a', unit: 'ms' });
    assert.throws(() => m.declare({ name: 'a', unit: 'ms' }), /declared twice/);
    assert.throws(
      () => m.declare({ name: 'b', unit: 'ms', limits: { min: 5, max: 1 } }),
      /min 5 is above max 1/,
    );
  });
});

describe('latency histogram (HDR)', () => {
  it('gives percentiles within 0.1 % of the exact sample percentiles', () => {
    const h = new LatencyHistogram();
    const xs: number[] = [];
    let seed = 7;
    for (let i = 0; i < 10_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const ms = 0.5 + (seed / 2 ** 31) * 50 + (i % 97 === 0 ? 400 : 0);
      xs.push(ms);
      h.record(ms);
    }
    xs.sort((a, b) => a - b);
    const exact = (p: number) => xs[Math.ceil((p / 100) * xs.length) - 1]!;
    const s = h.summary();
    assert.equal(s.count, 10_000);
    for (const [p, v] of [
      [50, s.p50Ms],
      [90, s.p90Ms],
      [99, s.p99Ms],
      [100, s.maxMs],
    ] as const) {
      assert.ok(Math.abs(v - exact(p)) <= exact(p) * 0.001 + 0.001, `p${p}: ${v} vs exact ${exact(p)}`);
    }
  });

  it('bins every sample once', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 500; i++) h.record(i / 10);
    const bins = h.bins(25);
    assert.equal(bins.length, 25);
    assert.equal(
      bins.reduce((n, b) => n + b.count, 0),
      500,
    );
    assert.throws(() => h.record(-1), /not a duration/);
  });
});

describe('SVG histogram', () => {
  it('is one static SVG with escaped text, bars and the limit line', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.record(i);
    const svg = histogramSvg({
      title: 'AUTHENTICATE <script>alert(1)</script> & co',
      axis: 'device time, ms',
      bins: h.bins(10),
      summary: h.summary(),
      limitMs: 90,
      marginalMs: 60,
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.doesNotMatch(svg, /<script/);
    assert.match(svg, /AUTHENTICATE &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; co/);
    assert.equal((svg.match(/fill="#4a7ebb"/g) ?? []).length, 10);
    assert.match(svg, />limit</);
    assert.match(svg, />marginal</);
    assert.equal(escapeXml(`a"b'c`), 'a&quot;b&apos;c');
  });
});
