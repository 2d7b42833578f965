import assert from 'node:assert/strict';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, readResults, tmp } from '../support/spawn.ts';

describe('Platform matrix through chiprig run (end to end, spawned)', function () {
  this.timeout(120_000);

  it('PLAT-03 on a host reported as Windows 11, BLE tests are skipped with the profile reason; USB and NFC run (exit 0)', async () => {
    const dir = tmp();
    const r = await chiprig([
      'run',
      '--platform',
      'windows-11',
      '--suite',
      'u2f,ble',
      '--grep',
      'U2F-VER-01|BLE-PING-01',
      '--results',
      dir,
      '--no-html',
    ]);
    assert.equal(r.code, EXIT.PASSED, `${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.match(r.stdout, /platform windows-11 \(--platform\)/);
    const results = readResults(dir);
    const over = (t: (typeof results)[number]) => t.parameters.find((p) => p.name === 'transport')?.value;
    const ble = results.filter((t) => over(t) === 'ble');
    assert.ok(ble.length >= 2, `BLE tests declared: ${ble.length}`);
    for (const t of ble) {
      assert.equal(t.status, 'skipped', t.name);
      assert.match(t.statusDetails?.message ?? '', /Bluetooth does not work with Windows 11/);
    }
    const others = results.filter((t) => over(t) !== 'ble');
    assert.deepEqual(others.map((t) => `${over(t)} ${t.status}`).sort(), ['hid passed', 'nfc passed']);
    for (const t of results) {
      assert.equal(t.parameters.find((p) => p.name === 'platform')?.value, 'windows-11');
    }
  });

  it('PLAT-04 an unknown platform is a usage error naming the flag (exit 2)', async () => {
    const r = await chiprig(['run', '--platform', 'amiga', '--no-html', '--results', tmp()]);
    assert.equal(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /--platform: "amiga" is not a platform/);
  });
});
