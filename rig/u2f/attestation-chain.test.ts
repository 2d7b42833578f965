import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { toBytes } from '../bytes.ts';
import { ConfigError } from '../errors.ts';
import { parseAttestationCertificate } from './attestation.ts';
import { checkAttestationChain, loadAttestationRoots } from './attestation-chain.ts';

const fixture = (name: string) => new URL(`../../fixtures/attestation/${name}`, import.meta.url).pathname;
const certOf = (name: string) =>
  parseAttestationCertificate(toBytes(new X509Certificate(readFileSync(fixture(name))).raw));
const roots = loadAttestationRoots([fixture('root-ca.pem')], 'test');
const NOW = new Date('2026-06-01T00:00:00Z');

describe('u2f/attestation-chain (SEC-ATT-01)', () => {
  it('the emulated chip’s batch certificate chains to the test root', () => {
    const verdict = checkAttestationChain(certOf('batch-cert.pem'), roots, NOW);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.reason);
  });

  it('refuses an expired certificate, naming its validity', () => {
    const verdict = checkAttestationChain(certOf('faults/expired-cert.pem'), roots, NOW);
    assert.ok(!verdict.ok && /not valid .*2017/.test(verdict.reason), JSON.stringify(verdict));
  });

  it('refuses a certificate no trusted root issued', () => {
    const verdict = checkAttestationChain(certOf('faults/p384-cert.pem'), roots, NOW);
    assert.ok(!verdict.ok && /none of the trusted roots/.test(verdict.reason), JSON.stringify(verdict));
  });

  it('refuses a certificate whose signature does not verify with the root key', () => {
    const cert = certOf('batch-cert.pem');
    const forged = { ...cert, signature: Uint8Array.from(cert.signature) };
    forged.signature[forged.signature.length - 1]! ^= 0x01;
    const verdict = checkAttestationChain(forged, roots, NOW);
    assert.ok(!verdict.ok && /does not verify/.test(verdict.reason), JSON.stringify(verdict));
  });

  it('with no roots configured says so; a file that is no certificate is a configuration error', () => {
    const verdict = checkAttestationChain(certOf('batch-cert.pem'), [], NOW);
    assert.ok(!verdict.ok && /no trusted roots/.test(verdict.reason));
    assert.throws(() => loadAttestationRoots([fixture('batch-key.pem')], 'station trust'), ConfigError);
  });
});
