import assert from 'node:assert/strict';
import { concat, hex } from '../../rig/bytes.ts';
import { encodeExtended, encodeShort, SW } from '../../rig/transport/nfc/apdu.ts';
import { INS } from '../../rig/u2f/apdu.ts';
import { encodeVersion } from '../../rig/u2f/messages.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { assertSw, random32, swHex } from '../support/u2f.ts';

const station = await getStation();
const U2F_V2 = '5532465f5632';

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);

  describe(`${TRANSPORT_NAMES[kind]} · U2F VERSION`, () => {
    const check = area(station, kind, 'U2F VERSION');

    check(
      'U2F-VER-01',
      'VERSION in ISO extended form answers U2F_V2',
      async () => {
        const r = await u2f.send(encodeVersion('iso'));
        assertSw(r, SW.NO_ERROR, 'VERSION 00 03 00 00 00 00 00');
        assert.equal(hex(r.data), U2F_V2, `VERSION data: expected "U2F_V2", got ${hex(r.data)}`);
      },
      { severity: 'blocker' },
    );

    check('U2F-VER-02', 'legacy VERSION (Lc 000000, Le 0000) answers U2F_V2', async () => {
      const r = await u2f.send(encodeVersion('legacy'));
      assertSw(r, SW.NO_ERROR, 'legacy VERSION 00 03 00 00 00 00 00 00 00');
      assert.equal(hex(r.data), U2F_V2, `legacy VERSION data: expected "U2F_V2", got ${hex(r.data)}`);
    });

    check('U2F-VER-03', 'VERSION with 3 data bytes is a length error', async () => {
      const r = await u2f.send(
        encodeExtended({ ins: INS.VERSION, data: Uint8Array.of(0x61, 0x62, 0x63), le: 65536 }),
      );
      assertSw(r, SW.WRONG_LENGTH, 'VERSION with data "abc"', { noData: true });
    });

    if (appliesTo('H,B', kind)) {
      check('U2F-VER-04', 'VERSION with the exact Le (6) answers U2F_V2', async () => {
        const r = await u2f.send(encodeExtended({ ins: INS.VERSION, le: 6 }));
        assertSw(r, SW.NO_ERROR, 'VERSION Le 0006');
        assert.equal(hex(r.data), U2F_V2);
      });

      check('U2F-VER-05', 'VERSION with Le smaller than the answer is a length error', async () => {
        const r = await u2f.send(encodeExtended({ ins: INS.VERSION, le: 2 }));
        assertSw(r, SW.WRONG_LENGTH, 'VERSION Le 0002', { noData: true });
      });
    }

    if (appliesTo('B', kind)) {
      check('U2F-VER-06', 'VERSION with trailing bytes after Le is a length error', async () => {
        const r = await u2f.send(Uint8Array.of(0x00, 0x03, 0, 0, 0, 0, 0, 1, 2, 3));
        assertSw(r, SW.WRONG_LENGTH, 'VERSION with trailing garbage', { noData: true });
      });
    }

    if (appliesTo('H', kind)) {
      check('U2F-VER-07', 'short-form VERSION inside CTAPHID MSG (interoperability probe)', async (ctx) => {
        const r = await u2f.send(encodeShort({ ins: INS.VERSION, le: 256 }));
        const observed =
          r.sw === SW.NO_ERROR && hex(r.data) === U2F_V2
            ? 'served'
            : r.sw === SW.WRONG_LENGTH && r.data.length === 0
              ? 'length-error'
              : undefined;
        ctx.disputed(observed, `short VERSION 0003000000 answered ${hex(r.raw)}`);
      });

      check('CT-01', 'official U2F 1.2 tool "General-1 P-1 GetVersion"', async () => {
        assert.equal(await u2f.version('iso'), 'U2F_V2');
      });
    }
  });

  describe(`${TRANSPORT_NAMES[kind]} · U2F INS and CLA`, () => {
    const check = area(station, kind, 'U2F INS and CLA');

    check('U2F-INS-01', 'INS 00 is not supported', async () => {
      const r = await u2f.send(Uint8Array.of(0, 0, 0, 0, 0, 0, 0));
      assertSw(r, SW.INS_NOT_SUPPORTED, 'INS 00', { noData: true });
    });

    check(
      'U2F-INS-02',
      'every undefined INS 04..FF answers 6D00 and the device stays responsive',
      async (ctx) => {
        const wrong: string[] = [];
        // On NFC the card layer owns the ISO interindustry INS SELECT (A4) and GET RESPONSE (C0).
        const isoOwned = kind === 'nfc' ? [0xa4, 0xc0] : [];
        if (isoOwned.length)
          ctx.observe('INS A4 and C0 are left to the NFC case suite (ISO 7816-4 owns them there)');
        for (let ins = 0x04; ins <= 0xff; ins++) {
          if (isoOwned.includes(ins)) continue;
          const r = await u2f.send(encodeExtended({ ins, le: 65536 }));
          if (r.sw !== SW.INS_NOT_SUPPORTED || r.data.length)
            wrong.push(`INS ${ins.toString(16)} -> ${hex(r.raw)}`);
        }
        assert.deepEqual(wrong, [], `undefined INS not answered 6D00: ${wrong.slice(0, 10).join('; ')}`);
        assert.equal(await u2f.version(), 'U2F_V2', 'device unresponsive after the INS sweep');
      },
    );

    check('U2F-CLA-01', 'CLA 01 answers 6E00 before the length is checked', async () => {
      const r = await u2f.send(Uint8Array.of(0x01, 0x03, 0, 0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0));
      assertSw(r, SW.CLA_NOT_SUPPORTED, 'CLA 01 VERSION with data', { noData: true });
    });

    check('U2F-CLA-02', 'VERSION with every CLA 01..FF is refused with a bare status word', async (ctx) => {
      const wrong: string[] = [];
      const other = new Set<string>();
      // On NFC a CLA with bit 0x10 set is an ISO command-chaining block, answered 9000 by design.
      if (kind === 'nfc') ctx.observe('CLA values with the chaining bit 0x10 are left to NFC-CHAIN-*');
      for (let cla = 0x01; cla <= 0xff; cla++) {
        if (kind === 'nfc' && cla & 0x10) continue;
        const r = await u2f.send(encodeExtended({ cla, ins: INS.VERSION, le: 65536 }));
        if (r.sw === SW.NO_ERROR || r.raw.length !== 2)
          wrong.push(`CLA ${cla.toString(16)} -> ${hex(r.raw)}`);
        else if (r.sw !== SW.CLA_NOT_SUPPORTED) other.add(swHex(r.sw));
      }
      if (other.size) ctx.observe(`non-6E00 refusals: ${[...other].join(', ')}`);
      assert.deepEqual(wrong, [], `CLA not refused: ${wrong.slice(0, 10).join('; ')}`);
    });

    check('U2F-CLA-03', 'REGISTER with CLA 80 answers 6E00, not 6D00', async () => {
      const r = await u2f.send(
        encodeExtended({ cla: 0x80, ins: INS.REGISTER, data: concat(random32(), random32()), le: 65536 }),
      );
      assertSw(r, SW.CLA_NOT_SUPPORTED, 'REGISTER CLA 80', { noData: true });
    });
  });
}
