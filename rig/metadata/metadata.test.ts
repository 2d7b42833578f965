import assert from 'node:assert/strict';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { attestationKeyIdentifier, loadMetadata } from './metadata.ts';

const META = packagePath('fixtures/metadata/');
const ROOTS = [join(META, 'mds-root.pem')];
const pem = (path: string) => new Uint8Array(new X509Certificate(readFileSync(packagePath(path))).raw);

describe('FIDO metadata: statements and MDS3 BLOBs', () => {
  it('the key identifier without an SKI extension is the SHA-1 of the public key bits (the 65-byte point)', () => {
    const der = pem('fixtures/attestation/batch-cert.pem');
    const point = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    assert.equal(point[0], 0x04);
    assert.equal(attestationKeyIdentifier(der), createHash('sha1').update(point).digest('hex'));
  });

  it('the key identifier is the SKI extension where there is one, in lower-case hex', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=SKI test',
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectKeyIdentifierExtension('00112233445566778899AABBCCDDEEFF01234567')],
    });
    assert.equal(
      attestationKeyIdentifier(new Uint8Array(cert.rawData)),
      '00112233445566778899aabbccddeeff01234567',
    );
  });

  it('reads a statement and a verified BLOB, with the entry for the emulated chip', async () => {
    const statement = await loadMetadata(join(META, 'mitid-chip-statement.json'), []);
    assert.equal(statement.kind, 'statement');
    const blob = await loadMetadata(join(META, 'test-blob.jwt'), ROOTS, new Date('2026-12-03'));
    assert.equal(blob.kind, 'blob');
    if (blob.kind !== 'blob' || statement.kind !== 'statement') return;
    assert.equal(blob.blob.entries.length, 2);
    assert.match(blob.blob.signer, /BLOB signer/);
    const keyId = attestationKeyIdentifier(pem('fixtures/attestation/batch-cert.pem'));
    assert.ok(blob.blob.entries.some((e) => e.attestationCertificateKeyIdentifiers?.includes(keyId)));
    assert.deepEqual(statement.statement.attestationCertificateKeyIdentifiers, [keyId]);
  });

  const refused = async (file: string, roots: string[], pattern: RegExp, now = new Date('2026-12-03')) => {
    await assert.rejects(loadMetadata(file, roots, now), (error: Error) => {
      assert.ok(error instanceof ConfigError, `${error.name}: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
  };

  it('refuses a BLOB whose payload was changed after signing, naming the signature', async () => {
    await refused(
      join(META, 'faults/bad-signature.jwt'),
      ROOTS,
      /signature: does not verify with the key of x5c\[0\]/,
    );
  });

  it('refuses a BLOB whose nextUpdate has passed, naming the field and the dates', async () => {
    await refused(
      join(META, 'faults/expired.jwt'),
      ROOTS,
      /nextUpdate 2025-01-01 has passed \(today is 2026-12-03\)/,
    );
    // past its signer's validity, the chain is refused first
    await refused(
      join(META, 'test-blob.jwt'),
      ROOTS,
      /header x5c\[0\] ".*BLOB signer.*": not valid on 2050-01-02/,
      new Date('2050-01-02'),
    );
  });

  it('refuses a BLOB whose chain ends at a root the station does not trust, or with no root trusted', async () => {
    const other = [packagePath('fixtures/attestation/root-ca.pem')];
    await refused(
      join(META, 'test-blob.jwt'),
      other,
      /header x5c: the chain ends at ".*metadata root.*", none of the trusted/,
    );
    await refused(join(META, 'test-blob.jwt'), [], /no metadata root is trusted \(trust\.metadataRoots/);
  });

  it('refuses what is not a BLOB or a statement, naming the file and what was wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-mds-'));
    writeFileSync(join(dir, 'x.jwt'), 'not a token');
    await refused(join(dir, 'x.jwt'), ROOTS, /x\.jwt: not a JWT/);
    writeFileSync(join(dir, 's.json'), '{"upv": "1.2"}');
    await refused(join(dir, 's.json'), [], /s\.json: upv: /);
    const [head, body, sig] = readFileSync(join(META, 'test-blob.jwt'), 'utf8').trim().split('.');
    const noX5c = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString('base64url');
    writeFileSync(join(dir, 'n.jwt'), `${noX5c}.${body}.${sig}`);
    await refused(join(dir, 'n.jwt'), ROOTS, /header x5c: absent/);
    assert.ok(head);
    await refused(join(dir, 'absent.json'), [], /cannot read it/);
  });
});
