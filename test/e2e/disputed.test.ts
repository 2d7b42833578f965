import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { EMULATOR_DISPUTED } from '../../rig/emulator/disputed.ts';
import { chiprig, FIXTURES, readResults, tmp } from '../support/spawn.ts';

/**
 * Fairness on disputed points (fixtures/requirements.yaml, strength disputed): the default
 * emulated chip and one giving the other sanctioned answer on every point both pass, each
 * with its own answer recorded; a profile that narrows a point fails the other answer.
 */
const POINTS = Object.keys(EMULATOR_DISPUTED);
const GREP = `(^| )(${POINTS.join('|')}) `;
const ALTERNATIVE = join(FIXTURES, 'stations/emulated-alternative.yaml');

/** requirement ID → the observed behaviours recorded for it (one per transport). */
function observed(dir: string): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>();
  for (const r of readResults(dir)) {
    const id = r.name.split(' ')[0]!;
    for (const p of r.parameters ?? []) {
      if (p.name !== 'observed behaviour') continue;
      if (!seen.has(id)) seen.set(id, new Set());
      seen.get(id)!.add(p.value);
    }
  }
  return seen;
}

describe('disputed points: every sanctioned answer passes (CLI)', function () {
  this.timeout(240_000);

  it('the default emulated chip passes them with its own answers, each recorded', async () => {
    const dir = tmp();
    const r = await chiprig(['run', '--grep', GREP, '--results', dir, '--no-html']);
    assert.equal(r.code, EXIT.PASSED, r.stdout + r.stderr);
    const seen = observed(dir);
    for (const [id, names] of Object.entries(EMULATOR_DISPUTED)) {
      assert.deepEqual([...(seen.get(id) ?? [])], [names[0]], `${id} observed`);
    }
  });

  it('the alternative chip passes under generic-u2f with the other answer on every point', async () => {
    const dir = tmp();
    const r = await chiprig(['run', '--station', ALTERNATIVE, '--grep', GREP, '--results', dir, '--no-html']);
    assert.equal(r.code, EXIT.PASSED, r.stdout + r.stderr);
    assert.match(r.stdout, /profile: generic-u2f/);
    const picks = parse(readFileSync(ALTERNATIVE, 'utf8')).emulator.disputed as Record<string, string>;
    assert.deepEqual(Object.keys(picks).sort(), [...POINTS].sort(), 'the fixture picks every point');
    const seen = observed(dir);
    for (const [id, pick] of Object.entries(picks)) {
      assert.notEqual(pick, EMULATOR_DISPUTED[id as keyof typeof EMULATOR_DISPUTED][0], `${id} pick`);
      assert.deepEqual([...(seen.get(id) ?? [])], [pick], `${id} observed`);
    }
  });

  it('a profile that narrows a point fails the other sanctioned answer, naming its source', async () => {
    const dir = tmp();
    const profile = join(dir, 'narrowing.yaml');
    const generic = readFileSync(join(FIXTURES, 'devices/generic-u2f.yaml'), 'utf8');
    writeFileSync(
      profile,
      `${generic}\ndisputed:\n  HID-MSG-01: { expect: invalid-len, source: "vendor datasheet §4.2" }\n`,
    );
    const r = await chiprig([
      'run',
      '--station',
      ALTERNATIVE,
      '--profile',
      profile,
      '--grep',
      '(^| )HID-MSG-01 ',
      '--results',
      dir,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.FAILED, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL\s+HID-MSG-01/);
    assert.match(
      r.stdout,
      /narrows this disputed point to invalid-len, as documented in vendor datasheet §4\.2/,
    );
  });

  it('an emulator pick no requirement sanctions is refused before the run (exit 2)', async () => {
    const dir = tmp();
    const station = join(dir, 'station.yaml');
    writeFileSync(
      station,
      readFileSync(ALTERNATIVE, 'utf8')
        .replaceAll('../', FIXTURES)
        .replace('HID-MSG-01: apdu-status', 'HID-MSG-01: silence'),
    );
    const r = await chiprig(['run', '--station', station, '--results', dir, '--no-html']);
    assert.equal(r.code, EXIT.USAGE, r.stdout + r.stderr);
    assert.match(r.stderr, /HID-MSG-01: "silence" is not one of invalid-len, apdu-status/);
  });
});
