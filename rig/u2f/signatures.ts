import { parseAttestationCertificate } from './attestation.ts';
import {
  type AuthenticateResponse,
  authenticationSignedData,
  type RegisterResponse,
  registrationSignedData,
} from './messages.ts';
import { verifySignature } from './verify.ts';

/**
 * Whether a REGISTER response's signature, over 00 ‖ app ‖ challenge ‖ key handle ‖ public
 * key, verifies with its attestation certificate's key (U2F-REG-05). A malformed
 * certificate is a device failure (thrown by the parser).
 */
export function registrationSignatureValid(
  appParam: Uint8Array,
  challengeParam: Uint8Array,
  r: RegisterResponse,
): boolean {
  const cert = parseAttestationCertificate(r.certificate);
  const signed = registrationSignedData(appParam, challengeParam, r.keyHandle, r.userPublicKey);
  return verifySignature(cert.publicKey, signed, r.signature);
}

/** Whether an AUTHENTICATE signature, over app ‖ flags ‖ counter ‖ challenge, verifies with the credential's key. */
export function authenticationSignatureValid(
  publicKey: Uint8Array,
  appParam: Uint8Array,
  challengeParam: Uint8Array,
  r: AuthenticateResponse,
): boolean {
  return verifySignature(
    publicKey,
    authenticationSignedData(appParam, r.flags, r.counter, challengeParam),
    r.signature,
  );
}
