import assert from 'node:assert/strict';
import { narrowedTo } from '../../rig/station/device-profile.ts';
import { SW } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate } from '../../rig/u2f/messages.ts';
import { parseDerSignature } from '../../rig/u2f/verify.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { assertSw, authenticate, type Credential, random32, register } from '../support/u2f.ts';

const station = await getStation();

/** The 32-bit value with its bytes reversed. */
const swap32 = (c: number) =>
  (((c & 0xff) << 24) | ((c & 0xff00) << 8) | ((c >>> 8) & 0xff00) | (c >>> 24)) >>> 0;

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);

  describe(`${TRANSPORT_NAMES[kind]} · U2F counter and signatures`, () => {
    const check = area(station, kind, 'U2F counter and signatures');

    check(
      'U2F-CTR-01',
      'two authentications of one credential: the counter rises',
      async (ctx) => {
        const cred = await register(u2f);
        const c1 = (await authenticate(u2f, cred)).counter;
        const c2 = (await authenticate(u2f, cred)).counter;
        // U2F raw messages §5.4: the counter is big-endian. Written little-endian, a +1 step
        // reads as +2^24 here (a rise, but it falls back after 255 signatures).
        const bytes = (c: number) => c.toString(16).padStart(8, '0');
        assert.ok(
          !(swap32(c2) === swap32(c1) + 1 && c2 !== c1 + 1),
          `the counter is written little-endian (U2F raw messages §5.4 requires big-endian): counter bytes ${bytes(c1)} -> ${bytes(c2)} are ${swap32(c1)} -> ${swap32(c2)} read the other way`,
        );
        // Every anchor requires a rise; by exactly 1 (GU, GN, BT) or by any step (FF) is disputed.
        assert.ok(c2 > c1, `counter must increase: ${c1} -> ${c2}`);
        ctx.disputed(c2 === c1 + 1 ? 'plus-one' : 'increasing', `counter ${c1} -> ${c2} (step ${c2 - c1})`);
      },
      { severity: 'critical' },
    );

    check('U2F-CTR-02', 'five REGISTER+AUTHENTICATE rounds on one app: sane counters', async (ctx) => {
      const app = random32();
      const counters: number[] = [];
      for (let i = 0; i < 5; i++) {
        const cred = await register(u2f, app);
        counters.push((await authenticate(u2f, cred)).counter);
      }
      ctx.observe(`counters ${counters.join(', ')}`);
      for (let i = 1; i < counters.length; i++) {
        assert.ok(
          Math.abs(counters[i]! - counters[i - 1]!) < 256,
          `counters ${counters.join(', ')}: a step of 256 or more (byte order?)`,
        );
      }
      for (const c of counters) assert.ok(c <= 0x80000000, `counter ${c} above 0x80000000`);
      if (narrowedTo(station.profile, 'U2F-CTR-04') === 'global') {
        for (let i = 1; i < counters.length; i++)
          assert.ok(
            counters[i]! > counters[i - 1]!,
            `global counter must rise across credentials: ${counters.join(', ')}`,
          );
      }
    });

    check(
      'U2F-CTR-03',
      'key handles and counters survive a power cycle',
      async (ctx) => {
        if (!station.canPowerCycle)
          ctx.skip('the station has no power switch for this device (no power instrument configured)');
        const creds: Credential[] = [];
        for (let i = 0; i < 5; i++) creds.push(await register(u2f));
        // Each credential's counter must rise past its own last value (the scope, global or
        // per credential, is U2F-CTR-04's disputed point, so only the credential's own counts).
        const last: number[] = [];
        for (const cred of creds) last.push((await authenticate(u2f, cred)).counter);
        await station.powerCycle();
        const client = await station.u2fOver(kind);
        for (const [i, cred] of creds.entries()) {
          const after = await authenticate(client, cred);
          assert.ok(
            after.counter > last[i]!,
            `credential ${i + 1}: counter after the power cycle (${after.counter}) not above its last before it (${last[i]})`,
          );
        }
        for (const cred of creds) {
          const r = await client.send(
            encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), cred.appParam, cred.keyHandle),
          );
          assertSw(r, SW.CONDITIONS_NOT_SATISFIED, 'check-only after the power cycle', { noData: true });
        }
      },
      { severity: 'critical', timeoutMs: 30_000 },
    );

    if (appliesTo('N', kind)) {
      check(
        'U2F-CTR-04',
        'a new credential: counter scope (global or per credential) is recorded',
        async (ctx) => {
          const first = await register(u2f);
          const before = (await authenticate(u2f, first)).counter;
          const second = await register(u2f);
          const after = (await authenticate(u2f, second)).counter;
          assert.ok(after >= 1, `the new credential's first signature has counter ${after}`);
          ctx.disputed(
            after > before ? 'global' : 'per-credential',
            `first credential at ${before}, new credential at ${after}`,
          );
        },
      );
    }

    check('U2F-CRY-01', 'signatures are minimal DER, at most 72 bytes', async () => {
      for (let i = 0; i < 8; i++) {
        const cred = await register(u2f);
        assert.ok(
          cred.registration.signature.length <= 72,
          `registration signature is ${cred.registration.signature.length} bytes`,
        );
        parseDerSignature(cred.registration.signature);
        const auth = await authenticate(u2f, cred);
        assert.ok(auth.signature.length <= 72, `authentication signature is ${auth.signature.length} bytes`);
        parseDerSignature(auth.signature);
      }
    });
  });
}
