import { createHash } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';

/**
 * ECDSA P-256 / SHA-256 with a nonce the caller chooses: only the nonce-reuse fault uses it.
 * Two signatures with one k share r, and from them anyone can solve for k and then the
 * private key (the PS3 and Android SecureRandom failures), so a rig must look for repeats.
 * Standard signing (node:crypto) picks a fresh random k for every signature.
 */
export function signWithNonce(message: Uint8Array, privateKey: Uint8Array, k: bigint): Uint8Array {
  const Fn = p256.Point.Fn;
  if (privateKey.length !== 32)
    throw new RangeError(`privateKey: must be 32 bytes, got ${privateKey.length}`);
  if (!(k > 0n && k < Fn.ORDER)) throw new RangeError('k: must be in 1..n-1');
  const e = BigInt(`0x${createHash('sha256').update(message).digest('hex')}`);
  const d = BigInt(`0x${Buffer.from(privateKey).toString('hex')}`);
  const r = Fn.create(p256.Point.BASE.multiply(k).toAffine().x);
  const s = Fn.mul(Fn.inv(k), Fn.create(e + r * d));
  return new p256.Signature(r, s).toBytes('der');
}

/** The nonce the faulty chip reuses (any fixed value in 1..n-1 shows the flaw). */
export const REUSED_NONCE = 0x1d2c3b4a59687786958473625140312f1e0d1c2b3a4958677685a4b3c2d1e0fn;
