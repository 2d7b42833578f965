import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { EMBEDDED_DATA_FIRST } from '../../rig/report/html.ts';
import { CHROMIUM, haveChromium, SCREENSHOTS } from '../support/chromium.ts';
import { chiprig, readResults, tmp } from '../support/spawn.ts';

/**
 * The single-file HTML report that `chiprig run` writes (Allure 3, "awesome" UI), opened
 * from disk in headless Chromium, checked for what a lab engineer reads in it: the test
 * count, a failed test's traffic with the device's bytes, a measured test's values.
 * Screenshots go to reports/screenshots/ (a CI artifact).
 *
 * Chromium is Debian's package (apt-get install chromium), driven by playwright-core;
 * without it the tests are pending, except on CI, which installs it.
 *
 * Selectors: visible text and roles where the UI has them, else the data-testid
 * attributes Allure puts on its own components (its class names are hashed per build).
 */

/** The attachment name of rig/report/allure.ts attachTraffic. */
const TRAFFIC = 'traffic (hex)';
/** U2F-AUTH-08 fails on a device that answers flags 05; PERF-LAT-01 records measurements. */
const SELECTION = 'U2F-AUTH-0[89]|PERF-LAT-01';
/** A page's waits (clicks, texts); loading the report gets NAVIGATION_MS. */
const WAIT_MS = 15_000;
const NAVIGATION_MS = 30_000;

interface Step {
  name: string;
  steps?: Step[];
  attachments?: { name: string; source: string; type?: string }[];
}
interface Result extends Step {
  status: string;
  labels: { name: string; value: string }[];
  parameters: { name: string; value: string; excluded?: boolean }[];
}
const SHOTS = [
  'rpt-browser-01-overview',
  'rpt-browser-02-failed-test',
  'rpt-browser-03-measured-test',
] as const;

describe('the HTML report in headless Chromium', function () {
  this.timeout(180_000);
  if (!haveChromium('RPT-BROWSER', 'RPT-BROWSER-01..05')) return;

  let results: string;
  let html: string;
  let written: Result[];
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const blocked = new Set<string>();

  before(async function () {
    this.timeout(150_000);
    results = tmp();
    html = tmp();
    const run = await chiprig(
      [
        'run',
        '--device',
        'emulator:wrong-flags',
        '--suite',
        'u2f,perf',
        '--transport',
        'hid',
        '--grep',
        SELECTION,
        '--results',
        results,
        '--report',
        html,
      ],
      90_000,
    );
    assert.equal(run.code, EXIT.FAILED, `exit ${run.code}\n${run.stdout.slice(-3000)}\n${run.stderr}`);
    assert.ok(existsSync(join(html, 'index.html')), `no report written:\n${run.stdout}\n${run.stderr}`);
    written = readResults(results) as unknown as Result[];
    mkdirSync(SCREENSHOTS, { recursive: true });
    // This test's screenshots of an earlier run (RPT-BROWSER-04 checks this run wrote them).
    for (const name of readdirSync(SCREENSHOTS).filter((f) => f.startsWith('rpt-browser-'))) {
      rmSync(join(SCREENSHOTS, name), { force: true });
    }

    // Playwright passes --no-sandbox (needed as root) and --disable-dev-shm-usage itself.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: NAVIGATION_MS });
    context = await browser.newContext({ viewport: { width: 1440, height: 1400 } });
    // The report is one file read from disk: whatever it asks of the network (the
    // Allure 3 UI loads Google Analytics) is refused, so the test works offline.
    await context.route(/^(?!file:|data:|blob:)/i, (route) => {
      blocked.add(new URL(route.request().url()).host);
      return route.abort();
    });
  });

  after(async () => {
    await browser?.close();
    if (blocked.size > 0) {
      process.stdout.write(
        `      (requests refused, the report is read offline: ${[...blocked].join(', ')})\n`,
      );
    }
    for (const dir of [results, html]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // A failed check leaves a screenshot of where the report was, for the CI artifact.
  afterEach(async function () {
    const test = this.currentTest;
    if (test?.state !== 'failed' || !page || page.isClosed()) return;
    const id = /^RPT-BROWSER-\d+/.exec(test.title)?.[0] ?? 'rpt-browser';
    await screenshot(`${id.toLowerCase()}-failure`).catch(() => undefined);
  });

  /** Opens the report at its overview in a fresh tab, once it has drawn the test tree. */
  async function openReport(): Promise<void> {
    if (page && !page.isClosed()) await page.close();
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.setDefaultNavigationTimeout(NAVIGATION_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`file://${join(html, 'index.html')}`);
    await page.getByTestId('tree-leaf').first().waitFor({ state: 'visible' });
  }

  async function screenshot(name: string): Promise<string> {
    const path = join(SCREENSHOTS, `${name}.png`);
    await page.screenshot({ path, timeout: WAIT_MS });
    process.stdout.write(`      screenshot: ${path}\n`);
    return path;
  }

  function one(predicate: (r: Result) => boolean, what: string): Result {
    const found = written.filter(predicate);
    assert.equal(
      found.length,
      1,
      `${what}: ${found.length} results (${written.map((r) => r.name).join('; ')})`,
    );
    return found[0]!;
  }

  function label(result: Result, name: string): string {
    const value = result.labels.find((l) => l.name === name)?.value;
    assert.ok(value, `${result.name} has no ${name} label`);
    return value;
  }

  /** Opens a test from the tree, through its epic and feature sections (allurerc.mjs groupBy). */
  async function openTest(result: Result): Promise<void> {
    let scope: Page | Locator = page;
    for (const group of ['epic', 'feature']) {
      const title = page.getByTestId('tree-section-title').getByText(label(result, group), { exact: true });
      const section = scope.getByTestId('tree-section').filter({ has: title });
      // A section and its children's list share a parent; a closed section has no list.
      const subtree = section.locator('xpath=..');
      if ((await subtree.getByTestId('tree-content').count()) === 0) await title.click();
      scope = subtree;
    }
    const leafTitle = page.getByTestId('tree-leaf-title').getByText(result.name, { exact: true });
    await scope.getByTestId('tree-leaf').filter({ has: leafTitle }).click();
    await page.getByRole('heading', { name: result.name, exact: true }).waitFor({ state: 'visible' });
  }

  /** The number in a counter or metadata value of the overview. */
  async function shown(locator: Locator): Promise<number> {
    const text = (await locator.textContent())?.trim() ?? '';
    assert.match(text, /^\d+$/, `expected a number, the report shows "${text}"`);
    return Number(text);
  }

  it('RPT-BROWSER-01 the overview shows as many tests as the run wrote Allure results, by status', async () => {
    await openReport();
    await screenshot(SHOTS[0]);
    const count = (status: string) => written.filter((r) => r.status === status).length;
    assert.equal(written.length, 3, `the selection ${SELECTION} should give 3 results`);
    assert.equal(count('failed'), 1);
    const expected = { total: written.length, failed: count('failed'), passed: count('passed') };
    const ui = {
      total: await shown(page.getByTestId('metadata-item-total').getByTestId('metadata-value')),
      failed: await shown(page.getByTestId('metadata-item-failed').getByTestId('metadata-value')),
      passed: await shown(page.getByTestId('metadata-item-passed').getByTestId('metadata-value')),
    };
    const resultsTab = await shown(page.getByRole('button', { name: /^Results\b/ }).getByTestId('counter'));
    assert.deepEqual(
      { ...ui, resultsTab },
      { ...expected, resultsTab: expected.total },
      `the report counts other tests than the ${written.length} Allure results the run wrote`,
    );
    assert.deepEqual(pageErrors, [], 'the report threw JavaScript errors');
  });

  it(`RPT-BROWSER-02 a failed test, opened, shows its "${TRAFFIC}" attachment with the device's bytes`, async () => {
    const failed = one((r) => r.status === 'failed', 'failed tests');
    assert.match(failed.name, /^U2F-AUTH-08 /);
    const source = findAttachment(failed, TRAFFIC);
    assert.ok(source, `${failed.name} has no "${TRAFFIC}" attachment in its Allure result`);
    const traffic = readFileSync(join(results, source), 'utf8');
    // Every line the device sent (RECV apdu / RECV hid report), in hex.
    const received = [...traffic.matchAll(/\bRECV +(\w+) +([0-9a-f]+)\s*$/gm)].map((m) => ({
      kind: m[1]!,
      hex: m[2]!,
    }));
    assert.ok(received.length >= 4, `too few RECV lines in the traffic:\n${traffic.slice(0, 2000)}`);
    const answer = received.filter((r) => r.kind === 'apdu').at(-1)!;
    assert.ok(answer.hex.length > 100, `the device's last answer is short: ${answer.hex}`);

    await openReport();
    await openTest(failed);
    await page.getByTestId('test-result-status-failed').waitFor({ state: 'visible' });
    const attachment = page.getByTestId('test-result-attachment').filter({ hasText: TRAFFIC });
    await attachment.getByRole('button', { name: TRAFFIC }).click();
    const content = attachment.getByTestId('code-attachment-content');
    await content.waitFor({ state: 'visible' });
    // The device's failing answer, whole (step titles shorten hex; the attachment must not),
    // rendered: the text is one code block, so this finds the block, not the line.
    await content.getByText(`RECV apdu ${answer.hex}`).waitFor({ state: 'visible' });
    // The test's head (status, error), its steps and the start of the traffic.
    await screenshot(SHOTS[1]);
    const text = ((await content.textContent()) ?? '').replace(/[ \t]+/g, ' ');
    const absent = received.filter((r) => !text.includes(`RECV ${r.kind} ${r.hex}`));
    assert.deepEqual(
      absent.map((r) => `${r.kind} ${r.hex}`),
      [],
      `the report's traffic of ${failed.name} lacks ${absent.length} of the ${received.length} RECV lines`,
    );
  });

  it('RPT-BROWSER-03 a measured test shows each measurement as a parameter and a step', async () => {
    const measured = one((r) => r.name.startsWith('PERF-LAT-01 '), 'PERF-LAT-01');
    const record = JSON.parse(readFileSync(join(results, 'chiprig-measurements.json'), 'utf8')) as {
      measurements: { test: string; name: string }[];
    };
    const names = record.measurements.filter((m) => m.test === 'PERF-LAT-01').map((m) => m.name);
    assert.ok(names.length >= 4, `PERF-LAT-01 recorded ${names.length} measurements`);
    // Kept out of the history ID: the measured values, and the device identity ("device: …").
    const parameters = measured.parameters.filter((p) => p.excluded);
    assert.deepEqual(
      parameters.filter((p) => !p.name.startsWith('device: ')).map((p) => p.name),
      names,
      'the Allure parameters are not the recorded measurements',
    );
    const steps = (measured.steps ?? []).map((s) => s.name).filter((n) => n.startsWith('measurement '));
    assert.equal(steps.length, names.length, `measurement steps: ${steps.join('; ')}`);

    await openReport();
    await openTest(measured);
    const parameterList = page.getByRole('button', { name: /^Parameters\b/ }).locator('xpath=..');
    // The list shows 8 parameters until "Show more" is pressed.
    const more = parameterList.getByRole('button', { name: 'Show more' });
    if ((await more.count()) > 0) await more.click();
    for (const { name, value } of parameters) {
      const item = parameterList
        .getByTestId('metadata-item')
        .filter({ has: page.getByTestId('metadata-item-key').getByText(name, { exact: true }) });
      await item.waitFor({ state: 'visible' });
      assert.equal((await item.getByTestId('metadata-item-value').textContent())?.trim(), value, name);
    }
    for (const step of steps) {
      await page
        .getByTestId('test-result-step-title')
        .getByText(step, { exact: true })
        .waitFor({ state: 'visible' });
    }
    const shownSteps = page.getByTestId('test-result-step-title').filter({ hasText: /^measurement / });
    assert.equal(await shownSteps.count(), steps.length, 'measurement steps in the report');
    await shownSteps.first().scrollIntoViewIfNeeded();
    await screenshot(SHOTS[2]);
  });

  it('RPT-BROWSER-04 the screenshots are PNG files of the viewport under reports/screenshots/', () => {
    for (const name of SHOTS) {
      const path = join(SCREENSHOTS, `${name}.png`);
      assert.ok(existsSync(path), `${path} was not written`);
      const png = readFileSync(path);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', `${path} is not a PNG`);
      // IHDR: width and height, big-endian, at bytes 16 and 20.
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1440, 1400], path);
      assert.ok(statSync(path).size > 20_000, `${path} is nearly empty (${statSync(path).size} bytes)`);
    }
  });

  it('RPT-BROWSER-05 on a slow machine (the CPU slowed 8 times) the report still draws, from the data in the page', async function () {
    this.timeout(150_000);
    // Allure's application, then its data, in the page; the data declared at the top of the
    // head (rig/report/html.ts), so the application never looks for them in files instead.
    const text = readFileSync(join(html, 'index.html'), 'latin1');
    const declared = text.indexOf(EMBEDDED_DATA_FIRST);
    assert.ok(declared > 0, 'the data are not declared in the page');
    assert.equal(text.indexOf('<script'), declared, 'a script of the report runs before the declaration');
    const slow = await context.newPage();
    slow.on('pageerror', (error) => pageErrors.push(error.message));
    const cdp = await context.newCDPSession(slow);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 8 });
    const looked: string[] = [];
    slow.on('requestfailed', (r) => r.url().startsWith('file:') && looked.push(r.url()));
    await slow.goto(`file://${join(html, 'index.html')}`, { waitUntil: 'commit', timeout: NAVIGATION_MS });
    // Without the declaration 5 opens in 6 stayed on the loader here, looking for widgets/*.json.
    await slow.getByTestId('tree-leaf').first().waitFor({ state: 'visible', timeout: 120_000 });
    assert.deepEqual(looked, [], 'the report looked for its data in files');
    await slow.close();
  });
});

/** The source file of a result's attachment by name, on the test or in any step. */
function findAttachment(step: Step, name: string): string | undefined {
  const own = step.attachments?.find((a) => a.name === name)?.source;
  if (own) return own;
  for (const child of step.steps ?? []) {
    const found = findAttachment(child, name);
    if (found) return found;
  }
  return undefined;
}
