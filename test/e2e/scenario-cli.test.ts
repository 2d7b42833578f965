import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { EXAMPLES_DIR, loadScenarios } from '../../rig/scenario/active.ts';
import { chiprig, FIXTURES, readResults, tmp } from '../support/spawn.ts';

type Result = ReturnType<typeof readResults>[number] & {
  steps?: { name: string; status?: string; steps?: unknown[]; attachments?: { name: string }[] }[];
};

describe('Scenario files through chiprig run (end to end, spawned)', function () {
  this.timeout(180_000);

  it('SCN-05 chiprig run --scenario runs the examples on the default station: a test each, an Allure step per scenario step with its traffic (exit 0)', async () => {
    const dir = tmp();
    const r = await chiprig(['run', '--scenario', EXAMPLES_DIR, '--results', dir, '--no-html']);
    assert.equal(r.code, EXIT.PASSED, `${r.stdout.slice(-3000)}\n${r.stderr}`);
    const results = readResults(dir) as Result[];
    assert.equal(results.length, loadScenarios([EXAMPLES_DIR]).length);
    const login = results.find((t) => t.name.startsWith('SCN-MITID-LOGIN-USB'))!;
    const steps = login.steps!.filter((s) => s.name.startsWith('step '));
    assert.deepEqual(
      steps.map((s) =>
        /^step (\S+) \(scenarios\/mitid-login-usb\.yaml:(\d+)\)/.exec(s.name)?.slice(1).join(':'),
      ),
      ['1:10', '2:13', '3:17', '4:18', '5:22'],
    );
    const second = steps[1]!;
    const traffic = JSON.stringify(second).includes('traffic (hex)');
    assert.ok(traffic, 'step 2 carries its traffic');
    assert.equal(
      (steps[4]!.steps ?? []).filter((s) => JSON.stringify(s).includes('round')).length,
      3,
      'three rounds',
    );
  });

  it('SCN-06 a wrong expectation fails the scenario naming the step, the file and line, and the bytes (exit 1)', async () => {
    const dir = tmp();
    const r = await chiprig([
      'run',
      '--scenario',
      join(FIXTURES, 'scenarios/wrong-expectation.yaml'),
      '--results',
      dir,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.FAILED, `${r.stdout.slice(-3000)}\n${r.stderr}`);
    const [result] = readResults(dir) as Result[];
    assert.equal(result!.status, 'failed');
    assert.match(
      result!.statusDetails?.message ?? '',
      /step 2 \(fixtures\/scenarios\/wrong-expectation\.yaml:8\): the response data differs \(response data 5532465f5632\)/,
    );
    const steps = result!.steps!.filter((s) => s.name.startsWith('step '));
    assert.deepEqual(
      steps.map((s) => s.status),
      ['passed', 'failed'],
      'the failing step is marked, and the steps after it do not run',
    );
  });

  it('SCN-07 a malformed file is refused with its line before anything runs (exit 2)', async () => {
    const r = await chiprig([
      'run',
      '--scenario',
      join(FIXTURES, 'scenarios/malformed.yaml'),
      '--no-html',
      '--results',
      tmp(),
    ]);
    assert.equal(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /scenario .*malformed\.yaml:7: field "steps\.1": Unrecognized key: "regster"/);
    assert.doesNotMatch(r.stdout, /PASS|FAIL/);
  });

  it('SCN-08 a broken chip fails the MitID login scenario at the step that checks the flags (exit 1)', async () => {
    const dir = tmp();
    const r = await chiprig([
      'run',
      '--device',
      'emulator:wrong-flags',
      '--scenario',
      join(EXAMPLES_DIR, 'mitid-login-usb.yaml'),
      '--results',
      dir,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.FAILED, r.stdout.slice(-3000));
    const [result] = readResults(dir);
    assert.match(
      result!.statusDetails?.message ?? '',
      /step 4 \(.*mitid-login-usb\.yaml:18\): expected flags 0x01, got 0x05/,
    );
  });
});
