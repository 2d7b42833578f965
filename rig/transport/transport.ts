import type { TransportKind } from './kinds.ts';

export { TRANSPORT_NAMES, type TransportKind } from './kinds.ts';

/**
 * The Transport seam: one U2F raw message (extended-encoded APDU) in, one response out.
 *
 * Contract:
 * - `exchange` resolves with the device's whole response (data followed by SW1 SW2).
 * - Every exchange has a deadline: `timeoutMs` or the transport's default. On expiry it
 *   rejects with TransportError('TIMEOUT') and leaves the link usable for the next call
 *   (a HID transport, for example, abandons the transaction and resynchronises).
 * - An aborted `signal` rejects with TransportError('CANCELLED').
 * - A device that goes away rejects with TransportError('DISCONNECTED').
 * - A device that breaks the framing rules rejects with an AssertionError (device failure).
 * - `close` is idempotent; after it every call rejects with TransportError('DISCONNECTED').
 */
export interface Transport {
  readonly kind: TransportKind;
  exchange(apdu: Uint8Array, opts?: ExchangeOptions): Promise<Uint8Array>;
  close(): Promise<void>;
  /**
   * Wire times of the last exchange that completed: when its first report, APDU or fragment
   * was handed to the link and when the last piece of its answer came off it
   * (performance.now() time base). Device time is their difference: the rig's own framing,
   * logging and parsing, on either side, stay out of it. Absent on transports that cannot
   * tell; callers then time around the call.
   */
  readonly wire?: WireTiming | undefined;
}

export interface WireTiming {
  sentAt: number;
  receivedAt: number;
  /**
   * Time on the link alone where the exchange is several round trips with host work between
   * them (NFC: SELECT, chained blocks, GET RESPONSE, each a C-APDU → R-APDU): their sum.
   */
  linkMs?: number;
}

/**
 * Device time of an exchange the caller ran from `startedAt` to `endedAt` (performance.now()):
 * the transport's wire times when they fall inside that call, else the time around the call.
 */
export function deviceTimeMs(transport: Transport, startedAt: number, endedAt: number): number {
  const w = transport.wire;
  if (w && w.sentAt >= startedAt && w.receivedAt >= w.sentAt && w.receivedAt <= endedAt) {
    return w.linkMs ?? w.receivedAt - w.sentAt;
  }
  return endedAt - startedAt;
}

export interface ExchangeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * Called for each keepalive the device sends while it works or waits (FIDO BLE
   * KEEPALIVE: 1 processing, 2 user presence needed), so the caller can give presence.
   */
  onKeepalive?: (code: number) => void;
}
