import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, KeyObject, webcrypto } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, FIXTURES, stationCopy as station, tmp } from '../support/spawn.ts';

/** Every byte a run left behind: its output and each file in its results folder. */
function everything(r: { stdout: string; stderr: string }, dir: string): string {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1'));
  return [r.stdout, r.stderr, ...files].join('\n');
}

describe('rig security (end to end, spawned)', function () {
  this.timeout(300_000);

  it('device-provided strings are escaped in the console and the report environment', async () => {
    const dir = tmp();
    const evil = '"Evil\\nstatus=passed\\e[2J\\e[32m\\u202Eexe.txt"';
    const file = station(dir, (y) => y.replace('product: Emulated MitID chip', `product: ${evil}`));
    const results = join(dir, 'results');
    const r = await chiprig([
      'run',
      '--station',
      file,
      '--suite',
      'hid',
      '--grep',
      'HID-DESC',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(
      r.stdout + r.stderr,
      /(?!\n)[\p{Cc}\u202e]/u,
      'a raw escape or bidi override reached the terminal',
    );
    const env = readFileSync(join(results, 'environment.properties'), 'utf8');
    assert.doesNotMatch(env, /(?!\n)[\p{Cc}\u202e]/u);
    assert.doesNotMatch(env, /^status=/m, 'a device string forged a line of environment.properties');
    // Shown escaped (\u{a}), then written by the .properties rules (\\ and \=).
    assert.match(env, /USB product=Evil\\\\u\{a\}status\\=passed\\\\u\{1b\}\[2J/);
  });

  it('the emulator refuses an attestation certificate not marked as a test one (exit 2)', async () => {
    const dir = tmp();
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(alg, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=Acme Authenticator Attestation, O=Acme',
      notBefore: new Date('2024-01-01'),
      notAfter: new Date('2040-01-01'),
      keys,
      signingAlgorithm: alg,
    });
    writeFileSync(join(dir, 'cert.pem'), cert.toString('pem'));
    writeFileSync(
      join(dir, 'key.pem'),
      KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }),
    );
    const file = station(dir, (y) =>
      y
        .replace(`${FIXTURES}attestation/batch-cert.pem`, join(dir, 'cert.pem'))
        .replace(`${FIXTURES}attestation/batch-key.pem`, join(dir, 'key.pem')),
    );
    const r = await chiprig([
      'run',
      '--station',
      file,
      '--suite',
      'u2f',
      '--results',
      join(dir, 'results'),
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.USAGE, `exit ${r.code}\n${r.stderr}`);
    assert.match(
      r.stderr,
      /not marked as a test certificate .*never signs with a production attestation key/,
    );
  });

  it('no private key reaches the output or the report: not the attestation key, not any PEM key', async () => {
    const results = tmp();
    const report = tmp();
    const r = await chiprig([
      'run',
      '--suite',
      'security,u2f',
      '--grep',
      'SEC-|U2F-REG',
      '--results',
      results,
      '--report',
      report,
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`);
    const jwk = createPrivateKey(readFileSync(join(FIXTURES, 'attestation/batch-key.pem'))).export({
      format: 'jwk',
    });
    const d = Buffer.from(jwk.d!, 'base64url');
    const all = `${everything(r, results)}\n${everything({ stdout: '', stderr: '' }, report)}`;
    for (const [form, text] of [
      ['hex', d.toString('hex')],
      ['HEX', d.toString('hex').toUpperCase()],
      ['base64', d.toString('base64')],
      ['base64url', d.toString('base64url')],
    ] as const) {
      assert.ok(!all.includes(text), `the attestation private key appears in the output (${form})`);
    }
    assert.doesNotMatch(all, /PRIVATE KEY-----/, 'a PEM private key appears in the output');
  });
});
