/**
 * U2F raw messages (FIDO U2F Raw Message Formats v1.2 §4–§6; catalogue §1.1, §3): request
 * encoders and response parsers. Parsers keep the raw bytes beside the fields
 * (architecture.md style 6) and throw deviceFault for anything a conformant device would
 * not send.
 */
import { concat, hex, readU32be, toBytes, u32be } from '../bytes.ts';
import { deviceFault } from '../errors.ts';
import { encodeExtended, encodeShort } from '../transport/nfc/apdu.ts';
import { encodeLegacyVersion, INS } from './apdu.ts';
import { readDerHeader } from './der.ts';

export type ApduForm = 'extended' | 'short';

/** Registration response reserved byte (catalogue §1.1, U2F_REGISTER_ID). */
export const REGISTER_RESERVED = 0x05;
/** Largest DER ECDSA-P256 signature (catalogue §1.1, MAX_ECDSA_SIG_SIZE). */
export const MAX_SIGNATURE_LENGTH = 72;

function checkLength(name: string, value: Uint8Array, length: number): void {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
}

/** Ne for "as much as you have": 65536 extended (Le 0000), 256 short (Le 00). */
function maxLe(form: ApduForm): number {
  return form === 'short' ? 0x100 : 0x10000;
}

function encode(form: ApduForm, fields: Parameters<typeof encodeExtended>[0]): Uint8Array {
  return form === 'short' ? encodeShort(fields) : encodeExtended(fields);
}

/**
 * REGISTER: body = challengeParam ‖ appParam (exactly 64 bytes). P1 defaults to 0x00 like
 * python-fido2/libfido2; u2f-ref-code sends 0x03 and Chromium 0x80 (catalogue §1.1).
 */
export function encodeRegister(
  challengeParam: Uint8Array,
  appParam: Uint8Array,
  { p1 = 0x00, form = 'extended' }: { p1?: number; form?: ApduForm } = {},
): Uint8Array {
  checkLength('challengeParam', challengeParam, 32);
  checkLength('appParam', appParam, 32);
  return encode(form, { ins: INS.REGISTER, p1, data: concat(challengeParam, appParam), le: maxLe(form) });
}

/** AUTHENTICATE: P1 = control, body = challengeParam ‖ appParam ‖ L ‖ keyHandle. */
export function encodeAuthenticate(
  control: number,
  challengeParam: Uint8Array,
  appParam: Uint8Array,
  keyHandle: Uint8Array,
  { form = 'extended' }: { form?: ApduForm } = {},
): Uint8Array {
  checkLength('challengeParam', challengeParam, 32);
  checkLength('appParam', appParam, 32);
  if (!(keyHandle instanceof Uint8Array)) throw new TypeError('keyHandle must be a Uint8Array');
  if (keyHandle.length < 1 || keyHandle.length > 255) {
    throw new RangeError(`keyHandle must be 1..255 bytes (one length byte), got ${keyHandle.length}`);
  }
  const data = concat(challengeParam, appParam, Uint8Array.of(keyHandle.length), keyHandle);
  return encode(form, { ins: INS.AUTHENTICATE, p1: control, data, le: maxLe(form) });
}

/** VERSION: ISO form `00 03 00 00 00 00 00`, or the legacy 9-byte python-fido2 form. */
export function encodeVersion(form: 'iso' | 'legacy' = 'iso'): Uint8Array {
  if (form === 'legacy') return encodeLegacyVersion();
  if (form !== 'iso') throw new RangeError(`form must be 'iso' or 'legacy', got ${String(form)}`);
  return encodeExtended({ ins: INS.VERSION, le: 0x10000 });
}

export interface RegisterResponse {
  raw: Uint8Array;
  reserved: number;
  userPublicKey: Uint8Array;
  keyHandle: Uint8Array;
  certificate: Uint8Array;
  signature: Uint8Array;
}

export interface AuthenticateResponse {
  raw: Uint8Array;
  flags: number;
  counter: number;
  signature: Uint8Array;
}

function short(bytes: Uint8Array, max = 96): string {
  return bytes.length > max ? `${hex(bytes.subarray(0, max))}… (${bytes.length} bytes)` : hex(bytes);
}

function fault(what: string, bytes: Uint8Array, expected: string): never {
  throw deviceFault(`${what}: "${short(bytes)}" (expected ${expected})`, { actual: hex(bytes), expected });
}

/**
 * The trailing DER signature: one SEQUENCE with a short-form length, ≤ 72 bytes, nothing
 * after it (catalogue U2F-CRY-01). INTEGER-level strictness is verify.ts parseDerSignature.
 */
function takeSignature(context: string, rest: Uint8Array): Uint8Array {
  if (rest.length === 0) fault(`${context}: signature missing`, rest, 'a DER SEQUENCE');
  const header = readDerHeader(rest);
  if (header === undefined || header.tag !== 0x30 || header.longForm) {
    fault(`${context}: signature is not a DER SEQUENCE with a short-form length`, rest, '30 LL …');
  }
  if (header.end > rest.length) fault(`${context}: signature truncated`, rest, `${header.end} bytes`);
  if (header.end > MAX_SIGNATURE_LENGTH) {
    fault(`${context}: signature is ${header.end} bytes`, rest, `at most ${MAX_SIGNATURE_LENGTH} bytes`);
  }
  if (header.end < rest.length) {
    fault(`${context}: ${rest.length - header.end} trailing bytes after the DER signature`, rest, 'nothing');
  }
  return rest.slice(0, header.end);
}

/**
 * REGISTER response data (SW removed): 05 ‖ pubkey(65) ‖ L ‖ KH ‖ cert ‖ signature
 * (U2F raw message formats §4.3; catalogue U2F-REG-04). The certificate has no length
 * field, so its DER header (30 81 xx / 30 82 xx xx) gives its end.
 */
export function parseRegisterResponse(data: Uint8Array): RegisterResponse {
  const raw = toBytes(data);
  const ctx = 'REGISTER response';
  if (raw.length < 67)
    fault(`${ctx}: truncated, ${raw.length} bytes before the key handle`, raw, '≥ 67 bytes');
  const reserved = raw[0] ?? 0;
  if (reserved !== REGISTER_RESERVED) fault(`${ctx}: reserved byte`, raw.subarray(0, 1), '05');
  const userPublicKey = raw.slice(1, 66);
  if (userPublicKey[0] !== 0x04) {
    fault(`${ctx}: user public key is not an uncompressed point`, userPublicKey, '04 ‖ X ‖ Y');
  }
  const khLength = raw[66] ?? 0;
  const certStart = 67 + khLength;
  if (certStart > raw.length) {
    fault(`${ctx}: key handle length ${khLength} runs past the end`, raw.subarray(66), `${khLength} bytes`);
  }
  const keyHandle = raw.slice(67, certStart);
  const rest = raw.subarray(certStart);
  const cert = readDerHeader(rest);
  if (cert === undefined || cert.tag !== 0x30 || !cert.longForm || cert.headerLength > 4) {
    fault(`${ctx}: attestation certificate header`, rest.subarray(0, 4), '30 81 xx or 30 82 xx xx');
  }
  if (cert.end > rest.length) {
    fault(
      `${ctx}: certificate length ${cert.end} runs past the end (${rest.length} bytes left)`,
      rest,
      'more bytes',
    );
  }
  const certificate = rest.slice(0, cert.end);
  const signature = takeSignature(ctx, rest.subarray(cert.end));
  return { raw, reserved, userPublicKey, keyHandle, certificate, signature };
}

/** AUTHENTICATE response data (SW removed): flags ‖ counter(4, BE) ‖ signature (§5.4). */
export function parseAuthenticateResponse(data: Uint8Array): AuthenticateResponse {
  const raw = toBytes(data);
  const ctx = 'AUTHENTICATE response';
  if (raw.length < 5) fault(`${ctx}: truncated, ${raw.length} bytes`, raw, 'flags ‖ counter ‖ signature');
  const signature = takeSignature(ctx, raw.subarray(5));
  return { raw, flags: raw[0] ?? 0, counter: readU32be(raw, 1), signature };
}

/** Bytes the attestation key signs: 00 ‖ appParam ‖ challengeParam ‖ keyHandle ‖ userPublicKey (§4.3). */
export function registrationSignedData(
  appParam: Uint8Array,
  challengeParam: Uint8Array,
  keyHandle: Uint8Array,
  userPublicKey: Uint8Array,
): Uint8Array {
  checkLength('appParam', appParam, 32);
  checkLength('challengeParam', challengeParam, 32);
  checkLength('userPublicKey', userPublicKey, 65);
  return concat(Uint8Array.of(0x00), appParam, challengeParam, keyHandle, userPublicKey);
}

/** Bytes the credential key signs: appParam ‖ flags ‖ counter(4, BE) ‖ challengeParam (§5.4). */
export function authenticationSignedData(
  appParam: Uint8Array,
  flags: number,
  counter: number,
  challengeParam: Uint8Array,
): Uint8Array {
  checkLength('appParam', appParam, 32);
  checkLength('challengeParam', challengeParam, 32);
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) {
    throw new RangeError(`counter must be a 32-bit unsigned integer, got ${counter}`);
  }
  return concat(appParam, Uint8Array.of(flags & 0xff), u32be(counter), challengeParam);
}
