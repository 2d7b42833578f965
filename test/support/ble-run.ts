import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { socatAvailable } from '../../rig/emulator/ble/hci-pty.ts';
import { chiprig, tmp } from './spawn.ts';

/**
 * One test: `chiprig run` with a BLE station of fixtures/stations runs the BLE and U2F suites
 * and passes them. A station through the HCI stack needs socat (its pty); without it the
 * test says so and is skipped.
 */
export function itRunsBleStation(station: string, what: string): void {
  it(`runs the BLE and U2F suites over BLE: ${what}`, async function () {
    if (station.includes('hci') && !socatAvailable()) {
      process.stdout.write('      skipped: socat is not installed (apt-get install socat)\n');
      return this.skip();
    }
    const results = tmp();
    const file = new URL(`../../fixtures/stations/${station}`, import.meta.url).pathname;
    const r = await chiprig([
      'run',
      '--station',
      file,
      '--suite',
      'ble,u2f',
      '--results',
      results,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr}`);
    const files = readdirSync(results).filter((f) => f.endsWith('-result.json'));
    assert.ok(files.length >= 60, `only ${files.length} results`);
    assert.match(r.stdout, /Bluetooth LE · U2F REGISTER/);
    assert.match(r.stdout, /Bluetooth LE · fragmentation/);
  });
}
