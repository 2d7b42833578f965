/**
 * Makes the TEST-ONLY attestation material of the emulated MitID chip:
 * a root CA and a batch attestation certificate (P-256, ecdsa-with-SHA256) carrying the
 * fidoU2FTransports extension for USB + NFC + BLE (catalogue §1.5: 03 02 04 70).
 * Run once: `npx tsx scripts/make-attestation.ts`. The output in fixtures/attestation/ is
 * committed so every emulated run presents the same certificate. Never use these keys
 * for anything but the emulator.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { issue, pkcs8Pem, testRoot, x509 } from './test-pki.ts';

const out = new URL('../fixtures/attestation/', import.meta.url);
mkdirSync(out, { recursive: true });

const root = await testRoot('CN=chiprig TEST MitID chip Root CA (emulator only), O=chiprig test');
// fidoU2FTransports: BIT STRING, 4 unused bits, bits 1 (BLE), 2 (USB), 3 (NFC) set.
const transports = new x509.Extension(
  '1.3.6.1.4.1.45724.2.1.1',
  false,
  Uint8Array.of(0x03, 0x02, 0x04, 0x70),
);
const batch = await issue(root, {
  serialNumber: '0a01',
  subject: 'CN=chiprig TEST MitID chip Batch 1 (emulator only), O=chiprig test, C=DK',
  extensions: [transports],
});

writeFileSync(new URL('root-ca.pem', out), root.cert.toString('pem'));
writeFileSync(new URL('batch-cert.pem', out), batch.cert.toString('pem'));
writeFileSync(new URL('batch-key.pem', out), await pkcs8Pem(batch.keys.privateKey));
console.log(`wrote root-ca.pem, batch-cert.pem (${batch.cert.rawData.byteLength} bytes DER), batch-key.pem`);
