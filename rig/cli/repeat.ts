/**
 * `chiprig run --repeat N`: the same selection N times, each a fresh `chiprig run` process
 * (a fresh station and emulated chip, as a lab reruns a job) into `<results>/run-<i>`, then
 * a flake report: per requirement ID × transport, how many runs passed, failed, were
 * broken, skipped or advisory, with the ones whose verdict changed marked flaky. Printed,
 * and written as `<results>/flake-report.json`. Exit code: the worst of the runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { CHIPRIG_BIN } from '../paths.ts';
import type { Outcome } from '../report/console.ts';
import { formatMs } from '../report/console.ts';
import { generateHtmlReport } from '../report/html.ts';
import { EXIT } from './exit-codes.ts';
import { combinedExitCode } from './run-duts.ts';

export const FLAKE_REPORT_FILE = 'flake-report.json';
const OUTCOMES_FILE = 'chiprig-outcomes.json';
const OUTCOMES: readonly Outcome[] = ['passed', 'failed', 'broken', 'skipped', 'advisory'];

export interface RepeatOptions {
  /** The `run` arguments as given, --repeat among them (they are passed on without it). */
  argv: readonly string[];
  repeat: string;
  results: string;
  report: string;
  html: boolean;
  record?: string;
  history?: string;
}

export interface FlakeRow {
  id: string;
  transport: string;
  /** Runs with each outcome. */
  counts: Record<Outcome, number>;
  /** The outcome in each run; null where the test did not run (or the run left no outcomes). */
  runs: (Outcome | null)[];
  /** More than one outcome across the runs where it ran, or it ran in some runs only. */
  flaky: boolean;
}

export interface FlakeReport {
  format: 'chiprig-flake-report/1';
  runs: number;
  /** The arguments each run had (besides its --results). */
  command: string[];
  exitCodes: number[];
  exit: number;
  tests: FlakeRow[];
}

/** "3" → 3; anything but a whole number from 1 to 1000 is a usage error. */
export function parseRepeat(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(Number.isInteger(n) && n >= 1 && n <= 1000)) {
    throw new ConfigError(`--repeat: "${text}" is not a number of runs from 1 to 1000`);
  }
  return n;
}

/**
 * The run arguments without the options --repeat replaces per run (--repeat, --results,
 * --report, --no-html), in both `--opt value` and `--opt=value` forms.
 */
export function childArgs(argv: readonly string[]): string[] {
  const drop = new Set(['--repeat', '--results', '--report']);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (drop.has(a)) {
      i++; // its value
      continue;
    }
    if ([...drop].some((d) => a.startsWith(`${d}=`)) || a === '--no-html') continue;
    out.push(a);
  }
  return out;
}

/** Runs the selection `n` times and reports the verdicts across them. */
export async function repeatRun(opts: RepeatOptions): Promise<number> {
  const n = parseRepeat(opts.repeat);
  if (opts.record !== undefined) {
    throw new ConfigError('--record with --repeat: each run would overwrite the recording; record one run');
  }
  if (opts.history !== undefined) {
    throw new ConfigError('--history with --repeat: keep the history with `chiprig report` over the runs');
  }
  const resultsDir = resolve(opts.results);
  mkdirSync(resultsDir, { recursive: true });
  const args = childArgs(opts.argv);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const codes: number[] = [];
  const runs: (Map<string, Outcome> | undefined)[] = [];
  const dirs: string[] = [];
  const started = performance.now();
  for (let i = 1; i <= n; i++) {
    const dir = join(resultsDir, `run-${i}`);
    rmSync(dir, { recursive: true, force: true });
    dirs.push(dir);
    out(`chiprig: run ${i} of ${n}: chiprig ${args.join(' ')} --results ${dir}`);
    const t0 = performance.now();
    const code = await child([...args, '--results', dir, '--no-html']);
    codes.push(code);
    runs.push(readOutcomes(dir));
    out(`chiprig: run ${i} of ${n} exited ${code} after ${formatMs(performance.now() - t0)}`);
    out('');
    // A usage error is the same every time: nothing more to learn from the other runs.
    if (code === EXIT.USAGE) break;
  }
  const report = flakeReport(args, codes, runs);
  writeFileSync(join(resultsDir, FLAKE_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  out(flakeText(report));
  out(
    `${codes.length} runs in ${formatMs(performance.now() - started)}; ${join(resultsDir, FLAKE_REPORT_FILE)}`,
  );
  if (opts.html && report.exit !== EXIT.USAGE) {
    const html = await generateHtmlReport(
      dirs.filter((d) => existsSync(d)),
      resolve(opts.report),
      {},
    );
    if (html.ok) out(`report: ${html.index} (all runs)${html.note}`);
    else process.stderr.write(`chiprig: the HTML report was not generated: ${html.error}\n`);
  }
  return report.exit;
}

/** One `chiprig run`, its output passed through as it comes; a run that cannot start or is killed is broken. */
function child(args: string[]): Promise<number> {
  return new Promise((resolveCode) => {
    const proc = spawn(process.execPath, [CHIPRIG_BIN, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    proc.on('error', (error) => {
      process.stderr.write(`chiprig: cannot start a run: ${error.message}\n`);
      resolveCode(EXIT.BROKEN);
    });
    proc.on('close', (code, signal) => {
      if (signal) process.stderr.write(`chiprig: a run ended by ${signal}\n`);
      resolveCode(code ?? EXIT.BROKEN);
    });
  });
}

/** Requirement ID × transport → outcome (the worst where several tests share a cell, as in the matrix). */
function readOutcomes(dir: string): Map<string, Outcome> | undefined {
  const path = join(dir, OUTCOMES_FILE);
  if (!existsSync(path)) return undefined;
  const rank: Record<Outcome, number> = { skipped: 0, passed: 1, advisory: 2, broken: 3, failed: 4 };
  const cells = new Map<string, Outcome>();
  const { tests } = JSON.parse(readFileSync(path, 'utf8')) as {
    tests: { id: string | null; transport: string | null; title: string; outcome: Outcome }[];
  };
  for (const t of tests) {
    const key = `${t.id ?? t.title}\t${t.transport ?? '-'}`;
    const before = cells.get(key);
    if (before === undefined || rank[t.outcome] > rank[before]) cells.set(key, t.outcome);
  }
  return cells;
}

/** The report from each run's exit code and outcomes (undefined: the run left none). */
export function flakeReport(
  command: string[],
  codes: readonly number[],
  runs: readonly (Map<string, Outcome> | undefined)[],
): FlakeReport {
  const keys = new Set<string>();
  for (const r of runs) for (const k of r?.keys() ?? []) keys.add(k);
  const tests = [...keys]
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((key): FlakeRow => {
      const [id, transport] = key.split('\t') as [string, string];
      const per = runs.map((r) => r?.get(key) ?? null);
      const counts = Object.fromEntries(
        OUTCOMES.map((o) => [o, per.filter((x) => x === o).length]),
      ) as Record<Outcome, number>;
      const seen = new Set(per.filter((x) => x !== null));
      const ranEverywhere = per.every((x) => x !== null);
      return { id, transport, counts, runs: per, flaky: seen.size > 1 || (!ranEverywhere && seen.size > 0) };
    });
  return {
    format: 'chiprig-flake-report/1',
    runs: codes.length,
    command,
    exitCodes: [...codes],
    exit: combinedExitCode(codes),
    tests,
  };
}

/** The flake report as a console table: a row per requirement ID × transport. */
export function flakeText(r: FlakeReport): string {
  const idW = Math.max(12, ...r.tests.map((t) => t.id.length));
  const head = `${'test'.padEnd(idW)}  ${'transport'.padEnd(9)}  ${OUTCOMES.map((o) => o.padStart(9)).join('')}`;
  const lines = r.tests.map(
    (t) =>
      `${t.id.padEnd(idW)}  ${t.transport.padEnd(9)}  ${OUTCOMES.map((o) => String(t.counts[o]).padStart(9)).join('')}${t.flaky ? `  FLAKY (${t.runs.map((x) => x ?? 'absent').join(', ')})` : ''}`,
  );
  const flaky = r.tests.filter((t) => t.flaky).length;
  return [
    `Flake report: ${r.runs} runs (exit codes ${r.exitCodes.join(', ')}; worst ${r.exit})`,
    head,
    '-'.repeat(head.length),
    ...lines,
    `${r.tests.length} test × transport cells; ${flaky} flaky (their verdict changed between runs)`,
  ].join('\n');
}
