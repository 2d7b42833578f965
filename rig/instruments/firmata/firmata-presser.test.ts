/**
 * The Firmata presser driver against the simulator: byte for byte over a real pty pair, over a
 * @serialport/binding-mock port, and its failures (no board, wrong path, unusable pins).
 */
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { SerialPortMock } from 'serialport';
import { linkedPair } from '../../../test/support/stream-pair.ts';
import { InstrumentError } from '../../errors.ts';
import { openPtyPair, type PtyPair, socatAvailable } from '../pty-pair.ts';
import { FirmataPresser } from './firmata-presser.ts';
import { FirmataSimulator } from './firmata-simulator.ts';

const hex = (bytes: number[]) => Buffer.from(bytes).toString('hex');

async function until(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** What firmata-io sends before ready, with a version query delay of 0 and no announcement. */
const STARTUP = [
  [0xf9], // report version request
  [0xf0, 0x79, 0xf7], // firmware query
  [0xf0, 0x6b, 0xf7], // capability query
  [0xf0, 0x69, 0xf7], // analog mapping query
].flat();

function isInstrumentError(code: string, match?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InstrumentError, `expected an InstrumentError, got ${error}`);
    assert.equal(error.code, code);
    if (match) assert.match(error.message, match);
    return true;
  };
}

describe('Firmata presser over a pty pair', () => {
  let pair: PtyPair;
  let sim: FirmataSimulator;
  let presser: FirmataPresser | undefined;
  const rx: number[] = [];
  const presses: number[] = [];
  const power: boolean[] = [];

  before(function () {
    if (!socatAvailable()) {
      process.stdout.write(
        '      skipped: socat is not installed (apt-get install socat); the simulator needs a pty pair\n',
      );
      this.skip();
    }
  });

  beforeEach(async () => {
    rx.length = 0;
    presses.length = 0;
    power.length = 0;
    pair = await openPtyPair({ name: 'firmata' });
    sim = await FirmataSimulator.openPort(pair.simulatorPath, {
      buttonPin: 7,
      powerPin: 8,
      onPress: (ms) => presses.push(ms),
      onPower: (on) => power.push(on),
    });
    sim.on('rx', (bytes) => rx.push(...bytes));
  });

  afterEach(async () => {
    await presser?.close();
    presser = undefined;
    await sim.close();
    await pair.close();
  });

  it('starts up, presses and switches power with exactly these bytes', async () => {
    presser = await FirmataPresser.open({ port: pair.driverPath, buttonPin: 7, powerPin: 8 });
    assert.deepEqual(presser.firmware, { name: 'StandardFirmata.ino', major: 2, minor: 5 });

    const configure = [
      [0xf4, 0x07, 0x01], // pin 7 OUTPUT
      [0x90, 0x00, 0x00], // port 0 (pins 0-7) all LOW: button released
      [0xf4, 0x08, 0x01], // pin 8 OUTPUT
      [0x91, 0x01, 0x00], // port 1 bit 0: pin 8 HIGH, power on (active high)
    ].flat();
    await until('start-up bytes', () => rx.length >= STARTUP.length + configure.length);
    assert.equal(hex(rx), hex([...STARTUP, ...configure]));
    assert.deepEqual(power, [true], 'reset left the relay off; open switched it on');
    assert.equal(sim.powered, true);

    rx.length = 0;
    await presser.press(40);
    await until('the press', () => presses.length === 1);
    // Pin 7 is bit 7 of port 0, so it rides in the MSB byte.
    assert.equal(hex(rx), hex([0x90, 0x00, 0x01, 0x90, 0x00, 0x00]));
    assert.ok(presses[0]! >= 35 && presses[0]! < 500, `simulator saw a ${presses[0]} ms hold`);
    assert.ok(
      presser.lastPressMs! >= 39 && presser.lastPressMs! < 500,
      `driver held ${presser.lastPressMs} ms`,
    );

    rx.length = 0;
    await presser.setPower(false);
    await presser.setPower(true);
    await until('the power cycle', () => power.length === 3);
    assert.equal(hex(rx), hex([0x91, 0x00, 0x00, 0x91, 0x01, 0x00]));
    assert.deepEqual(power, [true, false, true]);
    assert.equal(presser.powered, true);
  });

  it('writes both pins in one port message when they share a port, active-low power', async () => {
    await sim.close();
    sim = await FirmataSimulator.openPort(pair.simulatorPath, {
      buttonPin: 2,
      powerPin: 3,
      powerActiveHigh: false,
      onPower: (on) => power.push(on),
    });
    sim.on('rx', (bytes) => rx.push(...bytes));
    presser = await FirmataPresser.open({
      port: pair.driverPath,
      buttonPin: 2,
      powerPin: 3,
      powerActiveHigh: false,
    });
    // Power on, active low: pin 3 stays LOW, so the reset state already powers the chip.
    const configure = [0xf4, 0x02, 0x01, 0x90, 0x00, 0x00, 0xf4, 0x03, 0x01, 0x90, 0x00, 0x00];
    await until('start-up bytes', () => rx.length >= STARTUP.length + configure.length);
    assert.equal(hex(rx), hex([...STARTUP, ...configure]));
    assert.deepEqual(power, []);

    rx.length = 0;
    await presser.setPower(false); // pin 3 HIGH
    await presser.press(5); // pin 2 HIGH then LOW, pin 3 kept HIGH in the same port byte
    await until('power and press bytes', () => rx.length >= 9);
    assert.equal(hex(rx), hex([0x90, 0x08, 0x00, 0x90, 0x0c, 0x00, 0x90, 0x08, 0x00]));
    assert.deepEqual(power, [false]);
  });

  it('needs no queries when the board announces itself, as an Uno does after its reset', async () => {
    const opening = FirmataPresser.open({ port: pair.driverPath, buttonPin: 7, versionQueryDelayMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    sim.announce();
    presser = await opening;
    assert.ok(Date.now() - started < 1000, 'ready on the announcement, not after the query delay');
    await until('start-up bytes', () => rx.length >= 12);
    // No 0xF9 or firmware query: only capability and analog mapping queries, then the pin.
    assert.equal(hex(rx), hex([0xf0, 0x6b, 0xf7, 0xf0, 0x69, 0xf7, 0xf4, 0x07, 0x01, 0x90, 0x00, 0x00]));
  });

  it('releases the button and rejects the press when closed mid-press', async () => {
    presser = await FirmataPresser.open({ port: pair.driverPath, buttonPin: 7, powerPin: 8 });
    const pressing = presser.press(5000);
    await until('button down', () => sim.pinValue(7) === 1);
    await presser.close();
    await assert.rejects(pressing, isInstrumentError('CANCELLED'));
    await until('button up', () => sim.pinValue(7) === 0);
    await assert.rejects(presser.press(1), isInstrumentError('CLOSED'));
    await presser.close(); // idempotent
  });

  it('rejects pins the board cannot drive', async () => {
    await assert.rejects(
      FirmataPresser.open({ port: pair.driverPath, buttonPin: 0, powerPin: 8 }),
      isInstrumentError('UNSUPPORTED', /buttonPin 0/),
    );
    await assert.rejects(
      FirmataPresser.open({ port: pair.driverPath, buttonPin: 7, powerPin: 40 }),
      isInstrumentError('UNSUPPORTED', /powerPin 40.*20 pins/),
    );
  });

  it('times out with an InstrumentError naming the port when no board answers', async () => {
    await sim.close(); // nothing behind the pty now
    const started = Date.now();
    await assert.rejects(
      FirmataPresser.open({ port: pair.driverPath, buttonPin: 7, readyTimeoutMs: 300 }),
      isInstrumentError('TIMEOUT', new RegExp(`${pair.driverPath}.*no version report.*StandardFirmata`)),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 2000, `rejected after ${elapsed} ms`);
  });
});

describe('Firmata presser (no pty)', () => {
  it('rejects an unopenable port with UNAVAILABLE', async () => {
    await assert.rejects(
      FirmataPresser.open({ port: '/nonexistent/firmata-tty', buttonPin: 7 }),
      isInstrumentError('UNAVAILABLE', /\/nonexistent\/firmata-tty/),
    );
  });

  it('rejects bad options before touching the port', async () => {
    await assert.rejects(
      FirmataPresser.open({ port: 'x', buttonPin: 7, powerPin: 7 }),
      isInstrumentError('CONFIG'),
    );
    await assert.rejects(FirmataPresser.open({ port: 'x', buttonPin: -1 }), isInstrumentError('CONFIG'));
  });

  it('drives a @serialport/binding-mock port passed in as an open stream', async () => {
    const path = '/dev/firmata-mock';
    // @serialport/binding-mock's own entry has no types under NodeNext; serialport re-exports it.
    const MockBinding = SerialPortMock.binding;
    MockBinding.reset();
    MockBinding.createPort(path, { echo: false, record: true });
    const port = new SerialPortMock({ path, baudRate: 57600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    const binding = port.port!;

    // The board's end: simulator answers become bytes the mock port reads; what the driver
    // writes to the mock port is fed to the simulator.
    const boardEnd = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        binding.emitData(chunk);
        callback();
      },
    });
    const sim = new FirmataSimulator({ buttonPin: 4 });
    sim.attach(boardEnd);
    const write = binding.write.bind(binding);
    binding.write = async (buffer: Buffer) => {
      await write(buffer);
      boardEnd.push(buffer);
    };
    const presses: number[] = [];
    sim.on('press', (ms) => presses.push(ms));

    const presser = await FirmataPresser.open({ port: path, stream: port, buttonPin: 4 });
    await presser.press(10);
    await until('the press', () => presses.length === 1);
    assert.equal(
      hex([...binding.recording]),
      hex([...STARTUP, 0xf4, 0x04, 0x01, 0x90, 0x00, 0x00, 0x90, 0x10, 0x00, 0x90, 0x00, 0x00]),
    );
    await assert.rejects(presser.setPower(true), isInstrumentError('CONFIG', /no powerPin/));
    await presser.close();
    assert.ok(port.isOpen, 'a passed-in stream stays open: its owner closes it');
    assert.equal(port.listenerCount('data'), 0, "firmata-io's listeners are removed");
    await new Promise<void>((resolve) => port.close(() => resolve()));
    MockBinding.reset();
  });

  it('works over a plain Duplex without drain', async () => {
    const ends = linkedPair();
    const sim = new FirmataSimulator({ buttonPin: 9, powerPin: 10 });
    sim.attach(ends[1]!);
    const presser = await FirmataPresser.open({
      port: 'memory',
      stream: ends[0]!,
      buttonPin: 9,
      powerPin: 10,
    });
    await presser.setPower(false);
    await presser.press(1);
    await until('power off', () => sim.powered === false);
    await presser.close();
  });
});
