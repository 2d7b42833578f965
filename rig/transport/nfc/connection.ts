/**
 * The card seam: one C-APDU to a contactless card, one R-APDU back. Implemented by the
 * nfc-pcsc adapter (a PC/SC reader through pcscd) and by the emulator's in-process card.
 *
 * Contract:
 * - `transmit` sends exactly the bytes given (no GET RESPONSE, no chaining: that is the
 *   NfcTransport's job) and resolves with the card's answer, data followed by SW1 SW2.
 * - Every transmit has a deadline (`timeoutMs` or the connection's default); on expiry it
 *   rejects TransportError('TIMEOUT').
 * - A card taken out of the field, or a reader that goes away, rejects pending and later
 *   calls with TransportError('DISCONNECTED').
 * - `powerCycle` turns the field off and on (PC/SC: reconnect with SCARD_UNPOWER_CARD); the
 *   card resets and must be SELECTed again.
 * - `close` is idempotent.
 */
export interface CardConnection {
  /** The reader's name, e.g. "Virtual PCD 00 00" or "ACS ACR122U PICC Interface 00 00". */
  readonly reader: string;
  readonly atr: Uint8Array;
  /** Whether the reader carries extended-length APDUs; undefined when unknown. */
  readonly extendedApdus?: boolean;
  transmit(apdu: Uint8Array, opts?: { timeoutMs?: number }): Promise<Uint8Array>;
  /**
   * True when the connection's deadline cannot be missed (a JavaScript timer of its own, not
   * the reader driver's): the transport then adds no timer of its own to each APDU.
   */
  readonly enforcesDeadline?: boolean;
  powerCycle?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The card side of the seam: what a contactless chip does with the field and with
 * C-APDUs. The emulator's NFC front-end implements it; it is served in process (behind a
 * CardConnection) or to pcscd through vpcd.
 */
export interface VirtualCard {
  readonly atr: Uint8Array;
  /** Field on: the card powers up in its reset state. */
  powerOn(): void;
  /** Field off: the card loses power (volatile state is lost). */
  powerOff(): void;
  /** Warm reset. */
  reset(): void;
  /**
   * One C-APDU in, one R-APDU out. Never throws for card-side input. An empty answer means
   * the card stays mute (a crashed or looping chip): the reader gets nothing and times out.
   */
  process(apdu: Uint8Array): Uint8Array;
}

/**
 * A card connection whose card the rig itself can take out of the field and tap back (the
 * emulated in-process reader; a lab robot could offer the same), with a per-APDU delay so
 * a removal can land mid-APDU.
 */
export interface MovableCard {
  remove(): void;
  tap(): void;
  delayMs: number;
}

export const isMovableCard = (c: unknown): c is MovableCard =>
  typeof (c as MovableCard | undefined)?.remove === 'function' &&
  typeof (c as MovableCard).tap === 'function' &&
  'delayMs' in (c as object);
