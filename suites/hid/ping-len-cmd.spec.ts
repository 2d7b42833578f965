import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import {
  CAPABILITY,
  CTAPHID,
  cmdName,
  ERR,
  fragment,
  INIT_DATA,
  initPacket,
  MAX_MESSAGE,
  parsePacket,
} from '../../rig/transport/hid/framing.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../../rig/u2f/messages.ts';
import { authenticationSignatureValid, registrationSignatureValid } from '../../rig/u2f/signatures.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  allocateChannel,
  byteHex,
  errFrame,
  expectEcho,
  expectError,
  frameHex,
  judgeTime,
  msgWithPresence,
  openRaw,
  REPLY_MS,
  randomData,
  readMessage,
  resync,
  settleAfterFailure,
} from '../support/hid-cases.ts';
import { swHex } from '../support/u2f.ts';

const station = await getStation();

describe('USB HID · CTAPHID PING and lengths', () => {
  const check = area(station, 'hid', 'CTAPHID PING and lengths');
  settleAfterFailure(station);

  check(
    'HID-PING-01',
    'PING with 8 bytes is echoed on the same CID',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const m = await expectEcho(raw, a.cid, randomData(8), 'HID-PING-01 PING 8 bytes');
      judgeTime(ctx, 'PING 8 bytes round trip', m.lastAt - m.sentAt, 100, 1000);
    },
    { severity: 'blocker' },
  );

  check('HID-PING-02', 'PING with 1024 bytes (18 reports) is echoed exactly', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const data = randomData(1024);
    const request = fragment(a.cid, CTAPHID.PING, data);
    assert.equal(request.length, 18, 'rig: 1024 bytes must take 18 reports');
    const started = performance.now();
    const m = await expectEcho(raw, a.cid, data, 'HID-PING-02 PING 1024 bytes', 3000);
    assert.equal(m.reports.length, 18, `echo of 1024 bytes must take 18 reports, got ${m.reports.length}`);
    // GH's 20-75 ms windows assume a 2 ms bInterval and have no spec basis (§6.1): recorded only.
    const send = m.sentAt - started;
    const receive = m.lastAt - m.firstAt;
    const inWindow = (ms: number) => (ms >= 20 && ms <= 75 ? 'inside' : 'outside');
    ctx.observe(`host send ${send.toFixed(1)} ms (${inWindow(send)} GH 20-75 ms)`);
    ctx.observe(`receive ${receive.toFixed(1)} ms (${inWindow(receive)} GH 20-75 ms)`);
  });

  check('HID-PING-03', 'PING with 1000 bytes is echoed exactly, round trip recorded', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const m = await expectEcho(raw, a.cid, randomData(1000), 'HID-PING-03 PING 1000 bytes', 3000);
    judgeTime(ctx, 'PING 1000 bytes round trip', m.lastAt - m.sentAt, 555, 2000);
  });

  check('HID-PING-04', 'PING with 100 bytes is echoed, also right after an INIT', async () => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await expectEcho(raw, a.cid, randomData(100), 'HID-PING-04 PING 100 bytes');
    await resync(raw, a.cid);
    await expectEcho(raw, a.cid, randomData(100), 'HID-PING-04 PING 100 bytes right after INIT');
  });

  check(
    'HID-PING-05',
    'PING with 0, 57, 58 and 7609 bytes is echoed exactly',
    async () => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      for (const n of [0, INIT_DATA, INIT_DATA + 1, MAX_MESSAGE]) {
        const m = await expectEcho(raw, a.cid, randomData(n), `HID-PING-05 PING ${n} bytes`, 5000);
        if (n === MAX_MESSAGE) {
          const last = parsePacket(m.reports.at(-1)!);
          assert.ok(
            last.kind === 'cont' && last.seq === 127,
            `7609-byte echo must end with SEQ 7f: ${frameHex(last.raw)}`,
          );
        }
      }
    },
    { timeoutMs: 20_000 },
  );

  check(
    'HID-LEN-01',
    'PING announcing 7610 bytes is ERR_INVALID_LEN at once',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      await raw.write(initPacket(a.cid, CTAPHID.PING, MAX_MESSAGE + 1, new Uint8Array(INIT_DATA).fill(0x5a)));
      const ms = await expectError(raw, a.cid, ERR.INVALID_LEN, 1000, 'HID-LEN-01 PING BCNT 1dba');
      ctx.observe(`ERR_INVALID_LEN after ${ms.toFixed(1)} ms`);
    },
    { severity: 'critical' },
  );
});

describe('USB HID · CTAPHID MSG', () => {
  const check = area(station, 'hid', 'CTAPHID MSG');
  settleAfterFailure(station);

  check('HID-MSG-01', 'MSG with no payload is refused', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await raw.write(initPacket(a.cid, CTAPHID.MSG, 0));
    const m = await readMessage(raw, a.cid, REPLY_MS, 'HID-MSG-01');
    assert.ok(m, `MSG BCNT 0: no reply within ${REPLY_MS} ms`);
    const shown = frameHex(m.reports[0]!);
    const observed =
      shown === errFrame(a.cid, ERR.INVALID_LEN)
        ? 'invalid-len'
        : m.cmd === CTAPHID.MSG && m.payload.length === 2 && hex(m.payload) !== '9000'
          ? 'apdu-status'
          : undefined;
    ctx.disputed(observed, `MSG BCNT 0 answered ${shown}`);
  });

  check(
    'HID-MSG-02',
    'REGISTER and AUTHENTICATE span several reports and reassemble',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const app = randomData(32);
      const chal = randomData(32);
      const regApdu = encodeRegister(chal, app);
      assert.ok(fragment(a.cid, CTAPHID.MSG, regApdu).length >= 2, 'rig: REGISTER must take 2+ reports');
      const reg = await msgWithPresence(station, raw, a.cid, regApdu, 'HID-MSG-02 REGISTER');
      assert.equal(swHex(reg.sw), '9000', `REGISTER over raw MSG: ${frameHex(reg.m.reports[0]!)}`);
      const r = parseRegisterResponse(reg.m.payload.subarray(0, -2));
      assert.ok(registrationSignatureValid(app, chal, r), 'reassembled REGISTER signature does not verify');
      ctx.observe(`REGISTER reply: ${reg.m.payload.length} bytes in ${reg.m.reports.length} reports`);
      if (reg.m.reports.length < 10)
        ctx.observe('REGISTER reply took fewer than 10 reports (short certificate)');
      const authChal = randomData(32);
      const authApdu = encodeAuthenticate(AUTH_P1.ENFORCE, authChal, app, r.keyHandle);
      const auth = await msgWithPresence(station, raw, a.cid, authApdu, 'HID-MSG-02 AUTHENTICATE');
      assert.equal(swHex(auth.sw), '9000', `AUTHENTICATE over raw MSG: ${frameHex(auth.m.reports[0]!)}`);
      const s = parseAuthenticateResponse(auth.m.payload.subarray(0, -2));
      assert.ok(
        authenticationSignatureValid(r.userPublicKey, app, authChal, s),
        'reassembled AUTHENTICATE signature does not verify',
      );
      ctx.observe(
        `AUTHENTICATE: ${fragment(a.cid, CTAPHID.MSG, authApdu).length} request reports, ${auth.m.reports.length} reply reports`,
      );
    },
    { severity: 'critical', timeoutMs: 70_000 },
  );
});

describe('USB HID · CTAPHID commands', () => {
  const check = area(station, 'hid', 'CTAPHID commands');
  settleAfterFailure(station);
  const refused = async (cmd: number, what: string) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    await raw.write(initPacket(a.cid, cmd, 0));
    await expectError(raw, a.cid, ERR.INVALID_CMD, REPLY_MS, what);
  };

  check('HID-CMD-01', 'legacy U2FHID SYNC (bc) is ERR_INVALID_CMD', () =>
    refused(CTAPHID.SYNC, 'HID-CMD-01 SYNC'),
  );

  check('HID-CMD-02', 'vendor command e6 is ERR_INVALID_CMD', () => refused(0xe6, 'HID-CMD-02 command e6'));

  check('HID-CMD-03', 'CBOR (90) with no payload: ERR_INVALID_CMD on a U2F-only device', async (ctx) => {
    const raw = await openRaw(station);
    const a = await allocateChannel(raw);
    const cbor = (a.capabilities & CAPABILITY.CBOR) !== 0;
    await raw.write(initPacket(a.cid, CTAPHID.CBOR, 0));
    const m = await readMessage(raw, a.cid, REPLY_MS, 'HID-CMD-03');
    assert.ok(m, `CBOR BCNT 0: no reply within ${REPLY_MS} ms`);
    ctx.observe(`CBOR BCNT 0 answered ${frameHex(m.reports[0]!)} (caps ${byteHex(a.capabilities)})`);
    const code = cbor ? ERR.INVALID_LEN : ERR.INVALID_CMD;
    const why = cbor ? 'CTAP2 device (CBOR capability): ERR_INVALID_LEN' : 'U2F-only device: ERR_INVALID_CMD';
    assert.equal(frameHex(m.reports[0]!), errFrame(a.cid, code), `CBOR BCNT 0 on a ${why}`);
  });

  check(
    'HID-CMD-04',
    'every unimplemented command 80..ff is ERR_INVALID_CMD',
    async (ctx) => {
      const raw = await openRaw(station);
      const a = await allocateChannel(raw);
      const implemented = new Set<number>([CTAPHID.PING, CTAPHID.MSG, CTAPHID.INIT]);
      if (a.capabilities & CAPABILITY.WINK) implemented.add(CTAPHID.WINK);
      if (a.capabilities & CAPABILITY.LOCK) implemented.add(CTAPHID.LOCK);
      if (a.capabilities & CAPABILITY.CBOR)
        for (const c of [CTAPHID.CBOR, CTAPHID.CANCEL]) implemented.add(c);
      const wrong: string[] = [];
      for (let cmd = 0x80; cmd <= 0xff; cmd++) {
        if (implemented.has(cmd)) continue;
        await raw.write(initPacket(a.cid, cmd, 0));
        const m = await readMessage(raw, a.cid, 250, `HID-CMD-04 ${cmdName(cmd)}`);
        const shown = m ? frameHex(m.reports[0]!) : 'nothing';
        if (shown !== errFrame(a.cid, ERR.INVALID_CMD)) wrong.push(`${byteHex(cmd)} -> ${shown}`);
      }
      ctx.observe(`skipped implemented commands ${[...implemented].map(byteHex).join(' ')}`);
      assert.deepEqual(
        wrong,
        [],
        `unimplemented commands not answered ERR_INVALID_CMD: ${wrong.slice(0, 8).join('; ')}`,
      );
    },
    { timeoutMs: 45_000 },
  );
});
