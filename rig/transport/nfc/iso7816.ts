/**
 * ISO 7816-4 pieces that only the NFC transport needs (catalogue §1.3): the FIDO SELECT,
 * GET RESPONSE, command chaining and the SW1 values of the 61xx / 6Cxx recovery. Pure
 * functions over the APDU codec of apdu.ts.
 */
import { fromHex } from '../../bytes.ts';
import { encodeExtended, encodeShort, parseCommandApdu } from './apdu.ts';

/** FIDO applet AID (catalogue §1.3; GN U2F_APPLET_AID, python-fido2 AID_FIDO). */
export const FIDO_AID = fromHex('A0 00 00 06 47 2F 00 01');

/** ISO instruction bytes used on the contactless link. */
export const ISO_INS = { SELECT: 0xa4, GET_RESPONSE: 0xc0 } as const;

/** SELECT P1: select by DF name (AID). */
export const SELECT_BY_NAME = 0x04;

/** SW1 "more data, SW2 bytes remaining" (00 = 256 or more). */
export const SW1_MORE_DATA = 0x61;
/** SW1 "wrong Le, SW2 is the exact length available". */
export const SW1_WRONG_LE = 0x6c;
/** CLA bit for "more blocks of this command follow" (ISO 7816-4 §5.1.1.1). */
export const CLA_CHAINING = 0x10;

/** ISO status words beyond the U2F set (SW in apdu.ts). */
export const ISO_SW = {
  FILE_NOT_FOUND: 0x6a82,
  LAST_COMMAND_OF_CHAIN_EXPECTED: 0x6883,
  NO_PRECISE_DIAGNOSIS: 0x6f00,
} as const;

/** NFCCTAP_MSG / NFCCTAP_GETRESPONSE (CLA 80, catalogue §1.3); the U2F-only chip answers 6D00. */
export const NFCCTAP = { CLA: 0x80, MSG: 0x10, GET_RESPONSE: 0x11 } as const;

/** python-fido2's CTAP2 probe: NFCCTAP_MSG GetInfo (catalogue §5, NFC-CTAP-01). */
export const CTAP2_GETINFO_PROBE = fromHex('80 10 80 00 01 04 00');

/** The SELECT answers a host accepts: U2F-capable, or FIDO2-only (libfido2 v_u2f / v_fido). */
export const SELECT_VERSIONS = ['U2F_V2', 'FIDO_2_0'] as const;
export type SelectVersion = (typeof SELECT_VERSIONS)[number];

/**
 * `00 A4 04 00 08 <FIDO AID> [00]` (NFC-SEL-01, with Le; NFC-SEL-02, without). Le defaults
 * to present because python-fido2, libfido2 and GN all send it.
 */
export function selectFido({ le = true }: { le?: boolean } = {}): Uint8Array {
  return encodeShort({
    ins: ISO_INS.SELECT,
    p1: SELECT_BY_NAME,
    p2: 0x00,
    data: FIDO_AID,
    le: le ? 256 : undefined,
  });
}

/** `00 C0 00 00 Le`, `ne` 1..256 (256 encodes as 00, GN style). */
export function getResponse(ne: number): Uint8Array {
  if (!Number.isInteger(ne) || ne < 1 || ne > 256) throw new RangeError(`ne: must be 1..256, got ${ne}`);
  return encodeShort({ ins: ISO_INS.GET_RESPONSE, le: ne });
}

/**
 * Whether a CLA asks for command chaining: bit 0x10 in the interindustry (0x0X/0x1X) or
 * proprietary (0x8X/0x9X) classes; other CLA encodings do not define that bit.
 */
export function isChainingCla(cla: number): boolean {
  return (cla & CLA_CHAINING) !== 0 && (cla & 0x60) === 0;
}

/**
 * ISO command chaining of one short command: `data` split into `chunkSize` blocks, CLA|0x10
 * on all but the last, Le only on the last (catalogue §1.3: libfido2 240, python-fido2 250,
 * GN 256/100 bytes per block; 255 is the short-Lc maximum). Data that fits in one block
 * yields one plain short APDU.
 */
export function chainShort(
  cla: number,
  ins: number,
  p1: number,
  p2: number,
  data: Uint8Array,
  le: number | undefined,
  chunkSize = 250,
): Uint8Array[] {
  if (!(data instanceof Uint8Array)) throw new TypeError('data: must be a Uint8Array');
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 255) {
    throw new RangeError(`chunkSize: must be 1..255, got ${chunkSize}`);
  }
  if ((cla & CLA_CHAINING) !== 0) throw new RangeError(`cla: chaining bit already set: ${cla}`);
  const blocks: Uint8Array[] = [];
  let offset = 0;
  while (data.length - offset > chunkSize) {
    const block = data.subarray(offset, offset + chunkSize);
    blocks.push(encodeShort({ cla: cla | CLA_CHAINING, ins, p1, p2, data: block }));
    offset += chunkSize;
  }
  blocks.push(encodeShort({ cla, ins, p1, p2, data: data.subarray(offset), le }));
  return blocks;
}

/** SW as two bytes. */
export function statusBytes(sw: number): Uint8Array {
  return Uint8Array.of((sw >>> 8) & 0xff, sw & 0xff);
}

/**
 * The C-APDUs one U2F message becomes on the contactless link (catalogue §5: python-fido2
 * re-parses Ctap1's extended APDUs and sends them short with 250-byte chaining). In 'short'
 * mode a parseable extended (or legacy 9-byte VERSION) command is re-encoded short, chained
 * above `chunkSize`, with Le 00 when it had an Le. Everything else — 'extended' mode, a
 * command that is already short, or one that does not parse — goes out unchanged, so
 * conformance suites can send malformed bytes (NFC-APDU-*).
 */
export function cardCommands(apdu: Uint8Array, mode: 'short' | 'extended', chunkSize = 250): Uint8Array[] {
  if (!(apdu instanceof Uint8Array)) throw new TypeError('apdu: must be a Uint8Array');
  const parsed = parseCommandApdu(apdu);
  if (mode === 'extended' || !parsed.ok || parsed.apdu.form === 'short') return [apdu];
  const { cla, ins, p1, p2, data, le } = parsed.apdu;
  if ((cla & CLA_CHAINING) !== 0) return [apdu];
  return chainShort(cla, ins, p1, p2, data, le === undefined ? undefined : 256, chunkSize);
}

/**
 * The same command with Ne `ne` (the 6Cxx retry); undefined when the command does not parse
 * or is the legacy VERSION form, which has no Le of its own to correct.
 */
export function withNe(command: Uint8Array, ne: number): Uint8Array | undefined {
  const parsed = parseCommandApdu(command);
  if (!parsed.ok || parsed.apdu.form === 'legacy-version') return undefined;
  const { cla, ins, p1, p2, data, form } = parsed.apdu;
  const fields = { cla, ins, p1, p2, data, le: ne };
  return form === 'short' ? encodeShort(fields) : encodeExtended(fields);
}
