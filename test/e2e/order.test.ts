import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, tmp } from '../support/spawn.ts';

interface Outcomes {
  tests: { id: string | null; transport: string | null; title: string; outcome: string; message?: string }[];
}

/** Requirement ID × transport → outcome (and the message of a test that did not pass). */
function verdicts(results: string, prefix: string): Map<string, string> {
  const { tests } = JSON.parse(readFileSync(join(results, 'chiprig-outcomes.json'), 'utf8')) as Outcomes;
  return new Map(
    tests
      .filter((t) => t.id?.startsWith(prefix))
      .map((t) => [`${t.id} ${t.transport}`, `${t.outcome}${t.message ? `: ${t.message}` : ''}`]),
  );
}

/**
 * A verdict must not depend on what ran before. The environmental cases run alone and right
 * after the NFC suite (whose last signatures used to fall inside ENV-BATT-01's idle window and
 * made its charge per signature negative); --strict, so an advisory breach would fail too.
 */
describe('verdicts do not depend on the order (spawned)', function () {
  this.timeout(240_000);

  it('ENV-BATT-01/02 and ENV-PWR-01: the same verdicts alone and after the NFC suite, all passed', async () => {
    const env = 'ENV-BATT-0[12]|ENV-PWR-01';
    const alone = tmp();
    const after = tmp();
    // Both at once (separate processes, separate emulated chips): half the wall time.
    const [a, b] = await Promise.all([
      chiprig(['run', '--suite', 'env', '--grep', env, '--strict', '--results', alone, '--no-html']),
      chiprig([
        'run',
        '--suite',
        'nfc,env',
        '--grep',
        `NFC-|${env}`,
        '--strict',
        '--results',
        after,
        '--no-html',
      ]),
    ]);
    const first = verdicts(alone, 'ENV-');
    const second = verdicts(after, 'ENV-');
    assert.deepEqual([...first.keys()].sort(), ['ENV-BATT-01 hid', 'ENV-BATT-02 hid', 'ENV-PWR-01 hid']);
    assert.deepEqual(
      second,
      first,
      `alone:\n${[...first.values()].join('\n')}\nafter nfc:\n${[...second.values()].join('\n')}`,
    );
    for (const [cell, v] of first) assert.equal(v, 'passed', cell);
    assert.equal(a.code, EXIT.PASSED, a.stdout.slice(-2000));
    assert.equal(b.code, EXIT.PASSED, b.stdout.slice(-2000));
    // The NFC suite did run first.
    assert.ok(verdicts(after, 'NFC-').size > 20, 'the NFC suite ran before');
  });
});
