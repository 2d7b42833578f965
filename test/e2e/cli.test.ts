import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { requirements } from '../../rig/requirements/requirements.ts';
import { CHIPRIG_ENTRY, chiprig, SOURCE_BIN, specPathAsRun, stationCopy, tmp } from '../support/spawn.ts';

describe('chiprig CLI (end to end, spawned)', function () {
  this.timeout(300_000);

  it('runs the u2f and hid suites on the emulated chip: exit 0, >= 60 results, each with its catalogue ID', async () => {
    const results = tmp();
    const r = await chiprig(['run', '--suite', 'u2f,hid', '--results', results, '--no-html']);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const files = readdirSync(results).filter((f) => f.endsWith('-result.json'));
    assert.ok(files.length >= 60, `only ${files.length} results`);
    for (const f of files) {
      const result = JSON.parse(readFileSync(join(results, f), 'utf8'));
      const id = result.labels.find((l: { name: string }) => l.name === 'catalogueId')?.value;
      assert.match(id ?? '', /^(U2F|HID|NFC|BLE|XT|CT)-[A-Z0-9-]+$/, `${result.name} has no catalogue ID`);
      assert.ok(result.name.startsWith(id), `${result.name} does not start with ${id}`);
    }
    assert.match(readFileSync(join(results, 'environment.properties'), 'utf8'), /attestation subject=.*TEST/);
    assert.match(r.stdout, /total\s+\d+\s+0\s+0/);
    // Traceability: the conformance matrix (console, Markdown, report) and JUnit XML.
    assert.match(r.stdout, /Conformance matrix \(requirement × transport/);
    const matrix = readFileSync(join(results, 'conformance-matrix.md'), 'utf8');
    assert.match(matrix, /\| requirement \| strength \| USB HID \| NFC \| Bluetooth LE \|/);
    assert.match(matrix, /\| U2F-REG-04 \| required \| passed \| passed \| passed \|/);
    assert.match(matrix, /\| HID-INIT-01 \| required \| passed \| – \| – \|/);
    const junit = readFileSync(join(results, 'junit.xml'), 'utf8');
    assert.match(junit, new RegExp(`<testsuites tests="${files.length}" failures="0" errors="0"`));
    const globals = readdirSync(results).filter((f) => f.endsWith('-globals.json'));
    assert.equal(globals.length, 1, 'the matrix is attached to the report');
  });

  it("bin/chiprig.js in a checkout runs the TypeScript sources through tsx (the README's command)", async () => {
    if (CHIPRIG_ENTRY === SOURCE_BIN) {
      process.stdout.write('      (every spawned run here already goes through bin/chiprig.js)\n');
    }
    const args = ['run', '--suite', 'u2f', '--grep', 'U2F-VER-01 ', '--transport', 'hid', '--no-html'];
    const r = await chiprig([...args, '--results', tmp()], 60_000, {}, SOURCE_BIN);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`);
    assert.match(r.stdout, /PASS\s+U2F-VER-01/);
  });

  it('--history keeps Allure 3 history across runs, measurements included; it needs the HTML report', async () => {
    const dir = tmp();
    const history = join(dir, 'history.jsonl');
    for (let i = 0; i < 2; i++) {
      const r = await chiprig([
        'run',
        '--suite',
        'perf',
        '--transport',
        'hid',
        '--grep',
        'PERF-LAT-01',
        '--results',
        join(dir, 'results'),
        '--report',
        join(dir, 'report'),
        '--history',
        history,
      ]);
      assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr}`);
    }
    const runs = readFileSync(history, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(runs.length, 2, 'one history line per run');
    const names = Object.values(runs[1].testResults).map((t) => (t as { name: string }).name);
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('PERF-LAT-01')), names.join('; '));
    assert.ok(runs[1].metrics['PERF-LAT-01 hid device.p99'] > 0, JSON.stringify(runs[1].metrics));
    const r = await chiprig(['run', '--history', history, '--no-html']);
    assert.equal(r.code, EXIT.USAGE);
    assert.match(r.stderr, /--history: .*drop --no-html/);
  });

  it('selects tests by Allure test plan (ALLURE_TESTPLAN_PATH): requirement IDs and full names; a missing plan is exit 2', async () => {
    const dir = tmp();
    const plan = join(dir, 'testplan.json');
    const selector = `chiprig:${specPathAsRun('suites/hid/init-cid.spec.ts')}: USB HID · CTAPHID INIT > HID-INIT-01 broadcast INIT allocates a new channel`;
    writeFileSync(plan, JSON.stringify({ version: '1.0', tests: [{ id: 'U2F-REG-04' }, { selector }] }));
    const results = join(dir, 'results');
    const r = await chiprig(['run', '--suite', 'u2f,hid', '--results', results, '--no-html'], 120_000, {
      ALLURE_TESTPLAN_PATH: plan,
    });
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const names = readdirSync(results)
      .filter((f) => f.endsWith('-result.json'))
      .map((f) => JSON.parse(readFileSync(join(results, f), 'utf8')).name as string)
      .sort();
    // U2F-REG-04 on each of the three transports, and the one HID case by its full name.
    assert.equal(names.length, 4, names.join('\n'));
    assert.equal(names.filter((n) => n.startsWith('U2F-REG-04')).length, 3);
    assert.ok(names.some((n) => n.startsWith('HID-INIT-01')));
    assert.doesNotMatch(r.stdout, /SKIP/, 'tests the plan leaves out are not run, not skipped');
    const missing = await chiprig(['run', '--no-html', '--results', results], 60_000, {
      ALLURE_TESTPLAN_PATH: join(dir, 'none.json'),
    });
    assert.equal(missing.code, EXIT.USAGE);
    assert.match(missing.stderr, /ALLURE_TESTPLAN_PATH .*none\.json: cannot read the test plan/);
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ version: '1.0', tests: [{ id: 'U2F-REG-4' }] }));
    const wrong = await chiprig(['run', '--no-html', '--results', results], 60_000, {
      ALLURE_TESTPLAN_PATH: typo,
    });
    assert.equal(wrong.code, EXIT.USAGE);
    assert.match(wrong.stderr, /U2F-REG-4 is not in the requirements file/);
  });

  it('says no such device is attached, without a stack trace, for an absent HID key (exit 3)', async () => {
    const r = await chiprig([
      'run',
      '--device',
      'hid:1050:0407',
      '--presence',
      'auto',
      '--results',
      tmp(),
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.BROKEN, r.stderr);
    assert.match(r.stderr, /no such device is attached: hid:1050:0407|USB HID access is unavailable/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('chiprig devices lists serial ports, and says why, where udevadm is missing (exit 0)', async () => {
    // No PATH: serialport's Linux lister cannot spawn udevadm.
    const r = await chiprig(['devices', '--json'], 60_000, { PATH: '/nonexistent' });
    assert.equal(r.code, EXIT.PASSED, r.stderr);
    const out = JSON.parse(r.stdout); // stdout is the JSON document alone
    assert.ok(Array.isArray(out.serialPorts));
    if (process.platform === 'linux') {
      assert.ok(
        out.problems.some((p: string) => /serial ports: .*udevadm is not installed/.test(p)),
        out.problems.join('\n'),
      );
    }
  });

  it('exits 2 and names the bad flag for usage and configuration errors', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--suite', 'nope'], /--suite: unknown suite "nope"/],
      [['run', '--bogus'], /unknown option '--bogus'/],
      [['run', '--presence', 'psychic'], /--presence/],
      [['run', '--device', 'usb:1234'], /--device: "usb:1234" is not a device spec/],
      [['run', '--station', '/nonexistent/station.yaml'], /station file .*cannot read it/],
      [['run', '--grep', '('], /--grep/],
      [
        ['run', '--suite', 'perf', '--duration', 'ten minutes'],
        /--duration: "ten minutes" is not a duration/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await chiprig(args);
      assert.equal(r.code, EXIT.USAGE, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('a card leaving the field mid-APDU breaks one test with the reason; the rest run and every result is on disk', async () => {
    const results = tmp();
    const r = await chiprig([
      'run',
      '--suite',
      'nfc',
      '--device',
      'emulator:card-leaves-field',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.BROKEN, `exit ${r.code}\n${r.stdout.slice(-3000)}`);
    const broken = r.stdout.split('\n').filter((l) => /\bBROKE\b/.test(l));
    assert.equal(broken.length, 1, `expected exactly one broken test:\n${broken.join('\n')}`);
    assert.match(r.stdout, /BROKE .*\n\s+.*the card left the field/);
    assert.doesNotMatch(r.stdout, /\bFAIL\b/);
    const total = Number(/(\d+) tests in/.exec(r.stdout)?.[1]);
    const files = readdirSync(results).filter((f) => f.endsWith('-result.json'));
    assert.equal(files.length, total, `${files.length} results on disk for ${total} tests`);
  });

  it('judges only what the station can stage: presence auto skips the withheld-press cases; no roots skips SEC-ATT-01', async () => {
    const dir = tmp();
    // A chip whose test firmware approves by itself, and a station that trusts no root.
    const station = stationCopy(dir, (y) =>
      y
        .replace('device: emulator\n', 'device: emulator\npresence: auto\n')
        .replace('  presenceWindowMs: 10000\n', '  presenceWindowMs: 10000\n  approvesByItself: true\n')
        .replace(/\n {2}attestationRoots: \[[^\]]*\]\n/, '\n  attestationRoots: []\n'),
    );
    const r = await chiprig(
      [
        'run',
        '--station',
        station,
        '--suite',
        'u2f,security',
        '--transport',
        'hid',
        '--results',
        dir,
        '--no-html',
      ],
      240_000,
    );
    assert.equal(r.code, EXIT.PASSED, r.stdout.slice(-4000) + r.stderr);
    assert.doesNotMatch(r.stdout, /FAIL|BROKE/);
    for (const id of ['U2F-AUTH-01', 'U2F-REG-03', 'SEC-UP-01']) {
      assert.match(
        r.stdout,
        new RegExp(
          `SKIP\\s+${id} [^\\n]*\\n\\s+presence mode auto: the device approves by itself, so the rig cannot withhold a press`,
        ),
        id,
      );
    }
    assert.match(r.stdout, /SKIP\s+SEC-ATT-01 [^\n]*\n\s+[^\n]*no attestation root/);
  });

  it('an advisory breach is shown as its own outcome and exits 0; --strict fails it (exit 1)', async () => {
    assert.equal(requirements().strengthOf('PERF-LAT-03'), 'advisory');
    const args = ['run', '--suite', 'perf', '--grep', 'PERF-LAT-03', '--transport', 'hid'];
    const device = ['--device', 'emulator:slower-than-profile', '--no-html'];
    const results = tmp();
    // The two runs at once: each mostly waits out the slow chip's 900 ms signatures.
    const [lenient, strict] = await Promise.all([
      chiprig([...args, ...device, '--results', results]),
      chiprig([...args, '--strict', ...device, '--results', tmp()]),
    ]);
    assert.equal(lenient.code, EXIT.PASSED, lenient.stdout + lenient.stderr);
    assert.match(lenient.stdout, /ADVIS\s+PERF-LAT-03/);
    assert.match(lenient.stdout, /PERF-LAT-03\s+advisory\s+ADVISORY/, 'the matrix shows the breach');
    const junit = readFileSync(join(results, 'junit.xml'), 'utf8');
    assert.match(junit, /name="outcome" value="advisory"/);
    assert.equal(strict.code, EXIT.FAILED, strict.stdout + strict.stderr);
    assert.match(strict.stdout, /FAIL\s+PERF-LAT-03/);
  });
});
