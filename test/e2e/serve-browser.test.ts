/**
 * chiprig serve's page in headless Chromium (Debian's, driven by playwright-core), as an
 * operator uses it: a run started from the page on the emulated station, its presence
 * prompts answered from the page, its results arriving, then the history and the run's
 * Allure report; a station with simulated instruments whose readings move during a
 * temperature sweep; and a chip whose USB strings carry HTML and script, shown as text.
 * Screenshots go to reports/screenshots/serve-*.png (a CI artifact).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { HOSTILE_PRODUCT } from '../../rig/emulator/faults.ts';
import { CHROMIUM, haveChromium, SCREENSHOTS } from '../support/chromium.ts';
import { FIXTURES, type ServeProcess, serveProcess, stationCopy, tmp } from '../support/spawn.ts';

const WAIT_MS = 20_000;

describe("chiprig serve's page in headless Chromium", function () {
  this.timeout(240_000);
  if (!haveChromium('SERVE-BROWSER', 'SERVE-BROWSER-01..05')) return;

  let dir: string;
  let browser: Browser | undefined;
  const servers: ServeProcess[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    dir = tmp();
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const name of readdirSync(SCREENSHOTS).filter((f) => f.startsWith('serve-'))) {
      rmSync(join(SCREENSHOTS, name), { force: true });
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.stopped));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (args: string[]) => {
    const s = await serveProcess([
      '--listen',
      '127.0.0.1:0',
      '--db',
      join(dir, 'results.db'),
      '--runs',
      join(dir, 'runs'),
      ...args,
    ]);
    servers.push(s);
    return s;
  };

  const open = async (url: string): Promise<Page> => {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1600 } });
    // Offline: whatever a page asks of another host (the Allure UI loads an analytics script) is refused.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/i, (route) => route.abort());
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(url);
    await page.getByTestId('station-name').waitFor({ timeout: WAIT_MS });
    return page;
  };

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `serve-${name}.png`), fullPage: true });

  let page: Page;
  let runId: string;
  let firstUrl: string;

  it('SERVE-BROWSER-01 a run started from the page, its presence prompts answered there, its results arriving', async () => {
    const s = await serve([]);
    firstUrl = s.url;
    page = await open(`${s.url}/`);
    await page.getByTestId('suite-u2f').check();
    await page.getByTestId('transport-hid').check();
    await page.getByTestId('presence').selectOption('prompt');
    await page.getByTestId('grep').fill('U2F-(VER-01|REG-0[3-5])');
    await page.getByTestId('start').click();
    await page.getByTestId('run-id').waitFor({ timeout: WAIT_MS });
    // "Touch the key's button now": answered from the page (it presses the emulated chip's button).
    const prompt = page.getByTestId('prompt-presence');
    await prompt.waitFor({ timeout: WAIT_MS });
    assert.match((await prompt.textContent()) ?? '', /Touch the key's button now \(REGISTER is waiting/);
    await shot(page, '01-presence-prompt');
    let answered = 0;
    const ended = page.getByTestId('run-state').filter({ hasText: /^ended/ });
    const deadline = Date.now() + 90_000;
    while ((await ended.count()) === 0) {
      assert.ok(Date.now() < deadline, 'the run did not end');
      const button = page.getByTestId('prompt-answer');
      if ((await button.count()) > 0) {
        await button
          .first()
          .click()
          .catch(() => undefined);
        answered++;
        await page.waitForTimeout(150);
      } else await page.waitForTimeout(100);
    }
    assert.ok(answered >= 3, `${answered} prompts answered`);
    assert.equal(await page.getByTestId('run-state').textContent(), 'ended (exit 0)');
    const rows = page.getByTestId('tests').locator('tr[data-outcome]');
    assert.equal(await rows.count(), 4);
    assert.equal(await page.getByTestId('tests').locator('tr[data-outcome=passed]').count(), 4);
    assert.match(
      (await page.getByTestId('progress').textContent()) ?? '',
      /^4 of 4 tests: 4 passed, 0 failed/,
    );
    runId = (await page.getByTestId('run-id').getAttribute('href'))!.slice('/runs/'.length);
    await shot(page, '02-run-ended');
  });

  it('SERVE-BROWSER-02 the history lists the run from the database, and its Allure report opens', async () => {
    await page.getByRole('link', { name: 'History' }).click();
    const row = page.locator(`tr[data-run="${runId}"]`);
    await row.waitFor({ timeout: WAIT_MS });
    assert.equal(await row.getByTestId('run-status').textContent(), 'passed');
    await shot(page, '03-history');
    await row.getByRole('link', { name: runId.slice(0, 8) }).click();
    await page.getByTestId('results').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.getByTestId('results').locator('tr').count(), 5);
    const [report] = await Promise.all([
      page.context().waitForEvent('page'),
      page.getByTestId('report-link').click(),
    ]);
    const reportErrors: string[] = [];
    report.on('pageerror', (e) => reportErrors.push(e.message));
    report.on('console', (m) => m.type() === 'error' && reportErrors.push(m.text()));
    // The Allure report draws the run (sandboxed into an origin of its own, with page-long storage).
    await report
      .getByText('chiprig conformance report')
      .first()
      .waitFor({ timeout: 60_000 })
      .catch(async (error: Error) => {
        const body = await report
          .locator('body')
          .textContent({ timeout: 5_000 })
          .then(
            (t) => t ?? '',
            (e: Error) => `(unread: ${e.message})`,
          );
        throw new Error(
          `${error.message}\nthe report page ${report.url()} shows: ${JSON.stringify(body.slice(0, 600))}\nits errors: ${JSON.stringify(reportErrors)}`,
        );
      });
    await report.getByText('USB HID', { exact: true }).first().waitFor({ timeout: WAIT_MS });
    assert.match((await report.locator('body').textContent()) ?? '', /Total\s*4/);
    await report.screenshot({ path: join(SCREENSHOTS, 'serve-04-allure-report.png') });
  });

  it('SERVE-BROWSER-03 a station with simulated instruments: readings shown, and the chamber moving during a sweep', async () => {
    const s = await serve(['--station', join(FIXTURES, 'stations/emulated-lab.yaml')]);
    const lab = await open(`${s.url}/`);
    await lab.getByTestId('chamber-temperature').waitFor({ timeout: WAIT_MS });
    await lab.getByTestId('meter-current').waitFor({ timeout: WAIT_MS });
    await lab.getByTestId('suite-env').check();
    await lab.getByTestId('grep').fill('ENV-TEMP');
    await lab.getByTestId('start').click();
    const seen = new Set<string>();
    const deadline = Date.now() + 120_000;
    while (
      (await lab
        .getByTestId('run-state')
        .filter({ hasText: /^ended/ })
        .count()) === 0
    ) {
      assert.ok(Date.now() < deadline, 'the sweep did not end');
      const t = await lab
        .getByTestId('chamber-temperature')
        .textContent()
        .catch(() => '');
      if (t) seen.add(t);
      await lab.waitForTimeout(200);
    }
    assert.ok(seen.size >= 3, `chamber readings seen: ${[...seen].join(', ')}`);
    const temps = [...seen].map(Number);
    assert.ok(
      Math.min(...temps) < 10 && Math.max(...temps) > 30,
      `the sweep went from -10 to 50 C: ${temps.join(', ')}`,
    );
    await lab.getByTestId('chamber-plot').waitFor({ timeout: WAIT_MS });
    assert.equal(await lab.getByTestId('run-state').textContent(), 'ended (exit 0)');
    await shot(lab, '05-lab-station-sweep');
  });

  it('SERVE-BROWSER-04 HTML and script in the device strings are shown as text and run nothing', async () => {
    const station = stationCopy(dir, (y) =>
      y.replace(/^device: emulator$/m, 'device: "emulator:hostile-strings"'),
    );
    const s = await serve(['--station', station]);
    const hostile = await open(`${s.url}/`);
    const identity = hostile.getByTestId('identity');
    await identity.getByText(HOSTILE_PRODUCT, { exact: true }).first().waitFor({ timeout: WAIT_MS });
    await hostile.getByTestId('suite-u2f').check();
    await hostile.getByTestId('transport-hid').check();
    await hostile.getByTestId('grep').fill('U2F-VER-01');
    await hostile.getByTestId('start').click();
    await hostile
      .getByTestId('run-state')
      .filter({ hasText: /^ended/ })
      .waitFor({ timeout: 60_000 });
    await hostile.getByTestId('run-id').click();
    await hostile.getByTestId('results').waitFor({ timeout: WAIT_MS });
    await hostile
      .getByTestId('identity')
      .getByText(HOSTILE_PRODUCT, { exact: true })
      .waitFor({ timeout: WAIT_MS });
    assert.equal(
      await hostile.evaluate(() => (globalThis as { __chiprigPwned?: number }).__chiprigPwned),
      undefined,
    );
    assert.equal(await hostile.locator('main img, main script, main svg:not(.plot)').count(), 0);
    await shot(hostile, '06-hostile-strings');
  });

  it('SERVE-BROWSER-05 a scenario run from the page, then two runs compared from the history', async () => {
    const p = await open(`${firstUrl}/`);
    await p.getByTestId('scenario-mitid-login-usb.yaml').check();
    await p.getByTestId('start').click();
    await p
      .getByTestId('run-state')
      .filter({ hasText: /^ended/ })
      .waitFor({ timeout: 60_000 });
    assert.equal(await p.getByTestId('run-state').textContent(), 'ended (exit 0)');
    assert.ok((await p.getByTestId('tests').locator('tr[data-outcome=passed]').count()) >= 1);
    await p.getByRole('link', { name: 'History' }).click();
    await p.getByTestId('history').locator('tr[data-run]').nth(1).waitFor({ timeout: WAIT_MS });
    const picks = p.getByTestId('pick');
    await picks.nth(0).check();
    await picks.nth(1).check();
    await p.getByTestId('compare').click();
    await p.getByTestId('compare-page').getByRole('heading').first().waitFor({ timeout: WAIT_MS });
    const text = (await p.getByTestId('compare-page').textContent()) ?? '';
    assert.match(text, /A: [0-9a-f]{8} .* B: [0-9a-f]{8}/);
    // The scenario run has none of the suite run's cells: compare says what is in one run only.
    assert.match(text, /Comparison|Verdict changes/);
    await shot(p, '07-compare');
    assert.deepEqual(pageErrors, []);
  });
});
