import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { hex, readHoldingRegistersRequest, withCrc, writeSingleRegisterRequest } from './modbus-rtu.ts';
import { WatlowF4Simulator } from './watlow-simulator.ts';

const bytes = (s: string) => Uint8Array.from(s.split(' '), (b) => Number.parseInt(b, 16));

/** An in-memory stream: what the test pushes is what the slave receives; what it writes is kept. */
function wire() {
  const answers: string[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      answers.push(hex(chunk));
      callback();
    },
  });
  return { stream, answers, send: (frame: Uint8Array) => stream.push(Buffer.from(frame)) };
}

const settle = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

function manualClock(start = 0) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe('Watlow F4 simulator (RTU slave)', () => {
  let sim: WatlowF4Simulator;
  afterEach(() => sim?.close());

  it('answers a process value read with the exact RTU bytes', async () => {
    const clock = manualClock();
    sim = new WatlowF4Simulator({ clock: clock.read });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    send(bytes('01 03 00 64 00 01 C5 D5'));
    await settle();
    assert.deepEqual(answers, ['01 03 02 00 EB F8 0B']);
  });

  it('echoes a set point write and ramps the process value toward it on the injected clock', async () => {
    const clock = manualClock();
    const seen: number[] = [];
    sim = new WatlowF4Simulator({ clock: clock.read, rampCPerMin: 2, onTemperature: (c) => seen.push(c) });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    send(writeSingleRegisterRequest(1, 300, 300)); // 30.0 C
    await settle();
    assert.deepEqual(answers, ['01 06 01 2C 01 2C 49 B2']);
    assert.equal(sim.setPoint, 30);
    clock.now += 60_000;
    sim.tick();
    assert.deepEqual(seen, [25.5]);
    clock.now += 10 * 60_000;
    assert.equal(sim.processValue, 30);
    assert.deepEqual(seen, [25.5, 30]);
    sim.setPoint = -20;
    sim.rampCPerMin = 600;
    clock.now += 6_000;
    assert.equal(sim.processValue, -20);
    send(readHoldingRegistersRequest(1, 100, 1));
    await settle();
    assert.equal(answers.at(-1), hex(withCrc(bytes('01 03 02 FF 38'))));
  });

  it('answers exceptions 01, 02 and 03 as the Application Protocol spec frames them', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0, silenceMs: 5 });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    // The spec's example request: registers 107..109 do not exist on this slave.
    send(bytes('01 03 00 6B 00 03 74 17'));
    await settle();
    assert.equal(answers.at(-1), '01 83 02 C0 F1');
    // Process value is read-only.
    send(writeSingleRegisterRequest(1, 100, 0));
    await settle();
    assert.equal(answers.at(-1), hex(withCrc(bytes('01 86 02'))));
    // Above the high limit (180.0 C).
    send(writeSingleRegisterRequest(1, 300, 1801));
    await settle();
    assert.equal(answers.at(-1), '01 86 03 02 61');
    // Quantity 0.
    send(readHoldingRegistersRequest(1, 100, 0));
    await settle();
    assert.equal(answers.at(-1), hex(withCrc(bytes('01 83 03'))));
    // An unknown function code has no length the slave knows: it is cut by silence.
    send(withCrc(bytes('01 2B 0E 01 00')));
    await settle(30);
    assert.equal(answers.at(-1), hex(withCrc(bytes('01 AB 01'))));
    assert.equal(answers.length, 5);
  });

  it('writes multiple registers (function 16), checking the byte count', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0 });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    send(withCrc(bytes('01 10 01 2C 00 01 02 FF 38')));
    await settle();
    assert.deepEqual(answers, [hex(withCrc(bytes('01 10 01 2C 00 01')))]);
    assert.equal(sim.setPoint, -20);
    send(withCrc(bytes('01 10 01 2C 00 01 04 FF 38 00 00')));
    await settle();
    assert.equal(answers.at(-1), hex(withCrc(bytes('01 90 03'))));
  });

  it('stays silent for other slave addresses and for a bad CRC, then resynchronises', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0 });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    send(readHoldingRegistersRequest(2, 100, 1));
    send(bytes('01 03 00 64 00 01 D5 C5'));
    await settle(40);
    assert.deepEqual(answers, []);
    send(readHoldingRegistersRequest(1, 300, 1));
    await settle();
    assert.deepEqual(answers, ['01 03 02 00 EB F8 0B']);
  });

  it('reassembles a request split across chunks', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0 });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    send(bytes('01 03 00'));
    await settle(1);
    send(bytes('64 00 01 C5 D5'));
    await settle();
    assert.deepEqual(answers, ['01 03 02 00 EB F8 0B']);
  });

  it('injects one-shot faults: a broken CRC, then silence', async () => {
    sim = new WatlowF4Simulator({ clock: () => 0 });
    const { stream, answers, send } = wire();
    sim.attach(stream);
    sim.injectFault('bad-crc');
    sim.injectFault('silence');
    send(readHoldingRegistersRequest(1, 100, 1));
    send(readHoldingRegistersRequest(1, 100, 1));
    send(readHoldingRegistersRequest(1, 100, 1));
    await settle();
    assert.deepEqual(answers, ['01 03 02 00 EB F8 F4', '01 03 02 00 EB F8 0B']);
  });
});
