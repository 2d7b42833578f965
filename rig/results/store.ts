/**
 * The results database: every run, its device identity, each test's result and each
 * measurement, written as they complete. SQLite by default (a file under reports/),
 * PostgreSQL when a URL is given (several stations may write to one); one schema
 * (./schema.ts) and one query layer (Kysely) for both.
 *
 * Crash safety: each row is its own statement, committed when it returns. SQLite runs in WAL
 * mode with synchronous=FULL (a committed row survives the process and the machine going
 * down); a run cut off before its end keeps every row already written and is marked
 * `interrupted` (by its process on a signal, by serve when its run process is gone, or by the
 * next open on the same host when the process that ran it is dead).
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, type Selectable, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { ChiprigError, ConfigError } from '../errors.ts';
import {
  type Database,
  type MeasurementsTable,
  MIGRATIONS,
  NO_OUTCOMES,
  type ResultsTable,
  type RunStatus,
  type RunsTable,
} from './schema.ts';

/** Where `chiprig run` and `chiprig results` keep results when nothing else is named. */
export const DEFAULT_DATABASE = 'reports/chiprig-results.db';

export type Run = Selectable<RunsTable>;
export type Result = Selectable<ResultsTable>;
export type Measurement = Selectable<MeasurementsTable>;

/** A run with its JSON columns (identity, suites) read, as the CLI's JSON and serve's pages give it. */
export function readRun(r: Run): Omit<Run, 'identity' | 'suites'> & {
  identity: Record<string, string>;
  suites: string[];
} {
  return {
    ...r,
    identity: JSON.parse(r.identity) as Record<string, string>,
    suites: JSON.parse(r.suites) as string[],
  };
}

/** The database could not be opened, migrated or written: a rig fault (exit 3), never the device's. */
export class ResultsDatabaseError extends ChiprigError {
  constructor(message: string, cause?: unknown) {
    super('RESULTS_DB', message, cause === undefined ? undefined : { cause });
  }
}

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** A target as it may be shown: a URL's password never appears in a page or a log. */
export function describeTarget(target: string): string {
  if (!isPostgresUrl(target)) return resolve(target);
  try {
    const url = new URL(target);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://(an unreadable URL)';
  }
}

/** Which runs: each field narrows; dates are ISO dates or times (a date alone is its whole day). */
export interface RunFilter {
  station?: string | undefined;
  serial?: string | undefined;
  firmware?: string | undefined;
  device?: string | undefined;
  status?: RunStatus | undefined;
  /** Runs that have a result for this requirement ID. */
  requirement?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: number | undefined;
}

/** Results across runs: the run filter, plus the result's own fields. */
export interface ResultFilter extends RunFilter {
  outcome?: string | undefined;
  transport?: string | undefined;
}

/** A result row with the run facts a query across runs needs beside it. */
export interface ResultAcrossRuns extends Result {
  station: string;
  started_at: string;
  device_serial: string | null;
  firmware: string | null;
}

const PG_TIMEOUT_MS = 10_000;

export class ResultsStore {
  readonly db: Kysely<Database>;
  readonly kind: 'sqlite' | 'postgres';
  /** The target as it may be shown (no password). */
  readonly where: string;

  private constructor(db: Kysely<Database>, kind: 'sqlite' | 'postgres', where: string) {
    this.db = db;
    this.kind = kind;
    this.where = where;
  }

  /** Opens (creating a SQLite file and its folder if needed) and migrates to the latest schema. */
  static async open(target: string = DEFAULT_DATABASE): Promise<ResultsStore> {
    const where = describeTarget(target);
    let db: Kysely<Database>;
    let kind: 'sqlite' | 'postgres';
    if (isPostgresUrl(target)) {
      kind = 'postgres';
      // Every wait is bounded: connecting, and each statement.
      const pool = new pg.Pool({
        connectionString: target,
        max: 4,
        connectionTimeoutMillis: PG_TIMEOUT_MS,
        query_timeout: 30_000,
        idleTimeoutMillis: 5_000,
        allowExitOnIdle: true,
      });
      // A connection dropped while idle (the server restarted) must not end the process.
      pool.on('error', () => undefined);
      db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    } else {
      kind = 'sqlite';
      let database: BetterSqlite3.Database;
      try {
        mkdirSync(dirname(where), { recursive: true });
        // timeout: how long a statement waits for another process's write (busy_timeout).
        database = new BetterSqlite3(where, { timeout: 15_000 });
        database.pragma('journal_mode = WAL');
        database.pragma('synchronous = FULL');
        database.pragma('foreign_keys = ON');
      } catch (error) {
        throw new ResultsDatabaseError(
          `results database ${where}: cannot open it: ${(error as Error).message}; name another file with --db, or fix its folder's permissions`,
          error,
        );
      }
      db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    }
    const store = new ResultsStore(db, kind, where);
    try {
      await store.#migrate();
    } catch (error) {
      await db.destroy().catch(() => undefined);
      if (error instanceof ResultsDatabaseError) throw error;
      throw new ResultsDatabaseError(
        `results database ${where}: ${(error as Error).message}${kind === 'postgres' ? '; check that the server runs and the URL (user, password, database) is right' : ''}`,
        error,
      );
    }
    return store;
  }

  async #migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => MIGRATIONS },
    });
    // PostgreSQL: the migrator holds an advisory lock. SQLite: two processes opening a new
    // file at once may both try the first migration; the loser's transaction is rolled back
    // and it finds the schema made when it tries again.
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const { error, results } = await migrator.migrateToLatest();
      if (!error) return;
      last = error;
      const failed = results?.find((r) => r.status === 'Error');
      if (failed) last = new Error(`migration ${failed.migrationName} failed: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
    const known = new Set(Object.keys(MIGRATIONS));
    const applied = await sql<{ name: string }>`select name from kysely_migration`
      .execute(this.db)
      .then((r) => r.rows.map((row) => row.name))
      .catch(() => [] as string[]);
    const unknown = applied.filter((name) => !known.has(name)).sort();
    if (unknown.length > 0) {
      throw new ResultsDatabaseError(
        `results database ${this.where} was made by a newer chiprig (migration ${unknown.at(-1)}); update chiprig, or name another database with --db`,
      );
    }
    throw last;
  }

  /** The migrations and whether each has run (for `chiprig results migrate`). */
  async migrations(): Promise<{ name: string; executedAt: Date | undefined }[]> {
    const migrator = new Migrator({ db: this.db, provider: { getMigrations: async () => MIGRATIONS } });
    return (await migrator.getMigrations()).map((m) => ({ name: m.name, executedAt: m.executedAt }));
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // ---- writing ---------------------------------------------------------------------------

  async insertRun(run: RunsTable): Promise<void> {
    await this.db.insertInto('runs').values(run).execute();
  }

  async insertResult(result: ResultsTable): Promise<void> {
    await this.db.insertInto('results').values(result).execute();
  }

  async insertMeasurement(m: MeasurementsTable): Promise<void> {
    await this.db.insertInto('measurements').values(m).execute();
  }

  /** Ends a run that is still running (an interrupted or ended one stays as it is). */
  async finishRun(
    id: string,
    end: Pick<RunsTable, 'status' | 'ended_at'> &
      Partial<
        Pick<RunsTable, 'note' | 'passed' | 'failed' | 'broken' | 'skipped' | 'advisory' | 'report_dir'>
      >,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('runs')
      .set(end)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Sets where a finished run's HTML report is (null: it could not be made). */
  async setReport(id: string, reportDir: string | null): Promise<void> {
    await this.db.updateTable('runs').set({ report_dir: reportDir }).where('id', '=', id).execute();
  }

  /**
   * Marks `interrupted` the runs this host left `running` whose process is gone (killed, or
   * the machine went down), with their counts so far. Returns their IDs.
   */
  async reapStale(
    host: string = hostname(),
    alive: (pid: number) => boolean = processAlive,
  ): Promise<string[]> {
    const running = await this.db
      .selectFrom('runs')
      .select(['id', 'pid'])
      .where('status', '=', 'running')
      .where('host', '=', host)
      .execute();
    const dead = running.filter((r) => !alive(r.pid));
    for (const r of dead) {
      await this.interrupt(
        r.id,
        `the process that ran it (pid ${r.pid} on ${host}) ended before the run did`,
      );
    }
    return dead.map((r) => r.id);
  }

  /** Marks a running run interrupted, its counts from the results it has. */
  async interrupt(id: string, note: string): Promise<boolean> {
    const counts = await this.countOutcomes(id);
    return this.finishRun(id, { status: 'interrupted', ended_at: new Date().toISOString(), note, ...counts });
  }

  async countOutcomes(
    id: string,
  ): Promise<Pick<RunsTable, 'passed' | 'failed' | 'broken' | 'skipped' | 'advisory'>> {
    const rows = await this.db
      .selectFrom('results')
      .select(['outcome', (eb) => eb.fn.countAll<number>().as('n')])
      .where('run_id', '=', id)
      .groupBy('outcome')
      .execute();
    const c: Record<keyof typeof NO_OUTCOMES, number> = { ...NO_OUTCOMES };
    for (const r of rows) if (r.outcome in c) c[r.outcome as keyof typeof c] = Number(r.n);
    return c;
  }

  // ---- reading ---------------------------------------------------------------------------

  /** Runs, newest first. */
  async listRuns(filter: RunFilter = {}): Promise<Run[]> {
    let q = this.db.selectFrom('runs').selectAll('runs');
    q = applyRunFilter(q, filter);
    if (filter.requirement !== undefined) {
      const requirement = filter.requirement;
      q = q.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('results')
            .select('results.seq')
            .whereRef('results.run_id', '=', 'runs.id')
            .where('results.requirement', '=', requirement),
        ),
      );
    }
    return q
      .orderBy('runs.started_at', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
  }

  /** One run by its ID or an unambiguous beginning of it (as `results list` shows them). */
  async findRun(idOrPrefix: string): Promise<Run> {
    const exact = await this.db
      .selectFrom('runs')
      .selectAll()
      .where('id', '=', idOrPrefix)
      .executeTakeFirst();
    if (exact) return exact;
    if (!/^[0-9a-f-]{4,36}$/i.test(idOrPrefix)) {
      throw new ResultsDatabaseError(
        `no run "${idOrPrefix}" in ${this.where}: give a run ID (chiprig results list)`,
      );
    }
    const matches = await this.db
      .selectFrom('runs')
      .selectAll()
      .where('id', 'like', `${idOrPrefix.toLowerCase()}%`)
      .limit(2)
      .execute();
    if (matches.length === 1) return matches[0]!;
    throw new ResultsDatabaseError(
      matches.length === 0
        ? `no run "${idOrPrefix}" in ${this.where} (chiprig results list shows the runs)`
        : `"${idOrPrefix}" names more than one run: give more of the ID`,
    );
  }

  async results(runId: string): Promise<Result[]> {
    return this.db.selectFrom('results').selectAll().where('run_id', '=', runId).orderBy('seq').execute();
  }

  async measurements(runId: string): Promise<Measurement[]> {
    return this.db
      .selectFrom('measurements')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .execute();
  }

  /** Results across runs, newest run first, then in the order they landed. */
  async queryResults(filter: ResultFilter = {}): Promise<ResultAcrossRuns[]> {
    let q = this.db
      .selectFrom('results')
      .innerJoin('runs', 'runs.id', 'results.run_id')
      .selectAll('results')
      .select(['runs.station', 'runs.started_at', 'runs.device_serial', 'runs.firmware']);
    q = applyRunFilter(q, filter);
    if (filter.requirement !== undefined) q = q.where('results.requirement', '=', filter.requirement);
    if (filter.outcome !== undefined) q = q.where('results.outcome', '=', filter.outcome);
    if (filter.transport !== undefined) q = q.where('results.transport', '=', filter.transport);
    return q
      .orderBy('runs.started_at', 'desc')
      .orderBy('results.seq')
      .limit(filter.limit ?? 10_000)
      .execute();
  }
}

// The filter applies to any query that has the runs table in it.
// biome-ignore lint/suspicious/noExplicitAny: Kysely's builder types differ per query shape
function applyRunFilter<Q extends { where: (...args: any[]) => Q }>(q: Q, f: RunFilter): Q {
  if (f.station !== undefined) q = q.where('runs.station', '=', f.station);
  if (f.serial !== undefined) q = q.where('runs.device_serial', '=', f.serial);
  if (f.firmware !== undefined) q = q.where('runs.firmware', '=', f.firmware);
  if (f.device !== undefined) q = q.where('runs.device', '=', f.device);
  if (f.status !== undefined) q = q.where('runs.status', '=', f.status);
  if (f.since !== undefined) q = q.where('runs.started_at', '>=', dayStart(f.since, '--since'));
  if (f.until !== undefined) q = q.where('runs.started_at', '<', dayEnd(f.until, '--until'));
  return q;
}

function checkedDate(text: string, flag: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new ConfigError(`${flag}: "${text}" is not a date or time (e.g. 2026-12-04 or 2026-12-04T10:00Z)`);
  }
  return d;
}

/** A date alone starts at its midnight (UTC); a time is itself. */
function dayStart(text: string, flag: string): string {
  return checkedDate(text, flag).toISOString();
}

/** A date alone covers its whole day; a time is itself. */
function dayEnd(text: string, flag: string): string {
  const d = checkedDate(text, flag);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text.trim())) d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
