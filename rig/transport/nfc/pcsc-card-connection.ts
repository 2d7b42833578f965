import { toBytes } from '../../bytes.ts';
import { withDeadline } from '../../deadline.ts';
import { TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import type { CardConnection } from './connection.ts';
import type { PcscliteReader, PcscReader } from './pcsc-types.ts';
import { type PcscdCard, type PcscdClient, SCARD_LEAVE_CARD, SCARD_UNPOWER_CARD } from './pcscd-client.ts';

/** An extended R-APDU is at most 65536 data bytes + SW; PC/SC needs the buffer size up front. */
const RESPONSE_MAX_LENGTH = 65538;

export interface ConnectionOptions {
  transmitTimeoutMs: number;
  log?: TrafficLog | undefined;
  /** Releases the nfc-pcsc session (threads, handles) behind the connection. */
  onClose: () => void;
  /**
   * chiprig's own session on pcscd's socket (pcscd-client.ts) for the exchange, with the card
   * connected through it; nfc-pcsc then only reports the reader and card events.
   */
  socket?: { client: PcscdClient; card: PcscdCard } | undefined;
}

export class PcscCardConnection implements CardConnection {
  readonly reader: string;
  readonly atr: Uint8Array;
  readonly extendedApdus?: boolean;
  readonly #nfcReader: PcscReader;
  readonly #raw: PcscliteReader;
  readonly #opts: ConnectionOptions;
  #protocol: number;
  #lost: TransportError | undefined;
  #closed = false;
  readonly #pending = new Set<(error: TransportError) => void>();

  constructor(reader: PcscReader, opts: ConnectionOptions) {
    this.#nfcReader = reader;
    this.#raw = reader.reader;
    this.#opts = opts;
    this.reader = reader.name;
    this.atr = toBytes(reader.card?.atr ?? []);
    this.#protocol = opts.socket?.card.protocol ?? reader.connection!.protocol;
    // vpcd carries any APDU length; for a physical reader only a probe can tell.
    if (/virtual pcd/i.test(reader.name)) this.extendedApdus = true;
    reader.on('card.off', () => this.#lose('the card was taken out of the field'));
    reader.on('end', () => this.#lose('the reader went away'));
  }

  #lose(why: string): void {
    if (this.#lost || this.#closed) return;
    this.#lost = new TransportError('DISCONNECTED', `${this.reader}: ${why}`);
    this.#opts.log?.note('pcsc', why);
    for (const reject of this.#pending) reject(this.#lost);
    this.#opts.socket?.client.abort(this.#lost);
  }

  #check(): void {
    if (this.#closed) throw new TransportError('DISCONNECTED', `${this.reader}: the connection is closed`);
    if (this.#lost) throw this.#lost;
  }

  /** Its deadline is its own JavaScript timer: a hung native call still ends in TIMEOUT. */
  readonly enforcesDeadline = true;

  // Not an async function: one promise per APDU (the guard's), not two.
  transmit(apdu: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    try {
      this.#check();
    } catch (error) {
      return Promise.reject(error);
    }
    const timeoutMs = opts.timeoutMs ?? this.#opts.transmitTimeoutMs;
    const socket = this.#opts.socket;
    if (socket) return this.#socketTransmit(socket.client, socket.card, apdu, timeoutMs);
    // The APDUs themselves are in the traffic at the NFC layer (NfcTransport, outside the
    // timed window); logging them here too put two hex encodings inside every exchange.
    return this.#guard<Uint8Array>(
      (resolve, reject) =>
        // A view, not a copy: the binding copies the bytes before it returns.
        this.#raw.transmit(
          Buffer.from(apdu.buffer, apdu.byteOffset, apdu.byteLength),
          RESPONSE_MAX_LENGTH,
          this.#protocol,
          (err, data) => {
            if (err)
              reject(this.#lost ?? new TransportError('DISCONNECTED', `${this.reader}: ${err.message}`));
            // pcscd reports success with zero bytes when vpcd's card vanished mid-APDU; every
            // real R-APDU carries at least SW1 SW2, so an empty one is a lost card, not an answer.
            else if (!data || data.length === 0)
              reject(
                new TransportError('DISCONNECTED', `${this.reader}: the card went away during the APDU`),
              );
            else resolve(toBytes(data));
          },
        ),
      timeoutMs,
      'transmit',
    );
  }

  #socketTransmit(
    client: PcscdClient,
    card: PcscdCard,
    apdu: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    return client.transmit(card, apdu, timeoutMs).then(this.#answered, this.#failed);
  }

  // Made once, not per APDU.
  readonly #answered = (data: Uint8Array): Uint8Array => {
    // As with the binding: success with no bytes is a card that vanished mid-APDU.
    if (data.length === 0)
      throw new TransportError('DISCONNECTED', `${this.reader}: the card went away during the APDU`);
    return data;
  };

  readonly #failed = (error: TransportError): never => {
    throw error.code === 'DISCONNECTED' && this.#lost ? this.#lost : prefixed(this.reader, error);
  };

  /** Field off and on: PC/SC reconnect with SCARD_UNPOWER_CARD; vpcd relays it as power off/on. */
  async powerCycle(): Promise<void> {
    this.#check();
    this.#opts.log?.note('pcsc', 'power cycle (SCARD_UNPOWER_CARD)');
    const timeoutMs = this.#opts.transmitTimeoutMs;
    const socket = this.#opts.socket;
    if (socket) {
      await socket.client.disconnect(socket.card.hCard, SCARD_UNPOWER_CARD, timeoutMs).catch((error) => {
        throw prefixed(this.reader, error);
      });
      socket.card = await socket.client.connect(this.reader, timeoutMs).catch((error) => {
        throw prefixed(this.reader, error);
      });
      return;
    }
    await this.#guard<void>(
      (resolve, reject) =>
        this.#raw.disconnect(this.#raw.SCARD_UNPOWER_CARD, (err) =>
          err ? reject(new TransportError('DISCONNECTED', `${this.reader}: ${err.message}`)) : resolve(),
        ),
      timeoutMs,
      'power off',
    );
    const protocol = await this.#guard<number>(
      (resolve, reject) =>
        this.#raw.connect({ share_mode: this.#raw.SCARD_SHARE_SHARED }, (err, protocol) =>
          err
            ? reject(new TransportError('DISCONNECTED', `${this.reader}: ${err.message}`))
            : resolve(protocol ?? this.#protocol),
        ),
      timeoutMs,
      'power on',
    );
    this.#protocol = protocol;
    // nfc-pcsc disconnects its connection on removal; keep its view in step with ours.
    this.#nfcReader.connection = { type: this.#raw.SCARD_SHARE_SHARED, protocol };
  }

  /** Runs one native call against the deadline and removal; the timer never outlives it. */
  #guard<T>(
    start: (resolve: (value: T) => void, reject: (error: TransportError) => void) => void,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.#pending.delete(fail);
        fn();
      };
      const fail = (error: TransportError) => finish(() => reject(error));
      const timer = setTimeout(
        () =>
          fail(new TransportError('TIMEOUT', `${this.reader}: no answer to ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#pending.add(fail);
      start((value) => finish(() => resolve(value)), fail);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const cancelled = new TransportError('CANCELLED', `${this.reader}: closed`);
    for (const reject of this.#pending) reject(cancelled);
    const socket = this.#opts.socket;
    socket?.client.abort(cancelled);
    if (socket) {
      const timeoutMs = Math.min(this.#opts.transmitTimeoutMs, 1000);
      if (!this.#lost)
        await socket.client.disconnect(socket.card.hCard, SCARD_LEAVE_CARD, timeoutMs).catch(() => undefined);
      await socket.client.close(timeoutMs);
    } else if (this.#raw.connected && !this.#lost) {
      // Bounded: pcscd does not answer while the card is mute (the reader thread waits on it).
      const released = new Promise<void>((resolve) =>
        this.#raw.disconnect(this.#raw.SCARD_LEAVE_CARD, () => resolve()),
      );
      const late = () => new TransportError('TIMEOUT', `${this.reader}: no answer to disconnect`);
      await withDeadline(released, Math.min(this.#opts.transmitTimeoutMs, 1000), late).catch(() => undefined);
    }
    this.#opts.onClose();
  }
}

/** The same failure, its message led by the reader's name. */
function prefixed(reader: string, error: unknown): TransportError {
  if (!(error instanceof TransportError))
    return new TransportError('DISCONNECTED', `${reader}: ${String(error)}`);
  return new TransportError(error.code, `${reader}: ${error.message}`, { cause: error });
}
