import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where chiprig's own files are, in both of its layouts:
 * - a development checkout runs the TypeScript sources (through tsx): rig/ and suites/ sit
 *   at the package root;
 * - the installed package runs the JavaScript that `npm run build` made from them in dist/
 *   (dist/rig/, dist/suites/), one folder deeper, and ships no sources.
 * The data files (fixtures/, scenarios/, schemas/, allurerc.mjs, package.json) and
 * bin/chiprig.js stay at the package root in both, so they are found from PACKAGE_ROOT,
 * never by counting `../` from a module (which would be one short in dist/). Modules
 * (the suites' spec files) are found beside the running code, with MODULE_EXT.
 */
const BUILT = import.meta.url.endsWith('.js');

/** The package root: the checkout, or the installed package's folder. */
export const PACKAGE_ROOT = fileURLToPath(new URL(BUILT ? '../../' : '../', import.meta.url));

/** The extension of chiprig's own modules where they run: `.ts` (sources) or `.js` (built). */
export const MODULE_EXT = BUILT ? '.js' : '.ts';

/** A file or folder of the package, from its path under the root (a trailing `/` is kept). */
export function packagePath(path: string): string {
  return join(PACKAGE_ROOT, path);
}

/**
 * The `chiprig` command, which starts the child runs (per-device workers, repeats): the
 * same code as the running process, so a built run's children run the built code too
 * (bin/chiprig.js in a checkout would run the sources through tsx).
 */
export const CHIPRIG_BIN = BUILT
  ? fileURLToPath(new URL('./cli/main.js', import.meta.url))
  : packagePath('bin/chiprig.js');
