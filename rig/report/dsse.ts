/**
 * DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1) over in-toto Statements
 * (in-toto attestation framework, Statement v1), signed with Ed25519 from node:crypto.
 * The signature covers the pre-authentication encoding
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body (lengths in ASCII
 * decimal, in bytes), so neither the payload nor its type can be swapped unnoticed.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';

export interface Envelope {
  payloadType: string;
  /** Base64 of the payload. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

export interface Statement {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = Buffer.from(payloadType, 'utf8');
  const head = Buffer.from(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `, 'utf8');
  return Buffer.concat([head, payload]);
}

/** The key's ID: SHA-256 of its public key (SPKI DER), hex. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** A PEM key file's text as an Ed25519 key: private (PKCS#8) or public (SPKI). */
export function ed25519Key(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (error) {
    throw new Error(`${what}: not a PEM key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${what}: a ${key.asymmetricKeyType} key; the bundle is signed with Ed25519`);
  }
  return key;
}

export function signEnvelope(statement: Statement, privateKey: KeyObject): Envelope {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8');
  const sig = sign(null, pae(IN_TOTO_PAYLOAD_TYPE, payload), privateKey);
  return {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid: keyId(privateKey), sig: sig.toString('base64') }],
  };
}

/**
 * The envelope's payload when one of its signatures verifies with `publicKey`; otherwise
 * why not (no signature by that key, or one that does not verify).
 */
export function openEnvelope(
  envelope: Envelope,
  publicKey: KeyObject,
): { ok: true; payload: Buffer } | { ok: false; why: string } {
  const payload = Buffer.from(envelope.payload, 'base64');
  const id = keyId(publicKey);
  const mine = envelope.signatures.filter((s) => s.keyid === id || s.keyid === '');
  if (mine.length === 0) {
    const ids = envelope.signatures.map((s) => s.keyid).join(', ') || 'none';
    return { ok: false, why: `signed by key ${ids}, not by the trusted key ${id}` };
  }
  const good = mine.some((s) =>
    verify(null, pae(envelope.payloadType, payload), publicKey, Buffer.from(s.sig, 'base64')),
  );
  return good ? { ok: true, payload } : { ok: false, why: `the signature by key ${id} does not verify` };
}
