/**
 * SEC-*: what keeps a U2F key's secrets secret, checked harder than the conformance cases
 * do: ECDSA nonces never repeat, key handles are bound to their appParam and resist
 * tampering at every bit, another device's handles are refused, and every registration
 * makes a new key pair.
 */
import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import { SW } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate } from '../../rig/u2f/messages.ts';
import { parseDerSignature } from '../../rig/u2f/verify.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  assertSw,
  authenticate,
  type Credential,
  flipBit,
  random32,
  register,
  specVectors,
  swHex,
} from '../support/u2f.ts';

const station = await getStation();
const vectors = specVectors;

/** Signatures per transport in the nonce check: enough to see a fixed or short-cycled nonce. */
const NONCE_SIGNATURES = 24;
/** Other appParams each key handle is tried with. */
const OTHER_APPS = 16;
/** Registrations in the fresh-key check. */
const REGISTRATIONS = 8;

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);
  const checkOnly = (cred: Credential, keyHandle = cred.keyHandle, app = cred.appParam) =>
    u2f.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), app, keyHandle));

  describe(`${TRANSPORT_NAMES[kind]} · security: keys and signatures`, () => {
    const check = area(station, kind, 'security: keys and signatures');
    let cred: Credential | undefined;
    const credential = async () => {
      cred ??= await register(u2f);
      return cred;
    };

    check(
      'SEC-NONCE-01',
      `no ECDSA nonce repeats: ${NONCE_SIGNATURES} signatures over two credentials, every r distinct`,
      async (ctx) => {
        const creds = [await credential(), await register(u2f)];
        const seen = new Map<bigint, string>();
        for (let i = 0; i < NONCE_SIGNATURES; i++) {
          const c = creds[i % creds.length]!;
          const { signature, counter } = await authenticate(u2f, c);
          const { r } = parseDerSignature(signature);
          const where = `signature ${i + 1} (counter ${counter}, key handle ${hex(c.keyHandle).slice(0, 16)}…)`;
          const before = seen.get(r);
          assert.equal(
            before,
            undefined,
            `ECDSA r repeats in ${before} and ${where}: r = ${r.toString(16)}; the nonce k was reused, so the private key can be computed from the two signatures`,
          );
          seen.set(r, where);
        }
        ctx.observe(`${seen.size} signatures, ${seen.size} distinct r values`);
      },
      { severity: 'blocker', timeoutMs: 60_000 },
    );

    check(
      'SEC-KH-01',
      'key-handle tamper at every bit position: each of the flipped handles is refused with 6A80',
      async (ctx) => {
        const c = await credential();
        const bits = c.keyHandle.length * 8;
        const accepted: number[] = [];
        for (let bit = 0; bit < bits; bit++) {
          const r = await checkOnly(c, flipBit(c.keyHandle, bit));
          if (r.sw !== SW.WRONG_DATA) accepted.push(bit);
          if (accepted.length >= 8) break; // enough to judge; the rest would only repeat it
        }
        assert.deepEqual(
          accepted,
          [],
          `key handles with bit ${accepted.join(', ')} flipped were not refused with 6A80 (a key handle must be authenticated, e.g. with a MAC)`,
        );
        // The untouched handle is still the device's (check-only: 6985).
        assertSw(await checkOnly(c), SW.CONDITIONS_NOT_SATISFIED, 'check-only with the untouched key handle');
        ctx.observe(`${bits} single-bit flips, all refused`);
      },
      { severity: 'critical', timeoutMs: 120_000 },
    );

    check(
      'SEC-KH-02',
      `appParam binding: a key handle is refused with 6A80 under ${OTHER_APPS} other appParams and under each single-bit change of its own`,
      async () => {
        const c = await credential();
        const wrong: string[] = [];
        for (let i = 0; i < OTHER_APPS; i++) {
          const app = random32();
          const r = await checkOnly(c, c.keyHandle, app);
          if (r.sw !== SW.WRONG_DATA) wrong.push(`appParam ${hex(app)} answered ${swHex(r.sw)}`);
        }
        for (let bit = 0; bit < 256; bit += 7) {
          const r = await checkOnly(c, c.keyHandle, flipBit(c.appParam, bit));
          if (r.sw !== SW.WRONG_DATA) wrong.push(`appParam bit ${bit} flipped answered ${swHex(r.sw)}`);
        }
        // Enforce with presence given must not sign under another app either.
        await u2f.requestPresence('AUTHENTICATE under another appParam');
        const enforce = await u2f.send(
          encodeAuthenticate(AUTH_P1.ENFORCE, random32(), random32(), c.keyHandle),
        );
        if (enforce.sw !== SW.WRONG_DATA)
          wrong.push(`enforce with presence under another appParam answered ${swHex(enforce.sw)}`);
        assert.deepEqual(
          wrong,
          [],
          `the key handle is not bound to its appParam: ${wrong.slice(0, 4).join('; ')}`,
        );
      },
      { severity: 'critical', timeoutMs: 60_000 },
    );

    check(
      'SEC-KH-03',
      'key handles from another device (the U2F spec examples, random handles) are refused with 6A80',
      async () => {
        const foreign: { what: string; app: Uint8Array; keyHandle: Uint8Array }[] = [
          {
            what: 'the U2F spec example key handle (§3.1, §3.2), made by another device',
            app: Uint8Array.from(Buffer.from(vectors.authentication.appParam, 'hex')),
            keyHandle: Uint8Array.from(Buffer.from(vectors.registration.keyHandle, 'hex')),
          },
        ];
        const c = await credential();
        for (let i = 0; i < 4; i++) {
          foreign.push({
            what: `random handle ${i + 1}`,
            app: c.appParam,
            keyHandle: randomHandle(c.keyHandle.length),
          });
        }
        for (const f of foreign) {
          const r = await u2f.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), f.app, f.keyHandle));
          assertSw(r, SW.WRONG_DATA, `check-only with ${f.what}`, { noData: true });
        }
      },
      { severity: 'critical' },
    );

    check(
      'SEC-KEY-01',
      `a fresh key pair per registration: ${REGISTRATIONS} REGISTERs (same appParam) give distinct public keys and key handles`,
      async () => {
        const app = random32();
        const keys = new Set<string>();
        const handles = new Set<string>();
        for (let i = 0; i < REGISTRATIONS; i++) {
          const r = await register(u2f, app);
          const key = hex(r.publicKey);
          assert.ok(!keys.has(key), `registration ${i + 1} returned a public key already returned: ${key}`);
          assert.ok(
            !handles.has(hex(r.keyHandle)),
            `registration ${i + 1} returned a key handle already returned`,
          );
          keys.add(key);
          handles.add(hex(r.keyHandle));
        }
      },
      { severity: 'critical', timeoutMs: 60_000 },
    );
  });
}

function randomHandle(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 32) out.set(random32().subarray(0, Math.min(32, length - i)), i);
  return out;
}
