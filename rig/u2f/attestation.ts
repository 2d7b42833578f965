/**
 * The attestation certificate of a REGISTER response (U2F raw message formats §4.3;
 * catalogue U2F-REG-06, §1.5). Parsing uses @peculiar/x509; the TBS bytes, signature
 * algorithm and SPKI are cut from the DER directly so checks run on what the device sent.
 */
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which throws at load time
// without a Reflect metadata polyfill (x509 README, "Reflect Polyfill Required").
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import { equal, fromHex, hex, toBytes } from '../bytes.ts';
import { deviceFault } from '../errors.ts';
import { derContent, oidToString, readDerHeader } from './der.ts';
import { verifySignature } from './verify.ts';

/** Named-curve P-256 SPKI prefix GU/GN require before the 65-byte point (U2F-REG-06). */
export const P256_SPKI_PREFIX = fromHex('3059301306072a8648ce3d020106082a8648ce3d030107034200');
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** fidoU2FTransports (catalogue §1.5). */
export const OID_FIDO_U2F_TRANSPORTS = '1.3.6.1.4.1.45724.2.1.1';
/** Bit i of the BIT STRING, bit 0 = MSB of the first byte (u2f-ref-code U2fAttestation.java). */
export const TRANSPORT_BITS = [
  'bluetoothRadio',
  'bluetoothLowEnergyRadio',
  'usb',
  'nfc',
  'usbInternal',
] as const;

export interface AttestationCertificate {
  raw: Uint8Array;
  subject: string;
  issuer: string;
  /** Hex, as in the certificate. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** The subjectPublicKey BIT STRING content; the 65-byte point when spkiIsP256. */
  publicKey: Uint8Array;
  spkiIsP256: boolean;
  signatureAlgorithmOid: string;
  isEcdsaWithSha256: boolean;
  /** TBSCertificate DER, exactly as sent (what the issuer signed). */
  tbs: Uint8Array;
  /** The certificate's signature BIT STRING content (a DER ECDSA signature for ECDSA). */
  signature: Uint8Array;
  /** Decoded fidoU2FTransports, or undefined when the extension is absent. */
  transports: string[] | undefined;
  /** The extension's extnValue content (e.g. 03 02 04 D0), or undefined. */
  transportsExtension: Uint8Array | undefined;
}

function fault(what: string, bytes: Uint8Array, expected: string): never {
  const shown = bytes.length > 64 ? `${hex(bytes.subarray(0, 64))}… (${bytes.length} bytes)` : hex(bytes);
  throw deviceFault(`attestation certificate: ${what}: "${shown}"`, { actual: hex(bytes), expected });
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1). */
function splitCertificate(raw: Uint8Array): { tbs: Uint8Array; algorithmOid: string; signature: Uint8Array } {
  const outer = readDerHeader(raw);
  if (outer === undefined || outer.tag !== 0x30 || outer.end !== raw.length)
    fault('not one DER SEQUENCE', raw, '30 …');
  const tbs = readDerHeader(raw, outer.headerLength);
  if (tbs === undefined || tbs.tag !== 0x30 || tbs.end > raw.length) fault('bad TBSCertificate', raw, '30 …');
  const alg = readDerHeader(raw, tbs.end);
  const oid = alg && readDerHeader(raw, alg.offset + alg.headerLength);
  if (alg === undefined || oid === undefined || oid.tag !== 0x06)
    fault('bad signatureAlgorithm', raw, '30 LL 06 …');
  const sig = readDerHeader(raw, alg.end);
  if (sig === undefined || sig.tag !== 0x03 || sig.end !== outer.end)
    fault('bad signatureValue', raw, '03 LL 00 …');
  return {
    tbs: raw.slice(tbs.offset, tbs.end),
    algorithmOid: oidToString(derContent(raw, oid)),
    signature: derContent(raw, sig).slice(1), // drop the unused-bits byte
  };
}

/** The subjectPublicKey BIT STRING content of an SPKI, unused-bits byte removed. */
function spkiPublicKey(spki: Uint8Array): Uint8Array {
  const outer = readDerHeader(spki);
  const alg = outer && readDerHeader(spki, outer.headerLength);
  const key = alg && readDerHeader(spki, alg.end);
  if (key === undefined || key.tag !== 0x03 || key.end > spki.length)
    fault('bad SubjectPublicKeyInfo', spki, 'SPKI');
  return derContent(spki, key).slice(1);
}

/** Decodes a fidoU2FTransports extnValue (a DER BIT STRING) into transport names. */
export function decodeTransports(extensionValue: Uint8Array): string[] {
  const el = readDerHeader(extensionValue);
  const unused = extensionValue[2] ?? 0;
  if (
    el === undefined ||
    el.tag !== 0x03 ||
    el.length < 1 ||
    el.end !== extensionValue.length ||
    unused > 7
  ) {
    fault('fidoU2FTransports is not a DER BIT STRING', extensionValue, '03 LL unused bits…');
  }
  const bits = derContent(extensionValue, el).subarray(1);
  const names: string[] = [];
  for (let i = 0; i < bits.length * 8 - unused; i++) {
    if (((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0) names.push(TRANSPORT_BITS[i] ?? `bit${i}`);
  }
  return names;
}

/** Parses the certificate of a REGISTER response. An unparseable certificate is a device failure. */
export function parseAttestationCertificate(der: Uint8Array): AttestationCertificate {
  if (!(der instanceof Uint8Array)) throw new TypeError('der must be a Uint8Array');
  const raw = toBytes(der);
  const parts = splitCertificate(raw);
  // @peculiar/x509 decodes lazily: a malformed field throws from its getter, not from the
  // constructor, so every field is read inside the guard.
  let fields: Pick<
    AttestationCertificate,
    'subject' | 'issuer' | 'serialNumber' | 'notBefore' | 'notAfter' | 'spki'
  > & {
    transportsExtension: Uint8Array | undefined;
  };
  try {
    const cert = new X509Certificate(raw);
    const extension = cert.getExtension(OID_FIDO_U2F_TRANSPORTS);
    fields = {
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      spki: new Uint8Array(cert.publicKey.rawData),
      transportsExtension: extension ? new Uint8Array(extension.value) : undefined,
    };
  } catch (error) {
    fault(`X.509 parse failed (${(error as Error).message})`, raw, 'an RFC 5280 certificate');
  }
  const { spki, transportsExtension } = fields;
  const spkiIsP256 =
    spki.length === P256_SPKI_PREFIX.length + 65 && equal(spki.subarray(0, 26), P256_SPKI_PREFIX);
  return {
    raw,
    subject: fields.subject,
    issuer: fields.issuer,
    serialNumber: fields.serialNumber,
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    spki,
    publicKey: spkiPublicKey(spki),
    spkiIsP256,
    signatureAlgorithmOid: parts.algorithmOid,
    isEcdsaWithSha256: parts.algorithmOid === OID_ECDSA_WITH_SHA256,
    tbs: parts.tbs,
    signature: parts.signature,
    transports: transportsExtension ? decodeTransports(transportsExtension) : undefined,
    transportsExtension,
  };
}

/** notBefore ≤ date ≤ notAfter. Spec example certificates are expired: suites decide whether to call this. */
export function isValidAt(cert: AttestationCertificate, date: Date): boolean {
  const t = date.getTime();
  return cert.notBefore.getTime() <= t && t <= cert.notAfter.getTime();
}

/** ECDSA-P256/SHA-256 over the TBS bytes with the issuer's key; false for any other algorithm. */
export function verifyCertificateSignature(
  cert: AttestationCertificate,
  issuerPublicKey65: Uint8Array,
): boolean {
  if (!cert.isEcdsaWithSha256) return false;
  return verifySignature(issuerPublicKey65, cert.tbs, cert.signature);
}
