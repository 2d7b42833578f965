import { concat, hex } from '../../bytes.ts';
import { deviceFault, TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import type { ExchangeOptions, Transport, WireTiming } from '../transport.ts';
import { parseResponse, type ResponseApdu, SW, swName } from './apdu.ts';
import type { CardConnection } from './connection.ts';
import {
  cardCommands,
  getResponse,
  SELECT_VERSIONS,
  type SelectVersion,
  SW1_MORE_DATA,
  SW1_WRONG_LE,
  selectFido,
  statusBytes,
  withNe,
} from './iso7816.ts';

export type ApduMode = 'short' | 'extended' | 'auto';

export interface NfcTransportOptions {
  /** 'auto' (default): extended when the connection says it carries extended APDUs, else short. */
  apdu?: ApduMode;
  /** Command-chaining block size, 1..255; default 250 like python-fido2 (libfido2 240). */
  chunkSize?: number;
  /** GET RESPONSE Le: SW2 of the 61xx (python-fido2, default) or 00 (GN). */
  getResponseLe?: 'sw2' | 'zero';
  /** Deadline of each C-APDU → R-APDU; default 3000 ms. */
  timeoutMs?: number;
  log?: TrafficLog;
}

/** One C-APDU and the card's answer to it. */
export interface NfcStep {
  readonly command: Uint8Array;
  readonly response: Uint8Array;
  /** When the C-APDU went to the reader and its R-APDU came back (performance.now()). */
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** A U2F message's whole trip: every block and GET RESPONSE, and the assembled answer. */
export interface NfcExchange {
  readonly request: Uint8Array;
  readonly steps: readonly NfcStep[];
  /** data ‖ SW1 SW2 as the U2F layer sees it. */
  readonly response: Uint8Array;
}

interface Context {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly steps: NfcStep[];
}

/** A card that answers 61xx forever is broken; no U2F answer comes near this. */
const MAX_RESPONSE_DATA = 0x10000;
const decoder = new TextDecoder();

/**
 * ISO 7816-4 host side over any CardConnection (PC/SC reader or the emulator), as
 * python-fido2 and GN drive a FIDO card (catalogue §5): SELECT before the first exchange
 * and after a power cycle, short APDUs with command chaining or extended APDUs, 61xx
 * answered with GET RESPONSE and 6Cxx with one re-send. One exchange at a time; calls queue.
 * A link fault (timeout, cancel, removal) makes the next exchange SELECT again, which also
 * drops any half-sent chain or unread answer on the card.
 */
export class NfcTransport implements Transport {
  readonly kind = 'nfc' as const;
  readonly connection: CardConnection;
  readonly apduMode: 'short' | 'extended';
  readonly chunkSize: number;
  readonly getResponseLe: 'sw2' | 'zero';
  readonly timeoutMs: number;
  readonly #log: TrafficLog | undefined;
  #needsSelect = true;
  #version: SelectVersion | undefined;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  #wire: WireTiming | undefined;

  constructor(connection: CardConnection, options: NfcTransportOptions = {}) {
    if (typeof connection?.transmit !== 'function') throw new TypeError('connection: not a CardConnection');
    const { apdu = 'auto', chunkSize = 250, getResponseLe = 'sw2', timeoutMs = 3000 } = options;
    if (!['short', 'extended', 'auto'].includes(apdu)) {
      throw new RangeError(`options.apdu: must be 'short', 'extended' or 'auto': ${apdu}`);
    }
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 255) {
      throw new RangeError(`options.chunkSize: must be 1..255: ${chunkSize}`);
    }
    if (getResponseLe !== 'sw2' && getResponseLe !== 'zero') {
      throw new RangeError(`options.getResponseLe: must be 'sw2' or 'zero': ${getResponseLe}`);
    }
    if (!(timeoutMs > 0)) throw new RangeError(`options.timeoutMs: must be > 0: ${timeoutMs}`);
    this.connection = connection;
    this.apduMode = apdu === 'auto' ? (connection.extendedApdus === true ? 'extended' : 'short') : apdu;
    this.chunkSize = chunkSize;
    this.getResponseLe = getResponseLe;
    this.timeoutMs = timeoutMs;
    this.#log = options.log;
  }

  /** The SELECT answer of the current session; undefined before the first SELECT. */
  get version(): SelectVersion | undefined {
    return this.#version;
  }

  /** SELECTs the FIDO applet now (NFC-SEL-01) and returns its version string. */
  select(opts?: ExchangeOptions): Promise<SelectVersion> {
    return this.#serial(opts, (ctx) => this.#select(ctx));
  }

  /** One U2F message (extended-encoded, legacy, short or malformed) in, the assembled answer out. */
  async exchange(apdu: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    return (await this.exchangeDetailed(apdu, opts)).response;
  }

  /**
   * Transport.wire: the last exchange's first C-APDU out (SELECT included) and last R-APDU
   * in; linkMs sums the C-APDU → R-APDU round trips, without the host's work between them.
   */
  get wire(): WireTiming | undefined {
    return this.#wire;
  }

  /** As exchange, keeping every C-APDU / R-APDU pair (chaining and GET RESPONSE suites). */
  exchangeDetailed(apdu: Uint8Array, opts?: ExchangeOptions): Promise<NfcExchange> {
    if (!(apdu instanceof Uint8Array)) return Promise.reject(new TypeError('apdu: must be a Uint8Array'));
    return this.#serial(opts, async (ctx) => {
      if (this.#needsSelect) await this.#select(ctx);
      this.#log?.record('send', 'apdu', apdu);
      const response = await this.#send(cardCommands(apdu, this.apduMode, this.chunkSize), ctx);
      this.#log?.record('recv', 'apdu', response);
      return { request: apdu, steps: ctx.steps, response };
    });
  }

  /** Exactly one C-APDU, no SELECT, chaining or GET RESPONSE (conformance stimuli). */
  transmitRaw(apdu: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    if (!(apdu instanceof Uint8Array)) return Promise.reject(new TypeError('apdu: must be a Uint8Array'));
    return this.#serial(opts, async (ctx) => (await this.#transmit(apdu, ctx)).raw);
  }

  /** Field off and on (NFC-FLD-01); the next exchange SELECTs again. */
  powerCycle(): Promise<void> {
    return this.#serial(undefined, async () => {
      if (typeof this.connection.powerCycle !== 'function') {
        throw new TransportError('UNAVAILABLE', `${this.connection.reader}: cannot power-cycle the card`);
      }
      this.#needsSelect = true;
      this.#log?.note('nfc', 'power cycle');
      await this.connection.powerCycle();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.connection.close();
  }

  #serial<T>(opts: ExchangeOptions | undefined, task: (ctx: Context) => Promise<T>): Promise<T> {
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`opts.timeoutMs: must be > 0: ${timeoutMs}`));
    const ctx: Context = { timeoutMs, signal: opts?.signal, steps: [] };
    const result = this.#queue.then(async () => {
      if (this.#closed) throw new TransportError('DISCONNECTED', 'NFC transport: closed');
      this.#wire = undefined;
      const value = await task(ctx);
      const steps = ctx.steps;
      if (steps.length > 0) {
        let linkMs = 0;
        for (const step of steps) linkMs += step.receivedAt - step.sentAt;
        this.#wire = { sentAt: steps[0]!.sentAt, receivedAt: steps[steps.length - 1]!.receivedAt, linkMs };
      }
      return value;
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  async #select(ctx: Context): Promise<SelectVersion> {
    const answer = await this.#transmit(selectFido(), ctx, 'SELECT');
    // NFC-SEL-01/06: the version comes directly with 9000 (not 61xx).
    if (answer.sw !== SW.NO_ERROR) {
      throw deviceFault(`SELECT of the FIDO AID answered ${swName(answer.sw)}: "${hex(answer.raw)}"`, {
        actual: hex(answer.raw),
        expected: '5532465f56329000',
      });
    }
    const version = decoder.decode(answer.data) as SelectVersion;
    if (!SELECT_VERSIONS.includes(version)) {
      throw deviceFault(`SELECT answer data is not "U2F_V2" or "FIDO_2_0": "${hex(answer.raw)}"`, {
        actual: hex(answer.data),
        expected: '5532465f5632',
      });
    }
    this.#version = version;
    this.#needsSelect = false;
    return version;
  }

  /** Sends the chain; an intermediate block that is not a bare 9000 ends it (NFC-CHAIN-01). */
  async #send(commands: Uint8Array[], ctx: Context): Promise<Uint8Array> {
    for (const block of commands.slice(0, -1)) {
      const answer = await this.#transmit(block, ctx, 'chained block');
      if (answer.sw !== SW.NO_ERROR || answer.data.length > 0) return answer.raw;
    }
    const last = commands[commands.length - 1]!;
    let answer = await this.#transmit(last, ctx);
    const retry = answer.sw >> 8 === SW1_WRONG_LE ? withNe(last, answer.sw & 0xff || 256) : undefined;
    if (retry !== undefined) answer = await this.#transmit(retry, ctx, 'Le from 6Cxx');
    return this.#collect(answer, ctx);
  }

  /** Follows 61xx with GET RESPONSE until a final SW (NFC-REG-01, NFC-CHAIN-02). */
  async #collect(first: ResponseApdu, ctx: Context): Promise<Uint8Array> {
    const parts = [first.data];
    let total = first.data.length;
    let answer = first;
    while (answer.sw >> 8 === SW1_MORE_DATA) {
      if (total > MAX_RESPONSE_DATA) {
        throw deviceFault(`card still answers 61xx after ${total} bytes of response data`);
      }
      const ne = this.getResponseLe === 'zero' ? 256 : answer.sw & 0xff || 256;
      answer = await this.#transmit(getResponse(ne), ctx, 'GET RESPONSE');
      if (answer.sw >> 8 === SW1_WRONG_LE) {
        answer = await this.#transmit(
          getResponse(answer.sw & 0xff || 256),
          ctx,
          'GET RESPONSE, Le from 6Cxx',
        );
      }
      parts.push(answer.data);
      total += answer.data.length;
    }
    return parts.length === 1 ? answer.raw : concat(...parts, statusBytes(answer.sw));
  }

  async #transmit(command: Uint8Array, ctx: Context, note?: string): Promise<ResponseApdu> {
    if (ctx.signal?.aborted) throw cancelled();
    this.#log?.record('send', 'nfc', command, note);
    let raw: Uint8Array;
    let sentAt: number;
    try {
      sentAt = performance.now();
      const pending = this.connection.transmit(command, { timeoutMs: ctx.timeoutMs });
      raw = await (this.connection.enforcesDeadline && !ctx.signal
        ? pending
        : guard(pending, ctx, this.connection.reader));
    } catch (error) {
      if (error instanceof TransportError) this.#needsSelect = true;
      throw error;
    }
    const receivedAt = performance.now();
    this.#log?.record('recv', 'nfc', raw, note);
    ctx.steps.push({ command, response: raw, sentAt, receivedAt });
    return parseResponse(raw);
  }
}

function cancelled(): TransportError {
  return new TransportError('CANCELLED', 'NFC exchange cancelled');
}

/**
 * The connection's own deadline, backed by ours (a reader driver that hangs must not hang
 * the suite), and the abort signal. An abandoned transmit's late outcome is swallowed.
 */
function guard(pending: Promise<Uint8Array>, ctx: Context, reader: string): Promise<Uint8Array> {
  pending.catch(() => {});
  return new Promise((resolve, reject) => {
    const onAbort = () => finish(() => reject(cancelled()));
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new TransportError('TIMEOUT', `${reader}: no R-APDU within ${ctx.timeoutMs} ms`)),
        ),
      ctx.timeoutMs + 50,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      settle();
    };
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (raw) => finish(() => resolve(raw)),
      (error) => finish(() => reject(error)),
    );
  });
}
