/**
 * `chiprig compare A B`: what changed between two runs (a firmware drop, a new batch):
 * per requirement and transport, the verdicts that changed; the measurements whose change
 * is beyond the noise of both runs, decided from their samples' intervals; the limits newly
 * crossed; and the two devices' identities side by side. B regressed against A when a cell
 * newly fails or breaks, a limit is newly crossed, or a measurement got worse beyond noise.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { deviceText } from '../untrusted.ts';
import type { Outcome } from './console.ts';

const OUTCOMES_FILE = 'chiprig-outcomes.json';
const MEASUREMENTS_FILE = 'chiprig-measurements.json';

const OUTCOMES = ['passed', 'failed', 'broken', 'skipped', 'advisory'] as const;

const OutcomesSchema = z.looseObject({
  format: z.literal('chiprig-outcomes/1'),
  run: z
    .looseObject({
      station: z.string().optional(),
      device: z.string().optional(),
      identity: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  tests: z.array(
    z.looseObject({
      id: z.string().nullable(),
      transport: z.string().nullable(),
      title: z.string(),
      outcome: z.enum(OUTCOMES),
      message: z.string().optional(),
    }),
  ),
});

const IntervalSchema = z.looseObject({
  lo: z.number().nullable(),
  hi: z.number().nullable(),
  confidence: z.number(),
  n: z.number(),
  method: z.string().optional(),
  spread: z.number().optional(),
});

const MeasurementSchema = z.looseObject({
  test: z.string(),
  transport: z.string().optional(),
  name: z.string(),
  unit: z.string(),
  value: z.number(),
  verdict: z.string(),
  better: z.enum(['lower', 'higher']).optional(),
  accuracy: z.looseObject({ abs: z.number().optional(), rel: z.number().optional() }).optional(),
  limits: z.looseObject({ min: z.number().optional(), max: z.number().optional() }).optional(),
  interval: IntervalSchema.optional(),
});

const MeasurementsSchema = z.looseObject({
  format: z.literal('chiprig-measurements/1'),
  run: z
    .looseObject({
      station: z.string().optional(),
      device: z.string().optional(),
      startedAt: z.string().optional(),
      identity: z.record(z.string(), z.string()).optional(),
    })
    .nullable()
    .optional(),
  measurements: z.array(MeasurementSchema),
});

/** An Allure 3 history entry (one line of --history FILE), as far as compare reads it. */
const HistoryEntrySchema = z.looseObject({
  timestamp: z.number().optional(),
  testResults: z.record(
    z.string(),
    z.looseObject({
      name: z.string(),
      status: z.string(),
      labels: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
      parameters: z.array(z.looseObject({ name: z.string(), value: z.string() })).optional(),
    }),
  ),
  metrics: z.record(z.string(), z.number()).optional(),
});

export type Measurement = z.infer<typeof MeasurementSchema>;

export interface Cell {
  /** "U2F-AUTH-08 hid", or a test's title where it names no requirement. */
  key: string;
  outcome: Outcome;
  title: string;
  message?: string | undefined;
}

/** One run as compare reads it: a results folder, its run record, or a history entry. */
export interface RunSummary {
  source: string;
  /** What kind of input it was, and what it lacks. */
  kind: 'results' | 'history';
  station?: string | undefined;
  device?: string | undefined;
  identity: Record<string, string>;
  cells: Map<string, Cell>;
  measurements: Map<string, Measurement>;
}

/** Worst first: a cell holding several tests takes the worst outcome among them. */
const RANK: Record<Outcome, number> = { broken: 0, failed: 1, advisory: 2, passed: 3, skipped: 4 };
const FAILING = new Set<Outcome>(['failed', 'broken']);

function addCell(cells: Map<string, Cell>, cell: Cell): void {
  const old = cells.get(cell.key);
  if (!old || RANK[cell.outcome] < RANK[old.outcome]) cells.set(cell.key, cell);
}

function readJson<T>(path: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${path}: cannot read it as JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${path}: not ${what}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return parsed.data;
}

const measurementKey = (m: Pick<Measurement, 'test' | 'transport' | 'name'>) =>
  [m.test, m.transport, m.name].filter(Boolean).join(' ');

/**
 * Reads one side: a results folder (chiprig run --results), one of its JSON files (the run
 * record), or an Allure history file (--history), its last entry or `FILE#N` (1 the first,
 * -1 the last).
 */
export function loadRun(source: string): RunSummary {
  const hash = /^(.*\.jsonl)#(-?\d+)$/.exec(source);
  const path = hash ? hash[1]! : source;
  if (!existsSync(path)) throw new ConfigError(`${source}: no such file or folder`);
  if (path.endsWith('.jsonl')) return loadHistory(source, path, hash ? Number(hash[2]) : -1);
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  if (!statSync(path).isDirectory() && ![OUTCOMES_FILE, MEASUREMENTS_FILE].includes(basename(path))) {
    throw new ConfigError(
      `${source}: not a results folder, ${OUTCOMES_FILE}, ${MEASUREMENTS_FILE} or an Allure history file (.jsonl)`,
    );
  }
  const outcomesPath = join(dir, OUTCOMES_FILE);
  if (!existsSync(outcomesPath)) {
    throw new ConfigError(
      `${source}: no ${OUTCOMES_FILE} in ${dir}: not the results folder of a finished chiprig run (chiprig run --results DIR)`,
    );
  }
  const outcomes = readJson(outcomesPath, OutcomesSchema, 'chiprig outcomes');
  const cells = new Map<string, Cell>();
  for (const t of outcomes.tests) {
    const key = t.id ? `${t.id}${t.transport ? ` ${t.transport}` : ''}` : t.title;
    addCell(cells, { key, outcome: t.outcome, title: t.title, message: t.message });
  }
  const measurements = new Map<string, Measurement>();
  const measurementsPath = join(dir, MEASUREMENTS_FILE);
  let run: {
    station?: string | undefined;
    device?: string | undefined;
    identity?: Record<string, string> | undefined;
  } = outcomes.run ?? {};
  if (existsSync(measurementsPath)) {
    const record = readJson(measurementsPath, MeasurementsSchema, 'chiprig measurements');
    for (const m of record.measurements) measurements.set(measurementKey(m), m);
    if (!outcomes.run && record.run) run = record.run;
  }
  return {
    source,
    kind: 'results',
    station: run.station,
    device: run.device,
    identity: run.identity ?? {},
    cells,
    measurements,
  };
}

function loadHistory(source: string, path: string, index: number): RunSummary {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const at = index < 0 ? lines.length + index : index - 1;
  const line = lines[at];
  if (line === undefined) {
    throw new ConfigError(`${source}: the history has ${lines.length} entries; there is no entry ${index}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    throw new ConfigError(`${source}: entry ${at + 1} is not JSON (${(error as Error).message})`);
  }
  const parsed = HistoryEntrySchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      `${source}: entry ${at + 1} is not an Allure history entry: ${parsed.error.issues[0]!.message}`,
    );
  }
  const cells = new Map<string, Cell>();
  const identity: Record<string, string> = {};
  let device: string | undefined;
  for (const r of Object.values(parsed.data.testResults)) {
    const label = (name: string) => r.labels?.find((l) => l.name === name)?.value;
    const parameter = (name: string) => r.parameters?.find((p) => p.name === name)?.value;
    const id = label('catalogueId') ?? /^([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\s/.exec(r.name)?.[1];
    const transport = parameter('transport');
    const outcome: Outcome =
      r.status === 'passed' || r.status === 'failed' || r.status === 'broken' || r.status === 'skipped'
        ? r.status
        : 'advisory';
    addCell(cells, { key: id ? `${id}${transport ? ` ${transport}` : ''}` : r.name, outcome, title: r.name });
    device ??= parameter('device');
    for (const p of r.parameters ?? []) {
      if (p.name.startsWith('device: ')) identity[p.name.slice('device: '.length)] = p.value;
    }
  }
  // Metrics are kept as values alone ("ID transport name": value): no samples, so their
  // changes are listed but not judged.
  const measurements = new Map<string, Measurement>();
  for (const [key, value] of Object.entries(parsed.data.metrics ?? {})) {
    const [test = key, transport, ...rest] = key.split(' ');
    measurements.set(key, {
      test,
      ...(transport && rest.length > 0 ? { transport } : {}),
      name: rest.length > 0 ? rest.join(' ') : (transport ?? key),
      unit: '',
      value,
      verdict: 'recorded',
    });
  }
  return { source, kind: 'history', device, identity, cells, measurements };
}

export interface VerdictChange {
  key: string;
  a: Outcome | 'absent';
  b: Outcome | 'absent';
  /** B's message where B did not pass. */
  message?: string | undefined;
}

export interface MeasurementChange {
  key: string;
  unit: string;
  a: number;
  b: number;
  aInterval?: [number | null, number | null];
  bInterval?: [number | null, number | null];
  /** worse, better (by the measurement's `better`), or changed (no direction). */
  direction: 'worse' | 'better' | 'changed';
  why: string;
}

export interface Comparison {
  a: RunSummary;
  b: RunSummary;
  identity: { field: string; a: string | undefined; b: string | undefined; changed: boolean }[];
  newFailures: VerdictChange[];
  fixes: VerdictChange[];
  newSkips: VerdictChange[];
  otherChanges: VerdictChange[];
  /** Cells in one run only. */
  onlyInA: string[];
  onlyInB: string[];
  /** Measurements whose change is beyond the noise of both runs. */
  measurementChanges: MeasurementChange[];
  /** Limits B crosses that A did not. */
  newlyOutside: MeasurementChange[];
  /** Measurements in both runs that carry no interval in one of them: changes not judged. */
  unjudged: number;
  /** Tail percentiles (p90 and above) in both runs: not judged (see isTail). */
  tails: number;
  compared: number;
  regressed: boolean;
  /** Why B regressed, one line each. */
  reasons: string[];
}

const OUTSIDE = new Set(['fail']);

/** Compares B against A. */
export function compareRuns(a: RunSummary, b: RunSummary): Comparison {
  const newFailures: VerdictChange[] = [];
  const fixes: VerdictChange[] = [];
  const newSkips: VerdictChange[] = [];
  const otherChanges: VerdictChange[] = [];
  const onlyInA: string[] = [];
  const onlyInB: string[] = [];
  for (const [key, cb] of b.cells) {
    const ca = a.cells.get(key);
    if (!ca) {
      onlyInB.push(key);
      if (FAILING.has(cb.outcome)) newFailures.push({ key, a: 'absent', b: cb.outcome, message: cb.message });
      continue;
    }
    if (ca.outcome === cb.outcome) continue;
    const change = { key, a: ca.outcome, b: cb.outcome, message: cb.message };
    if (FAILING.has(cb.outcome) && !FAILING.has(ca.outcome)) newFailures.push(change);
    else if (FAILING.has(ca.outcome) && cb.outcome === 'passed') fixes.push(change);
    else if (cb.outcome === 'skipped') newSkips.push(change);
    else otherChanges.push(change);
  }
  for (const key of a.cells.keys()) if (!b.cells.has(key)) onlyInA.push(key);

  const measurementChanges: MeasurementChange[] = [];
  const newlyOutside: MeasurementChange[] = [];
  let unjudged = 0;
  let tails = 0;
  let compared = 0;
  for (const [key, mb] of b.measurements) {
    const ma = a.measurements.get(key);
    if (!ma) continue;
    compared++;
    const base: Omit<MeasurementChange, 'direction' | 'why'> = {
      key,
      unit: mb.unit || ma.unit,
      a: ma.value,
      b: mb.value,
      ...(ma.interval
        ? { aInterval: [ma.interval.lo, ma.interval.hi] as [number | null, number | null] }
        : {}),
      ...(mb.interval
        ? { bInterval: [mb.interval.lo, mb.interval.hi] as [number | null, number | null] }
        : {}),
    };
    const direction = directionOf(mb.better ?? ma.better, ma.value, mb.value);
    if (OUTSIDE.has(mb.verdict) && !OUTSIDE.has(ma.verdict)) {
      newlyOutside.push({ ...base, direction, why: `outside its limits in B (${limitsText(mb)}), not in A` });
    }
    if (!ma.interval || !mb.interval) {
      unjudged++;
      continue;
    }
    if (isTail(ma.interval) || isTail(mb.interval)) {
      tails++;
      continue;
    }
    const beyond = beyondNoise(ma.interval, mb.interval, {
      a: ma.value,
      b: mb.value,
      accuracy: Math.max(accuracyOf(ma), accuracyOf(mb)),
    });
    if (beyond) measurementChanges.push({ ...base, direction, why: beyond });
  }
  const identity = identityRows(a.identity, b.identity);
  const reasons = [
    ...newFailures.map((c) => `${c.key}: ${c.a} → ${c.b}`),
    ...newlyOutside.map((m) => `${m.key}: ${m.why}`),
    ...measurementChanges
      .filter((m) => m.direction === 'worse')
      .map((m) => `${m.key}: worse beyond noise (${m.why})`),
  ];
  return {
    a,
    b,
    identity,
    newFailures,
    fixes,
    newSkips,
    otherChanges,
    onlyInA,
    onlyInB,
    measurementChanges,
    newlyOutside,
    unjudged,
    tails,
    compared,
    regressed: reasons.length > 0,
    reasons,
  };
}

/**
 * A tail percentile (p90 and above). Its interval assumes independent samples, which holds
 * for the body of a latency distribution but not for its tail: a garbage collection or a
 * busy host stretches a burst of consecutive samples at once. Measured here on 20 clean
 * runs of the emulated chip, the p90 and p99 of one run moved beyond the other's interval
 * in 4 of 19 consecutive pairs (the p50 and means in none). So a tail's change between two
 * runs is not judged; a tail crossing its limit still is (limits newly crossed).
 */
function isTail(i: z.infer<typeof IntervalSchema>): boolean {
  const q = /order statistics of the p(\d+(?:\.\d+)?)/.exec(i.method ?? '');
  return q !== null && Number(q[1]) >= 90;
}

/** A measurement's accuracy (its spec's abs, rel × value) in its unit; 0 when none is stated. */
function accuracyOf(m: Measurement): number {
  return Math.max(m.accuracy?.abs ?? 0, (m.accuracy?.rel ?? 0) * Math.abs(m.value));
}

function directionOf(
  better: 'lower' | 'higher' | undefined,
  a: number,
  b: number,
): MeasurementChange['direction'] {
  if (!better || a === b) return 'changed';
  return (better === 'lower') === b > a ? 'worse' : 'better';
}

function limitsText(m: Measurement): string {
  const parts = [];
  if (m.limits?.min !== undefined) parts.push(`min ${m.limits.min}`);
  if (m.limits?.max !== undefined) parts.push(`max ${m.limits.max}`);
  return `${m.value} ${m.unit}${parts.length ? `, ${parts.join(', ')}` : ''}`;
}

/**
 * Whether two runs' values differ beyond the noise of both, decided from their samples:
 * - each value carries the interval its samples give (a t interval of the mean, or the
 *   distribution-free interval of a percentile): the intervals must not overlap (the change
 *   is real, not an accident of sampling; an unbounded end overlaps everything on its side);
 * - and the change must exceed the runs' noise band: twice the larger spread of their
 *   samples, where recorded (a standard deviation, or a percentile's IQR / 1.349: outside
 *   the band where 95 % of single samples of either run fall), and the rig's own accuracy
 *   for the figure, where stated (device time: max(2 %, 0.2 ms), from its calibration).
 *   Two runs on one machine differ by microseconds of scheduling that many samples make
 *   "significant"; such a change is not a change of the device.
 */
export function beyondNoise(
  a: z.infer<typeof IntervalSchema>,
  b: z.infer<typeof IntervalSchema>,
  values?: { a: number; b: number; accuracy?: number },
): string | undefined {
  const lo = (x: number | null) => x ?? Number.NEGATIVE_INFINITY;
  const hi = (x: number | null) => x ?? Number.POSITIVE_INFINITY;
  const text = (i: z.infer<typeof IntervalSchema>) =>
    `[${i.lo === null ? '-∞' : round(i.lo)}, ${i.hi === null ? '∞' : round(i.hi)}] (${Math.round(i.confidence * 100)} %, n=${i.n})`;
  if (!(lo(b.lo) > hi(a.hi) || hi(b.hi) < lo(a.lo))) return undefined;
  const disjoint = `B ${text(b)} does not overlap A ${text(a)}`;
  if (!values) return disjoint;
  const spreads = [a.spread, b.spread].filter((x): x is number => typeof x === 'number');
  const spreadBand = spreads.length > 0 ? 2 * Math.max(...spreads) : 0;
  const accuracy = values.accuracy ?? 0;
  const change = Math.abs(values.b - values.a);
  if (change <= spreadBand || change <= accuracy) return undefined;
  const bands = [
    ...(spreads.length > 0 ? [`twice the samples' spread (2 × ${round(spreadBand / 2)})`] : []),
    ...(accuracy > 0 ? [`the rig's accuracy (${round(accuracy)})`] : []),
  ];
  return `${disjoint}, and the change ${round(change)} exceeds ${bands.length > 0 ? bands.join(' and ') : 'no stated noise band'}`;
}

function round(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

function identityRows(a: Record<string, string>, b: Record<string, string>): Comparison['identity'] {
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return fields.map((field) => ({ field, a: a[field], b: b[field], changed: a[field] !== b[field] }));
}

/** The comparison as Markdown (a file, the CI job summary). Device text is escaped. */
export function comparisonMarkdown(c: Comparison): string {
  const esc = (s: string | undefined) => (s === undefined ? '–' : deviceText(s, 200).replace(/\|/g, '\\|'));
  const lines = [
    `## chiprig compare: ${c.regressed ? '**B regressed against A**' : 'no regression'}`,
    '',
    `A: \`${esc(c.a.source)}\` (${esc(c.a.station)}, ${esc(c.a.device)})  `,
    `B: \`${esc(c.b.source)}\` (${esc(c.b.station)}, ${esc(c.b.device)})`,
    '',
  ];
  if (c.identity.length > 0) {
    lines.push('### Device identity', '', '| field | A | B |', '|---|---|---|');
    for (const r of c.identity)
      lines.push(`| ${r.changed ? `**${esc(r.field)}**` : esc(r.field)} | ${esc(r.a)} | ${esc(r.b)} |`);
    lines.push('');
  }
  const verdictTable = (title: string, rows: VerdictChange[]) => {
    if (rows.length === 0) return;
    lines.push(
      `### ${title} (${rows.length})`,
      '',
      '| requirement × transport | A | B | B says |',
      '|---|---|---|---|',
    );
    for (const r of rows)
      lines.push(`| ${esc(r.key)} | ${r.a} | ${r.b} | ${esc(r.message?.split('\n')[0])} |`);
    lines.push('');
  };
  verdictTable('New failures', c.newFailures);
  verdictTable('Fixes', c.fixes);
  verdictTable('New skips', c.newSkips);
  verdictTable('Other verdict changes', c.otherChanges);
  const measurementTable = (title: string, rows: MeasurementChange[]) => {
    if (rows.length === 0) return;
    lines.push(
      `### ${title} (${rows.length})`,
      '',
      '| measurement | A | B | | why |',
      '|---|---|---|---|---|',
    );
    for (const m of rows)
      lines.push(
        `| ${esc(m.key)} | ${round(m.a)} ${m.unit} | ${round(m.b)} ${m.unit} | ${m.direction} | ${esc(m.why)} |`,
      );
    lines.push('');
  };
  measurementTable('Limits newly crossed', c.newlyOutside);
  measurementTable('Measurements changed beyond noise', c.measurementChanges);
  lines.push(
    `${c.compared} measurements in both runs; ${c.measurementChanges.length} changed beyond the noise of both; not judged: ${c.unjudged} without a sample interval in one run, ${c.tails} tail percentiles.` +
      (c.onlyInA.length || c.onlyInB.length
        ? ` Cells in A only: ${c.onlyInA.length}; in B only: ${c.onlyInB.length}.`
        : ''),
  );
  return `${lines.join('\n')}\n`;
}

/** The comparison as JSON (format chiprig-compare/1). */
export function comparisonJson(c: Comparison): unknown {
  const side = (r: RunSummary) => ({
    source: r.source,
    kind: r.kind,
    station: r.station ?? null,
    device: r.device ?? null,
    identity: r.identity,
  });
  return {
    format: 'chiprig-compare/1',
    regressed: c.regressed,
    reasons: c.reasons,
    a: side(c.a),
    b: side(c.b),
    identity: c.identity,
    newFailures: c.newFailures,
    fixes: c.fixes,
    newSkips: c.newSkips,
    otherChanges: c.otherChanges,
    onlyInA: c.onlyInA,
    onlyInB: c.onlyInB,
    newlyOutside: c.newlyOutside,
    measurementChanges: c.measurementChanges,
    measurements: { compared: c.compared, unjudged: c.unjudged, tails: c.tails },
  };
}
