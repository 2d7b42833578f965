import assert from 'node:assert/strict';
import { hex, readU32be } from '../../rig/bytes.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  cmdName,
  contPacket,
  ERR,
  fragment,
  initPacket,
  MAX_MESSAGE,
} from '../../rig/transport/hid/framing.ts';
import { encodeVersion } from '../../rig/u2f/messages.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  allocateChannel,
  byteHex,
  cidHex,
  errFrame,
  expectError,
  expectSilence,
  frameHex,
  judgeTime,
  openRaw,
  pingInit,
  REPLY_MS,
  randomData,
  resync,
  settleAfterFailure,
  writeAll,
} from '../support/hid-cases.ts';
import { assemble } from '../support/hid-raw.ts';

const station = await getStation();
const frameTimeout = station.profile.hid.frameTimeoutMs;
const cont = (cid: number, seq: number) => contPacket(cid, seq, new Uint8Array(59).fill(0x5a));

describe('USB HID · CTAPHID sequencing', () => {
  const check = area(station, 'hid', 'CTAPHID sequencing');
  settleAfterFailure(station);

  check('HID-SEQ-01', 'CONT with SEQ 01 first is ERR_INVALID_SEQ, then silence', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await raw.write(pingInit(a.cid, 99));
    const sentAt = await writeAll(raw, [cont(a.cid, 1)]);
    const ms = await expectError(raw, a.cid, ERR.INVALID_SEQ, REPLY_MS, 'HID-SEQ-01 CONT SEQ 01', sentAt);
    judgeTime(ctx, 'ERR_INVALID_SEQ delay', ms, 100, REPLY_MS);
    await expectSilence(raw, 600, 'HID-SEQ-01 after ERR_INVALID_SEQ');
  });

  check('HID-SEQ-02', 'CONTs 0, 1, 3 of a 1168-byte PING: ERR_INVALID_SEQ', async () => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await writeAll(raw, [pingInit(a.cid, 0x0490), cont(a.cid, 0), cont(a.cid, 1), cont(a.cid, 3)]);
    await expectError(raw, a.cid, ERR.INVALID_SEQ, REPLY_MS, 'HID-SEQ-02 CONT SEQ 03 after 01');
    await resync(raw, a.cid);
  });

  check(
    'HID-SEQ-03',
    'a second init packet instead of a CONT is ERR_INVALID_SEQ, then silence',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      await raw.write(pingInit(a.cid, 99));
      const sentAt = await writeAll(raw, [pingInit(a.cid, 99)]);
      const ms = await expectError(
        raw,
        a.cid,
        ERR.INVALID_SEQ,
        REPLY_MS,
        'HID-SEQ-03 init packet again',
        sentAt,
      );
      judgeTime(ctx, 'ERR_INVALID_SEQ delay', ms, 100, REPLY_MS);
      await expectSilence(raw, 600, 'HID-SEQ-03 after ERR_INVALID_SEQ');
    },
  );

  check(
    'HID-SEQ-04',
    'a lone CONT with no transaction open gets no answer',
    async () => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      await raw.write(cont(a.cid, 0));
      await expectSilence(raw, 1000, 'HID-SEQ-04 lone CONT SEQ 00');
    },
    { severity: 'critical' },
  );
});

describe('USB HID · CTAPHID timeout and busy', () => {
  const check = area(station, 'hid', 'CTAPHID timeout and busy');
  settleAfterFailure(station);

  check(
    'HID-TMO-01',
    'an unfinished message times out with ERR_MSG_TIMEOUT in the frame-timeout window',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const sentAt = await writeAll(raw, [pingInit(a.cid, 99)]);
      const ms = await expectError(raw, a.cid, ERR.MSG_TIMEOUT, frameTimeout.max + 500, 'HID-TMO-01', sentAt);
      ctx.observe(`ERR_MSG_TIMEOUT after ${ms.toFixed(0)} ms`);
      assert.ok(
        ms >= frameTimeout.min && ms <= frameTimeout.max,
        `ERR_MSG_TIMEOUT after ${ms.toFixed(0)} ms, required ${frameTimeout.min}..${frameTimeout.max} ms`,
      );
    },
    { severity: 'critical' },
  );

  check(
    'HID-BUSY-01',
    'a second channel is ERR_CHANNEL_BUSY while one message is open',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const b = await allocateChannel(raw);
      const openedAt = await writeAll(raw, [pingInit(a.cid, 99)]);
      const busyAt = await writeAll(raw, [pingInit(b.cid, 99)]);
      const busyMs = await expectError(
        raw,
        b.cid,
        ERR.CHANNEL_BUSY,
        REPLY_MS,
        'HID-BUSY-01 PING on B',
        busyAt,
      );
      judgeTime(ctx, 'ERR_CHANNEL_BUSY delay', busyMs, 100, REPLY_MS);
      const limit = frameTimeout.max + 500;
      const ms = await expectError(raw, a.cid, ERR.MSG_TIMEOUT, limit, 'HID-BUSY-01 A times out', openedAt);
      const afterBusy = ms - (busyAt + busyMs - openedAt);
      const warn = afterBusy < 450 ? ' (WARN: GH wants >= 450 ms after the BUSY)' : '';
      ctx.observe(
        `A's ERR_MSG_TIMEOUT ${ms.toFixed(0)} ms after its init, ${afterBusy.toFixed(0)} ms after the BUSY${warn}`,
      );
      assert.ok(
        ms >= frameTimeout.min && ms <= frameTimeout.max,
        `A's ERR_MSG_TIMEOUT after ${ms.toFixed(0)} ms, required ${frameTimeout.min}..${frameTimeout.max} ms`,
      );
    },
    { severity: 'critical' },
  );

  check('HID-BUSY-02', "interleaved messages: B is busy, A's echo stays intact", async () => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const b = await allocateChannel(raw);
    const dataA = randomData(100);
    const [initA, contA] = fragment(a.cid, CTAPHID.PING, dataA);
    const [initB, contB] = fragment(b.cid, CTAPHID.PING, randomData(100));
    await writeAll(raw, [initA!, initB!, contB!, contA!]);
    const reports = await raw.collect(600);
    const onB = reports.filter((r) => readU32be(r, 0) === b.cid).map(frameHex);
    const onA = reports.filter((r) => readU32be(r, 0) === a.cid);
    const others = reports.filter((r) => ![a.cid, b.cid].includes(readU32be(r, 0))).map(frameHex);
    assert.deepEqual(
      onB,
      [errFrame(b.cid, ERR.CHANNEL_BUSY)],
      'B must get exactly ERR_CHANNEL_BUSY (its CONT ignored)',
    );
    const echoes = assemble(onA);
    const shownA = onA.map(frameHex).join(' | ');
    assert.equal(onA.length, 2, `A must get exactly its 2-report echo: ${shownA}`);
    assert.equal(echoes.length, 1, `A's echo did not reassemble: ${shownA}`);
    assert.equal(echoes[0]!.cmd, CTAPHID.PING, `A's reply must be PING: ${shownA}`);
    assert.equal(hex(echoes[0]!.payload), hex(dataA), "A's 100-byte echo differs");
    assert.deepEqual(others, [], 'no other report may arrive');
  });
});

describe('USB HID · CTAPHID responses', () => {
  const check = area(station, 'hid', 'CTAPHID responses');
  settleAfterFailure(station);

  check(
    'HID-RSP-01',
    'every reply is on the stimulus CID with its CMD or ERROR, ERROR BCNT 1',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const A = a.cid;
      const init = (cid: number, cmd: number, data: Uint8Array = new Uint8Array(0)) =>
        initPacket(cid, cmd, data.length, data);
      // Stimulus CID and CMD are read from each batch's first report.
      const stimuli: [string, Uint8Array[]][] = [
        ['PING 8', fragment(A, CTAPHID.PING, randomData(8))],
        ['PING 100', fragment(A, CTAPHID.PING, randomData(100))],
        ['INIT on A', [init(A, CTAPHID.INIT, randomData(8))]],
        ['broadcast INIT', [init(BROADCAST_CID, CTAPHID.INIT, randomData(8))]],
        ['INIT BCNT 4', [init(A, CTAPHID.INIT, randomData(4))]],
        ['MSG VERSION', fragment(A, CTAPHID.MSG, encodeVersion())],
        ['MSG empty', [init(A, CTAPHID.MSG)]],
        ['WINK', [init(A, CTAPHID.WINK)]],
        ['LOCK 0', [init(A, CTAPHID.LOCK, Uint8Array.of(0))]],
        ['SYNC', [init(A, CTAPHID.SYNC)]],
        ['CBOR', [init(A, CTAPHID.CBOR)]],
        ['vendor e6', [init(A, 0xe6)]],
        ['PING BCNT 7610', [pingInit(A, MAX_MESSAGE + 1)]],
        ['bad SEQ', [pingInit(A, 99), cont(A, 1)]],
        ['INIT on 0', [init(0, CTAPHID.INIT, randomData(8))]],
        ['PING on broadcast', [init(BROADCAST_CID, CTAPHID.PING, randomData(8))]],
      ];
      const wrong: string[] = [];
      const seen: string[] = [];
      for (const [what, reports] of stimuli) {
        const s = { what, cid: readU32be(reports[0]!, 0), cmd: reports[0]![4]! };
        await writeAll(raw, reports);
        const first = await raw.read(REPLY_MS);
        if (!first) {
          wrong.push(`${s.what}: no reply within ${REPLY_MS} ms`);
          continue;
        }
        const replies = [first, ...(await raw.collect(50))];
        const head = frameHex(first);
        seen.push(`${s.what} -> ${cmdName(first[4]!)}`);
        const offCid = replies.filter((r) => readU32be(r, 0) !== s.cid).map(frameHex);
        if (offCid.length)
          wrong.push(`${s.what} on ${cidHex(s.cid)}: reply on another CID: ${offCid.join(' | ')}`);
        if (first[4] !== s.cmd && first[4] !== CTAPHID.ERROR) {
          wrong.push(`${s.what}: CMD ${byteHex(first[4]!)} is neither ${byteHex(s.cmd)} nor bf: ${head}`);
        }
        if (first[4] === CTAPHID.ERROR && hex(first.subarray(5, 7)) !== '0001') {
          wrong.push(`${s.what}: ERROR BCNT must be 0001: ${head}`);
        }
      }
      ctx.observe(seen.join('; '));
      await resync(raw, a.cid);
      assert.deepEqual(wrong, [], `reply rules broken (HID-RSP-01): ${wrong.join('; ')}`);
    },
    { severity: 'critical' },
  );
});
