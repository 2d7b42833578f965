/**
 * The results database from the command line: `chiprig run` writes each run as it goes,
 * `chiprig results` reads it back (list, show, query, export); a run stopped by a signal is
 * marked interrupted with what it had; several stations write to one PostgreSQL at once
 * (CHIPRIG_TEST_POSTGRES, which .ci/run sets).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { ResultsStore } from '../../rig/results/store.ts';
import { CHIPRIG_ENTRY, chiprig, FIXTURES, tmp } from '../support/spawn.ts';

const POSTGRES = process.env.CHIPRIG_TEST_POSTGRES;

describe('results database from the command line', function () {
  this.timeout(180_000);
  let dir: string;
  let db: string;
  before(() => {
    dir = tmp();
    db = join(dir, 'results.db');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('RESULTS-01 chiprig run writes the run; list, show, query and export read it back', async () => {
    const run = await chiprig([
      'run',
      '--suite',
      'u2f',
      '--transport',
      'hid',
      '--grep',
      'U2F-(VER|REG)-0',
      '--no-html',
      '--results',
      join(dir, 'r1'),
      '--db',
      db,
    ]);
    assert.equal(run.code, EXIT.PASSED, run.stderr);
    const id = /results database: .*, run ([0-9a-f-]{36})/.exec(run.stdout)?.[1];
    assert.ok(id, run.stdout.slice(-500));
    const tests = Number(/^(\d+) tests in /m.exec(run.stdout)?.[1]);

    const list = await chiprig(['results', 'list', '--db', db, '--serial', 'EMU-0001', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const runs = (
      JSON.parse(list.stdout) as { runs: { id: string; status: string; passed: number; firmware: string }[] }
    ).runs;
    assert.deepEqual(
      runs.map((r) => [r.id, r.status, r.passed, r.firmware]),
      [[id, 'passed', tests, 'emulated 1.0.0']],
    );
    assert.match(
      (await chiprig(['results', 'list', '--db', db, '--serial', 'NOT-THERE'])).stdout,
      /no runs in .* match/,
    );

    const show = await chiprig(['results', 'show', id.slice(0, 8), '--db', db]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`run ${id}: passed`));
    assert.match(show.stdout, /USB serial: EMU-0001/);
    assert.match(show.stdout, /passed {3}U2F-REG-01 /);

    const query = await chiprig(['results', 'query', '--db', db, '--requirement', 'U2F-REG-01', '--json']);
    const rows = (
      JSON.parse(query.stdout) as { results: { requirement: string; transport: string; outcome: string }[] }
    ).results;
    assert.ok(rows.length >= 1);
    assert.ok(
      rows.every((r) => r.requirement === 'U2F-REG-01' && r.transport === 'hid' && r.outcome === 'passed'),
    );

    const csvFile = join(dir, 'export.csv');
    const exp = await chiprig(['results', 'export', '--db', db, '--out', csvFile]);
    assert.equal(exp.code, 0, exp.stderr);
    const lines = readFileSync(csvFile, 'utf8').trimEnd().split('\r\n');
    assert.match(lines[0]!, /^run_id,started_at,station,device_serial,firmware,seq,requirement,/);
    assert.equal(lines.length, tests + 1);
    const json = await chiprig(['results', 'export', '--db', db, '--table', 'runs', '--format', 'json']);
    assert.equal((JSON.parse(json.stdout) as { runs: unknown[] }).runs.length, 1);

    const bad = await chiprig(['results', 'list', '--db', db, '--since', 'yesterday-ish']);
    assert.equal(bad.code, EXIT.USAGE);
    assert.match(bad.stderr, /--since: "yesterday-ish" is not a date/);
    const none = await chiprig(['results', 'show', 'ffffffff', '--db', db]);
    assert.equal(none.code, EXIT.BROKEN);
    assert.match(none.stderr, /no run "ffffffff"/);
  });

  it('RESULTS-02 a run stopped by SIGTERM is marked interrupted, with every result it had', async () => {
    const child = spawn(
      process.execPath,
      [CHIPRIG_ENTRY, 'run', '--suite', 'u2f,perf', '--no-html', '--results', join(dir, 'r2'), '--db', db],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!/\[\s*20\/\d+\]/.test(out)) {
      assert.ok(Date.now() < deadline, out.slice(-1000));
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 143, out.slice(-1000));
    assert.match(out, /stopped by SIGTERM: the run is marked interrupted in the results database/);
    const printed = (out.match(/^\[\s*\d+\/\d+\]/gm) ?? []).length;
    const store = await ResultsStore.open(db);
    try {
      const [run] = await store.listRuns({ limit: 1 });
      assert.equal(run!.status, 'interrupted');
      assert.equal(run!.note, 'stopped by SIGTERM');
      const results = await store.results(run!.id);
      assert.ok(results.length >= printed, `${results.length} stored, ${printed} printed`);
      assert.equal(run!.passed, results.filter((r) => r.outcome === 'passed').length);
    } finally {
      await store.close();
    }
  });

  describe('several stations, one PostgreSQL', () => {
    let url: string;
    before(async function () {
      if (!POSTGRES) {
        if (process.env.CI)
          throw new Error('CHIPRIG_TEST_POSTGRES is not set: CI must start PostgreSQL (.ci/run)');
        process.stdout.write(
          '      skipped: CHIPRIG_TEST_POSTGRES is not set (sh scripts/postgres-start.sh prints the URL)\n',
        );
        this.skip();
      }
      // A database of this test's own (scripts/postgres-start.sh makes it): the storage
      // tests, which may run at the same time, empty theirs.
      const u = new URL(POSTGRES!);
      u.pathname = `${u.pathname}_e2e`;
      url = u.toString();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(
        'drop table if exists measurements, results, runs, kysely_migration, kysely_migration_lock cascade',
      );
      await client.end();
    });

    it('RESULTS-03 two stations run at once into one PostgreSQL, each found by its station and serial', async () => {
      const station = (name: string) => join(FIXTURES, 'stations', name);
      const runs = await Promise.all(
        ['emulated.yaml', 'emulated-alternative.yaml'].map((file, i) =>
          chiprig([
            'run',
            '--station',
            station(file),
            '--suite',
            'u2f',
            '--transport',
            'hid',
            '--grep',
            'U2F-VER',
            '--no-html',
            '--results',
            join(dir, `pg${i}`),
            '--db',
            url,
          ]),
        ),
      );
      for (const r of runs) assert.equal(r.code, EXIT.PASSED, r.stderr + r.stdout.slice(-500));
      // The password is never printed.
      const u = new URL(POSTGRES!);
      const credentials = `${u.username}:${u.password}@`;
      for (const r of runs) {
        assert.ok(!u.password || !(r.stdout + r.stderr).includes(credentials), 'the URL password is printed');
        assert.match(r.stdout, new RegExp(`results database: postgres://${u.username}:\\*\\*\\*@`));
      }
      const list = await chiprig(['results', 'list', '--db', url, '--json']);
      const all = (
        JSON.parse(list.stdout) as { runs: { station: string; device_serial: string; status: string }[] }
      ).runs;
      assert.equal(all.length, 2);
      assert.deepEqual(
        all.map((r) => r.status),
        ['passed', 'passed'],
      );
      assert.equal(new Set(all.map((r) => r.station)).size, 2);
      const one = await chiprig(['results', 'list', '--db', url, '--station', all[0]!.station, '--json']);
      assert.equal((JSON.parse(one.stdout) as { runs: unknown[] }).runs.length, 1);
    });
  });
});
