/**
 * ECDSA P-256 / SHA-256 signature checks for U2F (raw message formats §4.3, §5.4) and the
 * strict DER shape check of catalogue U2F-CRY-01.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { hex } from '../bytes.ts';
import { deviceFault } from '../errors.ts';
import { derContent, readDerHeader } from './der.ts';

/**
 * A U2F user public key (65-byte uncompressed P-256 point) as a node:crypto key, for
 * checking many signatures fast (benchmarks, throughput and soak cases).
 */
export function p256KeyObject(publicKey65: Uint8Array): KeyObject {
  if (publicKey65.length !== 65 || publicKey65[0] !== 0x04) {
    throw new RangeError('publicKey65 must be a 65-byte uncompressed point (04 ‖ X ‖ Y)');
  }
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: Buffer.from(publicKey65.subarray(1, 33)).toString('base64url'),
      y: Buffer.from(publicKey65.subarray(33)).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** Largest DER ECDSA-P256 signature (catalogue §1.1, MAX_ECDSA_SIG_SIZE). */
const MAX_DER_SIGNATURE = 72;

/**
 * True when `derSignature` is a valid ECDSA-P256 signature over SHA-256(`message`).
 * High-S signatures are accepted on purpose: U2F never required low-S and the spec's own
 * registration example (catalogue §3.1) has s > n/2. A signature or key noble cannot decode
 * counts as "does not verify"; use parseDerSignature to learn why.
 */
export function verifySignature(
  publicKey65: Uint8Array,
  message: Uint8Array,
  derSignature: Uint8Array,
): boolean {
  if (!(publicKey65 instanceof Uint8Array) || publicKey65.length !== 65 || publicKey65[0] !== 0x04) {
    throw new RangeError(`publicKey65 must be a 65-byte uncompressed point (04 ‖ X ‖ Y)`);
  }
  if (!(message instanceof Uint8Array)) throw new TypeError('message must be a Uint8Array');
  if (!(derSignature instanceof Uint8Array)) throw new TypeError('derSignature must be a Uint8Array');
  try {
    return p256.verify(derSignature, message, publicKey65, { prehash: true, lowS: false, format: 'der' });
  } catch {
    return false;
  }
}

function fault(what: string, der: Uint8Array): never {
  throw deviceFault(`DER signature: ${what}: "${hex(der)}" (catalogue U2F-CRY-01)`, {
    actual: hex(der),
    expected: '30 LL 02 Lr r 02 Ls s, minimal INTEGERs, ≤ 72 bytes',
  });
}

/** One positive, minimally encoded INTEGER at `offset` (X.690 §8.3.2). */
function readInteger(der: Uint8Array, offset: number, name: 'r' | 's'): { value: bigint; end: number } {
  if (der[offset] !== 0x02) fault(`${name} is not an INTEGER`, der);
  if ((der[offset + 1] ?? 0) & 0x80) fault(`${name} uses a long-form length`, der);
  const el = readDerHeader(der, offset);
  if (el === undefined || el.length === 0 || el.end > der.length)
    fault(`${name} length runs past the end`, der);
  const content = derContent(der, el);
  const [first = 0, second = 0] = content;
  if (first & 0x80) fault(`${name} is negative`, der);
  if (first === 0 && content.length > 1 && (second & 0x80) === 0)
    fault(`${name} has a superfluous 00 pad`, der);
  const value = BigInt(`0x${hex(content)}`);
  if (value === 0n || value >= p256.Point.Fn.ORDER) fault(`${name} is outside 1..n-1`, der);
  return { value, end: el.end };
}

/** Strictly parses a DER ECDSA signature into (r, s); any deviation is a device failure. */
export function parseDerSignature(der: Uint8Array): { r: bigint; s: bigint } {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  if (der.length > MAX_DER_SIGNATURE) fault(`${der.length} bytes, more than ${MAX_DER_SIGNATURE}`, der);
  if (der[0] !== 0x30) fault('not a SEQUENCE', der);
  if ((der[1] ?? 0) & 0x80) fault('SEQUENCE uses a long-form length', der);
  const seq = readDerHeader(der);
  if (seq === undefined || seq.end !== der.length) {
    fault(`SEQUENCE length ${seq?.length ?? 'missing'} does not match ${der.length - 2} content bytes`, der);
  }
  const r = readInteger(der, 2, 'r');
  const s = readInteger(der, r.end, 's');
  if (s.end !== der.length) fault('bytes after s inside the SEQUENCE', der);
  return { r: r.value, s: s.value };
}
