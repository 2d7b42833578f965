/**
 * The emulated MitID chip as a contactless card (ISO 14443-4 + ISO 7816-4), over the same
 * U2F core as the USB and BLE front-ends. The host drives it through a CardConnection
 * (in process: EmulatedCardConnection; to pcscd: vpcd), so an emulated run exercises the
 * real NfcTransport chaining and 61xx code.
 *
 * Card model (catalogue §1.3, §2.3; mitid-chip.md "NFC"):
 * - Field on (powerOn): reset state: FIDO applet not selected, no open chain, no pending
 *   answer, not blocked. Field off loses all of it.
 * - SELECT `00 A4 04 00 08 <FIDO AID> [Le]` (or Lc 09 with AID ‖ 00, as solo1 accepted,
 *   NFC-SEL-03) answers "U2F_V2" 9000 directly: exactly 6 data bytes, never 61xx
 *   (NFC-SEL-01/02/06). Any other SELECT answers 6A82 and changes nothing (NFC-SEL-04).
 * - Before SELECT every other command answers 6D00 (record-only NFC-SEL-05).
 * - NFCCTAP_MSG / NFCCTAP_GETRESPONSE (CLA 80 INS 10/11) answer 6D00: the chip is U2F only,
 *   and U2F keeps working afterwards without a new SELECT (NFC-CTAP-01).
 * - Command chaining (CLA bit 0x10): every intermediate block is buffered and answered 9000;
 *   the final block hands the core one extended APDU (NFC-CHAIN-01). A block whose header
 *   differs from the chain's answers 6883 and drops the chain.
 * - Short requests: an answer longer than Ne (Le; 00 or absent = 256) goes out as Ne bytes
 *   + 61xx and continues through GET RESPONSE, honouring each GET RESPONSE's Le (NFC-REG-01/02,
 *   NFC-CHAIN-02). Any other command abandons a pending answer (NFC-CHAIN-03). Extended
 *   requests get the whole answer in one R-APDU (NFC-REG-03, GN's "no 61xx" rule).
 * - Presence is the tap: while powered and not blocked, presence is always there (NFC needs
 *   no button, U2F-AUTH-14).
 * - The MitID rule: a button press while the card is powered blocks NFC. From then until the
 *   field goes off and on again, every C-APDU, SELECT included, answers 6985. A warm reset
 *   does not lift the block; a press while unpowered does nothing.
 * - An unpowered card answers 6985 too (a real one would not answer at all; connections do
 *   not transmit to it).
 */
import { concat, equal, fromHex } from '../../bytes.ts';
import { encodeExtended, parseCommandApdu, SW } from '../../transport/nfc/apdu.ts';
import type { VirtualCard } from '../../transport/nfc/connection.ts';
import {
  CLA_CHAINING,
  FIDO_AID,
  ISO_INS,
  ISO_SW,
  isChainingCla,
  NFCCTAP,
  SELECT_BY_NAME,
  statusBytes,
} from '../../transport/nfc/iso7816.ts';
import type { PresenceLike } from '../presence.ts';
import { firstChunk, nextChunk, type PendingAnswer } from './nfc-chunker.ts';

/** The in-process reader lives in its own file; re-exported so the card and its reader import together. */
export { EmulatedCardConnection, type EmulatedCardConnectionOptions } from './nfc-card-connection.ts';

export interface NfcFrontEndOptions {
  /** The U2F core, e.g. `(a, p) => authenticator.process(a, p)`. */
  core: (apdu: Uint8Array, presence: PresenceLike) => Uint8Array;
  /** The chip's button (its PresenceSource): a press while powered blocks NFC. */
  button?: { onPress(listener: () => void): () => void };
  /** Default `3B 80 80 01 01` (ISO 14443-4 card without historical bytes, as PC/SC shows it). */
  atr?: Uint8Array;
  /**
   * Sanctioned answers on disputed points (fixtures/requirements.yaml); defaults: a 9-byte
   * AID is served (NFC-SEL-03), U2F before SELECT is refused (NFC-SEL-05), a new command
   * abandons a 61xx sequence (NFC-CHAIN-03).
   */
  disputed?: {
    nineByteAid?: 'served' | 'refused';
    beforeSelect?: 'refused' | 'served';
    interruptedChain?: 'abandoned' | 'kept';
  };
  /** Deliberate non-conformances (emulator faults, see faults.ts). */
  faults?: {
    /** SELECT answers FIDO_2_0 though the chip speaks only U2F (select-wrong-version). */
    selectAnswersFido2?: boolean;
    /** The first GET RESPONSE of a long answer repeats the first chunk (get-response-broken). */
    getResponseRepeats?: boolean;
    /** A GET RESPONSE with nothing pending makes the card mute until the field goes off (nfc-mute-on-stray-get-response). */
    muteOnStrayGetResponse?: boolean;
  };
  /** The chip's firmware state: while it has crashed the card is mute; the field going off clears it (the field is its power). */
  firmware?: { crashed?: boolean };
}

/** What the card "answers" when it sends nothing: the reader times out (VirtualCard.process). */
export const MUTE = new Uint8Array(0);

export const DEFAULT_ATR = fromHex('3B 80 80 01 01');
const U2F_V2 = new TextEncoder().encode('U2F_V2');
const FIDO_2_0 = new TextEncoder().encode('FIDO_2_0');
const INCORRECT_P1P2 = 0x6a86;

interface Header {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
}

interface Chain {
  readonly head: Header;
  readonly parts: Uint8Array[];
  length: number;
}

/** Presence on NFC is the card being in the field and not blocked. */
class TapPresence implements PresenceLike {
  readonly #active: () => boolean;
  constructor(active: () => boolean) {
    this.#active = active;
  }
  get present(): boolean {
    return this.#active();
  }
  consume(): boolean {
    return this.#active();
  }
}

export class NfcFrontEnd implements VirtualCard {
  readonly atr: Uint8Array;
  readonly #core: NfcFrontEndOptions['core'];
  readonly #presence = new TapPresence(() => this.#powered && !this.#blocked);
  readonly #unsubscribe: () => void;
  #powered = false;
  #selected = false;
  #blocked = false;
  #chain: Chain | undefined;
  #pending: PendingAnswer | undefined;
  readonly #faults: NonNullable<NfcFrontEndOptions['faults']>;
  readonly #disputed: NonNullable<NfcFrontEndOptions['disputed']>;
  /** get-response-broken: the first chunk of the answer being fetched, until repeated once. */
  #firstChunk: Uint8Array | undefined;
  /** nfc-mute-on-stray-get-response: looping, until the field goes off. */
  #mute = false;
  readonly #firmware: { crashed?: boolean } | undefined;

  constructor(options: NfcFrontEndOptions) {
    if (typeof options?.core !== 'function') throw new TypeError('options.core: must be a function');
    if (options.atr !== undefined && !(options.atr instanceof Uint8Array)) {
      throw new TypeError('options.atr: must be a Uint8Array');
    }
    if (options.button !== undefined && typeof options.button.onPress !== 'function') {
      throw new TypeError('options.button: must have onPress(listener)');
    }
    this.#core = options.core;
    this.#faults = options.faults ?? {};
    this.#firmware = options.firmware;
    this.#disputed = options.disputed ?? {};
    this.atr = Uint8Array.from(options.atr ?? DEFAULT_ATR);
    this.#unsubscribe = options.button?.onPress(() => this.#onButton()) ?? (() => {});
  }

  get powered(): boolean {
    return this.#powered;
  }
  get selected(): boolean {
    return this.#selected;
  }
  /** True after a button press in the field, until the field goes off (mitid-chip.md). */
  get blocked(): boolean {
    return this.#blocked;
  }

  powerOn(): void {
    this.#powered = true;
    this.#blocked = false;
    this.reset();
  }

  powerOff(): void {
    this.#powered = false;
    this.#mute = false;
    if (this.#firmware) this.#firmware.crashed = false;
    this.#blocked = false;
    this.reset();
  }

  /** Warm reset: the applet is deselected; a block stays until the field goes off. */
  reset(): void {
    this.#selected = false;
    this.#chain = undefined;
    this.#pending = undefined;
  }

  /** Stops listening to the button. */
  dispose(): void {
    this.#unsubscribe();
  }

  process(apdu: Uint8Array): Uint8Array {
    try {
      return this.#process(apdu);
    } catch {
      // A core that throws is an emulator bug; the card still answers something ISO-shaped.
      return this.#abandon(ISO_SW.NO_PRECISE_DIAGNOSIS);
    }
  }

  #onButton(): void {
    if (this.#powered) this.#blocked = true;
  }

  #process(apdu: Uint8Array): Uint8Array {
    if (this.#mute || this.#firmware?.crashed) return MUTE;
    if (!this.#powered || this.#blocked) return statusBytes(SW.CONDITIONS_NOT_SATISFIED);
    if (!(apdu instanceof Uint8Array) || apdu.length < 4) return this.#abandon(SW.WRONG_LENGTH);
    const cla = apdu[0]!;
    const ins = apdu[1]!;
    if (cla === 0x00 && ins === ISO_INS.SELECT) return this.#select(apdu);
    if (cla === 0x00 && ins === ISO_INS.GET_RESPONSE) return this.#getResponse(apdu);
    // NFC-CHAIN-03 (disputed): a new command abandons a 61xx sequence, unless the chip keeps it.
    if (this.#disputed.interruptedChain !== 'kept') this.#pending = undefined;
    // NFC-SEL-05 (disputed): before SELECT, refused, or served by a default-selected applet.
    if (!this.#selected && this.#disputed.beforeSelect !== 'served')
      return this.#abandon(SW.INS_NOT_SUPPORTED);
    const isCtap =
      (cla & ~CLA_CHAINING) === NFCCTAP.CLA && (ins === NFCCTAP.MSG || ins === NFCCTAP.GET_RESPONSE);
    if (isCtap) return this.#abandon(SW.INS_NOT_SUPPORTED);
    if (isChainingCla(cla)) return this.#chainBlock(apdu);
    if (this.#chain !== undefined) return this.#finishChain(apdu);
    return this.#run(apdu);
  }

  #abandon(sw: number): Uint8Array {
    this.#chain = undefined;
    this.#pending = undefined;
    return statusBytes(sw);
  }

  #select(apdu: Uint8Array): Uint8Array {
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return statusBytes(parsed.sw);
    const { p1, data } = parsed.apdu;
    // NFC-SEL-04: ISO keeps the current selection when a SELECT fails.
    if (p1 !== SELECT_BY_NAME || !isFidoAid(data, this.#disputed.nineByteAid !== 'refused'))
      return statusBytes(ISO_SW.FILE_NOT_FOUND);
    this.#selected = true;
    this.#chain = undefined;
    this.#pending = undefined;
    return concat(this.#faults.selectAnswersFido2 ? FIDO_2_0 : U2F_V2, statusBytes(SW.NO_ERROR));
  }

  #getResponse(apdu: Uint8Array): Uint8Array {
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return statusBytes(parsed.sw);
    const { p1, p2, le } = parsed.apdu;
    if (p1 !== 0 || p2 !== 0) return statusBytes(INCORRECT_P1P2);
    const pending = this.#pending;
    // ISO 7816-4: GET RESPONSE with nothing to get is "conditions of use not satisfied".
    if (pending === undefined) {
      if (this.#faults.muteOnStrayGetResponse) {
        this.#mute = true;
        return MUTE;
      }
      return statusBytes(SW.CONDITIONS_NOT_SATISFIED);
    }
    const repeat = this.#firstChunk;
    this.#firstChunk = undefined;
    if (repeat) return repeat;
    const chunk = nextChunk(pending.rest, pending.sw, le ?? 256);
    this.#pending = chunk.pending;
    return chunk.rApdu;
  }

  #chainBlock(apdu: Uint8Array): Uint8Array {
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return this.#abandon(parsed.sw);
    const { cla, ins, p1, p2, data } = parsed.apdu;
    const head = { cla: cla & ~CLA_CHAINING, ins, p1, p2 };
    const open = this.#chain;
    if (open !== undefined && !sameHeader(open.head, head)) {
      return this.#abandon(ISO_SW.LAST_COMMAND_OF_CHAIN_EXPECTED);
    }
    const chain = open ?? { head, parts: [], length: 0 };
    // The reassembled command must fit an extended Lc (65535).
    if (chain.length + data.length > 0xffff) return this.#abandon(SW.WRONG_LENGTH);
    chain.parts.push(Uint8Array.from(data)); // data is a view of the caller's buffer
    chain.length += data.length;
    this.#chain = chain;
    return statusBytes(SW.NO_ERROR);
  }

  #finishChain(apdu: Uint8Array): Uint8Array {
    const chain = this.#chain!;
    this.#chain = undefined;
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return statusBytes(parsed.sw);
    const { cla, ins, p1, p2, data, le, form } = parsed.apdu;
    if (!sameHeader(chain.head, { cla, ins, p1, p2 })) {
      return statusBytes(ISO_SW.LAST_COMMAND_OF_CHAIN_EXPECTED);
    }
    const whole = concat(...chain.parts, data);
    if (whole.length > 0xffff) return statusBytes(SW.WRONG_LENGTH);
    // The core sees one extended APDU; Ne 65536 so it never answers 6700 for the short Le.
    const extended = encodeExtended({
      cla,
      ins,
      p1,
      p2,
      data: whole,
      le: le === undefined ? undefined : 0x10000,
    });
    return this.#answer(this.#core(extended, this.#presence), form === 'short' ? (le ?? 256) : undefined);
  }

  /** An unchained command goes to the core byte for byte, so malformed ones keep their SW. */
  #run(apdu: Uint8Array): Uint8Array {
    const parsed = parseCommandApdu(apdu);
    const answer = this.#core(apdu, this.#presence);
    const short = parsed.ok && parsed.apdu.form === 'short';
    return this.#answer(answer, short ? (parsed.apdu.le ?? 256) : undefined);
  }

  /** Short requests are split at Ne; extended ones get everything at once. */
  #answer(answer: Uint8Array, ne: number | undefined): Uint8Array {
    if (ne === undefined || answer.length === 0) return answer; // empty: the core went mute
    const chunk = firstChunk(answer, ne);
    this.#pending = chunk.pending;
    this.#firstChunk = this.#faults.getResponseRepeats && chunk.pending ? chunk.rApdu : undefined;
    return chunk.rApdu;
  }
}

function isFidoAid(data: Uint8Array, nineByte: boolean): boolean {
  if (equal(data, FIDO_AID)) return true;
  // NFC-SEL-03 (disputed): an Android client sent Lc 09 with AID ‖ 00 and Solo accepted it.
  return nineByte && data.length === 9 && data[8] === 0 && equal(data.subarray(0, 8), FIDO_AID);
}

function sameHeader(a: Header, b: Header): boolean {
  return a.cla === b.cla && a.ins === b.ins && a.p1 === b.p1 && a.p2 === b.p2;
}
