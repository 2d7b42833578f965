/**
 * FIDO metadata for a U2F authenticator: a vendor's metadata statement (FIDO Metadata
 * Statement v3.0, JSON) or an entry of an MDS3 BLOB (FIDO Metadata Service v3.0 §3.1: a
 * JWT whose x5c chain ends at a root the station trusts). The BLOB is verified here, once,
 * before anything runs (signature, chain, nextUpdate); what the statement says about the
 * device is checked against the device by the metadata suite (MDS-*).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compactVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { hex } from '../bytes.ts';
import { ConfigError } from '../errors.ts';

const Version = z.looseObject({ major: z.number().int(), minor: z.number().int() });

/**
 * The fields the MDS-* cases read (Metadata Statement v3.0 §4); the others are kept as
 * they are. A field the cases need that is missing fails its case (the statement is the
 * vendor's, under test), so only the types are checked here.
 */
export const MetadataStatementSchema = z.looseObject({
  description: z.string().optional(),
  protocolFamily: z.string().optional(),
  schema: z.number().optional(),
  upv: z.array(Version).optional(),
  attestationCertificateKeyIdentifiers: z.array(z.string()).optional(),
  authenticationAlgorithms: z.array(z.string()).optional(),
  publicKeyAlgAndEncodings: z.array(z.string()).optional(),
  attestationTypes: z.array(z.string()).optional(),
  attachmentHint: z.array(z.string()).optional(),
  attestationRootCertificates: z.array(z.string()).optional(),
});
export type MetadataStatement = z.infer<typeof MetadataStatementSchema>;

/** StatusReport (MDS v3.0 §3.1.3). */
const StatusReportSchema = z.looseObject({
  status: z.string(),
  effectiveDate: z.string().optional(),
  url: z.string().optional(),
  certificateNumber: z.string().optional(),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

/** MetadataBLOBPayloadEntry (MDS v3.0 §3.1.1). */
const EntrySchema = z.looseObject({
  aaid: z.string().optional(),
  aaguid: z.string().optional(),
  attestationCertificateKeyIdentifiers: z.array(z.string()).optional(),
  metadataStatement: MetadataStatementSchema.optional(),
  statusReports: z.array(StatusReportSchema),
  timeOfLastStatusChange: z.string().optional(),
});
export type BlobEntry = z.infer<typeof EntrySchema>;

/** MetadataBLOBPayload (MDS v3.0 §3.1.6). */
const PayloadSchema = z.looseObject({
  legalHeader: z.string().optional(),
  no: z.number().int(),
  nextUpdate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date, YYYY-MM-DD'),
  entries: z.array(EntrySchema),
});

/**
 * Status reports that say the authenticator (or its keys) must not be trusted (MDS v3.0
 * §3.1.4, AuthenticatorStatus): a relying party rejects a device whose latest report is one
 * of these.
 */
export const UNTRUSTED_STATUSES: readonly string[] = [
  'USER_VERIFICATION_BYPASS',
  'ATTESTATION_KEY_COMPROMISE',
  'USER_KEY_REMOTE_COMPROMISE',
  'USER_KEY_PHYSICAL_COMPROMISE',
  'REVOKED',
];

export interface VerifiedBlob {
  no: number;
  nextUpdate: string;
  entries: BlobEntry[];
  /** x5c[0]'s subject, and the trusted root the chain ends at. */
  signer: string;
  root: string;
}

/** What a station names: a statement, or a verified BLOB (the device's entry is found by key identifier). */
export type Metadata =
  | { kind: 'statement'; path: string; statement: MetadataStatement }
  | { kind: 'blob'; path: string; blob: VerifiedBlob };

/**
 * The attestation certificate key identifier of Metadata Statement v3.0 §4
 * (attestationCertificateKeyIdentifiers): the certificate's Subject Key Identifier, or, where
 * the extension is absent, the SHA-1 of the subjectPublicKey BIT STRING's bytes (RFC 5280
 * §4.2.1.2 method 1), as lower-case hex.
 */
export function attestationKeyIdentifier(certificateDer: Uint8Array): string {
  const cert = new X509Certificate(certificateDer);
  const ski = subjectKeyIdentifier(cert);
  if (ski) return ski;
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha1')
    .update(subjectPublicKeyBits(new Uint8Array(spki)))
    .digest('hex');
}

/** The SKI extension's key identifier, lower-case hex, from node's text form ("AB:CD:…"). */
function subjectKeyIdentifier(cert: X509Certificate): string | undefined {
  const text = (cert as X509Certificate & { subjectKeyIdentifier?: string }).subjectKeyIdentifier;
  if (text) return text.replaceAll(':', '').toLowerCase();
  // Node 20 has no accessor: read the extension from the DER.
  const der = new Uint8Array(cert.raw);
  const oid = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x0e); // 2.5.29.14
  for (let i = 0; i + oid.length < der.length; i++) {
    if (oid.every((b, j) => der[i + j] === b)) {
      // OID, [critical BOOLEAN], OCTET STRING { OCTET STRING keyIdentifier }
      let at = i + oid.length;
      if (der[at] === 0x01) at += 3;
      if (der[at] !== 0x04 || der[at + 2] !== 0x04) return undefined;
      const length = der[at + 3]!;
      return hex(der.subarray(at + 4, at + 4 + length));
    }
  }
  return undefined;
}

/** The subjectPublicKey BIT STRING's content without its unused-bits byte. */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  // SEQUENCE { SEQUENCE algorithm, BIT STRING } in DER: skip the outer header and the algorithm.
  const header = (at: number) => {
    const first = spki[at + 1]!;
    if (first < 0x80) return { length: first, size: 2 };
    const n = first & 0x7f;
    let length = 0;
    for (let k = 0; k < n; k++) length = (length << 8) | spki[at + 2 + k]!;
    return { length, size: 2 + n };
  };
  const outer = header(0);
  const alg = header(outer.size);
  const bitsAt = outer.size + alg.size + alg.length;
  const bits = header(bitsAt);
  return spki.subarray(bitsAt + bits.size + 1, bitsAt + bits.size + bits.length);
}

/** Reads a statement (.json) or a BLOB (a JWT: anything else) and verifies a BLOB. */
export async function loadMetadata(
  path: string,
  trustedRoots: readonly string[],
  now = new Date(),
): Promise<Metadata> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`metadata ${path}: cannot read it (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`metadata statement ${path}: not JSON (${(error as Error).message})`);
    }
    const parsed = MetadataStatementSchema.safeParse(json);
    if (!parsed.success) throw new ConfigError(`metadata statement ${path}: ${zodIssue(parsed.error)}`);
    return { kind: 'statement', path, statement: parsed.data };
  }
  return { kind: 'blob', path, blob: await verifyBlob(text, path, trustedRoots, now) };
}

function zodIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || '(top)'}: ${issue.message}`;
}

/**
 * Verifies an MDS3 BLOB (MDS v3.0 §3.2): the x5c chain, each certificate valid now and
 * issued by the next, the last issued by (or being) a root in `trustedRoots` (PEM files);
 * the JWS signature with x5c[0]'s key; `nextUpdate` not passed. Each refusal names the field.
 */
export async function verifyBlob(
  jwt: string,
  path: string,
  trustedRoots: readonly string[],
  now = new Date(),
): Promise<VerifiedBlob> {
  const refuse = (what: string): never => {
    throw new ConfigError(`metadata BLOB ${path}: ${what}`);
  };
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jwt);
  } catch (error) {
    return refuse(`not a JWT (${(error as Error).message})`);
  }
  if (!Array.isArray(header.x5c) || header.x5c.length === 0) {
    return refuse(
      `header x5c: absent${header.x5u ? ' (x5u is not fetched: put the chain in x5c)' : ''}; the signer's certificate chain is needed`,
    );
  }
  const chain = header.x5c.map((b64, i) => {
    try {
      return new X509Certificate(Buffer.from(b64, 'base64'));
    } catch {
      return refuse(`header x5c[${i}]: not a certificate`);
    }
  });
  if (trustedRoots.length === 0) {
    refuse(
      'no metadata root is trusted (trust.metadataRoots in the station file): its chain cannot be checked',
    );
  }
  const roots = trustedRoots.map((p) => {
    try {
      return { path: p, cert: new X509Certificate(readFileSync(p)) };
    } catch (error) {
      throw new ConfigError(`trust.metadataRoots: ${p} is not a readable certificate`, { cause: error });
    }
  });
  chain.forEach((cert, i) => {
    if (new Date(cert.validFrom) > now || new Date(cert.validTo) < now) {
      refuse(
        `header x5c[${i}] "${dn(cert.subject)}": not valid on ${day(now)} (${cert.validFrom} .. ${cert.validTo})`,
      );
    }
    const issuer = chain[i + 1];
    if (issuer && !(cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) {
      refuse(`header x5c[${i}] "${dn(cert.subject)}": not issued by x5c[${i + 1}] "${dn(issuer.subject)}"`);
    }
  });
  const last = chain[chain.length - 1]!;
  const anchor = roots.find(
    (r) =>
      r.cert.fingerprint256 === last.fingerprint256 ||
      (last.checkIssued(r.cert) && last.verify(r.cert.publicKey)),
  );
  if (!anchor) {
    refuse(
      `header x5c: the chain ends at "${dn(last.issuer)}", none of the trusted metadata roots (${roots.map((r) => `"${dn(r.cert.subject)}" ${r.path}`).join(', ')})`,
    );
  }
  let payload: unknown;
  try {
    const { payload: bytes } = await compactVerify(jwt, chain[0]!.publicKey, { algorithms: JWS_ALGORITHMS });
    payload = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    const why =
      error instanceof joseErrors.JWSSignatureVerificationFailed
        ? `does not verify with the key of x5c[0] "${dn(chain[0]!.subject)}"`
        : (error as Error).message;
    return refuse(`signature: ${why}`);
  }
  const parsed = PayloadSchema.safeParse(payload);
  if (!parsed.success) return refuse(`payload ${zodIssue(parsed.error)}`);
  const { nextUpdate } = parsed.data;
  if (nextUpdate < day(now)) {
    refuse(
      `nextUpdate ${nextUpdate} has passed (today is ${day(now)}): the BLOB is stale; download the current one from the metadata service`,
    );
  }
  return {
    no: parsed.data.no,
    nextUpdate,
    entries: parsed.data.entries,
    signer: dn(chain[0]!.subject),
    root: dn(anchor!.cert.subject),
  };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

/** The JWS algorithms a BLOB may be signed with (MDS v3.0 §3.2 names ES256 and RS256 among others). */
const JWS_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];

/** A distinguished name on one line (node gives one attribute per line). */
const dn = (name: string) => name.split('\n').join(', ');
