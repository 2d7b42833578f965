/**
 * CTAPHID / U2FHID packet codec (conformance-catalogue §1.2). Pure functions plus one small
 * reassembly helper shared by the host transport and the emulated device, so both sides of an
 * emulated run exercise the same framing rules.
 */
import { allocBytes } from '../../bytes.ts';

/** Command bytes with TYPE_INIT (bit 7) set, as they appear on the wire (§1.2). */
export const CTAPHID = {
  PING: 0x81,
  MSG: 0x83,
  LOCK: 0x84,
  INIT: 0x86,
  WINK: 0x88,
  CBOR: 0x90,
  CANCEL: 0x91,
  KEEPALIVE: 0xbb,
  SYNC: 0xbc,
  ERROR: 0xbf,
} as const;

/** Payload byte of an ERROR (0xBF) frame (§1.2). */
export const ERR = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  MSG_TIMEOUT: 0x05,
  CHANNEL_BUSY: 0x06,
  LOCK_REQUIRED: 0x0a,
  INVALID_CID: 0x0b,
  OTHER: 0x7f,
} as const;

/** Capability flags in byte 16 of the INIT response (§1.2). */
export const CAPABILITY = { WINK: 0x01, LOCK: 0x02, CBOR: 0x04, NMSG: 0x08 } as const;

export const BROADCAST_CID = 0xffffffff;
/** 57 + 128 · 59: an init packet and CONTs with SEQ 0..127 (§1.2 "Max message"). */
export const MAX_MESSAGE = 7609;
export const REPORT_SIZE = 64;
/** Payload bytes in an init packet: 64 − CID(4) − CMD(1) − BCNT(2). */
export const INIT_DATA = 57;
/** Payload bytes in a continuation packet: 64 − CID(4) − SEQ(1). */
export const CONT_DATA = 59;
export const MAX_SEQ = 0x7f;
export const TYPE_INIT = 0x80;
export const INIT_NONCE_SIZE = 8;
/** nonce(8) · CID(4) · protocol version · major · minor · build · capabilities. */
export const INIT_RESPONSE_SIZE = 17;
export const PROTOCOL_VERSION = 2;

const EMPTY = new Uint8Array(0);

const errNames = new Map<number, string>(Object.entries(ERR).map(([name, code]) => [code, `ERR_${name}`]));
const cmdNames = new Map<number, string>(Object.entries(CTAPHID).map(([name, code]) => [code, name]));

/** 'ERR_CHANNEL_BUSY' for 6; unknown codes are kept visible as 'ERR_0x42'. */
export function errName(code: number): string {
  return errNames.get(code) ?? `ERR_0x${code.toString(16).padStart(2, '0')}`;
}

/** 'MSG' for 0x83; unknown commands as 'CMD_0xe6'. */
export function cmdName(cmd: number): string {
  return cmdNames.get(cmd) ?? `CMD_0x${cmd.toString(16).padStart(2, '0')}`;
}

export interface InitPacket {
  readonly kind: 'init';
  readonly cid: number;
  readonly cmd: number;
  readonly bcnt: number;
  /** The payload bytes this packet carries: min(bcnt, 57). */
  readonly data: Uint8Array;
  readonly raw: Uint8Array;
}

export interface ContPacket {
  readonly kind: 'cont';
  readonly cid: number;
  readonly seq: number;
  /** All 59 data bytes; the reassembler knows how many of them count. */
  readonly data: Uint8Array;
  readonly raw: Uint8Array;
}

export type Packet = InitPacket | ContPacket;

function checkCid(cid: number): void {
  if (!Number.isInteger(cid) || cid < 0 || cid > 0xffffffff) throw new RangeError(`cid: not a u32: ${cid}`);
}

function checkCmd(cmd: number): void {
  if (!Number.isInteger(cmd) || cmd < TYPE_INIT || cmd > 0xff) {
    throw new RangeError(`cmd: must be 0x80..0xff (TYPE_INIT set): ${cmd}`);
  }
}

function writeCid(report: Uint8Array, cid: number): void {
  report[0] = cid >>> 24;
  report[1] = (cid >>> 16) & 0xff;
  report[2] = (cid >>> 8) & 0xff;
  report[3] = cid & 0xff;
}

/**
 * One 64-byte init report. `bcnt` is separate from `data` so suites can build frames that
 * announce more than they carry (HID-LEN-01 sends BCNT 7610 with no CONTs).
 */
export function initPacket(cid: number, cmd: number, bcnt: number, data: Uint8Array = EMPTY): Uint8Array {
  checkCid(cid);
  checkCmd(cmd);
  if (!Number.isInteger(bcnt) || bcnt < 0 || bcnt > 0xffff) throw new RangeError(`bcnt: not a u16: ${bcnt}`);
  if (data.length > INIT_DATA) throw new RangeError(`data: ${data.length} bytes exceed ${INIT_DATA}`);
  const report = allocBytes(REPORT_SIZE);
  writeCid(report, cid);
  report[4] = cmd;
  report[5] = bcnt >>> 8;
  report[6] = bcnt & 0xff;
  report.set(data, 7);
  return report;
}

/** One 64-byte continuation report, zero padded. */
export function contPacket(cid: number, seq: number, data: Uint8Array): Uint8Array {
  checkCid(cid);
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) throw new RangeError(`seq: must be 0..127: ${seq}`);
  if (data.length > CONT_DATA) throw new RangeError(`data: ${data.length} bytes exceed ${CONT_DATA}`);
  const report = allocBytes(REPORT_SIZE);
  writeCid(report, cid);
  report[4] = seq;
  report.set(data, 5);
  return report;
}

/**
 * Splits one message into an init report and CONTs with SEQ 0, 1, 2, … (HID-MSG-02).
 * Same reports as initPacket/contPacket over payload slices, but the bytes are copied
 * straight from `payload`: a subarray per report would cost an object each.
 */
export function fragment(cid: number, cmd: number, payload: Uint8Array): Uint8Array[] {
  const length = payload.length;
  if (length > MAX_MESSAGE) {
    throw new RangeError(`payload: ${length} bytes exceed the CTAPHID maximum ${MAX_MESSAGE}`);
  }
  checkCid(cid);
  checkCmd(cmd);
  const init = allocBytes(REPORT_SIZE);
  writeCid(init, cid);
  init[4] = cmd;
  init[5] = length >>> 8;
  init[6] = length & 0xff;
  copyBytes(init, 7, payload, 0, Math.min(length, INIT_DATA));
  const reports = [init];
  for (let offset = INIT_DATA, seq = 0; offset < length; offset += CONT_DATA, seq++) {
    const report = allocBytes(REPORT_SIZE);
    writeCid(report, cid);
    report[4] = seq;
    copyBytes(report, 5, payload, offset, Math.min(CONT_DATA, length - offset));
    reports.push(report);
  }
  return reports;
}

/** `count` bytes from `source[from…]` to `target[at…]`; a loop beats a subarray for ≤ 59 bytes. */
function copyBytes(target: Uint8Array, at: number, source: Uint8Array, from: number, count: number): void {
  for (let i = 0; i < count; i++) target[at + i] = source[from + i]!;
}

/** The CID of a report of at least 4 bytes (parsePacket's `cid`, without the packet). */
export function reportCid(report: Uint8Array): number {
  return ((report[0]! << 24) | (report[1]! << 16) | (report[2]! << 8) | report[3]!) >>> 0;
}

/** Whether a report parsePacket would read as a CONT (at least 7 bytes, TYPE_INIT clear). */
export function isContReport(report: Uint8Array): boolean {
  return report.length >= 7 && (report[4]! & TYPE_INIT) === 0;
}

/** Reads a report's header. Throws RangeError naming `report` when it is too short to hold one. */
export function parsePacket(report: Uint8Array): Packet {
  if (report.length < 7)
    throw new RangeError(`report: ${report.length} bytes is too short for a CTAPHID packet`);
  const cid = reportCid(report);
  const type = report[4]!;
  if (type & TYPE_INIT) {
    const bcnt = (report[5]! << 8) | report[6]!;
    const data = report.subarray(7, 7 + Math.min(bcnt, INIT_DATA));
    return { kind: 'init', cid, cmd: type, bcnt, data, raw: report };
  }
  return { kind: 'cont', cid, seq: type, data: report.subarray(5, 5 + CONT_DATA), raw: report };
}

/**
 * What feeding one packet to a MessageAssembler did:
 * complete (take() the message), more (CONTs needed), bad-seq (CONT out of order; the
 * message is dropped), too-long (BCNT above MAX_MESSAGE; nothing started),
 * not-open (a CONT while no message is open).
 */
export type AssembleStatus = 'complete' | 'more' | 'bad-seq' | 'too-long' | 'not-open';

/**
 * Reassembles one message on one channel. The caller decides which CID it follows and what
 * each status means on its side (host: device fault; device: ERROR frame).
 */
export class MessageAssembler {
  #cid = 0;
  #cmd = 0;
  #buffer: Uint8Array = EMPTY;
  #filled = 0;
  #nextSeq = 0;
  #open = false;
  #done = false;

  /** True while a message has started and still needs CONTs. */
  get open(): boolean {
    return this.#open;
  }
  get cid(): number {
    return this.#cid;
  }
  get cmd(): number {
    return this.#cmd;
  }
  /** Announced length (BCNT) of the current or last message. */
  get length(): number {
    return this.#buffer.length;
  }
  get received(): number {
    return this.#filled;
  }

  start(packet: InitPacket): AssembleStatus {
    this.reset();
    if (packet.bcnt > MAX_MESSAGE) return 'too-long';
    this.#cid = packet.cid;
    this.#cmd = packet.cmd;
    this.#buffer = allocBytes(packet.bcnt);
    this.#buffer.set(packet.data);
    this.#filled = packet.data.length;
    return this.#settle();
  }

  add(packet: ContPacket): AssembleStatus {
    return this.#append(packet.seq, packet.data, 0);
  }

  /** add(parsePacket(report)) for a CONT report, read in place without the packet object. */
  addReport(report: Uint8Array): AssembleStatus {
    return this.#append(report[4]!, report, 5);
  }

  /** One CONT: SEQ and its data bytes at `source[from…]`. */
  #append(seq: number, source: Uint8Array, from: number): AssembleStatus {
    if (!this.#open) return 'not-open';
    if (seq !== this.#nextSeq) {
      this.reset();
      return 'bad-seq';
    }
    const take = Math.min(CONT_DATA, this.#buffer.length - this.#filled);
    copyBytes(this.#buffer, this.#filled, source, from, take);
    this.#filled += take;
    this.#nextSeq++;
    return this.#settle();
  }

  /** The completed message; throws if there is none (a caller bug, not a device fault). */
  take(): Uint8Array {
    if (!this.#done) throw new Error('MessageAssembler.take: no complete message');
    const message = this.#buffer;
    this.reset();
    return message;
  }

  reset(): void {
    this.#open = false;
    this.#done = false;
    this.#filled = 0;
    this.#nextSeq = 0;
    this.#buffer = EMPTY;
  }

  #settle(): AssembleStatus {
    this.#done = this.#filled === this.#buffer.length;
    this.#open = !this.#done;
    return this.#done ? 'complete' : 'more';
  }
}
