import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { beyondNoise, compareRuns, comparisonMarkdown, loadRun } from './compare.ts';

type Test = { id: string | null; transport: string | null; title: string; outcome: string; message?: string };

function results(tests: Test[], measurements: object[] = [], identity: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'chiprig-compare-'));
  writeFileSync(
    join(dir, 'chiprig-outcomes.json'),
    JSON.stringify({
      format: 'chiprig-outcomes/1',
      run: { station: 's', device: 'emulator', identity },
      tests,
    }),
  );
  writeFileSync(
    join(dir, 'chiprig-measurements.json'),
    JSON.stringify({ format: 'chiprig-measurements/1', run: null, measurements }),
  );
  return dir;
}

const t = (id: string, outcome: string, transport = 'hid', message?: string): Test => ({
  id,
  transport,
  title: `${id} x`,
  outcome,
  ...(message ? { message } : {}),
});
const m = (value: number, lo: number | null, hi: number | null, extra: object = {}) => ({
  test: 'PERF-LAT-01',
  transport: 'hid',
  name: 'device.p50',
  unit: 'ms',
  better: 'lower',
  value,
  verdict: 'recorded',
  interval: { lo, hi, confidence: 0.95, n: 40, method: 'order statistics' },
  ...extra,
});

describe('chiprig compare', () => {
  it('sorts verdict changes per requirement × transport: new failures, fixes, new skips', () => {
    const a = loadRun(
      results([
        t('U2F-AUTH-08', 'passed'),
        t('U2F-REG-01', 'failed'),
        t('HID-MSG-01', 'passed'),
        t('NFC-SEL-01', 'passed', 'nfc'),
      ]),
    );
    const b = loadRun(
      results([
        t('U2F-AUTH-08', 'failed', 'hid', 'flags byte 00'),
        t('U2F-REG-01', 'passed'),
        t('HID-MSG-01', 'skipped'),
        t('NFC-SEL-01', 'passed', 'nfc'),
      ]),
    );
    const c = compareRuns(a, b);
    assert.deepEqual(
      c.newFailures.map((x) => [x.key, x.a, x.b, x.message]),
      [['U2F-AUTH-08 hid', 'passed', 'failed', 'flags byte 00']],
    );
    assert.deepEqual(
      c.fixes.map((x) => x.key),
      ['U2F-REG-01 hid'],
    );
    assert.deepEqual(
      c.newSkips.map((x) => x.key),
      ['HID-MSG-01 hid'],
    );
    assert.equal(c.regressed, true);
    assert.deepEqual(c.reasons, ['U2F-AUTH-08 hid: passed → failed']);
    const back = compareRuns(b, a);
    assert.deepEqual(
      back.fixes.map((x) => x.key),
      ['U2F-AUTH-08 hid'],
      'the other way round, U2F-AUTH-08 is a fix',
    );
    assert.deepEqual(
      back.otherChanges.map((x) => `${x.key} ${x.a}→${x.b}`),
      ['HID-MSG-01 hid skipped→passed'],
    );
  });

  it('a cell takes the worst of its tests; a cell only in B that fails is a new failure', () => {
    const a = loadRun(results([t('PERF-LAT-01', 'passed'), t('PERF-LAT-01', 'passed')]));
    const b = loadRun(
      results([t('PERF-LAT-01', 'passed'), t('PERF-LAT-01', 'broken'), t('NEW-01', 'failed')]),
    );
    const c = compareRuns(a, b);
    assert.deepEqual(
      c.newFailures.map((x) => `${x.key} ${x.a}→${x.b}`),
      ['PERF-LAT-01 hid passed→broken', 'NEW-01 hid absent→failed'],
    );
    assert.deepEqual(c.onlyInB, ['NEW-01 hid']);
  });

  it('judges a measurement by its samples: overlapping intervals are noise, disjoint ones a change', () => {
    const same = compareRuns(
      loadRun(results([], [m(1.0, 0.9, 1.1)])),
      loadRun(results([], [m(1.05, 0.95, 1.2)])),
    );
    assert.equal(same.measurementChanges.length, 0);
    assert.equal(same.regressed, false);
    const worse = compareRuns(
      loadRun(results([], [m(1.0, 0.9, 1.1)])),
      loadRun(results([], [m(1.3, 1.2, 1.4)])),
    );
    assert.equal(worse.measurementChanges.length, 1);
    assert.equal(worse.measurementChanges[0]!.direction, 'worse');
    assert.match(worse.measurementChanges[0]!.why, /does not overlap/);
    assert.equal(worse.regressed, true);
    const better = compareRuns(
      loadRun(results([], [m(1.3, 1.2, 1.4)])),
      loadRun(results([], [m(1.0, 0.9, 1.1)])),
    );
    assert.equal(better.measurementChanges[0]!.direction, 'better');
    assert.equal(better.regressed, false);
    // A wide interval (few samples) hides a large change in the point value: not judged a change.
    const wide = compareRuns(
      loadRun(results([], [m(1.0, 0.5, 3)])),
      loadRun(results([], [m(2.0, 1.5, null)])),
    );
    assert.equal(wide.measurementChanges.length, 0);
    // A tail percentile moves between runs more than one run's interval says: not judged.
    const tail = (v: number, lo: number, hi: number) =>
      m(v, lo, hi, {
        name: 'device.p99',
        interval: {
          lo,
          hi,
          confidence: 0.95,
          n: 640,
          method: 'order statistics of the p99, distribution-free',
        },
      });
    const tails = compareRuns(
      loadRun(results([], [tail(0.5, 0.4, 0.6)])),
      loadRun(results([], [tail(4, 1, 10)])),
    );
    assert.equal(tails.measurementChanges.length, 0);
    assert.equal(tails.tails, 1);
    // No interval on one side: compared, not judged.
    const bare = { ...m(1, 0, 0), interval: undefined };
    const unjudged = compareRuns(loadRun(results([], [bare])), loadRun(results([], [{ ...bare, value: 9 }])));
    assert.equal(unjudged.unjudged, 1);
    assert.equal(unjudged.regressed, false);
    assert.equal(
      beyondNoise({ lo: 1, hi: 2, confidence: 0.95, n: 5 }, { lo: 2, hi: 3, confidence: 0.95, n: 5 }),
      undefined,
    );
  });

  it('a limit newly crossed is a regression, with the limit', () => {
    const lim = { limits: { max: 5 }, interval: undefined };
    const c = compareRuns(
      loadRun(results([], [m(4, 0, 0, { ...lim, verdict: 'pass' })])),
      loadRun(results([], [m(6, 0, 0, { ...lim, verdict: 'fail' })])),
    );
    assert.equal(c.newlyOutside.length, 1);
    assert.match(c.reasons[0]!, /outside its limits in B \(6 ms, max 5\)/);
  });

  it('shows the identities side by side, device text escaped in Markdown', () => {
    const a = loadRun(results([], [], { 'USB serial': 'A1', 'firmware build': '1.0' }));
    const b = loadRun(results([], [], { 'USB serial': 'A1', 'firmware build': '1.1\u001b[2J|x' }));
    const c = compareRuns(a, b);
    assert.deepEqual(
      c.identity.map((r) => [r.field, r.changed]),
      [
        ['USB serial', false],
        ['firmware build', true],
      ],
    );
    const md = comparisonMarkdown(c);
    assert.match(md, /\| \*\*firmware build\*\* \| 1\.0 \| 1\.1\\u\{1b\}\[2J\\\|x \|/);
    assert.ok(!md.includes('\u001b'), 'no raw escape');
  });

  it('reads an Allure history entry; refuses what is not a run, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-compare-'));
    const history = join(dir, 'history.jsonl');
    const entry = (status: string) =>
      JSON.stringify({
        testResults: {
          h1: {
            name: 'U2F-AUTH-08 x',
            status,
            labels: [{ name: 'catalogueId', value: 'U2F-AUTH-08' }],
            parameters: [
              { name: 'transport', value: 'hid' },
              { name: 'device: USB serial', value: 'S' },
            ],
          },
        },
        metrics: { 'PERF-LAT-01 hid device.p99': 1.5 },
      });
    writeFileSync(history, `${entry('passed')}\n${entry('failed')}\n`);
    const c = compareRuns(loadRun(`${history}#1`), loadRun(history));
    assert.deepEqual(
      c.newFailures.map((x) => x.key),
      ['U2F-AUTH-08 hid'],
    );
    assert.equal(c.b.identity['USB serial'], 'S');
    assert.equal(c.unjudged, 1);
    assert.throws(() => loadRun(`${history}#5`), /has 2 entries; there is no entry 5/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    assert.throws(
      () => loadRun(empty),
      (e) => e instanceof ConfigError && /no chiprig-outcomes\.json/.test(e.message),
    );
    assert.throws(() => loadRun(join(dir, 'nope')), /no such file or folder/);
  });
});
