/**
 * The results database's tables, one schema for SQLite and PostgreSQL, and the migrations
 * that make it (Kysely's migrator, which records what ran in kysely_migration and, on
 * PostgreSQL, holds an advisory lock while it migrates, so several stations may start at once).
 *
 * Times are ISO 8601 text (UTC, sortable the same on both); JSON is text; no column relies on
 * a database's own types beyond integer, double and text, so a query means the same on both.
 */
import type { Kysely, Migration } from 'kysely';

/** What a run is: still going, ended with this verdict, or cut off (killed, server gone). */
export const RUN_STATUSES = ['running', 'passed', 'failed', 'broken', 'interrupted', 'empty'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run's counts before any result. */
export const NO_OUTCOMES = { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 } as const;

export interface RunsTable {
  /** A UUID, made by the writer. */
  id: string;
  station: string;
  /** Where the run ran: host name, and the process that wrote it (to tell a dead run). */
  host: string;
  pid: number;
  /** The device spec the run was given (emulator, hid:..., pcsc:...). */
  device: string;
  /** From the device identity: the first of USB, BLE and attestation serial. */
  device_serial: string | null;
  /** From the device identity: the firmware build, else BLE firmware revision, else bcdDevice. */
  firmware: string | null;
  /** The whole device identity (field → value), JSON. */
  identity: string;
  /** The suites and scenarios asked for, JSON arrays. */
  suites: string;
  chiprig: string;
  started_at: string;
  ended_at: string | null;
  status: RunStatus;
  /** Why a run is interrupted or broken, in words. */
  note: string | null;
  passed: number;
  failed: number;
  broken: number;
  skipped: number;
  advisory: number;
  /** Where its Allure results and HTML report are (on the host that ran it). */
  results_dir: string | null;
  report_dir: string | null;
}

export interface ResultsTable {
  run_id: string;
  /** 1, 2, ... in the order the results landed. */
  seq: number;
  /** Catalogue or chiprig ID (the first word of the title), and the transport of its area. */
  requirement: string | null;
  transport: string | null;
  area: string;
  title: string;
  outcome: string;
  message: string | null;
  duration_ms: number;
  finished_at: string;
  /**
   * Where the test's traffic is: the Allure results folder and the test's full name, whose
   * result file holds the "traffic (hex)" attachment.
   */
  traffic_ref: string | null;
}

export interface MeasurementsTable {
  run_id: string;
  seq: number;
  /** Catalogue ID of the test that recorded it, its title and transport. */
  test: string;
  title: string;
  transport: string | null;
  name: string;
  value: number;
  unit: string;
  verdict: string;
  /** Limits, marginal band, interval, source and description, JSON. */
  detail: string;
  recorded_at: string;
}

export interface Database {
  runs: RunsTable;
  results: ResultsTable;
  measurements: MeasurementsTable;
}

/** The migrations, in order (names sort in the order they run). Never edit one that shipped. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-runs-results-measurements': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('runs')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('station', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('device', 'text', (c) => c.notNull())
        .addColumn('device_serial', 'text')
        .addColumn('firmware', 'text')
        .addColumn('identity', 'text', (c) => c.notNull())
        .addColumn('suites', 'text', (c) => c.notNull())
        .addColumn('chiprig', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('passed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('broken', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('advisory', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('results_dir', 'text')
        .addColumn('report_dir', 'text')
        .execute();
      await db.schema.createIndex('runs_started').on('runs').column('started_at').execute();
      await db.schema
        .createIndex('runs_serial')
        .on('runs')
        .columns(['device_serial', 'started_at'])
        .execute();
      await db.schema.createIndex('runs_status').on('runs').columns(['status', 'host']).execute();

      await db.schema
        .createTable('results')
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('requirement', 'text')
        .addColumn('transport', 'text')
        .addColumn('area', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('duration_ms', 'double precision', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('traffic_ref', 'text')
        .addPrimaryKeyConstraint('results_pk', ['run_id', 'seq'])
        .execute();
      await db.schema.createIndex('results_requirement').on('results').column('requirement').execute();

      await db.schema
        .createTable('measurements')
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('test', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('transport', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('unit', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('measurements_pk', ['run_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('measurements').execute();
      await db.schema.dropTable('results').execute();
      await db.schema.dropTable('runs').execute();
    },
  },
};
