/**
 * An in-process contactless reader holding a VirtualCard: the CardConnection the emulated
 * station hands to NfcTransport. It adds what the link does to a card: the field (tap,
 * removal, power cycle), a per-transmit deadline and, for tests, a processing delay so a
 * card can be taken away while an APDU is in flight.
 */
import { TransportError } from '../../errors.ts';
import type { CardConnection, VirtualCard } from '../../transport/nfc/connection.ts';
import { classifyApdu } from '../timing/link-model.ts';
import type { NfcPacer } from '../timing/pacers.ts';

export interface EmulatedCardConnectionOptions {
  /** Default 'chiprig emulated reader'. */
  reader?: string;
  /** Default deadline of each transmit; default 3000 ms. */
  timeoutMs?: number;
  /** Time the card "takes" per C-APDU; default 0. Settable later through `delayMs`. */
  delayMs?: number;
  /** ISO 14443 link timing (bit rate, FWT, processing); absent: answers at once. */
  pacer?: NfcPacer;
}

interface InFlight {
  reject(error: TransportError): void;
}

/**
 * Contract as CardConnection: `remove()` (card out of the field) and `powerCycle()` reject
 * every transmit in flight with DISCONNECTED; transmits while removed reject at once.
 */
export class EmulatedCardConnection implements CardConnection {
  readonly reader: string;
  readonly extendedApdus = true;
  readonly card: VirtualCard;
  readonly timeoutMs: number;
  /** Milliseconds each transmit waits before the card processes it (0: next microtask). */
  delayMs: number;
  readonly #pacer: NfcPacer | undefined;
  readonly #inFlight = new Set<InFlight>();
  #present = false;
  #closed = false;
  #transmits = 0;

  /** The card is tapped (powered) at construction. */
  constructor(card: VirtualCard, options: EmulatedCardConnectionOptions = {}) {
    if (typeof card?.process !== 'function') throw new TypeError('card: not a VirtualCard');
    const timeoutMs = options.timeoutMs ?? 3000;
    if (!(timeoutMs > 0)) throw new RangeError(`options.timeoutMs: must be > 0: ${timeoutMs}`);
    const delayMs = options.delayMs ?? 0;
    if (!(delayMs >= 0)) throw new RangeError(`options.delayMs: must be >= 0: ${delayMs}`);
    this.card = card;
    this.reader = options.reader ?? 'chiprig emulated reader';
    this.timeoutMs = timeoutMs;
    this.delayMs = delayMs;
    this.#pacer = options.pacer;
    this.tap();
  }

  get atr(): Uint8Array {
    return this.card.atr;
  }
  get present(): boolean {
    return this.#present;
  }
  /** C-APDUs the card has received (answered or in flight). */
  get transmits(): number {
    return this.#transmits;
  }

  /** Every transmit ends by itself: at once, or at its own timer (a delay, a mute card, a pacer). */
  readonly enforcesDeadline = true;

  transmit(apdu: Uint8Array, opts?: { timeoutMs?: number }): Promise<Uint8Array> {
    if (!(apdu instanceof Uint8Array)) return Promise.reject(new TypeError('apdu: must be a Uint8Array'));
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`opts.timeoutMs: must be > 0: ${timeoutMs}`));
    const gone = this.#gone();
    if (gone) return Promise.reject(gone);
    this.#transmits++;
    const command = new Uint8Array(apdu); // the host may reuse its buffer
    if (this.#pacer) return this.#paced(command, timeoutMs);
    if (this.delayMs === 0) {
      // No processing time modelled: answer on the next microtask, with no timers (a
      // setTimeout(0) costs ~1 ms and would dominate every in-process NFC latency figure).
      return Promise.resolve().then(() => {
        const lost = this.#gone();
        if (lost) throw lost;
        const answer = this.card.process(command);
        return answer.length === 0 ? this.#mute(timeoutMs) : answer;
      });
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const entry: InFlight = { reject: (error) => settle(() => reject(error)) };
      const settle = (finish: () => void) => {
        if (!this.#inFlight.delete(entry)) return;
        clearTimeout(deadline);
        clearTimeout(work);
        finish();
      };
      const deadline = setTimeout(
        () => entry.reject(new TransportError('TIMEOUT', `${this.reader}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const work = setTimeout(
        () =>
          settle(() => {
            const answer = this.card.process(command);
            resolve(answer.length === 0 ? this.#mute(timeoutMs) : answer);
          }),
        this.delayMs,
      );
      this.#inFlight.add(entry);
    });
  }

  /** A mute card: nothing comes back; the transmit times out as a reader's would. */
  #mute(timeoutMs: number): Promise<Uint8Array> {
    return new Promise((_, reject) =>
      setTimeout(
        () => reject(new TransportError('TIMEOUT', `${this.reader}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      ),
    );
  }

  /**
   * On a timed link the card works the command out at once; the answer is handed over when
   * the model says its last block arrived. Leaving the field meanwhile loses it.
   */
  #paced(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const pacer = this.#pacer!;
    const sentAt = performance.now();
    let response: Uint8Array;
    try {
      response = this.card.process(command);
    } catch (error) {
      return Promise.reject(error);
    }
    if (response.length === 0) return this.#mute(timeoutMs);
    const at = pacer.answerAt(sentAt, command, response, classifyApdu(command));
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const entry: InFlight = {
        reject: (error) => {
          if (done) return;
          done = true;
          this.#inFlight.delete(entry);
          reject(error);
        },
      };
      this.#inFlight.add(entry);
      if (at - sentAt > timeoutMs) {
        const late = new TransportError('TIMEOUT', `${this.reader}: no answer within ${timeoutMs} ms`);
        pacer.at(sentAt + timeoutMs, () => entry.reject(late));
        return;
      }
      pacer.at(at, () => {
        if (done) return;
        done = true;
        this.#inFlight.delete(entry);
        resolve(response);
      });
    });
  }

  /** Field off and on: the card resets and must be SELECTed again. */
  async powerCycle(): Promise<void> {
    const gone = this.#gone();
    if (gone) throw gone;
    this.#dropInFlight('the field was turned off');
    this.card.powerOff();
    this.card.powerOn();
  }

  /** Takes the card out of the field: it loses power; transmits reject DISCONNECTED. */
  remove(): void {
    if (!this.#present) return;
    this.#present = false;
    this.#dropInFlight('the card left the field');
    this.card.powerOff();
  }

  /** Brings the card (back) into the field: it powers up in its reset state. */
  tap(): void {
    if (this.#closed) throw new TransportError('DISCONNECTED', `${this.reader}: closed`);
    if (this.#present) return;
    this.#present = true;
    this.card.powerOn();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.remove();
    this.#closed = true;
  }

  #gone(): TransportError | undefined {
    if (this.#closed) return new TransportError('DISCONNECTED', `${this.reader}: closed`);
    if (!this.#present) return new TransportError('DISCONNECTED', `${this.reader}: no card in the field`);
    return undefined;
  }

  #dropInFlight(why: string): void {
    for (const entry of [...this.#inFlight]) {
      entry.reject(new TransportError('DISCONNECTED', `${this.reader}: ${why}`));
    }
  }
}
