/**
 * The results database, the same tests on SQLite and on PostgreSQL (CHIPRIG_TEST_POSTGRES,
 * a URL; .ci/run starts a local server with scripts/postgres-start.sh and sets it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { RecordedMeasurement } from '../measure/run-record.ts';
import type { TestRecord } from '../report/console.ts';
import type { RunOutcome, RunStart } from '../run/engine.ts';
import { NO_OUTCOMES } from './schema.ts';
import { describeTarget, ResultsStore } from './store.ts';
import { databaseOutput } from './writer.ts';

const POSTGRES = process.env.CHIPRIG_TEST_POSTGRES;

/** A database emptied of chiprig's tables (PostgreSQL) or a new file (SQLite). */
async function fresh(kind: 'sqlite' | 'postgres', dir: string): Promise<string> {
  if (kind === 'sqlite') return join(dir, `results-${Math.random().toString(36).slice(2)}.db`);
  const client = new pg.Client({ connectionString: POSTGRES! });
  await client.connect();
  try {
    await client.query(
      'drop table if exists measurements, results, runs, kysely_migration, kysely_migration_lock cascade',
    );
  } finally {
    await client.end();
  }
  return POSTGRES!;
}

function start(name: string, serial: string, firmware: string): RunStart {
  return {
    station: {
      name,
      deviceSpec: { text: 'emulator' },
      identity: { 'USB serial': serial, 'firmware build': firmware, 'USB product': '<b>chip</b>' },
    },
    suites: ['u2f'],
    scenarios: undefined,
    resultsDir: '/tmp/results',
  } as unknown as RunStart;
}

const rec = (title: string, outcome: TestRecord['outcome'], message?: string): TestRecord => ({
  area: 'USB HID · U2F REGISTER',
  title,
  outcome,
  durationMs: 3.5,
  ...(message ? { message } : {}),
});

const measurement: RecordedMeasurement = {
  test: 'PERF-LAT-01',
  title: 'latency',
  transport: 'hid',
  name: 'latency.p99',
  unit: 'ms',
  value: 1.25,
  verdict: 'pass',
  limits: { max: 10 },
  at: '2026-12-04T10:00:00.000Z',
};

function outcome(records: TestRecord[]): RunOutcome {
  const counts = { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 };
  for (const r of records) counts[r.outcome]++;
  return { records, counts } as unknown as RunOutcome;
}

const warnings: string[] = [];
const warn = (text: string) => warnings.push(text);

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`results database on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`, function () {
    this.timeout(30_000);
    let dir: string;
    let target: string;

    before(function () {
      if (kind === 'postgres' && !POSTGRES) {
        if (process.env.CI)
          throw new Error('CHIPRIG_TEST_POSTGRES is not set: CI must start PostgreSQL (.ci/run)');
        const why = 'CHIPRIG_TEST_POSTGRES is not set (sh scripts/postgres-start.sh prints the URL to set)';
        process.stdout.write(`      skipped: ${why}\n`);
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), 'chiprig-results-'));
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(async () => {
      target = await fresh(kind, dir);
      warnings.length = 0;
    });

    it('makes its schema on first open, and opening again changes nothing', async () => {
      const a = await ResultsStore.open(target);
      const applied = await a.migrations();
      assert.ok(applied.length >= 1);
      assert.ok(
        applied.every((m) => m.executedAt instanceof Date),
        'every migration ran',
      );
      await a.close();
      const b = await ResultsStore.open(target);
      assert.deepEqual(
        (await b.migrations()).map((m) => m.name),
        applied.map((m) => m.name),
      );
      assert.deepEqual(await b.listRuns(), []);
      await b.close();
    });

    it('several openers at once (stations starting together) all find one schema', async () => {
      const stores = await Promise.all(Array.from({ length: 4 }, () => ResultsStore.open(target)));
      for (const s of stores) assert.equal((await s.migrations()).length, 1);
      await Promise.all(stores.map((s) => s.close()));
    });

    it('writes a run as it goes: the run at its start, each result and measurement as it lands, the verdict at its end', async () => {
      const store = await ResultsStore.open(target);
      const out = databaseOutput(store, { warn });
      await out.onStart!(start('bench-1', 'SER-1', 'fw 1.2'));
      const records = [
        rec('U2F-REG-01 REGISTER with a 3-byte body is a length error', 'passed'),
        rec('U2F-REG-02 REGISTER answers 6985 without presence', 'failed', 'expected 6985, got 9000'),
      ];
      out.onTest!(records[0]!, 1, 3);
      await out.settled();
      // Already there before the run ends: a crash now keeps it.
      let run = await store.findRun(out.runId);
      assert.equal(run.status, 'running');
      assert.equal((await store.results(out.runId)).length, 1);
      out.onTest!(records[1]!, 2, 3);
      out.onMeasurement!(measurement);
      await out.onEnd!(outcome(records));

      run = await store.findRun(out.runId.slice(0, 8));
      assert.equal(run.status, 'failed');
      assert.equal(run.station, 'bench-1');
      assert.equal(run.device_serial, 'SER-1');
      assert.equal(run.firmware, 'fw 1.2');
      assert.equal(run.passed, 1);
      assert.equal(run.failed, 1);
      assert.ok(run.ended_at! >= run.started_at);
      assert.equal(JSON.parse(run.identity)['USB product'], '<b>chip</b>', 'device text kept as it was said');
      const results = await store.results(out.runId);
      assert.deepEqual(
        results.map((r) => [r.seq, r.requirement, r.transport, r.outcome, r.message]),
        [
          [1, 'U2F-REG-01', 'hid', 'passed', null],
          [2, 'U2F-REG-02', 'hid', 'failed', 'expected 6985, got 9000'],
        ],
      );
      assert.equal(results[0]!.duration_ms, 3.5);
      const ms = await store.measurements(out.runId);
      assert.equal(ms.length, 1);
      assert.equal(ms[0]!.value, 1.25);
      assert.deepEqual(JSON.parse(ms[0]!.detail), { limits: { max: 10 } });
      assert.deepEqual(warnings, []);
      await store.close();
    });

    it('finds runs and results by device serial, firmware, requirement, outcome and date', async () => {
      const store = await ResultsStore.open(target);
      const ids: string[] = [];
      for (const [station, serial, fw, outcomeOf] of [
        ['bench-1', 'SER-1', 'fw 1.0', 'passed'],
        ['bench-2', 'SER-2', 'fw 1.1', 'failed'],
        ['bench-1', 'SER-1', 'fw 1.1', 'passed'],
      ] as const) {
        const out = databaseOutput(store, { warn });
        await out.onStart!(start(station, serial, fw));
        const rs = [rec('U2F-VER-01 VERSION answers U2F_V2', outcomeOf)];
        if (serial === 'SER-2') rs.push(rec('U2F-AUTH-03 counter increases', 'passed'));
        for (const [i, r] of rs.entries()) out.onTest!(r, i + 1, rs.length);
        await out.onEnd!(outcome(rs));
        ids.push(out.runId);
      }
      assert.equal((await store.listRuns()).length, 3);
      assert.deepEqual((await store.listRuns({ serial: 'SER-1' })).map((r) => r.firmware).sort(), [
        'fw 1.0',
        'fw 1.1',
      ]);
      assert.deepEqual((await store.listRuns({ firmware: 'fw 1.1' })).length, 2);
      assert.deepEqual(
        (await store.listRuns({ station: 'bench-2' })).map((r) => r.id),
        [ids[1]],
      );
      assert.deepEqual(
        (await store.listRuns({ requirement: 'U2F-AUTH-03' })).map((r) => r.id),
        [ids[1]],
      );
      assert.deepEqual(
        (await store.listRuns({ status: 'failed' })).map((r) => r.id),
        [ids[1]],
      );
      const today = new Date().toISOString().slice(0, 10);
      assert.equal((await store.listRuns({ since: today, until: today })).length, 3);
      assert.equal((await store.listRuns({ until: '2000-01-01' })).length, 0);
      assert.equal((await store.listRuns({ limit: 2 })).length, 2);
      const failed = await store.queryResults({ outcome: 'failed' });
      assert.deepEqual(
        failed.map((r) => [r.requirement, r.device_serial, r.firmware, r.station]),
        [['U2F-VER-01', 'SER-2', 'fw 1.1', 'bench-2']],
      );
      assert.equal((await store.queryResults({ requirement: 'U2F-VER-01', serial: 'SER-1' })).length, 2);
      await assert.rejects(store.findRun('zzzz'), /no run "zzzz"/);
      await store.close();
    });

    it('a run cut off keeps what it wrote and is marked interrupted; a late verdict does not undo that', async () => {
      const store = await ResultsStore.open(target);
      const out = databaseOutput(store, { warn });
      await out.onStart!(start('bench-1', 'SER-1', 'fw'));
      out.onTest!(rec('U2F-VER-01 VERSION', 'passed'), 1, 9);
      out.onTest!(rec('U2F-VER-02 VERSION', 'broken', 'link fault'), 2, 9);
      await out.interrupt('stopped by SIGTERM');
      let run = await store.findRun(out.runId);
      assert.equal(run.status, 'interrupted');
      assert.equal(run.note, 'stopped by SIGTERM');
      assert.equal(run.passed, 1);
      assert.equal(run.broken, 1);
      assert.ok(run.ended_at);
      await out.onEnd!(outcome([]));
      run = await store.findRun(out.runId);
      assert.equal(run.status, 'interrupted');
      await store.close();
    });

    it('marks interrupted the runs this host left running whose process is gone, and only those', async () => {
      const store = await ResultsStore.open(target);
      const dead = spawnSync(process.execPath, [
        '-e',
        'process.stdout.write(String(process.pid))',
      ]).stdout.toString();
      const base = {
        station: 's',
        device: 'emulator',
        device_serial: null,
        firmware: null,
        identity: '{}',
        suites: '[]',
        chiprig: 'x',
        started_at: new Date().toISOString(),
        ended_at: null,
        status: 'running' as const,
        note: null,
        ...NO_OUTCOMES,
        results_dir: null,
        report_dir: null,
      };
      await store.insertRun({
        ...base,
        id: '00000000-0000-4000-8000-000000000001',
        host: 'here',
        pid: Number(dead),
      });
      await store.insertRun({
        ...base,
        id: '00000000-0000-4000-8000-000000000002',
        host: 'here',
        pid: process.pid,
      });
      await store.insertRun({
        ...base,
        id: '00000000-0000-4000-8000-000000000003',
        host: 'elsewhere',
        pid: Number(dead),
      });
      const reaped = await store.reapStale('here');
      assert.deepEqual(reaped, ['00000000-0000-4000-8000-000000000001']);
      const status = async (id: string) => (await store.findRun(id)).status;
      assert.equal(await status('00000000-0000-4000-8000-000000000001'), 'interrupted');
      assert.match(
        (await store.findRun('00000000-0000-4000-8000-000000000001')).note!,
        /ended before the run did/,
      );
      assert.equal(await status('00000000-0000-4000-8000-000000000002'), 'running');
      assert.equal(
        await status('00000000-0000-4000-8000-000000000003'),
        'running',
        "another host's run is not judged here",
      );
      await store.close();
    });

    it('a database made by a newer chiprig is refused, naming the migration', async () => {
      const store = await ResultsStore.open(target);
      await store.db
        .insertInto('kysely_migration' as never)
        .values({ name: '9999-from-the-future', timestamp: new Date().toISOString() } as never)
        .execute();
      await store.close();
      await assert.rejects(ResultsStore.open(target), /newer chiprig \(migration 9999-from-the-future\)/);
    });

    it('a write that fails is said once and the run goes on', async () => {
      const store = await ResultsStore.open(target);
      const out = databaseOutput(store, { warn });
      await out.onStart!(start('bench-1', 'SER-1', 'fw'));
      await store.close();
      out.onTest!(rec('U2F-VER-01 VERSION', 'passed'), 1, 2);
      out.onTest!(rec('U2F-VER-02 VERSION', 'passed'), 2, 2);
      await out.settled();
      assert.equal(out.failures, 2);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /a result not written: .*the results folder still has it/);
    });
  });
}

describe('results database targets', () => {
  it('a URL is shown without its password', () => {
    assert.equal(
      describeTarget('postgres://lab:s3cret@db.lab:5432/chiprig'),
      'postgres://lab:***@db.lab:5432/chiprig',
    );
    assert.ok(!describeTarget('postgresql://u:p%40ss@h/db').includes('p%40ss'));
  });
});
