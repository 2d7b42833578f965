/**
 * Property-based tests (fast-check) of the other byte streams the rig cuts into messages:
 * ISO 7816-4 chaining and GET RESPONSE end to end (host transport against the emulated
 * card), the H4 stream of the emulated HCI controller, and the instruments' frames (PPK2
 * commands and samples, Modbus RTU CRC and lengths).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytes, cut, hexOf, RUNS } from '../../test/support/property.ts';
import { concat, fromHex } from '../bytes.ts';
import { H4, H4Reassembler } from '../emulator/ble/hci-packets.ts';
import { EmulatedCardConnection, NfcFrontEnd } from '../emulator/front-ends/nfc.ts';
import {
  COUNTER_MODULO,
  decodeSampleWord,
  encodeSampleWord,
  Ppk2SampleDecoder,
  splitCommands,
} from '../instruments/ppk2/ppk2-protocol.ts';
import { crcOk, requestLength, withCrc } from '../instruments/watlow/modbus-rtu.ts';
import { encodeExtended, parseCommandApdu } from '../transport/nfc/apdu.ts';
import { NfcTransport } from '../transport/nfc/nfc-transport.ts';

describe('property: ISO 7816-4 over the emulated card', () => {
  it('any message survives command chaining and GET RESPONSE, short or extended, at any chunk size', async () => {
    // The card's core echoes the request data: what the host sends must come back whole.
    const core = (apdu: Uint8Array) => {
      const parsed = parseCommandApdu(apdu);
      return parsed.ok ? concat(parsed.apdu.data, fromHex('9000')) : fromHex('6700');
    };
    const connection = new EmulatedCardConnection(new NfcFrontEnd({ core }));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 1500, size: 'max' }),
          fc.constantFrom('short' as const, 'extended' as const),
          fc.integer({ min: 16, max: 255 }),
          fc.constantFrom('sw2' as const, 'zero' as const),
          async (data, apdu, chunkSize, getResponseLe) => {
            const nfc = new NfcTransport(connection, { apdu, chunkSize, getResponseLe });
            const answer = await nfc.exchange(encodeExtended({ ins: 0x02, p1: 0x03, data, le: 65536 }));
            assert.equal(hexOf(answer), hexOf(concat(data, fromHex('9000'))));
          },
        ),
        { numRuns: Math.max(100, RUNS / 4) },
      );
    } finally {
      await connection.close();
    }
  });
});

describe('property: H4 stream of the emulated HCI controller', () => {
  it('commands and ACL packets cut at any points come out whole', () => {
    const command = fc
      .tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 255 }))
      .map(([op, params]) => concat(Uint8Array.of(H4.COMMAND, op & 0xff, op >> 8, params.length), params));
    const acl = fc
      .tuple(fc.integer({ min: 0, max: 0xfff }), fc.uint8Array({ maxLength: 300 }))
      .map(([h, data]) =>
        concat(Uint8Array.of(H4.ACL, h & 0xff, h >> 8, data.length & 0xff, data.length >> 8), data),
      );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(command, acl), { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (packets, cuts) => {
          const reassembler = new H4Reassembler();
          const got = cut(concat(...packets), cuts).flatMap((c) => reassembler.push(c));
          assert.equal(got.length, packets.length);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never throws on any byte stream', () => {
    fc.assert(
      fc.property(fc.array(bytes(100), { maxLength: 10 }), (chunks) => {
        const reassembler = new H4Reassembler();
        for (const c of chunks) reassembler.push(c);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: instrument frames', () => {
  it('PPK2: a sample word decodes and encodes to itself (but the unused bit 17); the decoder takes any split and counts gaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (words, cuts) => {
          const stream = new Uint8Array(words.length * 4);
          const view = new DataView(stream.buffer);
          for (const [i, w] of words.entries()) view.setUint32(i * 4, w, true);
          // Bit 17 is unused in the PPK2's sample word: everything else survives the round trip.
          for (const w of words) assert.equal(encodeSampleWord(decodeSampleWord(w)), (w & ~(1 << 17)) >>> 0);
          const decoder = new Ppk2SampleDecoder();
          const counters: number[] = [];
          for (const chunk of cut(stream, cuts)) decoder.push(chunk, (s) => counters.push(s.counter));
          assert.equal(decoder.received, words.length);
          assert.deepEqual(
            counters,
            words.map((w) => decodeSampleWord(w).counter),
          );
          assert.ok(decoder.dropped >= 0 && decoder.dropped < COUNTER_MODULO * Math.max(1, words.length));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('PPK2: splitCommands never throws and gives back every byte (frames, then the rest)', () => {
    fc.assert(
      fc.property(bytes(80), (raw) => {
        const { frames, rest } = splitCommands(raw);
        assert.equal(hexOf(concat(...frames, rest)), hexOf(raw));
      }),
      { numRuns: RUNS },
    );
  });

  it('Modbus RTU: a frame with its CRC checks; any one flipped bit fails the check; lengths never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 60 }), fc.nat(), (body, bit) => {
        const frame = withCrc(body);
        assert.ok(crcOk(frame));
        const broken = Uint8Array.from(frame);
        broken[(bit >> 3) % broken.length]! ^= 1 << (bit & 7);
        assert.ok(!crcOk(broken));
        requestLength(broken);
      }),
      { numRuns: RUNS },
    );
  });
});
