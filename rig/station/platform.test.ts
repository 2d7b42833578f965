import assert from 'node:assert/strict';
import { EXIT } from '../cli/exit-codes.ts';
import { chiprig, readResults, tmp } from '../cli/spawn-support.ts';
import { ConfigError } from '../errors.ts';
import { loadDeviceProfile } from './device-profile.ts';
import { detectPlatform, hostPlatform, unsupportedReason } from './platform.ts';

const PROFILE = loadDeviceProfile(
  new URL('../../fixtures/devices/mitid-chip.yaml', import.meta.url).pathname,
);

describe('Platform matrix: which transports the chip supports on which host', function () {
  this.timeout(120_000);

  it('PLAT-01 names the host platform as the profile does: Windows 11 by its build number', () => {
    assert.equal(detectPlatform('win32', '10.0.22631'), 'windows-11');
    assert.equal(detectPlatform('win32', '10.0.22000'), 'windows-11');
    assert.equal(detectPlatform('win32', '10.0.19045'), 'windows');
    assert.equal(detectPlatform('darwin', '23.4.0'), 'macos');
    assert.equal(detectPlatform('linux', '6.1.0'), 'linux');
  });

  it("PLAT-02 the spec sheet's gaps give a reason; a platform the profile does not list runs everything", () => {
    const on = (name: string) => ({ name, source: 'test' });
    assert.match(
      unsupportedReason(PROFILE, on('windows-11'), 'ble') ?? '',
      /Bluetooth does not work with Windows 11; no Bluetooth LE \(device profile, platforms\.windows-11\)/,
    );
    assert.equal(unsupportedReason(PROFILE, on('windows-11'), 'hid'), undefined);
    assert.equal(unsupportedReason(PROFILE, on('windows-11'), 'nfc'), undefined);
    assert.equal(unsupportedReason(PROFILE, on('windows'), 'ble'), undefined);
    assert.match(unsupportedReason(PROFILE, on('macos'), 'nfc') ?? '', /USB only/);
    assert.match(unsupportedReason(PROFILE, on('ios'), 'hid') ?? '', /NFC only/);
    for (const t of ['hid', 'nfc', 'ble'] as const)
      assert.equal(unsupportedReason(PROFILE, on('linux'), t), undefined);
    assert.throws(
      () => hostPlatform(PROFILE, { name: 'windows-12', source: '--platform' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /--platform: "windows-12" is not a platform \(known: .*windows-11/.test(e.message),
    );
  });

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
