import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmp } from '../../test/support/spawn.ts';
import { hex } from '../bytes.ts';
import { ConfigError } from '../errors.ts';
import { EXAMPLES_DIR, loadScenarios } from './active.ts';
import { loadScenario } from './load.ts';
import { scenarioJsonSchema } from './schema.ts';
import { value } from './values.ts';

const SCHEMA_FILE = new URL('../../schemas/scenario.schema.json', import.meta.url).pathname;

/** A scenario file in a temporary folder. */
function scenarioFile(text: string): string {
  const path = join(tmp(), 'scenario.yaml');
  writeFileSync(path, text);
  return path;
}

const HEAD = 'scenario: t\nid: SCN-T-1\ntransport: hid\nsteps:\n';

describe('Scenario files: the format, its checks and the runner', function () {
  this.timeout(180_000);

  it('SCN-01 every shipped example loads, and each MitID user flow has one', () => {
    const all = loadScenarios([EXAMPLES_DIR]);
    const ids = all.map((s) => s.scenario.id);
    for (const id of [
      'SCN-MITID-ACTIVATE-BLE',
      'SCN-MITID-FIRST-USE',
      'SCN-MITID-LOGIN-USB',
      'SCN-MITID-NFC-TAP',
      'SCN-MITID-NFC-PRESS',
    ]) {
      assert.ok(ids.includes(id), `${id} among ${ids.join(', ')}`);
    }
    assert.equal(all.find((s) => s.scenario.id === 'SCN-MITID-ACTIVATE-BLE')?.scenario.transport, 'ble');
  });

  it('SCN-02 the published JSON Schema is the one the scenario schema generates (npm run schema)', () => {
    const published = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
    assert.deepEqual(published, JSON.parse(JSON.stringify(scenarioJsonSchema())), 'run npm run schema');
    assert.equal(published.properties.transport.enum.join(','), 'hid,nfc,ble');
  });

  it('SCN-03 malformed files are refused with the line: YAML, schema, actions, transports, variables, hex', () => {
    const refused = (text: string, pattern: RegExp) =>
      assert.throws(
        () => loadScenario(scenarioFile(text)),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    refused(
      `${HEAD}  - version: {}\n  - regster: {}\n`,
      /scenario\.yaml:6: field "steps\.1": Unrecognized key: "regster"/,
    );
    refused(
      `${HEAD}  - version: {}\n    wait: 5\n`,
      /scenario\.yaml:5: field "steps\.0": a step has one action, not version and wait/,
    );
    refused(
      `${HEAD}  - apdu: "00"\n    expect: { sw: 9000 }\n`,
      /scenario\.yaml:6: field "steps\.0\.expect\.sw"/,
    );
    refused(
      `${HEAD}  - tap: {}\n`,
      /scenario\.yaml:5: step 1: "tap" needs transport nfc; this scenario's is hid/,
    );
    refused(
      `${HEAD}  - version: {}\n  - authenticate: { keyHandle: "\${kh}" }\n`,
      /scenario\.yaml:6: step 2: \$\{kh\} is not captured by an earlier step/,
    );
    refused(`${HEAD}  - apdu: "00 0G"\n`, /scenario\.yaml:5: step 1: "00 0G" is not bytes/);
    refused(
      `${HEAD}  - wait: 1\n    capture: { x: data }\n`,
      /scenario\.yaml:6: step 1: "wait" has no "data" to capture/,
    );
    refused(`${HEAD}  - version: {\n`, /scenario\.yaml:\d+: not valid YAML/);
    refused(
      `${HEAD}  - repeat:\n      count: 2\n      steps:\n        - ctaphid: { cmd: PING, data: "\${i}\${j}" }\n`,
      /scenario\.yaml:8: step 1\.1: \$\{j\} is not captured/,
    );
  });

  it('SCN-04 byte values: hex with spaces, sha256:, text:, random:N and variables', () => {
    const vars = new Map<string, Uint8Array | number>([
      ['kh', Uint8Array.of(0xde, 0xad)],
      ['n', 258],
    ]);
    assert.equal(hex(value({ vars }, '00 a4:04 00')), '00a40400');
    assert.equal(
      hex(value({ vars }, 'sha256:abc')),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    assert.equal(hex(value({ vars }, 'text:U2F')), '553246');
    assert.equal(value({ vars }, 'random:7').length, 7);
    assert.equal(hex(value({ vars }, `ff\${kh}\${n}`)), 'ffdead0102');
  });
});
