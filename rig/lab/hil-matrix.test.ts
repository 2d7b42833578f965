import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { hilMatrix } from './hil-matrix.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'fixtures');

function inventory(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'chiprig-inventory-'));
  const path = join(dir, 'inventory.yaml');
  writeFileSync(path, yaml);
  return path;
}

describe('lab/hil-matrix (nightly HIL matrix from the inventory)', () => {
  it('makes one job per device, labelled by the capabilities its station file needs', () => {
    const { include } = hilMatrix(join(FIXTURES, 'lab/inventory.yaml'), ROOT);
    assert.deepEqual(
      include.map((j) => [j.id, j.station, j.labels.join(' '), j.concurrency]),
      [
        [
          'mitid-usb-0001',
          'fixtures/lab/stations/bench-usb.yaml',
          'self-hosted chiprig hid chamber ppk2 power presser',
          'chiprig-dut-mitid-usb-0001',
        ],
        [
          'mitid-nfc-0002',
          'fixtures/lab/stations/bench-nfc.yaml',
          'self-hosted chiprig nfc',
          'chiprig-dut-mitid-nfc-0002',
        ],
        [
          'mitid-ble-0003',
          'fixtures/lab/stations/bench-ble.yaml',
          'self-hosted chiprig ble power presser',
          'chiprig-dut-mitid-ble-0003',
        ],
      ],
    );
    assert.equal(include[2]!.suites, 'ble,u2f,security');
    assert.equal(include[0]!.suites, undefined);
  });

  it('refuses a device listed twice, a station that drives the emulator, and an unknown field, naming them', () => {
    const station = join(FIXTURES, 'lab/stations/bench-nfc.yaml');
    assert.throws(
      () =>
        hilMatrix(
          inventory(`devices:\n  - { id: a, station: ${station} }\n  - { id: a, station: ${station} }\n`),
          ROOT,
        ),
      (e) => e instanceof ConfigError && /device id "a" appears twice/.test(e.message),
    );
    const emulated = join(FIXTURES, 'stations/emulated.yaml');
    assert.throws(
      () => hilMatrix(inventory(`devices:\n  - { id: e, station: ${emulated} }\n`), ROOT),
      (e) => e instanceof ConfigError && /drives the emulator/.test(e.message),
    );
    assert.throws(
      () => hilMatrix(inventory(`devices:\n  - { id: b, station: ${station}, runner: x }\n`), ROOT),
      (e) => e instanceof ConfigError && /runner/.test(e.message),
    );
  });
});
