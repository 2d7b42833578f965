import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TOO_LARGE } from '../../rig/report/html.ts';
import { chiprig, tmp } from '../support/spawn.ts';

const HTML_TS = new URL('../../rig/report/html.ts', import.meta.url).pathname;

describe('the HTML report when the results are too large for one file', function () {
  this.timeout(120_000);

  it('RPT-FOLDER-01 Allure still says so in the words chiprig looks for; the folder report it falls back to is whole', async () => {
    // Allure 3 ends with this message when the single file would exceed a JavaScript
    // string (measured: --repeat 20 of the default run, 450 MB of results); chiprig then
    // makes a folder report. If an Allure upgrade rewords it, this fails.
    // The plugin of the allure package chiprig runs (its own dependency, wherever npm put it).
    const fromAllure = createRequire(createRequire(import.meta.url).resolve('allure'));
    const plugin = join(dirname(fromAllure.resolve('@allurereport/plugin-awesome')), 'generators.js');
    assert.ok(readFileSync(plugin, 'utf8').includes(TOO_LARGE), `${plugin} no longer says "${TOO_LARGE}"`);

    const dir = tmp();
    const results = join(dir, 'results');
    const r = await chiprig([
      'run',
      '--suite',
      'u2f',
      '--transport',
      'hid',
      '--grep',
      'U2F-VER-01',
      '--no-html',
      '--results',
      results,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = join(dir, 'report');
    // In a process of its own: the generator resolves the allure CLI through
    // import.meta.resolve, which the test runner's module transform does not provide.
    const script = `const { generateHtmlReport } = await import(${JSON.stringify(HTML_TS)});
      const made = await generateHtmlReport(${JSON.stringify(results)}, ${JSON.stringify(report)}, { singleFile: false });
      process.stdout.write(JSON.stringify(made));`;
    const made = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
      }),
    );
    assert.equal(made.ok, true, made.error);
    assert.equal(made.singleFile, false);
    assert.ok(existsSync(join(report, 'index.html')));
    const data = readdirSync(join(report, 'data'), { recursive: true, encoding: 'utf8' });
    assert.ok(
      data.some((f) => f.includes('test-results')),
      `data/: ${data.slice(0, 10).join(', ')}`,
    );
  });
});
