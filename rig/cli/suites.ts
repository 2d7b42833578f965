import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { TransportKind } from '../transport/transport.ts';

/** The conformance suites `chiprig run --suite` knows, and the transport each needs. */
export const SUITES: Record<string, { dir: string; needs: TransportKind[]; what: string }> = {
  u2f: { dir: 'u2f', needs: [], what: 'U2F raw messages (U2F-*), on every transport the station has' },
  security: {
    dir: 'security',
    needs: [],
    what: 'nonce reuse, counter monotonicity, key-handle binding and tamper, fresh keys, attestation chain, presence (SEC-*)',
  },
  hid: { dir: 'hid', needs: ['hid'], what: 'CTAPHID framing and channels (HID-*)' },
  ble: {
    dir: 'ble',
    needs: ['ble'],
    what: 'FIDO over GATT: service, advertising, fragments, keepalive, PING, link (BLE-*)',
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
  nfc: {
    dir: 'nfc',
    needs: ['nfc'],
    what: 'ISO 7816-4 over NFC: SELECT, APDU forms, chaining, GET RESPONSE, field (NFC-*)',
  },
};

export const SUITES_ROOT = new URL('../../suites/', import.meta.url).pathname;

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
    .filter((f) => f.endsWith('.spec.ts'))
    .sort()
    .map((f) => join(dir, f));
}
