import assert from 'node:assert/strict';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { type DeviceFaultName, FAULTS } from '../../rig/emulator/faults.ts';
import { requirements } from '../../rig/requirements/requirements.ts';
import { chiprig, tmp } from '../support/spawn.ts';

describe('deliberately broken emulators (end to end, spawned)', function () {
  this.timeout(300_000);

  it('catches every deliberately broken emulator (exit 1, failing a case that names the requirement)', async () => {
    const names = Object.keys(FAULTS) as DeviceFaultName[];
    const caught: string[] = [];
    const missed: string[] = [];
    const queue = [...names];
    const worker = async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        // BLE faults run the BLE suite on the BLE station, a fault may name its suite (and a
        // grep to keep a slow one short); the others run the U2F suite on the default station.
        // On the default station a fault runs over one link (USB HID unless it names one):
        // the chip's core is the same behind every link, and the BLE presence waits are slow.
        const fault = FAULTS[name] as { station?: string; suite?: string; grep?: string; transport?: string };
        const transport = fault.transport ?? (fault.station ? undefined : 'hid');
        const where = fault.station
          ? ['--station', new URL(`../../fixtures/stations/${fault.station}`, import.meta.url).pathname]
          : [];
        const suite = fault.suite ?? (fault.station ? 'ble' : 'u2f');
        // A breach of an advisory requirement fails only under --strict (tested below).
        const advisory = (FAULTS[name].caughtBy as readonly string[]).some(
          (id) => requirements().strengthOf(id) === 'advisory',
        );
        const r = await chiprig([
          'run',
          ...(advisory ? ['--strict'] : []),
          ...where,
          // Only the cases that must catch it (each case stands alone; the clean chip passes
          // the whole suites in the tests above), unless the fault names its own selection.
          '--grep',
          fault.grep ?? `(^| )(${(FAULTS[name].caughtBy as readonly string[]).join('|')}) `,
          ...(transport ? ['--transport', transport] : []),
          '--suite',
          suite,
          '--device',
          `emulator:${name}`,
          '--results',
          tmp(),
          '--no-html',
        ]);
        const failed = [...r.stdout.matchAll(/FAIL\s+(\S+)/g)].map((m) => m[1]!);
        const expected = FAULTS[name].caughtBy as readonly string[];
        if (r.code === EXIT.FAILED && expected.every((id) => failed.includes(id))) caught.push(name);
        else
          missed.push(
            `${name} (exit ${r.code}, failed: ${failed.join(' ') || 'none'}, expected ${expected.join(' ')})`,
          );
      }
    };
    await Promise.all([worker(), worker()]);
    process.stdout.write(`      faults caught ${caught.length} of ${names.length}\n`);
    assert.deepEqual(missed, [], `faults not caught: ${missed.join('; ')}`);
  });
});
