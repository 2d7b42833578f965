import { isDeviceFailure } from '../errors.ts';
import { deviceText } from '../untrusted.ts';

/**
 * A test's outcome. `advisory`: the device breached an advisory requirement (stricter than
 * every official tool; fixtures/requirements.yaml); shown apart, it changes the exit code
 * only under --strict (where it is `failed` instead).
 */
export type Outcome = 'passed' | 'failed' | 'broken' | 'skipped' | 'advisory';

export interface TestRecord {
  area: string;
  title: string;
  outcome: Outcome;
  durationMs: number;
  message?: string;
}

export function outcomeOf(error: unknown): Outcome {
  return isDeviceFailure(error) ? 'failed' : 'broken';
}

const MARK: Record<Outcome, string> = {
  passed: 'PASS ',
  failed: 'FAIL ',
  broken: 'BROKE',
  skipped: 'SKIP ',
  advisory: 'ADVIS',
};

/** One line per test as it ends: status, ID and title, time; the reason under a non-pass. */
export function progressLine(r: TestRecord, index: number, total: number): string {
  const count = `[${String(index).padStart(String(total).length)}/${total}]`;
  const line = `${count} ${MARK[r.outcome]} ${r.title}  (${formatMs(r.durationMs)})`;
  // A message may quote what the device sent: each line is shown escaped.
  return r.message && r.outcome !== 'passed'
    ? `${deviceText(line, 2000)}\n        ${r.message
        .split('\n')
        .map((l) => deviceText(l, 2000))
        .join('\n        ')}`
    : deviceText(line, 2000);
}

/** Closing summary: a row per area, then the totals. */
export function summary(records: readonly TestRecord[], elapsedMs: number): string {
  const areas = new Map<string, Record<Outcome, number>>();
  for (const r of records) {
    const row = areas.get(r.area) ?? { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 };
    row[r.outcome]++;
    areas.set(r.area, row);
  }
  const width = Math.max(4, ...[...areas.keys()].map((a) => a.length));
  const head = `${'area'.padEnd(width)}  passed  failed  broken  skipped  advisory`;
  const row = (a: string, c: Record<Outcome, number>) =>
    `${a.padEnd(width)}  ${pad(c.passed, 6)}  ${pad(c.failed, 6)}  ${pad(c.broken, 6)}  ${pad(c.skipped, 7)}  ${pad(c.advisory, 8)}`;
  const rows = [...areas].map(([a, c]) => row(a, c));
  const total = count(records);
  const totals = row('total', total);
  return [
    head,
    ...rows,
    '-'.repeat(head.length),
    totals,
    `${records.length} tests in ${formatMs(elapsedMs)}`,
  ].join('\n');
}

export function count(records: readonly TestRecord[]): Record<Outcome, number> {
  const c: Record<Outcome, number> = { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 };
  for (const r of records) c[r.outcome]++;
  return c;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w);
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}
