import { writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { formatMs } from '../report/console.ts';
import { RUN_STATUSES, type RunStatus } from '../results/schema.ts';
import {
  type ResultAcrossRuns,
  type ResultFilter,
  ResultsStore,
  type Run,
  readRun,
} from '../results/store.ts';
import { loadStationFile } from '../station/station-file.ts';
import { deviceText } from '../untrusted.ts';
import { EXIT } from './exit-codes.ts';
import { resultsTarget } from './run.ts';

/** The options every `chiprig results` command takes. */
export interface ResultsOptions {
  db?: string;
  /** A station file whose results.database is read (else the default file). */
  stationFile?: string;
  station?: string;
  serial?: string;
  firmware?: string;
  device?: string;
  requirement?: string;
  status?: string;
  since?: string;
  until?: string;
  limit?: string;
  outcome?: string;
  transport?: string;
  json?: boolean;
  csv?: boolean;
  format?: string;
  out?: string;
  table?: string;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

async function openStore(opts: ResultsOptions): Promise<ResultsStore> {
  const file = opts.stationFile ? loadStationFile(opts.stationFile) : undefined;
  const target = resultsTarget(opts.db, file);
  if (target === undefined)
    throw new ConfigError('results: CHIPRIG_RESULTS_DB is "none": name a database with --db');
  const store = await ResultsStore.open(target);
  // A run whose process died (killed, machine down) is shown as what it is: interrupted.
  await store.reapStale();
  return store;
}

function filterOf(opts: ResultsOptions): ResultFilter {
  const status = opts.status;
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new ConfigError(`--status: "${status}" is not one of ${RUN_STATUSES.join(', ')}`);
  }
  let limit: number | undefined;
  if (opts.limit !== undefined) {
    limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new ConfigError(`--limit: "${opts.limit}" is not a whole number above 0`);
  }
  return {
    station: opts.station,
    serial: opts.serial,
    firmware: opts.firmware,
    device: opts.device,
    requirement: opts.requirement,
    status: status as RunStatus | undefined,
    since: opts.since,
    until: opts.until,
    limit,
    outcome: opts.outcome,
    transport: opts.transport,
  };
}

async function withStore(
  opts: ResultsOptions,
  body: (store: ResultsStore) => Promise<number>,
): Promise<number> {
  const store = await openStore(opts);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/** Text from the database as it may be printed: device text stays escaped. */
const t = (text: string | null | undefined, max = 80) => deviceText(text ?? '', max);

function counts(r: Run): string {
  const parts = [`${r.passed} passed`];
  if (r.failed) parts.push(`${r.failed} failed`);
  if (r.broken) parts.push(`${r.broken} broken`);
  if (r.skipped) parts.push(`${r.skipped} skipped`);
  if (r.advisory) parts.push(`${r.advisory} advisory`);
  return parts.join(', ');
}

/** `chiprig results list`: runs, newest first. */
export function list(opts: ResultsOptions): Promise<number> {
  return withStore(opts, async (store) => {
    const runs = await store.listRuns(filterOf(opts));
    if (opts.json) {
      out(JSON.stringify({ format: 'chiprig-runs/1', runs: runs.map(readRun) }, null, 2));
      return EXIT.PASSED;
    }
    if (runs.length === 0) {
      out(`no runs in ${store.where} match`);
      return EXIT.PASSED;
    }
    out(
      'run       started (UTC)        station         device serial    firmware          status       results',
    );
    for (const r of runs) {
      out(
        `${r.id.slice(0, 8)}  ${r.started_at.slice(0, 19).replace('T', ' ')}  ${t(r.station, 14).padEnd(14)}  ${t(r.device_serial, 15).padEnd(15)}  ${t(r.firmware, 16).padEnd(16)}  ${r.status.padEnd(11)}  ${counts(r)}`,
      );
    }
    out(`${runs.length} runs in ${store.where}`);
    return EXIT.PASSED;
  });
}

/** `chiprig results show RUN`: the run, its device, every result and measurement. */
export function show(id: string, opts: ResultsOptions): Promise<number> {
  return withStore(opts, async (store) => {
    const run = await store.findRun(id);
    const results = await store.results(run.id);
    const measurements = await store.measurements(run.id);
    if (opts.json) {
      out(
        JSON.stringify(
          {
            format: 'chiprig-run/1',
            run: readRun(run),
            results,
            measurements: measurements.map((m) => ({ ...m, detail: JSON.parse(m.detail) })),
          },
          null,
          2,
        ),
      );
      return EXIT.PASSED;
    }
    out(`run ${run.id}: ${run.status}${run.note ? ` (${t(run.note, 400)})` : ''}`);
    out(`  station ${t(run.station)} on ${t(run.host)}, device ${t(run.device)}, chiprig ${run.chiprig}`);
    out(`  started ${run.started_at}${run.ended_at ? `, ended ${run.ended_at}` : ''}; ${counts(run)}`);
    out(`  suites: ${(JSON.parse(run.suites) as string[]).join(', ') || '(none)'}`);
    for (const [k, v] of Object.entries(JSON.parse(run.identity) as Record<string, string>))
      out(`  ${k}: ${t(v, 200)}`);
    if (run.results_dir) out(`  results: ${run.results_dir}`);
    if (run.report_dir) out(`  report: ${run.report_dir}`);
    out('');
    for (const r of results) {
      out(
        `${String(r.seq).padStart(4)} ${r.outcome.padEnd(8)} ${t(r.title, 120)}  [${t(r.area, 60)}] (${formatMs(r.duration_ms)})`,
      );
      if (r.message && r.outcome !== 'passed') out(`         ${t(r.message.split('\n')[0], 300)}`);
    }
    if (measurements.length > 0) {
      out('');
      out('measurements:');
      for (const m of measurements) {
        out(
          `  ${t(m.test)}${m.transport ? ` ${m.transport}` : ''} ${t(m.name)} = ${Number(m.value.toPrecision(6))} ${t(m.unit, 20)}${m.verdict === 'recorded' ? '' : ` (${m.verdict})`}`,
        );
      }
    }
    return EXIT.PASSED;
  });
}

/** `chiprig results query`: results across runs, by requirement, outcome, device, firmware, date. */
export function query(opts: ResultsOptions): Promise<number> {
  return withStore(opts, async (store) => {
    const rows = await store.queryResults(filterOf(opts));
    if (opts.json) {
      out(JSON.stringify({ format: 'chiprig-results/1', results: rows }, null, 2));
      return EXIT.PASSED;
    }
    if (opts.csv) {
      process.stdout.write(csv(rows as unknown as Record<string, unknown>[], RESULT_COLUMNS));
      return EXIT.PASSED;
    }
    for (const r of rows) {
      out(
        `${r.run_id.slice(0, 8)} ${r.started_at.slice(0, 19).replace('T', ' ')} ${t(r.device_serial, 15).padEnd(15)} ${t(r.firmware, 16).padEnd(16)} ${r.outcome.padEnd(8)} ${t(r.title, 100)}${r.transport ? ` [${r.transport}]` : ''}`,
      );
    }
    out(`${rows.length} results in ${store.where}`);
    return EXIT.PASSED;
  });
}

const RESULT_COLUMNS: (keyof ResultAcrossRuns)[] = [
  'run_id',
  'started_at',
  'station',
  'device_serial',
  'firmware',
  'seq',
  'requirement',
  'transport',
  'area',
  'title',
  'outcome',
  'message',
  'duration_ms',
  'finished_at',
  'traffic_ref',
];

const RUN_COLUMNS: (keyof Run)[] = [
  'id',
  'station',
  'host',
  'device',
  'device_serial',
  'firmware',
  'chiprig',
  'started_at',
  'ended_at',
  'status',
  'note',
  'passed',
  'failed',
  'broken',
  'skipped',
  'advisory',
  'suites',
  'identity',
  'results_dir',
  'report_dir',
];

/** `chiprig results export`: results (or runs, or measurements) as CSV or JSON, to a file or stdout. */
export function exportResults(opts: ResultsOptions): Promise<number> {
  const format = opts.format ?? 'csv';
  if (format !== 'csv' && format !== 'json')
    throw new ConfigError(`--format: "${format}" is not csv or json`);
  const table = opts.table ?? 'results';
  if (table !== 'results' && table !== 'runs' && table !== 'measurements') {
    throw new ConfigError(`--table: "${table}" is not results, runs or measurements`);
  }
  return withStore(opts, async (store) => {
    const filter = filterOf(opts);
    let rows: Record<string, unknown>[];
    let columns: string[];
    if (table === 'runs') {
      rows = (await store.listRuns({ ...filter, limit: filter.limit ?? 100_000 })) as unknown as Record<
        string,
        unknown
      >[];
      columns = RUN_COLUMNS;
    } else if (table === 'results') {
      rows = (await store.queryResults({ ...filter, limit: filter.limit ?? 1_000_000 })) as unknown as Record<
        string,
        unknown
      >[];
      columns = RESULT_COLUMNS;
    } else {
      const runs = await store.listRuns({ ...filter, limit: filter.limit ?? 100_000 });
      rows = [];
      for (const r of runs) {
        for (const m of await store.measurements(r.id)) {
          rows.push({ ...m, station: r.station, device_serial: r.device_serial, firmware: r.firmware });
        }
      }
      columns = [
        'run_id',
        'station',
        'device_serial',
        'firmware',
        'seq',
        'test',
        'title',
        'transport',
        'name',
        'value',
        'unit',
        'verdict',
        'detail',
        'recorded_at',
      ];
    }
    const text =
      format === 'json'
        ? `${JSON.stringify({ format: `chiprig-${table}/1`, [table]: rows }, null, 2)}\n`
        : csv(rows, columns);
    if (opts.out) {
      writeFileSync(opts.out, text);
      out(`${rows.length} ${table} from ${store.where} written to ${opts.out}`);
    } else process.stdout.write(text);
    return EXIT.PASSED;
  });
}

/** `chiprig results migrate`: brings the database to this chiprig's schema and lists the migrations. */
export function migrate(opts: ResultsOptions): Promise<number> {
  return withStore(opts, async (store) => {
    for (const m of await store.migrations()) {
      out(`${m.name}: ${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}`);
    }
    out(`${store.where}: at the latest schema`);
    return EXIT.PASSED;
  });
}

/**
 * RFC 4180 CSV. A cell a spreadsheet would take for a formula (device text beginning with =,
 * +, -, @, tab or CR) gets a leading apostrophe, so opening an export runs nothing.
 */
export function csv(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    let s = typeof v === 'number' ? String(v) : String(v);
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}
