import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import {
  CHECKOUT,
  type InstalledPackage,
  labEnv,
  median,
  packAndInstall,
  versionStartMs,
} from '../support/package.ts';
import { readResults, tmp } from '../support/spawn.ts';

/** The installed `chiprig`, run from a folder outside the checkout, as in a lab. */
function installed(
  pkg: InstalledPackage,
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [pkg.bin, ...args],
      { cwd, timeout: 300_000, env: { ...labEnv(), CHIPRIG_QUIET_SKIPS: '1' }, maxBuffer: 32 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the installable package (npm pack, npm install -g, chiprig run; end to end)', function () {
  this.timeout(900_000);
  let pkg: InstalledPackage;
  let cwd: string;
  const version = (JSON.parse(readFileSync(join(CHECKOUT, 'package.json'), 'utf8')) as { version: string })
    .version;

  before(async () => {
    pkg = await packAndInstall();
    cwd = tmp();
    process.stdout.write(
      `      npm pack (with the build) ${(pkg.packMs / 1000).toFixed(1)} s, ${(pkg.size / 1000).toFixed(0)} kB (${pkg.files.length} files); npm install -g ${(pkg.installMs / 1000).toFixed(1)} s\n`,
    );
  });
  after(() => pkg?.remove());

  it('ships the built JavaScript and the data files a run reads, no TypeScript sources and no tests', () => {
    for (const f of [
      'bin/chiprig.js',
      'dist/rig/cli/main.js',
      'dist/rig/paths.js',
      'dist/suites/u2f/register.spec.js',
      'dist/suites/scenarios/scenarios.spec.js',
      'fixtures/requirements.yaml',
      'fixtures/stations/emulated.yaml',
      'fixtures/devices/mitid-chip.yaml',
      'fixtures/attestation/batch-cert.pem',
      'fixtures/vectors/u2f-spec.json',
      'scenarios/mitid-login-usb.yaml',
      'schemas/scenario.schema.json',
      'allurerc.mjs',
      'scripts/fido2-crosscheck.py',
      'CHANGELOG.md',
      'README.md',
    ]) {
      assert.ok(pkg.files.includes(f), `the tarball has ${f}`);
    }
    const ts = pkg.files.filter((f) => f.endsWith('.ts'));
    assert.deepEqual(ts, [], 'no TypeScript in the tarball (bin/chiprig.js would run the sources)');
    assert.deepEqual(
      pkg.files.filter((f) => /\.test\.js$|support\.js$|fifo-device-shim\.js$/.test(f)),
      [],
      'no tests or test support',
    );
    assert.equal(existsSync(join(pkg.root, 'node_modules', 'tsx')), false, 'tsx is not installed with it');
  });

  it('chiprig --version prints the version from the built package (its start-up time is printed; npm run bench judges it)', async () => {
    const r = await installed(pkg, ['--version'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
    const times = versionStartMs(pkg.bin, 5, cwd);
    process.stdout.write(
      `      chiprig --version: median ${median(times).toFixed(0)} ms (${times.map((t) => t.toFixed(0)).join(', ')})\n`,
    );
  });

  it('runs the u2f suite on the emulated chip from the installed package: exit 0, every result on disk', async () => {
    const results = tmp();
    const report = tmp();
    const r = await installed(pkg, ['run', '--suite', 'u2f', '--results', results, '--report', report], cwd);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const all = readResults(results);
    assert.ok(all.length >= 100, `${all.length} results`);
    assert.ok(
      all.every((x) => x.status === 'passed'),
      all
        .filter((x) => x.status !== 'passed')
        .map((x) => `${x.name}: ${x.status}`)
        .join('\n'),
    );
    for (const f of ['junit.xml', 'conformance-matrix.md', 'chiprig-outcomes.json']) {
      assert.ok(existsSync(join(results, f)), f);
    }
    assert.ok(existsSync(join(report, 'index.html')), 'the HTML report (allurerc.mjs of the package)');
    assert.match(r.stdout, /U2F-VER-01 {3}required/, 'the matrix names requirements from requirements.yaml');
  });

  it('keeps the exit codes: a missing station file is 2; a device failure is 1, also in per-device workers', async () => {
    const missing = await installed(pkg, ['run', '--station', join(cwd, 'no-such-station.yaml')], cwd);
    assert.equal(missing.code, EXIT.USAGE, missing.stderr);
    assert.match(missing.stderr, /no-such-station\.yaml/);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');

    // Three emulated chips, one with wrong flags, each in a worker started from the package.
    const results = tmp();
    const three = await installed(
      pkg,
      [
        'run',
        '--station',
        join(pkg.root, 'fixtures/stations/emulated-three.yaml'),
        '--suite',
        'u2f',
        '--grep',
        'U2F-AUTH-08',
        '--results',
        results,
        '--no-html',
      ],
      cwd,
    );
    assert.equal(
      three.code,
      EXIT.FAILED,
      `exit ${three.code}\n${three.stdout.slice(-3000)}\n${three.stderr}`,
    );
    assert.match(three.stdout, /^\[chip-b\] \[\s*\d+\/\d+\] FAIL\s+U2F-AUTH-08/m);
    for (const id of ['chip-a', 'chip-c']) {
      const all = readResults(join(results, id));
      assert.ok(all.length > 0 && all.every((x) => x.status === 'passed'), `${id} passes`);
    }
  });
});
