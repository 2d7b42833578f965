import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CONFIG = fileURLToPath(new URL('../../allurerc.mjs', import.meta.url));

/**
 * Builds the single-file HTML report with Allure 3 (no Java). Runs the `allure` CLI of
 * the installed package in a child process with a time limit, so a stuck generator
 * never hangs the run.
 */
export async function generateHtmlReport(
  resultsDir: string | readonly string[],
  reportDir: string,
  opts: { timeoutMs?: number; historyPath?: string } = {},
): Promise<{ ok: true; index: string } | { ok: false; error: string }> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const cli = join(dirname(fileURLToPath(import.meta.resolve('allure'))), '..', 'cli.js');
  if (!existsSync(cli)) return { ok: false, error: `Allure CLI not found at ${cli} (run npm ci)` };
  // History (Allure 3 historyPath, a JSON Lines file that grows a line per report) is a
  // config option, not a flag: a small config extends ours with it.
  let config = CONFIG;
  let tempDir: string | undefined;
  if (opts.historyPath) {
    tempDir = mkdtempSync(join(tmpdir(), 'chiprig-allurerc-'));
    config = join(tempDir, 'allurerc.mjs');
    writeFileSync(
      config,
      `import base from ${JSON.stringify(pathToFileURL(CONFIG).href)};\nexport default { ...base, historyPath: ${JSON.stringify(resolvePath(opts.historyPath))} };\n`,
    );
  }
  const cleanup = () => tempDir && rmSync(tempDir, { recursive: true, force: true });
  return new Promise((resolve) => {
    const dirs = typeof resultsDir === 'string' ? [resultsDir] : [...resultsDir];
    const child = spawn(process.execPath, [cli, 'generate', ...dirs, '-o', reportDir, '-c', config], {
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
      cleanup();
      resolve({ ok: false, error: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      cleanup();
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
