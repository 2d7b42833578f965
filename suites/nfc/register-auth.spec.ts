import assert from 'node:assert/strict';
import { concat, hex } from '../../rig/bytes.ts';
import { encodeExtended, encodeShort, parseResponse, SW } from '../../rig/transport/nfc/apdu.ts';
import { chainShort, getResponse, selectFido } from '../../rig/transport/nfc/iso7816.ts';
import type { NfcTransport } from '../../rig/transport/nfc/nfc-transport.ts';
import { AUTH_P1, INS } from '../../rig/u2f/apdu.ts';
import {
  encodeAuthenticate,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../../rig/u2f/messages.ts';
import { registrationSignatureValid } from '../../rig/u2f/signatures.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { collect, selectU2f, send } from '../support/nfc.ts';
import {
  assertAuthSignature,
  assertSw,
  type Credential,
  random32,
  register,
  xorByte,
} from '../support/u2f.ts';

const station = await getStation();

/** One REGISTER with fresh parameters, in the given encoding (the NFC-REG/CHAIN stimuli). */
async function sendRegister(nfc: NfcTransport, form: 'short' | 'extended', le: number) {
  const app = random32();
  const chal = random32();
  const encode = form === 'short' ? encodeShort : encodeExtended;
  const answer = await send(nfc, encode({ ins: INS.REGISTER, p1: 0x03, data: concat(chal, app), le }));
  return { app, chal, answer };
}

/** Checks an assembled REGISTER answer as U2F-REG-04/05 do. */
function checkRegistration(data: Uint8Array, app: Uint8Array, chal: Uint8Array): void {
  const reg = parseRegisterResponse(data);
  assert.ok(registrationSignatureValid(app, chal, reg), 'registration signature does not verify');
}

if (station.transports.includes('nfc')) {
  const u2f = await station.u2fOver('nfc');
  const shortAuth = (p1: number, chal: Uint8Array, app: Uint8Array, kh: Uint8Array) =>
    encodeShort({
      ins: INS.AUTHENTICATE,
      p1,
      data: concat(chal, app, Uint8Array.of(kh.length), kh),
      le: 256,
    });

  describe('NFC · REGISTER and AUTHENTICATE', () => {
    const check = area(station, 'nfc', 'NFC REGISTER and AUTHENTICATE');
    // Made by the first case that needs it (a failing hook would lose the block's results).
    let cred: Credential;
    const ready = async () => {
      cred ??= await register(u2f);
    };

    check(
      'NFC-REG-01',
      'short REGISTER (Le 00): 61xx and GET RESPONSE 00 assemble a valid registration',
      async (ctx) => {
        const nfc = await station.nfc();
        await selectU2f(nfc);
        const { app, chal, answer: first } = await sendRegister(nfc, 'short', 256);
        assert.ok(
          first.data.length <= 256,
          `first answer carries ${first.data.length} bytes, more than Le 256`,
        );
        const all = await collect(nfc, first, 256);
        ctx.observe(`chunks: ${all.chunks.join(' + ')} bytes, ${all.getResponses} GET RESPONSE`);
        assert.equal(all.sw, SW.NO_ERROR, `final SW ${all.sw.toString(16)}`);
        checkRegistration(all.data, app, chal);
      },
      { severity: 'critical' },
    );

    check('NFC-REG-02', 'short REGISTER with Le 64 (100): every chunk at most 100 bytes', async () => {
      const nfc = await station.nfc();
      await selectU2f(nfc);
      const { app, chal, answer: first } = await sendRegister(nfc, 'short', 100);
      const all = await collect(nfc, first, 100);
      for (const n of all.chunks)
        assert.ok(n <= 100, `a chunk of ${n} bytes with Le 100 (chunks ${all.chunks.join(', ')})`);
      assert.equal(all.sw, SW.NO_ERROR);
      checkRegistration(all.data, app, chal);
    });

    check('NFC-REG-03', 'extended REGISTER: the whole answer in one R-APDU, never 61xx', async () => {
      const nfc = await station.nfc();
      await selectU2f(nfc);
      const { app, chal, answer: r } = await sendRegister(nfc, 'extended', 65536);
      assert.notEqual(
        r.sw >> 8,
        0x61,
        `extended REGISTER answered ${hex(r.raw.subarray(-2))}: 61xx is not allowed here`,
      );
      assert.equal(r.sw, SW.NO_ERROR);
      checkRegistration(r.data, app, chal);
    });

    check(
      'NFC-AUTH-01',
      'short AUTHENTICATE: 9000, flags 01, signature verifies',
      async () => {
        await ready();
        const nfc = await station.nfc();
        await selectU2f(nfc);
        const chal = random32();
        const all = await collect(
          nfc,
          await send(nfc, shortAuth(AUTH_P1.ENFORCE, chal, cred.appParam, cred.keyHandle)),
          'sw2',
        );
        assert.equal(all.sw, SW.NO_ERROR, `short AUTHENTICATE answered ${all.sw.toString(16)}`);
        const a = parseAuthenticateResponse(all.data);
        assert.equal(a.flags, 0x01, `flags ${a.flags}`);
        assertAuthSignature(cred, chal, a);
      },
      { severity: 'critical' },
    );

    check('NFC-AUTH-02', 'extended AUTHENTICATE with Le 004D: 9000 and the counter rises', async () => {
      await ready();
      const nfc = await station.nfc();
      await selectU2f(nfc);
      const counters: number[] = [];
      for (let i = 0; i < 2; i++) {
        const chal = random32();
        const data = concat(chal, cred.appParam, Uint8Array.of(cred.keyHandle.length), cred.keyHandle);
        const r = await send(
          nfc,
          encodeExtended({ ins: INS.AUTHENTICATE, p1: AUTH_P1.ENFORCE, data, le: 0x4d }),
        );
        assert.equal(r.sw, SW.NO_ERROR, `extended AUTHENTICATE answered ${hex(r.raw.subarray(-2))}`);
        const a = parseAuthenticateResponse(r.data);
        assertAuthSignature(cred, chal, a);
        counters.push(a.counter);
      }
      assert.ok(counters[1]! > counters[0]!, `counter ${counters.join(' -> ')}`);
    });

    check(
      'NFC-AUTH-03',
      'tampered key handle (short) and appParam (extended) answer 6A80',
      async () => {
        await ready();
        const nfc = await station.nfc();
        await selectU2f(nfc);
        const kh = xorByte(cred.keyHandle, 0, 0x55);
        assertSw(
          await send(nfc, shortAuth(AUTH_P1.ENFORCE, random32(), cred.appParam, kh)),
          SW.WRONG_DATA,
          'KH[0]^55 short',
          { noData: true },
        );
        const app = xorByte(cred.appParam, 0, 0xaa);
        const r = await send(nfc, encodeAuthenticate(AUTH_P1.ENFORCE, random32(), app, cred.keyHandle));
        assertSw(r, SW.WRONG_DATA, 'app[0]^AA extended', { noData: true });
      },
      { severity: 'critical' },
    );

    check('NFC-AUTH-04', 'check-only over NFC answers 6985', async () => {
      await ready();
      const r = await u2f.send(
        encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), cred.appParam, cred.keyHandle),
      );
      assertSw(r, SW.CONDITIONS_NOT_SATISFIED, 'check-only', { noData: true });
    });
  });

  describe('NFC · chaining and GET RESPONSE', () => {
    const check = area(station, 'nfc', 'NFC chaining and GET RESPONSE');

    check('NFC-CHAIN-01', 'command chaining in 32-byte blocks: 9000 per block, then the answer', async () => {
      const nfc = await station.nfc();
      await selectU2f(nfc);
      const cred = await register(u2f);
      const chal = random32();
      const data = concat(chal, cred.appParam, Uint8Array.of(cred.keyHandle.length), cred.keyHandle);
      const blocks = chainShort(0x00, INS.AUTHENTICATE, AUTH_P1.ENFORCE, 0x00, data, 256, 32);
      assert.ok(blocks.length >= 4, `expected several blocks, got ${blocks.length}`);
      let last = parseResponse(new Uint8Array(2));
      for (const [i, block] of blocks.entries()) {
        last = await send(nfc, block);
        if (i < blocks.length - 1)
          assert.equal(hex(last.raw), '9000', `intermediate block ${i} answered ${hex(last.raw)}`);
      }
      const all = await collect(nfc, last, 'sw2');
      assert.equal(all.sw, SW.NO_ERROR, `final block answered ${all.sw.toString(16)}`);
      assertAuthSignature(cred, chal, parseAuthenticateResponse(all.data));
    });

    check(
      'NFC-CHAIN-02',
      'GET RESPONSE with Le = SW2 and with Le = 00 both give the remaining bytes',
      async (ctx) => {
        const nfc = await station.nfc();
        const sizes: string[] = [];
        for (const le of ['sw2', 256] as const) {
          await selectU2f(nfc);
          const { app, chal, answer: first } = await sendRegister(nfc, 'short', 100);
          assert.equal(
            first.sw >> 8,
            0x61,
            `a 100-byte Le must leave more data (got ${hex(first.raw.subarray(-2))})`,
          );
          const all = await collect(nfc, first, le);
          sizes.push(`${le}: ${all.chunks.join('+')}`);
          assert.equal(all.sw, SW.NO_ERROR);
          checkRegistration(all.data, app, chal);
        }
        ctx.observe(sizes.join('; '));
      },
    );

    check(
      'NFC-CHAIN-03',
      'a new command in the middle of a 61xx sequence is answered normally',
      async (ctx) => {
        const nfc = await station.nfc();
        await selectU2f(nfc);
        const first = await send(
          nfc,
          encodeShort({ ins: INS.REGISTER, p1: 0x03, data: concat(random32(), random32()), le: 64 }),
        );
        assert.equal(first.sw >> 8, 0x61);
        const v = await send(nfc, encodeExtended({ ins: INS.VERSION, le: 65536 }));
        assert.equal(hex(v.raw), '5532465f56329000', `VERSION in the middle of 61xx answered ${hex(v.raw)}`);
        const stale = await send(nfc, getResponse(256));
        const gaveData = stale.data.length > 0 && (stale.sw === 0x9000 || stale.sw >> 8 === 0x61);
        const refused = stale.data.length === 0 && stale.sw !== 0x9000 && stale.sw >> 8 !== 0x61;
        ctx.disputed(
          gaveData ? 'kept' : refused ? 'abandoned' : undefined,
          `GET RESPONSE after the interruption answered ${hex(stale.raw.subarray(-2))} with ${stale.data.length} bytes`,
        );
      },
    );

    check(
      'NFC-TIME-01',
      'every C-APDU -> R-APDU within the profile limit, key generation included',
      async (ctx) => {
        const limit = station.profile.transports.nfc?.maxApduMs ?? 800;
        const nfc = await station.nfc();
        const timed = async (what: string, apdu: Uint8Array) => {
          const t = performance.now();
          const r = await send(nfc, apdu);
          const ms = performance.now() - t;
          times.push(`${what} ${ms.toFixed(1)} ms`);
          assert.ok(ms < limit, `${what} took ${ms.toFixed(0)} ms, limit ${limit} ms`);
          return r;
        };
        const times: string[] = [];
        await timed('SELECT', selectFido());
        const app = random32();
        const chal = random32();
        const reg = await timed(
          'REGISTER',
          encodeExtended({ ins: INS.REGISTER, p1: 0x03, data: concat(chal, app), le: 65536 }),
        );
        const r = parseRegisterResponse(reg.data);
        await timed('AUTHENTICATE', encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, r.keyHandle));
        ctx.observe(times.join(', '));
      },
    );
  });
}
