import { hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import type { ExchangeOptions, Transport, WireTiming } from '../transport.ts';
import { BleError } from './ble-error.ts';
import type { GattLink } from './connection.ts';
import {
  BLE_CMD,
  bleCmdName,
  fragment,
  MAX_CONTROL_POINT_LENGTH,
  MIN_CONTROL_POINT_LENGTH,
} from './fragments.ts';
import { UUID } from './gatt-uuids.ts';
import { NotificationQueue } from './notification-queue.ts';
import { type KeepaliveRecord, receiveResponse } from './receive-response.ts';
import { readRevisions, type U2fBleRevision } from './revisions.ts';

export type { KeepaliveRecord } from './receive-response.ts';

export interface BleTransportOptions {
  /** Default deadline of every call; each KEEPALIVE restarts it (BLE-KA-01). */
  timeoutMs?: number;
  log?: TrafficLog;
  /** Revision to select; default U2F 1.2 when the device offers it, else 1.1. */
  revision?: U2fBleRevision;
  /** Write the control point without response (BLE-GATT-05); default with response. */
  writeWithoutResponse?: boolean;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const FIDO = UUID.FIDO_SERVICE;
/** Quiet time on fidoStatus that ends a resynchronisation. */
const SETTLE_MS = 50;
const SETTLE_MAX_MS = 1000;

/**
 * FIDO BLE host side over any GattLink (noble or the in-process direct link). One call at a
 * time; concurrent calls queue. A bad fidoControlPointLength or revision bitfield does not
 * stop the link: it is recorded (`setupFindings`) for BLE-GATT-03 and BLE-VER-01 to judge,
 * and the link goes on as well as it can. Response rule breaks (BLE-FRAG-06) reject with
 * deviceFault; an ERROR frame rejects BleError; silence rejects TIMEOUT. U2F BLE
 * has no CANCEL (Chromium), so a timed-out request is abandoned and its late frames dropped
 * at the start of the next call.
 */
export class BleTransport implements Transport {
  readonly kind = 'ble' as const;
  readonly link: GattLink;
  readonly timeoutMs: number;
  readonly writeWithoutResponse: boolean;
  /**
   * The fragment size the rig writes: fidoControlPointLength as read at open, or, when that
   * reads outside 20..512 (BLE-GATT-03), the nearest bound (20 is what every device takes).
   */
  controlPointLength = MIN_CONTROL_POINT_LENGTH;
  /** fidoControlPointLength exactly as read at open. */
  controlPointLengthRead: Uint8Array = new Uint8Array(0);
  /**
   * What was wrong with the FIDO service at open and how the link went on anyway, e.g.
   * "fidoControlPointLength reads 000a (10) …". The cases that own each rule judge it.
   */
  readonly setupFindings: string[] = [];
  /** First byte of fidoServiceRevisionBitfield (0x80 U2F 1.1, 0x40 U2F 1.2); 0 when absent. */
  revisions = 0;
  revisionBitfield: Uint8Array = new Uint8Array(0);
  selectedRevision: U2fBleRevision | undefined;
  readonly #log: TrafficLog | undefined;
  readonly #queue = new NotificationQueue();
  #keepalives: KeepaliveRecord[] = [];
  #unsubscribe: (() => Promise<void>) | undefined;
  #offDisconnect: (() => void) | undefined;
  #closed = false;
  #dirty = false;
  #tail: Promise<unknown> = Promise.resolve();
  #wire: WireTiming | undefined;

  private constructor(link: GattLink, options: BleTransportOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new RangeError(`options.timeoutMs: must be > 0: ${timeoutMs}`);
    this.link = link;
    this.timeoutMs = timeoutMs;
    this.writeWithoutResponse = options.writeWithoutResponse ?? false;
    this.#log = options.log;
  }

  /** Reads the control point length and revisions, selects one, subscribes to fidoStatus. */
  static async open(link: GattLink, options: BleTransportOptions = {}): Promise<BleTransport> {
    if (typeof link?.subscribe !== 'function') throw new TypeError('link: not a GattLink');
    const transport = new BleTransport(link, options);
    try {
      await transport.#setUp(options.revision);
    } catch (error) {
      await transport.close().catch(() => undefined);
      throw error;
    }
    return transport;
  }

  async #setUp(revision: U2fBleRevision | undefined): Promise<void> {
    const cpl = await this.link.read(FIDO, UUID.CONTROL_POINT_LENGTH, { timeoutMs: this.timeoutMs });
    this.#log?.record('recv', 'ble', cpl, 'fidoControlPointLength');
    this.controlPointLengthRead = cpl;
    const value = cpl.length === 2 ? (cpl[0]! << 8) | cpl[1]! : -1;
    if (value < MIN_CONTROL_POINT_LENGTH || value > MAX_CONTROL_POINT_LENGTH) {
      // BLE-GATT-03 judges the value; the link goes on with fragments every device must take.
      this.controlPointLength =
        value > MAX_CONTROL_POINT_LENGTH ? MAX_CONTROL_POINT_LENGTH : MIN_CONTROL_POINT_LENGTH;
      this.#finding(
        `fidoControlPointLength reads ${hex(cpl) || '(nothing)'}${value >= 0 ? ` (${value})` : ''}, not a big-endian u16 in ${MIN_CONTROL_POINT_LENGTH}..${MAX_CONTROL_POINT_LENGTH} (BLE-GATT-03): the rig writes fragments of at most ${this.controlPointLength} bytes`,
      );
    } else this.controlPointLength = value;
    const selected = await readRevisions(this.link, revision, this.timeoutMs, this.#log);
    this.revisionBitfield = selected.bitfield;
    this.revisions = selected.bitfield[0] ?? 0;
    this.selectedRevision = selected.revision;
    if (selected.finding) this.#finding(selected.finding);
    this.#offDisconnect = this.link.onDisconnect((reason) =>
      this.#queue.fail(new TransportError('DISCONNECTED', `BLE link lost: ${reason}`)),
    );
    this.#unsubscribe = await this.link.subscribe(FIDO, UUID.STATUS, (data) => this.#queue.push(data), {
      timeoutMs: this.timeoutMs,
    });
  }

  #finding(text: string): void {
    this.setupFindings.push(text);
    this.#log?.note('ble', text);
  }

  /** KEEPALIVEs of the last exchange, in order (BLE-KA-01 cadence). */
  get keepalives(): readonly KeepaliveRecord[] {
    return this.#keepalives;
  }

  /** Transport.wire: the last exchange's first fragment written and last notification taken. */
  get wire(): WireTiming | undefined {
    return this.#wire;
  }

  /** One U2F raw message in FIDO BLE MSG (0x83). */
  exchange(apdu: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    if (!(apdu instanceof Uint8Array)) return Promise.reject(new TypeError('apdu: must be a Uint8Array'));
    return this.call(BLE_CMD.MSG, apdu, opts);
  }

  /** PING (0x81); resolves with the echo (BLE-PING-01..03). */
  ping(data: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('data: must be a Uint8Array'));
    return this.call(BLE_CMD.PING, data, opts);
  }

  /** Any command; resolves with the response payload. ERROR frames reject BleError. */
  call(cmd: number, payload: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array> {
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`opts.timeoutMs: must be > 0: ${timeoutMs}`));
    let frames: Uint8Array[];
    try {
      frames = fragment(cmd, payload, this.controlPointLength); // RangeError naming the bad input
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue(() =>
      this.#transact(cmd, payload, frames, timeoutMs, opts?.signal, opts?.onKeepalive),
    );
  }

  /** Writes one frame exactly as given (malformed-frame suites, BLE-FRAG-01..04, BLE-CMD-01). */
  sendRaw(frame: Uint8Array, opts?: { withoutResponse?: boolean }): Promise<void> {
    if (!(frame instanceof Uint8Array)) return Promise.reject(new TypeError('frame: must be a Uint8Array'));
    return this.#enqueue(() => this.#write(frame, opts?.withoutResponse ?? this.writeWithoutResponse));
  }

  /** The next fidoStatus notification as it arrived, or undefined after `timeoutMs`. */
  nextNotification(timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (!(timeoutMs >= 0)) return Promise.reject(new RangeError(`timeoutMs: must be >= 0: ${timeoutMs}`));
    return this.#enqueue(async () => {
      const frame = await this.#queue.next(timeoutMs, signal);
      if (frame) this.#log?.record('recv', 'ble', frame);
      return frame;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.fail(new TransportError('DISCONNECTED', 'BLE transport: closed'));
    this.#offDisconnect?.();
    await this.#unsubscribe?.().catch(() => undefined); // the link may already be gone
    await this.link.close();
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#closed) throw new TransportError('DISCONNECTED', 'BLE transport: closed');
      return task();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #transact(
    cmd: number,
    payload: Uint8Array,
    frames: Uint8Array[],
    timeoutMs: number,
    signal?: AbortSignal,
    onKeepalive?: (code: number) => void,
  ) {
    if (signal?.aborted) throw new TransportError('CANCELLED', 'FIDO BLE call cancelled');
    await this.#settle(signal);
    this.#keepalives = [];
    const note = cmd === BLE_CMD.MSG ? undefined : bleCmdName(cmd);
    this.#log?.record('send', 'apdu', payload, note);
    try {
      this.#wire = undefined;
      const sentAt = performance.now();
      for (const frame of frames) await this.#write(frame, this.writeWithoutResponse);
      const received = { at: 0 };
      const answer = await receiveResponse(this.#queue, cmd, {
        received,
        controlPointLength: this.controlPointLength,
        timeoutMs,
        signal,
        log: this.#log,
        keepalives: this.#keepalives,
        onKeepalive,
      });
      this.#wire = { sentAt, receivedAt: received.at };
      this.#log?.record('recv', 'apdu', answer, note);
      return answer;
    } catch (error) {
      if (!(error instanceof BleError)) this.#dirty = true; // an ERROR frame ends the exchange cleanly
      throw error;
    }
  }

  /**
   * BLE has no channel to re-INIT: after a timeout, cancel or fault the rest of the old
   * answer may still be on its way, so drop frames until fidoStatus has been quiet a moment.
   */
  async #settle(signal: AbortSignal | undefined): Promise<void> {
    const drop = (frame: Uint8Array) => this.#log?.record('recv', 'ble', frame, 'stale, dropped');
    this.#queue.drain().forEach(drop);
    if (!this.#dirty) return;
    this.#dirty = false;
    // Bounded: a device still sending keepalives for the abandoned request must not stall us.
    const until = performance.now() + SETTLE_MAX_MS;
    while (performance.now() < until) {
      const frame = await this.#queue.next(SETTLE_MS, signal);
      if (frame === undefined) return;
      drop(frame);
    }
  }

  #write(frame: Uint8Array, withoutResponse: boolean): Promise<void> {
    this.#log?.record('send', 'ble', frame, withoutResponse ? 'write without response' : undefined);
    return this.link.write(FIDO, UUID.CONTROL_POINT, frame, { timeoutMs: this.timeoutMs, withoutResponse });
  }
}
