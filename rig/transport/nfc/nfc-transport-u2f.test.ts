/** NfcTransport against the real U2F core behind the emulated contactless chip. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hex } from '../../bytes.ts';
import { Authenticator } from '../../emulator/authenticator.ts';
import { EmulatedCardConnection, NfcFrontEnd } from '../../emulator/front-ends/nfc.ts';
import { PresenceSource } from '../../emulator/presence.ts';
import { attestationCertificate as cert, attestationKey as key } from '../../emulator/test-attestation.ts';
import { AUTH_P1 } from '../../u2f/apdu.ts';
import { parseAttestationCertificate } from '../../u2f/attestation.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
  registrationSignedData,
} from '../../u2f/messages.ts';
import { verifySignature } from '../../u2f/verify.ts';
import { parseResponse, SW } from './apdu.ts';
import { NfcTransport, type NfcTransportOptions } from './nfc-transport.ts';

const r32 = () => Uint8Array.from(randomBytes(32));

function chip(options: NfcTransportOptions = {}) {
  const button = new PresenceSource();
  const authenticator = new Authenticator({
    attestationCertificate: cert,
    attestationKey: key,
    presence: button,
  });
  const card = new NfcFrontEnd({ core: (a, p) => authenticator.process(a, p), button });
  const connection = new EmulatedCardConnection(card);
  const nfc = new NfcTransport(connection, options);
  const send = async (apdu: Uint8Array) => parseResponse(await nfc.exchange(apdu));
  return { button, authenticator, card, connection, nfc, send };
}

async function registerAndAuthenticate(options: NfcTransportOptions) {
  const c = chip(options);
  const app = r32();
  const chal = r32();
  const r = await c.send(encodeRegister(chal, app, { p1: 0x03 }));
  assert.equal(r.sw, SW.NO_ERROR, 'U2F-AUTH-14: REGISTER over NFC needs no button');
  const reg = parseRegisterResponse(r.data);
  const attestationKey = parseAttestationCertificate(reg.certificate).publicKey;
  const signed = registrationSignedData(app, chal, reg.keyHandle, reg.userPublicKey);
  assert.ok(verifySignature(attestationKey, signed, reg.signature));

  const a = await c.send(encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, reg.keyHandle));
  assert.equal(a.sw, SW.NO_ERROR);
  const auth = parseAuthenticateResponse(a.data);
  assert.equal(auth.flags, 0x01);
  assert.ok(
    verifySignature(reg.userPublicKey, authenticationSignedData(app, 1, auth.counter, chal), auth.signature),
  );
  const check = await c.send(encodeAuthenticate(AUTH_P1.CHECK_ONLY, chal, app, reg.keyHandle));
  assert.equal(check.sw, SW.CONDITIONS_NOT_SATISFIED, 'NFC-AUTH-04');
  return { ...c, app, chal, reg, counter: auth.counter };
}

describe('NfcTransport with the emulated MitID chip (real U2F core)', () => {
  it('NFC-REG-01 / NFC-AUTH-01: REGISTER and AUTHENTICATE in short mode (61xx + GET RESPONSE)', async () => {
    const c = await registerAndAuthenticate({ apdu: 'short' });
    const detail = await c.nfc.exchangeDetailed(encodeRegister(r32(), r32()));
    assert.equal(detail.steps[0]!.response.at(-2), 0x61, 'the answer exceeds 256 bytes');
    for (let i = 1; i < detail.steps.length; i++) {
      const sw2 = hex(detail.steps[i - 1]!.response).slice(-2);
      assert.equal(hex(detail.steps[i]!.command), `00c00000${sw2}`, 'GET RESPONSE Le = SW2');
    }
    await c.nfc.close();
  });

  it('NFC-REG-01 with GN-style GET RESPONSE Le 00', async () => {
    const c = await registerAndAuthenticate({ apdu: 'short', getResponseLe: 'zero' });
    await c.nfc.close();
  });

  it('NFC-CHAIN-01: AUTHENTICATE chained in 32-byte blocks', async () => {
    const c = await registerAndAuthenticate({ apdu: 'short', chunkSize: 32 });
    const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, c.chal, c.app, c.reg.keyHandle);
    const detail = await c.nfc.exchangeDetailed(apdu);
    assert.equal(detail.steps.length, 5, '129 bytes of data: 4 blocks + 1');
    assert.ok(detail.steps.slice(0, 4).every((s) => s.command[0] === 0x10 && hex(s.response) === '9000'));
    assert.equal(parseAuthenticateResponse(parseResponse(detail.response).data).counter, c.counter + 1);
    await c.nfc.close();
  });

  it('NFC-REG-03 / NFC-AUTH-02: extended mode, whole answers without 61xx', async () => {
    const c = await registerAndAuthenticate({ apdu: 'extended' });
    const detail = await c.nfc.exchangeDetailed(encodeRegister(r32(), r32()));
    assert.equal(detail.steps.length, 1);
    assert.equal(parseResponse(detail.response).sw, SW.NO_ERROR);
    await c.nfc.close();
  });

  it('VERSION (ISO and legacy) over NFC; NFC-APDU-04 REGISTER without data answers 6700', async () => {
    const c = chip({ apdu: 'short' });
    assert.equal(hex(await c.nfc.exchange(encodeVersion())), '5532465f56329000');
    assert.equal(hex(await c.nfc.exchange(encodeVersion('legacy'))), '5532465f56329000');
    assert.equal(hex(await c.nfc.exchange(Uint8Array.of(0, 1, 0, 0, 0))), '6700');
    await c.nfc.close();
  });

  it('a button press in the field blocks NFC (6985 for everything) until the field cycles', async () => {
    const c = await registerAndAuthenticate({ apdu: 'short' });
    c.button.press();
    assert.equal(hex(await c.nfc.exchange(encodeVersion())), '6985');
    assert.equal(
      hex(await c.nfc.transmitRaw(Uint8Array.from([0, 0xa4, 4, 0, 8, 0xa0, 0, 0, 6, 0x47, 0x2f, 0, 1]))),
      '6985',
    );
    assert.equal((await c.send(encodeRegister(r32(), r32()))).sw, SW.CONDITIONS_NOT_SATISFIED);
    await c.nfc.powerCycle();
    // NFC-FLD-01: after the field cycles the KH still works and the counter continues.
    const a = await c.send(encodeAuthenticate(AUTH_P1.ENFORCE, c.chal, c.app, c.reg.keyHandle));
    assert.equal(a.sw, SW.NO_ERROR);
    assert.equal(parseAuthenticateResponse(a.data).counter, c.counter + 1);
    await c.nfc.close();
  });
});
