import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { toBytes } from '../bytes.ts';
import { ConfigError } from '../errors.ts';
import {
  type AttestationCertificate,
  isValidAt,
  parseAttestationCertificate,
  verifyCertificateSignature,
} from './attestation.ts';

/** A trusted attestation root (the lab's trust anchor for a device model). */
export interface AttestationRoot {
  path: string;
  cert: AttestationCertificate;
}

/** Reads root certificates (PEM or DER files); a file that is not a certificate is a ConfigError. */
export function loadAttestationRoots(paths: readonly string[], where: string): AttestationRoot[] {
  return paths.map((path) => {
    let der: Uint8Array;
    try {
      der = toBytes(new X509Certificate(readFileSync(path)).raw);
    } catch (error) {
      throw new ConfigError(`${where}: ${path} is not a readable certificate`, { cause: error });
    }
    try {
      return { path, cert: parseAttestationCertificate(der) };
    } catch (error) {
      throw new ConfigError(`${where}: ${path}: ${(error as Error).message}`, { cause: error });
    }
  });
}

export type ChainVerdict = { ok: true; root: AttestationRoot } | { ok: false; reason: string };

/**
 * Whether a device's attestation certificate chains to one of the trusted roots: a root
 * whose subject is the certificate's issuer, whose key verifies the certificate's
 * ecdsa-with-SHA256 signature, with both valid at `at` (U2F: the batch certificate is
 * issued directly by the vendor's root, so the chain is one link long).
 */
export function checkAttestationChain(
  cert: AttestationCertificate,
  roots: readonly AttestationRoot[],
  at: Date,
): ChainVerdict {
  if (roots.length === 0) return { ok: false, reason: 'no trusted roots configured' };
  if (!isValidAt(cert, at)) {
    return {
      ok: false,
      reason: `the certificate is not valid on ${at.toISOString()} (${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()})`,
    };
  }
  const issuers = roots.filter((r) => r.cert.subject === cert.issuer);
  if (issuers.length === 0) {
    return {
      ok: false,
      reason: `issuer "${cert.issuer}" is none of the trusted roots (${roots.map((r) => `"${r.cert.subject}"`).join(', ')})`,
    };
  }
  for (const root of issuers) {
    if (!isValidAt(root.cert, at)) continue;
    if (root.cert.spkiIsP256 && verifyCertificateSignature(cert, root.cert.publicKey))
      return { ok: true, root };
  }
  return {
    ok: false,
    reason: `the signature does not verify with the key of "${cert.issuer}" (${issuers.map((r) => r.path).join(', ')})`,
  };
}
