/**
 * Writes the attestation certificates of the emulator faults expired-attestation and
 * wrong-curve-attestation (fixtures/attestation/faults/). Run once; the files are committed.
 * Both are self-signed test certificates, named so nobody mistakes them for real ones.
 *
 *   npx tsx scripts/make-fault-certs.ts
 */
import { KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type EcAlgorithm, newKeys, x509 } from './test-pki.ts';

const dir = new URL('../fixtures/attestation/faults/', import.meta.url);

async function make(
  file: string,
  curve: EcAlgorithm['namedCurve'],
  hash: EcAlgorithm['hash'],
  notBefore: Date,
  notAfter: Date,
  what: string,
) {
  const alg: EcAlgorithm = { name: 'ECDSA', namedCurve: curve, hash };
  const keys = await newKeys(alg);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0badc0de',
    name: `CN=chiprig TEST MitID chip attestation - ${what} (emulator fault only), O=chiprig test`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: alg,
  });
  const pem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(new URL(`${file}-cert.pem`, dir), `${cert.toString('pem')}\n`);
  writeFileSync(new URL(`${file}-key.pem`, dir), pem);
}

await make(
  'expired',
  'P-256',
  'SHA-256',
  new Date('2012-01-01T00:00:00Z'),
  new Date('2017-01-01T00:00:00Z'),
  'expired 2017',
);
await make(
  'p384',
  'P-384',
  'SHA-384',
  new Date('2024-01-01T00:00:00Z'),
  new Date('2049-12-31T23:59:59Z'),
  'P-384 key',
);
