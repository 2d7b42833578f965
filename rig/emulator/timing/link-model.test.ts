import assert from 'node:assert/strict';
import { AUTH_P1 } from '../../u2f/apdu.ts';
import { encodeAuthenticate, encodeRegister, encodeVersion } from '../../u2f/messages.ts';
import {
  bleExchangeMs,
  bleFragments,
  classifyApdu,
  classifyBleInit,
  classifyHidInit,
  hidExchangeMs,
  hidReports,
  NFC_FDT_MS,
  nfcBitMs,
  nfcExchangeMs,
  nfcFrameMs,
  nfcFwtMs,
  nfcWtxCount,
} from './link-model.ts';
import { BlePacer, HidPacer } from './pacers.ts';
import { PreciseScheduler } from './scheduler.ts';

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);
const zero = new Uint8Array(32);

describe('link timing models', () => {
  it('classifies requests by CLA INS P1', () => {
    assert.equal(classifyApdu(encodeVersion('iso')), 'version');
    assert.equal(classifyApdu(encodeRegister(zero, zero)), 'register');
    const kh = new Uint8Array(64);
    assert.equal(classifyApdu(encodeAuthenticate(AUTH_P1.ENFORCE, zero, zero, kh)), 'authenticate');
    assert.equal(classifyApdu(encodeAuthenticate(AUTH_P1.CHECK_ONLY, zero, zero, kh)), 'check-only');
    assert.equal(classifyApdu(Uint8Array.of(0x00, 0xa4, 0x04, 0x00)), 'select');
    assert.equal(classifyApdu(Uint8Array.of(0x10, 0x01, 0x00, 0x00)), 'other'); // a chaining block
    assert.equal(classifyApdu(Uint8Array.of(0x00, 0xc0, 0x00, 0x00)), 'other'); // GET RESPONSE
    const init = new Uint8Array(64);
    init.set([1, 2, 3, 4, 0x81]);
    assert.equal(classifyHidInit(init), 'ping');
    init.set([0x83, 0, 9, 0x00, 0x03], 4);
    assert.equal(classifyHidInit(init), 'version');
    assert.equal(classifyBleInit(Uint8Array.of(0x83, 0, 9, 0x00, 0x02, 0x07)), 'check-only');
  });

  it('USB HID: one polling interval per 64-byte report (57 bytes in the init, 59 per continuation)', () => {
    assert.equal(hidReports(0), 1);
    assert.equal(hidReports(57), 1);
    assert.equal(hidReports(58), 2);
    assert.equal(hidReports(57 + 59), 2);
    assert.equal(hidReports(57 + 59 + 1), 3);
    assert.equal(hidReports(7609), 129); // the CTAPHID maximum: 1 + 128 continuations
    close(hidExchangeMs({ bInterval: 1 }, 9, 8, 1), 3);
    close(hidExchangeMs({ bInterval: 4 }, 138, 77, 40), (3 + 2) * 4 + 40);
  });

  it('NFC: ISO 14443 Type A bit times, frames, FDT, FWT and chaining', () => {
    close(nfcBitMs({ bitRateKbps: 106, fwi: 0, frameSize: 256 }), (128 / 13.56e6) * 1000);
    close(nfcBitMs({ bitRateKbps: 424, fwi: 0, frameSize: 256 }), (32 / 13.56e6) * 1000);
    const n106 = { bitRateKbps: 106 as const, fwi: 4, frameSize: 256 };
    close(nfcFrameMs(n106, 1), (11 * 128 * 1000) / 13.56e6);
    close(NFC_FDT_MS, (1172 / 13.56e6) * 1000);
    close(nfcFwtMs({ ...n106, fwi: 0 }), 0.30206, 1e-5); // 302.1 µs
    close(nfcFwtMs({ ...n106, fwi: 14 }), 4949.03, 0.01);
    // 9-byte VERSION, 8-byte answer, no chaining, 1 ms of work within FWT (4.8 ms).
    const t = nfcExchangeMs(n106, 9, 8, 1);
    close(t, nfcFrameMs(n106, 12) + NFC_FDT_MS + 1 + nfcFrameMs(n106, 11));
    // A 700-byte answer takes three I-blocks (253 + 253 + 194) with two R(ACK)s between.
    const long = nfcExchangeMs(n106, 9, 700, 0) - nfcFrameMs(n106, 12) - NFC_FDT_MS;
    close(
      long,
      2 * nfcFrameMs(n106, 256) + nfcFrameMs(n106, 197) + 2 * (2 * NFC_FDT_MS + nfcFrameMs(n106, 3)),
    );
    // Work longer than FWT needs S(WTX) round trips.
    assert.equal(nfcWtxCount(n106, 4), 0);
    assert.equal(nfcWtxCount(n106, 10), 2);
  });

  it('BLE: fragments at the control point length, two events per written fragment', () => {
    assert.equal(bleFragments(17, 20), 1);
    assert.equal(bleFragments(18, 20), 2);
    assert.equal(bleFragments(138, 20), 8);
    close(bleExchangeMs({ connectionIntervalMs: 7.5, mtu: 23 }, 20, 9, 8, 1), 22.5);
    close(bleExchangeMs({ connectionIntervalMs: 7.5, mtu: 23 }, 20, 138, 77, 40), 152.5 + 5 * 7.5);
  });
});

describe('link pacers', () => {
  /** Records when each job is due instead of running it on time; runs it at once. */
  class RecordingClock extends PreciseScheduler {
    readonly due: number[] = [];
    override at(atMs: number, run: () => void): void {
      this.due.push(atMs);
      run();
    }
  }

  it('USB: reports either way go one bInterval apart; the answer waits for the processing time', () => {
    const clock = new RecordingClock();
    const pacer = new HidPacer({ processingMs: { version: 5 }, hid: { bInterval: 2 } }, clock);
    const init = new Uint8Array(64);
    init.set([1, 2, 3, 4, 0x83, 0, 9, 0x00, 0x03]);
    const cont = new Uint8Array(64);
    const delivered: Uint8Array[] = [];
    // A slot is never earlier than the clock when the call is made, so a stall of the host
    // between two calls can only push the later one back: each gap may grow by the time the
    // calls took (bracketed by the clock), never shrink.
    const t0 = performance.now();
    pacer.hostWrites(init, (r) => delivered.push(r));
    pacer.hostWrites(cont, (r) => delivered.push(r));
    const t1 = performance.now();
    assert.equal(delivered.length, 2);
    const gap = (i: number, ms: number, stall: number, eps = 1e-6) => {
      const d = clock.due[i]! - clock.due[i - 1]!;
      assert.ok(
        d >= ms - eps && d <= ms + stall + eps,
        `${d} ms, expected ${ms} (+ up to ${stall} ms stall)`,
      );
    };
    gap(1, 2, t1 - t0);
    const answer = new Uint8Array(64);
    answer.set([1, 2, 3, 4, 0x83]);
    const t2 = performance.now();
    pacer.chipSends(answer, () => undefined);
    pacer.chipSends(new Uint8Array(64), () => undefined);
    const t3 = performance.now();
    // First answer report: request arrival + 5 ms processing + one interval; the next one interval on.
    gap(2, 5 + 2, t3 - t1, 0.05);
    gap(3, 2, t3 - t2);
  });

  it('BLE: one PDU per connection event each way', () => {
    const clock = new RecordingClock();
    const pacer = new BlePacer({ processingMs: {}, ble: { connectionIntervalMs: 7.5, mtu: 23 } }, clock);
    const t0 = performance.now();
    pacer.hostWrites(Uint8Array.of(0x83, 0, 9, 0, 3), true, () => undefined);
    const t1 = performance.now();
    pacer.writeResponse(() => undefined);
    pacer.notification(Uint8Array.of(0x83, 0, 8), true, () => undefined);
    pacer.notification(Uint8Array.of(0x00, 1, 2), true, () => undefined);
    // The write reaches the chip one interval on; its response and each notification take
    // the chip's next free events, one after another.
    // One interval after the write, whenever the write was made (bracketed by the clock, so
    // a stall of the host between the readings does not count).
    const due0 = clock.due[0]!;
    assert.ok(
      due0 >= t0 + 7.5 - 1e-6 && due0 <= t1 + 7.5 + 1e-6,
      `due ${due0 - t0} ms after the write began`,
    );
    close(clock.due[2]! - clock.due[1]!, 7.5);
    close(clock.due[3]! - clock.due[2]!, 7.5);
  });
});

describe('precise scheduler', () => {
  it('runs jobs in time order, never before they are due', async () => {
    const clock = new PreciseScheduler();
    const t0 = performance.now();
    const ran: [string, number][] = [];
    await new Promise<void>((resolve) => {
      clock.at(t0 + 6, () => ran.push(['c', performance.now()]));
      clock.at(t0 + 1, () => ran.push(['a', performance.now()]));
      clock.at(t0 + 3, () => ran.push(['b', performance.now()]));
      clock.at(t0 + 3, () => ran.push(['b2', performance.now()]));
      clock.at(t0 + 8, () => resolve());
    });
    assert.deepEqual(
      ran.map(([n]) => n),
      ['a', 'b', 'b2', 'c'],
    );
    const due: Record<string, number> = { a: 1, b: 3, b2: 3, c: 6 };
    for (const [n, at] of ran) assert.ok(at - t0 >= due[n]!, `${n} ran early at ${at - t0} ms`);
    assert.equal(clock.pending, 0);
  });
});
