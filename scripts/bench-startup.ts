/**
 * `chiprig --version` start-up, wall clock, median of five (after one untimed warm-up):
 * the development checkout's bin/chiprig.js (tsx, TypeScript sources) beside the package a
 * lab installs (`npm pack`, `npm install -g` into a temp prefix: the built JavaScript).
 * Run alone: `npx tsx scripts/bench-startup.ts`.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHECKOUT, median, packAndInstall, versionStartMs } from '../test/support/package.ts';

const RUNS = 5;

export async function benchStartup(): Promise<string[]> {
  const pkg = await packAndInstall();
  try {
    const rows: [string, number[]][] = [
      ['checkout (tsx, TypeScript sources)', versionStartMs(join(CHECKOUT, 'bin/chiprig.js'), RUNS)],
      ['installed package (built JavaScript)', versionStartMs(pkg.bin, RUNS)],
    ];
    const dev = median(rows[0]![1]);
    const lines = [
      `chiprig --version start-up (wall clock, median of ${RUNS}; ratio: to the development checkout):`,
      `${'how it runs'.padEnd(44)} ${'median ms'.padStart(10)} ${'min'.padStart(8)} ${'max'.padStart(8)} ${'ratio'.padStart(7)}`,
    ];
    for (const [name, times] of rows) {
      lines.push(
        `${name.padEnd(44)} ${median(times).toFixed(0).padStart(10)} ${Math.min(...times)
          .toFixed(0)
          .padStart(8)} ${Math.max(...times)
          .toFixed(0)
          .padStart(8)} ${(median(times) / dev).toFixed(3).padStart(7)}`,
      );
    }
    lines.push(
      `(the installed package starts ${(dev / median(rows[1]![1])).toFixed(1)}x faster; tarball ${(pkg.size / 1000).toFixed(0)} kB, ${pkg.files.length} files; npm pack ${(pkg.packMs / 1000).toFixed(1)} s, npm install -g ${(pkg.installMs / 1000).toFixed(1)} s)`,
    );
    return lines;
  } finally {
    pkg.remove();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const line of await benchStartup()) console.log(line);
}
