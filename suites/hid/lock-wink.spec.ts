import assert from 'node:assert/strict';
import { CAPABILITY, CTAPHID, ERR, fragment, initPacket } from '../../rig/transport/hid/framing.ts';
import { area, type CaseContext } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  allocateChannel,
  byteHex,
  cidHex,
  errFrame,
  expectEcho,
  expectMessage,
  frameHex,
  openRaw,
  REPLY_MS,
  randomData,
  readMessage,
  settleAfterFailure,
  sleep,
} from '../support/hid-cases.ts';
import type { RawHid } from '../support/hid-raw.ts';

const station = await getStation();
const hidProfile = station.profile.hid;

const lockPacket = (cid: number, seconds: number) => initPacket(cid, CTAPHID.LOCK, 1, Uint8Array.of(seconds));

/** LOCK `seconds` on `cid` and require the empty 84 echo. */
async function lock(raw: RawHid, cid: number, seconds: number, what: string) {
  await raw.write(lockPacket(cid, seconds));
  const m = await expectMessage(raw, cid, CTAPHID.LOCK, what);
  assert.equal(frameHex(m.reports[0]!), `${cidHex(cid)} 84 0000`, `${what}: LOCK must answer 84 with BCNT 0`);
  return m.lastAt;
}

/** A channel on a device that advertises LOCK; otherwise the case is skipped (HID-LOCK-01 covers it). */
async function lockChannels(ctx: CaseContext) {
  const raw = await openRaw(station);
  const a = await allocateChannel(raw);
  if (!(a.capabilities & CAPABILITY.LOCK)) {
    ctx.skip(`the device does not advertise LOCK (INIT capabilities ${byteHex(a.capabilities)})`);
  }
  return { raw, a, b: await allocateChannel(raw) };
}

describe('USB HID · CTAPHID WINK and LOCK', () => {
  const check = area(station, 'hid', 'CTAPHID WINK and LOCK');
  settleAfterFailure(station);

  check('HID-WINK-01', 'WINK follows the WINK capability bit', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const wink = (a.capabilities & CAPABILITY.WINK) !== 0;
    await raw.write(initPacket(a.cid, CTAPHID.WINK, 0));
    const m = await readMessage(raw, a.cid, REPLY_MS, 'HID-WINK-01');
    assert.ok(m, `WINK: no reply within ${REPLY_MS} ms`);
    const shown = frameHex(m.reports[0]!);
    ctx.observe(
      `WINK answered ${shown} (caps ${byteHex(a.capabilities)}, profile wink: ${hidProfile.capabilities?.wink ?? 'not stated'})`,
    );
    if (wink) {
      assert.equal(shown, `${cidHex(a.cid)} 88 0000`, 'WINK capability set: WINK must answer 88 with BCNT 0');
      ctx.observe('the visual wink itself is not checked by the rig');
    } else {
      assert.equal(
        shown,
        errFrame(a.cid, ERR.INVALID_CMD),
        'no WINK capability: expected ERR_INVALID_CMD (FT-H would expect success)',
      );
    }
  });

  check('HID-LOCK-01', 'LOCK 00 follows the LOCK capability bit', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await raw.write(lockPacket(a.cid, 0));
    const m = await readMessage(raw, a.cid, REPLY_MS, 'HID-LOCK-01');
    assert.ok(m, `LOCK 00: no reply within ${REPLY_MS} ms`);
    const shown = frameHex(m.reports[0]!);
    ctx.observe(
      `LOCK 00 answered ${shown} (caps ${byteHex(a.capabilities)}, profile lock: ${hidProfile.capabilities?.lock ?? 'not stated'})`,
    );
    if (a.capabilities & CAPABILITY.LOCK) {
      assert.equal(
        shown,
        `${cidHex(a.cid)} 84 0000`,
        'LOCK capability set: LOCK 00 must answer 84 with BCNT 0',
      );
    } else {
      assert.equal(shown, errFrame(a.cid, ERR.INVALID_CMD), 'no LOCK capability: expected ERR_INVALID_CMD');
    }
  });

  check(
    'HID-LOCK-02',
    'LOCK 3 s on A: B is busy until the lock lapses, then served',
    async (ctx) => {
      const { raw, a, b } = await lockChannels(ctx);
      // GH uses B = A^1, never allocated (legacy); an allocated B is valid under both channel rules.
      const lockedAt = await lock(raw, a.cid, 3, 'HID-LOCK-02 LOCK 03 on A');
      await expectEcho(raw, a.cid, randomData(8), 'HID-LOCK-02 PING on the lock holder A');
      const answers: string[] = [];
      let servedAt: number | undefined;
      while (servedAt === undefined && performance.now() - lockedAt < 5000) {
        const data = randomData(8);
        for (const r of fragment(b.cid, CTAPHID.PING, data)) await raw.write(r);
        const m = await readMessage(raw, b.cid, REPLY_MS, 'HID-LOCK-02 PING on B');
        const shown = m ? frameHex(m.reports[0]!) : 'nothing';
        const at = performance.now() - lockedAt;
        if (m?.cmd === CTAPHID.PING) servedAt = at;
        else {
          if (shown !== errFrame(b.cid, ERR.CHANNEL_BUSY)) answers.push(`${at.toFixed(0)} ms: ${shown}`);
          await sleep(100);
        }
      }
      ctx.observe(
        servedAt === undefined
          ? 'B never served within 5 s'
          : `B served ${servedAt.toFixed(0)} ms after LOCK`,
      );
      assert.deepEqual(answers, [], 'while A holds the lock, B may only get ERR_CHANNEL_BUSY');
      assert.ok(servedAt !== undefined, 'B was still refused 5 s after a 3 s LOCK');
      assert.ok(
        servedAt >= 2500,
        `B served ${servedAt.toFixed(0)} ms after a 3 s LOCK: the lock lapsed too early`,
      );
      assert.ok(servedAt <= 4000, `B served only ${servedAt.toFixed(0)} ms after a 3 s LOCK`);
    },
    { severity: 'critical', timeoutMs: 9000 },
  );

  check(
    'HID-LOCK-03',
    'LOCK 03 then LOCK 00 releases the lock at once',
    async (ctx) => {
      const { raw, a, b } = await lockChannels(ctx);
      await lock(raw, a.cid, 3, 'HID-LOCK-03 LOCK 03 on A');
      await lock(raw, a.cid, 0, 'HID-LOCK-03 LOCK 00 on A');
      await expectEcho(raw, b.cid, randomData(8), 'HID-LOCK-03 PING on B right after the release');
    },
    { severity: 'critical' },
  );

  check(
    'HID-LOCK-04',
    'LOCK longer than the maximum is ERR_INVALID_PAR',
    async (ctx) => {
      const { raw, a } = await lockChannels(ctx);
      const wrong: string[] = [];
      for (let seconds = hidProfile.lockMaxSeconds + 1; seconds <= 0xff; seconds++) {
        await raw.write(lockPacket(a.cid, seconds));
        const m = await readMessage(raw, a.cid, 250, `HID-LOCK-04 LOCK ${byteHex(seconds)}`);
        const shown = m ? frameHex(m.reports[0]!) : 'nothing';
        if (shown !== errFrame(a.cid, ERR.INVALID_PAR)) wrong.push(`${byteHex(seconds)} -> ${shown}`);
      }
      if (wrong.length) await lock(raw, a.cid, 0, 'HID-LOCK-04 release after an accepted LOCK');
      assert.deepEqual(
        wrong,
        [],
        `LOCK above ${hidProfile.lockMaxSeconds} s not refused with ERR_INVALID_PAR: ${wrong.slice(0, 8).join('; ')}`,
      );
    },
    { timeoutMs: 20_000 },
  );
});
