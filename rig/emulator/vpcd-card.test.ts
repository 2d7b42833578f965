import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { fromHex, hex } from '../bytes.ts';
import { TransportError } from '../errors.ts';
import { TrafficLog } from '../traffic.ts';
import type { VirtualCard } from '../transport/nfc/connection.ts';
import { serveVpcd, type VpcdServer } from './vpcd-card.ts';

/** Records what the field did to it; answers every APDU with its reversed bytes + 9000. */
class FakeCard implements VirtualCard {
  readonly atr = fromHex('3b 80 80 01 01');
  readonly calls: string[] = [];
  powerOn(): void {
    this.calls.push('on');
  }
  powerOff(): void {
    this.calls.push('off');
  }
  reset(): void {
    this.calls.push('reset');
  }
  process(apdu: Uint8Array): Uint8Array {
    this.calls.push(`apdu ${hex(apdu)}`);
    if (apdu[1] === 0xee) throw new Error('boom');
    return Uint8Array.from([...apdu].reverse().concat([0x90, 0x00]));
  }
}

/** The pcscd side of the vicc protocol: accepts one card and reads its frames. */
class FakeVpcd {
  readonly server: Server;
  socket: Socket | undefined;
  #buffer = Buffer.alloc(0);
  #waiters: Array<(frame: Buffer) => void> = [];
  #frames: Buffer[] = [];
  readonly accepted: Promise<Socket>;

  constructor() {
    let accept!: (s: Socket) => void;
    this.accepted = new Promise((resolve) => {
      accept = resolve;
    });
    this.server = createServer((socket) => {
      this.socket = socket;
      socket.on('data', (chunk: Buffer) => this.#onData(chunk));
      accept(socket);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 2 && this.#buffer.length >= 2 + this.#buffer.readUInt16BE(0)) {
      const length = this.#buffer.readUInt16BE(0);
      const frame = this.#buffer.subarray(2, 2 + length);
      this.#buffer = this.#buffer.subarray(2 + length);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#frames.push(frame);
    }
  }

  frame(): Promise<Buffer> {
    const queued = this.#frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  send(payload: Uint8Array): void {
    const frame = Buffer.alloc(2 + payload.length);
    frame.writeUInt16BE(payload.length, 0);
    frame.set(payload, 2);
    this.socket!.write(frame);
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('serveVpcd (against a fake vpcd)', () => {
  let vpcd: FakeVpcd;
  let card: FakeCard;
  let link: VpcdServer | undefined;
  let events: string[];
  let log: TrafficLog;

  beforeEach(async () => {
    vpcd = new FakeVpcd();
    card = new FakeCard();
    events = [];
    log = new TrafficLog();
    const port = await vpcd.listen();
    link = await serveVpcd(card, { port, log, onEvent: (e) => events.push(e) });
    await vpcd.accepted;
  });

  afterEach(async () => {
    await link?.close();
    await vpcd.close();
  });

  it('passes power off, power on and reset to the card without answering them', async () => {
    vpcd.send(Uint8Array.of(0x01));
    vpcd.send(Uint8Array.of(0x00));
    vpcd.send(Uint8Array.of(0x02));
    vpcd.send(Uint8Array.of(0x04)); // only GET ATR answers; it also proves nothing came before
    assert.equal(hex(await vpcd.frame()), '3b80800101');
    assert.deepEqual(card.calls, ['on', 'off', 'reset']);
    assert.deepEqual(events, ['connected', 'power-on', 'power-off', 'reset', 'get-atr']);
  });

  it('answers every C-APDU with exactly one frame and logs both under vpcd', async () => {
    vpcd.send(fromHex('00a4040008a0000006472f0001'));
    assert.equal(hex(await vpcd.frame()), '01002f47060000a0080004a4009000');
    vpcd.send(fromHex('0001'));
    assert.equal(hex(await vpcd.frame()), '01009000');
    const { entries } = log.drain();
    assert.deepEqual(
      entries.map((e) => `${e.dir} ${e.layer} ${e.hex}`),
      [
        'recv vpcd 00a4040008a0000006472f0001',
        'send vpcd 01002f47060000a0080004a4009000',
        'recv vpcd 0001',
        'send vpcd 01009000',
      ],
    );
  });

  it('reassembles frames split byte by byte and splits frames merged into one chunk', async () => {
    const apdu = fromHex('00010203');
    const bytes = Buffer.from([0x00, 0x04, ...apdu, 0x00, 0x01, 0x04, 0x00, 0x01, 0x01]);
    for (const b of bytes.subarray(0, 5)) {
      vpcd.socket!.write(Uint8Array.of(b));
      await settle();
    }
    assert.deepEqual(card.calls, [], 'nothing happens on a partial frame');
    vpcd.socket!.write(bytes.subarray(5)); // rest of the APDU + GET ATR + POWER ON in one chunk
    assert.equal(hex(await vpcd.frame()), '030201009000');
    assert.equal(hex(await vpcd.frame()), '3b80800101');
    await settle();
    assert.deepEqual(card.calls, ['apdu 00010203', 'on']);
  });

  it('writes each answer as one TCP write (length and payload together)', async () => {
    const writes: number[] = [];
    vpcd.socket!.on('data', (chunk: Buffer) => writes.push(chunk.length));
    vpcd.send(Uint8Array.of(0x04));
    await vpcd.frame();
    assert.deepEqual(writes, [7]);
  });

  it('answers 6F00 when the card throws, and keeps serving', async () => {
    vpcd.send(fromHex('00ee0000'));
    assert.equal(hex(await vpcd.frame()), '6f00');
    vpcd.send(fromHex('0001'));
    assert.equal(hex(await vpcd.frame()), '01009000');
  });

  it('close() removes the card: the vpcd side sees the socket end', async () => {
    const ended = new Promise((resolve) => vpcd.socket!.once('close', resolve));
    await link!.close();
    await ended;
    await link!.close(); // idempotent
    assert.ok(events.includes('removed'));
  });

  it('closed settles when vpcd drops the link (pcscd stopped)', async () => {
    vpcd.socket!.destroy();
    await link!.closed;
    assert.equal(events.at(-1), 'removed');
  });
});

describe('serveVpcd connecting', () => {
  it('retries until vpcd listens (pcscd still starting)', async () => {
    const vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    await new Promise((resolve) => vpcd.server.close(resolve));
    const card = new FakeCard();
    const late = new FakeVpcd();
    setTimeout(() => late.server.listen(port, '127.0.0.1'), 250);
    const link = await serveVpcd(card, { port, connectTimeoutMs: 3000 });
    await late.accepted;
    late.send(Uint8Array.of(0x04));
    assert.equal(hex(await late.frame()), '3b80800101');
    await link.close();
    await late.close();
  });

  it('gives up after connectTimeoutMs with an actionable TransportError', async () => {
    const vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    await new Promise((resolve) => vpcd.server.close(resolve));
    const started = Date.now();
    await assert.rejects(serveVpcd(new FakeCard(), { port, connectTimeoutMs: 300 }), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'UNAVAILABLE');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(error.message, /install vsmartcard-vpcd and start pcscd \(pcscd -f -i/);
      return true;
    });
    assert.ok(Date.now() - started < 1000);
  });
});
