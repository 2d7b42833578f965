import { appendFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import AllureMochaReporter from 'allure-mocha';
import Mocha from 'mocha';
import { suiteOf } from '../../suites/support/layout.ts';
import { ChiprigError, ConfigError } from '../errors.ts';
import { MEASUREMENTS_FILE, runRecord } from '../measure/run-record.ts';
import { attachGlobal, fillSkipReasons, writeEnvironment } from '../report/allure.ts';
import { count, outcomeOf, progressLine, summary, type TestRecord } from '../report/console.ts';
import { generateHtmlReport } from '../report/html.ts';
import { writeJunit } from '../report/junit.ts';
import { conformanceMatrix, matrixMarkdown, matrixText, requirementOf } from '../report/matrix.ts';
import { advisoryBreaches, skipReasons } from '../report/skips.ts';
import { planIncludes, readTestPlan, type TestPlan } from '../report/test-plan.ts';
import { loadScenarios, useScenarios } from '../scenario/active.ts';
import { useStation } from '../station/active-station.ts';
import { PROFILES_DIR } from '../station/device-profile.ts';
import { Station } from '../station/station.ts';
import { loadStationFile, type PresenceMode } from '../station/station-file.ts';
import { Recorder } from '../tape/recorder.ts';
import type { Replayer } from '../tape/replayer.ts';
import type { TransportKind } from '../transport/transport.ts';
import { chiprigVersion, environmentInfo } from './environment.ts';
import { EXIT } from './exit-codes.ts';
import { runDuts } from './run-duts.ts';
import { NOT_REPLAYED, parseSuiteList, SCENARIO_SPEC, SUITES, specFiles } from './suites.ts';

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
  /** Advisory breaches fail (exit 1) instead of being shown apart. */
  strict?: boolean;
  results: string;
  report: string;
  html: boolean;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

const MATRIX_TITLE = 'Conformance matrix';
/** Beside the Allure results: the matrix as Markdown, and JUnit XML. */
export const MATRIX_FILE = 'conformance-matrix.md';
export const JUNIT_FILE = 'junit.xml';
/** Beside the Allure results: every test's outcome, for scripts (`--repeat` reads it). */
export const OUTCOMES_FILE = 'chiprig-outcomes.json';

/** `chiprig run`: opens the station, runs the suites with live progress, writes the report. */
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
  // The suites read it (and the workers of a multi-device station inherit it).
  if (opts.strict) process.env.CHIPRIG_STRICT = '1';
  // Scenario files are checked before anything opens: a malformed one is exit 2 with its line.
  const scenarios = opts.scenario ? loadScenarios(opts.scenario) : undefined;
  const plan = readTestPlan(process.env.ALLURE_TESTPLAN_PATH);

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
      ...(scenarios ? { scenario: scenarios.map((s) => s.file) } : {}),
      results: opts.results,
      report: opts.report,
      html: opts.html,
    });
  }
  if (opts.history !== undefined && !opts.html) {
    throw new ConfigError('--history: the history is kept by the HTML report generator; drop --no-html');
  }
  const soakMs = opts.duration === undefined ? undefined : parseDuration(opts.duration, '--duration');

  const started = performance.now();
  const recorder = opts.record === undefined ? undefined : new Recorder(resolve(opts.record));
  let station: Station;
  try {
    station = await Station.open({
      ...(opts.station ? { stationFile: opts.station } : {}),
      ...(opts.device ? { device: opts.device } : {}),
      ...(presence ? { presence } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.profile ? { profile: opts.profile } : {}),
      ...(opts.hci ? { hci: opts.hci } : {}),
      ...(soakMs !== undefined ? { soakMs } : {}),
      ...(opts.transport !== undefined ? { transports: parseTransports(opts.transport) } : {}),
      ...(recorder ? { record: recorder } : {}),
    });
  } catch (error) {
    recorder?.close();
    if (error instanceof ConfigError) throw error;
    const what = error instanceof ChiprigError ? error.message : String(error);
    process.stderr.write(`chiprig: cannot reach the device under test: ${what}\n`);
    return EXIT.BROKEN;
  }

  const replay = station.replay;
  if (replay) {
    const h = replay.header;
    out(
      `replaying ${replay.recording.path}: recorded ${h.startedAt} on station "${h.station}", device ${h.device}, ${replay.recording.results.length} test results`,
    );
    grep ??= h.grep === null ? undefined : new RegExp(h.grep);
  }
  try {
    const chosen = (
      suites ??
      (scenarios ? [] : undefined) ??
      replay?.header.suites.filter((name) => {
        const why = NOT_REPLAYED[name];
        if (why) out(`suite ${name}: not replayed: ${why}`);
        return !why;
      }) ??
      Object.keys(SUITES)
    ).filter((name) => {
      const missing = SUITES[name]!.needs.filter((t) => !station.transports.includes(t));
      if (missing.length > 0 && suites)
        out(`suite ${name}: skipped, the station has no ${missing.join('/')} transport`);
      return missing.length === 0;
    });
    const resultsDir = resolve(opts.results);
    clearResults(resultsDir);
    runRecord.use(resultsDir, {
      station: station.name,
      device: station.deviceSpec.text,
      host: `${hostname()} (${process.platform} ${process.arch}, Node ${process.version})`,
      startedAt: new Date().toISOString(),
    });
    writeEnvironment(resultsDir, await environmentInfo(station));
    recorder?.header({
      startedAt: new Date().toISOString(),
      chiprig: chiprigVersion(),
      host: `${process.platform} ${process.arch}, Node ${process.version}`,
      station: station.name,
      device: station.deviceSpec.text,
      transports: [...station.transports],
      presence: station.presence.mode,
      emulated: station.emulated,
      canPowerCycle: station.canPowerCycle,
      canSetPairingMode: station.canSetPairingMode,
      suites: chosen,
      grep: grep?.source ?? null,
      platform: station.platform.name,
      ...(station.profileChoice ? { profile: recordedProfile(station.profileChoice.path) } : {}),
    });
    out(
      `chiprig: station "${station.name}", device ${station.deviceSpec.text}, presence ${station.presence.mode}, platform ${station.platform.name} (${station.platform.source})`,
    );
    const choice = station.profileChoice;
    out(
      `profile: ${station.profile.id} (${station.profile.name})${choice ? `, from ${choice.source}: ${choice.path}` : ''}${process.env.CHIPRIG_STRICT === '1' ? '; --strict: advisory breaches fail' : ''}`,
    );
    out(
      `suites: ${chosen.join(', ') || '(none)'}${scenarios ? `; scenarios: ${scenarios.length} (${scenarios.map((s) => basename(s.file)).join(', ')})` : ''}${grep ? `, grep /${grep.source}/` : ''}; results in ${resultsDir}`,
    );
    if (scenarios) useScenarios(scenarios);

    useStation(station);
    if (plan) out(`test plan: ${plan.path} (${plan.ids.size + plan.selectors.size} entries)`);
    const records = await runMocha(
      [...chosen.flatMap(specFiles), ...(scenarios ? [SCENARIO_SPEC] : [])],
      resultsDir,
      grep,
      plan,
      (done) =>
        // The matrix in the report too (Allure 3 shows global attachments on the overview).
        attachGlobal(MATRIX_TITLE, matrixMarkdown(conformanceMatrix(done), MATRIX_TITLE), 'text/markdown'),
      (test, record) =>
        station.tape?.result(test.fullTitle(), record.outcome, record.message, suiteOf(test.file)),
    );
    fillSkipReasons(resultsDir);
    // Facts the suites learnt (e.g. a real key's attestation subject) join the environment.
    writeEnvironment(resultsDir, await environmentInfo(station));
    out('');
    const rows = conformanceMatrix(records);
    if (rows.length > 0) {
      const md = matrixMarkdown(rows, `${MATRIX_TITLE}: station ${station.name}, ${station.deviceSpec.text}`);
      writeFileSync(join(resultsDir, MATRIX_FILE), `${md}\n`);
      // On GitHub Actions the matrix becomes the job summary.
      const summaryFile = process.env.GITHUB_STEP_SUMMARY;
      if (summaryFile) appendFileSync(summaryFile, `${md}\n\n`);
      out(`${MATRIX_TITLE} (requirement × transport; ${join(resultsDir, MATRIX_FILE)}):`);
      out(matrixText(rows));
      out('');
    }
    writeJunit(join(resultsDir, JUNIT_FILE), records, `chiprig ${station.name}`);
    writeOutcomes(join(resultsDir, OUTCOMES_FILE), records);
    out(summary(records, performance.now() - started));
    const measured = runRecord.measurements;
    if (measured.length > 0) {
      const n = (v: string) => measured.filter((m) => m.verdict === v).length;
      out(
        `measurements: ${measured.length} recorded, ${n('fail')} outside their limits, ${n('marginal')} marginal${n('inconclusive') > 0 ? `, ${n('inconclusive')} inconclusive` : ''}; ${join(resultsDir, MEASUREMENTS_FILE)}`,
      );
    }

    if (opts.html) {
      const report = await generateHtmlReport(resultsDir, resolve(opts.report), {
        ...(opts.history ? { historyPath: opts.history } : {}),
      });
      if (report.ok) out(`report: ${report.index}`);
      else process.stderr.write(`chiprig: the HTML report was not generated: ${report.error}\n`);
    }
    if (recorder) out(`recording: ${recorder.path} (${recorder.exchanges} exchange lines)`);
    if (replay) reportReplay(replay, chosen);
    const c = count(records);
    if (records.length === 0) {
      process.stderr.write('chiprig: no test matched the selection (check --suite and --grep)\n');
      return EXIT.USAGE;
    }
    return c.failed > 0 ? EXIT.FAILED : c.broken > 0 ? EXIT.BROKEN : EXIT.PASSED;
  } finally {
    await station.close();
    recorder?.close();
  }
}

/**
 * `chiprig-outcomes.json`: each test's requirement ID and transport (as in the matrix), its
 * title and outcome, and the message of a test that did not pass.
 */
function writeOutcomes(path: string, records: readonly TestRecord[]): void {
  const tests = records.map((r) => {
    const req = requirementOf(r);
    return {
      id: req?.id ?? null,
      transport: req?.transport ?? null,
      area: r.area,
      title: r.title,
      outcome: r.outcome,
      ...(r.message && r.outcome !== 'passed' ? { message: r.message } : {}),
    };
  });
  writeFileSync(path, `${JSON.stringify({ format: 'chiprig-outcomes/1', tests }, null, 2)}\n`);
}

/** A shipped profile by name (a recording replays on another machine), any other by path. */
function recordedProfile(path: string): string {
  const inShipped = relative(PROFILES_DIR, path);
  return !inShipped.startsWith('..') && !isAbsolute(inShipped) && inShipped.endsWith('.yaml')
    ? inShipped.slice(0, -'.yaml'.length)
    : path;
}

/** How the replay's verdicts compare with the recording's, test by test. */
function reportReplay(replay: Replayer, suites: readonly string[]): void {
  const diffs = replay.differences(suites);
  const same = replay.replayed.size - diffs.filter((d) => replay.replayed.has(d.test)).length;
  out(`replay: ${same} of ${replay.replayed.size} verdicts as recorded`);
  for (const d of diffs) out(`  differs: ${d.test}: recorded ${d.recorded}, replayed ${d.replayed}`);
  if (replay.skipped > 0) {
    out(`  ${replay.skipped} recorded exchanges were never asked for (the replaying host took another path)`);
  }
}

/** Removes the tests `keep` rejects, and the suites left empty. */
function prune(suite: Mocha.Suite, keep: (test: Mocha.Test) => boolean): void {
  suite.tests = suite.tests.filter(keep);
  for (const child of suite.suites) prune(child, keep);
  suite.suites = suite.suites.filter((child) => child.total() > 0);
}

/**
 * Empties a results folder of an earlier run's Allure files, and only those: a mistyped
 * --results must never cost a lab engineer a folder.
 */
function clearResults(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (
      /-(result|container|perf|globals)\.json$|-attachment(\.\w+)?$|^environment\.properties$|^chiprig-measurements\.json$|^chiprig-outcomes\.json$|^conformance-matrix\.md$|^junit\.xml$/.test(
        name,
      )
    ) {
      rmSync(join(dir, name), { force: true });
    }
  }
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
  const bad = names.filter((t) => t !== 'hid' && t !== 'nfc' && t !== 'ble');
  if (names.length === 0 || bad.length > 0) {
    throw new ConfigError(`--transport: "${list}" is not a list of transports (hid, nfc, ble)`);
  }
  return names as TransportKind[];
}

function parsePresence(mode: string | undefined): PresenceMode | undefined {
  if (mode === undefined) return undefined;
  if (mode === 'actuator' || mode === 'prompt' || mode === 'auto') return mode;
  throw new ConfigError(`--presence: "${mode}" is not a presence mode (use actuator, prompt or auto)`);
}

async function runMocha(
  files: string[],
  resultsDir: string,
  grep: RegExp | undefined,
  plan: TestPlan | undefined,
  afterAll?: (records: readonly TestRecord[]) => PromiseLike<void>,
  onResult?: (test: Mocha.Runnable, record: TestRecord) => void,
): Promise<TestRecord[]> {
  // chiprig applies the test plan itself (requirement IDs as well as Allure full names) and
  // drops what it leaves out, so the reporter must not apply it again (it would mark the
  // tests chosen by ID as skipped).
  const planPath = process.env.ALLURE_TESTPLAN_PATH;
  delete process.env.ALLURE_TESTPLAN_PATH;
  const mocha = new Mocha({
    reporter: AllureMochaReporter as unknown as Mocha.ReporterConstructor,
    reporterOptions: { resultsDir },
    timeout: 10_000,
    ...(grep ? { grep } : {}),
  });
  for (const f of files) mocha.addFile(f);
  try {
    await mocha.loadFilesAsync();
    if (plan) prune(mocha.suite, (test) => planIncludes(plan, test));
    return await runLoaded(mocha, grep, afterAll, onResult);
  } finally {
    if (planPath !== undefined) process.env.ALLURE_TESTPLAN_PATH = planPath;
  }
}

async function runLoaded(
  mocha: Mocha,
  grep: RegExp | undefined,
  afterAll?: (records: readonly TestRecord[]) => PromiseLike<void>,
  onResult?: (test: Mocha.Runnable, record: TestRecord) => void,
): Promise<TestRecord[]> {
  // mocha's own total ignores --grep; count what will run, so progress reads [n/total].
  const matching = (suite: Mocha.Suite): number =>
    suite.tests.filter((t) => !grep || grep.test(t.fullTitle())).length +
    suite.suites.reduce((sum, child) => sum + matching(child), 0);
  const total = matching(mocha.suite);
  const records: TestRecord[] = [];
  if (afterAll) mocha.suite.afterAll(async () => afterAll(records));
  await new Promise<void>((resolveRun) => {
    const runner = mocha.run(() => resolveRun());
    const add = (test: Mocha.Test | Mocha.Hook, outcome: TestRecord['outcome'], error?: Error) => {
      const record: TestRecord = {
        area: test.parent?.fullTitle() || '(root)',
        title: test.type === 'hook' ? `${test.title} (hook)` : test.title,
        outcome,
        durationMs: test.duration ?? 0,
        ...(error ? { message: error.message } : {}),
      };
      records.push(record);
      // The report writes a test's result on 'test end' (after pass/fail/pending), so its
      // line waits for that: a printed line means the result is on disk. Hooks have no end.
      if (test.type === 'hook') out(progressLine(record, records.length, total));
      else
        ended.set(test, () => {
          onResult?.(test, record);
          out(progressLine(record, records.indexOf(record) + 1, total));
        });
    };
    const ended = new Map<Mocha.Runnable, () => void>();
    runner.on('test end', (test) => {
      ended.get(test)?.();
      ended.delete(test);
    });
    runner.on('pass', (test) => {
      const breach = advisoryBreaches.get(test);
      add(test, breach ? 'advisory' : 'passed', breach ? new Error(breach) : undefined);
    });
    runner.on('fail', (test, error) => add(test, outcomeOf(error), error));
    runner.on('pending', (test) => {
      const reason = skipReasons.get(test);
      add(test, 'skipped', reason ? new Error(reason) : undefined);
    });
  });
  return records;
}
