import assert from 'node:assert/strict';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, FIXTURES, tmp } from '../support/spawn.ts';

const META = `${FIXTURES}metadata/`;
const run = (...args: string[]) =>
  chiprig(['run', '--suite', 'metadata', '--no-html', '--results', tmp(), ...args]);
const failedIds = (stdout: string) => [...stdout.matchAll(/FAIL\s+(\S+)/g)].map((m) => m[1]!);

/** Each metadata fault fixture, and the one case it must fail. */
const FAULTS: Record<string, string> = {
  'wrong-key-id.json': 'MDS-KEYID-01',
  'other-root.json': 'MDS-ROOT-01',
  'fido2-family.json': 'MDS-PROTO-01',
  'rsa-algorithm.json': 'MDS-ALG-01',
  'surrogate-attestation.json': 'MDS-ATT-01',
  'usb-only-hint.json': 'MDS-HINT-01',
  'revoked.jwt': 'MDS-STATUS-01',
};

describe('chiprig run --suite metadata (FIDO metadata statements and MDS3 BLOBs, spawned)', function () {
  this.timeout(120_000);

  it('MDS-E2E-01 the emulated chip passes against its test BLOB (the default station), and against its plain statement', async () => {
    const [blob, statement] = await Promise.all([
      run(),
      run('--metadata', `${META}mitid-chip-statement.json`),
    ]);
    assert.equal(blob.code, EXIT.PASSED, blob.stdout + blob.stderr);
    assert.match(blob.stdout, /total\s+7\s+0\s+0\s+0/);
    assert.equal(statement.code, EXIT.PASSED, statement.stdout + statement.stderr);
    // A statement has no status reports: that case says so and is skipped.
    assert.match(statement.stdout, /total\s+6\s+0\s+0\s+1/);
    assert.match(statement.stdout, /SKIP\s+MDS-STATUS-01/);
  });

  it('MDS-E2E-02 each metadata fault fails exactly its MDS case (exit 1), with what the statement says and what the device showed', async () => {
    const names = Object.keys(FAULTS);
    const outcomes = await Promise.all(names.map((name) => run('--metadata', `${META}faults/${name}`)));
    const wrong: string[] = [];
    outcomes.forEach((r, i) => {
      const name = names[i]!;
      const failed = failedIds(r.stdout);
      if (r.code !== EXIT.FAILED || failed.join() !== FAULTS[name])
        wrong.push(`${name}: exit ${r.code}, failed [${failed.join(' ')}], expected ${FAULTS[name]}`);
    });
    assert.deepEqual(wrong, []);
    const revoked = outcomes[names.indexOf('revoked.jwt')]!.stdout;
    assert.match(
      revoked,
      /REVOKED effective 2026-03-02 \(https:\/\/example\.invalid\/chiprig-test\/revocation\)/,
    );
    const keyId = outcomes[names.indexOf('wrong-key-id.json')]!.stdout;
    assert.match(keyId, /has key identifier 8cf24f2667ca33b580f68c2c4d13f7bb4a91229a/);
  });

  it('MDS-E2E-03 a BLOB with a bad signature or a passed nextUpdate is refused before anything runs (exit 2), naming the field', async () => {
    const [signature, expired] = await Promise.all([
      run('--metadata', `${META}faults/bad-signature.jwt`),
      run('--metadata', `${META}faults/expired.jwt`),
    ]);
    assert.equal(signature.code, EXIT.USAGE, signature.stdout + signature.stderr);
    assert.match(signature.stderr, /bad-signature\.jwt: signature: does not verify with the key of x5c\[0\]/);
    assert.equal(expired.code, EXIT.USAGE, expired.stdout + expired.stderr);
    assert.match(expired.stderr, /expired\.jwt: nextUpdate 2025-01-01 has passed/);
    assert.doesNotMatch(signature.stdout + expired.stdout, /PASS|FAIL/, 'nothing ran');
  });

  it('MDS-E2E-04 a station that names no metadata skips each case, saying how to name it', async () => {
    const r = await run('--station', `${FIXTURES}stations/emulated-lab.yaml`);
    assert.equal(r.code, EXIT.PASSED, r.stdout + r.stderr);
    assert.match(r.stdout, /total\s+0\s+0\s+0\s+7/);
  });
});
