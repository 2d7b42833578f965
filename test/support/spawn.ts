import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/chiprig.js', import.meta.url).pathname;

/** Runs the chiprig CLI in a child process, as a lab script would. */
export function chiprig(
  args: string[],
  timeoutMs = 240_000,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
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
  stopped: Promise<{ code: number | null; out: string }>;
}

/**
 * Starts `chiprig emulate ARGS` and resolves once it says it serves (within 20 s), plus
 * `settleMs` for whatever must notice it (pcscd polls for cards every ~400 ms).
 */
export function emulateProcess(args: string[], settleMs = 0): Promise<EmulateProcess> {
  const child = spawn(process.execPath, [BIN, 'emulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const stopped = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chiprig emulate ${args.join(' ')} did not start within 20 s: ${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d;
      if (/serving the emulated MitID chip/.test(out)) {
        clearTimeout(timer);
        setTimeout(() => resolve({ child, output: () => out, stopped }), settleMs);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chiprig emulate ${args.join(' ')} exited (${code}): ${out}`));
    });
  });
}
