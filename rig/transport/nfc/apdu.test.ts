import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromHex, hex } from '../../bytes.ts';
import { isDeviceFailure } from '../../errors.ts';
import { INS } from '../../u2f/apdu.ts';
import { encodeExtended, encodeShort, parseCommandApdu, parseResponse, SW, swName } from './apdu.ts';

const V = JSON.parse(
  readFileSync(new URL('../../../fixtures/vectors/u2f-spec.json', import.meta.url), 'utf8'),
);

function parsed(bytes: string) {
  const result = parseCommandApdu(fromHex(bytes));
  assert.ok(result.ok, `expected ${bytes} to parse, got ${JSON.stringify(result)}`);
  return result.apdu;
}

function rejected(bytes: string): string {
  const result = parseCommandApdu(fromHex(bytes));
  assert.ok(!result.ok, `expected ${bytes} to be rejected`);
  assert.equal(result.sw, SW.WRONG_LENGTH);
  return result.reason;
}

describe('transport/nfc/apdu: the ISO 7816-4 codec', () => {
  describe('encodeExtended', () => {
    it('encodes case 2E VERSION as 00 03 00 00 00 00 00 (U2F-VER-01)', () => {
      assert.equal(hex(encodeExtended({ ins: INS.VERSION, le: 65536 })), '00030000000000');
    });
    it('encodes an exact Le (U2F-VER-04)', () => {
      assert.equal(hex(encodeExtended({ ins: INS.VERSION, le: 6 })), '00030000000006');
    });
    it('encodes case 4E with Lc and Le, and case 3E without Le', () => {
      const data = fromHex('616263');
      assert.equal(hex(encodeExtended({ ins: 3, data, le: 65536 })), '000300000000036162630000');
      assert.equal(hex(encodeExtended({ ins: 3, data })), '00030000000003616263');
      assert.equal(hex(encodeExtended({ ins: 3 })), '00030000');
    });
    it('names the bad parameter', () => {
      assert.throws(() => encodeExtended({ ins: 1, data: new Uint8Array(65536) }), /data/);
      assert.throws(() => encodeExtended({ ins: 1, le: 0 }), /le/);
      assert.throws(() => encodeExtended({ ins: 1, le: 65537 }), /le/);
      assert.throws(() => encodeExtended({ ins: 256 }), /ins/);
      assert.throws(() => encodeExtended({ ins: 1, p1: -1 }), /p1/);
    });
  });

  it('encodeShort produces the catalogue §3.3 NFC REGISTER', () => {
    const reg = V.registration;
    const data = fromHex(reg.challengeParam + reg.appParam);
    assert.equal(
      hex(encodeShort({ ins: INS.REGISTER, p1: 3, data, le: 256 })),
      V.apdus.nfcShortRegisterP1x03,
    );
  });

  describe('parseCommandApdu', () => {
    it('round-trips encodeExtended for cases 2E, 3E and 4E', () => {
      const data = fromHex(V.registration.requestData);
      for (const le of [undefined, 1, 256, 65535, 65536]) {
        for (const d of [undefined, data, new Uint8Array(300)]) {
          if (d === undefined && le === undefined) continue;
          const apdu = parsed(hex(encodeExtended({ cla: 0, ins: 1, p1: 3, p2: 4, data: d, le })));
          assert.equal(apdu.form, 'extended');
          assert.deepEqual([apdu.cla, apdu.ins, apdu.p1, apdu.p2, apdu.le], [0, 1, 3, 4, le]);
          assert.equal(hex(apdu.data), hex(d ?? new Uint8Array(0)));
        }
      }
    });
    it('parses the catalogue §3.3 APDUs', () => {
      const apdu = parsed(V.apdus.authenticateEnforce);
      assert.deepEqual([apdu.ins, apdu.p1, apdu.data.length, apdu.le], [2, 3, 129, 65536]);
      const short = parsed(V.apdus.nfcShortRegisterP1x03);
      assert.deepEqual([short.form, short.data.length, short.le], ['short', 64, 256]);
    });
    it('parses short cases 1, 2S, 3S and 4S', () => {
      assert.deepEqual(
        [parsed('00030000').le, parsed('0003000000').le, parsed('0003000007').le],
        [undefined, 256, 7],
      );
      assert.equal(hex(parsed('0001000003616263').data), '616263');
      assert.equal(parsed('000100000361626310').le, 16);
    });
    it('parses the legacy 9-byte VERSION form', () => {
      const apdu = parsed('000300000000000000');
      assert.deepEqual([apdu.form, apdu.ins, apdu.data.length, apdu.le], ['legacy-version', 3, 0, 65536]);
    });
    it('rejects bad lengths with 6700', () => {
      rejected('000300'); // shorter than a header
      rejected('000300000000'); // 6 bytes: extended marker without Le
      rejected('00030000000000010203'); // U2F-VER-06 trailing garbage after Le
      rejected('0001000000000361626300'); // extended Lc 3 with a 1-byte tail
      rejected('000100000000036162'); // extended Lc 3 with 2 data bytes
      rejected('00010000036162'); // short Lc 3 with 2 data bytes
      rejected('0001000003616263000000'); // short Lc 3 with 3 extra bytes
      assert.match(rejected('00030000000000000000'), /Lc 0000/);
    });
  });

  describe('parseResponse', () => {
    it('splits data and SW and keeps raw', () => {
      const r = parseResponse(fromHex('5532465f56329000'));
      assert.deepEqual([hex(r.data), r.sw, hex(r.raw)], ['5532465f5632', 0x9000, '5532465f56329000']);
      assert.equal(parseResponse(fromHex('6985')).data.length, 0);
    });
    it('treats fewer than 2 bytes as a device failure', () => {
      for (const bytes of ['', '90']) {
        assert.throws(
          () => parseResponse(fromHex(bytes)),
          (e) => isDeviceFailure(e),
        );
      }
    });
  });

  it('swName names known status words', () => {
    assert.equal(swName(0x6985), 'CONDITIONS_NOT_SATISFIED (6985)');
    assert.equal(swName(0x6110), 'MORE_DATA (6110)');
    assert.equal(swName(0x6984), 'UNKNOWN (6984)');
  });
});
