/**
 * Makes the TEST-ONLY FIDO metadata of the emulated MitID chip, in fixtures/metadata/:
 * - mds-root.pem: a test metadata root (never a FIDO Alliance key);
 * - mitid-chip-statement.json: the chip's metadata statement (Metadata Statement v3.0),
 *   naming its batch certificate's key identifier and its test attestation root;
 * - test-blob.jwt: an MDS3 BLOB (ES256, x5c = [signer]) holding that statement, and an
 *   entry for another key, signed by a signer certificate the test root issued;
 * - faults/: one statement or BLOB per metadata check, each wrong in that check only.
 * Run `npx tsx scripts/make-metadata.ts` after scripts/make-attestation.ts; the output is
 * committed (the keys are not: rerunning makes new ones, and every file anew).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { CompactSign } from 'jose';
import { attestationKeyIdentifier } from '../rig/metadata/metadata.ts';
import { issue, testRoot, x509 } from './test-pki.ts';

const out = new URL('../fixtures/metadata/', import.meta.url);
mkdirSync(new URL('faults/', out), { recursive: true });
const attestation = new URL('../fixtures/attestation/', import.meta.url);

const mdsRoot = await testRoot('CN=chiprig TEST metadata root (emulator only), O=chiprig test');
const { cert: root } = mdsRoot;
const { cert: signer, keys: signerKeys } = await issue(mdsRoot, {
  serialNumber: '02',
  subject: 'CN=chiprig TEST metadata BLOB signer (emulator only), O=chiprig test',
  extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
});

const batch = new X509Certificate(readFileSync(new URL('batch-cert.pem', attestation)));
const attestationRoot = new X509Certificate(readFileSync(new URL('root-ca.pem', attestation)));
const keyId = attestationKeyIdentifier(new Uint8Array(batch.raw));

const statement = {
  legalHeader:
    'TEST metadata of the chiprig emulated MitID chip: for tests only, not a FIDO Alliance statement.',
  attestationCertificateKeyIdentifiers: [keyId],
  description: 'MitID chip (chiprig emulated, TEST)',
  authenticatorVersion: 1,
  protocolFamily: 'u2f',
  schema: 3,
  upv: [{ major: 1, minor: 1 }],
  authenticationAlgorithms: ['secp256r1_ecdsa_sha256_raw'],
  publicKeyAlgAndEncodings: ['ecc_x962_raw'],
  attestationTypes: ['basic_full'],
  userVerificationDetails: [[{ userVerificationMethod: 'presence_internal' }]],
  keyProtection: ['hardware', 'secure_element'],
  matcherProtection: ['on_chip'],
  cryptoStrength: 128,
  attachmentHint: ['external', 'wired', 'wireless', 'nfc', 'bluetooth'],
  tcDisplay: [],
  attestationRootCertificates: [attestationRoot.raw.toString('base64')],
};
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
writeFileSync(new URL('mitid-chip-statement.json', out), json(statement));
writeFileSync(new URL('mds-root.pem', out), root.toString('pem'));

const otherKeyId = createHash('sha1').update('another TEST key').digest('hex');
const entries = (reports: object[]) => [
  {
    attestationCertificateKeyIdentifiers: [otherKeyId],
    metadataStatement: {
      ...statement,
      description: 'another TEST key',
      attestationCertificateKeyIdentifiers: [otherKeyId],
    },
    statusReports: [{ status: 'REVOKED', effectiveDate: '2025-06-01' }],
    timeOfLastStatusChange: '2025-06-01',
  },
  {
    attestationCertificateKeyIdentifiers: [keyId],
    metadataStatement: statement,
    statusReports: reports,
    timeOfLastStatusChange: '2026-01-15',
  },
];
const clean = [{ status: 'NOT_FIDO_CERTIFIED', effectiveDate: '2026-01-15' }];

const sign = async (payload: object) =>
  new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [Buffer.from(signer.rawData).toString('base64')] })
    .sign(signerKeys.privateKey);
const blob = (nextUpdate: string, reports: object[]) => ({
  legalHeader: 'TEST BLOB of chiprig: for tests only, not the FIDO Metadata Service.',
  no: 7,
  nextUpdate,
  entries: entries(reports),
});

writeFileSync(new URL('test-blob.jwt', out), `${await sign(blob('2049-12-31', clean))}\n`);

// Faults: each wrong in one check only.
const fault = (name: string, text: string) => writeFileSync(new URL(`faults/${name}`, out), text);
fault('wrong-key-id.json', json({ ...statement, attestationCertificateKeyIdentifiers: [otherKeyId] }));
fault(
  'other-root.json',
  json({ ...statement, attestationRootCertificates: [Buffer.from(root.rawData).toString('base64')] }),
);
fault('fido2-family.json', json({ ...statement, protocolFamily: 'fido2' }));
fault('rsa-algorithm.json', json({ ...statement, authenticationAlgorithms: ['rsassa_pkcsv15_sha256_raw'] }));
fault('surrogate-attestation.json', json({ ...statement, attestationTypes: ['basic_surrogate'] }));
fault('usb-only-hint.json', json({ ...statement, attachmentHint: ['external', 'wired'] }));
const revoked = [
  ...clean,
  { status: 'REVOKED', effectiveDate: '2026-03-02', url: 'https://example.invalid/chiprig-test/revocation' },
];
fault('revoked.jwt', `${await sign(blob('2049-12-31', revoked))}\n`);
fault('expired.jwt', `${await sign(blob('2025-01-01', clean))}\n`);
// A payload changed after signing: the signature no longer covers it.
const [head, , signature] = (await sign(blob('2049-12-31', clean))).split('.');
const tampered = Buffer.from(JSON.stringify({ ...blob('2049-12-31', clean), no: 8 })).toString('base64url');
fault('bad-signature.jwt', `${head}.${tampered}.${signature}\n`);
console.log(`wrote fixtures/metadata/ (key identifier ${keyId}) and fixtures/metadata/faults/`);
