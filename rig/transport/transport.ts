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
}

export type TransportKind = 'hid' | 'nfc' | 'ble';

export interface ExchangeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * Called for each keepalive the device sends while it works or waits (FIDO BLE
   * KEEPALIVE: 1 processing, 2 user presence needed), so the caller can give presence.
   */
  onKeepalive?: (code: number) => void;
}
