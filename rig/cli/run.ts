import { basename, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { MEASUREMENTS_FILE } from '../measure/run-record.ts';
import { progressLine, summary } from '../report/console.ts';
import { generateHtmlReport } from '../report/html.ts';
import { matrixText } from '../report/matrix.ts';
import { readTestPlan } from '../report/test-plan.ts';
import { DEFAULT_DATABASE, isPostgresUrl, ResultsStore } from '../results/store.ts';
import { type DatabaseOutput, databaseOutput } from '../results/writer.ts';
import { DeviceUnreachable, type RunListener, type RunOutcome, runSuites } from '../run/engine.ts';
import { MATRIX_FILE, MATRIX_TITLE } from '../run/outputs.ts';
import { parseSuiteList } from '../run/suites.ts';
import { loadScenarios } from '../scenario/active.ts';
import { serveLink, serveLinkWanted } from '../serve/run-link.ts';
import { loadStationFile, type PresenceMode, type StationFile } from '../station/station-file.ts';
import { isTransportKind, type TransportKind, transportKinds } from '../transport/kinds.ts';
import { EXIT } from './exit-codes.ts';
import { exitEarly, setEarlyExitHook } from './exit-hook.ts';
import { runDuts } from './run-duts.ts';

export interface RunOptions {
  station?: string;
  device?: string;
  suite?: string;
  grep?: string;
  duration?: string;
  presence?: string;
  /** The host platform to judge the device's transports by (the profile's platforms). */
  platform?: string;
  hci?: string;
  transport?: string;
  /** Allure 3 history file kept across runs (JSON Lines); needs the HTML report. */
  history?: string;
  /** Records every exchange to this JSON Lines file (replayable with --device replay:FILE). */
  record?: string;
  /** Scenario files (YAML), or folders of them, run instead of the suites (with them, given --suite). */
  scenario?: string[];
  /** Device profile, a shipped name (mitid-chip, generic-u2f) or a file. */
  profile?: string;
  /** The device's metadata statement or MDS3 BLOB. */
  metadata?: string;
  /** Advisory breaches fail (exit 1) instead of being shown apart. */
  strict?: boolean;
  results: string;
  report: string;
  html: boolean;
  /** The results database (file or postgres:// URL); false: none (--no-db). */
  db?: string | false;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** `chiprig run`: checks the flags, hands the run to the engine, prints as it goes, writes the report. */
export async function run(opts: RunOptions): Promise<number> {
  const suites = parseSuiteList(opts.suite);
  let grep: RegExp | undefined;
  if (opts.grep !== undefined) {
    try {
      grep = new RegExp(opts.grep);
    } catch (error) {
      throw new ConfigError(`--grep: not a regular expression: ${(error as Error).message}`);
    }
  }
  const presence = parsePresence(opts.presence);
  // Scenario files are checked before anything opens: a malformed one is exit 2 with its line.
  const scenarios = opts.scenario ? loadScenarios(opts.scenario) : undefined;
  const plan = readTestPlan(process.env.ALLURE_TESTPLAN_PATH);
  const strict = opts.strict === true || process.env.CHIPRIG_STRICT === '1';

  // A station with several devices under test: a worker process each (CHIPRIG_DUT marks a
  // worker, which runs its one device); --device picks one of them by hand instead.
  const file = loadStationFile(opts.station);
  if (file.duts && opts.device === undefined && !process.env.CHIPRIG_DUT) {
    if (opts.record !== undefined) {
      throw new ConfigError(
        `--record: station "${file.name}" has several devices under test; record one with --device`,
      );
    }
    return runDuts(file, {
      ...(opts.suite ? { suite: opts.suite } : {}),
      ...(opts.transport ? { transport: opts.transport } : {}),
      ...(opts.duration ? { duration: opts.duration } : {}),
      ...(opts.grep ? { grep: opts.grep } : {}),
      ...(opts.presence ? { presence: opts.presence } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.history ? { history: opts.history } : {}),
      ...(opts.profile ? { profile: opts.profile } : {}),
      ...(opts.metadata ? { metadata: opts.metadata } : {}),
      ...(scenarios ? { scenario: scenarios.map((s) => s.file) } : {}),
      strict,
      results: opts.results,
      report: opts.report,
      html: opts.html,
      ...(opts.db !== undefined ? { db: opts.db } : {}),
    });
  }
  if (opts.history !== undefined && !opts.html) {
    throw new ConfigError('--history: the history is kept by the HTML report generator; drop --no-html');
  }
  const soakMs = opts.duration === undefined ? undefined : parseDuration(opts.duration, '--duration');

  // The results database is opened before anything runs: one that cannot be is said at once.
  const target = resultsTarget(opts.db, file);
  const store = target === undefined ? undefined : await ResultsStore.open(target);
  const database = store
    ? databaseOutput(store, {
        runId: process.env.CHIPRIG_RUN_ID,
        ...(opts.html ? { reportDir: resolve(opts.report) } : {}),
        warn: (text) => process.stderr.write(`chiprig: ${text}\n`),
      })
    : undefined;
  const stopWatching = database ? watchForInterruption(database) : () => undefined;
  // Started by chiprig serve: it follows the run live and its page may answer prompts.
  const link = serveLinkWanted() ? serveLink() : undefined;
  let outcome: RunOutcome;
  try {
    await store?.reapStale();
    outcome = await runSuites(
      {
        station: {
          ...(opts.station ? { stationFile: opts.station } : {}),
          ...(opts.device ? { device: opts.device } : {}),
          ...(presence ? { presence } : {}),
          ...(opts.platform ? { platform: opts.platform } : {}),
          ...(opts.profile ? { profile: opts.profile } : {}),
          ...(opts.metadata ? { metadata: opts.metadata } : {}),
          ...(opts.hci ? { hci: opts.hci } : {}),
          ...(soakMs !== undefined ? { soakMs } : {}),
          ...(opts.transport !== undefined ? { transports: parseTransports(opts.transport) } : {}),
        },
        ...(suites ? { suites } : {}),
        ...(grep ? { grep } : {}),
        ...(scenarios ? { scenarios } : {}),
        ...(plan ? { plan } : {}),
        ...(opts.record !== undefined ? { record: opts.record } : {}),
        strict,
        resultsDir: opts.results,
      },
      [consoleOutput(), ...(database ? [database] : []), ...(link ? [link] : [])],
    );
  } catch (error) {
    link?.close();
    stopWatching();
    await database?.interrupt(`the run ended early: ${(error as Error).message}`);
    await store?.close();
    if (!(error instanceof DeviceUnreachable)) throw error;
    process.stderr.write(`chiprig: cannot reach the device under test: ${error.message}\n`);
    return EXIT.BROKEN;
  }
  link?.close();
  stopWatching();

  if (opts.html) {
    const report = await generateHtmlReport(outcome.resultsDir, resolve(opts.report), {
      ...(opts.history ? { historyPath: opts.history } : {}),
    });
    if (report.ok) out(`report: ${report.index}${report.note}`);
    else process.stderr.write(`chiprig: the HTML report was not generated: ${report.error}\n`);
    if (!report.ok && database && store) await store.setReport(database.runId, null).catch(() => undefined);
  }
  if (database && store) {
    await database.settled();
    const failed = database.failures > 0 ? ` (${database.failures} rows could not be written)` : '';
    out(`results database: ${store.where}, run ${database.runId}${failed}`);
    await store.close();
  }
  if (outcome.recording)
    out(`recording: ${outcome.recording.path} (${outcome.recording.exchanges} exchange lines)`);
  const replay = outcome.replay;
  if (replay) {
    out(`replay: ${replay.same} of ${replay.total} verdicts as recorded`);
    for (const d of replay.differences)
      out(`  differs: ${d.test}: recorded ${d.recorded}, replayed ${d.replayed}`);
    if (replay.unasked > 0) {
      out(
        `  ${replay.unasked} recorded exchanges were never asked for (the replaying host took another path)`,
      );
    }
  }
  const c = outcome.counts;
  if (outcome.records.length === 0) {
    process.stderr.write('chiprig: no test matched the selection (check --suite and --grep)\n');
    return EXIT.USAGE;
  }
  return c.failed > 0 ? EXIT.FAILED : c.broken > 0 ? EXIT.BROKEN : EXIT.PASSED;
}

/**
 * The results database a run writes: --db, else CHIPRIG_RESULTS_DB, else the station file's
 * results.database (a postgres:// URL, or a file relative to the station file), else
 * reports/chiprig-results.db. Undefined: none (--no-db, or "none").
 */
export function resultsTarget(flag: string | false | undefined, file?: StationFile): string | undefined {
  if (flag === false) return undefined;
  const named = flag ?? process.env.CHIPRIG_RESULTS_DB ?? stationDatabase(file);
  if (named === 'none') return undefined;
  return named ?? DEFAULT_DATABASE;
}

function stationDatabase(file: StationFile | undefined): string | undefined {
  const named = file?.results?.database;
  if (named === undefined) return undefined;
  return isPostgresUrl(named) ? named : resolve(file!.dir, named);
}

/**
 * A run stopped from outside (Ctrl-C, SIGTERM, or the chiprig serve that started it going
 * away) is marked interrupted in the database, with every result it had, before the process
 * ends. Returns how to stop watching.
 */
function watchForInterruption(database: DatabaseOutput): () => void {
  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    setEarlyExitHook(() => database.interrupt(why));
    // Said where it can be (the output may be what went away).
    if (!process.stderr.destroyed) {
      process.stderr.write(`chiprig: ${why}: the run is marked interrupted in the results database\n`);
    }
    exitEarly(code);
  };
  // Output gone (the reader was killed): the run cannot be followed, and ends, interrupted.
  setEarlyExitHook(() => database.interrupt('its output was closed (the reader of the run went away)'));
  const onInt = () => stop('stopped by SIGINT', 130);
  const onTerm = () => stop('stopped by SIGTERM', 143);
  const onGone = () => stop('the chiprig serve that started this run went away', EXIT.BROKEN);
  const onStop = (m: { t?: string }) => {
    if (m?.t === 'stop') stop('stopped by the operator in chiprig serve', EXIT.BROKEN);
  };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  if (process.send) {
    process.once('disconnect', onGone);
    process.on('message', onStop);
  }
  return () => {
    setEarlyExitHook(undefined);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('disconnect', onGone);
    process.off('message', onStop);
  };
}

/** The console: what the run is, a line per test as its result lands, the matrix and the summary. */
function consoleOutput(): RunListener {
  return {
    onNote: out,
    onStart({ station, suites, scenarios, grep, plan, strict, resultsDir }) {
      out(
        `chiprig: station "${station.name}", device ${station.deviceSpec.text}, presence ${station.presence.mode}, platform ${station.platform.name} (${station.platform.source})`,
      );
      const choice = station.profileChoice;
      out(
        `profile: ${station.profile.id} (${station.profile.name}), from ${choice.source}: ${choice.path}${strict ? '; --strict: advisory breaches fail' : ''}`,
      );
      out(
        `suites: ${suites.join(', ') || '(none)'}${scenarios ? `; scenarios: ${scenarios.length} (${scenarios.map((s) => basename(s.file)).join(', ')})` : ''}${grep ? `, grep /${grep.source}/` : ''}; results in ${resultsDir}`,
      );
      if (plan) out(`test plan: ${plan.path} (${plan.ids.size + plan.selectors.size} entries)`);
    },
    onTest: (record, index, total) => out(progressLine(record, index, total)),
    onEnd(o) {
      out('');
      if (o.matrix.length > 0) {
        out(`${MATRIX_TITLE} (requirement × transport; ${join(o.resultsDir, MATRIX_FILE)}):`);
        out(matrixText(o.matrix));
        out('');
      }
      out(summary(o.records, o.durationMs));
      const measured = o.measurements;
      if (measured.length > 0) {
        const n = (v: string) => measured.filter((m) => m.verdict === v).length;
        out(
          `measurements: ${measured.length} recorded, ${n('fail')} outside their limits, ${n('marginal')} marginal${n('inconclusive') > 0 ? `, ${n('inconclusive')} inconclusive` : ''}; ${join(o.resultsDir, MEASUREMENTS_FILE)}`,
        );
      }
    },
  };
}

/** "90s", "10m", "2h", "1500ms" or a number of seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = m ? Number(m[1]) * factor[(m[2] ?? 's') as keyof typeof factor] : Number.NaN;
  if (!(ms >= 1000) || ms > 7 * 24 * 3_600_000) {
    throw new ConfigError(`${flag}: "${text}" is not a duration from 1s to 7 days (e.g. 90s, 10m, 2h)`);
  }
  return ms;
}

function parseTransports(list: string): TransportKind[] {
  const names = list
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const bad = names.filter((t) => !isTransportKind(t));
  if (names.length === 0 || bad.length > 0) {
    throw new ConfigError(
      `--transport: "${list}" is not a list of transports (${transportKinds().join(', ')})`,
    );
  }
  return names;
}

function parsePresence(mode: string | undefined): PresenceMode | undefined {
  if (mode === undefined) return undefined;
  if (mode === 'actuator' || mode === 'prompt' || mode === 'auto') return mode;
  throw new ConfigError(`--presence: "${mode}" is not a presence mode (use actuator, prompt or auto)`);
}
