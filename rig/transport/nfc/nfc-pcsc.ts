import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { toBytes } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import type { CardConnection } from './connection.ts';
import { PcscCardConnection, PcscdCardConnection } from './pcsc-card-connection.ts';
import type { PcscliteReader, PcscReader } from './pcsc-types.ts';
import { type PcscdCard, PcscdClient } from './pcscd-client.ts';

/**
 * The nfc-pcsc adapter: the only file that imports nfc-pcsc. It is an optional dependency
 * with a native binding (@pokusew/pcsclite), loaded on first use and never at module load,
 * so the emulated station works where libpcsclite is missing.
 */
/** pcsc-lite's client socket; PCSCLITE_CSOCK_NAME overrides it, as it does for libpcsclite. */
export const PCSCD_SOCKET = process.env.PCSCLITE_CSOCK_NAME || '/run/pcscd/pcscd.comm';
const PCSCD_PID = '/run/pcscd/pcscd.pid';

/** The nfc-pcsc surface used here. */
interface Nfc {
  on(event: 'reader', listener: (reader: PcscReader) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  close(): void;
}
type NfcConstructor = new () => Nfc;

let NfcClass: NfcConstructor | undefined;

function load(): NfcConstructor {
  if (NfcClass) return NfcClass;
  const require = createRequire(import.meta.url);
  try {
    const mod = require('nfc-pcsc') as { NFC?: NfcConstructor; default?: NfcConstructor };
    const ctor = mod.NFC ?? mod.default;
    if (typeof ctor !== 'function') throw new Error('nfc-pcsc exports no NFC class');
    NfcClass = ctor;
    return ctor;
  } catch (error) {
    throw new TransportError(
      'UNAVAILABLE',
      `PC/SC access is unavailable: nfc-pcsc did not load (${(error as Error).message.split('\n')[0]}). ` +
        'On Debian/Ubuntu install libpcsclite-dev and pcscd, then run "npm rebuild @pokusew/pcsclite"',
      { cause: error },
    );
  }
}

/**
 * Why PC/SC cannot be used here, or undefined when it can (library loads, pcscd's socket
 * exists). Synchronous, so suites can mark tests pending with the reason at definition time.
 */
export function pcscUnavailableReason(): string | undefined {
  try {
    load();
  } catch (error) {
    return (error as Error).message;
  }
  if (!existsSync(PCSCD_SOCKET)) return pcscdDown(`no ${PCSCD_SOCKET}`).message;
  // A killed pcscd leaves its socket file behind; its pid file tells whether it still runs.
  const pid = Number.parseInt(existsSync(PCSCD_PID) ? readFileSync(PCSCD_PID, 'utf8') : '', 10);
  if (pid > 0 && !isAlive(pid)) return pcscdDown(`stale ${PCSCD_SOCKET}, pid ${pid} is gone`).message;
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (pcscd runs as root or pcscd).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pcscdDown(detail: string, cause?: unknown): TransportError {
  return new TransportError(
    'UNAVAILABLE',
    `pcscd is not running (${detail}): start it (pcscd -f -i, or systemctl start pcscd)`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Fails fast when pcscd is down. This must come before `new NFC()`: the binding's
 * constructor retries SCardEstablishContext in a busy loop on the main thread while the
 * service is absent, which would hang the rig instead of failing.
 */
async function requirePcscd(): Promise<void> {
  if (!existsSync(PCSCD_SOCKET)) throw pcscdDown(`no ${PCSCD_SOCKET}`);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(PCSCD_SOCKET);
    const timer = setTimeout(() => fail(new Error('no answer within 1000 ms')), 1000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(pcscdDown(`${PCSCD_SOCKET}: ${error.message}`, error));
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
  });
}

/** Matches the library's 'error' texts that mean the service is gone (pcsclite error_msg). */
const SERVICE_GONE = /service (not available|stopped)|SCARD_E_NO_SERVICE|0x8010001D|0x8010001E/i;

function asTransportError(error: Error): TransportError {
  return SERVICE_GONE.test(error.message)
    ? pcscdDown(error.message, error)
    : new TransportError('UNAVAILABLE', `PC/SC error: ${error.message}`, { cause: error });
}

export interface PcscReaderInfo {
  name: string;
  cardPresent: boolean;
  atr?: Uint8Array;
}

/**
 * One nfc-pcsc session: watches readers appear and their card state. Readers appear as
 * events, so callers gather for a while; close() releases every native thread and handle.
 */
class Session {
  readonly readers = new Map<string, { reader: PcscReader; info: PcscReaderInfo }>();
  error: TransportError | undefined;
  readonly #nfc: Nfc;
  readonly #listeners = new Set<() => void>();

  /**
   * `connects`: nfc-pcsc connects to each card it sees (the library client's connection).
   * Off, it only reports readers and cards: chiprig's own client connects, and no native call
   * can be left waiting on pcscd (libuv joins its thread pool at exit, so a call pcscd never
   * answers would keep the process from exiting).
   */
  readonly #connects: boolean;

  constructor(Nfc: NfcConstructor, connects: boolean) {
    this.#connects = connects;
    this.#nfc = new Nfc();
    // An 'error' without a listener kills the process (EventEmitter), on NFC and every reader.
    this.#nfc.on('error', (error) => {
      this.error = asTransportError(error);
      this.#changed();
    });
    this.#nfc.on('reader', (reader) => this.#onReader(reader));
  }

  /** Native calls (connect, transmit, ...) still running per reader; see close(). */
  readonly #busy = new Map<PcscReader, { calls: number; idle?: () => void }>();

  #onReader(reader: PcscReader): void {
    // No AID and autoProcessing on makes nfc-pcsc emit 'error' and no 'card' (emulation.md).
    reader.autoProcessing = false;
    // nfc-pcsc calls this.connect() on every card it sees; an own property shadows its method.
    if (!this.#connects) reader.connect = async () => null;
    this.#busy.set(reader, countNativeCalls(reader.reader));
    reader.on('error', () => undefined); // per-card failures surface through transmit instead
    const info: PcscReaderInfo = { name: reader.name, cardPresent: false };
    this.readers.set(reader.name, { reader, info });
    // The pcsclite status, not nfc-pcsc's 'card' event: it also reports cards nfc-pcsc could not connect.
    reader.reader.on('status', (status) => {
      info.cardPresent = (status.state & reader.reader.SCARD_STATE_PRESENT) !== 0;
      if (info.cardPresent && status.atr?.length) info.atr = toBytes(status.atr);
      else if (!info.cardPresent) delete info.atr;
      this.#changed();
    });
    reader.on('card', () => this.#changed());
    reader.on('end', () => {
      this.readers.delete(reader.name);
      this.#changed();
    });
    this.#changed();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Resolves with the first non-undefined value of `check`, re-evaluated on every event. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const done = (value: T | undefined, error?: TransportError) => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        if (error) reject(error);
        else resolve(value);
      };
      const listener = () => {
        if (this.error) return done(undefined, this.error);
        const value = check();
        if (value !== undefined) done(value);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#listeners.add(listener);
      listener();
    });
  }

  list(): PcscReaderInfo[] {
    return [...this.readers.values()].map(({ info }) => ({ ...info }));
  }

  close(): void {
    this.#listeners.clear();
    // Each reader owns a status thread and a uv handle; NFC.close() stops only the PnP thread.
    // The binding's close() waits, on the main thread, for the reader's lock, which a native
    // call holds until pcscd answers it: nfc-pcsc's own connect to a newly seen card, or a
    // transmit to a card that went mute, may wait for ever. Such a reader is closed when its
    // last call returns, never by blocking the rig.
    for (const { reader } of this.readers.values()) {
      const busy = this.#busy.get(reader);
      if (busy && busy.calls > 0) busy.idle = () => closeReader(reader);
      else closeReader(reader);
    }
    this.readers.clear();
    this.#nfc.close();
  }
}

function closeReader(reader: PcscReader): void {
  try {
    reader.close();
  } catch {
    // already closed (the reader went away)
  }
}

/** Counts the binding's calls in flight on one reader (each ends in its callback). */
function countNativeCalls(raw: PcscliteReader): { calls: number; idle?: () => void } {
  const busy: { calls: number; idle?: () => void } = { calls: 0 };
  const methods = raw as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['connect', 'disconnect', 'transmit', 'control']) {
    const original = methods[name];
    if (typeof original !== 'function') continue;
    methods[name] = (...args: unknown[]) => {
      const callback = args.at(-1);
      if (typeof callback !== 'function') return original.apply(raw, args);
      busy.calls++;
      args[args.length - 1] = (...result: unknown[]) => {
        busy.calls--;
        if (busy.calls === 0 && busy.idle) {
          const idle = busy.idle;
          busy.idle = undefined;
          setImmediate(idle);
        }
        return callback(...result);
      };
      return original.apply(raw, args);
    };
  }
  return busy;
}

async function openSession(connects: boolean): Promise<Session> {
  const Nfc = load();
  await requirePcscd();
  return new Session(Nfc, connects);
}

/** The PC/SC readers pcscd knows, with their card state, gathered for `timeoutMs`. */
export async function listReaders(opts: { timeoutMs?: number } = {}): Promise<PcscReaderInfo[]> {
  const session = await openSession(false);
  try {
    await session.waitFor(() => undefined, opts.timeoutMs ?? 1500);
    return session.list();
  } finally {
    session.close();
  }
}

export interface OpenPcscCardOptions {
  /** How long to wait for the reader and a card in it. */
  timeoutMs?: number;
  /** Default deadline of each transmit. */
  transmitTimeoutMs?: number;
  log?: TrafficLog;
  /** Which client exchanges the APDUs (default: pcscClient(), from CHIPRIG_PCSC_CLIENT). */
  client?: 'socket' | 'library';
}

/** Opens the card in the first reader whose name contains `readerSubstring` (case-insensitive). */
export async function openPcscCard(
  readerSubstring: string,
  opts: OpenPcscCardOptions = {},
): Promise<CardConnection> {
  if (typeof readerSubstring !== 'string') throw new TypeError('readerSubstring: expected a string');
  const timeoutMs = opts.timeoutMs ?? 5000;
  const wanted = readerSubstring.toLowerCase();
  const client = opts.client ?? pcscClient();
  const session = await openSession(client === 'library');
  let found: PcscReader | undefined;
  try {
    // nfc-pcsc sets reader.card when it sees a card, and reader.connection once it has
    // connected to it (SCARD_SHARE_SHARED), which only the library client waits for.
    found = await session.waitFor(() => {
      for (const { reader } of session.readers.values()) {
        if (!reader.name.toLowerCase().includes(wanted) || !reader.card) continue;
        if (client === 'socket' || reader.connection) return reader;
      }
      return undefined;
    }, timeoutMs);
  } catch (error) {
    session.close();
    throw error;
  }
  if (!found) {
    const seen = session.list();
    session.close();
    const readers = seen.length
      ? seen.map((r) => `"${r.name}" (${r.cardPresent ? 'card present' : 'no card'})`).join(', ')
      : 'none';
    throw new TransportError(
      'NOT_FOUND',
      `no card in a reader matching "${readerSubstring}" within ${timeoutMs} ms (readers seen: ${readers})`,
    );
  }
  const connectionOpts = {
    transmitTimeoutMs: opts.transmitTimeoutMs ?? 3000,
    log: opts.log,
    onClose: () => session.close(),
  };
  if (client === 'library') return new PcscCardConnection(found, connectionOpts);
  try {
    const timeout = Math.min(timeoutMs, connectionOpts.transmitTimeoutMs);
    const { pcscd, card } = await openSocketCard(found, timeout);
    return new PcscdCardConnection(found, pcscd, card, connectionOpts);
  } catch (error) {
    session.close();
    throw error;
  }
}

/**
 * Which client exchanges the APDUs: chiprig's own on pcscd's socket (the default), or
 * libpcsclite through nfc-pcsc (CHIPRIG_PCSC_CLIENT=library).
 */
export function pcscClient(): 'socket' | 'library' {
  const chosen = process.env.CHIPRIG_PCSC_CLIENT;
  if (chosen === 'library' || chosen === 'socket') return chosen;
  if (chosen)
    throw new TransportError(
      'UNAVAILABLE',
      `CHIPRIG_PCSC_CLIENT must be "socket" or "library", not "${chosen}"`,
    );
  return 'socket';
}

/** The card in `reader`, connected through chiprig's own pcscd session. */
async function openSocketCard(
  reader: PcscReader,
  timeoutMs: number,
): Promise<{ pcscd: PcscdClient; card: PcscdCard }> {
  const pcscd = await PcscdClient.open(PCSCD_SOCKET, timeoutMs);
  try {
    return { pcscd, card: await pcscd.connect(reader.name, timeoutMs) };
  } catch (error) {
    await pcscd.close(timeoutMs);
    throw error;
  }
}
