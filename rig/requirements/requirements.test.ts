import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EMULATOR_DISPUTED } from '../emulator/disputed.ts';
import { isDeviceFailure } from '../errors.ts';
import { GENERIC_PROFILE, loadDeviceProfile, profilePath } from '../station/device-profile.ts';
import {
  judgeDisputed,
  REQUIREMENTS_FILE,
  type Requirement,
  Requirements,
  requirements,
} from './requirements.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CASE_ID = /^([A-Z0-9]+(?:-[A-Z0-9]+)+)\s/;

/** The case IDs the suites declare, from a mocha dry run against the default station. */
async function declaredIds(): Promise<Set<string>> {
  const mocha = join(ROOT, 'node_modules/mocha/bin/mocha.js');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [mocha, '--config', '.mocharc.suites.json', '--dry-run', '--reporter', 'json'],
    { cwd: ROOT, maxBuffer: 64 << 20, env: { ...process.env, CHIPRIG_QUIET_SKIPS: '1' } },
  );
  const tests = (JSON.parse(stdout) as { tests: { title: string }[] }).tests;
  assert.ok(tests.length > 100, `the dry run listed only ${tests.length} tests`);
  const ids = new Set<string>();
  for (const t of tests) {
    const id = CASE_ID.exec(t.title)?.[1];
    assert.ok(id, `test "${t.title}" has no case ID at the start of its title`);
    ids.add(id);
  }
  return ids;
}

describe('requirements file', function () {
  this.timeout(60_000);

  it('loads, schema-checked, with a strength and a source on every entry', () => {
    const list = requirements().list;
    assert.ok(list.length > 150);
    for (const r of list) assert.ok(r.source.length > 0 && r.strength, r.id);
    const disputed = list.filter((r) => r.strength === 'disputed');
    // Two or more sanctioned answers, or one catch-all where every answer is only recorded.
    for (const r of disputed) {
      const names = r.sanctioned?.map((s) => s.name) ?? [];
      assert.ok(names.length >= 2 || names[0] === 'recorded', `${r.id}: sanctioned ${names.join(', ')}`);
    }
  });

  it('covers every case the suites implement, and every entry has a test', async () => {
    const reqs = requirements();
    const ids = await declaredIds();
    // Scenario files are the lab's own cases (SCN-...), not catalogue requirements.
    const missing = [...ids].filter((id) => !id.startsWith('SCN-') && !reqs.get(id));
    assert.deepEqual(missing, [], `cases with a test but no entry in ${REQUIREMENTS_FILE}`);
    const untested = reqs.list
      .filter((r) => (r.series ? ![...ids].some((id) => id.startsWith(`${r.id}-`)) : !ids.has(r.id)))
      .map((r) => r.id);
    assert.deepEqual(untested, [], `entries of ${REQUIREMENTS_FILE} that no test checks`);
  });

  it('every point the emulator can vary is disputed there, with the same names', () => {
    for (const [id, names] of Object.entries(EMULATOR_DISPUTED)) {
      const sanctioned = requirements()
        .get(id)
        ?.sanctioned?.map((s) => s.name);
      assert.ok(sanctioned, `${id} is not disputed in the requirements file`);
      assert.deepEqual([...names].sort(), [...sanctioned].sort(), id);
    }
  });

  it('a series entry covers its numbered cases; unknown IDs are judged required', () => {
    const reqs = new Requirements([
      { id: 'ENV-TEMP', series: true, title: 't', transports: ['hid'], strength: 'required', source: 's' },
      { id: 'X-ADV-01', title: 't', transports: ['hid'], strength: 'advisory', source: 's' },
    ] as Requirement[]);
    assert.equal(reqs.get('ENV-TEMP-07')?.id, 'ENV-TEMP');
    assert.equal(reqs.get('X-ADV-01-02'), undefined);
    assert.equal(reqs.strengthOf('X-ADV-01'), 'advisory');
    assert.equal(reqs.strengthOf('SCN-LAB-01'), 'required');
  });
});

describe('judgeDisputed', () => {
  const req = requirements().get('HID-MSG-01')!;

  it('passes every sanctioned behaviour and says which, with its anchor', () => {
    for (const s of req.sanctioned!) {
      const said = judgeDisputed(req, s.name, 'MSG BCNT 0 answered …');
      assert.match(said, new RegExp(`HID-MSG-01 disputed point: ${s.name} \\(`));
      assert.match(said, /every sanctioned behaviour passes/);
    }
  });

  it('fails an answer that is none of them, listing what would pass, as a device failure', () => {
    assert.throws(
      () => judgeDisputed(req, undefined, 'MSG BCNT 0 answered 00000001bf0001ff'),
      (e: Error) =>
        isDeviceFailure(e) &&
        /00000001bf0001ff is none of the sanctioned behaviours: invalid-len .*apdu-status/.test(e.message),
    );
  });

  it('a profile narrowing fails the other sanctioned answer and names its source', () => {
    const narrowing = { expect: 'invalid-len', source: 'datasheet rev C §4.2' };
    assert.match(
      judgeDisputed(req, 'invalid-len', 'x', narrowing),
      /as the profile requires \(datasheet rev C/,
    );
    assert.throws(
      () => judgeDisputed(req, 'apdu-status', 'x', narrowing),
      /narrows this disputed point to invalid-len, as documented in datasheet rev C §4\.2/,
    );
  });
});

describe('device profile: disputed narrowing is checked against the requirements', () => {
  const withDisputed = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'chiprig-profile-')), 'p.yaml');
    writeFileSync(path, `${readFileSync(profilePath(GENERIC_PROFILE), 'utf8')}\ndisputed:\n${text}\n`);
    return path;
  };

  it('accepts a sanctioned behaviour with its source', () => {
    const p = loadDeviceProfile(
      withDisputed('  HID-MSG-01: { expect: apdu-status, source: "manual p. 12" }'),
    );
    assert.equal(p.disputed?.['HID-MSG-01']?.expect, 'apdu-status');
  });

  it('refuses a point that is not disputed, and a name that is not sanctioned', () => {
    assert.throws(
      () => loadDeviceProfile(withDisputed('  U2F-REG-01: { expect: registers, source: "manual p. 12" }')),
      /disputed\.U2F-REG-01: not a disputed requirement/,
    );
    assert.throws(
      () => loadDeviceProfile(withDisputed('  HID-MSG-01: { expect: silence, source: "manual p. 12" }')),
      /"silence" is not a sanctioned behaviour of HID-MSG-01 \(use one of: invalid-len, apdu-status\)/,
    );
  });

  it('refuses the old choice keys with where they went', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'chiprig-profile-')), 'p.yaml');
    writeFileSync(
      path,
      readFileSync(profilePath(GENERIC_PROFILE), 'utf8').replace(
        '  ctap2: false',
        '  ctap2: false\n  counterStep: 1',
      ),
    );
    assert.throws(() => loadDeviceProfile(path), /counterStep.*no longer a profile setting.*U2F-CTR-01/s);
  });
});
