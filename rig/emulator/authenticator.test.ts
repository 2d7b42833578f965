import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { concat, hex } from '../bytes.ts';
import { parseResponse, SW } from '../transport/nfc/apdu.ts';
import { AUTH_P1 } from '../u2f/apdu.ts';
import { parseAttestationCertificate } from '../u2f/attestation.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
  registrationSignedData,
} from '../u2f/messages.ts';
import { verifySignature } from '../u2f/verify.ts';
import { Authenticator, type AuthenticatorOptions } from './authenticator.ts';
import { PresenceSource } from './presence.ts';
import { attestationCertificate as cert, attestationKey as key } from './test-attestation.ts';

function chip(opts: Partial<AuthenticatorOptions> = {}) {
  let now = 0;
  const presence = new PresenceSource({ windowMs: 1000, now: () => now });
  const auth = new Authenticator({ attestationCertificate: cert, attestationKey: key, presence, ...opts });
  const send = (apdu: Uint8Array) => parseResponse(auth.process(apdu));
  return { auth, presence, send, advance: (ms: number) => (now += ms) };
}

const r32 = () => Uint8Array.from(randomBytes(32));

function registered(c = chip()) {
  const app = r32();
  const chal = r32();
  c.presence.press();
  const r = c.send(encodeRegister(chal, app));
  assert.equal(r.sw, SW.NO_ERROR);
  return { ...c, app, chal, reg: parseRegisterResponse(r.data) };
}

describe('emulated authenticator', () => {
  it('registers with a signature that verifies against the batch certificate', () => {
    const { app, chal, reg } = registered();
    const signed = registrationSignedData(app, chal, reg.keyHandle, reg.userPublicKey);
    assert.ok(verifySignature(parseAttestationCertificate(reg.certificate).publicKey, signed, reg.signature));
    assert.equal(hex(reg.certificate), hex(cert));
    assert.equal(reg.keyHandle.length, 64);
  });

  it('answers 6A80 to a key handle with any single bit flipped (all 512 positions)', () => {
    const c = registered();
    for (let bit = 0; bit < c.reg.keyHandle.length * 8; bit++) {
      const kh = Uint8Array.from(c.reg.keyHandle);
      kh[bit >> 3]! ^= 0x80 >> (bit & 7);
      const r = c.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, r32(), c.app, kh));
      assert.equal(r.sw, SW.WRONG_DATA, `bit ${bit} flipped: SW ${r.sw.toString(16)}`);
    }
    assert.equal(
      c.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, r32(), c.app, c.reg.keyHandle)).sw,
      SW.CONDITIONS_NOT_SATISFIED,
    );
  });

  it('binds key handles to the appParam and to the chip', () => {
    const c = registered();
    const otherApp = Uint8Array.from(c.app);
    otherApp[31]! ^= 1;
    assert.equal(
      c.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, r32(), otherApp, c.reg.keyHandle)).sw,
      SW.WRONG_DATA,
    );
    const other = chip();
    assert.equal(
      other.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, r32(), c.app, c.reg.keyHandle)).sw,
      SW.WRONG_DATA,
    );
  });

  it('consumes one press per REGISTER or enforce, never on check-only; 0x08 signs with UP clear', () => {
    const c = registered();
    const enforce = () => c.send(encodeAuthenticate(AUTH_P1.ENFORCE, c.chal, c.app, c.reg.keyHandle));
    assert.equal(enforce().sw, SW.CONDITIONS_NOT_SATISFIED, 'REGISTER consumed the press');
    c.presence.press();
    assert.equal(
      c.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, c.chal, c.app, c.reg.keyHandle)).sw,
      SW.CONDITIONS_NOT_SATISFIED,
    );
    const ok = enforce();
    assert.equal(ok.sw, SW.NO_ERROR, 'check-only left the press for enforce');
    const auth = parseAuthenticateResponse(ok.data);
    assert.equal(auth.flags, 1);
    assert.ok(
      verifySignature(
        c.reg.userPublicKey,
        authenticationSignedData(c.app, 1, auth.counter, c.chal),
        auth.signature,
      ),
    );
    assert.equal(enforce().sw, SW.CONDITIONS_NOT_SATISFIED);
    const dont = c.send(encodeAuthenticate(AUTH_P1.DONT_ENFORCE, c.chal, c.app, c.reg.keyHandle));
    assert.equal(dont.sw, SW.NO_ERROR);
    const d = parseAuthenticateResponse(dont.data);
    assert.equal(d.flags, 0);
    assert.equal(d.counter, auth.counter + 1);
  });

  it('lets a press lapse after its window', () => {
    const c = registered();
    c.presence.press();
    c.advance(1001);
    assert.equal(
      c.send(encodeAuthenticate(AUTH_P1.ENFORCE, c.chal, c.app, c.reg.keyHandle)).sw,
      SW.CONDITIONS_NOT_SATISFIED,
    );
  });

  it('keeps a counter per credential when configured so', () => {
    const c = chip({ counterMode: 'per-credential' });
    const a = registered(c);
    const b = registered(c);
    for (const x of [a, b]) {
      c.presence.press();
      const r = c.send(encodeAuthenticate(AUTH_P1.ENFORCE, x.chal, x.app, x.reg.keyHandle));
      assert.equal(parseAuthenticateResponse(r.data).counter, 1);
    }
  });

  it('answers the status words of catalogue §1.1', () => {
    const { send } = chip();
    assert.equal(hex(send(encodeVersion()).raw), '5532465f56329000');
    assert.equal(hex(send(encodeVersion('legacy')).raw), '5532465f56329000');
    assert.equal(hex(send(Uint8Array.of(0x01, 0x03, 0, 0, 0, 0, 3, 1, 2, 3, 0, 0)).raw), '6e00');
    assert.equal(hex(send(Uint8Array.of(0, 0x44, 0, 0, 0, 0, 0)).raw), '6d00');
    assert.equal(hex(send(Uint8Array.of(0, 0x03, 0, 0, 0, 0, 3, 1, 2, 3, 0, 0)).raw), '6700');
    assert.equal(hex(send(Uint8Array.of(0, 0x03, 0, 0, 0, 0, 2)).raw), '6700', 'Le shorter than the answer');
    assert.equal(hex(send(encodeRegister(r32(), r32())).raw), '6985');
    assert.equal(
      hex(send(concat(Uint8Array.of(0, 1, 0, 0, 0, 0, 3), Uint8Array.of(1, 2, 3), Uint8Array.of(0, 0))).raw),
      '6700',
    );
    assert.equal(hex(send(Uint8Array.of(0, 1)).raw), '6700');
  });
});
