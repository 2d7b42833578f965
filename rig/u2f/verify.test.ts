import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { p256 } from '@noble/curves/nist.js';
import { fromHex, hex } from '../bytes.ts';
import { AssertionError } from '../errors.ts';
import { parseRegisterResponse, registrationSignedData } from './messages.ts';
import { parseDerSignature, verifySignature } from './verify.ts';

const V = JSON.parse(readFileSync(new URL('../../fixtures/vectors/u2f-spec.json', import.meta.url), 'utf8'));
const reg = V.registration;
const auth = V.authentication;
const x = fromHex;
const N = p256.Point.Fn.ORDER;

/** The 65-byte point after the P-256 SPKI prefix in a certificate's DER. */
function certKey(certHex: string): Uint8Array {
  const prefix = '3059301306072a8648ce3d020106082a8648ce3d030107034200';
  const at = certHex.indexOf(prefix);
  assert.ok(at >= 0 && at % 2 === 0, 'P-256 SPKI prefix not found');
  return x(certHex.slice(at + prefix.length, at + prefix.length + 130));
}

function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe('u2f/verify', () => {
  describe('verifySignature', () => {
    it('verifies the §3.1 registration signature with the attestation key', () => {
      assert.ok(verifySignature(certKey(reg.attestationCertificate), x(reg.signedData), x(reg.signature)));
    });
    it('verifies the §3.2 authentication signature with its own credential key', () => {
      assert.ok(verifySignature(x(auth.userPublicKey), x(auth.signedData), x(auth.signature)));
      // catalogue §3.2 note: the spec's auth example does not use the registration key pair
      assert.equal(verifySignature(x(reg.userPublicKey), x(auth.signedData), x(auth.signature)), false);
    });
    it('fails when one signature byte or one message byte changes', () => {
      const key = certKey(reg.attestationCertificate);
      const sig = x(reg.signature);
      assert.equal(verifySignature(key, x(reg.signedData), flipped(sig, 40)), false);
      assert.equal(verifySignature(key, x(reg.signedData), flipped(sig, sig.length - 1)), false);
      assert.equal(verifySignature(key, flipped(x(reg.signedData), 5), sig), false);
      assert.equal(
        verifySignature(x(auth.userPublicKey), x(auth.signedData), flipped(x(auth.signature), 10)),
        false,
      );
    });
    it('accepts high-S signatures (the §3.1 example has s > n/2)', () => {
      assert.ok(parseDerSignature(x(reg.signature)).s > N / 2n);
      assert.ok(verifySignature(certKey(reg.attestationCertificate), x(reg.signedData), x(reg.signature)));
    });
    it('returns false for an undecodable signature and names a bad key', () => {
      assert.equal(verifySignature(x(auth.userPublicKey), x(auth.signedData), x('3000')), false);
      assert.throws(
        () => verifySignature(new Uint8Array(64), x(auth.signedData), x(auth.signature)),
        /publicKey65/,
      );
    });
    it('verifies the §3.4 registration (72-byte signature over §3.1 app/chal)', () => {
      const v2 = V.registration2;
      const r = parseRegisterResponse(x(v2.registrationData));
      const signed = registrationSignedData(
        x(reg.appParam),
        x(reg.challengeParam),
        r.keyHandle,
        r.userPublicKey,
      );
      assert.ok(verifySignature(certKey(hex(r.certificate)), signed, r.signature));
      assert.equal(verifySignature(certKey(hex(r.certificate)), signed, flipped(r.signature, 70)), false);
    });
  });

  describe('parseDerSignature', () => {
    it('parses the §3.4 signature with 0x00-padded r and s', () => {
      const r = parseRegisterResponse(x(V.registration2.registrationData));
      const { r: rr, s } = parseDerSignature(r.signature);
      assert.equal(rr.toString(16), 'f3be1bf12cbf0be7eab5ea32f3664edb18a24d4999aac5aa40ff39cf6f34c9ed');
      assert.equal(s.toString(16), 'ce72631767367467dfe2aecf6a5a4eba9779fac65f5ca8a2c325b174ee4769ac');
    });
    it('parses the §3.2 signature', () => {
      const { r } = parseDerSignature(x(auth.signature));
      assert.equal(r.toString(16), '4b5f0cd17534cedd8c34ee09570ef542a353df4436030ce43d406de870b84778');
    });
    it('rejects DER violations as device failures (U2F-CRY-01)', () => {
      const bad: Array<[string, RegExp]> = [
        ['3106020101020101', /not a SEQUENCE/],
        ['308106020101020101', /SEQUENCE uses a long-form/],
        ['3007020101020101', /does not match/],
        ['3008020101020101', /does not match/],
        ['30080201010201010000', /bytes after s/],
        ['300702810101020101', /r uses a long-form/],
        ['3006020501020101', /r length runs past the end/],
        ['300702020001020101', /r has a superfluous 00/],
        ['300702010102020001', /s has a superfluous 00/],
        ['3006020181020101', /r is negative/],
        ['3006020100020101', /r is outside/],
        ['3006020101030101', /s is not an INTEGER/],
        ['3003020101', /s is not an INTEGER/],
        [`3026020101022100${N.toString(16)}`, /s is outside/],
        [`3047${'00'.repeat(71)}`, /73 bytes/],
      ];
      for (const [der, pattern] of bad) {
        assert.throws(
          () => parseDerSignature(x(der)),
          (e) => e instanceof AssertionError && pattern.test(e.message),
          `${der} should fail with ${pattern}`,
        );
      }
    });
  });
});
