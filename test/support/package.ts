/**
 * The package as a lab gets it: `npm pack` of this checkout (its prepack builds dist/), then
 * `npm install -g` of the tarball into a fresh prefix. Used by test/e2e/package.test.ts and
 * `npm run bench` (scripts/bench-startup.ts). Dependencies come from the npm registry
 * (the local npm cache first); nfc-pcsc's native binding is built (libpcsclite-dev).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The checkout (its package.json). */
export const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));

export interface InstalledPackage {
  /** Holds the tarball, the prefix and a working folder; remove() deletes it. */
  dir: string;
  tarball: string;
  /** Tarball size and unpacked size (bytes), and the files in it (package-relative paths). */
  size: number;
  unpackedSize: number;
  files: string[];
  /** The installed package's folder, and its bin/chiprig.js. */
  root: string;
  bin: string;
  packMs: number;
  installMs: number;
  remove(): void;
}

const run = promisify(execFile);

/** Packs this checkout and installs the tarball with `npm install -g --prefix` into a temp folder. */
export async function packAndInstall(): Promise<InstalledPackage> {
  const dir = mkdtempSync(join(tmpdir(), 'chiprig-package-'));
  const opts = { cwd: CHECKOUT, maxBuffer: 64 << 20, env: labEnv() };
  let t = performance.now();
  // --json: the pack report on stdout (prepack's build writes to stderr).
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], opts);
  const packMs = performance.now() - t;
  const [info] = JSON.parse(packed.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  if (!info) throw new Error(`npm pack printed no package:\n${packed.stdout}`);
  const tarball = join(dir, info.filename);
  const prefix = join(dir, 'prefix');
  t = performance.now();
  await run(
    'npm',
    ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'],
    { ...opts, cwd: dir },
  );
  const installMs = performance.now() - t;
  const root = join(prefix, 'lib', 'node_modules', 'chiprig');
  return {
    dir,
    tarball,
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path),
    root,
    bin: join(root, 'bin', 'chiprig.js'),
    packMs,
    installMs,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The environment as in a lab's shell: without what `npm test` / `npm run` set for the
 * checkout's own scripts (npm_package_*, npm_lifecycle_*, its prefix), and without
 * NODE_OPTIONS (a test run's `--import tsx` is not the package's).
 */
export function labEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) =>
        !k.startsWith('npm_package_') &&
        !k.startsWith('npm_lifecycle_') &&
        k !== 'npm_config_prefix' &&
        k !== 'npm_config_local_prefix' &&
        k !== 'INIT_CWD' &&
        k !== 'NODE_OPTIONS',
    ),
  );
}

/** Wall-clock times (ms) of `node BIN --version`, after one untimed warm-up run; throws if it fails. */
export function versionStartMs(bin: string, runs = 5, cwd = tmpdir()): number[] {
  const once = () => {
    const t = performance.now();
    const r = spawnSync(process.execPath, [bin, '--version'], { cwd, encoding: 'utf8', env: labEnv() });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`${bin} --version: exit ${r.status}\n${r.stderr}`);
    return ms;
  };
  once();
  return Array.from({ length: runs }, once);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
