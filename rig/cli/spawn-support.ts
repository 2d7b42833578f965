import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
