import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import {
  BROADCAST_CID,
  CAPABILITY,
  CTAPHID,
  contPacket,
  ERR,
  fragment,
  initPacket,
} from '../../rig/transport/hid/framing.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  allocateChannel,
  byteHex,
  checkInitReply,
  cidHex,
  expectError,
  expectMessage,
  expectSilence,
  frameHex,
  initOn,
  openRaw,
  pingInit,
  REPLY_MS,
  randomData,
  readMessage,
  settleAfterFailure,
} from '../support/hid-cases.ts';

const station = await getStation();
const hidProfile = station.profile.hid;
const NEVER_ALLOCATED = 0xdeadbeef;

describe('USB HID · CTAPHID INIT', () => {
  const check = area(station, 'hid', 'CTAPHID INIT');
  settleAfterFailure(station);

  check(
    'HID-INIT-01',
    'broadcast INIT allocates a new channel',
    async (ctx) => {
      const raw = await openRaw(station);
      const nonce = randomData(8);
      await raw.write(initPacket(BROADCAST_CID, CTAPHID.INIT, 8, nonce));
      const m = await expectMessage(raw, BROADCAST_CID, CTAPHID.INIT, 'HID-INIT-01 broadcast INIT');
      const shown = frameHex(m.reports[0]!);
      assert.equal(hex(m.reports[0]!.subarray(5, 7)), '0011', `INIT reply BCNT must be 0011: ${shown}`);
      const first = checkInitReply(m, nonce, 'HID-INIT-01');
      const version = hidProfile.protocolVersion;
      assert.equal(
        first.response[12],
        version,
        `protocol version byte must be ${byteHex(version)}: ${shown}`,
      );
      const second = await allocateChannel(raw, 'HID-INIT-01 second broadcast INIT');
      assert.notEqual(second.cid, first.cid, `two broadcast INITs both allocated ${cidHex(first.cid)}`);
      ctx.observe(`allocated ${cidHex(first.cid)} and ${cidHex(second.cid)}`);
    },
    { severity: 'blocker' },
  );

  check(
    'HID-INIT-02',
    'INIT on an allocated channel keeps the CID and reports capabilities',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const { channel, message } = await initOn(raw, a.cid, 'HID-INIT-02 INIT on the allocated CID');
      const shown = frameHex(message.reports[0]!);
      assert.equal(
        cidHex(channel.cid),
        cidHex(a.cid),
        `INIT on ${cidHex(a.cid)} must keep the CID: ${shown}`,
      );
      assert.equal(message.payload.length, 17, `INIT reply must be 17 bytes: ${shown}`);
      assert.equal(channel.response[12], hidProfile.protocolVersion, `protocol version must be 02: ${shown}`);
      const caps = channel.capabilities;
      const [, major, minor, build] = channel.response.subarray(12);
      ctx.observe(`capabilities ${byteHex(caps)}, device version ${major}.${minor}.${build}`);
      const want = hidProfile.capabilities;
      // Only a vendor's documented capabilities are required; otherwise they are recorded,
      // and WINK and LOCK are judged by them (HID-WINK-01, HID-LOCK-01).
      if (!want) return;
      const expected =
        (want.wink ? CAPABILITY.WINK : 0) |
        (want.lock ? CAPABILITY.LOCK : 0) |
        (want.cbor ? CAPABILITY.CBOR : 0) |
        (want.nmsg ? CAPABILITY.NMSG : 0);
      assert.equal(
        byteHex(caps & 0x0f),
        byteHex(expected),
        `capability bits must match the device profile: ${shown}`,
      );
    },
    { severity: 'critical' },
  );

  check('HID-INIT-03', 'INIT on a never-allocated CID (legacy: echoed; strict: ERR 0B)', async (ctx) => {
    const raw = await openRaw(station);
    const nonce = randomData(8);
    await raw.write(initPacket(NEVER_ALLOCATED, CTAPHID.INIT, 8, nonce));
    const m = await readMessage(raw, NEVER_ALLOCATED, REPLY_MS, 'HID-INIT-03');
    assert.ok(m, `INIT on ${cidHex(NEVER_ALLOCATED)}: no reply within ${REPLY_MS} ms`);
    const shown = frameHex(m.reports[0]!);
    let observed: string | undefined;
    if (shown === 'deadbeef bf 0001 0b') observed = 'strict-invalid-channel';
    else {
      const channel = checkInitReply(m, nonce, 'HID-INIT-03 INIT on deadbeef');
      if (cidHex(channel.cid) === 'deadbeef') observed = 'legacy-echo';
    }
    ctx.disputed(observed, `INIT on deadbeef answered ${shown}`);
  });

  check(
    'HID-INIT-04',
    "INIT aborts the channel's open message; a stray CONT then gets no answer",
    async () => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      await raw.write(pingInit(a.cid, 99));
      const { channel } = await initOn(raw, a.cid, 'HID-INIT-04 INIT during an open PING');
      assert.equal(cidHex(channel.cid), cidHex(a.cid), 'INIT reply must keep the CID');
      await raw.write(contPacket(a.cid, 0, new Uint8Array(42).fill(0x5a)));
      await expectSilence(raw, 1000, 'HID-INIT-04 stray CONT after the self-abort');
    },
    { severity: 'critical' },
  );

  check('HID-INIT-05', 'INIT on B while A has a message open (disputed: record)', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const b = await allocateChannel(raw);
    await raw.write(pingInit(a.cid, 99));
    const openedAt = performance.now();
    const nonce = randomData(8);
    await raw.write(initPacket(b.cid, CTAPHID.INIT, 8, nonce));
    const m = await readMessage(raw, b.cid, REPLY_MS, 'HID-INIT-05 INIT on B');
    const answer = m ? frameHex(m.reports[0]!) : 'nothing';
    // A's message is left open on purpose: its timeout is awaited before B's answer is judged.
    const limit = hidProfile.frameTimeoutMs.max + 200;
    const ms = await expectError(raw, a.cid, ERR.MSG_TIMEOUT, limit, 'HID-INIT-05 A times out', openedAt);
    ctx.observe(`ERR_MSG_TIMEOUT on A after ${ms.toFixed(0)} ms`);
    assert.ok(m, 'HID-INIT-05: INIT on B not answered at all');
    if (m.cmd === CTAPHID.ERROR) ctx.disputed('refused', `INIT on B while A is open answered ${answer}`);
    else {
      checkInitReply(m, nonce, 'HID-INIT-05 INIT on B');
      ctx.disputed('served', `INIT on B while A is open answered ${answer}`);
    }
  });

  check('HID-INIT-06', 'INITs are answered while another channel holds a LOCK', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    if (!(a.capabilities & CAPABILITY.LOCK))
      ctx.skip(`device does not advertise LOCK (caps ${byteHex(a.capabilities)})`);
    const b = await allocateChannel(raw);
    await raw.write(initPacket(a.cid, CTAPHID.LOCK, 1, Uint8Array.of(3)));
    await expectMessage(raw, a.cid, CTAPHID.LOCK, 'HID-INIT-06 LOCK 3 s on A');
    try {
      await allocateChannel(raw, 'HID-INIT-06 broadcast INIT under lock');
      // GH uses a never-allocated CID, which CTAP 2.1 channel rules refuse (HID-INIT-03 is
      // disputed); an allocated one is served under both rules.
      const other = b.cid;
      await initOn(raw, other, `HID-INIT-06 INIT on ${cidHex(other)} under lock`);
    } finally {
      await raw.write(initPacket(a.cid, CTAPHID.LOCK, 1, Uint8Array.of(0)));
      await expectMessage(raw, a.cid, CTAPHID.LOCK, 'HID-INIT-06 LOCK 0 (release)');
    }
  });

  check('HID-INIT-07', 'INIT with BCNT other than 8 is a length error', async () => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    for (const bcnt of [0, 4, 9]) {
      await raw.write(initPacket(a.cid, CTAPHID.INIT, bcnt, randomData(bcnt)));
      await expectError(raw, a.cid, ERR.INVALID_LEN, REPLY_MS, `HID-INIT-07 INIT BCNT ${bcnt}`);
    }
  });
});

describe('USB HID · CTAPHID channels', () => {
  const check = area(station, 'hid', 'CTAPHID channels');
  settleAfterFailure(station);

  check(
    'HID-CID-01',
    'INIT on the reserved CID 0 is ERR_INVALID_CID',
    async () => {
      const raw = await openRaw(station);
      await raw.write(initPacket(0, CTAPHID.INIT, 8, randomData(8)));
      await expectError(raw, 0, ERR.INVALID_CID, REPLY_MS, 'HID-CID-01 INIT on 00000000');
    },
    { severity: 'critical' },
  );

  check(
    'HID-CID-02',
    'PING on the broadcast CID is ERR_INVALID_CID',
    async () => {
      const raw = await openRaw(station);
      await raw.write(initPacket(BROADCAST_CID, CTAPHID.PING, 8, randomData(8)));
      await expectError(raw, BROADCAST_CID, ERR.INVALID_CID, REPLY_MS, 'HID-CID-02 PING on ffffffff');
    },
    { severity: 'critical' },
  );

  check(
    'HID-CID-03',
    'PING on never-allocated CID 00000100 (legacy: echoed; strict: ERR 0B)',
    async (ctx) => {
      const raw = await openRaw(station);
      const cid = 0x00000100;
      const data = randomData(10);
      await raw.write(initPacket(cid, CTAPHID.PING, 10, data));
      const m = await readMessage(raw, cid, REPLY_MS, 'HID-CID-03');
      assert.ok(m, `PING on ${cidHex(cid)}: no reply within ${REPLY_MS} ms`);
      const shown = frameHex(m.reports[0]!);
      const observed =
        shown === `00000100 81 000a ${hex(data)}`
          ? 'legacy-echo'
          : shown === '00000100 bf 0001 0b'
            ? 'strict-invalid-channel'
            : undefined;
      ctx.disputed(observed, `PING on 00000100 answered ${shown}`);
    },
  );

  check(
    'HID-CID-04',
    '32 broadcast INITs give distinct CIDs; old channels work or fail cleanly',
    async (ctx) => {
      const raw = await openRaw(station);
      const cids: number[] = [];
      for (let i = 0; i < 32; i++) cids.push((await allocateChannel(raw, `HID-CID-04 INIT #${i + 1}`)).cid);
      assert.equal(new Set(cids).size, 32, `CIDs repeat: ${cids.map(cidHex).join(' ')}`);
      const unclean: string[] = [];
      let working = 0;
      for (const cid of cids) {
        const data = randomData(8);
        for (const r of fragment(cid, CTAPHID.PING, data)) await raw.write(r);
        const m = await readMessage(raw, cid, REPLY_MS, `HID-CID-04 PING on ${cidHex(cid)}`);
        const shown = m ? frameHex(m.reports[0]!) : 'nothing';
        if (m && m.cmd === CTAPHID.PING && hex(m.payload) === hex(data)) working++;
        else if (shown !== `${cidHex(cid)} bf 0001 0b`) unclean.push(`${cidHex(cid)}: ${shown}`);
      }
      ctx.observe(`${working} of 32 channels still answer PING`);
      assert.deepEqual(
        unclean,
        [],
        `old channels must echo or answer ERR_INVALID_CID: ${unclean.join('; ')}`,
      );
    },
  );
});
