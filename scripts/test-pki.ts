/**
 * TEST-ONLY certificates for the fixture scripts (make-attestation, make-metadata,
 * make-fault-certs): ECDSA keys made with WebCrypto, certificates with @peculiar/x509, every
 * name saying "chiprig TEST ... (emulator only)" so nobody mistakes them for real ones.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

export interface EcAlgorithm {
  name: 'ECDSA';
  namedCurve: 'P-256' | 'P-384';
  hash: 'SHA-256' | 'SHA-384';
}
export const P256: EcAlgorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** Roots run from 2024 for 30 years; what they issue, to the end of 2049. */
const FROM = new Date('2024-01-01T00:00:00Z');
const ROOT_UNTIL = new Date('2054-01-01T00:00:00Z');
const ISSUED_UNTIL = new Date('2049-12-31T23:59:59Z');

export interface Issued {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

export function newKeys(alg: EcAlgorithm = P256): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

/** A self-signed CA that signs end certificates only (path length 0). */
export async function testRoot(name: string): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name,
    notBefore: FROM,
    notAfter: ROOT_UNTIL,
    keys,
    signingAlgorithm: P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

/** An end certificate (not a CA) that `root` issues, with a new key. */
export async function issue(
  root: Issued,
  opts: { serialNumber: string; subject: string; extensions?: x509.Extension[] },
): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serialNumber,
    subject: opts.subject,
    issuer: root.cert.subject,
    notBefore: FROM,
    notAfter: ISSUED_UNTIL,
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: P256,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), ...(opts.extensions ?? [])],
  });
  return { cert, keys };
}

/** A private key as PKCS#8 PEM. */
export async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}
