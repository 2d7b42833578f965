import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import { PcscdClient, SCARD_LEAVE_CARD } from './pcscd-client.ts';

/**
 * chiprig's client of pcscd's socket protocol against a stand-in pcscd written from the
 * message layouts (pcsc-lite winscard_msg.h, protocol 4.4), so framing, deadlines and
 * failures are checked without pcscd; the integration tests (nfc-pcsc.test.ts) run the same
 * client against the real pcscd and vpcd.
 */
type TransmitAnswer = { rv?: number; data?: Uint8Array; delayMs?: number } | 'silent';

interface FakeOptions {
  version?: [number, number];
  /** The card's answer to each C-APDU. */
  transmit?: (apdu: Uint8Array) => TransmitAnswer;
  /** Bytes per write of every answer (1: one byte at a time). */
  chunk?: number;
  /** Never answers SCardReleaseContext. */
  muteRelease?: boolean;
}

const SIZES: Record<number, number> = { 1: 12, 2: 8, 4: 152, 6: 12, 9: 32, 17: 12 };

class FakePcscd {
  readonly path: string;
  readonly #dir: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly commands: number[] = [];
  constructor(readonly opts: FakeOptions = {}) {
    this.#dir = mkdtempSync(join(tmpdir(), 'chiprig-fake-pcscd-'));
    this.path = join(this.#dir, 'pcscd.comm');
    this.#server = createServer((socket) => this.#serve(socket));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.path, resolve));
  }

  /** Drops every client connection, as a pcscd that stops would. */
  dropClients(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise((resolve) => this.#server.close(resolve));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (buffered.length < 8) return;
        const command = buffered.readUInt32LE(4);
        const size = SIZES[command];
        if (size === undefined) throw new Error(`fake pcscd: command ${command}`);
        if (buffered.length < 8 + size) return;
        const body = buffered.subarray(8, 8 + size);
        const extra = command === 0x09 ? body.readUInt32LE(12) : 0;
        if (buffered.length < 8 + size + extra) return;
        const apdu = Uint8Array.from(buffered.subarray(8 + size, 8 + size + extra));
        buffered = buffered.subarray(8 + size + extra);
        this.commands.push(command);
        this.#answer(socket, command, Buffer.from(body), apdu);
      }
    });
  }

  /** Per client, as pcscd does: one request at a time, answers in order. */
  readonly #turn = new WeakMap<Socket, Promise<void>>();

  #answer(socket: Socket, command: number, body: Buffer, apdu: Uint8Array): void {
    const reply = this.#reply(command, body, apdu);
    if (!reply) return;
    const go = () => {
      if (socket.destroyed) return;
      const step = this.opts.chunk ?? reply.bytes.length;
      for (let at = 0; at < reply.bytes.length; at += step) socket.write(reply.bytes.subarray(at, at + step));
    };
    const delayMs = reply.delayMs ?? 0;
    const turn = (this.#turn.get(socket) ?? Promise.resolve()).then(() =>
      delayMs > 0 ? new Promise<void>((r) => setTimeout(() => r(go()), delayMs)) : go(),
    );
    this.#turn.set(socket, turn);
  }

  /** pcscd's answer to one request, or undefined for none. */
  #reply(command: number, body: Buffer, apdu: Uint8Array): { bytes: Buffer; delayMs?: number } | undefined {
    switch (command) {
      case 0x11: {
        const [major, minor] = this.opts.version ?? [4, 4];
        const ok = major === 4 && minor === 4;
        body.writeInt32LE(ok ? 4 : major, 0);
        body.writeInt32LE(ok ? 4 : minor, 4);
        body.writeUInt32LE(ok ? 0 : 0x8010001e, 8);
        return { bytes: body };
      }
      case 0x01:
        body.writeUInt32LE(0x1234, 4);
        return { bytes: body };
      case 0x04:
        body.writeInt32LE(7, 140);
        body.writeUInt32LE(2, 144);
        body.writeUInt32LE(0, 148);
        return { bytes: body };
      case 0x02:
        if (this.opts.muteRelease) return undefined;
        return { bytes: body };
      case 0x06:
        return { bytes: body };
      case 0x09: {
        assert.equal(body.readInt32LE(0), 7, 'the hCard SCardConnect gave');
        const answer = this.opts.transmit?.(apdu) ?? { data: Uint8Array.from([...apdu, 0x90, 0x00]) };
        if (answer === 'silent') return undefined;
        const rv = answer.rv ?? 0;
        const data = rv === 0 ? (answer.data ?? new Uint8Array()) : new Uint8Array();
        body.writeUInt32LE(data.length, 24);
        body.writeUInt32LE(rv, 28);
        return { bytes: Buffer.concat([body, data]), delayMs: answer.delayMs ?? 0 };
      }
    }
  }
}

describe('pcscd client (pcsc-lite socket protocol 4.4, against a stand-in pcscd)', function () {
  this.timeout(10_000);
  let fake: FakePcscd;
  let client: PcscdClient | undefined;
  const start = async (opts: FakeOptions = {}) => {
    fake = new FakePcscd(opts);
    await fake.listen();
    client = await PcscdClient.open(fake.path, 1000);
    return { client, card: await client.connect('Virtual PCD 00 00', 1000) };
  };
  afterEach(async () => {
    await client?.close(200);
    client = undefined;
    await fake.close();
  });

  it('connects, transmits and reads answers that arrive one byte at a time', async () => {
    const { client, card } = await start({ chunk: 1 });
    assert.deepEqual(card, { hCard: 7, protocol: 2 });
    assert.equal(hex(await client.transmit(card, fromHex('00010203'), 1000)), '000102039000');
    // Several in flight: each gets its own answer, in order.
    const answers = await Promise.all([1, 2, 3].map((n) => client.transmit(card, Uint8Array.of(n), 1000)));
    assert.deepEqual(answers.map(hex), ['019000', '029000', '039000']);
    // Extended lengths both ways.
    const long = new Uint8Array(5000).fill(0xa5);
    assert.equal((await client.transmit(card, long, 1000)).length, 5002);
  });

  it('a late answer ends its APDU in TIMEOUT and is dropped: the next APDU gets its own', async () => {
    const { client, card } = await start({
      transmit: (apdu) => ({
        data: Uint8Array.from([...apdu, 0x90, 0x00]),
        delayMs: apdu[0] === 0xee ? 300 : 0,
      }),
    });
    const started = performance.now();
    await assert.rejects(client.transmit(card, Uint8Array.of(0xee), 100), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'TIMEOUT');
      assert.match(error.message, /no answer within 100 ms/);
      return true;
    });
    const took = performance.now() - started;
    assert.ok(took >= 99 && took < 250, `TIMEOUT after ${took.toFixed(0)} ms`);
    assert.equal(hex(await client.transmit(card, Uint8Array.of(0x01), 1000)), '019000');
  });

  it('a PC/SC failure rejects the APDU naming the return code, and the stream stays in step', async () => {
    const { client, card } = await start({
      transmit: (apdu) => (apdu[0] === 0xdd ? { rv: 0x80100069 } : { data: Uint8Array.of(0x90, 0x00) }),
    });
    await assert.rejects(client.transmit(card, Uint8Array.of(0xdd), 1000), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'DISCONNECTED');
      assert.match(error.message, /SCardTransmit: SCARD_W_REMOVED_CARD \(0x80100069\)/);
      return true;
    });
    assert.equal(hex(await client.transmit(card, Uint8Array.of(0x00), 1000)), '9000');
  });

  it('abort fails the APDUs in flight at once; their answers are dropped when they come', async () => {
    const { client, card } = await start({
      transmit: (apdu) => ({ data: Uint8Array.from([...apdu, 0x90, 0x00]), delayMs: 100 }),
    });
    const pending = client.transmit(card, Uint8Array.of(0x01), 1000);
    client.abort(new TransportError('DISCONNECTED', 'the card was taken out of the field'));
    await assert.rejects(pending, /taken out of the field/);
    assert.equal(hex(await client.transmit(card, Uint8Array.of(0x02), 1000)), '029000');
  });

  it('pcscd going away rejects the APDU in flight with DISCONNECTED, and every later call', async () => {
    const { client, card } = await start({ transmit: () => 'silent' });
    const pending = client.transmit(card, Uint8Array.of(0x01), 5000);
    setTimeout(() => fake.dropClients(), 50);
    const started = performance.now();
    await assert.rejects(pending, (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'DISCONNECTED');
      assert.match(error.message, /pcscd closed the connection/);
      return true;
    });
    assert.ok(performance.now() - started < 1000);
    await assert.rejects(client.transmit(card, Uint8Array.of(0x02), 1000), /pcscd closed the connection/);
  });

  it('a pcscd of another message protocol is refused, naming both versions', async () => {
    fake = new FakePcscd({ version: [4, 2] });
    await fake.listen();
    await assert.rejects(PcscdClient.open(fake.path, 1000), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'UNAVAILABLE');
      assert.match(error.message, /pcscd speaks message protocol 4\.2, not 4\.4/);
      return true;
    });
  });

  it('no pcscd at the path: UNAVAILABLE, quickly', async () => {
    fake = new FakePcscd();
    await assert.rejects(PcscdClient.open(fake.path, 1000), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'UNAVAILABLE');
      return true;
    });
  });

  it('close keeps to its deadline when pcscd does not answer', async () => {
    const { client, card } = await start({ muteRelease: true });
    await client.disconnect(card.hCard, SCARD_LEAVE_CARD, 1000);
    const started = performance.now();
    await client.close(150);
    const took = performance.now() - started;
    assert.ok(took < 400, `close took ${took.toFixed(0)} ms`);
    assert.deepEqual(fake.commands, [0x11, 0x01, 0x04, 0x06, 0x02]);
  });
});
