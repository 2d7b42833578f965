import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import type { RecordedMeasurement } from '../../rig/measure/run-record.ts';
import { chiprig, tmp } from '../support/spawn.ts';

const TIMED = new URL('../../fixtures/stations/emulated-timed.yaml', import.meta.url).pathname;

function measurements(results: string): RecordedMeasurement[] {
  return JSON.parse(readFileSync(join(results, 'chiprig-measurements.json'), 'utf8')).measurements;
}

describe('perf suite (end to end, spawned)', function () {
  this.timeout(300_000);

  it('PERF-MODEL-01: measured latency matches the link timing models within max(2 %, 0.2 ms) on HID, NFC and BLE', async () => {
    const results = tmp();
    const r = await chiprig([
      'run',
      '--station',
      TIMED,
      '--suite',
      'perf',
      '--grep',
      'PERF-MODEL',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.equal([...r.stdout.matchAll(/PASS\s+PERF-MODEL-01/g)].length, 3, r.stdout);
    const errors = measurements(results).filter((m) => m.name.endsWith('.error'));
    // version, authenticate and PING (or SELECT-less NFC: version, authenticate) per transport.
    assert.ok(errors.length >= 8, `only ${errors.length} model comparisons`);
    for (const m of errors) {
      assert.equal(m.verdict, 'pass', `${m.transport} ${m.name} = ${m.value} ms`);
      const tolerance = m.limits?.max ?? Number.NaN;
      process.stdout.write(
        `      ${m.transport} ${m.name.replace('.error', '')}: measured - modelled = ${m.value.toFixed(3)} ms (tolerance ±${tolerance.toFixed(3)} ms)\n`,
      );
    }
    // Every measurement is also an Allure 3 performance metric.
    const perf = readdirSync(results).filter((f) => f.endsWith('-perf.json'));
    assert.equal(perf.length, 3);
  });

  it('the default emulated chip passes the perf suite under --strict (advisory limits too); every value lands in the report and the JSON file', async () => {
    // npm test runs the perf suite only here (a spawned run, alone on the machine).
    const results = tmp();
    const r = await chiprig(['run', '--suite', 'perf', '--strict', '--results', results, '--no-html']);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const all = measurements(results);
    for (const id of ['PERF-LAT-01', 'PERF-LAT-03', 'PERF-TPUT-01']) {
      assert.ok(
        all.some((m) => m.test === id && m.verdict === 'pass'),
        `${id}: no graded measurement`,
      );
    }
    const p99 = all.find((m) => m.test === 'PERF-LAT-03' && m.name === 'device.p99');
    assert.deepEqual(p99?.limits, { max: 500 }, 'the limit comes from the device profile');
    // The report entry carries the values as parameters and the SVG histogram.
    const result = readdirSync(results)
      .filter((f) => f.endsWith('-result.json'))
      .map((f) => JSON.parse(readFileSync(join(results, f), 'utf8')))
      .find((x) => x.name.startsWith('PERF-LAT-03'));
    assert.ok(result?.parameters.some((p: { name: string }) => p.name === 'device.p99'));
    assert.ok(
      result?.parameters.some((p: { name: string }) => p.name === 'actuation.p50'),
      'actuation kept apart',
    );
    const svg = readdirSync(results).filter((f) => f.endsWith('.svg'));
    assert.ok(svg.length >= 6, `${svg.length} SVG attachments`);
    assert.match(r.stdout, /skipped|SKIP/); // the soak without --duration says why
  });

  it('EVD-03 chiprig compare judges latency by its samples: two clean runs flag nothing (exit 0); a chip 2 ms slower is flagged worse beyond noise (exit 1)', async () => {
    const dir = tmp();
    // The timed station's chip; a copy of it whose check-only AUTHENTICATE takes 2 ms more,
    // far inside every limit (a firmware getting slower, no verdict changing).
    const slower = join(dir, 'slower.yaml');
    const timed = readFileSync(TIMED, 'utf8').replaceAll('../', `${join(TIMED, '../../')}`);
    assert.match(timed, /check-only: 2,/);
    writeFileSync(slower, timed.replace('check-only: 2,', 'check-only: 4,'));
    const run = (station: string, results: string) =>
      chiprig([
        'run',
        '--station',
        station,
        '--suite',
        'perf',
        '--transport',
        'hid',
        '--grep',
        'PERF-LAT-0[14]',
        '--results',
        join(dir, results),
        '--no-html',
      ]);
    for (const [station, results] of [
      [TIMED, 'a'],
      [TIMED, 'b'],
      [slower, 'slow'],
    ] as const) {
      const r = await run(station, results);
      assert.equal(r.code, EXIT.PASSED, `${results}: exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`);
    }
    const json = join(dir, 'c.json');
    const same = await chiprig(['compare', join(dir, 'a'), join(dir, 'b'), '--json', json]);
    assert.equal(same.code, EXIT.PASSED, same.stdout + same.stderr);
    const c = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(c.measurementChanges, [], 'two clean runs: no latency beyond noise');
    // The p50s are judged; the p90 and p99 are tails (compared, not judged).
    const m = c.measurements;
    assert.ok(m.compared - m.unjudged - m.tails >= 2 && m.tails >= 4, JSON.stringify(m));
    const slow = await chiprig(['compare', join(dir, 'a'), join(dir, 'slow'), '--json', json]);
    assert.equal(slow.code, EXIT.FAILED, slow.stdout + slow.stderr);
    const s = JSON.parse(readFileSync(json, 'utf8'));
    const keys = s.measurementChanges.map(
      (m: { key: string; direction: string }) => `${m.key} ${m.direction}`,
    );
    assert.ok(keys.includes('PERF-LAT-04 hid device.p50 worse'), keys.join('; '));
    assert.ok(
      keys.every((k: string) => k.startsWith('PERF-LAT-04')),
      `only the slower operation: ${keys.join('; ')}`,
    );
    assert.deepEqual(s.newFailures, [], 'no verdict changed');
  });

  it('soak: --duration runs AUTHENTICATE for that long with live figures', async () => {
    const results = tmp();
    const r = await chiprig([
      'run',
      '--suite',
      'perf',
      '--grep',
      'SOAK',
      '--duration',
      '3s',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    for (const kind of ['hid', 'nfc', 'ble'])
      assert.match(r.stdout, new RegExp(`soak ${kind} 00:00:01/00:00:01 .* verified (\\d+)/\\1`));
    const windows = measurements(results).filter((m) => m.name === 'window.per_s');
    assert.ok(windows.length >= 3, `${windows.length} periodic figures`);
  });
});
