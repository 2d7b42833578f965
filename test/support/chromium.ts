import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's Chromium (apt-get install chromium), which playwright-core drives. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where the browser tests keep their screenshots (a CI artifact). */
export const SCREENSHOTS = join(fileURLToPath(new URL('../../', import.meta.url)), 'reports', 'screenshots');

const missing = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed (${CHROMIUM}; apt-get install -y --no-install-recommends chromium)`;

/**
 * Call inside a describe, first: where Chromium is missing it adds one test in place of the
 * file's (pending, with the reason; on CI, which installs Chromium, failing) and returns
 * false, and the describe adds nothing more.
 */
export function haveChromium(prefix: string, ids: string): boolean {
  if (!missing) return true;
  if (!process.env.CI) it(`pending: ${ids}: ${missing}`);
  else {
    it(`${prefix}-00 Chromium is installed (CI must install it)`, () => {
      assert.fail(`${missing}: CI installs it with the other apt packages (.ci/run, ci.yml)`);
    });
  }
  return false;
}
