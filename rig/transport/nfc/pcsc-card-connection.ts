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
}

/**
 * A card in a PC/SC reader that nfc-pcsc watches: its name, ATR, removal and closing are the
 * same whichever client carries the APDUs (the subclasses).
 */
abstract class ReaderCardConnection implements CardConnection {
  readonly reader: string;
  readonly atr: Uint8Array;
  readonly extendedApdus?: boolean;
  /** Its deadline is its own JavaScript timer: a hung call still ends in TIMEOUT. */
  readonly enforcesDeadline = true;
  protected readonly opts: ConnectionOptions;
  protected lost: TransportError | undefined;
  #closed = false;

  constructor(reader: PcscReader, opts: ConnectionOptions) {
    this.opts = opts;
    this.reader = reader.name;
    this.atr = toBytes(reader.card?.atr ?? []);
    // vpcd carries any APDU length; for a physical reader only a probe can tell.
    if (/virtual pcd/i.test(reader.name)) this.extendedApdus = true;
    reader.on('card.off', () => this.#lose('the card was taken out of the field'));
    reader.on('end', () => this.#lose('the reader went away'));
  }

  abstract transmit(apdu: Uint8Array, opts?: { timeoutMs?: number }): Promise<Uint8Array>;
  abstract powerCycle(): Promise<void>;
  /** Fails every call in flight with `error`. */
  protected abstract failPending(error: TransportError): void;
  /** Lets go of the card, within a bounded time whatever pcscd does. */
  protected abstract release(): Promise<void>;

  #lose(why: string): void {
    if (this.lost || this.#closed) return;
    this.lost = new TransportError('DISCONNECTED', `${this.reader}: ${why}`);
    this.opts.log?.note('pcsc', why);
    this.failPending(this.lost);
  }

  protected check(): void {
    if (this.#closed) throw new TransportError('DISCONNECTED', `${this.reader}: the connection is closed`);
    if (this.lost) throw this.lost;
  }

  /** Why an APDU cannot go out now (closed, card lost), as a rejected promise; else undefined. */
  protected refused(): Promise<never> | undefined {
    try {
      this.check();
      return undefined;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.failPending(new TransportError('CANCELLED', `${this.reader}: closed`));
    await this.release();
    this.opts.onClose();
  }
}

/** The APDUs through chiprig's own session on pcscd's socket (pcscd-client.ts). */
export class PcscdCardConnection extends ReaderCardConnection {
  readonly #client: PcscdClient;
  #card: PcscdCard;

  constructor(reader: PcscReader, client: PcscdClient, card: PcscdCard, opts: ConnectionOptions) {
    super(reader, opts);
    this.#client = client;
    this.#card = card;
  }

  transmit(apdu: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const refused = this.refused();
    if (refused) return refused;
    const timeoutMs = opts.timeoutMs ?? this.opts.transmitTimeoutMs;
    return this.#client.transmit(this.#card, apdu, timeoutMs).then(this.#answered, this.#failed);
  }

  // Made once, not per APDU.
  readonly #answered = (data: Uint8Array): Uint8Array => {
    // As with the library: success with no bytes is a card that vanished mid-APDU.
    if (data.length === 0)
      throw new TransportError('DISCONNECTED', `${this.reader}: the card went away during the APDU`);
    return data;
  };

  readonly #failed = (error: TransportError): never => {
    throw error.code === 'DISCONNECTED' && this.lost ? this.lost : prefixed(this.reader, error);
  };

  /** Field off and on: SCardDisconnect with SCARD_UNPOWER_CARD, then connect again. */
  async powerCycle(): Promise<void> {
    this.check();
    this.opts.log?.note('pcsc', 'power cycle (SCARD_UNPOWER_CARD)');
    const timeoutMs = this.opts.transmitTimeoutMs;
    try {
      await this.#client.disconnect(this.#card.hCard, SCARD_UNPOWER_CARD, timeoutMs);
      this.#card = await this.#client.connect(this.reader, timeoutMs);
    } catch (error) {
      throw prefixed(this.reader, error);
    }
  }

  protected failPending(error: TransportError): void {
    this.#client.abort(error);
  }

  protected async release(): Promise<void> {
    const timeoutMs = Math.min(this.opts.transmitTimeoutMs, 1000);
    if (!this.lost)
      await this.#client.disconnect(this.#card.hCard, SCARD_LEAVE_CARD, timeoutMs).catch(() => undefined);
    await this.#client.close(timeoutMs);
  }
}

/** The APDUs through libpcsclite, on the connection nfc-pcsc made (CHIPRIG_PCSC_CLIENT=library). */
export class PcscCardConnection extends ReaderCardConnection {
  readonly #nfcReader: PcscReader;
  readonly #raw: PcscliteReader;
  #protocol: number;
  readonly #pending = new Set<(error: TransportError) => void>();

  constructor(reader: PcscReader, opts: ConnectionOptions) {
    super(reader, opts);
    this.#nfcReader = reader;
    this.#raw = reader.reader;
    this.#protocol = reader.connection!.protocol;
  }

  // Not an async function: one promise per APDU (the guard's), not two.
  transmit(apdu: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const refused = this.refused();
    if (refused) return refused;
    const timeoutMs = opts.timeoutMs ?? this.opts.transmitTimeoutMs;
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
              reject(this.lost ?? new TransportError('DISCONNECTED', `${this.reader}: ${err.message}`));
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

  /** Field off and on: PC/SC reconnect with SCARD_UNPOWER_CARD; vpcd relays it as power off/on. */
  async powerCycle(): Promise<void> {
    this.check();
    this.opts.log?.note('pcsc', 'power cycle (SCARD_UNPOWER_CARD)');
    const timeoutMs = this.opts.transmitTimeoutMs;
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

  protected failPending(error: TransportError): void {
    for (const reject of this.#pending) reject(error);
  }

  protected async release(): Promise<void> {
    if (!this.#raw.connected || this.lost) return;
    // Bounded: pcscd does not answer while the card is mute (the reader thread waits on it).
    const released = new Promise<void>((resolve) =>
      this.#raw.disconnect(this.#raw.SCARD_LEAVE_CARD, () => resolve()),
    );
    const late = () => new TransportError('TIMEOUT', `${this.reader}: no answer to disconnect`);
    await withDeadline(released, Math.min(this.opts.transmitTimeoutMs, 1000), late).catch(() => undefined);
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
}

/** The same failure, its message led by the reader's name. */
function prefixed(reader: string, error: unknown): TransportError {
  if (!(error instanceof TransportError))
    return new TransportError('DISCONNECTED', `${reader}: ${String(error)}`);
  return new TransportError(error.code, `${reader}: ${error.message}`, { cause: error });
}
