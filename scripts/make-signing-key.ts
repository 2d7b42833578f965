/**
 * Makes the emulated station's TEST signing key (Ed25519) for `chiprig bundle`:
 * fixtures/keys/station-test-ed25519.pem (private, PKCS#8) and .pub.pem (public, SPKI).
 * A test key, in the repository on purpose: a lab station keeps its own key private.
 * Run: npx tsx scripts/make-signing-key.ts
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { packagePath } from '../rig/paths.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const base = packagePath('fixtures/keys/station-test-ed25519');
writeFileSync(`${base}.pem`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(`${base}.pub.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
process.stdout.write(`wrote ${base}.pem and ${base}.pub.pem\n`);
