import {
  BLE_CMD,
  BLE_ERR,
  FrameAssembler,
  type FrameStatus,
  fragment,
  KEEPALIVE_CODE,
  parseFrame,
} from '../../transport/ble/fragments.ts';
import { SW } from '../../transport/nfc/apdu.ts';
import { AUTH_P1, INS } from '../../u2f/apdu.ts';
import type { PresenceLike, PresenceSource } from '../presence.ts';

/** The U2F core as the chip's BLE front-end sees it (Authenticator.process). */
export type U2fCore = (apdu: Uint8Array, presence: PresenceLike) => Uint8Array;

export interface ControlPointFaults {
  /** Response continuations start at SEQ 1 instead of 0 (hosts must flag BLE-FRAG-06). */
  wrongContinuationSeq?: boolean;
  /** No KEEPALIVE while waiting for the button (visible to BLE-KA-01). */
  noKeepalive?: boolean;
  /** The first two response continuations go out swapped (SEQ 1 before SEQ 0; BLE-FRAG-06). */
  continuationsOutOfOrder?: boolean;
  /** An unknown command gets no answer at all, not ERR_INVALID_CMD (BLE-CMD-01). */
  silentUnknownCommand?: boolean;
  /** A continuation with no message open gets no answer, not ERR_INVALID_SEQ (BLE-FRAG-03). */
  silentStrayContinuation?: boolean;
  /** An initial fragment announcing more than 1024 bytes crashes the chip (ble-crash-on-long-init). */
  crashesOnLongInit?: boolean;
  /** The chip's firmware state: while it has crashed, nothing written is answered. */
  firmware?: { crashed?: boolean };
}

/**
 * Sanctioned answers on disputed points of the control point protocol (requirements file,
 * strength disputed); the first of each is the default.
 */
export interface ControlPointDisputed {
  /** BLE-TMO-01: an abandoned request is answered ERR_REQ_TIMEOUT, or dropped silently. */
  abandonedRequest?: 'req-timeout' | 'silent-reset';
}

export interface ControlPointOptions {
  core: U2fCore;
  presence: PresenceSource;
  /** The fidoControlPointLength in force for the current link. */
  controlPointLength: () => number;
  /** Sends one fidoStatus notification (dropped by the caller while not subscribed). */
  notify: (frame: Uint8Array) => void;
  keepaliveMs: number;
  presenceTimeoutMs: number;
  requestTimeoutMs: number;
  maxMessageLength: number;
  faults: ControlPointFaults;
  disputed?: ControlPointDisputed;
}

const status = (sw: number) => Uint8Array.of(sw >>> 8, sw & 0xff);
const swOf = (answer: Uint8Array) =>
  ((answer[answer.length - 2] ?? 0) << 8) | (answer[answer.length - 1] ?? 0);

/**
 * The chip's fidoControlPoint protocol engine: reassembles written fragments, answers rule
 * breaks with ERROR frames (BLE-FRAG-01..04, BLE-CMD-01, BLE-TMO-01), echoes PING and runs
 * MSG through the U2F core. Where the core wants the button (6985 for REGISTER or enforce
 * AUTHENTICATE) a BLE key waits for the press with TUP_NEEDED keepalives (BLE-KA-01)
 * instead of answering 6985 at once.
 */
export class FidoControlPoint {
  readonly #opts: ControlPointOptions;
  readonly #assembler: FrameAssembler;
  #requestTimer: NodeJS.Timeout | undefined;
  #stopWaiting: (() => void) | undefined;

  constructor(opts: ControlPointOptions) {
    this.#opts = opts;
    this.#assembler = new FrameAssembler(opts.maxMessageLength);
  }

  /** True while a MSG waits for the button. */
  get waitingForPress(): boolean {
    return this.#stopWaiting !== undefined;
  }

  /** One GATT write to fidoControlPoint (after the write response went out). */
  write(raw: Uint8Array): void {
    const { firmware, crashesOnLongInit } = this.#opts.faults;
    if (firmware?.crashed) return;
    if (
      crashesOnLongInit &&
      firmware &&
      raw.length >= 3 &&
      raw[0]! & 0x80 &&
      ((raw[1]! << 8) | raw[2]!) > 1024
    ) {
      firmware.crashed = true;
      this.reset();
      return;
    }
    const result = this.#accept(raw);
    if (result === 'more') this.#armRequestTimer();
    else if (result === 'complete') {
      this.#clearRequestTimer();
      const cmd = this.#assembler.cmd;
      this.#dispatch(cmd, this.#assembler.take());
    } else if (result === 'not-open' && this.#opts.faults.silentStrayContinuation) {
      // fault: a lone continuation is ignored (BLE-FRAG-03 requires ERR_INVALID_SEQ)
    } else if (result === 'bad-seq' || result === 'not-open') {
      this.#fail(BLE_ERR.INVALID_SEQ); // BLE-FRAG-01..03
    } else this.#fail(BLE_ERR.INVALID_LEN); // too-long, over-length (BLE-FRAG-04, BLE-PING-03)
  }

  /** Feeds one write to the assembler; 'bad-seq' also covers a second initial frame (BLE-FRAG-01). */
  #accept(raw: Uint8Array): FrameStatus {
    if (raw.length > this.#opts.controlPointLength()) return 'over-length';
    const frame = parseFrame(raw);
    if (frame.kind === 'malformed') return 'over-length';
    if (frame.kind === 'cont') return this.#assembler.add(frame); // not-open: a lone continuation (BLE-FRAG-03)
    if (this.#assembler.open) return 'bad-seq';
    return this.#assembler.start(frame);
  }

  /** Drops every open request and timer (disconnect). */
  reset(): void {
    this.#assembler.reset();
    this.#clearRequestTimer();
    this.#stopWaiting?.();
    this.#stopWaiting = undefined;
  }

  #dispatch(cmd: number, payload: Uint8Array): void {
    if (this.#stopWaiting) {
      // U2F BLE has one request in flight; a new one while waiting for the button is refused.
      this.#send(BLE_CMD.ERROR, Uint8Array.of(BLE_ERR.OTHER));
    } else if (cmd === BLE_CMD.PING) {
      this.#send(BLE_CMD.PING, payload);
    } else if (cmd !== BLE_CMD.MSG) {
      // CANCEL is CTAP2-only; Chromium notes U2F BLE has none, so it is an unknown command here.
      if (this.#opts.faults.silentUnknownCommand) return; // fault: no ERR_INVALID_CMD (BLE-CMD-01)
      this.#send(BLE_CMD.ERROR, Uint8Array.of(BLE_ERR.INVALID_CMD));
    } else {
      const answer = this.#opts.core(payload, this.#opts.presence);
      if (swOf(answer) === SW.CONDITIONS_NOT_SATISFIED && needsPress(payload)) this.#waitForPress(payload);
      else this.#send(BLE_CMD.MSG, answer);
    }
  }

  #waitForPress(apdu: Uint8Array): void {
    const { presence, keepaliveMs, presenceTimeoutMs, faults } = this.#opts;
    const keepalive = () => {
      if (!faults.noKeepalive) this.#send(BLE_CMD.KEEPALIVE, Uint8Array.of(KEEPALIVE_CODE.TUP_NEEDED));
    };
    const finish = (answer: Uint8Array) => {
      this.#stopWaiting?.();
      this.#stopWaiting = undefined;
      this.#send(BLE_CMD.MSG, answer);
    };
    const interval = setInterval(keepalive, keepaliveMs).unref();
    const giveUp = setTimeout(() => finish(status(SW.CONDITIONS_NOT_SATISFIED)), presenceTimeoutMs).unref();
    const offPress = presence.onPress(() => {
      const answer = this.#opts.core(apdu, presence);
      if (swOf(answer) !== SW.CONDITIONS_NOT_SATISFIED) finish(answer);
    });
    this.#stopWaiting = () => {
      clearInterval(interval);
      clearTimeout(giveUp);
      offPress();
    };
    keepalive(); // at once, so the host learns early that the button is wanted
  }

  #fail(code: number): void {
    this.#assembler.reset();
    this.#clearRequestTimer();
    this.#send(BLE_CMD.ERROR, Uint8Array.of(code));
  }

  /**
   * BLE-TMO-01 (disputed): an open request that stops receiving fragments is answered
   * REQ_TIMEOUT, or (silent-reset) dropped without a word.
   */
  #armRequestTimer(): void {
    this.#clearRequestTimer();
    const silent = this.#opts.disputed?.abandonedRequest === 'silent-reset';
    this.#requestTimer = setTimeout(() => {
      if (!silent) return this.#fail(BLE_ERR.REQ_TIMEOUT);
      this.#assembler.reset();
      this.#requestTimer = undefined;
    }, this.#opts.requestTimeoutMs).unref();
  }

  #clearRequestTimer(): void {
    if (this.#requestTimer) clearTimeout(this.#requestTimer);
    this.#requestTimer = undefined;
  }

  #send(cmd: number, payload: Uint8Array): void {
    if (this.#opts.faults.firmware?.crashed) return;
    const frames = fragment(cmd, payload, this.#opts.controlPointLength());
    if (this.#opts.faults.wrongContinuationSeq) {
      for (let i = 1; i < frames.length; i++) frames[i]![0] = i & 0x7f; // SEQ 1, 2, … instead of 0, 1, …
    }
    if (this.#opts.faults.continuationsOutOfOrder && frames.length > 2) {
      [frames[1], frames[2]] = [frames[2]!, frames[1]!];
    }
    for (const frame of frames) this.#opts.notify(frame);
  }
}

/** REGISTER and enforce AUTHENTICATE need the button; check-only answers 6985 by design. */
function needsPress(apdu: Uint8Array): boolean {
  if (apdu.length < 4 || apdu[0] !== 0x00) return false;
  return apdu[1] === INS.REGISTER || (apdu[1] === INS.AUTHENTICATE && apdu[2] === AUTH_P1.ENFORCE);
}
