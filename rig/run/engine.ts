import { hostname } from 'node:os';
import { isAbsolute, relative, resolve } from 'node:path';
import { ChiprigError, ConfigError } from '../errors.ts';
import type { RecordedMeasurement } from '../measure/run-record.ts';
import { count, type Outcome, type TestRecord } from '../report/console.ts';
import { conformanceMatrix, type MatrixRow } from '../report/matrix.ts';
import type { TestPlan } from '../report/test-plan.ts';
import type { LoadedScenario } from '../scenario/load.ts';
import { PROFILES_DIR } from '../station/device-profile.ts';
import { Station } from '../station/station.ts';
import type { StationOptions } from '../station/station-options.ts';
import { Recorder } from '../tape/recorder.ts';
import type { Replayer } from '../tape/replayer.ts';
import { RunContext, setActiveRun } from './context.ts';
import { chiprigVersion } from './environment.ts';
import { runMocha } from './mocha-driver.ts';
import { clearResults, resultFiles } from './outputs.ts';
import { NOT_REPLAYED, SCENARIO_SPEC, SUITES, specFiles, suiteOf } from './suites.ts';

/**
 * The run engine: what `chiprig run` (and a multi-device station's workers, and any program)
 * calls to run suites against a device. It opens the station, runs the chosen suites under
 * mocha with the Allure reporter, and tells its listeners what happens; the results are on
 * disk as each test ends. It prints nothing: the CLI's console output is one listener, the
 * result files (matrix, JUnit, outcomes, environment) another.
 */
export interface RunRequest {
  /** How to open the station (file, device spec, presence, platform, profile, ...). */
  station?: Omit<StationOptions, 'record'>;
  /** Suites by name (rig/run/suites.ts); undefined: all of them, or a replay's. */
  suites?: readonly string[];
  /** Only tests whose full title matches. */
  grep?: RegExp;
  /** Scenario files, loaded and checked; alone, they run instead of the suites. */
  scenarios?: LoadedScenario[];
  /** An Allure test plan (requirement IDs or full names). */
  plan?: TestPlan;
  /** Advisory breaches fail like any other. */
  strict?: boolean;
  /** Records every exchange to this JSON Lines file. */
  record?: string;
  /** Where the Allure results and the run's files go (emptied of an earlier run's first). */
  resultsDir: string;
}

/** What a run is about to do, once the station is open. */
export interface RunStart {
  station: Station;
  suites: string[];
  scenarios: LoadedScenario[] | undefined;
  grep: RegExp | undefined;
  plan: TestPlan | undefined;
  strict: boolean;
  resultsDir: string;
  replay: Replayer | undefined;
}

/** What a run did. */
export interface RunOutcome {
  station: string;
  device: string;
  /** Which device was tested (rig/station/identity.ts). */
  identity: Record<string, string>;
  suites: string[];
  resultsDir: string;
  records: TestRecord[];
  counts: Record<Outcome, number>;
  /** Requirement × transport. */
  matrix: MatrixRow[];
  measurements: readonly RecordedMeasurement[];
  durationMs: number;
  recording: { path: string; exchanges: number } | undefined;
  /** How a replay's verdicts compare with the recording's. */
  replay:
    | {
        path: string;
        same: number;
        total: number;
        differences: { test: string; recorded: string; replayed: string }[];
        unasked: number;
      }
    | undefined;
}

/** Follows a run; every hook is optional, and a hook that throws fails the run. */
export interface RunListener {
  /** The station is open and the suites chosen; nothing has run yet. */
  onStart?(start: RunStart): void | Promise<void>;
  /** Something the operator should know (a suite left out, and why). */
  onNote?(text: string): void;
  /** A test ended and its result is on disk: `index` of `total`. */
  onTest?(record: TestRecord, index: number, total: number): void;
  /** A measurement was recorded (and is on disk). */
  onMeasurement?(measurement: RecordedMeasurement): void;
  /** After the last test, while the report is still being written (global attachments). */
  afterAll?(records: readonly TestRecord[]): Promise<void>;
  /** The run ended (the station is still open). */
  onEnd?(outcome: RunOutcome): void | Promise<void>;
}

/** The station opened, but the device under test could not be reached (the CLI's exit 3). */
export class DeviceUnreachable extends ChiprigError {
  constructor(cause: unknown) {
    super('UNREACHABLE', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * Runs `request`, telling `listeners` (after the result files) as it goes. Rejects with a
 * ConfigError for a configuration it cannot use, and with the transport's error when the
 * device cannot be reached; resolves with the outcome once everything is closed.
 */
export async function runSuites(
  request: RunRequest,
  listeners: readonly RunListener[] = [],
): Promise<RunOutcome> {
  const started = performance.now();
  const all = [resultFiles(), ...listeners];
  const recorder = request.record === undefined ? undefined : new Recorder(resolve(request.record));
  let station: Station;
  try {
    station = await Station.open({ ...request.station, ...(recorder ? { record: recorder } : {}) });
  } catch (error) {
    recorder?.close();
    if (error instanceof ConfigError) throw error;
    throw new DeviceUnreachable(error);
  }
  try {
    const note = (text: string) => {
      for (const l of all) l.onNote?.(text);
    };
    const replay = station.replay;
    if (replay) {
      const h = replay.header;
      note(
        `replaying ${replay.recording.path}: recorded ${h.startedAt} on station "${h.station}", device ${h.device}, ${replay.recording.results.length} test results`,
      );
    }
    const grep = request.grep ?? (replay?.header.grep ? new RegExp(replay.header.grep) : undefined);
    const suites = chooseSuites(station, request, note);
    // A BLOB whose chain, signature or nextUpdate fails is refused before anything runs.
    if (suites.includes('metadata')) await station.metadata();
    const resultsDir = resolve(request.resultsDir);
    clearResults(resultsDir);
    const strict = request.strict ?? false;
    const run = new RunContext({
      station,
      scenarios: request.scenarios ?? [],
      results: {
        dir: resultsDir,
        run: {
          station: station.name,
          device: station.deviceSpec.text,
          host: `${hostname()} (${process.platform} ${process.arch}, Node ${process.version})`,
          startedAt: new Date().toISOString(),
          identity: station.identity,
        },
      },
      strict,
    });
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
      suites,
      grep: grep?.source ?? null,
      platform: station.platform.name,
      profile: recordedProfile(station.profileChoice.path),
      identity: station.identity,
    });
    const start: RunStart = {
      station,
      suites,
      scenarios: request.scenarios,
      grep,
      plan: request.plan,
      strict,
      resultsDir,
      replay,
    };
    for (const l of all) await l.onStart?.(start);
    run.measurements.onAdd = (m) => {
      for (const l of all) l.onMeasurement?.(m);
    };
    setActiveRun(run);
    let records: TestRecord[];
    try {
      records = await runMocha(
        [...suites.flatMap(specFiles), ...(request.scenarios ? [SCENARIO_SPEC] : [])],
        resultsDir,
        run,
        { grep, plan: request.plan },
        {
          onTest: (test, record, index, total) => {
            station.tape?.result(test.fullTitle(), record.outcome, record.message, suiteOf(test.file));
            for (const l of all) l.onTest?.(record, index, total);
          },
          afterAll: async (done) => {
            for (const l of all) await l.afterAll?.(done);
          },
        },
      );
    } finally {
      setActiveRun(undefined);
    }
    const outcome: RunOutcome = {
      station: station.name,
      device: station.deviceSpec.text,
      identity: station.identity,
      suites,
      resultsDir,
      records,
      counts: count(records),
      matrix: conformanceMatrix(records),
      measurements: run.measurements.measurements,
      durationMs: performance.now() - started,
      recording: recorder ? { path: recorder.path, exchanges: recorder.exchanges } : undefined,
      replay: replay ? compareReplay(replay, suites) : undefined,
    };
    for (const l of all) await l.onEnd?.(outcome);
    return outcome;
  } finally {
    await station.close();
    recorder?.close();
  }
}

/**
 * The suites a run takes: those asked for; none when only scenarios are; a replay's (less
 * those a recording cannot hold); else all. A suite needing a transport the station lacks
 * is left out (said, when it was asked for).
 */
function chooseSuites(station: Station, request: RunRequest, note: (text: string) => void): string[] {
  const asked = request.suites;
  const chosen =
    asked ??
    (request.scenarios ? [] : undefined) ??
    station.replay?.header.suites.filter((name) => {
      const why = NOT_REPLAYED[name];
      if (why) note(`suite ${name}: not replayed: ${why}`);
      return !why;
    }) ??
    Object.keys(SUITES);
  return chosen.filter((name) => {
    const missing = SUITES[name]!.needs.filter((t) => !station.transports.includes(t));
    if (missing.length > 0 && asked)
      note(`suite ${name}: skipped, the station has no ${missing.join('/')} transport`);
    return missing.length === 0;
  });
}

/** A shipped profile by name (a recording replays on another machine), any other by path. */
function recordedProfile(path: string): string {
  const inShipped = relative(PROFILES_DIR, path);
  return !inShipped.startsWith('..') && !isAbsolute(inShipped) && inShipped.endsWith('.yaml')
    ? inShipped.slice(0, -'.yaml'.length)
    : path;
}

function compareReplay(replay: Replayer, suites: readonly string[]): RunOutcome['replay'] {
  const differences = replay.differences(suites);
  const same = replay.replayed.size - differences.filter((d) => replay.replayed.has(d.test)).length;
  return {
    path: replay.recording.path,
    same,
    total: replay.replayed.size,
    differences,
    unasked: replay.skipped,
  };
}
