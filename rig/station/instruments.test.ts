import assert from 'node:assert/strict';
import { join } from 'node:path';
import { InstrumentError } from '../errors.ts';
import { socatAvailable } from '../instruments/pty-pair.ts';
import { makeEmulator } from './emulated.ts';
import { openInstruments } from './instruments.ts';
import { loadStationFile } from './station-file.ts';

const LAB = join(new URL('../../fixtures/stations/', import.meta.url).pathname, 'emulated-lab.yaml');

/** The simulator acts on the bytes when they arrive, after the driver's write has flushed. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`${what}: not within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('station instruments: simulated ports', function () {
  this.timeout(30_000);

  before(function () {
    if (!socatAvailable()) this.skip();
  });

  it('each simulated instrument gets its simulator on a pty, wired to the emulated chip, and the real driver on the other end', async () => {
    const file = loadStationFile(LAB);
    const chip = makeEmulator(file, undefined);
    const instruments = await openInstruments(file.instruments, chip);
    try {
      assert.ok(instruments.power && instruments.presser && instruments.chamber && instruments.meter);
      assert.equal(instruments.chamberSettle?.soakMs, 300, 'the station file settle options');
      await instruments.power.setPower(false);
      await until(() => !chip.powered, 'the switch cuts the chip');
      await instruments.power.setPower(true);
      await until(() => chip.powered, 'the switch powers the chip');
      assert.equal(await instruments.chamber.readTemperature(), chip.thermal.ambientC);
      const m = await instruments.meter.measure(20);
      assert.ok(m.samples > 0, `samples: ${m.samples}`);
    } finally {
      await instruments.close?.();
    }
  });

  it('a simulated port for a device other than the emulated chip is refused, naming the instrument', async () => {
    const file = loadStationFile(LAB);
    await assert.rejects(
      openInstruments({ ...file.instruments, meter: undefined, power: undefined }, undefined),
      (e: unknown) =>
        e instanceof InstrumentError && /instruments\.chamber\.port is "simulated"/.test(e.message),
    );
  });
});
