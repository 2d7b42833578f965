import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../rig/bytes.ts';
import { TransportError } from '../../rig/errors.ts';
import { narrowedTo } from '../../rig/station/device-profile.ts';
import { BLE_CMD, fragment, KEEPALIVE_CODE } from '../../rig/transport/ble/fragments.ts';
import { encodeExtended, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1, INS } from '../../rig/u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../../rig/u2f/messages.ts';
import { framesHex, silence } from '../support/ble.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  assertAuthSignature,
  assertSw,
  authenticate,
  type Credential,
  random32,
  register,
  swHex,
  withholdPress,
  xorByte,
} from '../support/u2f.ts';

const station = await getStation();
const U2F_V2 = hex(new TextEncoder().encode('U2F_V2'));
/** How long BLE-ENC-02 waits for each short-form VERSION's answer. */
const SHORT_FORM_WAIT_MS = 2000;

if (station.transports.includes('ble')) {
  const u2f = await station.u2fOver('ble');

  describe('Bluetooth LE · U2F over MSG', () => {
    const check = area(station, 'ble', 'BLE U2F');
    // Made by the first case that needs it (not in a hook: see authenticate.spec.ts).
    let cred: Credential;
    const ready = async () => {
      cred ??= await register(u2f);
      return cred;
    };

    check(
      'BLE-U2F-01',
      'MSG VERSION 00 03 00 00 00 00 00 answers U2F_V2 9000',
      async () => {
        const answer = await (await station.ble()).exchange(fromHex('00030000000000'));
        assert.equal(hex(answer), `${U2F_V2}9000`, `BLE-U2F-01: VERSION answered ${hex(answer)}`);
      },
      { severity: 'blocker' },
    );

    check(
      'BLE-U2F-02',
      'MSG REGISTER (P1 00) with the button answers 9000 and a valid registration',
      async () => {
        const c = await register(u2f, random32(), random32(), 0x00); // U2F-REG-04/05 checks inside
        cred ??= c;
      },
      { severity: 'blocker' },
    );

    check(
      'BLE-U2F-03',
      'AUTH: tampered KH / app 6A80, check-only 6985, enforce (reconnected) 9000 01, again ctr+',
      async (ctx) => {
        const c = await ready();
        const send = (p1: number, keyHandle = c.keyHandle, app = c.appParam) =>
          u2f.sendWithPresence(encodeAuthenticate(p1, random32(), app, keyHandle), 'AUTHENTICATE');
        assertSw(
          await send(AUTH_P1.ENFORCE, xorByte(c.keyHandle, 0, 0x55)),
          SW.WRONG_DATA,
          'BLE-U2F-03 KH[0]^55',
          {
            noData: true,
          },
        );
        assertSw(
          await send(AUTH_P1.ENFORCE, c.keyHandle, xorByte(c.appParam, 0, 0xaa)),
          SW.WRONG_DATA,
          'BLE-U2F-03 app[0]^AA',
          { noData: true },
        );
        const checkOnly = await u2f.send(
          encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), c.appParam, c.keyHandle),
        );
        assertSw(checkOnly, SW.CONDITIONS_NOT_SATISFIED, 'BLE-U2F-03 check-only', { noData: true });
        await station.resetLink('ble'); // BT turns the device on again for each signature
        const first = await authenticate(u2f, c);
        assert.equal(first.flags, 0x01, `BLE-U2F-03: flags must be 01, response ${hex(first.raw)}`);
        const second = await authenticate(u2f, c);
        const step = second.counter - first.counter;
        if (narrowedTo(station.profile, 'U2F-CTR-01') === 'plus-one')
          assert.equal(step, 1, `BLE-U2F-03: counter ${first.counter} -> ${second.counter}, expected +1`);
        else
          assert.ok(step > 0, `BLE-U2F-03: counter ${first.counter} -> ${second.counter} did not increase`);
        ctx.observe(`counter ${first.counter} -> ${second.counter}`);
      },
      { severity: 'critical' },
    );

    check('BLE-ENC-01', 'AUTH with Le 0000, 004D, 0008 answers 9000, 9000, 6700', async () => {
      const c = await ready();
      for (const [le, sw] of [
        [0x10000, SW.NO_ERROR],
        [0x4d, SW.NO_ERROR],
        [0x08, SW.WRONG_LENGTH],
      ] as const) {
        const chal = random32();
        const data = concat(chal, c.appParam, Uint8Array.of(c.keyHandle.length), c.keyHandle);
        const apdu = encodeExtended({ ins: INS.AUTHENTICATE, p1: AUTH_P1.ENFORCE, data, le });
        const r = await u2f.sendWithPresence(apdu, 'AUTHENTICATE');
        const label = `BLE-ENC-01 Le ${hex(Uint8Array.of((le >> 8) & 0xff, le & 0xff))}`;
        assertSw(r, sw, label, { noData: sw !== SW.NO_ERROR });
        if (sw === SW.NO_ERROR) assertAuthSignature(c, chal, parseAuthenticateResponse(r.data));
      }
    });

    check('BLE-ENC-02', 'short-form VERSION (…00 / …06 / …02) is recorded', async (ctx) => {
      const seen: string[] = [];
      for (const form of ['0003000000', '0003000006', '0003000002']) {
        const apdu = fromHex(form);
        // Any answer is recorded; no answer at all is not one (a MSG is always answered).
        const r = await u2f.send(apdu, { timeoutMs: SHORT_FORM_WAIT_MS }).catch(async (error: unknown) => {
          if (!(error instanceof TransportError && error.code === 'TIMEOUT')) throw error;
          const ble = await station.ble();
          const sent = framesHex(fragment(BLE_CMD.MSG, apdu, ble.controlPointLength));
          return silence(ble, `BLE-ENC-02: no answer within ${SHORT_FORM_WAIT_MS} ms to ${sent}`);
        });
        seen.push(`${form} -> ${hex(r.raw)} (${swName(r.sw)})`);
      }
      // Disputed with one sanctioned behaviour: BLE is extended-only and BT never runs these
      // probes, so whatever the device answers is recorded, not judged.
      ctx.disputed('recorded', seen.join('; '));
    });
  });

  describe('Bluetooth LE · keepalive', () => {
    const check = area(station, 'ble', 'BLE keepalive');

    check(
      'BLE-KA-01',
      'while waiting for the button the chip sends KEEPALIVE TUP_NEEDED/PROCESSING; cadence recorded',
      async (ctx) => {
        withholdPress(station.presence.mode); // the chip must wait for the button to keep alive
        const ble = await station.ble();
        const appParam = random32();
        const reg = await u2f.sendWithPresence(encodeRegister(random32(), appParam), 'REGISTER');
        assertSw(reg, SW.NO_ERROR, 'BLE-KA-01 REGISTER');
        const codes = (k: readonly { code: number }[]) => k.map((x) => x.code.toString(16)).join(',');
        const seen = ble.keepalives;
        assert.ok(seen.length >= 1, 'BLE-KA-01: REGISTER waited for the button without a KEEPALIVE');
        const valid: number[] = [KEEPALIVE_CODE.TUP_NEEDED, KEEPALIVE_CODE.PROCESSING];
        assert.ok(
          seen.every((k) => valid.includes(k.code)),
          `BLE-KA-01: keepalive codes ${codes(seen)}`,
        );
        // Cadence: an enforce AUTHENTICATE pressed only on the third keepalive.
        const key = parseRegisterResponse(reg.data).keyHandle;
        let count = 0;
        const r = await u2f.send(encodeAuthenticate(AUTH_P1.ENFORCE, random32(), appParam, key), {
          onKeepalive: () => {
            if (++count === 3) station.presence.request('AUTHENTICATE (BLE-KA-01)').catch(() => undefined);
          },
        });
        const waits = ble.keepalives;
        const gaps = waits.slice(1).map((k, i) => Math.round(k.atMs - waits[i]!.atMs));
        ctx.observe(
          `REGISTER: ${seen.length} keepalive(s) [${codes(seen)}]; AUTHENTICATE: ${waits.length} [${codes(waits)}], first at ${Math.round(waits[0]?.atMs ?? -1)} ms, intervals ${gaps.join(', ')} ms, answer ${swHex(r.sw)}`,
        );
        assert.ok(waits.length >= 3, `BLE-KA-01: only ${waits.length} keepalive(s) before ${swName(r.sw)}`);
        assertSw(r, SW.NO_ERROR, 'BLE-KA-01 AUTHENTICATE pressed on the third keepalive');
      },
      { severity: 'critical', timeoutMs: 20_000 },
    );
  });
}
