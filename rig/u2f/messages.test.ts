import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromHex, hex } from '../bytes.ts';
import { AssertionError } from '../errors.ts';
import { AUTH_P1 } from './apdu.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
  registrationSignedData,
} from './messages.ts';

const V = JSON.parse(readFileSync(new URL('../../fixtures/vectors/u2f-spec.json', import.meta.url), 'utf8'));
const reg = V.registration;
const auth = V.authentication;
const x = fromHex;

/** Asserts a device failure whose message matches `pattern`. */
function deviceFails(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e) => e instanceof AssertionError && pattern.test(e.message));
}

/** §3.1 registration response rebuilt from parts so single fields can be broken. */
function registration(
  parts: Partial<Record<'reserved' | 'pub' | 'kh' | 'cert' | 'sig', string>> = {},
): Uint8Array {
  const kh = parts.kh ?? `40${reg.keyHandle}`;
  return x(
    (parts.reserved ?? '05') +
      (parts.pub ?? reg.userPublicKey) +
      kh +
      (parts.cert ?? reg.attestationCertificate) +
      (parts.sig ?? reg.signature),
  );
}

describe('u2f/messages', () => {
  describe('encoders', () => {
    it('REGISTER with P1 0x03 and 0x00 equals catalogue §3.3', () => {
      const chal = x(reg.challengeParam);
      const app = x(reg.appParam);
      assert.equal(hex(encodeRegister(chal, app, { p1: 0x03 })), V.apdus.registerP1x03);
      assert.equal(hex(encodeRegister(chal, app)), V.apdus.registerP1x00);
      assert.equal(
        hex(encodeRegister(chal, app, { p1: 0x03, form: 'short' })),
        V.apdus.nfcShortRegisterP1x03,
      );
    });
    it('AUTHENTICATE (enforce) equals catalogue §3.3', () => {
      const apdu = encodeAuthenticate(
        AUTH_P1.ENFORCE,
        x(auth.challengeParam),
        x(auth.appParam),
        x(reg.keyHandle),
      );
      assert.equal(hex(apdu), V.apdus.authenticateEnforce);
      // its body is u2f-ref-code's raw SIGN_REQUEST_DATA without the control byte (catalogue §3.2)
      assert.equal(hex(apdu.subarray(7, -2)), auth.rawSignRequest.slice(2));
    });
    it('VERSION in ISO and legacy form', () => {
      assert.equal(hex(encodeVersion()), '00030000000000');
      assert.equal(hex(encodeVersion('legacy')), '000300000000000000');
    });
    it('names the bad parameter', () => {
      const p32 = new Uint8Array(32);
      assert.throws(() => encodeRegister(new Uint8Array(31), p32), /challengeParam/);
      assert.throws(() => encodeRegister(p32, new Uint8Array(33)), /appParam/);
      assert.throws(() => encodeAuthenticate(3, p32, p32, new Uint8Array(256)), /keyHandle/);
      assert.throws(() => encodeAuthenticate(3, p32, p32, new Uint8Array(0)), /keyHandle/);
      assert.throws(() => encodeAuthenticate(256, p32, p32, new Uint8Array(64)), /p1/);
      assert.throws(() => registrationSignedData(p32, p32, p32, new Uint8Array(64)), /userPublicKey/);
    });
  });

  describe('signed data', () => {
    it('registrationSignedData equals the §3.1 signed bytes', () => {
      const signed = registrationSignedData(
        x(reg.appParam),
        x(reg.challengeParam),
        x(reg.keyHandle),
        x(reg.userPublicKey),
      );
      assert.equal(hex(signed), reg.signedData);
    });
    it('authenticationSignedData equals the §3.2 signed bytes', () => {
      const signed = authenticationSignedData(x(auth.appParam), 0x01, 1, x(auth.challengeParam));
      assert.equal(hex(signed), auth.signedData);
    });
  });

  describe('parseRegisterResponse', () => {
    it('parses the §3.1 registration data into KH, public key, cert and signature', () => {
      const r = parseRegisterResponse(x(reg.registrationData));
      assert.equal(r.reserved, 0x05);
      assert.equal(hex(r.userPublicKey), reg.userPublicKey);
      assert.equal(hex(r.keyHandle), reg.keyHandle);
      assert.equal(hex(r.certificate), reg.attestationCertificate);
      assert.equal(hex(r.signature), reg.signature);
      assert.equal(hex(r.raw), reg.registrationData);
    });
    it('parses the §3.4 registration data (72-byte signature)', () => {
      const r = parseRegisterResponse(x(V.registration2.registrationData));
      assert.equal(hex(r.keyHandle), V.registration2.keyHandle);
      assert.equal(hex(r.userPublicKey), V.registration2.userPublicKey);
      assert.equal(r.certificate.length, 0x148);
      assert.equal(r.signature.length, 72);
    });
    it('rejects malformed device output as a device failure', () => {
      const sig = reg.signature as string;
      const cert = reg.attestationCertificate as string;
      deviceFails(() => parseRegisterResponse(registration({ reserved: '04' })), /reserved byte: "04"/);
      deviceFails(
        () => parseRegisterResponse(registration({ pub: `02${reg.userPublicKey.slice(2)}` })),
        /uncompressed/,
      );
      deviceFails(() => parseRegisterResponse(x(reg.registrationData.slice(0, 2 * 60))), /truncated/);
      deviceFails(
        () => parseRegisterResponse(x(reg.registrationData.slice(0, 2 * 100))),
        /key handle length 64/,
      );
      deviceFails(
        () => parseRegisterResponse(registration({ cert: `31${cert.slice(2)}` })),
        /certificate header/,
      );
      deviceFails(() => parseRegisterResponse(registration({ cert: '3003020100' })), /certificate header/);
      deviceFails(
        () => parseRegisterResponse(registration({ cert: cert.slice(0, 200), sig: '' })),
        /runs past the end/,
      );
      deviceFails(() => parseRegisterResponse(registration({ sig: '' })), /signature missing/);
      deviceFails(
        () => parseRegisterResponse(registration({ sig: `31${sig.slice(2)}` })),
        /not a DER SEQUENCE/,
      );
      deviceFails(
        () => parseRegisterResponse(registration({ sig: `3081${sig.slice(2)}` })),
        /not a DER SEQUENCE/,
      );
      deviceFails(() => parseRegisterResponse(registration({ sig: sig.slice(0, -2) })), /truncated/);
      deviceFails(() => parseRegisterResponse(registration({ sig: `${sig}00` })), /1 trailing bytes/);
      deviceFails(() => parseRegisterResponse(registration({ sig: `3047${'00'.repeat(71)}` })), /73 bytes/);
    });
    it('shows the offending bytes in hex', () => {
      assert.throws(
        () => parseRegisterResponse(registration({ sig: `${reg.signature}dead` })),
        (e) => e instanceof AssertionError && e.message.includes(`${reg.signature}dead`),
      );
    });
  });

  describe('parseAuthenticateResponse', () => {
    it('parses the §3.2 response', () => {
      const r = parseAuthenticateResponse(x(auth.authenticationResponse));
      assert.deepEqual([r.flags, r.counter, hex(r.signature)], [0x01, 1, auth.signature]);
      assert.equal(hex(r.raw), auth.authenticationResponse);
    });
    it('parses the §3.4 SIGN_DATA_2 (counter 0x22)', () => {
      const r = parseAuthenticateResponse(x(V.registration2.signResponse));
      assert.deepEqual([r.flags, r.counter, r.signature.length], [0x01, 0x22, 71]);
    });
    it('rejects malformed device output as a device failure', () => {
      const sig = auth.signature as string;
      deviceFails(() => parseAuthenticateResponse(x('01000000')), /truncated/);
      deviceFails(() => parseAuthenticateResponse(x('0100000001')), /signature missing/);
      deviceFails(() => parseAuthenticateResponse(x(`0100000001${sig}9000`)), /2 trailing bytes/);
      deviceFails(() => parseAuthenticateResponse(x(`0100000001a0${sig.slice(2)}`)), /not a DER SEQUENCE/);
      deviceFails(() => parseAuthenticateResponse(x(`01000000013047${'00'.repeat(71)}`)), /73 bytes/);
      deviceFails(() => parseAuthenticateResponse(x(`0100000001${sig.slice(0, 20)}`)), /truncated/);
    });
  });
});
