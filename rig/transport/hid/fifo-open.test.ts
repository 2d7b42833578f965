import assert from 'node:assert/strict';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FifoShim, type ShimOrder, startFifoShim } from '../../../test/support/fifo-device-shim.ts';
import { hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import { type FifoHidConnection, openFifoHid } from './fifo-hid.ts';
import { makeFifos } from './fifo-protocol.ts';
import { BROADCAST_CID } from './framing.ts';
import { HidTransport } from './hid-transport.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** This process's open file descriptors (Linux: /proc/self/fd). */
const openFds = () => readdirSync('/proc/self/fd').length;

/** Resolves with `promise`, or fails the test after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

describe('FIFO HID open: whatever order the device opens its ends in (dev.cc, reverse, read-write)', function () {
  this.timeout(20_000);
  let dir: string;
  let path: string;
  let shim: FifoShim | undefined;
  let connection: FifoHidConnection | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chiprig-fifo-open-'));
    path = join(dir, 'dev-');
    makeFifos(path);
  });
  afterEach(async () => {
    await connection?.close();
    await shim?.stop();
    connection = undefined;
    shim = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const orders: [ShimOrder, string][] = [
    ['devcc', 'PATHout for writing, then PATHin for reading (what dev.cc needs)'],
    ['reverse', 'PATHin for reading, then PATHout for writing'],
    ['rdwr', 'both read-write'],
  ];
  for (const [order, how] of orders) {
    it(`reaches a device that opens ${how}, started before or after the host`, async () => {
      // Device first: it blocks in its first open until the host comes (except read-write).
      shim = startFifoShim(dir, path, { order });
      await sleep(150);
      connection = await within(openFifoHid(path), 5000, 'open');
      const transport = await within(HidTransport.open(connection), 5000, 'INIT');
      assert.ok(transport.cid !== 0 && transport.cid !== BROADCAST_CID, 'a channel was allocated');
      const data = Uint8Array.of(1, 2, 3, 4, 5);
      assert.equal(hex(await within(transport.ping(data), 5000, 'PING')), hex(data));
      assert.match(shim.output(), /opened/);
      await transport.close();
      connection = undefined;
      await shim.stop();
      // Host first: open() waits (bounded) while the device starts and opens its ends.
      const opening = openFifoHid(path);
      await sleep(200);
      shim = startFifoShim(dir, path, { order });
      connection = await within(opening, 5000, 'open while the device starts');
      const again = await within(HidTransport.open(connection), 5000, 'INIT');
      assert.equal(hex(await within(again.ping(data), 5000, 'PING')), hex(data));
    });
  }

  it('nothing serves: NOT_FOUND after connectTimeoutMs, saying what to start, every fd closed', async () => {
    const before = openFds();
    const started = performance.now();
    await assert.rejects(openFifoHid(path, { connectTimeoutMs: 300 }), (e: unknown) => {
      assert.ok(e instanceof TransportError && e.code === 'NOT_FOUND', String(e));
      assert.match(
        e.message,
        /nothing serves the FIFO device at .*dev- \(nothing opened .*dev-in for reading within 300 ms\)/,
      );
      assert.match(e.message, /start `chiprig emulate --transport hid --fifo .*dev-` or the device's shim/);
      return true;
    });
    const waited = performance.now() - started;
    assert.ok(waited >= 290 && waited < 2000, `gave up after ${waited.toFixed(0)} ms`);
    assert.equal(openFds(), before, 'no file descriptor left open');
  });

  it('a reader on PATHin but no writer on PATHout: NOT_FOUND naming PATHout, every fd closed', async () => {
    const reader = openSync(`${path}in`, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const before = openFds();
      await assert.rejects(
        openFifoHid(path, { connectTimeoutMs: 300 }),
        (e: unknown) =>
          e instanceof TransportError &&
          e.code === 'NOT_FOUND' &&
          /nothing opened .*dev-out for writing within 300 ms/.test(e.message),
      );
      assert.equal(openFds(), before, 'no file descriptor left open');
    } finally {
      closeSync(reader);
    }
  });
});
