import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { TestRecord } from '../report/console.ts';
import { DeviceUnreachable, type RunOutcome, type RunStart, runSuites } from './engine.ts';

/**
 * The run engine as a program uses it: no terminal, no CLI, in this process. (The engine
 * loads the suites' spec files as ES modules, which a process loads once: one engine run of
 * a suite per process, so this file runs one.)
 */
describe('run engine (a program drives a run)', () => {
  it('runs a selection, telling start, each test as its result lands, and the end; the outcome matches', async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-engine-'));
    const events: string[] = [];
    let start: RunStart | undefined;
    const tests: { record: TestRecord; index: number; total: number; written: number }[] = [];
    let ended: RunOutcome | undefined;
    const outcome = await runSuites({ suites: ['u2f'], grep: /U2F-VER-0[12] /, resultsDir: dir }, [
      {
        onStart: (s) => {
          events.push('start');
          start = s;
        },
        onTest: (record, index, total) => {
          events.push('test');
          // A test's Allure result is on disk before a listener hears of it.
          const written = readdirSync(dir).filter((f) => f.endsWith('-result.json')).length;
          tests.push({ record, index, total, written });
        },
        onEnd: (o) => {
          events.push('end');
          ended = o;
        },
      },
    ]);
    assert.equal(events[0], 'start');
    assert.equal(events.at(-1), 'end');
    assert.equal(start?.station.name, 'emulated');
    assert.deepEqual(start?.suites, ['u2f']);
    // U2F-VER-01 and -02 over each of the three transports.
    assert.equal(tests.length, 6);
    assert.deepEqual(
      tests.map((t) => t.index),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(tests.every((t) => t.total === 6 && t.record.outcome === 'passed'));
    assert.ok(
      tests.every((t) => t.written >= t.index),
      `results on disk when told: ${tests.map((t) => t.written)}`,
    );
    assert.equal(ended, outcome);
    assert.deepEqual(outcome.counts, { passed: 6, failed: 0, broken: 0, skipped: 0, advisory: 0 });
    assert.deepEqual(
      outcome.matrix.map((r) => [r.id, r.cells]),
      [
        ['U2F-VER-01', { hid: 'passed', nfc: 'passed', ble: 'passed' }],
        ['U2F-VER-02', { hid: 'passed', nfc: 'passed', ble: 'passed' }],
      ],
    );
    // The result files are the engine's, not the CLI's.
    const outcomes = JSON.parse(readFileSync(join(dir, 'chiprig-outcomes.json'), 'utf8')) as {
      tests: unknown[];
    };
    assert.equal(outcomes.tests.length, 6);
    assert.match(
      readFileSync(join(dir, 'conformance-matrix.md'), 'utf8'),
      /\| U2F-VER-01 \| required \| passed \| passed \| passed \|/,
    );
    assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /tests="6"/);
  });

  it('a device it cannot reach is DeviceUnreachable (the CLI exit 3), a bad configuration a ConfigError', async function () {
    this.timeout(20_000);
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-engine-'));
    await assert.rejects(
      runSuites({ station: { device: `fifo:${join(dir, 'nothing')}` }, resultsDir: dir }),
      (error) => error instanceof DeviceUnreachable && /FIFO/i.test(error.message),
    );
    await assert.rejects(
      runSuites({ station: { device: 'teapot:1' }, resultsDir: dir }),
      (error) => error instanceof ConfigError,
    );
  });
});
