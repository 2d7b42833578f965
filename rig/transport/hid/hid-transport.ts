import { equal, hex, readU32be } from '../../bytes.ts';
import { CtapHidError, deviceFault, ReplayDivergedError, TransportError } from '../../errors.ts';
import { hostRandomBytes } from '../../random.ts';
import type { TrafficLog } from '../../traffic.ts';
import type { ExchangeOptions, Transport, WireTiming } from '../transport.ts';
import type { HidConnection } from './connection.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  cmdName,
  ERR,
  errName,
  fragment,
  INIT_NONCE_SIZE,
  INIT_RESPONSE_SIZE,
  type InitPacket,
  initPacket,
  isContReport,
  MAX_MESSAGE,
  MessageAssembler,
  parsePacket,
  REPORT_SIZE,
  reportCid,
} from './framing.ts';

export interface HidTransportOptions {
  /** Default deadline of every call; 3000 ms is the U2F HID transaction timeout (§1.2). */
  timeoutMs?: number;
  log?: TrafficLog;
}

export interface HidDeviceVersion {
  protocol: number;
  major: number;
  minor: number;
  build: number;
}

export type CallOptions = ExchangeOptions;

export const DEFAULT_TRANSACTION_TIMEOUT_MS = 3000;

const now = () => performance.now();
/** How long the liveness probe after a silent transaction waits for its INIT answer. */
const PROBE_MS = 1000;
const BUSY = Symbol('busy');

/**
 * CTAPHID host side over any HidConnection (node-hid or the emulator's front-end).
 * One transaction at a time; concurrent calls queue. After a timeout, cancellation or a
 * framing fault the next call first re-INITs the channel, so stale reports are skipped.
 */
export class HidTransport implements Transport {
  readonly kind = 'hid' as const;
  readonly connection: HidConnection;
  readonly timeoutMs: number;
  readonly #log: TrafficLog | undefined;
  #cid = BROADCAST_CID;
  #initResponse: Uint8Array = new Uint8Array(INIT_RESPONSE_SIZE);
  #needsResync = false;
  #closed = false;
  #running = false;
  readonly #waiting: Array<() => void> = [];
  readonly #assembler = new MessageAssembler();
  /** A read the connection still owes us (left over from an aborted call); reused, never lost. */
  #inflight: Promise<Uint8Array | undefined> | undefined;
  /** When the last report went to the connection and the last one came from it. */
  #lastOut = 0;
  #lastIn = 0;
  #wireSent = 0;
  #wireReceived = 0;
  #wire = false;

  private constructor(connection: HidConnection, options: HidTransportOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TRANSACTION_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new RangeError(`options.timeoutMs: must be > 0: ${timeoutMs}`);
    this.connection = connection;
    this.timeoutMs = timeoutMs;
    this.#log = options.log;
  }

  /** Allocates a channel with INIT on the broadcast CID (HID-INIT-01). */
  static async open(connection: HidConnection, options: HidTransportOptions = {}): Promise<HidTransport> {
    if (typeof connection?.write !== 'function') throw new TypeError('connection: not a HidConnection');
    const transport = new HidTransport(connection, options);
    await transport.#init(BROADCAST_CID, now() + transport.timeoutMs, undefined);
    return transport;
  }

  get cid(): number {
    return this.#cid;
  }
  /** The raw 17-byte INIT response of the last (re)synchronisation. */
  get initResponse(): Uint8Array {
    return this.#initResponse;
  }
  get capabilities(): number {
    return this.#initResponse[16]!;
  }
  get deviceVersion(): HidDeviceVersion {
    const r = this.#initResponse;
    return { protocol: r[12]!, major: r[13]!, minor: r[14]!, build: r[15]! };
  }

  /** Transport.wire: the last completed transaction's first report out and last report in. */
  get wire(): WireTiming | undefined {
    return this.#wire ? { sentAt: this.#wireSent, receivedAt: this.#wireReceived } : undefined;
  }

  /**
   * One U2F raw message in CTAPHID MSG (0x83). A U2F device answers every message it can
   * parse with a status word: a CTAPHID ERROR instead (other than those a host or its link
   * may cause: busy, a channel the device forgot, a message that arrived too slowly) is the
   * device's failure, with the message and the frame shown.
   */
  exchange(apdu: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    if (!(apdu instanceof Uint8Array)) return Promise.reject(new TypeError('apdu: must be a Uint8Array'));
    return this.call(CTAPHID.MSG, apdu, opts).catch((error: unknown) => {
      throw apdu.length > 0 ? msgRefused(apdu, error, this.#cid) : error;
    });
  }

  ping(data: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return this.call(CTAPHID.PING, data, opts);
  }

  async wink(opts?: CallOptions): Promise<void> {
    await this.call(CTAPHID.WINK, new Uint8Array(0), opts);
  }

  /** LOCK for `seconds` (0 releases). Values above 10 are sent as given so suites can probe HID-LOCK-04. */
  async lock(seconds: number, opts?: CallOptions): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xff) {
      throw new RangeError(`seconds: must be an integer 0..255: ${seconds}`);
    }
    await this.call(CTAPHID.LOCK, Uint8Array.of(seconds), opts);
  }

  /** Any command; resolves with the response payload. ERROR frames reject CtapHidError. */
  call(cmd: number, payload: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new TransportError('DISCONNECTED', 'HID transport: closed'));
    if (!Number.isInteger(cmd) || cmd < 0x80 || cmd > 0xff || cmd === CTAPHID.INIT) {
      return Promise.reject(new RangeError(`cmd: must be 0x80..0xff and not INIT: ${cmd}`));
    }
    if (!(payload instanceof Uint8Array) || payload.length > MAX_MESSAGE) {
      return Promise.reject(new RangeError(`payload: must be a Uint8Array of at most ${MAX_MESSAGE} bytes`));
    }
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`opts.timeoutMs: must be > 0: ${timeoutMs}`));
    if (!this.#running) return this.#run(cmd, payload, timeoutMs, opts?.signal);
    return new Promise((resolve, reject) => {
      this.#waiting.push(() => this.#run(cmd, payload, timeoutMs, opts?.signal).then(resolve, reject));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const next of this.#waiting.splice(0)) next(); // each rejects DISCONNECTED in #run
    await this.connection.close();
  }

  /**
   * One transaction, from the head of the queue: frames the request, writes its reports and
   * reassembles the answer. After a timeout, cancellation or framing fault the next call
   * resynchronises first; an ERROR frame ends the transaction cleanly.
   */
  async #run(cmd: number, payload: Uint8Array, timeoutMs: number, signal: AbortSignal | undefined) {
    this.#running = true;
    this.#wire = false;
    try {
      if (this.#closed) throw new TransportError('DISCONNECTED', 'HID transport: closed');
      const deadline = { at: now() + timeoutMs };
      try {
        if (signal?.aborted) throw cancelled();
        if (this.#needsResync) await this.#resync(deadline.at, signal);
        this.#log?.record('send', 'apdu', payload, cmd === CTAPHID.MSG ? undefined : cmdName(cmd));
        const reports = fragment(this.#cid, cmd, payload);
        for (;;) {
          let sentAt = 0;
          for (let i = 0; i < reports.length; i++) {
            await this.#write(reports[i]!);
            if (i === 0) sentAt = this.#lastOut;
          }
          const answer = await this.#receive(cmd, deadline, timeoutMs, signal);
          if (answer !== BUSY) {
            this.#wireSent = sentAt;
            this.#wireReceived = this.#lastIn;
            this.#wire = true;
            this.#log?.record('recv', 'apdu', answer, cmd === CTAPHID.MSG ? undefined : cmdName(cmd));
            return answer;
          }
          // ERR_CHANNEL_BUSY: another host owns the device or holds a LOCK; retry until the deadline.
          await sleep(20 + Math.random() * 30, signal);
          if (now() >= deadline.at) throw timeout(cmd, timeoutMs, 'the device stayed busy');
        }
      } catch (error) {
        // An ERROR frame ends cleanly; so does a replay's refusal (nothing was sent).
        if (!(error instanceof CtapHidError || error instanceof ReplayDivergedError))
          this.#needsResync = true;
        const silence = this.#silence;
        if (silence !== undefined && error === silence) {
          // Alive, yet no reply: the device dropped it. A dead link would not answer INIT.
          if (await this.#answersInit()) {
            throw deviceFault(
              `${silence.message}, though the device answers INIT on its channel: it dropped its reply (HID-RSP-01)`,
            );
          }
          throw new TransportError(
            'TIMEOUT',
            `${silence.message}, and no answer to INIT within ${PROBE_MS} ms either: the device or its link is gone`,
            { cause: silence },
          );
        }
        throw error;
      }
    } finally {
      this.#running = false;
      this.#waiting.shift()?.();
    }
  }

  async #receive(cmd: number, deadline: { at: number }, timeoutMs: number, signal: AbortSignal | undefined) {
    const assembler = this.#assembler; // one transaction at a time, so one reassembler will do
    assembler.reset();
    for (;;) {
      const report = this.#readQueued(deadline.at, signal) ?? (await this.#read(deadline.at, signal));
      if (report === undefined) {
        this.#silence = timeout(cmd, timeoutMs);
        throw this.#silence;
      }
      if (reportCid(report) !== this.#cid) continue; // another host's channel
      if (isContReport(report)) {
        // Read in place, without a packet object (most reports of a long answer are CONTs).
        const seq = report[4]!;
        const status = assembler.addReport(report);
        if (status === 'not-open') throw deviceFault(`CONT (SEQ ${seq}) before any init packet`);
        if (status === 'bad-seq') {
          throw deviceFault('response CONT out of sequence (HID-MSG-02)', { actual: seq });
        }
        if (status === 'complete') return assembler.take();
        continue;
      }
      const packet = parsePacket(report) as InitPacket; // a 64-byte report that is not a CONT
      if (packet.cmd === CTAPHID.KEEPALIVE) {
        deadline.at = Math.max(deadline.at, now() + timeoutMs); // the device is still working
        continue;
      }
      if (assembler.open)
        throw deviceFault(`init packet ${cmdName(packet.cmd)} inside a ${cmdName(cmd)} response`);
      if (packet.cmd === CTAPHID.ERROR) {
        if (packet.bcnt !== 1)
          throw deviceFault('ERROR payload must be exactly 1 byte (HID-RSP-01)', {
            actual: packet.bcnt,
            expected: 1,
          });
        const code = packet.data[0]!;
        if (code === ERR.CHANNEL_BUSY) return BUSY;
        throw new CtapHidError(code, `device answered ${cmdName(cmd)} with ${errName(code)}`);
      }
      if (packet.cmd !== cmd) {
        throw deviceFault(`response command ${cmdName(packet.cmd)} to ${cmdName(cmd)} (HID-RSP-01)`, {
          actual: packet.cmd,
          expected: cmd,
        });
      }
      const status = assembler.start(packet);
      if (status === 'too-long') throw deviceFault(`response BCNT ${packet.bcnt} exceeds ${MAX_MESSAGE}`);
      if (status === 'complete') return assembler.take();
    }
  }

  /** The timeout of a transaction that got no reply at all (not busy, not cancelled). */
  #silence: TransportError | undefined;

  /**
   * After silence, whether the device is there at all: an INIT on our channel (a resync,
   * which the next call would do anyway) answered within PROBE_MS.
   */
  async #answersInit(): Promise<boolean> {
    this.#silence = undefined;
    try {
      await this.#resync(now() + PROBE_MS, undefined);
      return true;
    } catch {
      return false;
    }
  }

  /** After a timeout or cancel the device may still send stale reports: INIT skips past them. */
  async #resync(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#init(this.#cid, deadline, signal);
    } catch (error) {
      // A strict device that forgot the channel (power cycle): allocate a new one.
      if (!(error instanceof CtapHidError && error.errorCode === ERR.INVALID_CID)) throw error;
      await this.#init(BROADCAST_CID, deadline, signal);
    }
    this.#needsResync = false;
  }

  /** INIT on `onCid`, skipping every report that is not the answer (other CID, command or nonce). */
  async #init(onCid: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const nonce = hostRandomBytes(INIT_NONCE_SIZE);
    const request = initPacket(onCid, CTAPHID.INIT, INIT_NONCE_SIZE, nonce);
    this.#log?.record('send', 'apdu', nonce, 'INIT');
    await this.#write(request);
    /** The first INIT answer on our CID that did not echo our nonce (another host's, or a bad one). */
    let foreign: Uint8Array | undefined;
    for (;;) {
      const report = await this.#read(deadline, signal);
      if (report === undefined) {
        // Answers came, none with our nonce: the device answers INIT, wrongly (HID-INIT-01).
        if (foreign) throw nonceNotEchoed(onCid, nonce, foreign, this.timeoutMs);
        throw timeout(CTAPHID.INIT, this.timeoutMs);
      }
      const packet = parsePacket(report);
      if (packet.kind !== 'init' || packet.cid !== onCid) continue;
      if (packet.cmd === CTAPHID.ERROR) {
        const code = packet.data[0] ?? ERR.OTHER;
        // Stale errors of an abandoned transaction may precede the answer on our own CID.
        if (onCid === BROADCAST_CID || code === ERR.INVALID_CID)
          throw new CtapHidError(code, `INIT: ${errName(code)}`);
        if (code === ERR.CHANNEL_BUSY) {
          await sleep(20 + Math.random() * 30, signal);
          await this.#write(request);
        }
        continue;
      }
      if (packet.cmd !== CTAPHID.INIT) continue;
      if (packet.bcnt < INIT_RESPONSE_SIZE || packet.data.length < INIT_RESPONSE_SIZE) {
        throw deviceFault(`INIT response of ${packet.bcnt} bytes, expected ${INIT_RESPONSE_SIZE}`);
      }
      if (!equal(packet.data.subarray(0, INIT_NONCE_SIZE), nonce)) {
        foreign ??= report; // someone else's INIT, unless no answer with ours ever comes
        continue;
      }
      const response = packet.data.slice(0, INIT_RESPONSE_SIZE);
      const cid = readU32be(response, 8);
      if (cid === 0 || cid === BROADCAST_CID)
        throw deviceFault(`INIT assigned reserved CID ${cid.toString(16)}`);
      this.#log?.record('recv', 'apdu', response, 'INIT');
      this.#cid = cid;
      this.#initResponse = response;
      return;
    }
  }

  #write(report: Uint8Array): Promise<void> {
    this.#log?.record('send', 'hid', report);
    this.#lastOut = now();
    return this.connection.write(report);
  }

  /** Next report or undefined at the deadline. Abort rejects at once; the read stays owed. */
  async #read(deadline: number, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    const remaining = deadline - now();
    if (remaining <= 0) return undefined;
    let pending = this.#inflight;
    if (pending === undefined) {
      pending = this.connection.read(Math.ceil(remaining));
      this.#inflight = pending;
    }
    let report: Uint8Array | undefined;
    try {
      report = signal === undefined ? await pending : await abortable(pending, signal);
    } catch (error) {
      if (!(error instanceof TransportError && error.code === 'CANCELLED')) this.#inflight = undefined;
      throw error;
    }
    this.#inflight = undefined;
    if (report === undefined) return this.#read(deadline, signal); // an older, shorter read ran out
    return this.#received(report);
  }

  /**
   * What #read would resolve with at once, without the promise round: a report the
   * connection already holds (HidConnection.readQueued). Undefined when it cannot tell
   * synchronously (no readQueued, a read still owed, the deadline passed, an aborted
   * signal) or nothing is queued; #read then decides, exactly as before.
   */
  #readQueued(deadline: number, signal: AbortSignal | undefined): Uint8Array | undefined {
    if (this.#inflight !== undefined || this.connection.readQueued === undefined) return undefined;
    if (signal?.aborted || deadline - now() <= 0) return undefined;
    const report = this.connection.readQueued();
    return report === undefined ? undefined : this.#received(report);
  }

  /** Logs one input report and checks its size. */
  #received(report: Uint8Array): Uint8Array {
    this.#lastIn = now();
    this.#log?.record('recv', 'hid', report);
    if (report.length !== REPORT_SIZE) {
      throw new TransportError(
        'FRAMING',
        `HID input report of ${report.length} bytes, expected ${REPORT_SIZE}`,
      );
    }
    return report;
  }
}

/** CTAPHID errors a host or its link can cause: they stay link faults even on a MSG. */
const LINK_ERRORS: readonly number[] = [ERR.CHANNEL_BUSY, ERR.INVALID_CID, ERR.MSG_TIMEOUT];

/** A well-formed U2F message answered with a CTAPHID ERROR: a device failure showing both. */
function msgRefused(apdu: Uint8Array, error: unknown, cid: number): unknown {
  if (!(error instanceof CtapHidError) || LINK_ERRORS.includes(error.errorCode)) return error;
  const shown = apdu.length > 24 ? `${hex(apdu.subarray(0, 24))}…(${apdu.length} bytes)` : hex(apdu);
  const code = error.errorCode.toString(16).padStart(2, '0');
  const frame = `${cid.toString(16).padStart(8, '0')} bf 0001 ${code}`;
  return deviceFault(
    `the device answered the U2F message ${shown} with CTAPHID ${errName(error.errorCode)} (${frame}) instead of a status word`,
    { actual: `ERROR ${errName(error.errorCode)}`, expected: 'a MSG answer ending in a status word' },
  );
}

/** Only INIT answers with another nonce came: a device failure showing the bytes. */
function nonceNotEchoed(cid: number, nonce: Uint8Array, answer: Uint8Array, timeoutMs: number) {
  const h = (n: number) => n.toString(16).padStart(8, '0');
  const frame = `${hex(answer.subarray(0, 4))} ${hex(answer.subarray(4, 7))} ${hex(answer.subarray(7, 24))}`;
  return deviceFault(
    `CTAPHID INIT on ${h(cid)}: the device answered with nonce ${hex(answer.subarray(7, 15))} instead of the nonce sent, ${hex(nonce)} (answer ${frame}), and no answer echoed it within ${timeoutMs} ms (HID-INIT-01)`,
    { actual: hex(answer.subarray(7, 15)), expected: hex(nonce) },
  );
}

function cancelled(): TransportError {
  return new TransportError('CANCELLED', 'HID transaction cancelled');
}

function timeout(cmd: number, timeoutMs: number, why = 'no response'): TransportError {
  return new TransportError('TIMEOUT', `CTAPHID ${cmdName(cmd)}: ${why} within ${timeoutMs} ms`);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return abortable(
    new Promise<void>((resolve) => setTimeout(resolve, ms)),
    signal ?? new AbortController().signal,
  );
}
