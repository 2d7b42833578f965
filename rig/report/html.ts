import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONFIG = fileURLToPath(new URL('../../allurerc.mjs', import.meta.url));

/**
 * Builds the single-file HTML report with Allure 3 (no Java). Runs the `allure` CLI of
 * the installed package in a child process with a time limit, so a stuck generator
 * never hangs the run.
 */
export async function generateHtmlReport(
  resultsDir: string,
  reportDir: string,
  timeoutMs = 120_000,
): Promise<{ ok: true; index: string } | { ok: false; error: string }> {
  const cli = join(dirname(fileURLToPath(import.meta.resolve('allure'))), '..', 'cli.js');
  if (!existsSync(cli)) return { ok: false, error: `Allure CLI not found at ${cli} (run npm ci)` };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'generate', resultsDir, '-o', reportDir, '-c', CONFIG], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const index = join(reportDir, 'index.html');
      if (code === 0 && existsSync(index)) resolve({ ok: true, index });
      else
        resolve({
          ok: false,
          error: `allure generate ended with ${signal ?? `code ${code}`}: ${output.trim().slice(-800)}`,
        });
    });
  });
}
