import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { MODULE_EXT } from '../paths.ts';
import type { TransportKind } from '../transport/transport.ts';

/**
 * The suites `chiprig run --suite` knows, and the transport each needs, in the order a run
 * takes them: conformance first, then the instrument and timing suites (which a replay
 * does not run, so what comes before them replays exactly).
 */
export const SUITES: Record<string, { dir: string; needs: TransportKind[]; what: string }> = {
  u2f: { dir: 'u2f', needs: [], what: 'U2F raw messages (U2F-*), on every transport the station has' },
  security: {
    dir: 'security',
    needs: [],
    what: 'nonce reuse, counter monotonicity, key-handle binding and tamper, fresh keys, attestation chain, presence (SEC-*)',
  },
  metadata: {
    dir: 'metadata',
    needs: [],
    what: "the device's FIDO metadata statement or MDS3 BLOB entry against the device: key identifier, roots, protocol, algorithms, attestation type, transports, status (MDS-*)",
  },
  hid: { dir: 'hid', needs: ['hid'], what: 'CTAPHID framing and channels (HID-*)' },
  ble: {
    dir: 'ble',
    needs: ['ble'],
    what: 'FIDO over GATT: service, advertising, fragments, keepalive, PING, link (BLE-*)',
  },
  nfc: {
    dir: 'nfc',
    needs: ['nfc'],
    what: 'ISO 7816-4 over NFC: SELECT, APDU forms, chaining, GET RESPONSE, field (NFC-*)',
  },
  env: {
    dir: 'env',
    needs: [],
    what: 'temperature sweep and storage (climate chamber), power cycling (power switch), battery (power meter) (ENV-*)',
  },
  perf: {
    dir: 'perf',
    needs: [],
    what: 'latency per operation, signing throughput, soak, link-model accuracy (PERF-*), on every transport',
  },
};

/** Suites whose verdicts rest on instruments or the clock, which a recording does not hold. */
export const NOT_REPLAYED: Record<string, string> = {
  env: 'it reads the station instruments (chamber, power switch, power meter)',
  perf: 'its verdicts are timings and its loops run for a time, not a count',
};

/** The suites' spec files, beside the running rig: suites/ (sources) or dist/suites/ (built). */
export const SUITES_ROOT = fileURLToPath(new URL('../../suites/', import.meta.url));
const SPEC_EXT = `.spec${MODULE_EXT}`;

/** The spec that runs scenario files (chiprig run --scenario). */
export const SCENARIO_SPEC = join(SUITES_ROOT, 'scenarios', `scenarios${SPEC_EXT}`);

export function parseSuiteList(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(n in SUITES));
  if (names.length === 0 || unknown.length > 0) {
    throw new ConfigError(
      `--suite: unknown suite "${unknown.join(',') || list}" (known: ${Object.keys(SUITES).join(', ')})`,
    );
  }
  return names;
}

export function specFiles(suite: string): string[] {
  const dir = join(SUITES_ROOT, SUITES[suite]!.dir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(SPEC_EXT))
    .sort()
    .map((f) => join(dir, f));
}

/** The suite a spec file belongs to (suites/<suite>/*.spec.ts, or .js built), if it is one. */
export function suiteOf(file: string | undefined): string | undefined {
  return file ? /[\\/]suites[\\/]([^\\/]+)[\\/][^\\/]+$/.exec(file)?.[1] : undefined;
}
