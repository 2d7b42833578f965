import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import { concat, equal, readU32be } from '../bytes.ts';

/**
 * Key handles that carry the credential's private scalar, sealed with AES-256-GCM under
 * the chip's master key, with the appParam as associated data. Any bit changed in the
 * handle, or a handle presented with another appParam or to another chip, fails the tag
 * check and the chip answers 6A80 (catalogue U2F-AUTH-04..07, U2F-AUTH-13).
 *
 * Layout: IV (16) ‖ ciphertext of d (32) ‖ tag (16) = 64 bytes, which satisfies GU's
 * L >= 64 and old hosts' 128-byte limit (catalogue §1.1, U2F-REG-07).
 */
export const KEY_HANDLE_LENGTH = 64;
const IV = 16;

export interface UnwrappedKey {
  /** 32-byte private scalar. */
  readonly d: Uint8Array;
  readonly key: KeyObject;
}

interface VerifiedHandle {
  readonly keyHandle: Uint8Array;
  readonly appParam: Uint8Array;
  readonly unwrapped: UnwrappedKey;
}

export class KeyStore {
  readonly #master: Uint8Array;
  /** Imported KeyObjects by scalar: importing costs ~70 us, more than the signature itself. */
  readonly #cache = new Map<string, KeyObject>();

  constructor(masterKey: Uint8Array = randomBytes(32)) {
    if (masterKey.length !== 32)
      throw new RangeError(`masterKey: expected 32 bytes, got ${masterKey.length}`);
    this.#master = Uint8Array.from(masterKey);
  }

  wrap(d: Uint8Array, appParam: Uint8Array): Uint8Array {
    const iv = randomBytes(IV);
    const cipher = createCipheriv('aes-256-gcm', this.#master, iv);
    cipher.setAAD(appParam);
    const body = concat(cipher.update(d), cipher.final());
    return concat(iv, body, cipher.getAuthTag());
  }

  /**
   * Handles that already passed the tag check, with the exact bytes of handle and appParam.
   * A lookup compares every byte, so a changed bit in either misses and goes through
   * AES-GCM again: the check is the same; it only saves the emulator ~5 us per signature.
   * Keyed by the handle's first four bytes (random IV bytes); a second handle with the same
   * four bytes simply is not cached.
   */
  readonly #verified = new Map<number, VerifiedHandle>();

  /** The credential key, or undefined when the handle is not this chip's for this appParam. */
  unwrap(keyHandle: Uint8Array, appParam: Uint8Array): UnwrappedKey | undefined {
    if (keyHandle.length !== KEY_HANDLE_LENGTH) return undefined;
    const id = readU32be(keyHandle, 0);
    const known = this.#verified.get(id);
    if (known && equal(known.keyHandle, keyHandle) && equal(known.appParam, appParam)) return known.unwrapped;
    const unwrapped = this.#unwrap(keyHandle, appParam);
    if (unwrapped && !known) {
      if (this.#verified.size >= 4096) this.#verified.delete(this.#verified.keys().next().value as number);
      this.#verified.set(id, {
        keyHandle: Uint8Array.from(keyHandle),
        appParam: Uint8Array.from(appParam),
        unwrapped,
      });
    }
    return unwrapped;
  }

  #unwrap(keyHandle: Uint8Array, appParam: Uint8Array): UnwrappedKey | undefined {
    const decipher = createDecipheriv('aes-256-gcm', this.#master, keyHandle.subarray(0, IV));
    decipher.setAAD(appParam);
    decipher.setAuthTag(keyHandle.subarray(IV + 32)); // 16-byte GCM tag
    let d: Uint8Array;
    try {
      d = concat(decipher.update(keyHandle.subarray(IV, IV + 32)), decipher.final());
    } catch {
      return undefined;
    }
    return { d, key: this.#keyObject(d) };
  }

  #keyObject(d: Uint8Array): KeyObject {
    const id = Buffer.from(d).toString('base64');
    let key = this.#cache.get(id);
    if (!key) {
      // SEC1 ECPrivateKey for prime256v1 without the optional public key.
      const der = concat(Uint8Array.of(0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20), d, P256_OID_TAGGED);
      key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'sec1' });
      this.#put(id, key);
    }
    return key;
  }

  /** Registers an already-imported key so the first authentication does not pay the import. */
  remember(d: Uint8Array, key: KeyObject): void {
    this.#put(Buffer.from(d).toString('base64'), key);
  }

  /** Caches an imported key, forgetting the oldest beyond 4096 so a long run stays bounded. */
  #put(id: string, key: KeyObject): void {
    if (this.#cache.size >= 4096) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, key);
  }
}

// [0] { OID 1.2.840.10045.3.1.7 }
const P256_OID_TAGGED = Uint8Array.of(0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
