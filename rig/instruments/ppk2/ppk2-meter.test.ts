import assert from 'node:assert/strict';
import { InstrumentError } from '../../errors.ts';
import { openPtyPair, type PtyPair, socatAvailable } from '../pty-pair.ts';
import { Ppk2Meter } from './ppk2-meter.ts';
import { openPpk2Simulator, type Ppk2Simulator, type Ppk2SimulatorOptions } from './ppk2-simulator.ts';

/** Simulator and driver agree on the rate: time is counted in samples (see ppk2-simulator.ts). */
const RATE = 10_000;

/** Commands written by the driver may still be crossing the pty when its promise resolves. */
async function received(sim: Ppk2Simulator, count: number, timeoutMs = 1000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  while (sim.commands.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return hex(sim.commands);
}

const hex = (frames: Uint8Array[]) => frames.map((f) => Buffer.from(f).toString('hex'));
const within = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= Math.abs(expected) * rel,
    `${what}: ${actual} not within ${rel * 100}% of ${expected}`,
  );

describe('PPK2 meter against the simulator over a pty', () => {
  let pair: PtyPair | undefined;
  let sim: { simulator: Ppk2Simulator; close(): Promise<void> } | undefined;
  let meter: Ppk2Meter | undefined;

  before(function () {
    if (!socatAvailable()) {
      process.stdout.write(
        '      skipped: socat is not installed (apt-get install socat); the simulator needs a pty pair\n',
      );
      this.skip();
    }
  });

  afterEach(async () => {
    await meter?.close().catch(() => undefined);
    await sim?.close();
    await pair?.close();
    meter = undefined;
    sim = undefined;
    pair = undefined;
  });

  async function rig(opts: Ppk2SimulatorOptions, meterOpts: { mode?: 'source' | 'ampere' } = {}) {
    pair = await openPtyPair({ name: 'ppk2' });
    sim = await openPpk2Simulator(pair.simulatorPath, { sampleRateHz: RATE, ...opts });
    meter = await Ppk2Meter.open({
      path: pair.driverPath,
      sampleRateHz: RATE,
      voltageMv: 3700,
      ...meterOpts,
    });
    return { simulator: sim.simulator, meter };
  }

  it('sends the documented command bytes at open, measure and close', async () => {
    const { simulator, meter } = await rig({ current: () => 100 });
    assert.deepEqual(await received(simulator, 5), ['07', '19', '0d0e74', '1102', '0c01']);
    assert.equal(simulator.vddMv, 3700);
    assert.equal(simulator.mode, 'source');
    assert.equal(simulator.dutPowered, true);
    assert.equal(meter.calibration?.hw, 54350);

    simulator.commands.length = 0;
    await meter.measure(50);
    assert.deepEqual(await received(simulator, 2), ['06', '07']);
    assert.equal(simulator.streaming, false);

    simulator.commands.length = 0;
    await meter.close();
    await meter.close();
    assert.deepEqual(await received(simulator, 2), ['07', '0c00']);
    assert.equal(simulator.dutPowered, false);
    await assert.rejects(
      meter.measure(10),
      (e: unknown) => e instanceof InstrumentError && e.code === 'CLOSED',
    );
  });

  it('does not switch the DUT supply in ampere mode', async () => {
    const { simulator, meter } = await rig({ current: () => 100 }, { mode: 'ampere' });
    assert.deepEqual(await received(simulator, 4), ['07', '19', '0d0e74', '1101']);
    await meter.close();
    assert.deepEqual((await received(simulator, 5)).slice(4), ['07']);
    assert.equal(simulator.dutPowered, false);
  });

  it('measures a constant 1000 µA for 500 ms', async () => {
    const { meter } = await rig({ current: () => 1000 });
    const m = await meter.measure(500);
    assert.equal(m.samples, 5000);
    assert.equal(m.droppedSamples, 0);
    assert.equal(m.durationMs, 500);
    within(m.meanUa, 1000, 0.01, 'meanUa');
    within(m.maxUa, 1000, 0.01, 'maxUa');
    // 1000 µA × 500 ms / 3 600 000 ms/h = 0.138889 µAh
    within(m.chargeUah, 0.1388889, 0.01, 'chargeUah');
  });

  it('integrates a step profile: 10 µA idle, 8 mA for 100 ms, idle', async () => {
    const { meter } = await rig({ current: (t) => (t >= 100 && t < 200 ? 8000 : 10) });
    const m = await meter.measure(300);
    assert.equal(m.samples, 3000);
    // (10 µA × 200 ms + 8000 µA × 100 ms) / 300 ms = 2673.33 µA
    within(m.meanUa, 2673.333, 0.01, 'meanUa');
    within(m.maxUa, 8000, 0.005, 'maxUa');
    // (10 × 200 + 8000 × 100) µA·ms / 3 600 000 = 0.222778 µAh
    within(m.chargeUah, 0.2227778, 0.01, 'chargeUah');
    // A second window starts a fresh profile (t from AverageStart) with no stale samples.
    const again = await meter.measure(100);
    within(again.meanUa, 10, 0.01, 'second window');
  });

  it('says when the window has opened: a draw started then is wholly inside it', async () => {
    // The draw follows the wall clock (as the emulated chip's does), not the sample clock.
    let drawFrom = Number.POSITIVE_INFINITY;
    const { meter } = await rig({
      current: () => (performance.now() >= drawFrom && performance.now() < drawFrom + 200 ? 8000 : 10),
    });
    let opened = 0;
    const m = await meter.measure(400, {
      onStart: () => {
        opened++;
        drawFrom = performance.now();
      },
    });
    assert.equal(opened, 1, 'told once');
    // 8 mA for 200 ms in the window: (8000 - 10) µA × 200 ms / 3 600 000 = 0.4439 µAh above idle.
    within(m.chargeUah - (10 * m.durationMs) / 3_600_000, 0.4438889, 0.1, 'charge of the draw');
    // The next window is not told (the callback belongs to one window).
    await meter.measure(50);
    assert.equal(opened, 1);
  });

  it('reports dropped samples from counter gaps and still integrates the window', async () => {
    // 3 of every 500 samples lost, as when the host does not read the USB stream in time.
    const { meter } = await rig({ current: () => 2000, dropSample: (k) => k >= 500 && k % 500 < 3 });
    const m = await meter.measure(500);
    assert.equal(m.droppedSamples, 27);
    assert.equal(m.samples + m.droppedSamples, 5000);
    assert.equal(m.durationMs, 500);
    within(m.meanUa, 2000, 0.01, 'meanUa');
    within(m.chargeUah, (2000 * 500) / 3_600_000, 0.01, 'chargeUah');
  });

  it('rejects an InstrumentError quickly when no PPK2 answers behind the port', async () => {
    pair = await openPtyPair({ name: 'ppk2' });
    const started = Date.now();
    await assert.rejects(
      Ppk2Meter.open({ path: pair.driverPath, timeoutMs: 300 }),
      (e: unknown) =>
        e instanceof InstrumentError &&
        e.code === 'TIMEOUT' &&
        e.message.includes(pair!.driverPath) &&
        e.message.includes('GetMetadata'),
    );
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('rejects an InstrumentError naming the port when it does not exist', async () => {
    await assert.rejects(
      Ppk2Meter.open({ path: '/dev/ppk2-does-not-exist', timeoutMs: 300 }),
      (e: unknown) =>
        e instanceof InstrumentError &&
        e.code === 'UNAVAILABLE' &&
        e.message.includes('/dev/ppk2-does-not-exist'),
    );
  });

  it('times out when the stream is slower than the configured sample rate', async () => {
    pair = await openPtyPair({ name: 'ppk2' });
    sim = await openPpk2Simulator(pair.simulatorPath, { sampleRateHz: 1000, current: () => 5 });
    meter = await Ppk2Meter.open({ path: pair.driverPath, sampleRateHz: RATE, timeoutMs: 200 });
    await assert.rejects(
      meter.measure(100),
      (e: unknown) => e instanceof InstrumentError && e.code === 'TIMEOUT' && /sampleRateHz/.test(e.message),
    );
    assert.equal((await received(sim.simulator, 7)).at(-1), '07', 'AverageStop sent after the failure');
    assert.equal(sim.simulator.streaming, false);
  });
});
