import assert from 'node:assert/strict';
import {
  echoApdu,
  expectError,
  expectSilence,
  init,
  NONCE,
  readMessage,
  readReport,
} from '../../../test/support/hid-test-support.ts';
import { fromHex, hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import {
  BROADCAST_CID,
  CAPABILITY,
  CTAPHID,
  contPacket,
  ERR,
  fragment,
  initPacket,
} from '../../transport/hid/framing.ts';
import { EmulatedHidDevice, type EmulatedHidDeviceOptions, TYPICAL_REPORT_DESCRIPTOR_HEX } from './hid.ts';

/** PING with BCNT 99: an init report and one CONT (the GH stimulus for SEQ/TMO/BUSY cases). */
function ping99(cid: number): { init: Uint8Array; cont: Uint8Array } {
  const [first, second] = fragment(cid, CTAPHID.PING, new Uint8Array(99).fill(0x55));
  return { init: first!, cont: second! };
}

describe('EmulatedHidDevice (CTAPHID state machine)', () => {
  let device: EmulatedHidDevice;
  const open = (options: Partial<EmulatedHidDeviceOptions> = {}) => {
    device = new EmulatedHidDevice({ handleApdu: echoApdu, firstCid: 0x01000001, ...options });
    return device;
  };
  afterEach(() => device?.close());

  it('HID-IDLE-01 / HID-DESC-01: silent when idle; FIDO report descriptor', async () => {
    open();
    await expectSilence(device, 50);
    assert.equal(hex(await device.reportDescriptor()), TYPICAL_REPORT_DESCRIPTOR_HEX.toLowerCase());
    assert.equal(device.info.path, 'emulator');
  });

  it('HID-INIT-01/02, HID-CID-04: distinct CIDs, never 0 or FFFFFFFF; INIT on own CID keeps it', async () => {
    open({ firstCid: 0xfffffffe });
    const seen = new Set<number>();
    for (let i = 0; i < 32; i++) seen.add(await init(device));
    assert.equal(seen.size, 32);
    assert.ok(!seen.has(0) && !seen.has(BROADCAST_CID));
    const cid = [...seen][0]!;
    await device.write(initPacket(BROADCAST_CID, CTAPHID.INIT, 8, NONCE));
    const { payload } = await readMessage(device, BROADCAST_CID);
    assert.equal(payload[12], 2, 'protocol version 2');
    assert.equal(payload[16], CAPABILITY.WINK | CAPABILITY.LOCK);
    assert.equal(await init(device, cid), cid);
  });

  it('HID-INIT-03 / HID-CID-03 legacy: INIT and PING on never-allocated CIDs are served', async () => {
    open();
    assert.equal(await init(device, 0xdeadbeef), 0xdeadbeef);
    await device.write(initPacket(0x00000100, CTAPHID.PING, 10, new Uint8Array(10).fill(7)));
    const { cmd, payload } = await readMessage(device, 0x100);
    assert.equal(cmd, CTAPHID.PING);
    assert.equal(hex(payload), '07'.repeat(10));
  });

  it('HID-INIT-03 strict: ERR(0B) on a never-allocated CID', async () => {
    open({ channelRules: 'strict' });
    await device.write(initPacket(0xdeadbeef, CTAPHID.INIT, 8, NONCE));
    await expectError(device, 0xdeadbeef, ERR.INVALID_CID);
    await device.write(initPacket(0x100, CTAPHID.PING, 1, Uint8Array.of(1)));
    await expectError(device, 0x100, ERR.INVALID_CID);
    const cid = await init(device);
    assert.equal(await init(device, cid), cid);
  });

  it('HID-INIT-04: INIT aborts its own open message; a later stray CONT gets no answer', async () => {
    open();
    const cid = await init(device);
    const { init: first, cont } = ping99(cid);
    await device.write(first);
    assert.equal(await init(device, cid), cid);
    await device.write(cont);
    await expectSilence(device, 600);
  });

  it('HID-INIT-05 legacy: INIT on B answered; A still times out with ERR(05)', async () => {
    open();
    const a = await init(device);
    const b = await init(device);
    await device.write(ping99(a).init);
    assert.equal(await init(device, b), b);
    await expectError(device, a, ERR.MSG_TIMEOUT, 1000);
  });

  it('HID-INIT-05 strict: INIT on B while A is mid-message gets ERR(06)', async () => {
    open({ channelRules: 'strict' });
    const a = await init(device);
    const b = await init(device);
    await device.write(ping99(a).init);
    await device.write(initPacket(b, CTAPHID.INIT, 8, NONCE));
    await expectError(device, b, ERR.CHANNEL_BUSY);
  });

  it('HID-INIT-07: INIT with BCNT 4 or 9 gets ERR(03)', async () => {
    open();
    for (const bcnt of [4, 9]) {
      await device.write(initPacket(BROADCAST_CID, CTAPHID.INIT, bcnt, new Uint8Array(bcnt)));
      await expectError(device, BROADCAST_CID, ERR.INVALID_LEN);
    }
  });

  it('HID-CID-01/02: CID 0 and non-INIT on broadcast get ERR(0B)', async () => {
    open();
    await device.write(initPacket(0, CTAPHID.INIT, 8, NONCE));
    await expectError(device, 0, ERR.INVALID_CID);
    await device.write(initPacket(BROADCAST_CID, CTAPHID.PING, 8, NONCE));
    await expectError(device, BROADCAST_CID, ERR.INVALID_CID);
  });

  it('HID-LEN-01 / HID-MSG-01: BCNT 7610 and MSG BCNT 0 get ERR(03) at once', async () => {
    open();
    const cid = await init(device);
    await device.write(fromHex(`${cid.toString(16).padStart(8, '0')}811dba${'00'.repeat(57)}`));
    await expectError(device, cid, ERR.INVALID_LEN);
    await device.write(initPacket(cid, CTAPHID.MSG, 0));
    await expectError(device, cid, ERR.INVALID_LEN);
  });

  it('HID-CMD-01..04: SYNC, CBOR, CANCEL, KEEPALIVE, vendor and unknown commands get ERR(01)', async () => {
    open();
    const cid = await init(device);
    const implemented = new Set<number>([
      CTAPHID.PING,
      CTAPHID.MSG,
      CTAPHID.LOCK,
      CTAPHID.INIT,
      CTAPHID.WINK,
    ]);
    for (let cmd = 0x80; cmd <= 0xff; cmd++) {
      if (implemented.has(cmd)) continue;
      await device.write(initPacket(cid, cmd, 0));
      await expectError(device, cid, ERR.INVALID_CMD);
    }
  });

  it('HID-WINK-01: echo with BCNT 0 and onWink; ERR(01) without the capability', async () => {
    let winks = 0;
    open({ onWink: () => winks++ });
    const cid = await init(device);
    await device.write(initPacket(cid, CTAPHID.WINK, 0));
    assert.equal(
      hex((await readReport(device)).subarray(0, 7)),
      `${cid.toString(16).padStart(8, '0')}880000`,
    );
    assert.equal(winks, 1);
    await device.close();
    open({ capabilities: 0 });
    const other = await init(device);
    await device.write(initPacket(other, CTAPHID.WINK, 0));
    await expectError(device, other, ERR.INVALID_CMD);
    await device.write(initPacket(other, CTAPHID.LOCK, 1, Uint8Array.of(0)));
    await expectError(device, other, ERR.INVALID_CMD);
  });

  it('HID-MSG-02: a 1000-byte APDU reaches the core and the response comes back in order', async () => {
    open();
    const cid = await init(device);
    const apdu = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    for (const report of fragment(cid, CTAPHID.MSG, apdu)) await device.write(report);
    const { cmd, payload } = await readMessage(device, cid);
    assert.equal(cmd, CTAPHID.MSG);
    assert.equal(hex(payload), `${hex(apdu)}9000`);
  });

  it('HID-SEQ-01/02: a wrong or skipped CONT SEQ gets ERR(04), then silence', async () => {
    open();
    const cid = await init(device);
    await device.write(ping99(cid).init);
    await device.write(contPacket(cid, 1, new Uint8Array(59)));
    await expectError(device, cid, ERR.INVALID_SEQ);
    const reports = fragment(cid, CTAPHID.PING, new Uint8Array(1168));
    for (const i of [0, 1, 2, 4]) await device.write(reports[i]!); // init, CONT 0, 1, 3
    await expectError(device, cid, ERR.INVALID_SEQ);
    await expectSilence(device, 600);
  });

  it('HID-SEQ-03/04: a repeated init frame gets ERR(04); a lone CONT gets nothing', async () => {
    open();
    const cid = await init(device);
    await device.write(ping99(cid).init);
    await device.write(ping99(cid).init);
    await expectError(device, cid, ERR.INVALID_SEQ);
    await device.write(contPacket(cid, 0, new Uint8Array(59)));
    await expectSilence(device, 600);
  });

  it('HID-TMO-01: a stalled message gets ERR(05) between 400 and 1000 ms', async () => {
    open();
    const cid = await init(device);
    const start = performance.now();
    await device.write(ping99(cid).init);
    await expectError(device, cid, ERR.MSG_TIMEOUT, 1000);
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 400 && elapsed <= 1000, `ERR(05) after ${elapsed.toFixed(0)} ms`);
  });

  it('HID-BUSY-01/02: B gets ERR(06) and its CONT is ignored; A completes intact', async () => {
    open();
    const a = await init(device);
    const b = await init(device);
    const pingA = ping99(a);
    const pingB = ping99(b);
    await device.write(pingA.init);
    await device.write(pingB.init);
    await expectError(device, b, ERR.CHANNEL_BUSY);
    await device.write(pingB.cont);
    await device.write(pingA.cont);
    const { payload } = await readMessage(device, a);
    assert.equal(hex(payload), '55'.repeat(99));
    await expectSilence(device, 100);
  });

  it('processing a MSG on A keeps B busy until the core answers', async () => {
    let release: (r: Uint8Array) => void = () => {};
    open({ handleApdu: () => new Promise((resolve) => (release = resolve)) });
    const a = await init(device);
    const b = await init(device);
    await device.write(initPacket(a, CTAPHID.MSG, 1, Uint8Array.of(0)));
    await device.write(initPacket(b, CTAPHID.PING, 1, Uint8Array.of(1)));
    await expectError(device, b, ERR.CHANNEL_BUSY);
    release(fromHex('9000'));
    assert.equal(hex((await readMessage(device, a)).payload), '9000');
  });

  it('HID-LOCK-01..04 and HID-INIT-06: LOCK holds other CIDs off, INIT still answered, expiry and release', async () => {
    open();
    const a = await init(device);
    const b = await init(device);
    const ping = (cid: number) => device.write(initPacket(cid, CTAPHID.PING, 1, Uint8Array.of(9)));
    const lock = (seconds: number) => device.write(initPacket(a, CTAPHID.LOCK, 1, Uint8Array.of(seconds)));
    await lock(0); // HID-LOCK-01 unlock probe
    assert.equal((await readMessage(device, a)).cmd, CTAPHID.LOCK);
    await lock(11); // HID-LOCK-04
    await expectError(device, a, ERR.INVALID_PAR);
    await device.write(initPacket(a, CTAPHID.LOCK, 0));
    await expectError(device, a, ERR.INVALID_PAR);

    await lock(3); // HID-LOCK-03: released at once by LOCK 0
    await readMessage(device, a);
    await lock(0);
    await readMessage(device, a);
    await ping(b);
    assert.equal((await readMessage(device, b)).cmd, CTAPHID.PING);

    const start = performance.now();
    await lock(1); // HID-LOCK-02 with a short lock
    await readMessage(device, a);
    await ping(a);
    assert.equal((await readMessage(device, a)).cmd, CTAPHID.PING);
    assert.ok((await init(device)) > 0); // HID-INIT-06: broadcast INIT answered while locked
    assert.equal(await init(device, 0xdeadbeef), 0xdeadbeef); // HID-INIT-06
    for (;;) {
      await ping(b);
      const report = await readReport(device);
      if (report[4] === CTAPHID.PING) break;
      assert.equal(hex(report.subarray(4, 8)), 'bf000106');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lapse = performance.now() - start;
    assert.ok(lapse >= 900 && lapse < 1500, `lock lapsed after ${lapse.toFixed(0)} ms`);
  });

  it('disconnect rejects pending and later reads and writes; reconnect starts fresh', async () => {
    open({ channelRules: 'strict' });
    const cid = await init(device);
    const pending = device.read(1000);
    device.disconnect();
    await assert.rejects(pending, (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED');
    await assert.rejects(device.write(initPacket(cid, CTAPHID.PING, 0)), /unplugged/);
    device.reconnect();
    await device.write(initPacket(cid, CTAPHID.PING, 0));
    await expectError(device, cid, ERR.INVALID_CID);
    await device.close();
    await device.close();
    await assert.rejects(device.read(10), /closed/);
  });

  it('checks report size at the boundary', async () => {
    open();
    await assert.rejects(device.write(new Uint8Array(65)), /report: must be 64 bytes/);
  });
});
