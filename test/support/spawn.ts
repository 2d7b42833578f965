import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The checkout's own `chiprig` command (bin/chiprig.js: the sources, through tsx). */
export const SOURCE_BIN = join(ROOT, 'bin/chiprig.js');

/**
 * The chiprig command the end-to-end tests spawn: bin/chiprig.js (the sources, through
 * tsx), or, where CHIPRIG_TEST_ENTRY names one, a build of the same sources (npm test
 * builds one into dist-e2e/ first: a spawned run then starts in half the CPU time).
 */
export const CHIPRIG_ENTRY = process.env.CHIPRIG_TEST_ENTRY
  ? resolve(ROOT, process.env.CHIPRIG_TEST_ENTRY)
  : SOURCE_BIN;
if (!existsSync(CHIPRIG_ENTRY))
  throw new Error(`CHIPRIG_TEST_ENTRY: no ${CHIPRIG_ENTRY}; build it (npm test does) or unset the variable`);
const BIN = CHIPRIG_ENTRY;

/**
 * A suite file's path as the spawned CLI names it (relative to the checkout, in Allure
 * full names and test plan selectors): `suites/x.spec.ts`, or in a build the compiled file.
 */
export function specPathAsRun(source: string): string {
  if (CHIPRIG_ENTRY === SOURCE_BIN) return source;
  const build = relative(ROOT, CHIPRIG_ENTRY.replace(/rig\/cli\/main\.js$/, ''));
  return join(build, source).replace(/\.ts$/, '.js');
}

/** Runs the chiprig CLI in a child process, as a lab script would. */
export function chiprig(
  args: string[],
  timeoutMs = 240_000,
  env: NodeJS.ProcessEnv = {},
  entry = BIN,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [entry, ...args],
      { timeout: timeoutMs, env: { ...process.env, CHIPRIG_QUIET_SKIPS: '1', ...env }, maxBuffer: 32 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A fresh results folder. */
export const tmp = () => mkdtempSync(join(tmpdir(), 'chiprig-cli-'));

export const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

/** The default station written to `dir` (paths made absolute), with `edit` applied to its text. */
export function stationCopy(dir: string, edit: (yaml: string) => string = (y) => y): string {
  const text = readFileSync(join(FIXTURES, 'stations/emulated.yaml'), 'utf8').replaceAll('../', FIXTURES);
  const path = join(dir, 'station.yaml');
  writeFileSync(path, edit(text));
  return path;
}

/** The Allure results in a results folder, parsed. */
export function readResults(dir: string): {
  name: string;
  status: string;
  statusDetails?: { message?: string };
  labels: { name: string; value: string }[];
  parameters: { name: string; value: string }[];
}[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('-result.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/** A `chiprig emulate` child process, serving. */
export interface EmulateProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output: () => string;
  /** Settles when it exits, with its code and everything it printed. */
  stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

/**
 * Starts `chiprig SUBCOMMAND ARGS` and resolves once what it printed (stdout and stderr)
 * matches `ready`, with the match; kills it and rejects if that takes over `timeoutMs` or it
 * exits first.
 */
function startUntil(
  args: string[],
  ready: RegExp,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = {},
): Promise<EmulateProcess & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  const stopped = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>(
    (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })),
  );
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chiprig ${args.join(' ')} did not start within ${timeoutMs / 1000} s: ${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const match = started ? null : ready.exec(out);
      if (!match) return;
      started = true;
      clearTimeout(timer);
      resolve({ child, match, output: () => out, stopped });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`chiprig ${args.join(' ')} exited (${code}): ${out}`));
    });
  });
}

/**
 * Starts `chiprig emulate ARGS` and resolves once it says it serves (within 20 s), plus
 * `settleMs` for whatever must notice it (pcscd polls for cards every ~400 ms).
 */
export async function emulateProcess(args: string[], settleMs = 0): Promise<EmulateProcess> {
  const p = await startUntil(['emulate', ...args], /serving the emulated MitID chip/, 20_000);
  await new Promise((r) => setTimeout(r, settleMs));
  return p;
}

/** A `chiprig serve` child process, listening. */
export interface ServeProcess extends EmulateProcess {
  /** http(s)://HOST:PORT (no trailing slash). */
  url: string;
}

/** Starts `chiprig serve ARGS` (give --listen HOST:0 for a free port) and resolves with its address (within 30 s). */
export async function serveProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  // The whole line (serve writes its address and any token line at once).
  const p = await startUntil(['serve', ...args], / at (https?:\/\/\S+?)\/.*\n/, 30_000, env);
  return { ...p, url: p.match[1]! };
}
