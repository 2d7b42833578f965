import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.ts';

/**
 * The emulated chip's TEST-ONLY attestation certificate and key (fixtures/attestation/),
 * for unit tests that build an Authenticator by hand. Not a test file itself.
 */
const fixture = (name: string) => readFileSync(packagePath(`fixtures/attestation/${name}`), 'utf8');

export const attestationCertificate = Uint8Array.from(new X509Certificate(fixture('batch-cert.pem')).raw);
export const attestationKey = createPrivateKey(fixture('batch-key.pem'));
