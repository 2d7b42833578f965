import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import { InstrumentError } from '../../errors.ts';
import { settle } from '../chamber.ts';
import { openPtyPair, type PtyPair, socatAvailable } from '../pty-pair.ts';
import { hex } from './modbus-rtu.ts';
import { WatlowF4 } from './watlow-f4.ts';
import { type Exchange, WatlowF4Simulator, type WatlowSimulatorOptions } from './watlow-simulator.ts';

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 19200 }, (error) =>
      error ? reject(error) : resolve(port),
    );
  });
}

function closePort(port: SerialPort | undefined): Promise<void> {
  return new Promise((resolve) => (port?.isOpen ? port.close(() => resolve()) : resolve()));
}

/** Asserts an InstrumentError with the code, and that the message names everything in `mentions`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  mentions: string[],
): Promise<InstrumentError> {
  const error = await promise.then(
    () => assert.fail(`expected InstrumentError ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InstrumentError, `not an InstrumentError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  for (const text of mentions) assert.ok(error.message.includes(text), `"${error.message}" lacks "${text}"`);
  return error;
}

describe('Watlow F4 driver against the simulator over a pty pair', () => {
  let pair: PtyPair;
  let simPort: SerialPort;
  let sim: WatlowF4Simulator | undefined;
  let chamber: WatlowF4 | undefined;
  let exchanges: Exchange[];
  const clock = { now: 0 };

  before(async function () {
    if (!socatAvailable()) {
      process.stdout.write(
        '      skipped: socat is not installed (apt-get install socat); the simulator needs a pty pair\n',
      );
      this.skip();
    }
    pair = await openPtyPair({ name: 'watlow' });
    simPort = await openPort(pair.simulatorPath);
  });

  after(async () => {
    await closePort(simPort);
    await pair?.close();
  });

  afterEach(async () => {
    await chamber?.close();
    chamber = undefined;
    sim?.close();
    sim = undefined;
  });

  async function start(
    simOpts: WatlowSimulatorOptions = {},
    driverOpts: Partial<Parameters<typeof WatlowF4.open>[0]> = {},
  ): Promise<WatlowF4> {
    exchanges = [];
    clock.now = 0;
    sim = new WatlowF4Simulator({
      clock: () => clock.now,
      onExchange: (e) => exchanges.push(e),
      ...simOpts,
    }).attach(simPort);
    chamber = await WatlowF4.open({ path: pair.driverPath, timeoutMs: 500, ...driverOpts });
    exchanges = [];
    return chamber;
  }

  it('reads the process value with the exact request and response bytes', async () => {
    const f4 = await start();
    assert.equal(await f4.readTemperature(), 23.5);
    assert.equal(exchanges.length, 1);
    assert.equal(hex(exchanges[0]!.request), '01 03 00 64 00 01 C5 D5');
    assert.equal(hex(exchanges[0]!.response!), '01 03 02 00 EB F8 0B');
  });

  it('writes and reads back the set point, negative values in two’s complement', async () => {
    const f4 = await start();
    await f4.setSetPoint(-20);
    assert.equal(hex(exchanges[0]!.request), '01 06 01 2C FF 38 09 DD');
    assert.equal(hex(exchanges[0]!.response!), '01 06 01 2C FF 38 09 DD');
    assert.equal(await f4.readSetPoint(), -20);
    assert.equal(sim!.setPoint, -20);
    sim!.processValue = -20;
    assert.equal(await f4.readTemperature(), -20);
    assert.equal(hex(exchanges.at(-1)!.response!), '01 03 02 FF 38 F8 66');
    await f4.setSetPoint(85.3);
    assert.equal(await f4.readSetPoint(), 85.3);
  });

  it('follows the thermal model and reports temperatures to a listener', async () => {
    const f4 = await start({ rampCPerMin: 2 });
    const seen: number[] = [];
    sim!.onTemperature((c) => seen.push(c));
    await f4.setSetPoint(30);
    clock.now += 60_000;
    assert.equal(await f4.readTemperature(), 25.5);
    assert.deepEqual(seen, [25.5]);
  });

  it('serialises concurrent requests', async () => {
    const f4 = await start({ setPointC: 40 });
    const [pv, sp, pv2] = await Promise.all([f4.readTemperature(), f4.readSetPoint(), f4.readTemperature()]);
    assert.deepEqual([pv, sp, pv2], [23.5, 40, 23.5]);
  });

  it('settles at a target with a fast ramp (the chamber step, rig/instruments/chamber.ts)', async () => {
    const f4 = await start({ clock: () => performance.now(), rampCPerMin: 600, tickMs: 20 });
    const progress: number[] = [];
    const t0 = performance.now();
    const temperature = await settle(f4, {
      target: 30,
      toleranceC: 0.2,
      soakMs: 200,
      timeoutMs: 5000,
      pollMs: 25,
      onReading: (celsius) => progress.push(celsius),
    });
    const elapsedMs = performance.now() - t0;
    assert.ok(Math.abs(temperature - 30) <= 0.2, `settled at ${temperature}`);
    assert.ok(elapsedMs >= 200 + 500, `soaked too early: ${elapsedMs} ms`);
    assert.equal(sim!.setPoint, 30);
    assert.ok(progress.length > 5 && progress[0]! < 30, `progress ${progress.join(',')}`);
  });

  it('rejects TIMEOUT naming the chamber, the target and the last reading when it does not settle', async () => {
    const f4 = await start({ clock: () => performance.now(), rampCPerMin: 2, tickMs: 20 });
    const t0 = performance.now();
    const error = await rejectsWith(
      settle(f4, { target: 60, toleranceC: 0.5, soakMs: 100, timeoutMs: 400, pollMs: 50 }),
      'TIMEOUT',
      ['watlow-f4', 'did not hold 60 C', 'last reading 23.5 C'],
    );
    assert.ok(performance.now() - t0 < 1500, error.message);
  });

  it('rejects a set point outside the controller limits or NaN without writing', async () => {
    const f4 = await start({ lowLimitC: -40, highLimitC: 180 });
    assert.deepEqual(f4.limits, { lowC: -40, highC: 180 });
    await rejectsWith(f4.setSetPoint(180.1), 'OUT_OF_RANGE', ['180.1', '-40 .. 180', pair.driverPath]);
    await rejectsWith(f4.setSetPoint(Number.NaN), 'INVALID_VALUE', ['NaN', pair.driverPath]);
    assert.equal(exchanges.length, 0);
    await chamber!.close();
    chamber = await WatlowF4.open({ path: pair.driverPath, timeoutMs: 500, limits: { lowC: 0, highC: 50 } });
    assert.deepEqual(chamber.limits, { lowC: 0, highC: 50 });
    await rejectsWith(chamber.setSetPoint(-5), 'OUT_OF_RANGE', ['0 .. 50']);
  });

  it('turns Modbus exceptions into InstrumentErrors naming register, port and remedy', async () => {
    const f4 = await start();
    await rejectsWith(f4.readRegister(999), 'MODBUS_EXCEPTION', [
      'register 999',
      'exception 2 (illegal data address)',
      pair.driverPath,
      'check the register number',
    ]);
    // The controller's own range check, bypassing the driver's.
    await rejectsWith(f4.writeRegister(300, 5000), 'MODBUS_EXCEPTION', [
      'register 300',
      'exception 3 (illegal data value)',
    ]);
    assert.equal(await f4.readSetPoint(), 23.5);
  });

  it('reports a corrupted answer as CRC and a missing one as TIMEOUT, then recovers', async () => {
    const f4 = await start({}, { timeoutMs: 200 });
    sim!.injectFault('bad-crc');
    await rejectsWith(f4.readTemperature(), 'CRC', ['register 100', pair.driverPath, 'CRC']);
    sim!.injectFault('silence');
    await rejectsWith(f4.readTemperature(), 'TIMEOUT', ['register 100', pair.driverPath, '200 ms']);
    assert.equal(await f4.readTemperature(), 23.5);
  });

  it('refuses a controller that does not count in tenths of a degree Celsius', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0, decimalPlaces: 0 }).attach(simPort);
    await rejectsWith(WatlowF4.open({ path: pair.driverPath, timeoutMs: 500 }), 'CONFIG', [
      'register 606',
      'reads 0',
      pair.driverPath,
    ]);
    sim.close();
    sim = new WatlowF4Simulator({ clock: () => 0, units: 'F' }).attach(simPort);
    await rejectsWith(WatlowF4.open({ path: pair.driverPath, timeoutMs: 500 }), 'CONFIG', [
      'register 901',
      'not Celsius',
    ]);
  });

  it('rejects requests after close, and close is idempotent', async () => {
    const f4 = await start();
    await f4.close();
    await f4.close();
    await rejectsWith(f4.readTemperature(), 'DISCONNECTED', [pair.driverPath]);
  });

  it('rejects TIMEOUT quickly when nothing answers behind the port', async () => {
    const empty = await openPtyPair({ name: 'watlow-empty' });
    try {
      const t0 = performance.now();
      await rejectsWith(WatlowF4.open({ path: empty.driverPath, timeoutMs: 150 }), 'TIMEOUT', [
        empty.driverPath,
        'no answer from slave 1',
        '150 ms',
      ]);
      assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
    } finally {
      await empty.close();
    }
  });

  it('rejects UNAVAILABLE for a port that does not exist', async () => {
    await rejectsWith(WatlowF4.open({ path: `${pair.driverPath}-missing` }), 'UNAVAILABLE', [
      `${pair.driverPath}-missing`,
    ]);
  });
});
