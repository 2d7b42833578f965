import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import {
  encodeFifoMessage,
  FIFO_CMD,
  QUIT_MODE,
  u32lePayload,
} from '../../rig/transport/hid/fifo-protocol.ts';
import { chiprig, emulateProcess, readResults, tmp } from '../support/spawn.ts';

/**
 * Issue 10, interoperability: the emulated chip served to outside tools over the FIFO
 * protocol of u2f-ref-code's HID tests, driven by chiprig's own FIFO client in another
 * process; and runs recorded on one station replayed on another.
 */

const idOf = (r: ReturnType<typeof readResults>[number]) =>
  r.labels.find((l) => l.name === 'catalogueId')?.value ?? '';
const _paramOf = (r: ReturnType<typeof readResults>[number], name: string) =>
  r.parameters.find((p) => p.name === name)?.value;

describe('Interoperability: HID over FIFOs (u2f-ref-code dev.cc protocol)', function () {
  this.timeout(300_000);

  it('HID-FIFO-01 chiprig run --device fifo:PATH --suite hid,u2f passes against chiprig emulate --transport hid --fifo PATH; cmd 2 mode 3 ends the emulator', async () => {
    const dir = tmp();
    const path = join(dir, 'u2f-');
    const emu = await emulateProcess(['--transport', 'hid', '--fifo', path]);
    let quitSent = false;
    try {
      assert.ok(existsSync(`${path}in`) && existsSync(`${path}out`), 'the FIFOs PATHin and PATHout exist');
      const results = join(dir, 'results');
      const r = await chiprig([
        'run',
        '--device',
        `fifo:${path}`,
        '--suite',
        'hid,u2f',
        '--results',
        results,
        '--no-html',
      ]);
      assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
      const all = readResults(results);
      assert.ok(all.length >= 75, `only ${all.length} results`);
      assert.deepEqual(
        all.filter((t) => t.status === 'failed' || t.status === 'broken').map((t) => t.name),
        [],
      );
      assert.ok(
        all.some((t) => idOf(t).startsWith('HID-') && t.status === 'passed'),
        'HID cases passed',
      );
      // The presses went through the FIFO protocol's touch (cmd 6): U2F-AUTH-08 needs one.
      const auth08 = all.find((t) => idOf(t) === 'U2F-AUTH-08');
      assert.equal(auth08?.status, 'passed');
      assert.match(r.stdout, /presence actuator/);
      // Reset and quit, as u2f-ref-code's DEV_quit sends it.
      const fd = openSync(`${path}in`, 'w');
      writeSync(fd, encodeFifoMessage(FIFO_CMD.MODE, u32lePayload(QUIT_MODE)));
      closeSync(fd);
      quitSent = true;
      const end = await Promise.race([
        emu.stopped,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('emulate did not quit')), 10_000),
        ),
      ]);
      assert.equal(end.code, 0, end.out);
      assert.match(end.out, /reset and quit/);
      assert.ok(!existsSync(`${path}in`) && !existsSync(`${path}out`), 'the FIFOs are removed');
    } finally {
      if (!quitSent) emu.child.kill('SIGTERM');
    }
  });

  it('HID-FIFO-02 a broken chip behind the FIFOs is caught: --fault wrong-flags fails U2F-AUTH-08 (exit 1)', async () => {
    const dir = tmp();
    const path = join(dir, 'bad-');
    const emu = await emulateProcess(['--transport', 'hid', '--fifo', path, '--fault', 'wrong-flags']);
    try {
      const results = join(dir, 'results');
      const r = await chiprig([
        'run',
        '--device',
        `fifo:${path}`,
        '--suite',
        'u2f',
        '--grep',
        'U2F-AUTH-0[189]',
        '--results',
        results,
        '--no-html',
      ]);
      assert.equal(r.code, EXIT.FAILED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
      const failed = readResults(results).filter((t) => t.status === 'failed');
      assert.deepEqual(
        failed.map(idOf),
        ['U2F-AUTH-08'],
        failed.map((t) => t.statusDetails?.message).join('\n'),
      );
    } finally {
      emu.child.kill('SIGTERM');
    }
    assert.equal((await emu.stopped).code, 0);
  });

  it('HID-FIFO-03 a fifo: device with nothing serving it is a clear "cannot reach" (exit 3)', async () => {
    const dir = tmp();
    const r = await chiprig(['run', '--device', `fifo:${join(dir, 'none-')}`, '--no-html', '--results', dir]);
    assert.equal(r.code, EXIT.BROKEN, r.stderr);
    assert.match(r.stderr, /cannot reach the device under test/);
    assert.match(r.stderr, /chiprig emulate --transport hid --fifo/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
