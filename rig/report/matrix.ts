/**
 * The conformance matrix: each requirement (catalogue or chiprig ID) against each transport,
 * with the outcome of the tests that checked it. A certification engineer traces every
 * requirement to its evidence from it; CI shows it as the job summary (Markdown).
 */
import { requirements } from '../requirements/requirements.ts';
import { type TransportKind, transportKinds, transportName } from '../transport/kinds.ts';
import type { Outcome, TestRecord } from './console.ts';

export interface MatrixRow {
  id: string;
  /** The requirement's strength (fixtures/requirements.yaml); scenario IDs are the lab's own. */
  strength: string;
  /** Per transport: the combined outcome of its tests; absent where nothing ran. */
  cells: Partial<Record<TransportKind, Outcome>>;
}

/** A test's requirement ID (the first word of its title) and transport (its area's prefix). */
export function requirementOf(
  record: Pick<TestRecord, 'title' | 'area'>,
): { id: string; transport: TransportKind } | undefined {
  const id = /^([A-Z0-9]+(?:-[A-Z0-9]+)+)\s/.exec(record.title)?.[1];
  const transport = transportKinds().find((t) => record.area.startsWith(`${transportName(t)} · `));
  return id && transport ? { id, transport } : undefined;
}

/** Several tests of one requirement on one transport (a sweep, a per-operation case): the worst counts. */
const RANK: Record<Outcome, number> = { skipped: 0, passed: 1, advisory: 2, broken: 3, failed: 4 };

export function conformanceMatrix(records: readonly TestRecord[]): MatrixRow[] {
  const rows = new Map<string, MatrixRow>();
  for (const r of records) {
    const req = requirementOf(r);
    if (!req) continue;
    const row = rows.get(req.id) ?? { id: req.id, strength: strengthLabel(req.id), cells: {} };
    const before = row.cells[req.transport];
    if (before === undefined || RANK[r.outcome] > RANK[before]) row.cells[req.transport] = r.outcome;
    rows.set(req.id, row);
  }
  return [...rows.values()].sort((a, b) => compareIds(a.id, b.id));
}

function strengthLabel(id: string): string {
  const entry = requirements().get(id);
  return entry ? entry.strength : id.startsWith('SCN-') ? 'scenario' : 'unlisted';
}

/** U2F-REG-2 before U2F-REG-10: numbers compare as numbers. */
function compareIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

const WORD: Record<Outcome, string> = {
  passed: 'passed',
  failed: 'FAILED',
  broken: 'BROKEN',
  skipped: 'skipped',
  advisory: 'ADVISORY',
};

function columns(rows: readonly MatrixRow[]): TransportKind[] {
  return transportKinds().filter((t) => rows.some((r) => r.cells[t] !== undefined));
}

/** Markdown for a CI job summary or the report. */
export function matrixMarkdown(rows: readonly MatrixRow[], title = 'Conformance matrix'): string {
  const cols = columns(rows);
  const head = `| requirement | strength | ${cols.map((t) => transportName(t)).join(' | ')} |`;
  const rule = `|---|---|${cols.map(() => '---').join('|')}|`;
  const body = rows.map(
    (r) =>
      `| ${r.id} | ${r.strength} | ${cols.map((t) => (r.cells[t] ? WORD[r.cells[t]!] : '–')).join(' | ')} |`,
  );
  return [`## ${title}`, '', head, rule, ...body, '', tally(rows)].join('\n');
}

/** Plain text for the console. */
export function matrixText(rows: readonly MatrixRow[]): string {
  const cols = columns(rows);
  const width = Math.max(11, ...rows.map((r) => r.id.length));
  const cell = (s: string) => s.padEnd(14);
  const lines = [
    `${'requirement'.padEnd(width)}  ${'strength'.padEnd(10)}${cols.map((t) => cell(transportName(t))).join('')}`.trimEnd(),
    ...rows.map((r) =>
      `${r.id.padEnd(width)}  ${r.strength.padEnd(10)}${cols.map((t) => cell(r.cells[t] ? WORD[r.cells[t]!] : '-')).join('')}`.trimEnd(),
    ),
  ];
  return [...lines, tally(rows)].join('\n');
}

function tally(rows: readonly MatrixRow[]): string {
  const count: Record<Outcome, number> = { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 };
  for (const r of rows) for (const o of Object.values(r.cells)) if (o) count[o]++;
  return `${rows.length} requirements; cells: ${count.passed} passed, ${count.failed} failed, ${count.broken} broken, ${count.skipped} skipped, ${count.advisory} advisory`;
}
