import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hex } from '../../rig/bytes.ts';
import { packagePath } from '../../rig/paths.ts';
import { hostRandomBytes } from '../../rig/random.ts';
import type { PresenceMode } from '../../rig/station/station-file.ts';
import { SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import {
  type AuthenticateResponse,
  encodeAuthenticate,
  type RegisterResponse,
} from '../../rig/u2f/messages.ts';
import { authenticationSignatureValid, registrationSignatureValid } from '../../rig/u2f/signatures.ts';
import type { ApduResponse, U2fClient } from '../../rig/u2f/u2f-client.ts';
import { parseDerSignature } from '../../rig/u2f/verify.ts';
import { CannotStage } from './conformance.ts';

/** The U2F spec's test vectors (catalogue §3): requests, answers, keys made by another device. */
export const specVectors = JSON.parse(readFileSync(packagePath('fixtures/vectors/u2f-spec.json'), 'utf8'));

export const random32 = (): Uint8Array => hostRandomBytes(32);
export const appParamOf = (appId: string): Uint8Array =>
  Uint8Array.from(createHash('sha256').update(appId).digest());

/** A credential made by a successful REGISTER, with what is needed to authenticate. */
export interface Credential {
  appParam: Uint8Array;
  challengeParam: Uint8Array;
  registration: RegisterResponse;
  keyHandle: Uint8Array;
  publicKey: Uint8Array;
}

export function swHex(sw: number): string {
  return sw.toString(16).padStart(4, '0');
}

/** Asserts a status word, showing what came back (catalogue: "SW xxxx, no data"). */
export function assertSw(
  response: ApduResponse,
  expected: number,
  what: string,
  opts: { noData?: boolean } = {},
): void {
  assert.equal(
    swHex(response.sw),
    swHex(expected),
    `${what}: expected ${swName(expected)}, device answered ${swName(response.sw)} (response ${hex(response.raw)})`,
  );
  if (opts.noData) {
    assert.equal(
      response.data.length,
      0,
      `${what}: expected no data with ${swHex(expected)}, got ${hex(response.data)}`,
    );
  }
}

export function assertSwIn(response: ApduResponse, allowed: readonly number[], what: string): void {
  assert.ok(
    allowed.includes(response.sw),
    `${what}: expected one of ${allowed.map(swHex).join(', ')}, device answered ${swName(response.sw)} (response ${hex(response.raw)})`,
  );
}

/** REGISTER with presence, then the checks every registration must pass (U2F-REG-04/05). */
export async function register(
  u2f: U2fClient,
  appParam = random32(),
  challengeParam = random32(),
  p1?: number,
): Promise<Credential> {
  const registration = await u2f.register(challengeParam, appParam, p1 === undefined ? {} : { p1 });
  assert.ok(
    registrationSignatureValid(appParam, challengeParam, registration),
    `registration signature does not verify with the attestation certificate's key (signature ${hex(registration.signature)})`,
  );
  return {
    appParam,
    challengeParam,
    registration,
    keyHandle: registration.keyHandle,
    publicKey: registration.userPublicKey,
  };
}

/** Checks an authentication signature over app ‖ flags ‖ counter ‖ chal with the credential key. */
export function assertAuthSignature(
  cred: Credential,
  challengeParam: Uint8Array,
  response: AuthenticateResponse,
): void {
  assert.ok(
    authenticationSignatureValid(cred.publicKey, cred.appParam, challengeParam, response),
    `authentication signature does not verify with the registered key (flags ${response.flags}, counter ${response.counter}, signature ${hex(response.signature)})`,
  );
  parseDerSignature(response.signature);
}

/** Enforce-presence AUTHENTICATE with presence given; verifies the signature. */
export async function authenticate(u2f: U2fClient, cred: Credential, challengeParam = random32()) {
  const response = await u2f.authenticate(challengeParam, cred.appParam, cred.keyHandle);
  assertAuthSignature(cred, challengeParam, response);
  return response;
}

/**
 * Makes sure no press is latched before a "no presence" case: consumes any latched press
 * with an enforce AUTHENTICATE on a spare credential until the device answers 6985.
 */
export async function drainPresence(u2f: U2fClient, spare: Credential): Promise<void> {
  // Without a presence controller (NFC) presence is the tap itself: nothing is latched.
  if (!u2f.presence) return;
  withholdPress(u2f.presence.mode);
  for (let i = 0; i < 3; i++) {
    const r = await u2f.send(
      encodeAuthenticate(AUTH_P1.ENFORCE, random32(), spare.appParam, spare.keyHandle),
    );
    if (r.sw === SW.CONDITIONS_NOT_SATISFIED) return;
    assert.equal(swHex(r.sw), '9000', `presence drain: enforce AUTHENTICATE answered ${swName(r.sw)}`);
  }
  assert.fail('presence drain: the device signed three times in a row without a new press');
}

/**
 * A case that needs the rig to withhold a press cannot be staged under --presence auto (a
 * device that approves by itself): it is skipped with that reason, never judged.
 */
export function withholdPress(mode: PresenceMode): void {
  if (mode === 'auto') {
    throw new CannotStage(
      'presence mode auto: the device approves by itself, so the rig cannot withhold a press for this case',
    );
  }
}

export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[bit >> 3]! ^= 0x80 >> (bit & 7);
  return out;
}

export function xorByte(bytes: Uint8Array, index: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index]! ^= mask;
  return out;
}
