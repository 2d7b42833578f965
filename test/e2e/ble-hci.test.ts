import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { socatAvailable } from '../../rig/emulator/ble/hci-pty.ts';
import { chiprig, tmp } from '../support/spawn.ts';

describe('chiprig CLI over Bluetooth LE through a real HCI stack (end to end, spawned; its link timers run alone)', function () {
  this.timeout(300_000);

  for (const [station, what] of [
    ['emulated-ble-hci.yaml', "noble's HCI stack over a pty to the emulated controller"],
  ] as const) {
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
});
