import { u32be } from '../../bytes.ts';
import {
  BROADCAST_CID,
  CAPABILITY,
  CTAPHID,
  ERR,
  fragment,
  INIT_NONCE_SIZE,
  type InitPacket,
  initPacket,
  isContReport,
  MAX_MESSAGE,
  MessageAssembler,
  PROTOCOL_VERSION,
  parsePacket,
  reportCid,
} from '../../transport/hid/framing.ts';

/**
 * legacy: U2F HID v1.x / GH expectations: any CID other than 0 and FFFFFFFF is served as if
 * allocated (HID-INIT-03, HID-CID-03, HID-LOCK-02) and an INIT on another CID is answered
 * while a message is open (HID-INIT-05 as GH `test_InitOther`).
 * strict: CTAP2.1 reading: unallocated CIDs get ERR_INVALID_CID (OpenSK, google/OpenSK#399)
 * and an INIT from another CID during a transaction gets ERR_CHANNEL_BUSY (the vendor
 * position in conformance-test-tools-resources#158).
 */
export type ChannelRules = 'legacy' | 'strict';

export interface DeviceVersion {
  major: number;
  minor: number;
  build: number;
}

export interface CtaphidDeviceOptions {
  /** The authenticator core: one U2F raw message in, the response (data ‖ SW) out. */
  handleApdu: (apdu: Uint8Array) => Promise<Uint8Array>;
  /** Where the device's input reports go (the front-end's read queue). */
  send: (report: Uint8Array) => void;
  /** INIT capability byte; default WINK | LOCK (a U2F-only device: no CBOR, no NMSG). */
  capabilities?: number;
  version?: DeviceVersion;
  /** Inter-packet timeout before ERR_MSG_TIMEOUT (HID-TMO-01); default 500 ms (§1.2). */
  frameTimeoutMs?: number;
  channelRules?: ChannelRules;
  onWink?: () => void;
  /** First CID handed out by a broadcast INIT; random by default so hosts cannot assume one. */
  firstCid?: number;
  /** Allocated CIDs remembered (oldest forgotten first); default 256. */
  maxChannels?: number;
  faults?: CtaphidFaults | undefined;
  /**
   * What a MSG with no payload gets (HID-MSG-01, disputed): ERR_INVALID_LEN (default, as
   * FT-H expects) or an APDU status word 6700 in a MSG answer (as HIDTest accepts).
   */
  emptyMsg?: 'invalid-len' | 'apdu-status';
}

/** Deliberate CTAPHID non-conformances (emulator faults, see faults.ts). */
export interface CtaphidFaults {
  /** INIT on an allocated CID answers with the nonce reversed (init-nonce-not-echoed). */
  initNonceNotEchoed?: boolean;
  /** A CONT with the wrong SEQ is dropped silently (bad-cont-seq-accepted). */
  ignoresBadSeq?: boolean;
  /** Commands other than INIT are served on the broadcast CID (msg-on-broadcast). */
  servesBroadcast?: boolean;
  /** No ERR_MSG_TIMEOUT for an unfinished message (no-frame-timeout). */
  noFrameTimeout?: boolean;
  /** A MSG whose INS is not REGISTER, AUTHENTICATE or VERSION gets ERR_INVALID_CMD, not 6D00 (msg-answered-with-error). */
  errorForUnknownIns?: boolean;
  /** An init packet whose BCNT exceeds MAX_MESSAGE kills the firmware: silent for ever (dies-on-oversized-init). */
  diesOnOversizedInit?: boolean;
  /** After a CONT with the wrong SEQ (answered ERR_INVALID_SEQ) every init packet gets ERR_CHANNEL_BUSY (wedges-busy-after-bad-seq). */
  wedgesBusyAfterBadSeq?: boolean;
  /**
   * Where the two faults above keep their state: the chip's, so it outlives a host closing
   * and reopening the device. Power loss clears `wedged`; nothing clears `dead`.
   */
  firmware?: FirmwareState;
}

/** Firmware state of a faulty chip that survives a new USB handle (see CtaphidFaults). */
export interface FirmwareState {
  dead: boolean;
  wedged: boolean;
  /** Crashed (a fuzz fault, e.g. crashes-on-short-key-handle): silent on every link until power is cut. */
  crashed?: boolean;
}

/** The INS a U2F core knows: REGISTER, AUTHENTICATE, VERSION. */
const KNOWN_INS: readonly number[] = [0x01, 0x02, 0x03];

/** Longest LOCK a device grants: Chromium kHidMaxLockSeconds, ChromeOS u2fd (§1.2). */
export const MAX_LOCK_SECONDS = 10;

const now = () => performance.now();

/**
 * The CTAPHID state machine of the emulated chip: one transaction at a time device-wide,
 * every answer on the stimulus CID (HID-RSP-01). Input is one 64-byte output report at a
 * time; output goes synchronously to `send`, except MSG, which answers when the core resolves.
 * The hot path uses no timers; the frame timer is armed once per frame-timeout period at most
 * and checks the idle time when it fires.
 */
export class CtaphidDevice {
  readonly capabilities: number;
  readonly version: DeviceVersion;
  readonly frameTimeoutMs: number;
  readonly channelRules: ChannelRules;
  readonly #emptyMsg: 'invalid-len' | 'apdu-status';
  readonly #handleApdu: (apdu: Uint8Array) => Promise<Uint8Array>;
  readonly #send: (report: Uint8Array) => void;
  readonly #onWink: (() => void) | undefined;
  readonly #maxChannels: number;
  readonly #faults: CtaphidFaults;
  readonly #rx = new MessageAssembler();
  #rxLastAt = 0;
  /** CID whose MSG the core is processing. */
  #processingCid: number | undefined;
  /** Bumped whenever a pending MSG answer must be discarded (abort, reset, new MSG). */
  #generation = 0;
  #lock: { cid: number; until: number } | undefined;
  readonly #channels = new Set<number>();
  #nextCid: number;
  #frameTimer: NodeJS.Timeout | undefined;

  constructor(options: CtaphidDeviceOptions) {
    if (typeof options?.handleApdu !== 'function')
      throw new TypeError('options.handleApdu: must be a function');
    if (typeof options.send !== 'function') throw new TypeError('options.send: must be a function');
    const frameTimeoutMs = options.frameTimeoutMs ?? 500;
    if (!(frameTimeoutMs > 0)) throw new RangeError(`options.frameTimeoutMs: must be > 0: ${frameTimeoutMs}`);
    const rules = options.channelRules ?? 'legacy';
    if (rules !== 'legacy' && rules !== 'strict') {
      throw new RangeError(`options.channelRules: 'legacy' or 'strict': ${String(rules)}`);
    }
    this.#handleApdu = options.handleApdu;
    this.#send = options.send;
    this.#onWink = options.onWink;
    this.capabilities = (options.capabilities ?? CAPABILITY.WINK | CAPABILITY.LOCK) & 0xff;
    this.version = { ...(options.version ?? { major: 1, minor: 0, build: 0 }) };
    this.frameTimeoutMs = frameTimeoutMs;
    this.channelRules = rules;
    this.#emptyMsg = options.emptyMsg ?? 'invalid-len';
    this.#maxChannels = options.maxChannels ?? 256;
    this.#faults = options.faults ?? {};
    this.#nextCid = options.firstCid ?? (Math.floor(Math.random() * 0xfffffffe) + 1) >>> 0;
  }

  /** One output report from the host. Malformed (short) reports throw RangeError. */
  receive(report: Uint8Array): void {
    const firmware = this.#faults.firmware;
    if (firmware?.dead || firmware?.crashed) return;
    if (firmware?.wedged) {
      if (!isContReport(report)) this.#error(parsePacket(report).cid, ERR.CHANNEL_BUSY);
      return;
    }
    if (!isContReport(report)) {
      const packet = parsePacket(report); // RangeError when too short
      if (packet.kind === 'init') this.#onInitPacket(packet);
      return;
    }
    // CONTs are read in place (no packet object): they are most reports of a long message.
    // A CONT for anything but the open message is ignored: HID-SEQ-04 (lone CONT),
    // HID-BUSY-02 (the busy CID's CONTs), HID-INIT-04 (stray CONT after a self-abort).
    const cid = reportCid(report);
    if (!this.#rx.open || this.#rx.cid !== cid) return;
    const status = this.#rx.addReport(report);
    if (status === 'bad-seq') {
      if (!this.#faults.ignoresBadSeq) this.#error(cid, ERR.INVALID_SEQ); // HID-SEQ-01/02
      if (this.#faults.wedgesBusyAfterBadSeq && this.#faults.firmware) this.#faults.firmware.wedged = true;
    } else if (status === 'complete') this.#dispatch(cid, this.#rx.cmd, this.#rx.take());
    else this.#rxLastAt = now();
  }

  /** Power cycle: channels, lock, open message and pending answers are forgotten. */
  reset(): void {
    this.#rx.reset();
    this.#processingCid = undefined;
    this.#generation++;
    this.#lock = undefined;
    this.#channels.clear();
  }

  /** Stops the frame timer; the device stays usable (the timer re-arms on demand). */
  dispose(): void {
    if (this.#frameTimer !== undefined) clearTimeout(this.#frameTimer);
    this.#frameTimer = undefined;
  }

  #onInitPacket(packet: InitPacket) {
    const { cid, cmd } = packet;
    if (this.#faults.diesOnOversizedInit && this.#faults.firmware && packet.bcnt > MAX_MESSAGE) {
      this.#faults.firmware.dead = true;
      return;
    }
    if (cid === 0) return this.#error(cid, ERR.INVALID_CID); // HID-CID-01
    if (cmd === CTAPHID.INIT) return this.#onInit(packet);
    const broadcastServed = cid === BROADCAST_CID && this.#faults.servesBroadcast;
    if ((cid === BROADCAST_CID && !broadcastServed) || !this.#isValidCid(cid))
      return this.#error(cid, ERR.INVALID_CID); // HID-CID-02
    if (this.#rx.open && this.#rx.cid === cid) {
      // A new init packet before the last one's CONTs: GH test_NotCont expects ERR_INVALID_SEQ
      // and then silence, so the open message is dropped (HID-SEQ-03).
      this.#rx.reset();
      return this.#error(cid, ERR.INVALID_SEQ);
    }
    const busy = this.#busyFor(cid) || this.#processingCid === cid || this.#lockedAgainst(cid);
    if (busy) return this.#error(cid, ERR.CHANNEL_BUSY);
    if (packet.bcnt > MAX_MESSAGE) return this.#error(cid, ERR.INVALID_LEN); // HID-LEN-01, at once
    if (this.#rx.start(packet) === 'complete') return this.#dispatch(cid, cmd, this.#rx.take());
    this.#rxLastAt = now();
    if (this.#frameTimer === undefined && !this.#faults.noFrameTimeout)
      this.#armFrameTimer(this.frameTimeoutMs);
  }

  #onInit(packet: InitPacket) {
    const { cid } = packet;
    if (cid !== BROADCAST_CID && !this.#isValidCid(cid)) return this.#error(cid, ERR.INVALID_CID); // HID-INIT-03 strict
    if (this.channelRules === 'strict' && this.#busyFor(cid)) return this.#error(cid, ERR.CHANNEL_BUSY); // HID-INIT-05
    if (packet.bcnt !== INIT_NONCE_SIZE) return this.#error(cid, ERR.INVALID_LEN); // HID-INIT-07
    // INIT on a channel resynchronises it: its open or pending transaction is dropped (HID-INIT-04).
    if (cid !== BROADCAST_CID) this.#abort(cid);
    const assigned = cid === BROADCAST_CID ? this.#allocate() : cid;
    this.#remember(assigned);
    const response = new Uint8Array(17);
    response.set(packet.data, 0);
    if (this.#faults.initNonceNotEchoed && cid !== BROADCAST_CID) response.subarray(0, 8).reverse();
    response.set(u32be(assigned), 8);
    response[12] = PROTOCOL_VERSION;
    response[13] = this.version.major;
    response[14] = this.version.minor;
    response[15] = this.version.build;
    response[16] = this.capabilities;
    this.#respond(cid, CTAPHID.INIT, response);
  }

  /** A complete request message; small methods per command keep fault hooks easy to add. */
  #dispatch(cid: number, cmd: number, payload: Uint8Array) {
    switch (cmd) {
      case CTAPHID.PING:
        return this.#respond(cid, CTAPHID.PING, payload); // HID-PING-*
      case CTAPHID.MSG:
        return this.#onMsg(cid, payload);
      case CTAPHID.WINK:
        return this.#onWinkCommand(cid);
      case CTAPHID.LOCK:
        return this.#onLockCommand(cid, payload);
      default:
        // CBOR, CANCEL, KEEPALIVE, SYNC, vendor and unknown: a U2F-only chip (HID-CMD-01..04).
        return this.#error(cid, ERR.INVALID_CMD);
    }
  }

  #onMsg(cid: number, apdu: Uint8Array) {
    if (apdu.length === 0) {
      // HID-MSG-01 (disputed): either is sanctioned.
      if (this.#emptyMsg === 'apdu-status') return this.#respond(cid, CTAPHID.MSG, Uint8Array.of(0x67, 0x00));
      return this.#error(cid, ERR.INVALID_LEN);
    }
    if (this.#faults.errorForUnknownIns && !KNOWN_INS.includes(apdu[1] ?? -1)) {
      return this.#error(cid, ERR.INVALID_CMD);
    }
    const generation = ++this.#generation;
    this.#processingCid = cid;
    let answer: Promise<Uint8Array>;
    try {
      answer = this.#handleApdu(apdu);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => {
        if (!this.#finish(generation)) return;
        if (response.length > MAX_MESSAGE) return this.#error(cid, ERR.OTHER);
        this.#respond(cid, CTAPHID.MSG, response);
      },
      () => {
        if (this.#finish(generation)) this.#error(cid, ERR.OTHER);
      },
    );
  }

  /** True when this MSG answer is still wanted; frees the device for the next transaction. */
  #finish(generation: number): boolean {
    if (generation !== this.#generation || this.#processingCid === undefined) return false;
    this.#processingCid = undefined;
    return true;
  }

  #onWinkCommand(cid: number) {
    if (!(this.capabilities & CAPABILITY.WINK)) return this.#error(cid, ERR.INVALID_CMD); // HID-WINK-01
    this.#respond(cid, CTAPHID.WINK, new Uint8Array(0));
    this.#onWink?.();
  }

  #onLockCommand(cid: number, payload: Uint8Array) {
    if (!(this.capabilities & CAPABILITY.LOCK)) return this.#error(cid, ERR.INVALID_CMD); // HID-LOCK-01
    const seconds = payload[0] ?? -1;
    if (payload.length !== 1 || seconds > MAX_LOCK_SECONDS) return this.#error(cid, ERR.INVALID_PAR); // HID-LOCK-04
    // 0 releases at once (HID-LOCK-03). Expiry is checked lazily, so no timer is needed.
    this.#lock = seconds === 0 ? undefined : { cid, until: now() + seconds * 1000 };
    this.#respond(cid, CTAPHID.LOCK, new Uint8Array(0));
  }

  #isValidCid(cid: number): boolean {
    return this.channelRules === 'legacy' || this.#channels.has(cid);
  }

  /** Another CID's message is open or being processed: one transaction at a time (HID-BUSY-01). */
  #busyFor(cid: number): boolean {
    if (this.#rx.open && this.#rx.cid !== cid) return true;
    return this.#processingCid !== undefined && this.#processingCid !== cid;
  }

  /** HID-LOCK-02: while A holds the lock, other CIDs' commands (not INIT) are busy. */
  #lockedAgainst(cid: number): boolean {
    const lock = this.#lock;
    if (lock === undefined) return false;
    if (now() >= lock.until) {
      this.#lock = undefined;
      return false;
    }
    return lock.cid !== cid;
  }

  #abort(cid: number): void {
    if (this.#rx.open && this.#rx.cid === cid) this.#rx.reset();
    if (this.#processingCid === cid) {
      this.#processingCid = undefined;
      this.#generation++;
    }
  }

  /** Distinct CIDs, never 0 or FFFFFFFF (HID-INIT-01, HID-CID-04). */
  #allocate(): number {
    for (;;) {
      const cid = this.#nextCid;
      this.#nextCid = (cid + 1) >>> 0;
      if (cid !== 0 && cid !== BROADCAST_CID && !this.#channels.has(cid)) return cid;
    }
  }

  #remember(cid: number): void {
    this.#channels.delete(cid);
    this.#channels.add(cid);
    if (this.#channels.size > this.#maxChannels) {
      const oldest = this.#channels.values().next().value;
      if (oldest !== undefined) this.#channels.delete(oldest);
    }
  }

  /** Fires at most once per frame timeout while messages are open; checks the real idle time. */
  #armFrameTimer(delayMs: number): void {
    this.#frameTimer = setTimeout(() => {
      this.#frameTimer = undefined;
      if (!this.#rx.open) return;
      const idle = now() - this.#rxLastAt;
      if (idle < this.frameTimeoutMs - 1) return this.#armFrameTimer(this.frameTimeoutMs - idle);
      const cid = this.#rx.cid;
      this.#rx.reset();
      this.#error(cid, ERR.MSG_TIMEOUT); // HID-TMO-01
    }, delayMs);
    this.#frameTimer.unref(); // never keeps the process alive
  }

  #respond(cid: number, cmd: number, payload: Uint8Array): void {
    const reports = fragment(cid, cmd, payload);
    for (let i = 0; i < reports.length; i++) this.#send(reports[i]!);
  }

  /** ERROR payload is exactly one byte, on the stimulus CID (HID-RSP-01). */
  #error(cid: number, code: number): void {
    this.#send(initPacket(cid, CTAPHID.ERROR, 1, Uint8Array.of(code)));
  }
}
