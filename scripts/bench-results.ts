/**
 * The results database under load, through the run's own writer (rig/results/writer.ts), a
 * committed row per result; for SQLite (the default, WAL + synchronous=FULL) and, where
 * CHIPRIG_TEST_POSTGRES names a server, PostgreSQL: how long one result takes from the end of
 * its test to its commit (p50, p99 of N/4, one at a time), and rows per second in a burst of
 * N, side by side, with PostgreSQL's rate as a ratio of SQLite's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestRecord } from '../rig/report/console.ts';
import { ResultsStore } from '../rig/results/store.ts';
import { databaseOutput } from '../rig/results/writer.ts';
import type { RunStart } from '../rig/run/engine.ts';

interface Figures {
  name: string;
  rowsPerS: number;
  p50Ms: number;
  p99Ms: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function one(name: string, target: string, n: number): Promise<Figures> {
  const store = await ResultsStore.open(target);
  const out = databaseOutput(store, { warn: (t) => console.error(t) });
  await out.onStart!({
    station: { name: 'bench', deviceSpec: { text: 'emulator' }, identity: { 'USB serial': 'BENCH' } },
    suites: ['u2f'],
    scenarios: undefined,
    resultsDir: '/tmp/bench',
  } as unknown as RunStart);
  const record = (i: number): TestRecord => ({
    area: 'USB HID · U2F AUTHENTICATE',
    title: `U2F-AUTH-${String(i % 20).padStart(2, '0')} bench result ${i}`,
    outcome: 'passed',
    durationMs: 1,
  });
  // One result at a time, as a run's tests end: from the end of a test to its row committed.
  const lag: number[] = [];
  for (let i = 0; i < n / 4; i++) {
    const at = performance.now();
    out.onTest!(record(i), i + 1, n);
    await out.settled();
    lag.push(performance.now() - at);
  }
  // A burst (a soak's results, a fast suite): how many rows a second the writer commits.
  const started = performance.now();
  for (let i = 0; i < n; i++) out.onTest!(record(i), i + 1, n);
  await out.settled();
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  lag.sort((a, b) => a - b);
  return { name, rowsPerS: n / seconds, p50Ms: quantile(lag, 0.5), p99Ms: quantile(lag, 0.99) };
}

export async function benchResults(n: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'chiprig-bench-db-'));
  const rows: Figures[] = [];
  try {
    rows.push(await one('SQLite (WAL, synchronous=FULL)', join(dir, 'bench.db'), n));
    const url = process.env.CHIPRIG_TEST_POSTGRES;
    if (url) {
      const u = new URL(url);
      u.pathname = `${u.pathname}_e2e`;
      const client = new pg.Client({ connectionString: u.toString() });
      await client.connect();
      await client.query(
        'drop table if exists measurements, results, runs, kysely_migration, kysely_migration_lock cascade',
      );
      await client.end();
      rows.push(await one('PostgreSQL (local, loopback)', u.toString(), n));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `results database, through the run's writer (a committed row a result): commit time of one result (${n / 4}), rows/s in a burst of ${n}`,
    `${'database'.padEnd(44)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'rows/s'.padStart(9)} ${'ratio'.padStart(7)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.name.padEnd(44)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${r.rowsPerS.toFixed(0).padStart(9)} ${(r.rowsPerS / rows[0]!.rowsPerS).toFixed(2).padStart(7)}`,
    );
  }
  if (rows.length === 1)
    lines.push('(PostgreSQL: set CHIPRIG_TEST_POSTGRES, e.g. from scripts/postgres-start.sh)');
  return lines;
}
