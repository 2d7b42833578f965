import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { parseDerSignature } from '../u2f/verify.ts';
import { REUSED_NONCE, signWithNonce } from './fixed-nonce-sign.ts';

describe('signWithNonce (nonce-reuse fault)', () => {
  it('makes signatures node:crypto verifies, with the same r for one nonce', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const a = signWithNonce(Uint8Array.of(1, 2, 3), d, REUSED_NONCE);
    const b = signWithNonce(Uint8Array.of(4, 5, 6), d, REUSED_NONCE);
    assert.ok(verify('sha256', Uint8Array.of(1, 2, 3), publicKey, a));
    assert.ok(verify('sha256', Uint8Array.of(4, 5, 6), publicKey, b));
    assert.equal(parseDerSignature(a).r, parseDerSignature(b).r);
    assert.notEqual(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'));
  });
});
