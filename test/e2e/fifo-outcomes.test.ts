import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { makeFifos } from '../../rig/transport/hid/fifo-protocol.ts';
import { type FifoShim, runDevccHost, type ShimOrder, startFifoShim } from '../support/fifo-device-shim.ts';
import { chiprig, emulateProcess, readResults, tmp } from '../support/spawn.ts';

/**
 * `fifo:PATH` against device shims that open their FIFOs each a different way, and against
 * faulty devices: the run reaches them, ends with the exit code the device deserves (0, 1,
 * or 3 when nothing serves), and the process ends within a bound, every handle closed (a
 * handle left open would keep it alive past the bound).
 */

const idOf = (r: ReturnType<typeof readResults>[number]) =>
  r.labels.find((l) => l.name === 'catalogueId')?.value ?? '';

/** `chiprig run ARGS`, timed. */
async function timedRun(args: string[]) {
  const started = performance.now();
  const r = await chiprig(['run', ...args, '--no-html'], 120_000);
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

describe('FIFO devices: reached whatever their open order, the right outcome, no hang', function () {
  this.timeout(300_000);
  let shim: FifoShim | undefined;
  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
  });

  const orders: [ShimOrder, string][] = [
    ['devcc', "PATHout for writing, then PATHin (dev.cc's order)"],
    ['reverse', 'PATHin for reading, then PATHout'],
    ['rdwr', 'both read-write'],
  ];
  for (const [order, how] of orders) {
    it(`FIFO-OPEN a device that opens ${how}: HID-INIT-01 and HID-PING-01 pass, exit 0 within 60 s`, async () => {
      const dir = tmp();
      const path = join(dir, 'dev-');
      makeFifos(path);
      shim = startFifoShim(dir, path, { order });
      const results = join(dir, 'results');
      const r = await timedRun([
        '--device',
        `fifo:${path}`,
        '--suite',
        'hid',
        '--grep',
        'HID-INIT-01|HID-PING-01',
        '--results',
        results,
      ]);
      assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
      assert.deepEqual(
        readResults(results)
          .map((t) => `${idOf(t)} ${t.status}`)
          .sort(),
        ['HID-INIT-01 passed', 'HID-PING-01 passed'],
      );
      assert.ok(r.seconds < 60, `the run took ${r.seconds.toFixed(1)} s`);
    });
  }

  it('FIFO-NONE nothing serving the FIFOs: exit 3 within 20 s, saying what was wrong and what to start', async () => {
    const dir = tmp();
    const path = join(dir, 'dev-');
    makeFifos(path);
    const r = await timedRun(['--device', `fifo:${path}`, '--results', join(dir, 'results')]);
    assert.equal(r.code, EXIT.BROKEN, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /cannot reach the device under test: nothing serves the FIFO device at .*dev-/);
    assert.match(r.stderr, /nothing opened .*dev-in for reading within 3000 ms/);
    assert.match(r.stderr, /start `chiprig emulate --transport hid --fifo .*dev-` or the device's shim/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(r.seconds < 20, `exit after ${r.seconds.toFixed(1)} s`);
  });

  it('FIFO-NONCE a device whose INIT answers carry another nonce: HID-INIT-01 fails with the bytes, the rest broken, exit 1 within 60 s', async () => {
    const dir = tmp();
    const path = join(dir, 'dev-');
    makeFifos(path);
    shim = startFifoShim(dir, path, { order: 'devcc', nonce: 'wrong' });
    const results = join(dir, 'results');
    const r = await timedRun(['--device', `fifo:${path}`, '--suite', 'hid,u2f', '--results', results]);
    assert.equal(r.code, EXIT.FAILED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.ok(r.seconds < 60, `the run took ${r.seconds.toFixed(1)} s`);
    const all = readResults(results);
    const failed = all.filter((t) => t.status === 'failed');
    assert.deepEqual(failed.map(idOf), ['HID-INIT-01']);
    assert.match(
      failed[0]!.statusDetails?.message ?? '',
      /INIT reply must echo the nonce [0-9a-f]{16}: ffffffff 86 0011 [0-9a-f]+/,
    );
    const others = all.filter((t) => idOf(t) !== 'HID-INIT-01');
    assert.ok(others.length > 30, `${others.length} other results`);
    for (const t of others) {
      assert.equal(t.status, 'broken', `${t.name}: ${t.status}`);
      assert.match(
        t.statusDetails?.message ?? '',
        /device unusable since the start of the run: no CTAPHID channel: CTAPHID INIT on ffffffff: the device answered with nonce [0-9a-f]{16} instead of the nonce sent/,
      );
    }
  });

  it('FIFO-DEVCC chiprig emulate serves a host that opens as dev.cc does (blocking), started after or before the emulator', async () => {
    const dir = tmp();
    const path = join(dir, 'u2f-');
    const nonce = '0102030405060708';
    const emu = await emulateProcess(['--transport', 'hid', '--fifo', path]);
    try {
      const after = await runDevccHost(dir, path, nonce);
      assert.equal(after.code, 0, after.out);
      assert.match(after.out, new RegExp(`^answer ffffffff860011${nonce}[0-9a-f]{8}02`, 'm'));
    } finally {
      emu.child.kill('SIGTERM');
    }
    assert.equal((await emu.stopped).code, 0);
    // Host first, blocked in its open of PATHout until the emulator opens its ends.
    execFileSync('mkfifo', ['-m', '600', `${path}in`, `${path}out`]);
    const before = runDevccHost(dir, path, nonce);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const emu2 = await emulateProcess(['--transport', 'hid', '--fifo', path]);
    try {
      const host = await before;
      assert.equal(host.code, 0, host.out);
      assert.match(host.out, new RegExp(`^answer ffffffff860011${nonce}`, 'm'));
    } finally {
      emu2.child.kill('SIGTERM');
    }
    assert.equal((await emu2.stopped).code, 0);
  });

  it('FIFO-WEDGE a device wedged busy by a bad SEQ, with no power switch: HID-SEQ-01 fails, later HID cases broken "device stuck since HID-SEQ-01", exit 1', async () => {
    const dir = tmp();
    const path = join(dir, 'u2f-');
    const emu = await emulateProcess([
      '--transport',
      'hid',
      '--fifo',
      path,
      '--fault',
      'wedges-busy-after-bad-seq',
    ]);
    try {
      const results = join(dir, 'results');
      const r = await timedRun(['--device', `fifo:${path}`, '--suite', 'hid', '--results', results]);
      assert.equal(r.code, EXIT.FAILED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
      assert.ok(r.seconds < 90, `the run took ${r.seconds.toFixed(1)} s`);
      const all = readResults(results);
      const seq01 = all.find((t) => idOf(t) === 'HID-SEQ-01');
      assert.equal(seq01?.status, 'failed');
      assert.match(
        seq01?.statusDetails?.message ?? '',
        /the device stayed busy \(ERR_CHANNEL_BUSY to a broadcast INIT, beyond its frame timeout\) after this input: .*; .*the station has no power switch/,
      );
      const stuck = all.filter((t) => /device stuck since HID-SEQ-01/.test(t.statusDetails?.message ?? ''));
      assert.ok(stuck.length >= 3, `${stuck.length} cases broken as stuck`);
      for (const t of stuck) assert.equal(t.status, 'broken', t.name);
      assert.deepEqual(
        all.filter((t) => t.status === 'failed').map(idOf),
        ['HID-SEQ-01'],
        'one failure, not the same failure in every later case',
      );
    } finally {
      emu.child.kill('SIGTERM');
    }
    await emu.stopped;
  });
});

describe('a device that dies after an input, on a station with a power switch (the emulated chip)', function () {
  this.timeout(300_000);

  it('DEV-DIES dies-on-oversized-init: HID-LEN-01 fails "stopped answering after this input" with the bytes, later cases broken "device gone since HID-LEN-01", exit 1', async () => {
    const dir = tmp();
    const r = await timedRun([
      '--device',
      'emulator:dies-on-oversized-init',
      '--suite',
      'hid',
      '--transport',
      'hid',
      '--grep',
      'HID-LEN-01|HID-MSG-01|HID-CMD-01',
      '--results',
      dir,
    ]);
    assert.equal(r.code, EXIT.FAILED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.ok(r.seconds < 90, `the run took ${r.seconds.toFixed(1)} s`);
    const all = readResults(dir);
    const len01 = all.find((t) => idOf(t) === 'HID-LEN-01');
    assert.equal(len01?.status, 'failed');
    assert.match(
      len01?.statusDetails?.message ?? '',
      /the device stopped answering after this input: [0-9a-f]{8} 81 1dba 5a5a.*after a power cycle it got no answer/,
    );
    const later = all.filter((t) => idOf(t) !== 'HID-LEN-01');
    assert.equal(later.length, 2);
    for (const t of later) {
      assert.equal(t.status, 'broken', t.name);
      assert.match(
        t.statusDetails?.message ?? '',
        /^device gone since HID-LEN-01: the device stopped answering/,
      );
    }
  });
});
