/**
 * Evidence bundles (`chiprig bundle`): one gzipped tar holding what a certification file
 * or a firmware sign-off needs from a run — the single-file report, the conformance matrix,
 * JUnit XML, the run's outcomes and measurements, the requirements file, the device
 * profile, the station file, the metadata statement, the device identity and the
 * recordings — and a manifest of their SHA-256 digests, signed by the station's key: an
 * in-toto Statement (each file a subject) in a DSSE envelope, Ed25519 (rig/report/dsse.ts).
 * `verify` checks the signature against a key the verifier trusts, then every digest, and
 * names each file that changed, went missing or was added.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import * as tar from 'tar';
import { ConfigError } from '../errors.ts';
import { REQUIREMENTS_FILE } from '../requirements/requirements.ts';
import { DEFAULT_STATION, loadStationFile } from '../station/station-file.ts';
import {
  type Envelope,
  ed25519Key,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  keyId,
  openEnvelope,
  type Statement,
  signEnvelope,
} from './dsse.ts';
import { generateHtmlReport } from './html.ts';

export const MANIFEST = 'manifest.dsse.json';
export const PREDICATE_TYPE = 'urn:chiprig:evidence-bundle:v1';

/** Beside the Allure results: the run's own files a bundle takes. */
const RESULT_FILES = [
  'conformance-matrix.md',
  'junit.xml',
  'chiprig-outcomes.json',
  'chiprig-measurements.json',
  'environment.properties',
];

interface RunFiles {
  station?: string | null;
  profile?: string | null;
  metadata?: string | null;
  recording?: string | null;
}

export interface BundleRequest {
  /** A results folder of a finished `chiprig run`. */
  results: string;
  out: string;
  /** The station file whose signing key signs (default: the run's station file). */
  station?: string | undefined;
  /** A private key file instead of the station's. */
  key?: string | undefined;
  /** An HTML report folder already made from these results (default: one is made). */
  report?: string | undefined;
  /** Recordings besides the run's own (--record). */
  recordings?: readonly string[] | undefined;
}

export interface BundleDone {
  out: string;
  files: { name: string; bytes: number }[];
  keyid: string;
}

/** Packs and signs a bundle. ConfigError when an input is missing or no key is named. */
export async function makeBundle(req: BundleRequest): Promise<BundleDone> {
  const results = resolve(req.results);
  const outcomesPath = join(results, 'chiprig-outcomes.json');
  if (!existsSync(outcomesPath)) {
    throw new ConfigError(
      `${req.results}: no chiprig-outcomes.json: not the results folder of a finished chiprig run (chiprig run --results DIR)`,
    );
  }
  const outcomes = JSON.parse(readFileSync(outcomesPath, 'utf8')) as {
    run?: { station?: string; device?: string; identity?: Record<string, string>; files?: RunFiles };
  };
  const runFiles: RunFiles = outcomes.run?.files ?? {};
  const stationPath = resolve(req.station ?? runFiles.station ?? DEFAULT_STATION);
  const station = loadStationFile(stationPath);
  const keyPath = req.key
    ? resolve(req.key)
    : station.signing
      ? resolve(station.dir, station.signing.key)
      : undefined;
  if (!keyPath) {
    throw new ConfigError(
      `station file ${station.path}: no signing key: add "signing: { key: FILE }" (an Ed25519 private key, PKCS#8 PEM) or pass --key FILE`,
    );
  }
  const privateKey = readKey(keyPath, 'signing key');
  if (privateKey.type !== 'private')
    throw new ConfigError(`signing key ${keyPath}: a public key; signing needs the private one`);

  const stage = mkdtempSync(join(tmpdir(), 'chiprig-bundle-'));
  try {
    const names: string[] = [];
    const put = (name: string, from: string) => {
      mkdirSync(dirname(join(stage, name)), { recursive: true });
      copyFileSync(from, join(stage, name));
      names.push(name);
    };
    const write = (name: string, text: string) => {
      mkdirSync(dirname(join(stage, name)), { recursive: true });
      writeFileSync(join(stage, name), text);
      names.push(name);
    };
    // The single-file report: the one named, or one made from these results now.
    if (req.report) {
      const index = join(resolve(req.report), 'index.html');
      if (!existsSync(index)) throw new ConfigError(`--report ${req.report}: no index.html in it`);
      put('report/index.html', index);
    } else {
      const made = await generateHtmlReport(results, join(stage, '.report'));
      if (!made.ok) throw new ConfigError(`the report could not be made from ${req.results}: ${made.error}`);
      // One file, or (results too large for one) the whole folder report.
      for (const name of readdirSync(join(stage, '.report'), { recursive: true, encoding: 'utf8' })) {
        const from = join(stage, '.report', name);
        if (statSync(from).isFile()) put(`report/${name}`, from);
      }
      rmSync(join(stage, '.report'), { recursive: true, force: true });
    }
    for (const f of RESULT_FILES) if (existsSync(join(results, f))) put(`results/${f}`, join(results, f));
    put('requirements.yaml', REQUIREMENTS_FILE);
    put(`station/${basename(station.path)}`, station.path);
    if (runFiles.profile && existsSync(runFiles.profile))
      put(`device-profile/${basename(runFiles.profile)}`, runFiles.profile);
    if (runFiles.metadata && existsSync(runFiles.metadata))
      put(`metadata/${basename(runFiles.metadata)}`, runFiles.metadata);
    write('identity.json', `${JSON.stringify(outcomes.run?.identity ?? {}, null, 2)}\n`);
    const recordings = [...(runFiles.recording ? [runFiles.recording] : []), ...(req.recordings ?? [])];
    for (const r of new Set(recordings.map((p) => resolve(p)))) {
      if (!existsSync(r)) throw new ConfigError(`recording ${r}: no such file`);
      put(`recordings/${basename(r)}`, r);
    }

    const statement: Statement = {
      _type: IN_TOTO_STATEMENT_TYPE,
      subject: names.map((name) => ({ name, digest: { sha256: sha256(readFileSync(join(stage, name))) } })),
      predicateType: PREDICATE_TYPE,
      predicate: {
        station: station.name,
        device: outcomes.run?.device ?? null,
        identity: outcomes.run?.identity ?? {},
        createdAt: new Date().toISOString(),
      },
    };
    writeFileSync(join(stage, MANIFEST), `${JSON.stringify(signEnvelope(statement, privateKey), null, 2)}\n`);
    const out = resolve(req.out);
    mkdirSync(dirname(out), { recursive: true });
    await tar.create({ gzip: true, file: out, cwd: stage, portable: true }, [MANIFEST, ...names]);
    return {
      out,
      files: names.map((name) => ({ name, bytes: readFileSync(join(stage, name)).length })),
      keyid: keyId(privateKey),
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export interface VerifyOutcome {
  ok: boolean;
  keyid: string;
  /** Files whose digest matches the signed manifest. */
  verified: string[];
  /** What does not hold, one line each, naming the file. */
  problems: string[];
}

/**
 * Verifies a bundle with a key the verifier trusts (a public or private PEM key): the
 * manifest's signature first (nothing in the bundle is trusted before), then every file
 * against its digest. A file that is not a bundle at all is a ConfigError.
 */
export async function verifyBundle(file: string, trustedKeyPath: string): Promise<VerifyOutcome> {
  const trusted = readKey(trustedKeyPath, 'trusted key');
  const publicKey = trusted.type === 'private' ? createPublicKey(trusted) : trusted;
  const files = await readArchive(file);
  const id = keyId(publicKey);
  const fail = (problem: string): VerifyOutcome => ({
    ok: false,
    keyid: id,
    verified: [],
    problems: [problem],
  });
  const manifest = files.get(MANIFEST);
  if (!manifest) return fail(`${MANIFEST}: missing: not a signed chiprig bundle`);
  let envelope: Envelope;
  try {
    envelope = JSON.parse(manifest.toString('utf8')) as Envelope;
    if (typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures))
      throw new Error('not a DSSE envelope');
  } catch (error) {
    return fail(`${MANIFEST}: changed: not a DSSE envelope any more (${(error as Error).message})`);
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return fail(`${MANIFEST}: changed: payloadType "${envelope.payloadType}", not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  const opened = openEnvelope(envelope, publicKey);
  if (!opened.ok)
    return fail(
      `${MANIFEST}: ${opened.why}: the manifest or its signature changed, or another key signed it`,
    );
  const statement = JSON.parse(opened.payload.toString('utf8')) as Statement;
  const problems: string[] = [];
  const verified: string[] = [];
  const listed = new Set<string>();
  for (const s of statement.subject) {
    listed.add(s.name);
    const bytes = files.get(s.name);
    if (!bytes) problems.push(`${s.name}: missing from the bundle`);
    else if (sha256(bytes) !== s.digest.sha256) {
      problems.push(
        `${s.name}: changed: SHA-256 ${sha256(bytes)}, the signed manifest says ${s.digest.sha256}`,
      );
    } else verified.push(s.name);
  }
  for (const name of files.keys()) {
    if (name !== MANIFEST && !listed.has(name)) problems.push(`${name}: added: not in the signed manifest`);
  }
  return { ok: problems.length === 0, keyid: id, verified, problems };
}

/** The bundle's files by name (regular files only). ConfigError when it is no gzipped tar. */
async function readArchive(file: string): Promise<Map<string, Buffer>> {
  if (!existsSync(file)) throw new ConfigError(`${file}: no such file`);
  const files = new Map<string, Buffer>();
  try {
    await tar.list({
      file,
      strict: true,
      onReadEntry: (entry) => {
        if (entry.type !== 'File') return;
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => files.set(entry.path.replace(/^\.\//, ''), Buffer.concat(chunks)));
      },
    });
  } catch (error) {
    throw new ConfigError(`${file}: not a readable bundle (a gzipped tar): ${(error as Error).message}`);
  }
  return files;
}

function readKey(path: string, what: string): KeyObject {
  if (!existsSync(path)) throw new ConfigError(`${what} ${path}: no such file`);
  try {
    return ed25519Key(readFileSync(path, 'utf8'), `${what} ${path}`);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
