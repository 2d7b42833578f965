import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../bytes.ts';
import { EmulatedCardConnection, NfcFrontEnd } from '../../emulator/front-ends/nfc.ts';
import { TransportError } from '../../errors.ts';
import { TrafficLog } from '../../traffic.ts';
import { encodeExtended, parseCommandApdu } from './apdu.ts';
import type { CardConnection } from './connection.ts';
import { NfcTransport, type NfcTransportOptions } from './nfc-transport.ts';

const OK = '9000';
const SELECT = '00a4040008a0000006472f000100';
const pattern = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);

/** Fake core: INS 01 answers `p1 * 100` pattern bytes, anything else echoes its data. */
function fakeCore(apdu: Uint8Array): Uint8Array {
  const parsed = parseCommandApdu(apdu);
  if (!parsed.ok) return fromHex(parsed.sw.toString(16));
  const { ins, p1, data } = parsed.apdu;
  return concat(ins === 0x01 ? pattern(p1 * 100) : data, fromHex(OK));
}

/** A scripted card: answers from `answer(command)`, recording every command. */
function scriptedCard(answer: (command: string) => string): CardConnection & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    reader: 'scripted',
    atr: fromHex('3b80800101'),
    async transmit(apdu) {
      seen.push(hex(apdu));
      return fromHex(hex(apdu) === SELECT ? `5532465f5632${OK}` : answer(hex(apdu)));
    },
    async close() {},
  };
}

const isCode = (code: string) => (error: unknown) => error instanceof TransportError && error.code === code;
const isDeviceFault = (pattern: RegExp) => (error: unknown) =>
  (error as Error).name === 'AssertionError' && pattern.test((error as Error).message);

describe('NfcTransport (ISO 7816-4 host side)', () => {
  let connection: EmulatedCardConnection;
  const emulated = (options: NfcTransportOptions = {}) => {
    connection = new EmulatedCardConnection(new NfcFrontEnd({ core: fakeCore }));
    return new NfcTransport(connection, options);
  };
  afterEach(() => connection?.close());

  it('SELECTs before the first exchange and returns the version', async () => {
    const nfc = emulated({ apdu: 'short' });
    assert.equal(nfc.kind, 'nfc');
    assert.equal(nfc.version, undefined);
    const detail = await nfc.exchangeDetailed(encodeExtended({ ins: 0x02, data: pattern(3), le: 0x10000 }));
    assert.deepEqual(
      detail.steps.map((s) => hex(s.command)),
      [SELECT, '0002000003000102' + '00'],
    );
    assert.equal(hex(detail.response), `000102${OK}`);
    assert.equal(nfc.version, 'U2F_V2');
    assert.equal(await nfc.select(), 'U2F_V2');
  });

  it('auto mode: extended when the connection carries extended APDUs, else short', () => {
    assert.equal(emulated().apduMode, 'extended');
    assert.equal(new NfcTransport(scriptedCard(() => OK)).apduMode, 'short');
    assert.throws(
      () =>
        new NfcTransport(
          scriptedCard(() => OK),
          { chunkSize: 256 },
        ),
      /options\.chunkSize/,
    );
    assert.throws(() => new NfcTransport({} as CardConnection), /connection: not a CardConnection/);
  });

  it('NFC-CHAIN-01: short mode chains data above chunkSize; each block answered 9000', async () => {
    const nfc = emulated({ apdu: 'short', chunkSize: 32 });
    const data = pattern(100);
    const detail = await nfc.exchangeDetailed(encodeExtended({ ins: 0x02, p1: 0x03, data, le: 0x10000 }));
    const blocks = detail.steps.slice(1);
    assert.deepEqual(
      blocks.map((s) => hex(s.command.subarray(0, 5))),
      ['1002030020', '1002030020', '1002030020', '0002030004'],
    );
    assert.deepEqual(
      blocks.slice(0, 3).map((s) => hex(s.response)),
      [OK, OK, OK],
    );
    assert.equal(hex(detail.response), hex(data) + OK);
  });

  it('NFC-CHAIN-02: 61xx followed with GET RESPONSE Le = SW2 (python-fido2) and Le 00 (GN)', async () => {
    for (const [getResponseLe, expected] of [
      ['sw2', '00c000002c'],
      ['zero', '00c0000000'],
    ] as const) {
      const nfc = emulated({ apdu: 'short', getResponseLe });
      const detail = await nfc.exchangeDetailed(encodeExtended({ ins: 0x01, p1: 3, le: 0x10000 }));
      assert.deepEqual(
        detail.steps.map((s) => hex(s.command)),
        [SELECT, '0001030000', expected],
      );
      assert.equal(hex(detail.steps[1]!.response).slice(-4), '612c');
      assert.equal(hex(detail.response), hex(pattern(300)) + OK);
      await connection.close();
    }
  });

  it('SW2 00 means 256: several GET RESPONSEs until the final SW', async () => {
    const nfc = emulated({ apdu: 'short' });
    const detail = await nfc.exchangeDetailed(encodeExtended({ ins: 0x01, p1: 7, le: 0x10000 }));
    assert.deepEqual(
      detail.steps.slice(2).map((s) => hex(s.command)),
      ['00c0000000', '00c00000bc'],
    );
    assert.equal(hex(detail.response), hex(pattern(700)) + OK);
  });

  it('extended mode: the U2F APDU unchanged, the whole answer in one R-APDU', async () => {
    const nfc = emulated({ apdu: 'extended' });
    const request = encodeExtended({ ins: 0x01, p1: 7, le: 0x10000 });
    const detail = await nfc.exchangeDetailed(request);
    assert.deepEqual(
      detail.steps.map((s) => hex(s.command)),
      [SELECT, hex(request)],
    );
    assert.equal(hex(detail.response), hex(pattern(700)) + OK);
  });

  it('sends legacy VERSION short, and malformed or short APDUs unchanged (NFC-APDU-*)', async () => {
    const nfc = emulated({ apdu: 'short' });
    const sent = async (raw: string) => (await nfc.exchangeDetailed(fromHex(raw))).steps.at(-1)!.command;
    assert.equal(hex(await sent('000300000000000000')), '0003000000');
    for (const raw of ['0001000000', '000100000000410000', '0102000000', '00020000']) {
      assert.equal(hex(await sent(raw)), raw);
    }
  });

  it('6Cxx: re-sends the command once with Le = SW2', async () => {
    const card = scriptedCard((c) => (c === '0003000000' ? '6c06' : `5532465f5632${OK}`));
    const nfc = new NfcTransport(card, { apdu: 'short' });
    assert.equal(hex(await nfc.exchange(fromHex('00030000000000'))), `5532465f5632${OK}`);
    assert.deepEqual(card.seen, [SELECT, '0003000000', '0003000006']);
  });

  it('6Cxx to GET RESPONSE: asks again with the length the card names', async () => {
    const answers: Record<string, string> = {
      '0003000000': `aa6102`,
      '00c0000002': '6c01',
      '00c0000001': `bb${OK}`,
    };
    const card = scriptedCard((c) => answers[c] ?? '6f00');
    const nfc = new NfcTransport(card, { apdu: 'short' });
    assert.equal(hex(await nfc.exchange(fromHex('0003000000'))), `aabb${OK}`);
  });

  it('an intermediate block answered other than 9000 is the answer; no more blocks go out', async () => {
    const card = scriptedCard(() => '6700');
    const nfc = new NfcTransport(card, { apdu: 'short', chunkSize: 32 });
    assert.equal(hex(await nfc.exchange(encodeExtended({ ins: 0x02, data: pattern(100) }))), '6700');
    assert.equal(card.seen.length, 2);
  });

  it('a SELECT answered other than U2F_V2/FIDO_2_0 9000 is a device failure showing the bytes', async () => {
    for (const answer of ['6a82', `5532465f5633${OK}`, '5532465f56326100']) {
      const card = scriptedCard(() => OK);
      card.transmit = async () => fromHex(answer);
      const nfc = new NfcTransport(card);
      await assert.rejects(nfc.exchange(fromHex('0003000000')), isDeviceFault(new RegExp(answer)));
    }
  });

  it('transmitRaw: one C-APDU, no SELECT, logged on the nfc layer', async () => {
    const log = new TrafficLog();
    const nfc = emulated({ log });
    assert.equal(hex(await nfc.transmitRaw(fromHex('0003000000'))), '6d00', 'NFC-SEL-05');
    await nfc.exchange(fromHex('00020000020102'));
    const lines = log.drain().entries.map((e) => `${e.dir} ${e.layer} ${e.hex}`);
    assert.deepEqual(lines, [
      'send nfc 0003000000',
      'recv nfc 6d00',
      `send nfc ${SELECT}`,
      `recv nfc 5532465f5632${OK}`,
      'send apdu 00020000020102',
      'send nfc 00020000020102',
      `recv nfc 0102${OK}`,
      `recv apdu 0102${OK}`,
    ]);
  });

  it('powerCycle: the next exchange SELECTs again', async () => {
    const nfc = emulated();
    await nfc.exchange(fromHex('0003000000'));
    await nfc.powerCycle();
    const detail = await nfc.exchangeDetailed(fromHex('0003000000'));
    assert.equal(hex(detail.steps[0]!.command), SELECT);
    const noCycle = new NfcTransport(scriptedCard(() => OK));
    await assert.rejects(noCycle.powerCycle(), isCode('UNAVAILABLE'));
  });

  it('removal mid-APDU rejects DISCONNECTED; after the next tap the exchange SELECTs and works', async () => {
    const nfc = emulated();
    await nfc.select();
    connection.delayMs = 30;
    const pending = nfc.exchange(fromHex('0003000000'));
    setTimeout(() => connection.remove(), 5);
    await assert.rejects(pending, isCode('DISCONNECTED'));
    connection.delayMs = 0;
    connection.tap();
    const detail = await nfc.exchangeDetailed(fromHex('00020000020102'));
    assert.equal(hex(detail.steps[0]!.command), SELECT);
    assert.equal(hex(detail.response), `0102${OK}`);
  });

  it('timeout and cancellation reject TIMEOUT / CANCELLED; queued calls still run', async () => {
    const nfc = emulated({ timeoutMs: 20 });
    await nfc.select();
    connection.delayMs = 100;
    await assert.rejects(nfc.exchange(fromHex('0003000000')), isCode('TIMEOUT'));
    const abort = new AbortController();
    const cancelled = nfc.exchange(fromHex('0003000000'), { signal: abort.signal, timeoutMs: 500 });
    abort.abort();
    await assert.rejects(cancelled, isCode('CANCELLED'));
    connection.delayMs = 0;
    const [a, b] = await Promise.all([
      nfc.exchange(fromHex('000200000101')),
      nfc.exchange(fromHex('000200000102')),
    ]);
    assert.deepEqual([hex(a), hex(b)], [`01${OK}`, `02${OK}`]);
  });

  it('close is idempotent; afterwards every call rejects DISCONNECTED', async () => {
    const nfc = emulated();
    await nfc.close();
    await nfc.close();
    await assert.rejects(nfc.exchange(fromHex('0003000000')), isCode('DISCONNECTED'));
    await assert.rejects(nfc.transmitRaw(fromHex('0003000000')), isCode('DISCONNECTED'));
  });
});
