/**
 * MDS-*: the device's FIDO metadata (its vendor's metadata statement, or its entry in an
 * MDS3 BLOB) says what the device does: the batch certificate's key identifier, the roots
 * that chain it, the protocol, the algorithms it signed with, its attestation type, its
 * transports, and no status report that withdraws trust. A relying party identifies and
 * trusts the key by this statement, so a mismatch mis-identifies it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { hex, toBytes } from '../../rig/bytes.ts';
import {
  attestationKeyIdentifier,
  type BlobEntry,
  type Metadata,
  type MetadataStatement,
  UNTRUSTED_STATUSES,
} from '../../rig/metadata/metadata.ts';
import type { TransportKind } from '../../rig/transport/transport.ts';
import {
  type AttestationCertificate,
  isValidAt,
  parseAttestationCertificate,
} from '../../rig/u2f/attestation.ts';
import { checkAttestationChain } from '../../rig/u2f/attestation-chain.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { authenticate, type Credential, register } from '../support/u2f.ts';

const station = await getStation();
const first = station.transports[0]!;

/** What the cases compare: the metadata, and what the device showed over each transport. */
interface Facts {
  metadata: Metadata;
  /** The statement in force: the file's, or the BLOB entry's (undefined: no entry matched). */
  statement: MetadataStatement | undefined;
  entry: BlobEntry | undefined;
  cert: AttestationCertificate;
  keyId: string;
  credential: Credential;
  /** The transports a REGISTER succeeded over in this suite. */
  reached: TransportKind[];
}

let facts: Promise<Facts> | undefined;

/** The metadata and one registration per transport, once for the suite. */
function gather(skip: (reason: string) => never): Promise<Facts> {
  facts ??= (async () => {
    const metadata = await station.metadata();
    if (!metadata) throw new NoMetadata();
    const credential = await register(await station.u2fOver(first));
    const der = credential.registration.certificate;
    const cert = parseAttestationCertificate(der);
    const keyId = attestationKeyIdentifier(der);
    const reached: TransportKind[] = [first];
    for (const kind of station.transports.slice(1)) {
      await register(await station.u2fOver(kind));
      reached.push(kind);
    }
    const entry =
      metadata.kind === 'blob'
        ? metadata.blob.entries.find((e) =>
            [
              ...(e.attestationCertificateKeyIdentifiers ?? []),
              ...(e.metadataStatement?.attestationCertificateKeyIdentifiers ?? []),
            ].includes(keyId),
          )
        : undefined;
    const statement = metadata.kind === 'statement' ? metadata.statement : entry?.metadataStatement;
    station.facts.metadata =
      metadata.kind === 'blob'
        ? `${metadata.path} (MDS3 BLOB no ${metadata.blob.no}, next update ${metadata.blob.nextUpdate}, signed by "${metadata.blob.signer}")`
        : `${metadata.path} (metadata statement)`;
    return { metadata, statement, entry, cert, keyId, credential, reached };
  })();
  return facts.catch((error) => {
    if (error instanceof NoMetadata) {
      skip(
        station.metadataSource === undefined && station.file.metadata
          ? `the station's metadata is for its own device, not ${station.deviceSpec.text}: pass the vendor's statement or MDS3 BLOB with --metadata FILE`
          : "no metadata statement is named: pass --metadata FILE (the vendor's statement, or an MDS3 BLOB) or name it in the station file (metadata:)",
      );
    }
    throw error;
  });
}

class NoMetadata extends Error {}

/** The statement the cases check, or a skip when a BLOB has no entry for this device. */
function statementOf(f: Facts, skip: (reason: string) => never): MetadataStatement {
  if (f.statement) return f.statement;
  return skip(
    f.entry
      ? `the BLOB entry for key identifier ${f.keyId} carries no metadataStatement`
      : `the BLOB has no entry for key identifier ${f.keyId} (MDS-KEYID-01 fails on that)`,
  );
}

const listed = (values: readonly string[] | undefined) =>
  values === undefined ? 'absent' : `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;

/** attachmentHint values for the fidoU2FTransports bits and chiprig's transports (Metadata Statement §3.4, FIDO Registry §3.4). */
const HINT_OF_CERT: Record<string, string> = {
  usb: 'wired',
  usbInternal: 'internal',
  nfc: 'nfc',
  bluetoothLowEnergyRadio: 'bluetooth',
  bluetoothRadio: 'bluetooth',
};
const HINT_OF_KIND: Record<string, string> = { hid: 'wired', nfc: 'nfc', ble: 'bluetooth' };

describe(`${TRANSPORT_NAMES[first]} · metadata statement`, () => {
  const check = area(station, first, 'metadata statement');

  check(
    'MDS-KEYID-01',
    "attestationCertificateKeyIdentifiers holds the batch certificate's key identifier",
    async (ctx) => {
      const f = await gather(ctx.skip);
      if (f.metadata.kind === 'blob' && !f.entry) {
        const known = f.metadata.blob.entries.flatMap((e) => e.attestationCertificateKeyIdentifiers ?? []);
        assert.fail(
          `no entry of the BLOB (${f.metadata.path}) lists key identifier ${f.keyId} of "${f.cert.subject}"; the entries list ${listed(known)}`,
        );
      }
      const ids = statementOf(f, ctx.skip).attestationCertificateKeyIdentifiers;
      assert.ok(
        ids?.includes(f.keyId),
        `the statement's attestationCertificateKeyIdentifiers is ${listed(ids)}; the device's batch certificate "${f.cert.subject}" (serial ${f.cert.serialNumber}) has key identifier ${f.keyId}${ids?.some((id) => id.toLowerCase() === f.keyId) ? ' (listed in upper case: the statement must use lower-case hex)' : ''}`,
      );
      ctx.observe(`key identifier ${f.keyId} listed`);
    },
    { severity: 'critical' },
  );

  check(
    'MDS-ROOT-01',
    'attestationRootCertificates chain the batch certificate',
    async (ctx) => {
      const f = await gather(ctx.skip);
      const encoded = statementOf(f, ctx.skip).attestationRootCertificates ?? [];
      assert.ok(encoded.length > 0, 'the statement lists no attestationRootCertificates');
      const roots = encoded.map((b64, i) => {
        try {
          const der = toBytes(new X509Certificate(Buffer.from(b64, 'base64')).raw);
          return { path: `attestationRootCertificates[${i}]`, cert: parseAttestationCertificate(der) };
        } catch (error) {
          return assert.fail(
            `attestationRootCertificates[${i}] is not a certificate (${(error as Error).message}): "${b64.slice(0, 40)}…"`,
          );
        }
      });
      const verdict = checkAttestationChain(f.cert, roots, new Date());
      assert.ok(
        verdict.ok,
        verdict.ok
          ? ''
          : `batch certificate "${f.cert.subject}" (serial ${f.cert.serialNumber}): ${verdict.reason}`,
      );
      ctx.observe(`issued by "${verdict.root.cert.subject}" (${verdict.root.path})`);
      if (!isValidAt(verdict.root.cert, new Date())) ctx.observe('the root is outside its validity period');
    },
    { severity: 'critical' },
  );

  check('MDS-PROTO-01', 'protocolFamily is "u2f" and upv holds 1.1 or 1.2', async (ctx) => {
    const s = statementOf(await gather(ctx.skip), ctx.skip);
    assert.equal(s.protocolFamily, 'u2f', `protocolFamily is ${JSON.stringify(s.protocolFamily)}`);
    const versions = (s.upv ?? []).map((v) => `${v.major}.${v.minor}`);
    assert.ok(
      versions.some((v) => v === '1.1' || v === '1.2'),
      `upv is [${versions.join(', ')}]: a U2F authenticator states U2F 1.1 or 1.2`,
    );
    ctx.observe(`upv ${versions.join(', ')}`);
  });

  check(
    'MDS-ALG-01',
    'authenticationAlgorithms and publicKeyAlgAndEncodings name what the device signed with',
    async (ctx) => {
      const f = await gather(ctx.skip);
      const s = statementOf(f, ctx.skip);
      // What the device used: ECDSA P-256 / SHA-256 signatures (verified here), and an
      // uncompressed X9.62 point as the user public key.
      await authenticate(await station.u2fOver(first), f.credential);
      const key = f.credential.publicKey;
      assert.ok(
        key.length === 65 && key[0] === 0x04,
        `the user public key is not an uncompressed P-256 point: ${hex(key)}`,
      );
      assert.ok(
        s.authenticationAlgorithms?.includes('secp256r1_ecdsa_sha256_raw'),
        `authenticationAlgorithms is ${listed(s.authenticationAlgorithms)}; the device signed with ECDSA P-256 / SHA-256 ("secp256r1_ecdsa_sha256_raw")`,
      );
      assert.ok(
        s.publicKeyAlgAndEncodings?.includes('ecc_x962_raw'),
        `publicKeyAlgAndEncodings is ${listed(s.publicKeyAlgAndEncodings)}; the device's public key is a raw X9.62 point ("ecc_x962_raw")`,
      );
    },
  );

  check('MDS-ATT-01', 'attestationTypes holds "basic_full" (a batch certificate)', async (ctx) => {
    const f = await gather(ctx.skip);
    const types = statementOf(f, ctx.skip).attestationTypes;
    assert.ok(
      types?.includes('basic_full'),
      `attestationTypes is ${listed(types)}; the device attests with a batch certificate ("${f.cert.subject}"): "basic_full"`,
    );
  });

  check(
    'MDS-HINT-01',
    "attachmentHint agrees with the certificate's fidoU2FTransports and with the transports the run reached",
    async (ctx) => {
      const f = await gather(ctx.skip);
      const hints = statementOf(f, ctx.skip).attachmentHint ?? [];
      const wrong: string[] = [];
      for (const kind of f.reached) {
        const hint = HINT_OF_KIND[kind];
        if (hint && !hints.includes(hint))
          wrong.push(
            `the device answered over ${TRANSPORT_NAMES[kind]}, but attachmentHint has no "${hint}"`,
          );
      }
      const certHints = new Set((f.cert.transports ?? []).map((t) => HINT_OF_CERT[t]).filter(Boolean));
      for (const hint of certHints) {
        if (!hints.includes(hint!))
          wrong.push(
            `fidoU2FTransports lists ${hint} (${f.cert.transports!.join(', ')}), attachmentHint does not`,
          );
      }
      if (f.cert.transports) {
        for (const hint of hints.filter((h) => Object.values(HINT_OF_CERT).includes(h))) {
          if (!certHints.has(hint)) {
            wrong.push(
              `attachmentHint has "${hint}", the certificate's fidoU2FTransports lists only ${f.cert.transports.join(', ') || 'none'}`,
            );
          }
        }
      } else
        ctx.observe(
          'the certificate has no fidoU2FTransports extension: only the reached transports are compared',
        );
      assert.deepEqual(wrong, [], `attachmentHint ${listed(hints)}: ${wrong.join('; ')}`);
      ctx.observe(`attachmentHint ${listed(hints)}; reached ${f.reached.join(', ')}`);
    },
    { timeoutMs: 60_000 },
  );

  check(
    'MDS-STATUS-01',
    'the BLOB entry has no status report that withdraws trust (revoked, compromised keys, verification bypass)',
    async (ctx) => {
      const f = await gather(ctx.skip);
      if (f.metadata.kind === 'statement') {
        ctx.skip(
          "a metadata statement carries no status reports: name the MDS3 BLOB (the station file's metadata, or --metadata) to check them",
        );
      }
      if (!f.entry)
        ctx.skip(`the BLOB has no entry for key identifier ${f.keyId} (MDS-KEYID-01 fails on that)`);
      const bad = f.entry!.statusReports.filter((r) => UNTRUSTED_STATUSES.includes(r.status));
      assert.deepEqual(
        bad.map(
          (r) => `${r.status} effective ${r.effectiveDate ?? '(no date)'}${r.url ? ` (${r.url})` : ''}`,
        ),
        [],
        `the BLOB entry for key identifier ${f.keyId} reports`,
      );
      ctx.observe(f.entry!.statusReports.map((r) => `${r.status} ${r.effectiveDate ?? ''}`).join('; '));
    },
    { severity: 'critical' },
  );
});
