import { connect, type Socket } from 'node:net';
import { TransportError } from '../../errors.ts';

/**
 * pcsc-lite's client protocol on pcscd's socket, for the APDU exchange only (reader
 * discovery and card events stay with nfc-pcsc). libpcsclite speaks the same protocol, but
 * the binding under nfc-pcsc calls it from libuv's thread pool: every APDU then crosses two
 * threads and wakes the event loop through a second handle, ~20-40 us an exchange on top of
 * pcscd and the card. Here the request is one write and the answer one or two reads on the
 * main loop, as fast as a C client that blocks in SCardTransmit.
 *
 * The wire format (pcsc-lite src/winscard_msg.h, message protocol 4.4, as pcscd 1.9 speaks
 * it; another version is refused): a request is a header {uint32 size, uint32 command} and
 * the command's struct, all little-endian host order; SCARD_TRANSMIT's struct is followed
 * by the C-APDU, and its answer (the struct again) by the R-APDU when rv is 0. pcscd serves
 * one request of a client at a time, in order, so answers are matched to requests by
 * position.
 */

export const PROTOCOL_MAJOR = 4;
export const PROTOCOL_MINOR = 4;

const CMD = {
  ESTABLISH_CONTEXT: 0x01,
  RELEASE_CONTEXT: 0x02,
  CONNECT: 0x04,
  DISCONNECT: 0x06,
  TRANSMIT: 0x09,
  VERSION: 0x11,
} as const;

export const SCARD_SHARE_SHARED = 2;
export const SCARD_PROTOCOL_T0 = 1;
export const SCARD_PROTOCOL_T1 = 2;
export const SCARD_PROTOCOL_ANY = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
export const SCARD_PROTOCOL_RAW = 4;
export const SCARD_LEAVE_CARD = 0;
export const SCARD_UNPOWER_CARD = 2;
const SCARD_SCOPE_SYSTEM = 2;

/** pcsc-lite's MAX_READERNAME: connect_struct carries the reader's name in a fixed field. */
const MAX_READERNAME = 128;
/** MAX_BUFFER_SIZE_EXTENDED: the most pcscd takes or gives in one transmit. */
export const MAX_BUFFER_SIZE_EXTENDED = 4 + 3 + (1 << 16) + 3 + 2;
/** sizeof(SCARD_IO_REQUEST) on LP64, as libpcsclite sends it. */
const PCI_LENGTH = 16;

const VERSION_SIZE = 12;
const ESTABLISH_SIZE = 12;
const RELEASE_SIZE = 8;
const CONNECT_SIZE = 4 + MAX_READERNAME + 5 * 4;
const DISCONNECT_SIZE = 12;
const TRANSMIT_SIZE = 32;

/** PC/SC return codes a lab sees most, named as in winscard.h. */
const RV_NAMES = new Map<number, string>([
  [0x80100003, 'SCARD_E_INVALID_HANDLE'],
  [0x80100004, 'SCARD_E_INVALID_PARAMETER'],
  [0x80100008, 'SCARD_E_INSUFFICIENT_BUFFER'],
  [0x80100009, 'SCARD_E_UNKNOWN_READER'],
  [0x8010000a, 'SCARD_E_TIMEOUT'],
  [0x8010000b, 'SCARD_E_SHARING_VIOLATION'],
  [0x8010000c, 'SCARD_E_NO_SMARTCARD'],
  [0x8010000f, 'SCARD_E_PROTO_MISMATCH'],
  [0x80100013, 'SCARD_F_COMM_ERROR'],
  [0x80100016, 'SCARD_E_NOT_TRANSACTED'],
  [0x80100017, 'SCARD_E_READER_UNAVAILABLE'],
  [0x8010001d, 'SCARD_E_NO_SERVICE'],
  [0x8010001e, 'SCARD_E_SERVICE_STOPPED'],
  [0x80100066, 'SCARD_W_UNRESPONSIVE_CARD'],
  [0x80100067, 'SCARD_W_UNPOWERED_CARD'],
  [0x80100068, 'SCARD_W_RESET_CARD'],
  [0x80100069, 'SCARD_W_REMOVED_CARD'],
]);

export const rvName = (rv: number) =>
  `${RV_NAMES.get(rv) ?? 'PC/SC error'} (0x${(rv >>> 0).toString(16).padStart(8, '0')})`;

/** One request waiting for its answer: a struct of `size` bytes (and the R-APDU after a transmit's). */
interface Pending {
  readonly size: number;
  readonly transmit: boolean;
  /** performance.now() past which the request has failed with TIMEOUT. */
  readonly deadline: number;
  readonly timeoutMs: number;
  /** Unset once the request failed (deadline, abort): its answer is read and dropped. */
  resolve: ((answer: Buffer | Uint8Array) => void) | undefined;
  reject: ((error: TransportError) => void) | undefined;
}

export interface PcscdCard {
  hCard: number;
  protocol: number;
}

/**
 * One PC/SC context on its own socket to pcscd. Every call has a deadline; a late answer is
 * read and dropped, so the stream stays in step. close() never waits longer than its deadline.
 */
export class PcscdClient {
  readonly #socket: Socket;
  readonly #queue: Pending[] = [];
  #context = 0;
  #in = Buffer.allocUnsafe(4096);
  #inLength = 0;
  #gone: TransportError | undefined;
  /**
   * One timer for every deadline: armed for the earliest, and left armed when answers come
   * in time (it then wakes once per deadline span and finds nothing late). A timer set and
   * cleared per APDU cost more than the rest of the client.
   */
  #watchdog: NodeJS.Timeout | undefined;
  #watchdogAt = Number.POSITIVE_INFINITY;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('error', (error) => this.#end(`pcscd's socket failed: ${error.message}`));
    socket.on('close', () => this.#end('pcscd closed the connection'));
  }

  /** Connects, checks the message protocol, and establishes a context. */
  static async open(path: string, timeoutMs: number): Promise<PcscdClient> {
    let client: PcscdClient | undefined;
    // Reads land in one buffer of the client's, handed over as views (no stream, no
    // allocation per answer): #receive copies what it keeps.
    const socket = connect({
      path,
      onread: {
        buffer: Buffer.allocUnsafe(65536 + 64),
        callback: (length: number, buffer: Uint8Array) => {
          if (client) client.#receive(Buffer.from(buffer.buffer, buffer.byteOffset, length));
          return true;
        },
      },
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TransportError('UNAVAILABLE', `${path}: pcscd did not accept within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new TransportError('UNAVAILABLE', `${path}: ${error.message}`, { cause: error }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    client = new PcscdClient(socket);
    try {
      const version = await client.#call(
        CMD.VERSION,
        ints(PROTOCOL_MAJOR, PROTOCOL_MINOR, 0),
        VERSION_SIZE,
        timeoutMs,
      );
      const rv = version.readUInt32LE(8);
      if (rv !== 0)
        throw new TransportError(
          'UNAVAILABLE',
          `pcscd speaks message protocol ${version.readInt32LE(0)}.${version.readInt32LE(4)}, not ${PROTOCOL_MAJOR}.${PROTOCOL_MINOR}`,
        );
      const established = await client.#call(
        CMD.ESTABLISH_CONTEXT,
        ints(SCARD_SCOPE_SYSTEM, 0, 0),
        ESTABLISH_SIZE,
        timeoutMs,
      );
      client.#check(established.readUInt32LE(8), 'SCardEstablishContext', 'UNAVAILABLE');
      client.#context = established.readUInt32LE(4);
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** SCardConnect, shared. */
  async connect(reader: string, timeoutMs: number): Promise<PcscdCard> {
    const name = Buffer.from(reader, 'utf8');
    if (name.length >= MAX_READERNAME)
      throw new TransportError('NOT_FOUND', `reader name longer than ${MAX_READERNAME - 1} bytes: ${reader}`);
    const body = Buffer.alloc(CONNECT_SIZE);
    body.writeUInt32LE(this.#context, 0);
    name.copy(body, 4);
    body.writeUInt32LE(SCARD_SHARE_SHARED, 4 + MAX_READERNAME);
    body.writeUInt32LE(SCARD_PROTOCOL_ANY, 8 + MAX_READERNAME);
    const answer = await this.#call(CMD.CONNECT, body, CONNECT_SIZE, timeoutMs);
    this.#check(answer.readUInt32LE(20 + MAX_READERNAME), `SCardConnect("${reader}")`, 'DISCONNECTED');
    return {
      hCard: answer.readInt32LE(12 + MAX_READERNAME),
      protocol: answer.readUInt32LE(16 + MAX_READERNAME),
    };
  }

  async disconnect(hCard: number, disposition: number, timeoutMs: number): Promise<void> {
    const answer = await this.#call(CMD.DISCONNECT, ints(hCard, disposition, 0), DISCONNECT_SIZE, timeoutMs);
    this.#check(answer.readUInt32LE(8), 'SCardDisconnect', 'DISCONNECTED');
  }

  /**
   * SCardTransmit: the R-APDU (its own copy), or the PC/SC failure. One buffer written at
   * once and no closure per call: this is the hot path of every NFC exchange.
   */
  transmit(card: PcscdCard, apdu: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (apdu.length > MAX_BUFFER_SIZE_EXTENDED) {
      return Promise.reject(
        new TransportError(
          'FRAMING',
          `a C-APDU of ${apdu.length} bytes is more than PC/SC carries (${MAX_BUFFER_SIZE_EXTENDED})`,
        ),
      );
    }
    const out = Buffer.allocUnsafe(8 + TRANSMIT_SIZE + apdu.length);
    out.writeUInt32LE(TRANSMIT_SIZE, 0);
    out.writeUInt32LE(CMD.TRANSMIT, 4);
    out.writeInt32LE(card.hCard, 8);
    out.writeUInt32LE(card.protocol, 12);
    out.writeUInt32LE(PCI_LENGTH, 16);
    out.writeUInt32LE(apdu.length, 20);
    out.writeUInt32LE(SCARD_PROTOCOL_ANY | SCARD_PROTOCOL_RAW, 24);
    out.writeUInt32LE(PCI_LENGTH, 28);
    out.writeUInt32LE(MAX_BUFFER_SIZE_EXTENDED, 32);
    out.writeUInt32LE(0, 36);
    out.set(apdu, 40);
    return this.#request(out, TRANSMIT_SIZE, true, timeoutMs) as Promise<Uint8Array>;
  }

  /**
   * Fails every request still waiting with `error` (the card left the field, the rig
   * closes); their answers, when pcscd sends them, are read and dropped.
   */
  abort(error: TransportError): void {
    for (const pending of this.#queue) {
      const reject = pending.reject;
      pending.resolve = pending.reject = undefined;
      reject?.(error);
    }
  }

  /** Releases the context and closes the socket, within `timeoutMs` whatever pcscd does. */
  async close(timeoutMs: number): Promise<void> {
    if (!this.#gone) {
      try {
        await this.#call(CMD.RELEASE_CONTEXT, ints(this.#context, 0), RELEASE_SIZE, timeoutMs);
      } catch {
        // closing the socket releases the context in pcscd as well
      }
    }
    this.#end('closed');
    this.#socket.destroy();
  }

  #check(rv: number, what: string, code: 'UNAVAILABLE' | 'DISCONNECTED'): void {
    if (rv !== 0) throw new TransportError(code, `${what}: ${rvName(rv)}`);
  }

  #call(command: number, body: Buffer, answerSize: number, timeoutMs: number): Promise<Buffer> {
    if (this.#gone) return Promise.reject(this.#gone);
    const out = Buffer.allocUnsafe(8 + body.length);
    out.writeUInt32LE(body.length, 0);
    out.writeUInt32LE(command, 4);
    body.copy(out, 8);
    return this.#request(out, answerSize, false, timeoutMs) as Promise<Buffer>;
  }

  #request(out: Buffer, size: number, transmit: boolean, timeoutMs: number): Promise<Buffer | Uint8Array> {
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + timeoutMs;
      this.#queue.push({ size, transmit, deadline, timeoutMs, resolve, reject });
      if (deadline < this.#watchdogAt) this.#arm(deadline);
      this.#socket.write(out);
    });
  }

  #arm(at: number): void {
    clearTimeout(this.#watchdog);
    this.#watchdogAt = at;
    this.#watchdog = setTimeout(() => this.#sweep(), Math.max(0, at - performance.now()) + 1);
    this.#watchdog.unref();
  }

  /** Fails the requests whose deadline passed, and arms the watchdog for the next one. */
  #sweep(): void {
    this.#watchdog = undefined;
    this.#watchdogAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const pending of this.#queue) {
      if (!pending.reject) continue;
      if (pending.deadline <= now) {
        const reject = pending.reject;
        pending.resolve = pending.reject = undefined;
        reject(new TransportError('TIMEOUT', `pcscd gave no answer within ${pending.timeoutMs} ms`));
      } else if (pending.deadline < next) next = pending.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  #receive(chunk: Buffer): void {
    let data = chunk;
    let at = 0;
    if (this.#inLength > 0) {
      this.#append(chunk);
      data = this.#in;
    }
    const end = this.#inLength > 0 ? this.#inLength : chunk.length;
    for (;;) {
      const next = this.#queue[0];
      if (!next || end - at < next.size) break;
      // A transmit's answer: the struct, then pcbRecvLength bytes when rv is 0.
      const rv = next.transmit ? data.readUInt32LE(at + 28) : 0;
      const extra = next.transmit && rv === 0 ? data.readUInt32LE(at + 24) : 0;
      if (end - at < next.size + extra) break;
      this.#queue.shift();
      const from = at;
      at += next.size + extra;
      if (!next.resolve) continue;
      if (!next.transmit) next.resolve(Buffer.from(data.subarray(from, from + next.size)));
      else if (rv !== 0) next.reject!(new TransportError('DISCONNECTED', `SCardTransmit: ${rvName(rv)}`));
      else next.resolve(Uint8Array.prototype.slice.call(data, from + next.size, at));
    }
    if (this.#inLength > 0) {
      this.#in.copyWithin(0, at, this.#inLength);
      this.#inLength -= at;
    } else if (at < chunk.length) {
      this.#append(chunk.subarray(at));
    }
  }

  #append(bytes: Buffer): void {
    if (this.#inLength + bytes.length > this.#in.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#in.length * 2, this.#inLength + bytes.length));
      this.#in.copy(grown, 0, 0, this.#inLength);
      this.#in = grown;
    }
    bytes.copy(this.#in, this.#inLength);
    this.#inLength += bytes.length;
  }

  #end(why: string): void {
    if (this.#gone) return;
    this.#gone = new TransportError('DISCONNECTED', why);
    clearTimeout(this.#watchdog);
    for (const pending of this.#queue.splice(0)) pending.reject?.(this.#gone);
  }
}

function ints(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) out.writeUInt32LE(v >>> 0, i * 4);
  return out;
}
