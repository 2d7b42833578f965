import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, FIXTURES, tmp } from '../support/spawn.ts';

const U2F = ['--suite', 'u2f', '--transport', 'hid', '--no-html'];
/** Latency and battery figures with sample intervals, beside the U2F verdicts. */
const MEASURED = [
  '--suite',
  'u2f,perf,env',
  '--transport',
  'hid',
  '--grep',
  'U2F-|PERF-LAT-0[12]|ENV-BATT-02',
  '--no-html',
];

describe('certification evidence: chiprig compare and chiprig bundle (spawned)', function () {
  this.timeout(240_000);

  it('EVD-01 compare: a clean run against a wrong-flags run lists U2F-AUTH-08 as a new failure (exit 1); two clean runs exit 0, no measurement flagged', async () => {
    const dir = tmp();
    const [clean1, clean2, broken] = [join(dir, 'c1'), join(dir, 'c2'), join(dir, 'wf')];
    const runs = await Promise.all([
      chiprig(['run', ...MEASURED, '--results', clean1]),
      chiprig(['run', ...U2F, '--device', 'emulator:wrong-flags', '--results', broken]),
    ]);
    assert.equal(runs[0].code, EXIT.PASSED, runs[0].stdout.slice(-2000) + runs[0].stderr);
    assert.equal(runs[1].code, EXIT.FAILED, runs[1].stdout.slice(-2000) + runs[1].stderr);
    const second = await chiprig(['run', ...MEASURED, '--results', clean2]);
    assert.equal(second.code, EXIT.PASSED, second.stdout.slice(-2000) + second.stderr);

    const json = join(dir, 'c.json');
    const md = join(dir, 'c.md');
    const bad = await chiprig(['compare', clean1, broken, '--json', json, '--markdown', md]);
    assert.equal(bad.code, EXIT.FAILED, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /NEW FAILURES \(\d+\):\n(?:.*\n)*\s+U2F-AUTH-08 hid\s+passed -> failed/);
    assert.match(bad.stdout, /B REGRESSED against A/);
    const c = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(c.format, 'chiprig-compare/1');
    assert.equal(c.regressed, true);
    assert.ok(
      c.newFailures.some((f: { key: string }) => f.key === 'U2F-AUTH-08 hid'),
      JSON.stringify(c.newFailures),
    );
    assert.match(readFileSync(md, 'utf8'), /\| U2F-AUTH-08 hid \| passed \| failed \|/);
    // Fixed the other way round: not a regression.
    assert.equal((await chiprig(['compare', broken, clean1])).code, EXIT.PASSED);

    const same = await chiprig(['compare', clean1, clean2, '--json', json]);
    assert.equal(same.code, EXIT.PASSED, same.stdout + same.stderr);
    const s = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(s.newFailures.length, 0);
    assert.deepEqual(s.measurementChanges, [], 'two clean runs: no measurement beyond noise');
    assert.ok(s.measurements.compared >= 10, `${s.measurements.compared} measurements compared`);
    assert.ok(
      s.measurements.compared - s.measurements.unjudged >= 5,
      'most latency and battery figures carry intervals',
    );
    assert.ok(
      s.identity.every((r: { changed: boolean }) => !r.changed),
      'the same device',
    );
    assert.match(same.stdout, /no regression/);

    const usage = await chiprig(['compare', clean1, join(dir, 'nope')]);
    assert.equal(usage.code, EXIT.USAGE);
    assert.match(usage.stderr, /nope: no such file or folder/);
  });

  it('EVD-02 bundle: packs and signs a run; verify passes, and names any file in it changed by one byte (exit 1)', async () => {
    const dir = tmp();
    const results = join(dir, 'r');
    const recording = join(dir, 'rec.jsonl');
    const run = await chiprig([
      'run',
      ...U2F,
      '--grep',
      'U2F-REG-0[12]',
      '--record',
      recording,
      '--results',
      results,
    ]);
    assert.equal(run.code, EXIT.PASSED, run.stdout + run.stderr);
    const out = join(dir, 'evidence.tar.gz');
    const made = await chiprig(['bundle', results, '--out', out]);
    assert.equal(made.code, EXIT.PASSED, made.stdout + made.stderr);
    const ok = await chiprig(['bundle', 'verify', out]);
    assert.equal(ok.code, EXIT.PASSED, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /verified: \d+ files match the manifest signed by key [0-9a-f]{64}/);

    const unpacked = join(dir, 'x');
    mkdirSync(unpacked, { recursive: true });
    await tar.extract({ file: out, cwd: unpacked });
    const names = await listOf(out);
    for (const want of [
      'manifest.dsse.json',
      'report/index.html',
      'results/conformance-matrix.md',
      'results/junit.xml',
      'results/chiprig-outcomes.json',
      'requirements.yaml',
      'device-profile/mitid-chip.yaml',
      'station/emulated.yaml',
      'metadata/test-blob.jwt',
      'identity.json',
      'recordings/rec.jsonl',
    ]) {
      assert.ok(names.includes(want), `${want} in the bundle: ${names.join(', ')}`);
    }
    assert.equal(JSON.parse(readFileSync(join(unpacked, 'identity.json'), 'utf8'))['USB serial'], 'EMU-0001');
    const envelope = JSON.parse(readFileSync(join(unpacked, 'manifest.dsse.json'), 'utf8'));
    assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.equal(statement.subject.length, names.length - 1);

    // One byte changed in each file in turn: verify names that file, and only it.
    for (const name of names) {
      const path = join(unpacked, name);
      const original = readFileSync(path);
      const changed = Buffer.from(original);
      const at = Math.floor(changed.length / 2);
      changed[at] = changed[at]! ^ 0x01;
      writeFileSync(path, changed);
      const tampered = join(dir, 'tampered.tar.gz');
      await tar.create({ gzip: true, file: tampered, cwd: unpacked, portable: true }, names);
      writeFileSync(path, original);
      const v = await chiprig(['bundle', 'verify', tampered], 60_000);
      assert.equal(v.code, EXIT.FAILED, `${name}: ${v.stdout}${v.stderr}`);
      const problems = v.stdout.split('\n').filter((l) => l.includes('CHANGED'));
      assert.equal(problems.length, 1, `${name}: ${v.stdout}`);
      assert.ok(problems[0]!.includes(`CHANGED  ${name}:`), `${name}: ${problems[0]}`);
    }

    // Trusting another key than the one that signed: refused, naming the manifest.
    const otherKey = join(dir, 'other.pub.pem');
    writeFileSync(otherKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const other = await chiprig(['bundle', 'verify', out, '--key', otherKey]);
    assert.equal(other.code, EXIT.FAILED, other.stdout + other.stderr);
    assert.match(
      other.stdout,
      /CHANGED {2}manifest\.dsse\.json: signed by key [0-9a-f]{64}, not by the trusted key/,
    );
    // A key of another kind is a usage error, named.
    const ec = await chiprig(['bundle', 'verify', out, '--key', join(FIXTURES, 'metadata/mds-root.pem')]);
    assert.equal(ec.code, EXIT.USAGE);
    assert.match(ec.stderr, /a ec key; the bundle is signed with Ed25519/);
  });
});

async function listOf(file: string): Promise<string[]> {
  const names: string[] = [];
  await tar.list({ file, onReadEntry: (e) => names.push(e.path) });
  return names;
}
