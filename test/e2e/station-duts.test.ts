import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { combinedExitCode } from '../../rig/cli/run-duts.ts';
import { chiprig, readResults, tmp } from '../support/spawn.ts';

const THREE = new URL('../../fixtures/stations/emulated-three.yaml', import.meta.url).pathname;
/** The HID suite waits on the device (silences, frame timeouts) as a real bench does. */
const SELECTION = ['--suite', 'hid,u2f', '--grep', 'HID-|U2F-AUTH-08'];

const results = readResults;

describe('a station with several devices under test (end to end, spawned)', function () {
  this.timeout(300_000);

  it('runs three emulated chips in parallel worker processes: the faulty one fails, the others pass, in well under three times one device', async () => {
    const one = tmp();
    let t = performance.now();
    const single = await chiprig([
      'run',
      ...SELECTION,
      '--transport',
      'hid,nfc',
      '--results',
      one,
      '--no-html',
    ]);
    const oneMs = performance.now() - t;
    assert.equal(single.code, EXIT.PASSED, single.stdout.slice(-2000));

    const dir = tmp();
    const report = tmp();
    t = performance.now();
    const r = await chiprig(['run', '--station', THREE, ...SELECTION, '--results', dir, '--report', report]);
    const threeMs = performance.now() - t;
    assert.equal(r.code, EXIT.FAILED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    process.stdout.write(
      `      one device ${(oneMs / 1000).toFixed(1)} s, three in parallel ${(threeMs / 1000).toFixed(1)} s (${(threeMs / oneMs).toFixed(2)}x)\n`,
    );
    assert.ok(
      threeMs < 2 * oneMs,
      `three devices took ${threeMs.toFixed(0)} ms, one alone ${oneMs.toFixed(0)} ms`,
    );

    for (const id of ['chip-a', 'chip-b', 'chip-c']) {
      const all = results(join(dir, id));
      assert.ok(all.length > 40, `${id}: ${all.length} results`);
      for (const x of all) {
        const dut = x.parameters.find((p: { name: string }) => p.name === 'dut')?.value;
        assert.equal(dut, id, `${x.name}: results carry the device's ID`);
      }
      const failed = all.filter((x) => x.status === 'failed').map((x) => x.name.split(' ')[0]);
      if (id === 'chip-b') assert.ok(failed.includes('U2F-AUTH-08'), `chip-b failed: ${failed.join(' ')}`);
      else assert.deepEqual(failed, [], `${id} must pass`);
      assert.ok(existsSync(join(dir, id, 'junit.xml')), `${id}: JUnit XML`);
    }
    const matrix = readFileSync(join(dir, 'conformance-matrix.md'), 'utf8');
    for (const id of ['chip-a', 'chip-b', 'chip-c']) assert.match(matrix, new RegExp(`^## ${id}:`, 'm'));
    assert.match(matrix, /\| U2F-AUTH-08 \| required \| FAILED \| FAILED \|/);
    assert.match(
      r.stdout,
      /^\[chip-b\] \[\s*\d+\/\d+\] FAIL\s+U2F-AUTH-08/m,
      'worker output is prefixed with the device',
    );
    assert.ok(existsSync(join(report, 'index.html')), 'one merged report');
  });

  it('the run exits with the worst of its devices: usage error, then device failure, then rig fault', () => {
    assert.equal(combinedExitCode([0, 0, 0]), EXIT.PASSED);
    assert.equal(combinedExitCode([0, 3, 0]), EXIT.BROKEN);
    assert.equal(combinedExitCode([3, 1, 0]), EXIT.FAILED);
    assert.equal(combinedExitCode([1, 2]), EXIT.USAGE);
    assert.equal(combinedExitCode([0, 137]), EXIT.BROKEN);
  });
});
