import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { CHIPRIG_ENTRY as BIN, chiprig, readResults, stationCopy, tmp } from '../support/spawn.ts';

function results(dir: string): { name: string; status: string; message?: string }[] {
  return readResults(dir).map((r) => ({
    name: r.name,
    status: r.status,
    ...(r.statusDetails?.message ? { message: r.statusDetails.message } : {}),
  }));
}

describe('rig robustness (end to end, spawned)', function () {
  this.timeout(300_000);

  it('a chip that stops answering costs one timeout: that test is broken with the reason, the link is reset, the rest pass (exit 3)', async () => {
    const dir = tmp();
    const started = performance.now();
    const r = await chiprig([
      'run',
      '--suite',
      'hid',
      '--device',
      'emulator:stops-answering-once',
      '--results',
      dir,
      '--no-html',
    ]);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(r.code, EXIT.BROKEN, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const all = results(dir);
    const broken = all.filter((x) => x.status === 'broken');
    assert.equal(broken.length, 1, `broken: ${broken.map((b) => b.name).join('; ')}`);
    assert.match(broken[0]!.message ?? '', /no answer to a broadcast INIT .*the device or its link is gone/);
    assert.deepEqual(
      all.filter((x) => x.status === 'failed').map((x) => x.name),
      [],
      'a silent link must never look like a device failure',
    );
    assert.equal(all.length, Number(/(\d+) tests in/.exec(r.stdout)?.[1]), 'every result is on disk');
    // JUnit keeps the two apart too: the broken test is an <error>, never a <failure>.
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    assert.match(junit, /<testsuites tests="\d+" failures="0" errors="1"/);
    assert.match(
      readFileSync(join(dir, 'conformance-matrix.md'), 'utf8'),
      /\| HID-MSG-02 \| required \| BROKEN \|/,
    );
    // One exchange timeout (3 s) and one INIT probe (1 s) on top of a clean run, not a hang.
    assert.ok(seconds < 60, `the run took ${seconds.toFixed(1)} s`);
  });

  it('with policy.linkFaultRetries the test broken by a link fault runs again and passes, marked as retried; a device failure is never retried', async () => {
    const dir = tmp();
    const station = stationCopy(
      dir,
      (y) => `${y}\npolicy:\n  suites:\n    hid: { linkFaultRetries: 1 }\n    u2f: { linkFaultRetries: 1 }\n`,
    );
    const results = join(dir, 'results');
    const r = await chiprig([
      'run',
      '--station',
      station,
      '--suite',
      'hid',
      '--device',
      'emulator:stops-answering-once',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.match(r.stdout, /retry HID-MSG-02: link fault \(TIMEOUT\): .*retry 1 of 1/);
    const retried = readResults(results).filter((x) =>
      x.labels.some((l: { name: string; value: string }) => l.name === 'tag' && /retried/.test(l.value)),
    );
    assert.deepEqual(
      retried.map((x) => x.name.split(' ')[0]),
      ['HID-MSG-02'],
    );
    // A device failure under the same policy: failed at once, no retry line.
    const f = await chiprig([
      'run',
      '--station',
      station,
      '--suite',
      'u2f',
      '--transport',
      'hid',
      '--device',
      'emulator:wrong-flags',
      '--results',
      join(dir, 'r2'),
      '--no-html',
    ]);
    assert.equal(f.code, EXIT.FAILED);
    assert.doesNotMatch(f.stdout, /retry U2F-/);
  });

  it('policy.suites.<suite>.timeoutMs limits each test of that suite (a test over it is broken, not failed)', async () => {
    const dir = tmp();
    const station = stationCopy(dir, (y) => `${y}\npolicy:\n  suites:\n    hid: { timeoutMs: 50 }\n`);
    const r = await chiprig([
      'run',
      '--station',
      station,
      '--suite',
      'hid,u2f',
      '--transport',
      'hid',
      '--grep',
      'HID-SEQ-04|U2F-VER-01',
      '--results',
      join(dir, 'r'),
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.BROKEN, `exit ${r.code}\n${r.stdout}`);
    assert.match(
      r.stdout,
      /BROKE HID-SEQ-04 .*\n\s+HID-SEQ-04 did not finish within its 50 ms limit; the link is reset/,
    );
    // The u2f suite keeps its own limit, and the abandoned HID-SEQ-04 (still reading raw
    // reports) cannot steal U2F-VER-01's reply: the link was reset in between.
    assert.match(r.stdout, /PASS\s+U2F-VER-01/);
  });

  it('a chip unplugged mid-run: every later test on that link is broken with the reason, the other links pass (exit 3)', async () => {
    const dir = tmp();
    const r = await chiprig([
      'run',
      '--suite',
      'u2f',
      '--device',
      'emulator:unplugged-mid-run',
      '--results',
      dir,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.BROKEN, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const all = results(dir);
    const broken = all.filter((x) => x.status === 'broken');
    assert.ok(broken.length >= 10, `only ${broken.length} broken`);
    for (const b of broken)
      assert.match(
        b.message ?? '',
        /unplugged|disconnected|no response|no card in the field/i,
        `${b.name}: ${b.message}`,
      );
    assert.equal(all.filter((x) => x.status === 'failed').length, 0, 'an unplugged chip is not a failed one');
    assert.match(r.stdout, /NFC · U2F REGISTER\s+\d+\s+0\s+0/);
    assert.match(r.stdout, /Bluetooth LE · U2F REGISTER\s+\d+\s+0\s+0/);
    assert.match(r.stdout, /USB HID · U2F REGISTER\s+0\s+0\s+\d+/);
    assert.equal(all.length, Number(/(\d+) tests in/.exec(r.stdout)?.[1]), 'every result is on disk');
  });

  it('killing the runner mid-run (SIGKILL) leaves every finished result whole on disk', async () => {
    const dir = tmp();
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--suite', 'u2f,security', '--results', dir, '--no-html'],
      {
        env: { ...process.env, CHIPRIG_QUIET_SKIPS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const finished = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 30 results within 120 s:\n${out}`)), 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const done = out.match(/^\[\s*\d+\/\d+\] /gm)?.length ?? 0;
        if (done >= 30) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve(done);
        }
      });
    });
    await new Promise((resolve) => child.once('close', resolve));
    const all = results(dir); // every file parses: none half-written
    assert.ok(all.length >= finished, `${all.length} results on disk, ${finished} reported finished`);
    for (const x of all) assert.ok(['passed', 'failed', 'broken', 'skipped'].includes(x.status), x.name);
  });
});
