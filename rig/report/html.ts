import { spawn } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packagePath } from '../paths.ts';

const CONFIG = packagePath('allurerc.mjs');

/**
 * Builds the single-file HTML report with Allure 3 (no Java). Runs the `allure` CLI of
 * the installed package in a child process with a time limit, so a stuck generator
 * never hangs the run.
 */
export type ReportOutcome =
  | {
      ok: true;
      index: string;
      /** What to say after the path: '' for one file; how to open a folder report. */
      note: string;
      singleFile: boolean;
    }
  | { ok: false; error: string };

/** What Allure 3 prints when the report's data do not fit in one file (a JavaScript string). */
export const TOO_LARGE = 'too large to be generated in the single file mode';

/**
 * The single-file report; when the results are too large for one file (many runs with
 * their traffic: --repeat 20 holds some 450 MB), a folder report in the same place instead,
 * which a browser opens through a web server.
 */
export async function generateHtmlReport(
  resultsDir: string | readonly string[],
  reportDir: string,
  opts: { timeoutMs?: number; historyPath?: string; singleFile?: false } = {},
): Promise<ReportOutcome> {
  const first = await generateOnce(resultsDir, reportDir, { ...opts, singleFile: opts.singleFile ?? true });
  if (first.ok || !first.error.includes(TOO_LARGE)) return first;
  rmSync(reportDir, { recursive: true, force: true });
  const folder = await generateOnce(resultsDir, reportDir, { ...opts, singleFile: false });
  if (!folder.ok) return folder;
  return {
    ...folder,
    note: ` (too large for one file: a folder report; open it through a web server, e.g. npx allure open ${reportDir})`,
  };
}

async function generateOnce(
  resultsDir: string | readonly string[],
  reportDir: string,
  opts: { timeoutMs?: number; historyPath?: string; singleFile: boolean },
): Promise<ReportOutcome> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const cli = join(dirname(fileURLToPath(import.meta.resolve('allure'))), '..', 'cli.js');
  if (!existsSync(cli)) return { ok: false, error: `Allure CLI not found at ${cli} (run npm ci)` };
  // History (Allure 3 historyPath, a JSON Lines file that grows a line per report) and a
  // folder report are config options, not flags: a small config extends ours with them.
  let config = CONFIG;
  let tempDir: string | undefined;
  if (opts.historyPath || !opts.singleFile) {
    tempDir = mkdtempSync(join(tmpdir(), 'chiprig-allurerc-'));
    config = join(tempDir, 'allurerc.mjs');
    const extra = [
      ...(opts.historyPath ? [`historyPath: ${JSON.stringify(resolvePath(opts.historyPath))}`] : []),
      ...(opts.singleFile
        ? []
        : [
            'plugins: { ...base.plugins, awesome: { ...base.plugins.awesome, options: { ...base.plugins.awesome.options, singleFile: false } } }',
          ]),
    ];
    writeFileSync(
      config,
      `import base from ${JSON.stringify(pathToFileURL(CONFIG).href)};\nexport default { ...base, ${extra.join(', ')} };\n`,
    );
  }
  // Allure 3 also reads any JUnit XML it finds: junit.xml beside the results would put every
  // test in the report twice. It reads a view of each folder without the XML instead.
  const views = (typeof resultsDir === 'string' ? [resultsDir] : [...resultsDir]).map(withoutXml);
  const cleanup = () => {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    for (const v of views) v.cleanup();
  };
  return new Promise((resolve) => {
    const dirs = views.map((v) => v.dir);
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
      if (code === 0 && existsSync(index)) {
        if (opts.singleFile) embeddedDataFirst(index);
        resolve({ ok: true, index, note: '', singleFile: opts.singleFile });
      } else
        resolve({
          ok: false,
          error: `allure generate ended with ${signal ?? `code ${code}`}: ${output.trim().slice(-800)}`,
        });
    });
  });
}

/** Set before the report's own scripts: it tells them the data are in the page. */
export const EMBEDDED_DATA_FIRST = '<script>window.allureReportData=window.allureReportData||{};</script>';

/**
 * Allure's single-file report puts its data in scripts after the application's. The
 * application reads the data from the page when they are declared and from files beside it
 * when not; on a busy machine its first reads run before the parser reaches the data, find
 * no files and leave the page on its loader for good (seen in 5 of 6 opens with the CPU
 * slowed 8 times, and once in CI). Declaring the data at the top of the head sends every
 * read to the page, where they wait for the data to be ready. Rewritten in place, one
 * buffer, however large the report.
 */
function embeddedDataFirst(index: string): void {
  const html = readFileSync(index);
  const head = /<head[^>]*>/i.exec(html.subarray(0, 65_536).toString('latin1'));
  if (!head) return;
  const at = head.index + head[0].length;
  const temp = `${index}.tmp`;
  writeFileSync(temp, html.subarray(0, at));
  appendFileSync(temp, EMBEDDED_DATA_FIRST);
  appendFileSync(temp, html.subarray(at));
  renameSync(temp, index);
}

/**
 * The folder itself, or (when it holds XML files) a temporary folder beside it of hard links
 * to everything else: links, not copies, so hiding the XML costs nothing however many
 * results there are (Allure skips symbolic links). Across file systems, copies.
 */
function withoutXml(dir: string): { dir: string; cleanup: () => void } {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  if (!names.some((n) => n.endsWith('.xml'))) return { dir, cleanup: () => undefined };
  const view = mkdtempSync(join(dirname(resolvePath(dir)), '.chiprig-report-view-'));
  for (const name of names) {
    if (name.endsWith('.xml')) continue;
    const from = resolvePath(dir, name);
    try {
      linkSync(from, join(view, name));
    } catch {
      copyFileSync(from, join(view, name));
    }
  }
  return { dir: view, cleanup: () => rmSync(view, { recursive: true, force: true }) };
}
