/**
 * The emulated links' pacers: they hold each report, block or PDU back by what the link
 * model (link-model.ts) says, on the shared precise clock. Times are kept as the model's
 * schedule, not as when a callback happened to run, so clock jitter never accumulates.
 * The chip's processing time counts from the moment the last piece of a request reached it.
 */
import {
  classifyBleInit,
  classifyHidInit,
  type LinkTiming,
  nfcExchangeMs,
  type Operation,
  processingMs,
} from './link-model.ts';
import { linkClock, type PreciseScheduler } from './scheduler.ts';

const now = () => performance.now();

/**
 * A request/response link with one slot queue each way: a piece offered at t goes at the
 * later of t and the previous piece's slot, plus one slot time. The first answer piece after
 * a request waits at least the operation's processing time after the request arrived.
 */
class SlotLink {
  readonly #clock: PreciseScheduler;
  readonly #timing: LinkTiming;
  #outFree = 0;
  #inFree = 0;
  #requestAt = 0;
  #op: Operation = 'other';
  #answerDue = false;

  constructor(timing: LinkTiming, clock: PreciseScheduler) {
    this.#timing = timing;
    this.#clock = clock;
  }

  /** Host → chip; `op` set on the first piece of a request. */
  toChip(slotMs: number, deliver: () => void, op?: Operation): number {
    const at = Math.max(now(), this.#outFree) + slotMs;
    this.#outFree = at;
    if (op !== undefined) this.#op = op;
    this.#clock.at(at, () => {
      this.#requestAt = at;
      this.#answerDue = true;
      deliver();
    });
    return at;
  }

  /** Chip → host; `firstOfAnswer` on the first piece of a response (not a keepalive). */
  toHost(slotMs: number, deliver: () => void, firstOfAnswer: boolean): void {
    let ready = now();
    if (firstOfAnswer && this.#answerDue) {
      ready = Math.max(ready, this.#requestAt + processingMs(this.#timing, this.#op));
      this.#answerDue = false;
    }
    const at = Math.max(ready, this.#inFree) + slotMs;
    this.#inFree = at;
    this.#clock.at(at, deliver);
  }
}

const TYPE_INIT = 0x80;
const CTAPHID_KEEPALIVE = 0xbb;

/** USB full speed: each 64-byte report, either way, takes one polling interval of bInterval ms. */
export class HidPacer {
  readonly #link: SlotLink;
  readonly #slotMs: number;

  /** Without a USB model (processing times only) reports pass with no slot time. */
  constructor(timing: LinkTiming, clock: PreciseScheduler = linkClock) {
    this.#link = new SlotLink(timing, clock);
    this.#slotMs = timing.hid?.bInterval ?? 0;
  }

  get bInterval(): number {
    return this.#slotMs;
  }

  /** An output report the host wrote reaches the chip at its slot. */
  hostWrites(report: Uint8Array, deliver: (report: Uint8Array) => void): void {
    const init = ((report[4] ?? 0) & TYPE_INIT) !== 0;
    this.#link.toChip(this.#slotMs, () => deliver(report), init ? classifyHidInit(report) : undefined);
  }

  /** An input report the chip sent is readable by the host at its slot. */
  chipSends(report: Uint8Array, deliver: (report: Uint8Array) => void): void {
    const cmd = report[4] ?? 0;
    const first = (cmd & TYPE_INIT) !== 0 && cmd !== CTAPHID_KEEPALIVE;
    this.#link.toHost(this.#slotMs, () => deliver(report), first);
  }
}

const BLE_KEEPALIVE = 0x82;

/**
 * BLE: one ATT PDU per connection event each way. A write reaches the chip one interval
 * after it is offered; its Write Response comes back in the chip's next free event; each
 * notification takes an event of its own.
 */
export class BlePacer {
  readonly #link: SlotLink;
  readonly #slotMs: number;

  constructor(timing: LinkTiming, clock: PreciseScheduler = linkClock) {
    this.#link = new SlotLink(timing, clock);
    this.#slotMs = timing.ble?.connectionIntervalMs ?? 0;
  }

  /** A Write Request (or Command) to a characteristic; `fido` marks the FIDO control point. */
  hostWrites(data: Uint8Array, fido: boolean, deliver: () => void): void {
    const init = fido && ((data[0] ?? 0) & TYPE_INIT) !== 0;
    this.#link.toChip(this.#slotMs, deliver, init ? classifyBleInit(data) : undefined);
  }

  /** The Write Response to a write the chip handled. */
  writeResponse(deliver: () => void): void {
    this.#link.toHost(this.#slotMs, deliver, false);
  }

  /** A notification; `fido` marks the FIDO status characteristic. */
  notification(data: Uint8Array, fido: boolean, deliver: () => void): void {
    const cmd = data[0] ?? 0;
    const first = fido && (cmd & TYPE_INIT) !== 0 && cmd !== BLE_KEEPALIVE;
    this.#link.toHost(this.#slotMs, deliver, first);
  }
}

/**
 * NFC: a whole C-APDU → R-APDU as nfcExchangeMs models it. The card answers as soon as it
 * has worked the command out; the reader hands the answer over when the model says the
 * last response block has arrived.
 */
export class NfcPacer {
  readonly #timing: LinkTiming;
  readonly #clock: PreciseScheduler;

  /** Without an NFC model (processing times only) the air time is zero. */
  constructor(timing: LinkTiming, clock: PreciseScheduler = linkClock) {
    this.#timing = timing;
    this.#clock = clock;
  }

  /** When the answer to `command`, sent at `sentAt`, is in the reader: `op` picks the processing time. */
  answerAt(sentAt: number, command: Uint8Array, response: Uint8Array, op: Operation): number {
    const proc = processingMs(this.#timing, op);
    const nfc = this.#timing.nfc;
    return sentAt + (nfc ? nfcExchangeMs(nfc, command.length, response.length, proc) : proc);
  }

  at(atMs: number, run: () => void): void {
    this.#clock.at(atMs, run);
  }
}
