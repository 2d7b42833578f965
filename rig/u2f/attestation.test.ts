import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { p256 } from '@noble/curves/nist.js';
import { concat, fromHex, hex, u16be } from '../bytes.ts';
import { AssertionError } from '../errors.ts';
import {
  decodeTransports,
  isValidAt,
  parseAttestationCertificate,
  verifyCertificateSignature,
} from './attestation.ts';
import { parseRegisterResponse } from './messages.ts';

const V = JSON.parse(readFileSync(new URL('../../fixtures/vectors/u2f-spec.json', import.meta.url), 'utf8'));
const reg = V.registration;
const x = fromHex;

function certOf(registrationDataHex: string) {
  return parseAttestationCertificate(parseRegisterResponse(x(registrationDataHex)).certificate);
}

/** DER SEQUENCE with a two-byte long-form length (enough for these test certificates). */
function sequence(content: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(0x30, 0x82), u16be(content.length), content);
}

/** The §3.1 TBS re-signed with the §3.1 attestation private key, so a positive case exists. */
function resignedCertificate(tbs: Uint8Array): Uint8Array {
  const sig = p256.sign(tbs, x(reg.attestationPrivateKey), { format: 'der', prehash: true });
  const bitString = concat(Uint8Array.of(0x03, sig.length + 1, 0x00), sig);
  return sequence(concat(tbs, x('300a06082a8648ce3d040302'), bitString));
}

describe('u2f/attestation', () => {
  it('parses the §3.1 attestation certificate', () => {
    const cert = parseAttestationCertificate(x(reg.attestationCertificate));
    assert.equal(cert.subject, 'CN=PilotGnubby-0.4.1-47901280001155957352');
    assert.equal(cert.issuer, 'CN=Gnubby Pilot');
    assert.equal(cert.serialNumber, '47901280001155957352');
    assert.equal(cert.notBefore.toISOString(), '2012-08-14T18:29:32.000Z');
    assert.equal(cert.notAfter.toISOString(), '2013-08-14T18:29:32.000Z');
    assert.ok(cert.spkiIsP256);
    assert.equal(hex(cert.publicKey).slice(0, 20), '048d617e65c9508e64bc');
    assert.equal(cert.publicKey.length, 65);
    assert.equal(cert.signatureAlgorithmOid, '1.2.840.10045.4.3.2');
    assert.ok(cert.isEcdsaWithSha256);
    assert.equal(cert.transports, undefined);
    assert.equal(cert.transportsExtension, undefined);
    assert.equal(hex(cert.raw), reg.attestationCertificate);
  });

  it('isValidAt follows notBefore/notAfter (the spec example expired in 2013)', () => {
    const cert = parseAttestationCertificate(x(reg.attestationCertificate));
    assert.equal(isValidAt(cert, new Date('2013-01-01T00:00:00Z')), true);
    assert.equal(isValidAt(cert, new Date('2013-08-14T18:29:33Z')), false);
    assert.equal(isValidAt(cert, new Date('2012-08-14T18:29:31Z')), false);
  });

  it('parses the §3.4 certificate (GeneralizedTime validity)', () => {
    const cert = certOf(V.registration2.registrationData);
    assert.equal(cert.issuer, 'CN=Gnubby HSM CA 00');
    assert.equal(cert.notAfter.toISOString(), '2062-05-31T23:59:59.000Z');
    assert.ok(cert.spkiIsP256 && cert.isEcdsaWithSha256);
  });

  describe('fidoU2FTransports (catalogue §1.5)', () => {
    for (const name of ['oneTransport', 'multipleTransports'] as const) {
      it(`decodes the ${name} example certificate`, () => {
        const vector = V.transports[name];
        const cert = certOf(vector.registrationData);
        assert.equal(hex(cert.transportsExtension ?? new Uint8Array(0)), vector.extensionValue);
        assert.deepEqual(cert.transports, vector.expected);
      });
    }
    it('03 02 07 80 is bluetoothRadio only; 03 02 04 D0 is bluetoothRadio, BLE and NFC', () => {
      assert.deepEqual(decodeTransports(x('03020780')), ['bluetoothRadio']);
      assert.deepEqual(decodeTransports(x('030204d0')), ['bluetoothRadio', 'bluetoothLowEnergyRadio', 'nfc']);
    });
    it('03 02 04 70 is the USB+NFC+BLE chip value', () => {
      assert.deepEqual(decodeTransports(x('03020470')), ['bluetoothLowEnergyRadio', 'usb', 'nfc']);
    });
    it('a malformed value is a device failure', () => {
      // 04 02 AA 80 is TestVectors' REGISTRATION_RESPONSE_DATA_MALFORMED_TRANSPORTS extension value
      for (const value of ['0402aa80', '0302', '03020880', '030304d0']) {
        assert.throws(() => decodeTransports(x(value)), AssertionError, value);
      }
    });
  });

  describe('verifyCertificateSignature', () => {
    it('verifies ECDSA-SHA256 over the TBS bytes with the issuer key', () => {
      const original = parseAttestationCertificate(x(reg.attestationCertificate));
      const resigned = parseAttestationCertificate(resignedCertificate(original.tbs));
      const issuerKey = p256.getPublicKey(x(reg.attestationPrivateKey), false);
      assert.equal(hex(resigned.tbs), hex(original.tbs));
      assert.ok(verifyCertificateSignature(resigned, issuerKey));
      // the real issuer (Gnubby Pilot) key is not published, so the original does not verify with this key
      assert.equal(verifyCertificateSignature(original, issuerKey), false);
      assert.equal(verifyCertificateSignature(resigned, x(reg.userPublicKey)), false);
    });
  });

  it('an unparseable certificate is a device failure', () => {
    const cert = reg.attestationCertificate as string;
    for (const der of [
      '3003020101',
      cert.slice(0, 100),
      `${cert}00`,
      `30820138${cert.slice(8, 8 + 0x138 * 2)}`,
    ]) {
      assert.throws(() => parseAttestationCertificate(x(der)), AssertionError, der.slice(0, 16));
    }
    // well-formed outer structure, but the TBS is not a TBSCertificate: @peculiar/x509 rejects it
    assert.throws(
      () => parseAttestationCertificate(x('30143003020101300a06082a8648ce3d040302030100')),
      (e) => e instanceof AssertionError && /X\.509 parse failed/.test(e.message),
    );
  });
});
