/**
 * Writes the attestation certificates of the emulator faults expired-attestation and
 * wrong-curve-attestation (fixtures/attestation/faults/). Run once; the files are committed.
 * Both are self-signed test certificates, named so nobody mistakes them for real ones.
 *
 *   npx tsx scripts/make-fault-certs.ts
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const dir = new URL('../fixtures/attestation/faults/', import.meta.url);

async function make(
  file: string,
  curve: 'P-256' | 'P-384',
  hash: string,
  notBefore: Date,
  notAfter: Date,
  what: string,
) {
  const alg = { name: 'ECDSA', namedCurve: curve, hash };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
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
