import { type RunInfo, RunRecord } from '../measure/run-record.ts';
import { activeScenarioFiles, EXAMPLES_DIR, loadScenarios } from '../scenario/active.ts';
import type { LoadedScenario } from '../scenario/load.ts';
import { Station } from '../station/station.ts';
import type { StationOptions } from '../station/station-options.ts';

/**
 * Everything one run holds while mocha runs its suites: the station, the scenarios, where
 * its measurements go, why tests were skipped, which passed with an advisory breach, and
 * whether those fail (--strict). The engine makes one per run and passes it to its outputs;
 * the spec files, which mocha loads and which take no arguments, reach it as `activeRun()`.
 */
export class RunContext {
  /** Measurements, on disk as each is recorded (chiprig-measurements.json, Allure metrics). */
  readonly measurements: RunRecord;
  /** Why a test was skipped, by mocha test (mocha's pending event carries no reason). */
  readonly skipReasons = new WeakMap<object, string>();
  /**
   * The advisory breaches of tests that passed in mocha, by mocha test: the console, JUnit
   * and the matrix show them as their own outcome (fixtures/requirements.yaml, strength
   * advisory). Under --strict they fail instead and are not recorded here.
   */
  readonly advisoryBreaches = new WeakMap<object, string>();
  /** Advisory breaches fail like any other (--strict, CHIPRIG_STRICT=1). */
  readonly strict: boolean;
  #station: Promise<Station> | undefined;
  readonly #openStation: () => Promise<Station>;
  #scenarios: LoadedScenario[] | undefined;
  readonly #loadScenarios: () => LoadedScenario[];

  constructor(init: {
    /** The open station, or how to open it on first use. */
    station: Station | (() => Promise<Station>);
    /** The scenarios the scenario spec runs, or how to load them on first use. */
    scenarios?: LoadedScenario[] | (() => LoadedScenario[]);
    /** Results folder and run facts for the measurements; absent: the npm test folder. */
    results?: { dir: string; run: RunInfo };
    strict?: boolean;
  }) {
    const { station, scenarios } = init;
    this.#openStation = typeof station === 'function' ? station : async () => station;
    if (!(typeof station === 'function')) this.#station = Promise.resolve(station);
    this.#loadScenarios = typeof scenarios === 'function' ? scenarios : () => scenarios ?? [];
    this.measurements = new RunRecord(init.results?.dir, init.results?.run);
    this.strict = init.strict ?? false;
  }

  station(): Promise<Station> {
    this.#station ??= this.#openStation();
    return this.#station;
  }

  scenarios(): LoadedScenario[] {
    this.#scenarios ??= this.#loadScenarios();
    return this.#scenarios;
  }
}

let active: RunContext | undefined;

/**
 * The run mocha is running now: the engine's (rig/run/engine.ts) while it runs one; under
 * plain mocha (npm test), one made from the environment on first use (`fromEnvironment`).
 */
export function activeRun(): RunContext {
  active ??= fromEnvironment();
  return active;
}

/** The engine hands its run over for the spec files mocha loads (undefined: it ended). */
export function setActiveRun(run: RunContext | undefined): void {
  active = run;
}

/**
 * A run as plain mocha sees it: the station from CHIPRIG_STATION / CHIPRIG_DEVICE /
 * CHIPRIG_PRESENCE / CHIPRIG_PLATFORM / CHIPRIG_SOAK_MS (default: the built-in emulated
 * station), the scenarios from CHIPRIG_SCENARIOS (default: the shipped examples), strict
 * when CHIPRIG_STRICT=1.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv = process.env): RunContext {
  return new RunContext({
    station: () => Station.open(optionsFromEnv(env)),
    scenarios: () => loadScenarios(activeScenarioFiles(env) ?? [EXAMPLES_DIR]),
    strict: env.CHIPRIG_STRICT === '1',
  });
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): StationOptions {
  const opts: StationOptions = {};
  if (env.CHIPRIG_STATION) opts.stationFile = env.CHIPRIG_STATION;
  if (env.CHIPRIG_DEVICE) opts.device = env.CHIPRIG_DEVICE;
  const presence = env.CHIPRIG_PRESENCE;
  if (presence === 'actuator' || presence === 'prompt' || presence === 'auto') opts.presence = presence;
  if (env.CHIPRIG_PLATFORM) opts.platform = env.CHIPRIG_PLATFORM;
  const soak = Number(env.CHIPRIG_SOAK_MS);
  if (soak > 0) opts.soakMs = soak;
  return opts;
}
