/**
 * Makes the TEST-ONLY attestation material of the emulated MitID chip:
 * a root CA and a batch attestation certificate (P-256, ecdsa-with-SHA256) carrying the
 * fidoU2FTransports extension for USB + NFC + BLE (catalogue §1.5: 03 02 04 70).
 * Run once: `npx tsx scripts/make-attestation.ts`. The output in fixtures/attestation/ is
 * committed so every emulated run presents the same certificate. Never use these keys
 * for anything but the emulator.
 */
import { webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const crypto = webcrypto;
x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const out = new URL('../fixtures/attestation/', import.meta.url);
mkdirSync(out, { recursive: true });

const rootKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
const root = await x509.X509CertificateGenerator.createSelfSigned({
  serialNumber: '01',
  name: 'CN=chiprig TEST MitID chip Root CA (emulator only), O=chiprig test',
  notBefore: new Date('2024-01-01T00:00:00Z'),
  notAfter: new Date('2054-01-01T00:00:00Z'),
  keys: rootKeys,
  signingAlgorithm: alg,
  extensions: [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ],
});

const batchKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
// fidoU2FTransports: BIT STRING, 4 unused bits, bits 1 (BLE), 2 (USB), 3 (NFC) set.
const transports = new x509.Extension(
  '1.3.6.1.4.1.45724.2.1.1',
  false,
  Uint8Array.of(0x03, 0x02, 0x04, 0x70),
);
const batch = await x509.X509CertificateGenerator.create({
  serialNumber: '0a01',
  subject: 'CN=chiprig TEST MitID chip Batch 1 (emulator only), O=chiprig test, C=DK',
  issuer: root.subject,
  notBefore: new Date('2024-01-01T00:00:00Z'),
  notAfter: new Date('2049-12-31T23:59:59Z'),
  publicKey: batchKeys.publicKey,
  signingKey: rootKeys.privateKey,
  signingAlgorithm: alg,
  extensions: [new x509.BasicConstraintsExtension(false, undefined, true), transports],
});

const pkcs8 = async (key: webcrypto.CryptoKey) =>
  x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
writeFileSync(new URL('root-ca.pem', out), root.toString('pem'));
writeFileSync(new URL('batch-cert.pem', out), batch.toString('pem'));
writeFileSync(new URL('batch-key.pem', out), await pkcs8(batchKeys.privateKey));
console.log(`wrote root-ca.pem, batch-cert.pem (${batch.rawData.byteLength} bytes DER), batch-key.pem`);
