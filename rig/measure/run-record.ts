/**
 * Where a run's measurements land on disk, as soon as each is recorded:
 * - `chiprig-measurements.json` in the results folder: the run (station, device, host, start)
 *   and every measurement with its test, transport, unit, limits and verdict. Rewritten
 *   whole (write then rename) after each record, so it is always complete and valid JSON,
 *   even if the run is killed. Format documented in the README ("Measurements").
 * - `<id>-perf.json` per test: Allure 3 performance metrics (key, value, start, stop, unit),
 *   which the report shows in its Metrics section and compares across runs.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MeasuredValue } from './measurement.ts';

export const MEASUREMENTS_FILE = 'chiprig-measurements.json';
/** Where the suites write when mocha runs them directly (`npm test`; see .mocharc.suites.json). */
const DEFAULT_DIR = 'reports/npm-test/allure-results';

export interface RunInfo {
  station: string;
  device: string;
  host: string;
  startedAt: string;
  /** Which device (rig/station/identity.ts). */
  identity?: Record<string, string>;
}

export interface TestOf {
  /** Catalogue ID, e.g. PERF-LAT-03. */
  id: string;
  title: string;
  transport?: string;
}

export interface RecordedMeasurement extends MeasuredValue {
  test: string;
  title: string;
  transport?: string;
}

interface PerfMetric {
  id: string;
  key: string;
  value: number;
  start: number;
  stop: number;
  title: string;
  unit: string;
  group: string;
  better?: 'lower' | 'higher';
}

/** One run's measurements (rig/run/context.ts holds it). */
export class RunRecord {
  readonly #measurements: RecordedMeasurement[] = [];
  readonly #perf = new Map<string, PerfMetric[]>();
  /** Told of each measurement once it is on disk (the run engine's listeners). */
  onAdd: ((m: RecordedMeasurement) => void) | undefined;

  /** `chiprig run` names its results folder; otherwise the npm test folder is used. */
  readonly #dir: string | undefined;
  readonly #run: RunInfo | undefined;

  constructor(dir?: string, run?: RunInfo) {
    this.#dir = dir;
    this.#run = run;
  }

  get dir(): string {
    return this.#dir ?? DEFAULT_DIR;
  }

  get measurements(): readonly RecordedMeasurement[] {
    return this.#measurements;
  }

  /** A new Allure metrics file for one test. */
  perfFileFor(): string {
    return randomUUID();
  }

  add(test: TestOf, perfFile: string, m: MeasuredValue, startMs: number): void {
    const entry: RecordedMeasurement = {
      test: test.id,
      title: test.title,
      ...(test.transport ? { transport: test.transport } : {}),
      ...m,
    };
    this.#measurements.push(entry);
    const metrics = this.#perf.get(perfFile) ?? [];
    const id = test.transport ? `${test.id} ${test.transport}` : test.id;
    metrics.push({
      id,
      // The history keeps a run's metrics by key alone: the test and transport make it unique.
      key: `${id} ${m.name}`,
      value: m.value,
      start: Math.round(startMs),
      stop: Date.now(),
      title: m.description ?? m.name,
      unit: m.unit,
      group: test.id,
      ...(m.better ? { better: m.better } : {}),
    });
    this.#perf.set(perfFile, metrics);
    this.#write(`${perfFile}-perf.json`, metrics);
    this.#write(MEASUREMENTS_FILE, {
      format: 'chiprig-measurements/1',
      run: this.#run ?? null,
      measurements: this.#measurements,
    });
    this.onAdd?.(entry);
  }

  #write(name: string, value: unknown): void {
    const dir = this.dir;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, path);
  }
}
