import {
  createPrivateKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { allocBytes, concat, hex, writeU32be } from '../bytes.ts';
import { parseCommandApdu, SW } from '../transport/nfc/apdu.ts';
import { AUTH_P1, INS } from '../u2f/apdu.ts';
import type { DeviceFaultName, FuzzFaultName } from './faults.ts';

type FaultName = DeviceFaultName | FuzzFaultName;

import { REUSED_NONCE, signWithNonce } from './fixed-nonce-sign.ts';
import { KEY_HANDLE_LENGTH, KeyStore, type UnwrappedKey } from './key-store.ts';
import type { PresenceLike, PresenceSource } from './presence.ts';

export type CounterMode = 'global' | 'per-credential';

export interface AuthenticatorOptions {
  /** DER attestation (batch) certificate. */
  attestationCertificate: Uint8Array;
  attestationKey: KeyObject;
  presence: PresenceSource;
  counterMode?: CounterMode;
  /** 32-byte key-wrapping key; a fresh random one makes a distinct chip. */
  masterKey?: Uint8Array;
  /** Initial signature counter (global mode). */
  counter?: number;
  /** Deliberate non-conformances (tests of the suites themselves). */
  faults?: readonly FaultName[];
  /** Told of every signature the chip makes (the battery model draws charge). */
  onSignature?: () => void;
  /**
   * Whether the chip works right now (the thermal model): 'error-status' answers 6F00 to
   * everything, 'bad-signature' signs wrongly. Default: always 'ok'.
   */
  condition?: () => ChipCondition;
  /**
   * The counter reaches non-volatile memory every this many increments (default 1: every
   * one). A chip that batches its NVM writes loses the rest on a power cut (powerLost()).
   */
  persistCounterEvery?: number;
  /**
   * Sanctioned answers on disputed points (fixtures/requirements.yaml); defaults: a
   * truncated key handle is 6A80 (U2F-AUTH-07), the counter rises by 1 (U2F-CTR-01),
   * REGISTER without Le registers (U2F-REG-12).
   */
  disputed?: {
    truncatedKeyHandle?: 'wrong-data' | 'wrong-length';
    counterStep?: 'plus-one' | 'increasing';
    registerWithoutLe?: 'registers' | 'length-error' | 'presence-required';
  };
}

export type ChipCondition = 'ok' | 'error-status' | 'bad-signature';

/**
 * The MitID chip's U2F core (U2F v1.2 raw messages): REGISTER, AUTHENTICATE (enforce,
 * check-only, dont-enforce) and VERSION, with the status words of catalogue §1.1.
 * Transport front-ends hand it whole command APDUs and send back what it returns.
 */
export class Authenticator {
  readonly presence: PresenceSource;
  readonly counterMode: CounterMode;
  readonly #cert: Uint8Array;
  readonly #attestationKey: KeyObject;
  readonly #keys: KeyStore;
  #counter: number;
  readonly #counters = new Map<string, number>();
  readonly #faults: ReadonlySet<FaultName>;
  #lastCredential: UnwrappedKey | undefined;
  #fixedKeyPair: KeyPair | undefined;
  /** key-handle-not-bound-to-app: credentials found by key handle alone. */
  readonly #byHandle = new Map<string, UnwrappedKey>();

  constructor(opts: AuthenticatorOptions) {
    this.presence = opts.presence;
    this.counterMode = opts.counterMode ?? 'global';
    this.#cert = opts.attestationCertificate;
    this.#attestationKey = opts.attestationKey;
    this.#keys = new KeyStore(opts.masterKey);
    this.#counter = opts.counter ?? 0;
    this.#faults = new Set(opts.faults ?? []);
    this.#onSignature = opts.onSignature;
    this.#condition = opts.condition;
    this.#persistEvery = opts.persistCounterEvery ?? 1;
    if (!(Number.isInteger(this.#persistEvery) && this.#persistEvery >= 1)) {
      throw new RangeError(`persistCounterEvery: must be an integer >= 1: ${opts.persistCounterEvery}`);
    }
    this.#persisted = this.#counter;
    this.#disputed = opts.disputed ?? {};
  }

  readonly #disputed: NonNullable<AuthenticatorOptions['disputed']>;

  readonly #onSignature: (() => void) | undefined;
  readonly #condition: (() => ChipCondition) | undefined;
  readonly #persistEvery: number;
  /** The global counter as last written to non-volatile memory. */
  #persisted: number;

  /**
   * Power is cut and restored: RAM state is gone. Keys live in the key-wrapping key and
   * survive; the counter comes back as last persisted (all of it, unless the chip batches
   * its NVM writes).
   */
  powerLost(): void {
    this.#counter = this.#persisted;
  }

  #fault(name: FaultName): boolean {
    return this.#faults.has(name);
  }

  get counter(): number {
    return this.#counter;
  }

  /**
   * One command APDU in, response data ‖ SW out. Never throws for device-side input.
   * `presence` is how the transport proves presence: the button (USB, BLE) by default;
   * the NFC front-end passes the tap itself.
   */
  process(apdu: Uint8Array, presence: PresenceLike = this.presence): Uint8Array {
    if (this.#condition?.() === 'error-status') return status(SW_NO_PRECISE_DIAGNOSIS);
    // CLA is checked before INS and length (catalogue U2F-CLA-01: 6E00 even with a bad length).
    if (apdu.length < 4) return this.#status(SW.WRONG_LENGTH);
    if (apdu[0] !== 0x00)
      return status(this.#fault('wrong-sw-bad-cla') ? SW.INS_NOT_SUPPORTED : SW.CLA_NOT_SUPPORTED);
    const ins = apdu[1];
    if (ins !== INS.REGISTER && ins !== INS.AUTHENTICATE && ins !== INS.VERSION) {
      return status(this.#fault('wrong-sw-bad-ins') ? SW.CLA_NOT_SUPPORTED : SW.INS_NOT_SUPPORTED);
    }
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return this.#status(parsed.sw);
    const { p1, data, le, form } = parsed.apdu;
    let answer: Uint8Array;
    if (ins === INS.VERSION) answer = this.#version(data);
    else if (ins === INS.REGISTER) {
      // U2F-REG-12 (disputed): an extended REGISTER without Le may be refused.
      const withoutLe = form !== 'short' && le === undefined;
      const refuse = withoutLe ? this.#disputed.registerWithoutLe : undefined;
      if (refuse === 'length-error') return this.#status(SW.WRONG_LENGTH);
      if (refuse === 'presence-required') return status(SW.CONDITIONS_NOT_SATISFIED);
      answer = this.#register(data, presence);
    } else answer = this.#authenticate(p1, data, presence);
    // Extended encoding: an explicit Le shorter than the answer is a length error
    // (catalogue U2F-VER-05, BLE-ENC-01). Short APDUs are chunked by the NFC front-end.
    const dataLength = answer.length - 2;
    if (form !== 'short' && le !== undefined && dataLength > 0 && le < dataLength) {
      return this.#status(SW.WRONG_LENGTH);
    }
    return answer;
  }

  /** A status word as the chip sends it (wrong-sw-bad-length answers 6A80 for 6700). */
  #status(sw: number): Uint8Array {
    return status(sw === SW.WRONG_LENGTH && this.#fault('wrong-sw-bad-length') ? SW.WRONG_DATA : sw);
  }

  #version(data: Uint8Array): Uint8Array {
    if (data.length !== 0) return this.#status(SW.WRONG_LENGTH);
    return concat(VERSION_U2F_V2, status(SW.NO_ERROR));
  }

  #register(data: Uint8Array, presence: PresenceLike): Uint8Array {
    if (data.length !== 64) return this.#status(SW.WRONG_LENGTH);
    if (!this.#takePresence(presence)) return status(SW.CONDITIONS_NOT_SATISFIED);
    const challengeParam = data.subarray(0, 32);
    const appParam = data.subarray(32, 64);
    const pair = this.#fixedKeyPair ?? newKeyPair();
    if (this.#fault('same-key-pair')) this.#fixedKeyPair = pair;
    const { privateKey, jwk } = pair;
    const d = b64u(jwk.d);
    const userPublicKey = concat(Uint8Array.of(0x04), b64u(jwk.x), b64u(jwk.y));
    this.#keys.remember(d, privateKey);
    const keyHandle = this.#keys.wrap(d, appParam);
    if (this.#fault('key-handle-not-bound-to-app'))
      this.#byHandle.set(hex(keyHandle), { d, key: privateKey });
    // tampered-key-handle-accepted signs with the newest credential for a handle it cannot open.
    this.#lastCredential = { d, key: privateKey };
    const signed = concat(Uint8Array.of(0x00), appParam, challengeParam, keyHandle, userPublicKey);
    const signature = sign('sha256', signed, this.#attestationKey);
    return concat(
      Uint8Array.of(0x05),
      userPublicKey,
      Uint8Array.of(keyHandle.length),
      keyHandle,
      this.#cert,
      signature,
      status(SW.NO_ERROR),
    );
  }

  #authenticate(p1: number, data: Uint8Array, presence: PresenceLike): Uint8Array {
    if (data.length < 65) return this.#status(SW.WRONG_LENGTH);
    const keyHandleLength = data[64]!;
    if (data.length !== 65 + keyHandleLength) return this.#status(SW.WRONG_LENGTH);
    const challengeParam = data.subarray(0, 32);
    const appParam = data.subarray(32, 64);
    const keyHandle = data.subarray(65);
    // U2F-AUTH-07 (disputed): a handle of the wrong length may be a length error.
    if (this.#disputed.truncatedKeyHandle === 'wrong-length' && keyHandle.length !== KEY_HANDLE_LENGTH)
      return this.#status(SW.WRONG_LENGTH);
    let credential = this.#keys.unwrap(keyHandle, appParam);
    if (!credential && this.#fault('tampered-key-handle-accepted')) credential = this.#lastCredential;
    if (!credential && this.#fault('key-handle-not-bound-to-app'))
      credential = this.#byHandle.get(hex(keyHandle));
    if (!credential) return status(SW.WRONG_DATA);
    this.#lastCredential = credential;
    let flags: number;
    if (p1 === AUTH_P1.CHECK_ONLY) {
      // "This key handle is mine": answered 6985 by design, presence untouched.
      if (!this.#fault('check-only-signs')) return this.#refused(credential);
      flags = 0x01;
    } else if (p1 === AUTH_P1.ENFORCE) {
      if (!this.#fault('signs-without-press') && !this.#takePresence(presence))
        return this.#refused(credential);
      flags = this.#fault('wrong-flags') ? 0x05 : 0x01;
    } else if (p1 === AUTH_P1.DONT_ENFORCE) {
      // U2F v1.2: sign without asking for presence, and say so in the flags.
      flags = 0x00;
    } else {
      // Undefined control byte (catalogue U2F-AUTH-11): refuse, never sign.
      if (this.#fault('counter-reset-by-bad-p1')) {
        this.#counter = 0;
        this.#persisted = 0;
        this.#counters.clear();
      }
      return status(SW.WRONG_DATA);
    }
    const next = this.#nextCounter(credential.d);
    // counter-little-endian: the bytes go out (and are signed) in the wrong order.
    const counter = this.#fault('counter-little-endian') ? swap32(next) : next;
    const signed = this.#fault('bad-auth-signature')
      ? signedData(challengeParam, flags, counter, appParam)
      : signedData(appParam, flags, counter, challengeParam);
    const signature = this.#fault('nonce-reuse')
      ? signWithNonce(signed, credential.d, REUSED_NONCE)
      : sign('sha256', signed, credential.key);
    // Out of its temperature range the crypto engine gets it wrong: one bit off.
    if (this.#condition?.() === 'bad-signature') signature[signature.length - 1]! ^= 0x01;
    this.#onSignature?.();
    // flags ‖ counter ‖ signature ‖ 9000, written in place (one allocation per answer).
    const answer = allocBytes(5 + signature.length + 2);
    answer[0] = flags;
    writeU32be(answer, 1, counter);
    answer.set(signature, 5);
    answer[answer.length - 2] = SW.NO_ERROR >>> 8;
    answer[answer.length - 1] = SW.NO_ERROR & 0xff;
    if (this.#fault('garbage-response')) answer.set(randomBytes(answer.length - 2));
    return answer;
  }

  /** 6985 to an AUTHENTICATE that may not sign (counter-moves-on-failure still counts it). */
  #refused(credential: UnwrappedKey): Uint8Array {
    if (this.#fault('counter-moves-on-failure')) this.#nextCounter(credential.d);
    return status(SW.CONDITIONS_NOT_SATISFIED);
  }

  #takePresence(presence: PresenceLike): boolean {
    return this.#fault('presence-not-consumed') ? presence.present : presence.consume();
  }

  #nextCounter(d: Uint8Array): number {
    if (this.#fault('counter-frozen')) return this.#counter;
    // U2F-CTR-01 (disputed): +1 per signature, or any rise (here 3, as a chip that also
    // counts internal operations might).
    const step = this.#disputed.counterStep === 'increasing' ? 3 : 1;
    if (this.counterMode === 'global') {
      this.#counter = (this.#counter + step) >>> 0;
      if (this.#counter - this.#persisted >= this.#persistEvery || this.#counter < this.#persisted) {
        this.#persisted = this.#counter;
      }
      return this.#counter;
    }
    const id = Buffer.from(d).toString('base64');
    const next = ((this.#counters.get(id) ?? 0) + step) >>> 0;
    this.#counters.set(id, next);
    return next;
  }
}

/** ISO 7816-4 "no precise diagnosis". */
const SW_NO_PRECISE_DIAGNOSIS = 0x6f00;

const VERSION_U2F_V2 = new TextEncoder().encode('U2F_V2');

/** first(32) ‖ flags ‖ counter ‖ last(32): what an authentication signs (U2F raw messages §5.4). */
function signedData(first: Uint8Array, flags: number, counter: number, last: Uint8Array): Uint8Array {
  const out = allocBytes(first.length + 5 + last.length);
  out.set(first, 0);
  out[first.length] = flags;
  writeU32be(out, first.length + 1, counter);
  out.set(last, first.length + 5);
  return out;
}

function status(sw: number): Uint8Array {
  return Uint8Array.of(sw >>> 8, sw & 0xff);
}

function b64u(text: string | undefined): Uint8Array {
  const bytes = Buffer.from(text ?? '', 'base64url');
  // JWK coordinates are fixed-width for P-256; pad defensively all the same.
  const out = new Uint8Array(32);
  out.set(bytes, 32 - bytes.length);
  return out;
}

/** The 32-bit value with its bytes reversed. */
function swap32(c: number): number {
  return (((c & 0xff) << 24) | ((c & 0xff00) << 8) | ((c >>> 8) & 0xff00) | (c >>> 24)) >>> 0;
}

interface KeyPair {
  privateKey: KeyObject;
  jwk: { d?: string; x?: string; y?: string };
}

/**
 * A fresh P-256 key pair. The key generation encodes the JWK itself, and the KeyObject is
 * imported from it: generating a KeyObject and then exporting it (privateKey.export) can
 * deadlock Node 20 for good when a garbage collection during the export destroys the key
 * generation job, which takes the key's lock the export holds (seen after ~1000 REGISTERs).
 */
function newKeyPair(): KeyPair {
  // Node has the 'jwk' encoding for key generation (since 15.9); @types/node lacks it.
  const generate = generateKeyPairSync as unknown as (
    type: 'ec',
    options: {
      namedCurve: string;
      publicKeyEncoding: { format: 'jwk' };
      privateKeyEncoding: { format: 'jwk' };
    },
  ) => { privateKey: JsonWebKey; publicKey: JsonWebKey };
  const { privateKey: jwk } = generate('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { format: 'jwk' },
    privateKeyEncoding: { format: 'jwk' },
  });
  return { privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), jwk };
}
