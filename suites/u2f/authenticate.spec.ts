import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../rig/bytes.ts';
import { hostRandomBytes } from '../../rig/random.ts';
import { encodeExtended, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1, INS } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate, parseAuthenticateResponse } from '../../rig/u2f/messages.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  assertAuthSignature,
  assertSw,
  authenticate,
  type Credential,
  drainPresence,
  random32,
  register,
  specVectors,
  swHex,
  withholdPress,
  xorByte,
} from '../support/u2f.ts';

const station = await getStation();
const vectors = specVectors;

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);
  const auth = (
    p1: number,
    chal: Uint8Array,
    cred: Credential,
    keyHandle = cred.keyHandle,
    app = cred.appParam,
  ) => u2f.send(encodeAuthenticate(p1, chal, app, keyHandle));

  describe(`${TRANSPORT_NAMES[kind]} · U2F AUTHENTICATE`, () => {
    const check = area(station, kind, 'U2F AUTHENTICATE');
    // Made by the first case that needs them (not in a hook: a failing hook would take
    // every case of the block with it, and those results would be lost).
    let cred: Credential;
    let spare: Credential;
    const ready = async () => {
      cred ??= await register(u2f);
      spare ??= await register(u2f);
    };

    if (appliesTo('H,B', kind)) {
      check(
        'U2F-AUTH-01',
        'enforce without a press answers 6985',
        async () => {
          await ready();
          await drainPresence(u2f, spare);
          assertSw(
            await auth(AUTH_P1.ENFORCE, random32(), cred),
            SW.CONDITIONS_NOT_SATISFIED,
            'enforce without presence',
            { noData: true },
          );
        },
        { severity: 'critical' },
      );
    }

    check('U2F-AUTH-02', 'check-only with a valid key handle answers 6985', async () => {
      await ready();
      assertSw(await auth(AUTH_P1.CHECK_ONLY, random32(), cred), SW.CONDITIONS_NOT_SATISFIED, 'check-only', {
        noData: true,
      });
    });

    if (appliesTo('H', kind)) {
      check(
        'U2F-AUTH-03',
        'check-only does not consume a press: press, check-only, enforce succeeds',
        async () => {
          await ready();
          await drainPresence(u2f, spare);
          const chal = random32();
          assertSw(
            await auth(AUTH_P1.ENFORCE, chal, cred),
            SW.CONDITIONS_NOT_SATISFIED,
            'enforce before the press',
          );
          await u2f.requestPresence('AUTHENTICATE after check-only');
          assertSw(
            await auth(AUTH_P1.CHECK_ONLY, chal, cred),
            SW.CONDITIONS_NOT_SATISFIED,
            'check-only after the press',
          );
          const r = await u2f.sendWithPresence(
            encodeAuthenticate(AUTH_P1.ENFORCE, chal, cred.appParam, cred.keyHandle),
            'AUTHENTICATE',
          );
          assertSw(r, SW.NO_ERROR, 'enforce after check-only');
          assertAuthSignature(cred, chal, parseAuthenticateResponse(r.data));
        },
        { severity: 'critical' },
      );
    }

    check('U2F-AUTH-04', 'check-only with KH[0] ^ 0x40 answers 6A80', async () => {
      await ready();
      assertSw(
        await auth(AUTH_P1.CHECK_ONLY, random32(), cred, xorByte(cred.keyHandle, 0, 0x40)),
        SW.WRONG_DATA,
        'check-only, tampered KH',
        { noData: true },
      );
    });

    check(
      'U2F-AUTH-05',
      'enforce with KH[0] ^ 0x55 and ^ 0x40 answers 6A80',
      async () => {
        await ready();
        for (const mask of [0x55, 0x40]) {
          await u2f.requestPresence('AUTHENTICATE with a tampered key handle');
          assertSw(
            await auth(AUTH_P1.ENFORCE, random32(), cred, xorByte(cred.keyHandle, 0, mask)),
            SW.WRONG_DATA,
            `enforce, KH[0]^${mask.toString(16)}`,
            { noData: true },
          );
        }
        await drainPresence(u2f, spare);
      },
      { severity: 'critical' },
    );

    check(
      'U2F-AUTH-06',
      'enforce with app[0] ^ 0xAA and ^ 0x40 answers 6A80',
      async () => {
        await ready();
        for (const mask of [0xaa, 0x40]) {
          await u2f.requestPresence('AUTHENTICATE with another appParam');
          const app = xorByte(cred.appParam, 0, mask);
          assertSw(
            await auth(AUTH_P1.ENFORCE, random32(), cred, cred.keyHandle, app),
            SW.WRONG_DATA,
            `enforce, app[0]^${mask.toString(16)}`,
            { noData: true },
          );
        }
        await drainPresence(u2f, spare);
      },
      { severity: 'critical' },
    );

    check('U2F-AUTH-07', 'truncated key handle with a self-consistent length is refused', async (ctx) => {
      await ready();
      const seen: string[] = [];
      for (const [label, n] of [
        ['L-8', cred.keyHandle.length - 8],
        ['L/2', cred.keyHandle.length >> 1],
      ] as const) {
        const r = await auth(AUTH_P1.ENFORCE, random32(), cred, cred.keyHandle.subarray(0, n));
        seen.push(`${label}: ${hex(r.raw)}`);
        const observed =
          r.data.length > 0
            ? undefined
            : r.sw === SW.WRONG_LENGTH
              ? 'wrong-length'
              : r.sw === SW.WRONG_DATA
                ? 'wrong-data'
                : undefined;
        ctx.disputed(observed, `truncated key handle (${label}) answered ${hex(r.raw)}`);
      }
      ctx.observe(`truncated key handle answered ${seen.join(', ')}`);
    });

    check(
      'U2F-AUTH-08',
      'enforce after a press: flags 01, counter, signature verifies',
      async () => {
        await ready();
        const chal = random32();
        const r = await authenticate(u2f, cred, chal);
        assert.equal(
          r.flags,
          0x01,
          `flags must be exactly 01 (user present), got ${r.flags.toString(16).padStart(2, '0')}; response ${hex(r.raw)}`,
        );
      },
      { severity: 'blocker' },
    );

    if (appliesTo('H', kind)) {
      check(
        'U2F-AUTH-09',
        'a second enforce right after a success answers 6985 (press consumed)',
        async () => {
          // A device that approves by itself approves the second enforce too.
          if (u2f.presence) withholdPress(u2f.presence.mode);
          await ready();
          await authenticate(u2f, cred);
          assertSw(
            await auth(AUTH_P1.ENFORCE, random32(), cred),
            SW.CONDITIONS_NOT_SATISFIED,
            'second enforce',
            { noData: true },
          );
        },
        { severity: 'critical' },
      );
    }

    check(
      'U2F-AUTH-10',
      'dont-enforce (P1 08) signs without a press, flags bit 0 clear',
      async (ctx) => {
        await ready();
        if (!station.profile.u2f.authenticateModes.includes('dont-enforce')) {
          ctx.skip('the device profile does not list the dont-enforce mode (U2F v1.2)');
        }
        await drainPresence(u2f, spare);
        const before = (await authenticate(u2f, cred)).counter;
        const chal = random32();
        const r = await auth(AUTH_P1.DONT_ENFORCE, chal, cred);
        assertSw(r, SW.NO_ERROR, 'dont-enforce without presence');
        const parsed = parseAuthenticateResponse(r.data);
        assertAuthSignature(cred, chal, parsed);
        assert.equal(
          parsed.flags & 0x01,
          0,
          `flags ${parsed.flags.toString(16)}: user-presence bit set without a press`,
        );
        assert.ok(parsed.counter > before, `counter did not advance (${before} -> ${parsed.counter})`);
      },
      { severity: 'critical' },
    );

    check('U2F-AUTH-11', 'undefined P1 values never sign with presence set', async (ctx) => {
      await ready();
      await drainPresence(u2f, spare);
      const seen: string[] = [];
      for (const p1 of [0x00, 0x01, 0x09, 0xff]) {
        const r = await auth(p1, random32(), cred);
        seen.push(`P1 ${p1.toString(16).padStart(2, '0')}: ${swHex(r.sw)}`);
        if (r.sw === SW.NO_ERROR) {
          const flags = r.data[0] ?? 0;
          assert.equal(
            flags & 0x01,
            0,
            `P1 ${p1.toString(16)} signed with the presence flag set without a press: ${hex(r.raw)}`,
          );
        }
      }
      ctx.observe(seen.join(', '));
    });

    check(
      'U2F-AUTH-12',
      'AUTHENTICATE bodies shorter than 65 bytes or shorter than L are length errors',
      async () => {
        await ready();
        const short = concat(random32(), random32());
        assertSw(
          await u2f.send(
            encodeExtended({ ins: INS.AUTHENTICATE, p1: AUTH_P1.ENFORCE, data: short, le: 65536 }),
          ),
          SW.WRONG_LENGTH,
          '64-byte body',
          { noData: true },
        );
        const lying = concat(
          random32(),
          cred.appParam,
          Uint8Array.of(cred.keyHandle.length + 10),
          cred.keyHandle,
        );
        assertSw(
          await u2f.send(
            encodeExtended({ ins: INS.AUTHENTICATE, p1: AUTH_P1.CHECK_ONLY, data: lying, le: 65536 }),
          ),
          SW.WRONG_LENGTH,
          'L larger than the key handle present',
          { noData: true },
        );
      },
    );

    check(
      'U2F-AUTH-13',
      'key handles from another device, or random, answer 6A80',
      async () => {
        await ready();
        const random = hostRandomBytes(cred.keyHandle.length);
        assertSw(
          await auth(AUTH_P1.CHECK_ONLY, random32(), cred, random),
          SW.WRONG_DATA,
          'random key handle',
          { noData: true },
        );
        // The spec example's key handle was made by another token for http://example.com.
        const foreign = fromHex(vectors.registration.keyHandle);
        const foreignApp = fromHex(vectors.registration.appParam);
        assertSw(
          await auth(AUTH_P1.CHECK_ONLY, random32(), cred, foreign, foreignApp),
          SW.WRONG_DATA,
          "the spec example's key handle",
          { noData: true },
        );
      },
      { severity: 'critical' },
    );

    if (appliesTo('N', kind)) {
      check(
        'U2F-AUTH-14',
        'enforce on NFC signs with the tap as presence, no button press',
        async () => {
          await ready();
          const chal = random32();
          const r = await auth(AUTH_P1.ENFORCE, chal, cred);
          assertSw(r, SW.NO_ERROR, 'enforce over NFC without a press');
          const parsed = parseAuthenticateResponse(r.data);
          assert.equal(parsed.flags, 0x01, `flags must be 01 (the tap is presence), got ${hex(r.raw)}`);
          assertAuthSignature(cred, chal, parsed);
        },
        { severity: 'critical' },
      );
    }

    if (appliesTo('H', kind)) {
      check('CT-02', 'official U2F 1.2 tool "Authenticate P-4" (P1 08)', async () => {
        await ready();
        const chal = random32();
        const r = await auth(AUTH_P1.DONT_ENFORCE, chal, cred);
        assertSw(r, SW.NO_ERROR, `dont-enforce (${swName(r.sw)})`);
        assertAuthSignature(cred, chal, parseAuthenticateResponse(r.data));
      });
    }
  });
}
