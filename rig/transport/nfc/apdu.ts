/**
 * ISO 7816-4 command/response APDUs (catalogue §1.1): the codec every U2F message goes
 * through, on each transport (extended form on HID and BLE, short form on NFC). The host
 * side encodes; the device side (emulator) parses with parseCommandApdu and answers 6700
 * when a length rule is broken. The U2F instruction and control bytes: rig/u2f/apdu.ts.
 */
import { concat, hex, readU16be, toBytes, u16be } from '../../bytes.ts';
import { deviceFault } from '../../errors.ts';

/**
 * ISO 7816-4 status words U2F uses (catalogue §1.1). 6984 is the legacy-draft WRONG_DATA
 * and is never expected. The contactless link's own: ISO_SW in iso7816.ts.
 */
export const SW = {
  NO_ERROR: 0x9000,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  WRONG_DATA: 0x6a80,
  WRONG_LENGTH: 0x6700,
  CLA_NOT_SUPPORTED: 0x6e00,
  INS_NOT_SUPPORTED: 0x6d00,
} as const;

const SW_NAMES = new Map<number, string>(Object.entries(SW).map(([name, value]) => [value, name]));

/** "CONDITIONS_NOT_SATISFIED (6985)" for messages; 61xx is ISO "more data". */
export function swName(sw: number): string {
  const code = sw.toString(16).padStart(4, '0');
  const name = SW_NAMES.get(sw) ?? ((sw & 0xff00) === 0x6100 ? 'MORE_DATA' : 'UNKNOWN');
  return `${name} (${code})`;
}

export interface ExtendedApduFields {
  cla?: number;
  ins: number;
  p1?: number;
  p2?: number;
  data?: Uint8Array;
  /** Ne, 1..65536; 65536 encodes as 0000. Undefined omits Le (case 1 / 3E). */
  le?: number;
}

function checkByte(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new RangeError(`${name} must be a byte (0..255), got ${value}`);
  }
}

function checkHeader(cla: number, ins: number, p1: number, p2: number): Uint8Array {
  checkByte('cla', cla);
  checkByte('ins', ins);
  checkByte('p1', p1);
  checkByte('p2', p2);
  return Uint8Array.of(cla, ins, p1, p2);
}

/**
 * Extended-length encoding (catalogue §1.1, the only form HID and BLE use):
 * `CLA INS P1 P2 00 Lc_hi Lc_lo data Le_hi Le_lo`, or `CLA INS P1 P2 00 Le_hi Le_lo` with no data.
 */
export function encodeExtended({ cla = 0, ins, p1 = 0, p2 = 0, data, le }: ExtendedApduFields): Uint8Array {
  const header = checkHeader(cla, ins, p1, p2);
  if (data !== undefined && data.length > 0xffff) {
    throw new RangeError(`data must be at most 65535 bytes for extended Lc, got ${data.length}`);
  }
  if (le !== undefined && (!Number.isInteger(le) || le < 1 || le > 0x10000)) {
    throw new RangeError(`le must be 1..65536 (65536 encodes as 0000), got ${le}`);
  }
  const leBytes = le === undefined ? new Uint8Array(0) : u16be(le & 0xffff);
  if (data === undefined || data.length === 0) {
    return le === undefined ? header : concat(header, Uint8Array.of(0), leBytes);
  }
  return concat(header, Uint8Array.of(0), u16be(data.length), data, leBytes);
}

/** Short encoding (NFC, catalogue §3.3): data ≤ 255, Ne 1..256 with 256 as 00. */
export function encodeShort({ cla = 0, ins, p1 = 0, p2 = 0, data, le }: ExtendedApduFields): Uint8Array {
  const header = checkHeader(cla, ins, p1, p2);
  if (data !== undefined && data.length > 0xff) {
    throw new RangeError(`data must be at most 255 bytes for short Lc, got ${data.length}`);
  }
  if (le !== undefined && (!Number.isInteger(le) || le < 1 || le > 0x100)) {
    throw new RangeError(`le must be 1..256 (256 encodes as 00), got ${le}`);
  }
  const leBytes = le === undefined ? new Uint8Array(0) : Uint8Array.of(le & 0xff);
  const body =
    data === undefined || data.length === 0 ? new Uint8Array(0) : concat(Uint8Array.of(data.length), data);
  return concat(header, body, leBytes);
}

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Uint8Array;
  /** Ne; undefined when the command carried no Le field. */
  le: number | undefined;
  /** 'legacy-version' is the 9-byte Lc=000000 form, accepted for any INS (FT-U sends it for INS 00 too). */
  form: 'extended' | 'short' | 'legacy-version';
}

export type ParsedCommand = { ok: true; apdu: CommandApdu } | { ok: false; sw: number; reason: string };

function wrongLength(reason: string): ParsedCommand {
  return { ok: false, sw: SW.WRONG_LENGTH, reason };
}

/**
 * Device-side parse of one command APDU (ISO 7816-4 §5.1 cases 1, 2S, 3S, 4S, 2E, 3E, 4E,
 * plus the legacy VERSION form). Any length that does not add up, including trailing
 * bytes after Le (U2F-VER-06), is reported as 6700 with the rule that was broken.
 */
export function parseCommandApdu(bytes: Uint8Array): ParsedCommand {
  const n = bytes.length;
  if (n < 4) return wrongLength(`APDU is ${n} bytes, shorter than the 4-byte header`);
  // Indexed reads, not destructuring: a typed array destructures through its iterator,
  // which costs the emulator microseconds per command.
  const head: Header = { cla: bytes[0]!, ins: bytes[1]!, p1: bytes[2]!, p2: bytes[3]! };
  if (n === 4) return command(head, EMPTY, undefined, 'short');
  const b4 = bytes[4]!;
  if (n === 5) return command(head, EMPTY, b4 === 0 ? 256 : b4, 'short');
  if (b4 !== 0) {
    const end = 5 + b4;
    if (n === end) return command(head, bytes.subarray(5, end), undefined, 'short');
    if (n === end + 1) return command(head, bytes.subarray(5, end), bytes[end]! || 256, 'short');
    return wrongLength(`short Lc ${b4} needs ${end} or ${end + 1} bytes, got ${n}`);
  }
  if (n < 7) return wrongLength(`extended APDU needs at least 7 bytes, got ${n}`);
  if (n === 7) return command(head, EMPTY, readU16be(bytes, 5) || 0x10000, 'extended');
  const lc = readU16be(bytes, 5);
  if (lc === 0) {
    if (n === 9) return command(head, EMPTY, readU16be(bytes, 7) || 0x10000, 'legacy-version');
    return wrongLength(`extended Lc 0000 is only valid in the 9-byte legacy form, got ${n} bytes`);
  }
  const end = 7 + lc;
  if (n === end) return command(head, bytes.subarray(7, end), undefined, 'extended');
  if (n === end + 2)
    return command(head, bytes.subarray(7, end), readU16be(bytes, end) || 0x10000, 'extended');
  return wrongLength(`extended Lc ${lc} needs ${end} or ${end + 2} bytes, got ${n}`);
}

type Header = Pick<CommandApdu, 'cla' | 'ins' | 'p1' | 'p2'>;
const EMPTY = new Uint8Array(0);

/** `data` is a view, not a copy: the caller's bytes are the request and are not reused. */
function command(
  head: Header,
  data: Uint8Array,
  le: number | undefined,
  form: CommandApdu['form'],
): ParsedCommand {
  return { ok: true, apdu: { cla: head.cla, ins: head.ins, p1: head.p1, p2: head.p2, data, le, form } };
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
  /** Every byte the device sent, SW included. */
  raw: Uint8Array;
}

/** Splits a response into data and SW1SW2. Fewer than 2 bytes is a device failure. */
export function parseResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) {
    throw deviceFault(`response APDU is ${bytes.length} bytes, too short for SW1SW2: "${hex(bytes)}"`, {
      actual: hex(bytes),
      expected: 'data ‖ SW1 SW2',
    });
  }
  const raw = toBytes(bytes);
  return { data: raw.subarray(0, raw.length - 2), sw: readU16be(raw, raw.length - 2), raw };
}
