import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../rig/bytes.ts';
import { encodeExtended, encodeShort, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { CTAP2_GETINFO_PROBE, FIDO_AID, selectFido } from '../../rig/transport/nfc/iso7816.ts';
import { INS } from '../../rig/u2f/apdu.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { selectU2f, send, U2F_V2_HEX } from '../support/nfc.ts';
import { assertSw, random32, swHex } from '../support/u2f.ts';

const station = await getStation();

if (station.transports.includes('nfc')) {
  describe('NFC · SELECT', () => {
    const check = area(station, 'nfc', 'NFC SELECT');

    check(
      'NFC-SEL-01',
      'SELECT of the FIDO AID with Le answers exactly U2F_V2 9000',
      async () => {
        const nfc = await station.nfc();
        const r = await send(nfc, selectFido({ le: true }));
        assert.equal(hex(r.raw), `${U2F_V2_HEX}9000`, `SELECT (case 4) answered ${hex(r.raw)}`);
      },
      { severity: 'blocker' },
    );

    check('NFC-SEL-02', 'SELECT without Le (case 3) answers U2F_V2 9000', async () => {
      const r = await send(await station.nfc(), selectFido({ le: false }));
      assert.equal(hex(r.raw), `${U2F_V2_HEX}9000`, `SELECT (case 3) answered ${hex(r.raw)}`);
    });

    check('NFC-SEL-03', 'SELECT with Lc 09 and AID ‖ 00 (an Android client) is recorded', async (ctx) => {
      const nfc = await station.nfc();
      const r = await send(nfc, concat(fromHex('00a4040009'), FIDO_AID, Uint8Array.of(0x00)));
      const served = hex(r.raw) === `${U2F_V2_HEX}9000`;
      const refused = r.sw !== 0x9000 && r.sw >> 8 !== 0x61;
      ctx.disputed(
        served ? 'served' : refused ? 'refused' : undefined,
        `SELECT with a 9-byte AID answered ${hex(r.raw)}`,
      );
      await selectU2f(nfc);
    });

    check('NFC-SEL-04', 'SELECT of another AID answers 6A82 and leaves FIDO selected', async () => {
      const nfc = await station.nfc();
      await selectU2f(nfc);
      const r = await send(
        nfc,
        encodeShort({ ins: 0xa4, p1: 0x04, data: fromHex('a000000003000000'), le: 256 }),
      );
      assertSw(r, 0x6a82, 'SELECT of A0000000030000', { noData: true });
      const v = await send(nfc, encodeExtended({ ins: INS.VERSION, le: 65536 }));
      assert.equal(hex(v.raw), `${U2F_V2_HEX}9000`, `VERSION after the failed SELECT answered ${hex(v.raw)}`);
    });

    check('NFC-SEL-05', 'U2F VERSION before any SELECT is recorded', async (ctx) => {
      const nfc = await station.nfc();
      await station.fieldCycle();
      const r = await send(nfc, encodeExtended({ ins: INS.VERSION, le: 65536 }));
      const shown = `VERSION before SELECT answered ${swName(r.sw)}${r.data.length ? ` with ${hex(r.data)}` : ''}`;
      const served = hex(r.raw) === `${U2F_V2_HEX}9000`;
      ctx.disputed(served ? 'served' : r.sw !== 0x9000 ? 'refused' : undefined, shown);
      await selectU2f(nfc);
    });

    check('NFC-SEL-06', 'the SELECT answer comes directly, never as 61xx', async () => {
      const r = await send(await station.nfc(), selectFido());
      assert.notEqual(
        r.sw >> 8,
        0x61,
        `SELECT answered ${hex(r.raw)}: hosts need work-arounds for 61xx here`,
      );
      assert.equal(swHex(r.sw), '9000');
    });
  });

  describe('NFC · APDU forms', () => {
    const check = area(station, 'nfc', 'NFC APDU forms');
    const selected = async () => {
      const nfc = await station.nfc();
      await selectU2f(nfc);
      return nfc;
    };

    check('NFC-APDU-01', 'short 00 00 00 00 00 answers 6D00', async () => {
      assertSw(await send(await selected(), fromHex('0000000000')), SW.INS_NOT_SUPPORTED, 'INS 00 short', {
        noData: true,
      });
    });

    check('NFC-APDU-02', 'extended INS 00 (7-byte and 9-byte forms) answers 6D00', async () => {
      const nfc = await selected();
      assertSw(await send(nfc, fromHex('00000000000000')), SW.INS_NOT_SUPPORTED, 'INS 00 extended', {
        noData: true,
      });
      assertSw(await send(nfc, fromHex('000000000000000000')), SW.INS_NOT_SUPPORTED, 'INS 00 9-byte', {
        noData: true,
      });
    });

    check('NFC-APDU-03', 'bad CLA 01 (short) is refused without data', async (ctx) => {
      const r = await send(await selected(), fromHex('0102000000'));
      assert.notEqual(r.sw, SW.NO_ERROR, `CLA 01 accepted: ${hex(r.raw)}`);
      assert.equal(r.data.length, 0, `data with a refusal: ${hex(r.raw)}`);
      if (r.sw !== SW.CLA_NOT_SUPPORTED) ctx.observe(`CLA 01 refused with ${swHex(r.sw)} (6E00 expected)`);
    });

    check('NFC-APDU-04', 'REGISTER without data answers 6700', async () => {
      assertSw(
        await send(await selected(), fromHex('0001000000')),
        SW.WRONG_LENGTH,
        'REGISTER without data',
        { noData: true },
      );
    });

    check('NFC-APDU-05', 'REGISTER with an unknown INS (short and extended) answers 6D00', async () => {
      const nfc = await selected();
      const data = concat(random32(), random32());
      assertSw(
        await send(nfc, encodeShort({ ins: 0x55, p1: 0x03, data, le: 256 })),
        SW.INS_NOT_SUPPORTED,
        'INS 55 short',
        { noData: true },
      );
      assertSw(
        await send(nfc, encodeExtended({ ins: 0x55, p1: 0x03, data, le: 65536 })),
        SW.INS_NOT_SUPPORTED,
        'INS 55 extended',
        { noData: true },
      );
    });

    check('NFC-APDU-06', 'REGISTER with Lc other than 64 (short and extended) answers 6700', async () => {
      const nfc = await selected();
      for (const n of [63, 65]) {
        const data = new Uint8Array(n).fill(0x42);
        assertSw(
          await send(nfc, encodeShort({ ins: INS.REGISTER, p1: 0x03, data, le: 256 })),
          SW.WRONG_LENGTH,
          `short Lc ${n}`,
          { noData: true },
        );
        assertSw(
          await send(nfc, encodeExtended({ ins: INS.REGISTER, p1: 0x03, data, le: 65536 })),
          SW.WRONG_LENGTH,
          `extended Lc ${n}`,
          { noData: true },
        );
      }
    });

    check(
      'NFC-CTAP-01',
      'the CTAP2 probe is refused and U2F still works without a new SELECT',
      async (ctx) => {
        const nfc = await selected();
        const r = await send(nfc, CTAP2_GETINFO_PROBE);
        ctx.observe(`CTAP2 GetInfo probe answered ${hex(r.raw)}`);
        assert.notEqual(r.sw, SW.NO_ERROR, 'a U2F-only chip must not answer the CTAP2 probe with 9000');
        const v = await send(nfc, encodeExtended({ ins: INS.VERSION, le: 65536 }));
        assert.equal(hex(v.raw), `${U2F_V2_HEX}9000`, `VERSION after the probe answered ${hex(v.raw)}`);
      },
    );
  });
}
