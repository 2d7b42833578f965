/**
 * The simulator against documented Firmata frames (firmata/protocol, protocol.md): raw bytes
 * in, raw answers out, over an in-memory Duplex as they would cross a serial line.
 *
 * Spec facts relied on:
 * - 0xF9 (no data) requests the version; the board answers 0xF9 major minor.
 * - 0xF0 0x79 0xF7 queries the firmware; the answer is 0xF0 0x79 major minor, then the name
 *   as 7-bit pairs (bits 0-6, then bits 7-13) per character, then 0xF7.
 * - 0xF0 0x6B 0xF7 queries capabilities; 0xF0 0x6C answers with, per pin, (mode, resolution)
 *   pairs closed by 0x7F; a pin with no modes is a lone 0x7F. Modes: INPUT 0, OUTPUT 1,
 *   ANALOG 2, PWM 3, SERVO 4, I2C 6, INPUT_PULLUP 0x0B.
 * - 0xF0 0x69 0xF7 queries the analog mapping; 0xF0 0x6A answers one byte per pin: its analog
 *   channel, or 127 when it has none.
 * - 0xF4 pin mode sets a pin's mode; 0xF5 pin value (v2.5) sets one digital pin.
 * - 0x90|port LSB MSB is a digital I/O message: bits 0-6 then bit 7 of the port's 8 pins.
 * - 0xD0|port and 0xC0|pin with 0/1 toggle reporting; 0xF0 0x7A LSB MSB 0xF7 sets the
 *   sampling interval (default 19 ms).
 * - 0xF0 0x6D pin 0xF7 queries a pin; 0xF0 0x6E pin mode state(bits 0-6, ...) 0xF7 answers.
 */
import assert from 'node:assert/strict';
import { linkedPair } from '../../../test/support/stream-pair.ts';
import { FirmataSimulator } from './firmata-simulator.ts';

function setup(opts: ConstructorParameters<typeof FirmataSimulator>[0] = {}) {
  const [host, board] = linkedPair();
  const sim = new FirmataSimulator(opts);
  sim.attach(board);
  const received: number[] = [];
  host.on('data', (b: Buffer) => received.push(...b));
  /** Sends `bytes` and returns what the board answered once `expect` bytes arrived (or 50 ms passed). */
  async function exchange(bytes: number[], expect = 0): Promise<number[]> {
    received.length = 0;
    host.write(Buffer.from(bytes));
    const deadline = Date.now() + 50;
    while ((expect === 0 || received.length < expect) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
    return [...received];
  }
  return { sim, exchange };
}

/** 7-bit pairs for an ASCII name: each character, then 0 for its (empty) bits 7-13. */
const pairs = (name: string) => [...name].flatMap((c) => [c.charCodeAt(0), 0x00]);

describe('Firmata simulator (raw frames)', () => {
  it('answers a version request with 0xF9 major minor', async () => {
    const { exchange } = setup();
    assert.deepEqual(await exchange([0xf9], 3), [0xf9, 0x02, 0x05]);
  });

  it('answers a firmware query with version and the name in 7-bit pairs', async () => {
    const { exchange } = setup();
    const name = 'StandardFirmata.ino';
    const expected = [0xf0, 0x79, 0x02, 0x05, ...pairs(name), 0xf7];
    assert.deepEqual(await exchange([0xf0, 0x79, 0xf7], expected.length), expected);
    assert.deepEqual(expected.slice(0, 8), [0xf0, 0x79, 0x02, 0x05, 0x53, 0x00, 0x74, 0x00]);
  });

  it('encodes a firmware name character above 0x7F as LSB then MSB', async () => {
    const { exchange } = setup({ firmwareName: 'é', firmwareVersion: [2, 7] });
    // 'é' is C3 A9 in UTF-8: C3 -> 0x43 0x01, A9 -> 0x29 0x01.
    assert.deepEqual(
      await exchange([0xf0, 0x79, 0xf7], 9),
      [0xf0, 0x79, 0x02, 0x07, 0x43, 0x01, 0x29, 0x01, 0xf7],
    );
  });

  it('describes an Uno in the capability response: 20 pins, modes closed by 0x7F', async () => {
    const { exchange } = setup();
    // 2 header + 2 empty pins + 12 digital (9 each, +2 for the 6 PWM ones) + 4 analog (11)
    // + 2 analog/I2C (13) + 0xF7 = 195 bytes.
    const full = await exchange([0xf0, 0x6b, 0xf7], 195);
    assert.equal(full.length, 195);
    assert.deepEqual(full.slice(0, 2), [0xf0, 0x6c]);
    assert.equal(full.at(-1), 0xf7);
    const pins: number[][] = [];
    let current: number[] = [];
    for (const byte of full.slice(2, -1)) {
      if (byte === 0x7f) {
        pins.push(current);
        current = [];
      } else current.push(byte);
    }
    assert.deepEqual(current, [], 'the body ends with a separator');
    assert.equal(pins.length, 20);
    const digital = [0x00, 0x01, 0x0b, 0x01, 0x01, 0x01];
    assert.deepEqual(pins[0], [], 'pin 0 (RX) lists no modes');
    assert.deepEqual(pins[1], [], 'pin 1 (TX) lists no modes');
    assert.deepEqual(pins[2], [...digital, 0x04, 0x0e]);
    assert.deepEqual(pins[3], [...digital, 0x03, 0x08, 0x04, 0x0e], 'PWM 8-bit');
    assert.deepEqual(pins[7], [...digital, 0x04, 0x0e]);
    assert.deepEqual(pins[8], [...digital, 0x04, 0x0e]);
    assert.deepEqual(pins[13], [...digital, 0x04, 0x0e]);
    assert.deepEqual(pins[14], [...digital, 0x02, 0x0a, 0x04, 0x0e], 'A0: analog 10-bit');
    assert.deepEqual(pins[18], [...digital, 0x02, 0x0a, 0x04, 0x0e, 0x06, 0x01], 'A4/SDA: I2C');
    assert.deepEqual(pins[19], [...digital, 0x02, 0x0a, 0x04, 0x0e, 0x06, 0x01], 'A5/SCL: I2C');
  });

  it('maps A0-A5 to pins 14-19 in the analog mapping response', async () => {
    const { exchange } = setup();
    const expected = [0xf0, 0x6a, ...Array(14).fill(0x7f), 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0xf7];
    assert.deepEqual(await exchange([0xf0, 0x69, 0xf7], expected.length), expected);
  });

  it('sets pin modes with 0xF4 and answers pin state queries with 0xF0 0x6E', async () => {
    const { sim, exchange } = setup();
    assert.deepEqual(await exchange([0xf4, 0x08, 0x00]), []);
    assert.equal(sim.pinMode(8), 0x00);
    assert.deepEqual(await exchange([0xf0, 0x6d, 0x08, 0xf7], 6), [0xf0, 0x6e, 0x08, 0x00, 0x00, 0xf7]);
    await exchange([0xf4, 0x08, 0x01]);
    assert.deepEqual(await exchange([0xf0, 0x6d, 0x08, 0xf7], 6), [0xf0, 0x6e, 0x08, 0x01, 0x00, 0xf7]);
  });

  it('ignores a mode the pin does not support', async () => {
    const { sim, exchange } = setup();
    await exchange([0xf4, 0x02, 0x03]); // PWM on pin 2: not a PWM pin on an Uno
    assert.equal(sim.pinMode(2), 0x01, 'stays OUTPUT, its reset mode');
    await exchange([0xf4, 0x00, 0x01]); // pin 0 carries the serial link
    assert.equal(sim.pinMode(0), 0x00);
  });

  it('drives output pins from 0x90|port LSB MSB, bit 7 in the MSB byte', async () => {
    const changes: Array<[number, number]> = [];
    const { sim, exchange } = setup({ onPin: (pin, value) => changes.push([pin, value]) });
    await exchange([0xf4, 0x07, 0x01, 0xf4, 0x08, 0x01]);
    await exchange([0x90, 0x00, 0x01]); // port 0, bit 7 -> pin 7 HIGH
    assert.equal(sim.pinValue(7), 1);
    await exchange([0x91, 0x01, 0x00]); // port 1, bit 0 -> pin 8 HIGH
    assert.equal(sim.pinValue(8), 1);
    await exchange([0x90, 0x04, 0x00]); // port 0: pin 7 LOW, pin 2 HIGH
    assert.deepEqual(changes, [
      [7, 1],
      [8, 1],
      [2, 1],
      [7, 0],
    ]);
    assert.deepEqual(await exchange([0xf0, 0x6d, 0x02, 0xf7], 6), [0xf0, 0x6e, 0x02, 0x01, 0x01, 0xf7]);
  });

  it('treats a port bit on an INPUT pin as its pull-up state, not a level', async () => {
    const changes: number[] = [];
    const { sim, exchange } = setup({ onPin: (pin) => changes.push(pin) });
    await exchange([0xf4, 0x08, 0x00, 0x91, 0x01, 0x00]);
    assert.equal(sim.pinValue(8), 0);
    assert.deepEqual(changes, []);
    assert.deepEqual(await exchange([0xf0, 0x6d, 0x08, 0xf7], 6), [0xf0, 0x6e, 0x08, 0x00, 0x01, 0xf7]);
  });

  it('sets one pin with 0xF5 pin value, on OUTPUT pins only', async () => {
    const { sim, exchange } = setup();
    await exchange([0xf5, 0x05, 0x01]);
    assert.equal(sim.pinValue(5), 1);
    await exchange([0xf5, 0x05, 0x00]);
    assert.equal(sim.pinValue(5), 0);
    await exchange([0xf4, 0x06, 0x00, 0xf5, 0x06, 0x01]);
    assert.equal(sim.pinValue(6), 0);
  });

  it('reports press hold time and power changes for the configured pins', async () => {
    const presses: number[] = [];
    const power: boolean[] = [];
    const { sim, exchange } = setup({
      buttonPin: 7,
      powerPin: 8,
      onPress: (ms) => presses.push(ms),
      onPower: (on) => power.push(on),
    });
    assert.equal(sim.powered, false, 'reset leaves pin 8 OUTPUT LOW: an active-high relay is off');
    await exchange([0x91, 0x01, 0x00]);
    assert.deepEqual(power, [true]);
    await exchange([0x90, 0x00, 0x01]);
    await new Promise((r) => setTimeout(r, 30));
    await exchange([0x90, 0x00, 0x00]);
    assert.equal(presses.length, 1);
    assert.ok(presses[0]! >= 25 && presses[0]! < 200, `held ${presses[0]} ms`);
    await exchange([0x91, 0x00, 0x00]);
    assert.deepEqual(power, [true, false]);
  });

  it('inverts power for an active-low relay', async () => {
    const { sim, exchange } = setup({ powerPin: 8, powerActiveHigh: false });
    assert.equal(sim.powered, true);
    await exchange([0x91, 0x01, 0x00]);
    assert.equal(sim.powered, false);
  });

  it('records report enables and the sampling interval without answering', async () => {
    const { sim, exchange } = setup();
    assert.deepEqual(await exchange([0xd0, 0x01, 0xc3, 0x01, 0xf0, 0x7a, 0x64, 0x00, 0xf7]), []);
    assert.deepEqual([...sim.reportDigital], [0]);
    assert.deepEqual([...sim.reportAnalog], [3]);
    assert.equal(sim.samplingIntervalMs, 100);
    await exchange([0xd0, 0x00]);
    assert.deepEqual([...sim.reportDigital], []);
  });

  it('parses frames split across writes and skips stray and cut-off bytes', async () => {
    const { sim, exchange } = setup();
    await exchange([0x12, 0x34, 0xf4]); // stray data bytes, then half a pin-mode frame
    await exchange([0x09]);
    await exchange([0x00]);
    assert.equal(sim.pinMode(9), 0x00);
    // A sysex cut off by a command byte is dropped; the command still counts.
    assert.deepEqual(await exchange([0xf0, 0x6b, 0xf9], 3), [0xf9, 0x02, 0x05]);
  });

  it('restores the reset state on 0xFF, reporting what changed', async () => {
    const power: boolean[] = [];
    const { sim, exchange } = setup({ powerPin: 8, onPower: (on) => power.push(on) });
    await exchange([0x91, 0x01, 0x00, 0xf4, 0x0e, 0x01]);
    assert.equal(sim.pinMode(14), 0x01);
    await exchange([0xff]);
    assert.deepEqual(power, [true, false]);
    assert.equal(sim.pinMode(14), 0x02, 'A0 back to ANALOG');
  });

  it('announces itself as StandardFirmata does at boot', async () => {
    const { sim, exchange } = setup();
    const done = exchange([], 3 + 4 + 38 + 1);
    sim.announce();
    const got = await done;
    assert.deepEqual(got.slice(0, 7), [0xf9, 0x02, 0x05, 0xf0, 0x79, 0x02, 0x05]);
    assert.equal(got.at(-1), 0xf7);
  });
});
