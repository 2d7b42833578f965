/**
 * Measurements, declared up front with a unit, limits and an optional marginal band, and
 * graded when recorded (the OpenHTF idea, architecture.md): a value outside its limits fails
 * the test; a value inside the limits but outside the marginal band passes and is flagged
 * "marginal", so a lab sees a device drifting toward its limit before it fails.
 *
 * A figure measured from samples (a mean, a percentile) is recorded with its interval
 * (recordEstimate, stats.ts) and graded on the whole interval: inside the limits passes,
 * wholly outside fails, straddling a limit is "inconclusive", which leaves the test broken
 * with the figures (InconclusiveMeasurementError), never failed.
 */
import { AssertionError } from 'node:assert';
import { ChiprigError } from '../errors.ts';
import { decide, type Estimate, formatEstimate } from './stats.ts';

export interface Limits {
  min?: number;
  max?: number;
}

export type Verdict = 'pass' | 'marginal' | 'fail' | 'inconclusive' | 'recorded';

export interface MeasurementSpec {
  /** Dotted name, unique within a test, e.g. "latency.p99". */
  name: string;
  unit: string;
  /** Outside these the test fails. */
  limits?: Limits;
  /** Inside the limits but outside these: marginal (flagged, not failed). */
  marginal?: Limits;
  /** Where the limits come from, shown with a failure (e.g. a profile field). */
  source?: string;
  /** Which way is better, for trends (Allure performance metrics). */
  better?: 'lower' | 'higher';
  description?: string;
  /**
   * The rig's own accuracy for this figure, from its calibration: the larger of `abs` (in
   * the unit) and `rel` × the value. A change between two runs within it is not the
   * device's (chiprig compare).
   */
  accuracy?: { abs?: number; rel?: number };
}

/** The interval a figure measured from samples was graded on (stats.ts). */
export interface MeasuredInterval {
  lo: number | null;
  hi: number | null;
  confidence: number;
  n: number;
  method: string;
  /** The samples' spread as a standard deviation (stats.ts Estimate.spread). */
  spread?: number;
}

export interface MeasuredValue extends MeasurementSpec {
  value: number;
  verdict: Verdict;
  /** Present when the value is an estimate: the verdict is the interval's (null: unbounded end). */
  interval?: MeasuredInterval;
  /** ISO time of recording. */
  at: string;
}

export function checkLimits(limits: Limits | undefined, what: string): void {
  if (!limits) return;
  for (const [k, v] of Object.entries(limits)) {
    if (v !== undefined && !Number.isFinite(v))
      throw new RangeError(`${what}.${k}: not a finite number: ${v}`);
  }
  if (limits.min !== undefined && limits.max !== undefined && limits.min > limits.max) {
    throw new RangeError(`${what}: min ${limits.min} is above max ${limits.max}`);
  }
}

/**
 * A device-profile limit ({ max, marginal? } or { min, marginal? }) as the limits, marginal
 * band and source of a declared measurement; nothing when the profile sets none.
 */
export function profileLimit(
  entry: { min?: number; max?: number; marginal?: number | undefined } | undefined,
  source: string,
): Pick<MeasurementSpec, 'limits' | 'marginal' | 'source'> {
  if (!entry) return {};
  const side = entry.min !== undefined ? 'min' : 'max';
  return {
    limits: { [side]: entry[side] },
    source,
    ...(entry.marginal !== undefined ? { marginal: { [side]: entry.marginal } } : {}),
  };
}

function inside(value: number, limits: Limits): boolean {
  return (
    (limits.min === undefined || value >= limits.min) && (limits.max === undefined || value <= limits.max)
  );
}

/** Grades a value: fail outside the limits, marginal outside the marginal band, else pass. */
export function grade(value: number, limits?: Limits, marginal?: Limits): Verdict {
  if (!Number.isFinite(value)) return limits ? 'fail' : 'recorded';
  if (!limits && !marginal) return 'recorded';
  if (limits && !inside(value, limits)) return 'fail';
  if (marginal && !inside(value, marginal)) return 'marginal';
  return 'pass';
}

export function formatLimits(limits: Limits | undefined, unit: string): string {
  if (!limits) return 'no limit';
  const parts: string[] = [];
  if (limits.min !== undefined) parts.push(`>= ${limits.min} ${unit}`);
  if (limits.max !== undefined) parts.push(`<= ${limits.max} ${unit}`);
  return parts.join(' and ') || 'no limit';
}

/** Grades an estimate on its interval; the marginal band is judged on the point value. */
export function gradeEstimate(e: Estimate, limits?: Limits, marginal?: Limits): Verdict {
  if (!limits && !marginal) return 'recorded';
  if (limits) {
    const d = decide(e, limits);
    if (d !== 'pass') return d;
  }
  if (marginal && !inside(e.value, marginal)) return 'marginal';
  return 'pass';
}

/** The interval of a recorded value as an Estimate (infinite ends restored). */
export function estimateOf(m: MeasuredValue): Estimate | undefined {
  const i = m.interval;
  if (!i) return undefined;
  return {
    value: m.value,
    lo: i.lo ?? -Infinity,
    hi: i.hi ?? Infinity,
    confidence: i.confidence,
    n: i.n,
    method: i.method,
  };
}

export function formatValue(m: MeasuredValue): string {
  const e = estimateOf(m);
  const v = e
    ? formatEstimate(e, m.unit)
    : `${Math.abs(m.value) >= 100 ? m.value.toFixed(1) : m.value.toPrecision(4)} ${m.unit}`;
  const verdict = m.verdict === 'recorded' ? '' : ` ${m.verdict.toUpperCase()}`;
  const limits = m.limits ? ` (limit ${formatLimits(m.limits, m.unit)})` : '';
  return `${m.name} = ${v}${verdict}${limits}`;
}

/** A value outside its limits: a device failure (AssertionError), naming value, limit and source. */
export class MeasurementLimitError extends AssertionError {
  readonly measurements: readonly MeasuredValue[];

  constructor(prefix: string, failed: readonly MeasuredValue[]) {
    const lines = failed.map((m) => {
      const e = estimateOf(m);
      const what = e
        ? `${formatEstimate(e, m.unit)}: the whole interval is outside`
        : `${m.value.toFixed(3)} ${m.unit} is outside`;
      return `${m.name} = ${what} ${formatLimits(m.limits, m.unit)}${m.source ? ` (${m.source})` : ''}`;
    });
    super({ message: `${prefix}: ${lines.join('; ')}` });
    this.name = 'MeasurementLimitError';
    this.measurements = failed;
  }
}

/**
 * Figures whose interval straddles a limit even after the samples the case may take: the
 * data cannot decide, so the test is broken (a ChiprigError), never failed. The message
 * gives n, the estimate, the interval and the limit, so a lab can see how far off it was.
 */
export class InconclusiveMeasurementError extends ChiprigError {
  readonly measurements: readonly MeasuredValue[];

  constructor(prefix: string, undecided: readonly MeasuredValue[]) {
    const lines = undecided.map((m) => {
      const e = estimateOf(m);
      const what = e ? formatEstimate(e, m.unit) : `${m.value} ${m.unit}`;
      return `${m.name} = ${what} straddles the limit ${formatLimits(m.limits, m.unit)}${m.source ? ` (${m.source})` : ''}`;
    });
    super('INCONCLUSIVE', `${prefix}: inconclusive, the data cannot decide: ${lines.join('; ')}`);
    this.measurements = undecided;
  }
}

/** Where recorded measurements go (the report, the run's JSON file, the console). */
export interface MeasurementSink {
  record(m: MeasuredValue): void;
}

/** The measurements of one test: declare, record (graded at once), then `verify()`. */
export class Measurements {
  readonly #specs = new Map<string, MeasurementSpec>();
  readonly #values: MeasuredValue[] = [];
  readonly #sink: MeasurementSink | undefined;
  readonly #owner: string;

  constructor(owner: string, sink?: MeasurementSink) {
    this.#owner = owner;
    this.#sink = sink;
  }

  get values(): readonly MeasuredValue[] {
    return this.#values;
  }

  declare(spec: MeasurementSpec): MeasurementSpec {
    if (this.#specs.has(spec.name))
      throw new Error(`measurement ${spec.name}: declared twice in ${this.#owner}`);
    checkLimits(spec.limits, `${spec.name}.limits`);
    checkLimits(spec.marginal, `${spec.name}.marginal`);
    this.#specs.set(spec.name, spec);
    return spec;
  }

  /** Records a declared measurement; the verdict is decided here and kept. */
  record(name: string, value: number): MeasuredValue {
    const spec = this.#specs.get(name);
    if (!spec) throw new Error(`measurement ${name}: not declared in ${this.#owner}`);
    const m: MeasuredValue = {
      ...spec,
      value,
      verdict: grade(value, spec.limits, spec.marginal),
      at: new Date().toISOString(),
    };
    this.#values.push(m);
    this.#sink?.record(m);
    return m;
  }

  /**
   * Records a declared measurement measured from samples, graded on its interval: pass
   * inside the limits, fail wholly outside, inconclusive (the test ends broken) otherwise.
   */
  recordEstimate(name: string, estimate: Estimate): MeasuredValue {
    const spec = this.#specs.get(name);
    if (!spec) throw new Error(`measurement ${name}: not declared in ${this.#owner}`);
    const end = (x: number) => (Number.isFinite(x) ? x : null);
    const m: MeasuredValue = {
      ...spec,
      value: estimate.value,
      verdict: gradeEstimate(estimate, spec.limits, spec.marginal),
      interval: {
        lo: end(estimate.lo),
        hi: end(estimate.hi),
        confidence: estimate.confidence,
        n: estimate.n,
        method: estimate.method,
        ...(estimate.spread !== undefined && Number.isFinite(estimate.spread)
          ? { spread: estimate.spread }
          : {}),
      },
      at: new Date().toISOString(),
    };
    this.#values.push(m);
    this.#sink?.record(m);
    return m;
  }

  get inconclusive(): MeasuredValue[] {
    return this.#values.filter((m) => m.verdict === 'inconclusive');
  }

  get failed(): MeasuredValue[] {
    return this.#values.filter((m) => m.verdict === 'fail');
  }

  get marginal(): MeasuredValue[] {
    return this.#values.filter((m) => m.verdict === 'marginal');
  }

  /**
   * Throws MeasurementLimitError if any recorded value is outside its limits (a device
   * failure), else InconclusiveMeasurementError if any could not be decided (broken).
   */
  verify(): void {
    const failed = this.failed;
    if (failed.length > 0) throw new MeasurementLimitError(this.#owner, failed);
    const undecided = this.inconclusive;
    if (undecided.length > 0) throw new InconclusiveMeasurementError(this.#owner, undecided);
  }
}
