import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RecordedMeasurement } from '../measure/run-record.ts';
import type { Outcome, TestRecord } from '../report/console.ts';
import { requirementOf } from '../report/matrix.ts';
import type { RunListener, RunOutcome } from '../run/engine.ts';
import { chiprigVersion } from '../run/environment.ts';
import { NO_OUTCOMES, type RunStatus } from './schema.ts';
import type { ResultsStore } from './store.ts';

/** The device serial a run is found by: USB, else BLE, else the attestation certificate's. */
export function serialOf(identity: Record<string, string>): string | null {
  return identity['USB serial'] ?? identity['BLE serial'] ?? identity['attestation serial'] ?? null;
}

/** The firmware a run is found by: the station's firmware build, else BLE's revision, else bcdDevice. */
export function firmwareOf(identity: Record<string, string>): string | null {
  return identity['firmware build'] ?? identity['BLE firmware revision'] ?? identity['USB bcdDevice'] ?? null;
}

/** A run's verdict from its counts (as the exit code judges it). */
export function statusOf(counts: Record<Outcome, number>, total: number): RunStatus {
  if (total === 0) return 'empty';
  return counts.failed > 0 ? 'failed' : counts.broken > 0 ? 'broken' : 'passed';
}

export interface DatabaseOutput extends RunListener {
  readonly runId: string;
  /** Every write asked for so far has landed (or failed, and was said). */
  settled(): Promise<void>;
  /** The run ended without its end (an error, a signal): marked interrupted with `note`. */
  interrupt(note: string): Promise<void>;
  /** Rows that could not be written (each failure was told to `warn` once per kind). */
  readonly failures: number;
}

/**
 * The run engine's listener that writes a run into the results database as it goes: the run
 * row at the start, each result and measurement as it lands, the verdict at the end. Writes
 * are queued in order; a write that fails is said (once) and the run goes on: its results are
 * also in the results folder, and a database fault must not cost a device run.
 */
export function databaseOutput(
  store: ResultsStore,
  opts: { runId?: string | undefined; reportDir?: string | undefined; warn: (text: string) => void },
): DatabaseOutput {
  const runId = opts.runId ?? randomUUID();
  let chain: Promise<void> = Promise.resolve();
  let failures = 0;
  let started = false;
  let seq = 0;
  let mseq = 0;
  let resultsDir = '';
  const said = new Set<string>();
  const write = (what: string, op: () => Promise<unknown>) => {
    chain = chain.then(
      () =>
        op().then(
          () => undefined,
          (error: unknown) => {
            failures++;
            if (said.has(what)) return;
            said.add(what);
            opts.warn(
              `results database ${store.where}: ${what} not written: ${(error as Error).message} (the results folder still has it)`,
            );
          },
        ),
      () => undefined,
    );
  };
  return {
    runId,
    get failures() {
      return failures;
    },
    settled: () => chain,
    async interrupt(note: string) {
      if (!started) return;
      write('the interruption', () => store.interrupt(runId, note));
      await chain;
    },
    onStart(s) {
      started = true;
      resultsDir = s.resultsDir;
      const identity = s.station.identity;
      write('the run', () =>
        store.insertRun({
          id: runId,
          station: s.station.name,
          host: hostname(),
          pid: process.pid,
          device: s.station.deviceSpec.text,
          device_serial: serialOf(identity),
          firmware: firmwareOf(identity),
          identity: JSON.stringify(identity),
          suites: JSON.stringify([...s.suites, ...(s.scenarios ?? []).map((x) => `scenario:${x.file}`)]),
          chiprig: chiprigVersion(),
          started_at: new Date().toISOString(),
          ended_at: null,
          status: 'running',
          note: null,
          ...NO_OUTCOMES,
          results_dir: s.resultsDir,
          report_dir: opts.reportDir ?? null,
        }),
      );
      return chain;
    },
    onTest(record: TestRecord) {
      const n = ++seq;
      const req = requirementOf(record);
      write('a result', () =>
        store.insertResult({
          run_id: runId,
          seq: n,
          requirement: req?.id ?? /^([A-Z0-9]+(?:-[A-Z0-9]+)+)\s/.exec(record.title)?.[1] ?? null,
          transport: req?.transport ?? null,
          area: record.area,
          title: record.title,
          outcome: record.outcome,
          message: record.message ?? null,
          duration_ms: record.durationMs,
          finished_at: new Date().toISOString(),
          traffic_ref: `${resultsDir}#${record.area} ${record.title}`,
        }),
      );
    },
    onMeasurement(m: RecordedMeasurement) {
      const n = ++mseq;
      const { test, title, transport, name, value, unit, verdict, at, ...detail } = m;
      write('a measurement', () =>
        store.insertMeasurement({
          run_id: runId,
          seq: n,
          test,
          title,
          transport: transport ?? null,
          name,
          value,
          unit,
          verdict,
          detail: JSON.stringify(detail),
          recorded_at: at,
        }),
      );
    },
    async onEnd(o: RunOutcome) {
      write('the run verdict', () =>
        store.finishRun(runId, {
          status: statusOf(o.counts, o.records.length),
          ended_at: new Date().toISOString(),
          ...o.counts,
        }),
      );
      await chain;
    },
  };
}
