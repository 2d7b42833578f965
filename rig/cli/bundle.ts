import { resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { makeBundle, verifyBundle } from '../report/bundle.ts';
import { DEFAULT_STATION, loadStationFile } from '../station/station-file.ts';
import { EXIT } from './exit-codes.ts';

/** `chiprig bundle RESULTS --out FILE`: packs and signs; exit 0, or 2 when an input is missing. */
export async function bundle(
  results: string,
  opts: { out?: string; station?: string; key?: string; report?: string; recording?: string[] },
): Promise<number> {
  if (!opts.out)
    throw new ConfigError(
      'chiprig bundle: --out FILE is required (where to write the bundle, e.g. evidence.tar.gz)',
    );
  const done = await makeBundle({
    results,
    out: opts.out,
    station: opts.station,
    key: opts.key,
    report: opts.report,
    recordings: opts.recording,
  });
  for (const f of done.files) process.stdout.write(`  ${f.name} (${f.bytes} bytes)\n`);
  process.stdout.write(
    `bundle: ${done.out}: ${done.files.length} files and their SHA-256 digests, signed (DSSE, in-toto Statement) by key ${done.keyid}\n`,
  );
  return EXIT.PASSED;
}

/**
 * `chiprig bundle verify FILE`: exit 0 when the signature and every digest hold, 1 when
 * anything changed (each file named), 2 when the file or the key cannot be read.
 */
export async function verify(file: string, opts: { key?: string; station?: string }): Promise<number> {
  const keyPath = opts.key ? resolve(opts.key) : stationKey(opts.station);
  const v = await verifyBundle(file, keyPath);
  for (const p of v.problems) process.stdout.write(`  CHANGED  ${p}\n`);
  if (v.ok) {
    process.stdout.write(
      `bundle ${file}: verified: ${v.verified.length} files match the manifest signed by key ${v.keyid}\n`,
    );
    return EXIT.PASSED;
  }
  process.stdout.write(
    `bundle ${file}: NOT verified: ${v.problems.length} problem${v.problems.length === 1 ? '' : 's'} (trusted key ${v.keyid})\n`,
  );
  return EXIT.FAILED;
}

function stationKey(path: string | undefined): string {
  const station = loadStationFile(path ?? DEFAULT_STATION);
  if (!station.signing) {
    throw new ConfigError(
      `station file ${station.path}: no signing key to verify with: pass --key FILE (the station's public key) or --station FILE`,
    );
  }
  return resolve(station.dir, station.signing.key);
}
