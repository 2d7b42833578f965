import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, tmp } from '../support/spawn.ts';

/** The identity fields of environment.properties (as Allure reads them, unescaped). */
function environment(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(dir, 'environment.properties'), 'utf8').split('\n')) {
    const m = /^((?:[^=\\]|\\.)*)=(.*)$/.exec(line);
    if (m) out[m[1]!.replace(/\\(.)/g, '$1')] = m[2]!.replace(/\\(.)/g, '$1');
  }
  return out;
}

interface Result {
  name: string;
  parameters: { name: string; value: string; excluded?: boolean }[];
}

function results(dir: string): Result[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('-result.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Result);
}

const EXPECTED = {
  'USB manufacturer': 'chiprig',
  'USB product': 'Emulated MitID chip',
  'USB vendor:product': '1209:0001',
  'USB serial': 'EMU-0001',
  'USB bcdDevice': '1.00 (0x0100)',
  'BLE manufacturer': 'chiprig',
  'BLE model': 'Emulated MitID chip',
  'BLE serial': 'EMU-0001',
  'BLE firmware revision': '1.0.0',
  'BLE hardware revision': 'A',
  'attestation key id': '8cf24f2667ca33b580f68c2c4d13f7bb4a91229a',
  batch: 'EMU-BATCH-1',
  'hardware revision': 'emulated rev A',
  'firmware build': 'emulated 1.0.0',
};

describe('device identity (spawned chiprig run, recorded and replayed)', function () {
  this.timeout(120_000);

  it('ID-E2E-01 every result, the environment, JUnit, the outcomes and the recording carry the identity; the replay shows the same', async () => {
    const dir = tmp();
    const recording = join(dir, 'run.jsonl');
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const grep = ['--suite', 'u2f', '--grep', 'U2F-REG-0[12]|U2F-AUTH-01 ', '--no-html'];
    const rec = await chiprig(['run', ...grep, '--record', recording, '--results', a]);
    assert.equal(rec.code, EXIT.PASSED, rec.stdout + rec.stderr);

    const env = environment(a);
    for (const [field, value] of Object.entries(EXPECTED)) assert.equal(env[field], value, field);
    assert.match(env['attestation subject'] ?? '', /TEST/);
    assert.match(env['attestation serial'] ?? '', /^[0-9a-f]+$/);

    const all = results(a);
    assert.ok(all.length >= 6, `${all.length} results`);
    for (const r of all) {
      const p = Object.fromEntries(r.parameters.map((x) => [x.name, x]));
      for (const [field, value] of Object.entries(EXPECTED)) {
        assert.equal(p[`device: ${field}`]?.value, value, `${r.name}: parameter "device: ${field}"`);
        // Kept out of the history ID: a new firmware keeps the test's history.
        assert.equal(p[`device: ${field}`]?.excluded, true);
      }
    }

    const junit = readFileSync(join(a, 'junit.xml'), 'utf8');
    assert.match(junit, /<property name="device: USB serial" value="EMU-0001"\/>/);
    assert.match(junit, /<property name="device: firmware build" value="emulated 1.0.0"\/>/);
    const outcomes = JSON.parse(readFileSync(join(a, 'chiprig-outcomes.json'), 'utf8'));
    assert.equal(outcomes.run.identity['USB serial'], 'EMU-0001');
    const header = JSON.parse(readFileSync(recording, 'utf8').split('\n')[0]!);
    assert.deepEqual(header.identity, outcomes.run.identity);

    const replay = await chiprig(['run', '--device', `replay:${recording}`, '--no-html', '--results', b]);
    assert.equal(replay.code, EXIT.PASSED, replay.stdout + replay.stderr);
    assert.deepEqual(
      JSON.parse(readFileSync(join(b, 'chiprig-outcomes.json'), 'utf8')).run.identity,
      outcomes.run.identity,
    );
    for (const [field, value] of Object.entries(EXPECTED)) assert.equal(environment(b)[field], value, field);
    for (const r of results(b)) {
      const p = Object.fromEntries(r.parameters.map((x) => [x.name, x.value]));
      assert.equal(p['device: USB serial'], 'EMU-0001', r.name);
      assert.equal(p['device: attestation key id'], EXPECTED['attestation key id'], r.name);
    }
  });
});
