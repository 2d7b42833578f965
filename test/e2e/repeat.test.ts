import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { childArgs, type FlakeReport, flakeReport, flakeText, parseRepeat } from '../../rig/cli/repeat.ts';
import type { Outcome } from '../../rig/report/console.ts';
import { chiprig, tmp } from '../support/spawn.ts';

const flake = (dir: string): FlakeReport => JSON.parse(readFileSync(join(dir, 'flake-report.json'), 'utf8'));

describe('chiprig run --repeat (flake report)', function () {
  this.timeout(240_000);

  it('runs the selection N times into run-1..N and reports each test × transport across them (exit 0)', async () => {
    const results = tmp();
    const r = await chiprig([
      'run',
      '--suite',
      'u2f',
      '--grep',
      'U2F-VER-0[12]',
      '--repeat',
      '3',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `${r.stdout.slice(-3000)}\n${r.stderr}`);
    for (const i of [1, 2, 3]) {
      assert.ok(existsSync(join(results, `run-${i}`, 'chiprig-outcomes.json')), `run-${i} has its outcomes`);
    }
    assert.equal(existsSync(join(results, 'run-4')), false);
    const report = flake(results);
    assert.equal(report.runs, 3);
    assert.deepEqual(report.exitCodes, [0, 0, 0]);
    assert.equal(report.exit, EXIT.PASSED);
    assert.deepEqual(report.command, ['run', '--suite', 'u2f', '--grep', 'U2F-VER-0[12]']);
    // Two requirements on the three transports of the default station.
    assert.equal(report.tests.length, 6);
    for (const t of report.tests) {
      assert.deepEqual(t.counts, { passed: 3, failed: 0, broken: 0, skipped: 0, advisory: 0 }, t.id);
      assert.equal(t.flaky, false);
    }
    assert.match(r.stdout, /Flake report: 3 runs \(exit codes 0, 0, 0; worst 0\)/);
    assert.match(r.stdout, /U2F-VER-02\s+nfc\s+3\s+0\s+0\s+0\s+0/);
    assert.match(r.stdout, /6 test × transport cells; 0 flaky/);
  });

  it('a device that fails every run: the failures counted per run, exit 1', async () => {
    const results = tmp();
    const r = await chiprig([
      'run',
      '--device',
      'emulator:wrong-flags',
      '--suite',
      'u2f',
      '--transport',
      'hid',
      '--grep',
      'U2F-AUTH-0[78]',
      '--repeat',
      '2',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.FAILED, `${r.stdout.slice(-3000)}\n${r.stderr}`);
    const report = flake(results);
    assert.deepEqual(report.exitCodes, [EXIT.FAILED, EXIT.FAILED]);
    const auth08 = report.tests.find((t) => t.id === 'U2F-AUTH-08' && t.transport === 'hid');
    assert.deepEqual(auth08?.counts, { passed: 0, failed: 2, broken: 0, skipped: 0, advisory: 0 });
    assert.deepEqual(auth08?.runs, ['failed', 'failed']);
    assert.equal(auth08?.flaky, false, 'failing every time is not flaky');
  });

  it('usage errors are exit 2 before anything runs: a bad count, --record with --repeat', async () => {
    const results = tmp();
    for (const extra of [
      ['--repeat', '0'],
      ['--repeat', 'x'],
      ['--repeat', '2', '--record', join(results, 'r.jsonl')],
    ]) {
      const r = await chiprig(['run', '--suite', 'u2f', ...extra, '--results', results, '--no-html']);
      assert.equal(r.code, EXIT.USAGE, `${extra.join(' ')}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /--repeat|--record/);
    }
    assert.equal(existsSync(join(results, 'run-1')), false, 'nothing ran');
  });
});

describe('flake report (unit)', () => {
  const runs = (...cells: Record<string, Outcome>[]) => cells.map((c) => new Map(Object.entries(c)));

  it('marks a cell flaky when its outcome changed between runs or it ran in some runs only; exit is the worst', () => {
    const r = flakeReport(
      ['run'],
      [0, 1, 3],
      runs(
        { 'ENV-BATT-01\thid': 'passed', 'U2F-REG-01\thid': 'passed', 'PERF-LAT-03\tble': 'passed' },
        { 'ENV-BATT-01\thid': 'failed', 'U2F-REG-01\thid': 'passed', 'PERF-LAT-03\tble': 'passed' },
        { 'ENV-BATT-01\thid': 'broken', 'U2F-REG-01\thid': 'passed' },
      ),
    );
    assert.equal(r.exit, EXIT.FAILED);
    const row = (id: string) => r.tests.find((t) => t.id === id)!;
    assert.deepEqual(row('ENV-BATT-01').counts, { passed: 1, failed: 1, broken: 1, skipped: 0, advisory: 0 });
    assert.equal(row('ENV-BATT-01').flaky, true);
    assert.equal(row('U2F-REG-01').flaky, false);
    assert.deepEqual(row('PERF-LAT-03').runs, ['passed', 'passed', null]);
    assert.equal(row('PERF-LAT-03').flaky, true, 'absent from one run');
    const text = flakeText(r);
    assert.match(text, /ENV-BATT-01\s+hid\s+1\s+1\s+1\s+0\s+0\s+FLAKY \(passed, failed, broken\)/);
    assert.match(text, /3 test × transport cells; 2 flaky/);
  });

  it('passes the run arguments on without the ones --repeat sets per run', () => {
    assert.deepEqual(
      childArgs([
        'run',
        '--suite',
        'env',
        '--repeat',
        '3',
        '--results=/r',
        '--report',
        '/h',
        '--no-html',
        '--grep',
        'X',
      ]),
      ['run', '--suite', 'env', '--grep', 'X'],
    );
    assert.equal(parseRepeat('5'), 5);
    assert.throws(() => parseRepeat('1001'), /1 to 1000/);
    assert.throws(() => parseRepeat('2.5'), /1 to 1000/);
  });
});
