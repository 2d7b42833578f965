import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CHIPRIG_BIN } from '../paths.ts';
import { formatMs } from '../report/console.ts';
import { generateHtmlReport } from '../report/html.ts';
import type { StationFile } from '../station/station-file.ts';
import { EXIT } from './exit-codes.ts';

export interface DutRunOptions {
  suite?: string;
  /** Overrides each device's transports. */
  transport?: string;
  duration?: string;
  grep?: string;
  presence?: string;
  platform?: string;
  scenario?: string[];
  results: string;
  report: string;
  html: boolean;
  history?: string;
  profile?: string;
  metadata?: string;
  /** Advisory breaches fail (--strict), in every worker. */
  strict?: boolean;
  /** The results database each worker writes its device's run into (false: none). */
  db?: string | false;
}

interface DutOutcome {
  id: string;
  device: string;
  code: number;
  ms: number;
}

/**
 * `chiprig run` on a station with several devices under test: one worker process per
 * device, all at once, each a plain `chiprig run --device …` into its own results folder
 * (so a device that hangs or crashes its worker stalls no other), then one merged report,
 * one conformance matrix with a section per device, and the worst exit code.
 */
export async function runDuts(file: StationFile, opts: DutRunOptions): Promise<number> {
  const duts = file.duts ?? [];
  const resultsDir = resolve(opts.results);
  mkdirSync(resultsDir, { recursive: true });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `chiprig: station "${file.name}", ${duts.length} devices under test in parallel: ${duts.map((d) => `${d.id} (${d.device})`).join(', ')}`,
  );
  const started = performance.now();
  const outcomes = await Promise.all(
    duts.map((dut) => {
      const dir = join(resultsDir, dut.id);
      rmSync(dir, { recursive: true, force: true });
      const args = [
        CHIPRIG_BIN,
        'run',
        '--station',
        file.path,
        '--device',
        dut.device,
        ...(opts.transport
          ? ['--transport', opts.transport]
          : dut.transports
            ? ['--transport', dut.transports.join(',')]
            : []),
        ...(opts.duration ? ['--duration', opts.duration] : []),
        ...(opts.suite ? ['--suite', opts.suite] : []),
        ...(opts.grep ? ['--grep', opts.grep] : []),
        ...(opts.presence ? ['--presence', opts.presence] : []),
        ...(opts.platform ? ['--platform', opts.platform] : []),
        ...(opts.profile ? ['--profile', opts.profile] : []),
        ...(opts.metadata ? ['--metadata', resolve(opts.metadata)] : []),
        ...(opts.scenario ? ['--scenario', ...opts.scenario] : []),
        ...(opts.strict ? ['--strict'] : []),
        ...(opts.db === false ? ['--no-db'] : opts.db ? ['--db', opts.db] : []),
        '--results',
        dir,
        '--no-html',
      ];
      return worker(dut.id, dut.device, args, out);
    }),
  );
  const elapsed = performance.now() - started;

  // One matrix file with a section per device; each device's JUnit XML stays in its folder.
  const sections = outcomes
    .map((o) => join(resultsDir, o.id, 'conformance-matrix.md'))
    .filter((p) => existsSync(p))
    .map((p, i) => readFileSync(p, 'utf8').replace(/^## Conformance matrix:/m, `## ${outcomes[i]!.id}:`));
  if (sections.length > 0) writeFileSync(join(resultsDir, 'conformance-matrix.md'), sections.join('\n'));
  out('');
  out(`${'device'.padEnd(20)} ${'spec'.padEnd(28)} exit  time`);
  for (const o of outcomes) {
    out(`${o.id.padEnd(20)} ${o.device.padEnd(28)} ${String(o.code).padStart(4)}  ${formatMs(o.ms)}`);
  }
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  out(`${duts.length} devices in ${formatMs(elapsed)} (the slowest alone: ${formatMs(slowest)})`);

  if (opts.html) {
    const report = await generateHtmlReport(
      outcomes.map((o) => join(resultsDir, o.id)).filter((d) => existsSync(d)),
      resolve(opts.report),
      opts.history ? { historyPath: opts.history } : {},
    );
    if (report.ok) out(`report: ${report.index} (all devices)${report.note}`);
    else process.stderr.write(`chiprig: the HTML report was not generated: ${report.error}\n`);
  }
  return combinedExitCode(outcomes.map((o) => o.code));
}

/** A device failure anywhere outranks a rig fault, which outranks a pass; a usage error stands out. */
export function combinedExitCode(codes: readonly number[]): number {
  if (codes.includes(EXIT.USAGE)) return EXIT.USAGE;
  if (codes.includes(EXIT.FAILED)) return EXIT.FAILED;
  if (codes.some((c) => c !== EXIT.PASSED)) return EXIT.BROKEN;
  return EXIT.PASSED;
}

function worker(
  id: string,
  device: string,
  args: string[],
  out: (line: string) => void,
): Promise<DutOutcome> {
  const started = performance.now();
  return new Promise((resolveOutcome) => {
    const child = spawn(process.execPath, args, {
      // CHIPRIG_DUT: the worker labels its results with the device's ID.
      env: { ...process.env, CHIPRIG_DUT: id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = (stream: NodeJS.ReadableStream, write: (line: string) => void) => {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) write(`[${id}] ${line}`);
      });
      stream.on('end', () => rest && write(`[${id}] ${rest}`));
    };
    prefix(child.stdout, out);
    prefix(child.stderr, (line) => process.stderr.write(`${line}\n`));
    child.on('error', (error) => {
      process.stderr.write(`[${id}] chiprig: cannot start the worker: ${error.message}\n`);
      resolveOutcome({ id, device, code: EXIT.BROKEN, ms: performance.now() - started });
    });
    child.on('close', (code, signal) => {
      if (signal) process.stderr.write(`[${id}] chiprig: the worker ended by ${signal}\n`);
      resolveOutcome({ id, device, code: code ?? EXIT.BROKEN, ms: performance.now() - started });
    });
  });
}
