import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { cut } from '../../../test/support/property.ts';
import { concat, fromHex, hex } from '../../bytes.ts';
import type { EmulatedChip } from '../../emulator/emulated-chip.ts';
import { type FifoServer, serveFifoHid } from '../../emulator/front-ends/fifo-server.ts';
import { ConfigError, TransportError } from '../../errors.ts';
import { makeEmulator } from '../../station/emulated.ts';
import { PresenceController } from '../../station/presence.ts';
import { loadStationFile } from '../../station/station-file.ts';
import { encodeRegister } from '../../u2f/messages.ts';
import { U2fClient } from '../../u2f/u2f-client.ts';
import { SW } from '../nfc/apdu.ts';
import { type FifoHidConnection, fifoTouch, openFifoHid } from './fifo-hid.ts';
import {
  destroySocket,
  encodeFifoMessage,
  FIFO_CMD,
  FifoDecoder,
  type FifoMessage,
  fifoPaths,
  makeFifos,
} from './fifo-protocol.ts';
import { BROADCAST_CID, CTAPHID, initPacket } from './framing.ts';
import { HidTransport } from './hid-transport.ts';

const isCode = (code: string, pattern?: RegExp) => (e: unknown) =>
  e instanceof TransportError && e.code === code && (!pattern || pattern.test(e.message));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const NONCE = fromHex('0102030405060708');

/** Resolves with `promise`, or fails the test after `ms` (every wait here is bounded). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Until `condition` holds, checking every millisecond; fails after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(1);
  }
}

describe('FIFO HID protocol (u2f-ref-code dev.cc wire format)', () => {
  it('encodes cmd and len as little-endian uint32 followed by the payload', () => {
    assert.equal(hex(encodeFifoMessage(FIFO_CMD.POLL)), '0500000000000000');
    assert.equal(hex(encodeFifoMessage(FIFO_CMD.INTERRUPT, fromHex('c7000000'))), '0600000004000000c7000000');
    const report = Uint8Array.from({ length: 64 }, (_, i) => i);
    assert.equal(hex(encodeFifoMessage(FIFO_CMD.WRITE, report)), `0400000040000000${hex(report)}`);
  });

  it('decodes the same messages however the stream is cut', () => {
    const message = fc.record({
      cmd: fc.integer({ min: 0, max: 0xffffffff }),
      payload: fc.uint8Array({ maxLength: 80 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (sent, cuts) => {
          const stream = concat(...sent.map((m) => encodeFifoMessage(m.cmd, m.payload)));
          const decoder = new FifoDecoder();
          const got: FifoMessage[] = [];
          for (const chunk of cut(stream, cuts)) got.push(...decoder.push(chunk));
          assert.deepEqual(
            got.map((m) => [m.cmd, hex(m.payload)]),
            sent.map((m) => [m.cmd, hex(m.payload)]),
          );
          assert.equal(decoder.pending, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodes a byte at a time and holds back a partial message', () => {
    const stream = concat(
      encodeFifoMessage(FIFO_CMD.WRITE, new Uint8Array(64).fill(7)),
      encodeFifoMessage(FIFO_CMD.POLL),
    );
    const decoder = new FifoDecoder();
    const got: FifoMessage[] = [];
    for (const byte of stream.subarray(0, stream.length - 1)) got.push(...decoder.push(Uint8Array.of(byte)));
    assert.deepEqual(
      got.map((m) => m.cmd),
      [FIFO_CMD.WRITE],
    );
    assert.equal(decoder.pending, 7);
    assert.deepEqual(
      decoder.push(stream.subarray(-1)).map((m) => [m.cmd, m.payload.length]),
      [[FIFO_CMD.POLL, 0]],
    );
  });

  it('an absurd length is FRAMING (stream out of step); the decoder then starts afresh', () => {
    const decoder = new FifoDecoder();
    assert.throws(
      () => decoder.push(fromHex('0400000001000100')), // cmd 4, len 65537
      isCode('FRAMING', /announces 65537 bytes.*out of step/),
    );
    assert.equal(decoder.pending, 0);
    assert.deepEqual(
      decoder.push(encodeFifoMessage(FIFO_CMD.POLL)).map((m) => m.cmd),
      [FIFO_CMD.POLL],
    );
  });

  it('fifoPaths concatenates: the host writes PATHin and reads PATHout', () => {
    assert.deepEqual(fifoPaths('/tmp/u2f-'), { toDevice: '/tmp/u2f-in', fromDevice: '/tmp/u2f-out' });
  });

  it('makeFifos creates both FIFOs (mode 600) only where absent; a regular file is a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-fifo-'));
    try {
      const path = join(dir, 'dev-');
      assert.deepEqual(makeFifos(path), [`${path}in`, `${path}out`]);
      for (const fifo of [`${path}in`, `${path}out`]) {
        const stat = statSync(fifo);
        assert.ok(stat.isFIFO(), `${fifo} is a FIFO`);
        assert.equal(stat.mode & 0o777, 0o600);
      }
      assert.deepEqual(makeFifos(path), [], 'existing FIFOs are kept, not re-created');
      writeFileSync(join(dir, 'file-out'), 'x');
      assert.throws(
        () => makeFifos(join(dir, 'file-')),
        (e) => e instanceof ConfigError && /file-out exists and is not a FIFO/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A stand-in device that opens the FIFOs as the server does and lets the test decide each
 * answer: `reply` returns the bytes to send for a message, or undefined to stay silent.
 */
class ScriptedDevice {
  readonly received: FifoMessage[] = [];
  readonly #input: Socket;
  readonly #output: Socket;
  constructor(path: string, reply: (message: FifoMessage) => Uint8Array | undefined) {
    const { toDevice, fromDevice } = fifoPaths(path);
    const flags = constants.O_RDWR | constants.O_NONBLOCK;
    this.#input = new Socket({ fd: openSync(toDevice, flags), readable: true, writable: false });
    this.#output = new Socket({ fd: openSync(fromDevice, flags), readable: false, writable: true });
    const decoder = new FifoDecoder();
    this.#input.on('data', (chunk: Buffer) => {
      for (const message of decoder.push(chunk)) {
        this.received.push(message);
        const answer = reply(message);
        if (answer) this.#output.write(answer);
      }
    });
  }
  /** Puts bytes into PATHout as if answering. */
  send(bytes: Uint8Array): void {
    this.#output.write(bytes);
  }
  get polls(): number {
    return this.received.filter((m) => m.cmd === FIFO_CMD.POLL).length;
  }
  /** Stops reading PATHin (the host's next write meets EPIPE) but keeps PATHout open. */
  closeInput(): Promise<void> {
    return destroySocket(this.#input);
  }
  close(): Promise<void> {
    return Promise.all([destroySocket(this.#input), destroySocket(this.#output)]).then(() => undefined);
  }
}

describe('FIFO HID over real FIFOs: openFifoHid (host) and serveFifoHid (device)', () => {
  let dir: string;
  let path: string;
  let chip: EmulatedChip;
  let server: FifoServer | undefined;
  let connection: FifoHidConnection | undefined;
  let scripted: ScriptedDevice | undefined;
  let events: string[];
  const presses = () => chip.presence.presses;

  const serve = async () => {
    server = await serveFifoHid(chip.hid(), {
      path,
      press: () => chip.pressButton(),
      onEvent: (text) => events.push(text),
    });
    return server;
  };
  const connect = async (opts?: Parameters<typeof openFifoHid>[1]) => {
    connection = await openFifoHid(path, opts);
    return connection;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chiprig-fifo-'));
    path = join(dir, 'u2f-');
    chip = makeEmulator(loadStationFile(undefined), undefined);
    events = [];
  });
  afterEach(async () => {
    await connection?.close();
    await server?.close();
    await scripted?.close();
    connection = undefined;
    server = undefined;
    scripted = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('HidTransport over the FIFOs does INIT and a U2F VERSION exchange (U2F_V2)', async () => {
    await serve();
    const conn = await connect();
    assert.equal(conn.info.path, `fifo:${path}`);
    const transport = await within(HidTransport.open(conn), 5000, 'INIT');
    assert.ok(transport.cid !== 0 && transport.cid !== BROADCAST_CID, 'a channel was allocated');
    assert.equal(await within(new U2fClient(transport).version(), 5000, 'VERSION'), 'U2F_V2');
  });

  it('a touch (cmd 6, interrupt 199) gives the presence a REGISTER needs', async () => {
    await serve();
    const conn = await connect();
    const transport = await HidTransport.open(conn);
    const challenge = new Uint8Array(randomBytes(32));
    const app = new Uint8Array(randomBytes(32));
    const bare = new U2fClient(transport);
    const refused = await bare.send(encodeRegister(challenge, app));
    assert.equal(refused.sw, SW.CONDITIONS_NOT_SATISFIED, 'without a press REGISTER answers 6985');
    const presence = new PresenceController({
      mode: 'actuator',
      actuator: fifoTouch(conn),
      timeoutMs: 1500,
      pollMs: 20,
    });
    const registered = await within(
      new U2fClient(transport, presence).register(challenge, app),
      5000,
      'REGISTER',
    );
    assert.ok(registered.keyHandle.length > 0, 'REGISTER returned a key handle');
    assert.equal(presence.presses, 1);
    assert.equal(presses(), 1, 'the chip saw exactly one press');
  });

  it('a host may close its ends and reopen: the server keeps serving', async () => {
    await serve();
    await (await HidTransport.open(await connect())).close();
    const again = await HidTransport.open(await connect());
    assert.equal(await new U2fClient(again).version(), 'U2F_V2');
  });

  it('speaks dev.cc byte for byte: cmd 4 with the report, cmd 5 polls, cmd 6 touch', async () => {
    await serve();
    const { toDevice, fromDevice } = fifoPaths(path);
    // dev.cc opens PATHout O_RDONLY and PATHin O_RDWR; O_NONBLOCK only because the server
    // runs on this very thread, so a blocking read here would wait for ever.
    const fdIn = openSync(fromDevice, constants.O_RDONLY | constants.O_NONBLOCK);
    const fdOut = openSync(toDevice, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const readExactly = async (n: number): Promise<Uint8Array> => {
        const out = Buffer.alloc(n);
        let got = 0;
        const deadline = performance.now() + 2000;
        while (got < n) {
          try {
            const r = readSync(fdIn, out, got, n - got, null);
            assert.ok(r > 0, 'EOF on PATHout');
            got += r;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
            assert.ok(performance.now() < deadline, `only ${got} of ${n} bytes within 2000 ms`);
            await sleep(1);
          }
        }
        return out;
      };
      const report = initPacket(BROADCAST_CID, CTAPHID.INIT, 8, NONCE);
      writeSync(fdOut, concat(fromHex('04000000 40000000'), report)); // k64ByteWrite
      let header = '0500000000000000';
      for (let polls = 0; header === '0500000000000000'; polls++) {
        assert.ok(polls < 1000, 'no input report after 1000 polls');
        writeSync(fdOut, fromHex('05000000 00000000')); // k64ByteRead
        header = hex(await readExactly(8));
      }
      assert.equal(header, '0500000040000000', 'an answer is cmd 5, len 64');
      const answer = await readExactly(64);
      assert.equal(
        hex(answer.subarray(0, 15)),
        `ffffffff860011${hex(NONCE)}`,
        'INIT answer echoing the nonce',
      );
      writeSync(fdOut, fromHex('05000000 00000000'));
      assert.equal(hex(await readExactly(8)), '0500000000000000', 'nothing more queued: cmd 5, len 0');
      writeSync(fdOut, fromHex('06000000 04000000 c7000000')); // kRaiseInterrupt, touch toggle
      await until(() => presses() === 1, 2000, 'the touch');
      assert.deepEqual(events, []);
    } finally {
      closeSync(fdIn);
      closeSync(fdOut);
    }
  });

  it('cmd 2 with mode 3 makes the server quit: closed resolves quit, onQuit runs, FIFOs go', async () => {
    let quits = 0;
    server = await serveFifoHid(chip.hid(), { path, press: () => chip.pressButton(), onQuit: () => quits++ });
    const fd = openSync(fifoPaths(path).toDevice, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(fd, fromHex('02000000 04000000 03000000'));
    } finally {
      closeSync(fd);
    }
    assert.equal(await within(server.closed, 2000, 'quit'), 'quit');
    assert.equal(quits, 1);
    assert.throws(() => statSync(fifoPaths(path).toDevice), /ENOENT/, 'the FIFOs it made are removed');
  });

  it('warns when something already reads PATHin (a second server on the same path)', async () => {
    await serve();
    const second = await serveFifoHid(chip.hid(), {
      path,
      press: () => undefined,
      onEvent: (t) => events.push(t),
    });
    await second.close();
    assert.equal(events.length, 1, events.join('\n'));
    assert.match(events[0]!, /something already reads .*u2f-in/);
  });

  it('skips an unknown command or a wrong length with an event, and serves what follows in order', async () => {
    await serve();
    const conn = await connect();
    const fd = openSync(fifoPaths(path).toDevice, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(
        fd,
        concat(encodeFifoMessage(9, fromHex('aabbcc')), encodeFifoMessage(FIFO_CMD.WRITE, NONCE)),
      );
    } finally {
      closeSync(fd);
    }
    await until(() => events.length === 2, 2000, 'two events');
    assert.match(events[0]!, /skipped cmd 9 with 3 bytes: unknown command/);
    assert.match(events[1]!, /skipped cmd 4 with 8 bytes: a report is 64 bytes/);
    // The very next write is answered on the very next poll.
    await conn.write(initPacket(BROADCAST_CID, CTAPHID.INIT, 8, NONCE));
    const answer = await conn.read(0);
    assert.ok(answer, 'the INIT answer on the first poll after the write');
    assert.equal(hex(answer.subarray(0, 15)), `ffffffff860011${hex(NONCE)}`);
  });

  it('read(0) polls exactly once; read(t) polls every pollMs until t, then resolves undefined', async () => {
    makeFifos(path);
    scripted = new ScriptedDevice(path, (m) =>
      m.cmd === FIFO_CMD.POLL ? encodeFifoMessage(FIFO_CMD.POLL) : undefined,
    );
    const conn = await connect({ pollMs: 10 });
    assert.equal(await conn.read(0), undefined);
    await sleep(20);
    assert.equal(scripted.polls, 1, 'read(0) sent one poll');
    const started = performance.now();
    assert.equal(await conn.read(100), undefined);
    const waited = performance.now() - started;
    assert.ok(waited >= 99 && waited < 1000, `read(100) returned after ${waited.toFixed(0)} ms`);
    const polls = scripted.polls - 1;
    assert.ok(polls >= 3 && polls <= 12, `${polls} polls in 100 ms at pollMs 10 (no busy spinning)`);
  });

  it('an answer a previous host left unread in PATHout is discarded at open, not taken for ours', async () => {
    makeFifos(path);
    scripted = new ScriptedDevice(path, (m) =>
      m.cmd === FIFO_CMD.POLL ? encodeFifoMessage(FIFO_CMD.POLL) : undefined,
    );
    scripted.send(encodeFifoMessage(FIFO_CMD.POLL, new Uint8Array(64).fill(0xee)));
    await sleep(10);
    const conn = await connect();
    assert.equal(await within(conn.read(0), 2000, 'read'), undefined, 'the stale report was not delivered');
  });

  it('a poll left unanswered for answerTimeoutMs is TIMEOUT (the device stopped answering)', async () => {
    makeFifos(path);
    scripted = new ScriptedDevice(path, () => undefined);
    const conn = await connect({ answerTimeoutMs: 100 });
    const started = performance.now();
    await assert.rejects(within(conn.read(5000), 2000, 'read'), isCode('TIMEOUT', /stopped answering polls/));
    assert.ok(performance.now() - started < 1000, 'judged on the answer deadline, not the read timeout');
    assert.equal(scripted.polls, 1, 'one poll outstanding at a time');
  });

  it('NOT_FOUND when the FIFOs do not exist, naming how to start a device', async () => {
    await assert.rejects(
      openFifoHid(path),
      isCode('NOT_FOUND', /u2f-in does not exist.*chiprig emulate --transport hid --fifo/),
    );
  });

  it('NOT_FOUND (no reader) when the FIFOs exist but nothing serves them within connectTimeoutMs', async () => {
    makeFifos(path);
    const started = performance.now();
    await assert.rejects(
      openFifoHid(path, { connectTimeoutMs: 200 }),
      isCode('NOT_FOUND', /nothing serves .* \(nothing opened .*u2f-in for reading within 200 ms\)/),
    );
    const waited = performance.now() - started;
    assert.ok(waited >= 190 && waited < 2000, `gave up after ${waited.toFixed(0)} ms`);
  });

  it('DISCONNECTED once the server closes: a pending read and every later call', async () => {
    await serve();
    const conn = await connect();
    // EOF on PATHout or EPIPE on the next poll, whichever the host meets first.
    const pending = assert.rejects(
      within(conn.read(5000), 2000, 'pending read'),
      isCode('DISCONNECTED', /the device side closed it/),
    );
    await sleep(10);
    await server!.close();
    await pending;
    await assert.rejects(conn.read(0), isCode('DISCONNECTED'));
    await assert.rejects(conn.write(new Uint8Array(64)), isCode('DISCONNECTED'));
    await assert.rejects(conn.touch(), isCode('DISCONNECTED'));
    await conn.close();
    await conn.close(); // idempotent
  });

  it('EPIPE on a write (nothing reads PATHin any more) is DISCONNECTED', async () => {
    makeFifos(path);
    scripted = new ScriptedDevice(path, () => undefined);
    const conn = await connect();
    await scripted.closeInput();
    await assert.rejects(
      within(conn.write(new Uint8Array(64)), 2000, 'write'),
      isCode('DISCONNECTED', /EPIPE/),
    );
    await assert.rejects(conn.read(0), isCode('DISCONNECTED'));
  });

  it('holds no threadpool request while idle: both ends are polled pipes, not fs reads', async () => {
    await serve();
    await HidTransport.open(await connect());
    await sleep(10);
    const resources = process.getActiveResourcesInfo();
    assert.deepEqual(
      resources.filter((r) => r.startsWith('FSReq')),
      [],
      `active: ${resources.join(', ')}`,
    );
    assert.ok(resources.filter((r) => r === 'PipeWrap').length >= 4, `active: ${resources.join(', ')}`);
  });
});
