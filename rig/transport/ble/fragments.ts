/**
 * FIDO BLE frame codec (conformance-catalogue §1.4). Pure functions plus one reassembly
 * helper shared by the host transport and the emulated chip, so both sides of an emulated
 * run exercise the same fragmentation rules. Unlike CTAPHID there is no channel and no
 * padding: every GATT write or notification is exactly one fragment.
 */

/** Command bytes (bit 7 set) as they appear in an initial fragment (§1.4). */
export const BLE_CMD = {
  PING: 0x81,
  KEEPALIVE: 0x82,
  MSG: 0x83,
  CANCEL: 0xbe,
  ERROR: 0xbf,
} as const;

/** Payload byte of a KEEPALIVE (0x82) frame (§1.4, Chromium KeepaliveCode). */
export const KEEPALIVE_CODE = { PROCESSING: 0x01, TUP_NEEDED: 0x02 } as const;

/** Payload byte of an ERROR (0xBF) frame (§1.4). */
export const BLE_ERR = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  REQ_TIMEOUT: 0x05,
  OTHER: 0x7f,
} as const;

/** fidoControlPointLength bounds (BLE-GATT-03: BT rejects values < 20 or > 512). */
export const MIN_CONTROL_POINT_LENGTH = 20;
export const MAX_CONTROL_POINT_LENGTH = 512;
/** HLEN·256 + LLEN. */
export const MAX_BLE_MESSAGE = 0xffff;
/** Continuation SEQ runs 0..0x7F and wraps to 0 (BLE-FRAG-07). */
export const MAX_SEQ = 0x7f;
export const INIT_HEADER = 3;
export const CONT_HEADER = 1;

const cmdNames = new Map<number, string>(Object.entries(BLE_CMD).map(([name, value]) => [value, name]));
const errNames = new Map<number, string>(
  Object.entries(BLE_ERR).map(([name, value]) => [value, `ERR_${name}`]),
);

/** 'MSG' for 0x83; unknown commands as 'CMD_0x84'. */
export function bleCmdName(cmd: number): string {
  return cmdNames.get(cmd) ?? `CMD_0x${cmd.toString(16).padStart(2, '0')}`;
}

/** 'ERR_INVALID_SEQ' for 0x04; unknown codes as 'ERR_0x0c'. */
export function bleErrName(code: number): string {
  return errNames.get(code) ?? `ERR_0x${code.toString(16).padStart(2, '0')}`;
}

export interface InitialFrame {
  readonly kind: 'init';
  readonly cmd: number;
  /** Announced message length (HLEN·256 + LLEN). */
  readonly length: number;
  /** Every byte after the header, even beyond `length` (over-length is a rule break). */
  readonly data: Uint8Array;
  readonly raw: Uint8Array;
}

export interface ContinuationFrame {
  readonly kind: 'cont';
  readonly seq: number;
  readonly data: Uint8Array;
  readonly raw: Uint8Array;
}

/** `malformed`: empty, or an initial fragment shorter than its 3-byte header. */
export type BleFrame =
  | InitialFrame
  | ContinuationFrame
  | { readonly kind: 'malformed'; readonly raw: Uint8Array };

function checkControlPointLength(controlPointLength: number): void {
  if (
    !Number.isInteger(controlPointLength) ||
    controlPointLength < MIN_CONTROL_POINT_LENGTH ||
    controlPointLength > MAX_CONTROL_POINT_LENGTH
  ) {
    throw new RangeError(
      `controlPointLength: must be an integer ${MIN_CONTROL_POINT_LENGTH}..${MAX_CONTROL_POINT_LENGTH}: ${controlPointLength}`,
    );
  }
}

/**
 * One initial fragment. `length` is separate from `data` so suites can build frames that
 * announce more (BLE-FRAG-01) or less (BLE-FRAG-04) than they carry.
 */
export function initialFrame(cmd: number, length: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (!Number.isInteger(cmd) || cmd < 0x80 || cmd > 0xff) {
    throw new RangeError(`cmd: must be 0x80..0xff (bit 7 set): ${cmd}`);
  }
  if (!Number.isInteger(length) || length < 0 || length > MAX_BLE_MESSAGE) {
    throw new RangeError(`length: not a u16: ${length}`);
  }
  const frame = new Uint8Array(INIT_HEADER + data.length);
  frame[0] = cmd;
  frame[1] = length >>> 8;
  frame[2] = length & 0xff;
  frame.set(data, INIT_HEADER);
  return frame;
}

/** One continuation fragment. */
export function continuationFrame(seq: number, data: Uint8Array): Uint8Array {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) throw new RangeError(`seq: must be 0..127: ${seq}`);
  const frame = new Uint8Array(CONT_HEADER + data.length);
  frame[0] = seq;
  frame.set(data, CONT_HEADER);
  return frame;
}

/**
 * Splits one message into fragments of at most `controlPointLength` bytes: an initial
 * fragment (CMD HLEN LLEN DATA) and continuations SEQ 0, 1, … 0x7F, 0, … (BLE-FRAG-07).
 */
export function fragment(cmd: number, payload: Uint8Array, controlPointLength: number): Uint8Array[] {
  checkControlPointLength(controlPointLength);
  if (payload.length > MAX_BLE_MESSAGE) {
    throw new RangeError(`payload: ${payload.length} bytes exceed the FIDO BLE maximum ${MAX_BLE_MESSAGE}`);
  }
  const first = Math.min(payload.length, controlPointLength - INIT_HEADER);
  const frames = [initialFrame(cmd, payload.length, payload.subarray(0, first))];
  const step = controlPointLength - CONT_HEADER;
  for (let offset = first, seq = 0; offset < payload.length; offset += step, seq = (seq + 1) & MAX_SEQ) {
    frames.push(continuationFrame(seq, payload.subarray(offset, offset + step)));
  }
  return frames;
}

/** Reads one fragment's header; never throws (a short frame is `malformed`). */
export function parseFrame(raw: Uint8Array): BleFrame {
  if (raw.length === 0) return { kind: 'malformed', raw };
  const type = raw[0]!;
  if (type & 0x80) {
    if (raw.length < INIT_HEADER) return { kind: 'malformed', raw };
    const length = (raw[1]! << 8) | raw[2]!;
    return { kind: 'init', cmd: type, length, data: raw.subarray(INIT_HEADER), raw };
  }
  return { kind: 'cont', seq: type, data: raw.subarray(CONT_HEADER), raw };
}

/**
 * What feeding one fragment to a FrameAssembler did:
 * complete (take() the message), more (continuations needed), bad-seq (continuation out of
 * order; dropped), too-long (announced length above the assembler's maximum; nothing
 * started), not-open (a continuation with no message open), over-length (more data than
 * announced, BLE-FRAG-04; dropped).
 */
export type FrameStatus = 'complete' | 'more' | 'bad-seq' | 'too-long' | 'not-open' | 'over-length';

/**
 * Reassembles one message. The caller decides what each status means on its side (host:
 * device fault; device: ERROR frame) and whether an initial fragment while `open` is allowed.
 */
export class FrameAssembler {
  readonly maxLength: number;
  #cmd = 0;
  #buffer = new Uint8Array(0);
  #filled = 0;
  #nextSeq = 0;
  #open = false;
  #done = false;

  constructor(maxLength: number = MAX_BLE_MESSAGE) {
    if (!Number.isInteger(maxLength) || maxLength < 0 || maxLength > MAX_BLE_MESSAGE) {
      throw new RangeError(`maxLength: must be an integer 0..${MAX_BLE_MESSAGE}: ${maxLength}`);
    }
    this.maxLength = maxLength;
  }

  /** True while a message has started and still needs continuations. */
  get open(): boolean {
    return this.#open;
  }
  get cmd(): number {
    return this.#cmd;
  }
  /** Announced length of the current or last message. */
  get length(): number {
    return this.#buffer.length;
  }
  get received(): number {
    return this.#filled;
  }

  /** Starts a message (dropping any open one: the caller checks `open` first if it cares). */
  start(frame: InitialFrame): FrameStatus {
    this.reset();
    if (frame.length > this.maxLength) return 'too-long';
    if (frame.data.length > frame.length) return 'over-length';
    this.#cmd = frame.cmd;
    this.#buffer = new Uint8Array(frame.length);
    this.#buffer.set(frame.data);
    this.#filled = frame.data.length;
    return this.#settle();
  }

  add(frame: ContinuationFrame): FrameStatus {
    if (!this.#open) return 'not-open';
    if (frame.seq !== this.#nextSeq) {
      this.reset();
      return 'bad-seq';
    }
    if (frame.data.length > this.#buffer.length - this.#filled) {
      this.reset();
      return 'over-length';
    }
    this.#buffer.set(frame.data, this.#filled);
    this.#filled += frame.data.length;
    this.#nextSeq = (this.#nextSeq + 1) & MAX_SEQ;
    return this.#settle();
  }

  /** The completed message; throws if there is none (a caller bug, not a device fault). */
  take(): Uint8Array {
    if (!this.#done) throw new Error('FrameAssembler.take: no complete message');
    const message = this.#buffer;
    this.reset();
    return message;
  }

  reset(): void {
    this.#open = false;
    this.#done = false;
    this.#filled = 0;
    this.#nextSeq = 0;
    this.#buffer = new Uint8Array(0);
  }

  #settle(): FrameStatus {
    this.#done = this.#filled === this.#buffer.length;
    this.#open = !this.#done;
    return this.#done ? 'complete' : 'more';
  }
}
