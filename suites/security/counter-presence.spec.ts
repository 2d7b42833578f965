/**
 * SEC-*: the signature counter only ever rises, and only when the chip signs; presence is
 * enforced and consumed; the attestation certificate chains to a root the lab trusts.
 */
import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import { SW } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { parseAttestationCertificate } from '../../rig/u2f/attestation.ts';
import { checkAttestationChain } from '../../rig/u2f/attestation-chain.ts';
import { encodeAuthenticate, encodeRegister } from '../../rig/u2f/messages.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  assertSw,
  authenticate,
  type Credential,
  drainPresence,
  flipBit,
  random32,
  register,
} from '../support/u2f.ts';

const station = await getStation();
const first = station.transports[0]!;

describe(`${TRANSPORT_NAMES[first]} · security: across sessions and transports`, () => {
  const check = area(station, first, 'security: counter and attestation');

  check(
    'SEC-CTR-01',
    `the counter of one credential rises across sessions, power cycles and transports (${station.transports.join(', ')})`,
    async (ctx) => {
      const cred = await register(await station.u2fOver(first));
      const seen: { counter: number; where: string }[] = [];
      const sign = async (where: string) => {
        const kind = station.transports[seen.length % station.transports.length]!;
        const { counter } = await authenticate(await station.u2fOver(kind), cred);
        seen.push({ counter, where: `${where} over ${kind}` });
      };
      for (const kind of station.transports) await sign(`first signature (${kind} in turn)`);
      for (const kind of station.transports) {
        await station.resetLink(kind);
        await sign(`after closing and reopening the ${kind} link`);
      }
      if (station.canPowerCycle) {
        for (let i = 0; i < 2; i++) {
          await station.powerCycle();
          await sign(`after power cycle ${i + 1}`);
        }
      } else ctx.observe('no power cycles: the station has no power switch for this device');
      for (let i = 1; i < seen.length; i++) {
        assert.ok(
          seen[i]!.counter > seen[i - 1]!.counter,
          `counter ${seen[i - 1]!.counter} (${seen[i - 1]!.where}) then ${seen[i]!.counter} (${seen[i]!.where}): it must rise`,
        );
      }
      ctx.observe(seen.map((s) => `${s.counter} ${s.where}`).join('; '));
    },
    { severity: 'blocker', timeoutMs: 60_000 },
  );

  check(
    'SEC-ATT-01',
    'the attestation certificate chains to a root the station trusts, and is valid now',
    async (ctx) => {
      const roots = station.attestationRoots();
      if (roots.length === 0) {
        ctx.skip(
          station.profileChoice?.ownDevice === false
            ? `no attestation root is named for ${station.deviceSpec.text}: the station's roots are for its own device; name the vendor's roots in the device profile (attestationRoots) and pass it with --profile`
            : 'the station trusts no attestation root (trust.attestationRoots in the station file)',
        );
      }
      const cred = await register(await station.u2fOver(first));
      const cert = parseAttestationCertificate(cred.registration.certificate);
      const verdict = checkAttestationChain(cert, roots, new Date());
      assert.ok(
        verdict.ok,
        verdict.ok
          ? ''
          : `attestation certificate "${cert.subject}" (serial ${cert.serialNumber}): ${verdict.reason}`,
      );
      ctx.observe(
        `"${cert.subject}" issued by trusted root "${verdict.root.cert.subject}" (${verdict.root.path})`,
      );
    },
    { severity: 'critical' },
  );
});

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);

  describe(`${TRANSPORT_NAMES[kind]} · security: counter and presence`, () => {
    const check = area(station, kind, 'security: counter and presence');
    let spare: Credential | undefined;

    check(
      'SEC-CTR-02',
      'refused AUTHENTICATEs (check-only, no press, tampered handle, other appParam) leave the counter where it was',
      async (ctx) => {
        const cred = await register(u2f);
        spare ??= await register(u2f);
        // Presence first, so no refused attempt comes between the two signatures.
        const sign = async () => {
          await u2f.requestPresence('AUTHENTICATE');
          return (await authenticate(u2f, cred)).counter;
        };
        const c0 = await sign();
        const c1 = await sign();
        const step = c1 - c0;
        if (step !== 1) {
          ctx.skip(
            `the device's counter step is ${step}, not 1, so extra increments cannot be told from its own (U2F-CTR-01: a step of 1 is one sanctioned behaviour of two)`,
          );
        }
        const refusals: [string, Uint8Array, number][] = [
          [
            'check-only',
            encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), cred.appParam, cred.keyHandle),
            SW.CONDITIONS_NOT_SATISFIED,
          ],
          [
            'tampered key handle',
            encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, flipBit(cred.keyHandle, 9)),
            SW.WRONG_DATA,
          ],
          [
            'other appParam',
            encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), random32(), cred.keyHandle),
            SW.WRONG_DATA,
          ],
        ];
        for (const [what, apdu, sw] of refusals) assertSw(await u2f.send(apdu), sw, what, { noData: true });
        if (appliesTo('H,B', kind)) {
          await drainPresence(u2f, spare);
          const r = await u2f.send(
            encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle),
          );
          assertSw(r, SW.CONDITIONS_NOT_SATISFIED, 'enforce without a press', { noData: true });
        }
        const c2 = await sign();
        assert.equal(
          c2,
          c1 + 1,
          `counter ${c1} before the refused requests and ${c2} at the next signature: refused requests moved it by ${c2 - c1 - 1}`,
        );
      },
      { severity: 'critical', timeoutMs: 30_000 },
    );

    if (appliesTo('H,B', kind)) {
      check(
        'SEC-UP-01',
        'presence is enforced and consumed: no press, no REGISTER or signature; one press, one signature',
        async () => {
          const cred = await register(u2f);
          spare ??= await register(u2f);
          await drainPresence(u2f, spare);
          assertSw(
            await u2f.send(encodeRegister(random32(), random32())),
            SW.CONDITIONS_NOT_SATISFIED,
            'REGISTER without a press',
            { noData: true },
          );
          assertSw(
            await u2f.send(encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle)),
            SW.CONDITIONS_NOT_SATISFIED,
            'enforce AUTHENTICATE without a press',
            { noData: true },
          );
          const signed = await authenticate(u2f, cred);
          assert.equal(
            signed.flags & 0x01,
            0x01,
            `flags ${hex(Uint8Array.of(signed.flags))}: user presence bit not set after a press`,
          );
          assertSw(
            await u2f.send(encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle)),
            SW.CONDITIONS_NOT_SATISFIED,
            'a second enforce AUTHENTICATE on the same press',
            { noData: true },
          );
        },
        { severity: 'blocker', timeoutMs: 30_000 },
      );
    }
  });
}
