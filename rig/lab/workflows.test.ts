import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;
const WORKFLOWS = join(ROOT, '.github/workflows');
const files = readdirSync(WORKFLOWS).filter((f) => f.endsWith('.yml'));
/** A GitHub Actions expression, as the workflow file spells it. */
const expr = (inner: string) => ['$', '{{ ', inner, ' }}'].join('');

function load(file: string) {
  const doc = parseDocument(readFileSync(join(WORKFLOWS, file), 'utf8'), {
    uniqueKeys: true,
    prettyErrors: true,
  });
  assert.deepEqual([...doc.errors, ...doc.warnings].map(String), [], file);
  return doc.toJS() as { on: unknown; jobs: Record<string, Record<string, unknown>> };
}

describe('.github/workflows', () => {
  it('every workflow parses (no duplicate keys) and every job says where it runs', () => {
    assert.ok(files.includes('ci.yml') && files.includes('nightly-hil.yml'), files.join(', '));
    for (const f of files) {
      const wf = load(f);
      assert.ok(wf.on, `${f}: no trigger`);
      for (const [name, job] of Object.entries(wf.jobs))
        assert.ok(job['runs-on'], `${f}: job ${name} has no runs-on`);
    }
  });

  it('ci runs npm test on Node 20, 22 and 24 with pcscd and vpcd', () => {
    const job = load('ci.yml').jobs.test!;
    assert.deepEqual((job.strategy as { matrix: { node: number[] } }).matrix.node, [20, 22, 24]);
    const runs = (job.steps as { run?: string }[]).map((s) => s.run ?? '').join('\n');
    assert.match(runs, /vsmartcard-vpcd/);
    assert.match(runs, /scripts\/pcscd-start\.sh/);
    assert.match(runs, /npm test/);
  });

  it('nightly-hil: the matrix from the generator, runners by capability label, one concurrency group per device, a merged report with history', () => {
    const { jobs } = load('nightly-hil.yml');
    const steps = (job: string) =>
      (jobs[job]!.steps as { run?: string; uses?: string }[]).map((s) => s.run ?? s.uses ?? '');
    assert.ok(steps('plan').some((s) => s.includes('scripts/hil-matrix.ts')));
    assert.ok(existsSync(join(ROOT, 'scripts/hil-matrix.ts')));
    assert.equal(jobs.hil!['runs-on'], expr('matrix.labels'));
    assert.deepEqual(jobs.hil!.concurrency, {
      group: expr('matrix.concurrency'),
      'cancel-in-progress': false,
    });
    assert.ok(steps('hil').some((s) => /chiprig run --station/.test(s)));
    assert.ok(steps('report').some((s) => /chiprig report .*--history/.test(s)));
  });

  it('the generator prints the matrix and writes it as a step output', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/hil-matrix.ts')], {
      encoding: 'utf8',
    });
    assert.equal(JSON.parse(out).include.length, 3);
  });

  it('yamllint passes on the workflows and the fixtures (where yamllint is installed)', function () {
    const probe = spawnSync('yamllint', ['--version']);
    if (probe.error) {
      process.stdout.write('      skipped: yamllint is not installed (apt-get install yamllint)\n');
      return this.skip();
    }
    const r = spawnSync(
      'yamllint',
      ['-c', join(ROOT, '.yamllint'), join(ROOT, '.github/workflows'), join(ROOT, 'fixtures')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
