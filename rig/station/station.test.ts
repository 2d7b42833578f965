import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { loadDeviceProfile } from './device-profile.ts';
import { parseDeviceSpec } from './device-spec.ts';
import { Station } from './station.ts';
import { DEFAULT_STATION, loadStationFile } from './station-file.ts';

const PROFILE = new URL('../../fixtures/devices/mitid-chip.yaml', import.meta.url).pathname;

describe('device specs', () => {
  it('parses every documented form', () => {
    assert.deepEqual(parseDeviceSpec('emulator'), { kind: 'emulator', text: 'emulator' });
    assert.deepEqual(parseDeviceSpec('hid:1050:0407'), {
      kind: 'hid',
      text: 'hid:1050:0407',
      vendorId: 0x1050,
      productId: 0x0407,
    });
    assert.equal(parseDeviceSpec('hid:1050:0407:ABC123').kind, 'hid');
    assert.deepEqual(parseDeviceSpec('hid:/dev/hidraw3'), {
      kind: 'hid-path',
      text: 'hid:/dev/hidraw3',
      path: '/dev/hidraw3',
    });
    assert.equal(parseDeviceSpec('emulator:counter-frozen').kind, 'emulator');
  });

  it('names the flag and the accepted forms when a spec is wrong', () => {
    for (const bad of ['usb:1', 'hid:', 'hid:10:04', 'emulator:no-such-fault', '']) {
      assert.throws(
        () => parseDeviceSpec(bad),
        (e: unknown) => e instanceof ConfigError && /--device/.test(e.message),
        bad,
      );
    }
  });
});

describe('device profile and station files', () => {
  it('loads the MitID chip profile with the spec-sheet facts', () => {
    const p = loadDeviceProfile(PROFILE);
    assert.deepEqual(p.environment?.operatingTemperatureC, { min: -10, max: 50 });
    assert.deepEqual(p.environment?.storageTemperatureC, { min: -20, max: 70 });
    assert.equal(p.battery?.capacityMah, 35);
    assert.deepEqual(p.platforms.macos?.transports, ['hid']);
    assert.deepEqual(p.platforms.ios?.transports, ['nfc']);
    assert.equal(p.physical?.sizeMm.length, 47.3);
  });

  it('rejects a profile with a bad field, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-'));
    const bad = readFileSync(PROFILE, 'utf8').replace('capacityMah: 35', 'capacityMah: -35');
    writeFileSync(join(dir, 'p.yaml'), bad);
    assert.throws(() => loadDeviceProfile(join(dir, 'p.yaml')), /field "battery\.capacityMah"/);
  });

  it('reports YAML syntax errors with the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-'));
    writeFileSync(join(dir, 's.yaml'), 'name: x\nprofile: [unclosed\n');
    assert.throws(() => loadStationFile(join(dir, 's.yaml')), /s\.yaml:\d+: not valid YAML/);
  });

  it('rejects unknown station fields and names them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-'));
    writeFileSync(
      join(dir, 's.yaml'),
      `${readFileSync(DEFAULT_STATION, 'utf8')}\nbogus: 1\n`.replace(
        /\.\.\//g,
        `${join(DEFAULT_STATION, '../../')}/`,
      ),
    );
    assert.throws(() => loadStationFile(join(dir, 's.yaml')), /bogus/);
  });

  it('opens the default emulated station, and refuses an actuator it does not have', async () => {
    const station = await Station.open();
    assert.equal(station.presence.mode, 'actuator');
    assert.equal(await (await station.u2f()).version(), 'U2F_V2');
    await station.close();
    await assert.rejects(Station.open({ device: 'hid:1050:0407', presence: 'actuator' }), ConfigError);
  });
});
