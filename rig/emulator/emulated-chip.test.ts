import assert from 'node:assert/strict';
import { makeEmulator } from '../station/emulated.ts';
import { loadStationFile } from '../station/station-file.ts';

describe('EmulatedChip power', () => {
  it('powers up after the host closed its USB handle: no throw, and the next handle works', async () => {
    const chip = makeEmulator(loadStationFile(undefined), undefined);
    const first = chip.hid();
    chip.setPower(false);
    await first.close();
    // A power switch (the Firmata simulator) calls this; a throw here stopped it for good.
    assert.doesNotThrow(() => chip.setPower(true));
    const second = chip.hid();
    assert.notEqual(second, first, 'a closed handle is not reused');
    assert.equal(second.closed, false);
  });

  it('a press after a power cycle is presence again', () => {
    const chip = makeEmulator(loadStationFile(undefined), undefined);
    chip.pressButton();
    chip.setPower(false);
    assert.equal(chip.presence.present, false, 'power loss forgets a press');
    chip.setPower(true);
    chip.pressButton();
    assert.equal(chip.presence.present, true);
  });
});
