import assert from 'node:assert/strict';
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
});
