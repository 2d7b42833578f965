import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../bytes.ts';
import { EmulatedHidDevice, type EmulatedHidDeviceOptions } from '../../emulator/front-ends/hid.ts';
import { CtapHidError, isDeviceFailure, TransportError } from '../../errors.ts';
import { TrafficLog } from '../../traffic.ts';
import type { HidConnection, HidDeviceInfo } from './connection.ts';
import { BROADCAST_CID, CAPABILITY, CTAPHID, ERR, fragment, initPacket, parsePacket } from './framing.ts';
import { HidTransport } from './hid-transport.ts';

const echoApdu = async (apdu: Uint8Array) => concat(apdu, fromHex('9000'));
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 1) & 0xff);
const isCode = (code: string) => (e: unknown) => e instanceof TransportError && e.code === code;

/** Wraps a connection so a test can inject reports the device never sent. */
class Tap implements HidConnection {
  readonly info: HidDeviceInfo;
  readonly injected: Uint8Array[] = [];
  constructor(readonly inner: HidConnection) {
    this.info = inner.info;
  }
  write(report: Uint8Array) {
    return this.inner.write(report);
  }
  read(timeoutMs: number) {
    const next = this.injected.shift();
    return next ? Promise.resolve(next) : this.inner.read(timeoutMs);
  }
  close() {
    return this.inner.close();
  }
}

describe('HidTransport over EmulatedHidDevice', () => {
  let device: EmulatedHidDevice;
  let transport: HidTransport;
  const open = async (
    options: Partial<EmulatedHidDeviceOptions> = {},
    timeoutMs?: number,
    log?: TrafficLog,
  ) => {
    device = new EmulatedHidDevice({
      handleApdu: echoApdu,
      version: { major: 1, minor: 2, build: 3 },
      ...options,
    });
    transport = await HidTransport.open(device, { timeoutMs, log });
    return transport;
  };
  afterEach(() => transport?.close());

  it('INIT allocates a channel and records version and capabilities', async () => {
    await open();
    assert.equal(transport.kind, 'hid');
    assert.ok(transport.cid !== 0 && transport.cid !== BROADCAST_CID);
    assert.deepEqual(transport.deviceVersion, { protocol: 2, major: 1, minor: 2, build: 3 });
    assert.equal(transport.capabilities, CAPABILITY.WINK | CAPABILITY.LOCK);
    assert.equal(transport.initResponse.length, 17);
  });

  it('MSG round trips, including a 1000-byte message, and logs hid and apdu traffic', async () => {
    const log = new TrafficLog();
    await open({}, undefined, log);
    assert.equal(hex(await transport.exchange(fromHex('00030000'))), '000300009000');
    const big = bytes(1000);
    assert.equal(hex(await transport.exchange(big)), `${hex(big)}9000`);
    const { entries } = log.drain();
    assert.ok(entries.some((e) => e.layer === 'apdu' && e.dir === 'send' && e.hex === hex(big)));
    assert.equal(entries.filter((e) => e.layer === 'hid' && e.dir === 'send').length, 1 + 1 + 17);
  });

  for (const size of [0, 57, 58, 7609]) {
    it(`PING echoes ${size} bytes (HID-PING-05)`, async () => {
      await open();
      const data = bytes(size);
      assert.equal(hex(await transport.ping(data)), hex(data));
    });
  }

  it('WINK and LOCK succeed; an ERROR frame rejects CtapHidError', async () => {
    let winks = 0;
    await open({ onWink: () => winks++ });
    await transport.wink();
    assert.equal(winks, 1);
    await transport.lock(0);
    await assert.rejects(
      transport.lock(11),
      (e) => e instanceof CtapHidError && e.errorCode === ERR.INVALID_PAR,
    );
    await assert.rejects(transport.call(CTAPHID.SYNC, new Uint8Array(0)), /ERR_INVALID_CMD/);
    assert.equal(hex(await transport.ping(bytes(3))), hex(bytes(3)), 'the channel still works');
  });

  it('a well-formed MSG answered with a CTAPHID ERROR is a device failure showing both; call() keeps CtapHidError', async () => {
    await open({ faults: { errorForUnknownIns: true } });
    await assert.rejects(transport.exchange(fromHex('00000000000000')), (e: unknown) => {
      assert.ok(isDeviceFailure(e), `a device failure, not ${String(e)}`);
      assert.match(
        (e as Error).message,
        /answered the U2F message 00000000000000 with CTAPHID ERR_INVALID_CMD \([0-9a-f]{8} bf 0001 01\) instead of a status word/,
      );
      return true;
    });
    // The raw command path still reports the error code as it came (scenario steps use it).
    await assert.rejects(
      transport.call(CTAPHID.MSG, fromHex('00000000000000')),
      (e) => e instanceof CtapHidError && e.errorCode === ERR.INVALID_CMD,
    );
    // An empty MSG is not well-formed: its ERR_INVALID_LEN stays a CtapHidError.
    await assert.rejects(
      transport.exchange(new Uint8Array(0)),
      (e) => e instanceof CtapHidError && e.errorCode === ERR.INVALID_LEN,
    );
    assert.equal(
      hex(await transport.exchange(fromHex('00030000'))),
      '000300009000',
      'known INS still served',
    );
  });

  it('retries on ERR_CHANNEL_BUSY until another CID releases its LOCK', async () => {
    await open();
    const other = await HidTransport.open(device);
    await other.lock(1);
    const start = performance.now();
    assert.equal(hex(await transport.exchange(fromHex('01'))), '019000');
    assert.ok(performance.now() - start >= 900, 'waited for the lock to lapse');
  });

  it('a reply that never comes from a device that still answers INIT is a device failure (dropped reply); the next call works', async () => {
    let hang = true;
    await open({ handleApdu: (apdu) => (hang ? new Promise(() => {}) : echoApdu(apdu)) });
    const start = performance.now();
    await assert.rejects(
      transport.exchange(fromHex('02'), { timeoutMs: 100 }),
      (e) =>
        isDeviceFailure(e) &&
        /no response within 100 ms, though the device answers INIT.*dropped its reply/.test(
          (e as Error).message,
        ),
    );
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 95 && elapsed < 600, `judged after ${elapsed.toFixed(0)} ms`);
    hang = false;
    assert.equal(hex(await transport.exchange(fromHex('03'))), '039000');
  });

  it('a device that answers nothing at all, not even INIT, is a link fault (TIMEOUT), after one INIT probe', async () => {
    await open({ handleApdu: echoApdu });
    device.hang();
    const start = performance.now();
    await assert.rejects(
      transport.exchange(fromHex('02'), { timeoutMs: 100 }),
      (e) =>
        isCode('TIMEOUT')(e) &&
        /no answer to INIT within 1000 ms either: the device or its link is gone/.test((e as Error).message),
    );
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 1095 && elapsed < 2000, `judged after ${elapsed.toFixed(0)} ms`);
  });

  it('an aborted signal rejects CANCELLED and the next call still works', async () => {
    let hang = true;
    await open({ handleApdu: (apdu) => (hang ? new Promise(() => {}) : echoApdu(apdu)) });
    const controller = new AbortController();
    const call = transport.exchange(fromHex('04'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(call, isCode('CANCELLED'));
    hang = false;
    assert.equal(hex(await transport.exchange(fromHex('05'))), '059000');
  });

  it('ignores INIT answers with a wrong nonce and reports on other CIDs', async () => {
    device = new EmulatedHidDevice({ handleApdu: echoApdu });
    const tap = new Tap(device);
    const stale = new Uint8Array(17).fill(0xaa);
    tap.injected.push(
      initPacket(BROADCAST_CID, CTAPHID.INIT, 17, stale),
      initPacket(0x0badcafe, CTAPHID.PING, 0),
    );
    transport = await HidTransport.open(tap);
    assert.notEqual(transport.cid, 0xaaaaaaaa);
    tap.injected.push(fragment(0x0badcafe, CTAPHID.MSG, fromHex('6985'))[0]!);
    assert.equal(hex(await transport.exchange(fromHex('06'))), '069000');
  });

  it('KEEPALIVE extends the wait; a foreign response command is a device failure', async () => {
    await open();
    const tap = new Tap(device);
    const t = await HidTransport.open(tap, { timeoutMs: 200 });
    tap.injected.push(initPacket(t.cid, CTAPHID.KEEPALIVE, 1, Uint8Array.of(1)));
    assert.equal(hex(await t.exchange(fromHex('07'))), '079000');
    tap.injected.push(initPacket(t.cid, CTAPHID.WINK, 0));
    await assert.rejects(t.exchange(fromHex('08')), isDeviceFailure);
    assert.equal(hex(await t.exchange(fromHex('09'))), '099000', 'resynchronised after the fault');
  });

  it('a response CONT with the wrong SEQ is a device failure', async () => {
    await open();
    const tap = new Tap(device);
    const t = await HidTransport.open(tap);
    const reports = fragment(t.cid, CTAPHID.PING, bytes(200));
    tap.injected.push(reports[0]!, reports[2]!);
    await assert.rejects(t.ping(bytes(1)), (e) => isDeviceFailure(e) && /out of sequence/.test(String(e)));
  });

  it('close is idempotent and later calls reject DISCONNECTED; unplug rejects DISCONNECTED', async () => {
    await open();
    device.disconnect();
    await assert.rejects(transport.exchange(fromHex('0a')), isCode('DISCONNECTED'));
    await transport.close();
    await transport.close();
    await assert.rejects(transport.ping(bytes(1)), isCode('DISCONNECTED'));
  });

  it('checks its inputs, naming the parameter', async () => {
    await open();
    await assert.rejects(transport.call(0x06, new Uint8Array(0)), /cmd:/);
    await assert.rejects(transport.ping(bytes(7610)), /payload:/);
    await assert.rejects(transport.lock(256), /seconds:/);
    assert.equal(parsePacket(initPacket(1, CTAPHID.PING, 0)).kind, 'init');
  });

  it('measures the in-process MSG round trip (instant core)', async () => {
    await open({ handleApdu: async () => fromHex('9000') });
    const apdu = bytes(138); // an AUTHENTICATE-sized request: 3 request reports
    const n = 10000;
    const start = performance.now();
    for (let i = 0; i < n; i++) await transport.exchange(apdu);
    const us = ((performance.now() - start) * 1000) / n;
    console.log(`      MSG round trip (138-byte APDU, 2-byte answer): ${us.toFixed(2)} µs`);
    assert.ok(us < 200);
  });
});
