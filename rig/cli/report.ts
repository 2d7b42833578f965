import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { generateHtmlReport } from '../report/html.ts';
import { EXIT } from './exit-codes.ts';

/**
 * `chiprig report DIR...`: one single-file report from the results of several runs (the
 * stations of a nightly run, the shards of one), optionally carrying the history on.
 */
export async function report(dirs: string[], opts: { report: string; history?: string }): Promise<number> {
  const missing = dirs.filter((d) => !existsSync(d));
  if (dirs.length === 0) throw new ConfigError('chiprig report: name at least one results folder');
  if (missing.length > 0)
    throw new ConfigError(`chiprig report: no such results folder: ${missing.join(', ')}`);
  const done = await generateHtmlReport(
    dirs.map((d) => resolve(d)),
    resolve(opts.report),
    opts.history ? { historyPath: opts.history } : {},
  );
  if (!done.ok) {
    process.stderr.write(`chiprig: the report was not generated: ${done.error}\n`);
    return EXIT.BROKEN;
  }
  process.stdout.write(
    `report: ${done.index} (from ${dirs.length} results folder${dirs.length === 1 ? '' : 's'})${done.note}\n`,
  );
  return EXIT.PASSED;
}
