/**
 * `npm run bench`: speed figures side by side in one run (no timed tests).
 *  1. raw node:crypto P-256 ECDSA/SHA-256 signatures per second (the emulator's floor);
 *  2. emulated HID AUTHENTICATE (enforce) round trips per second through the full rig:
 *     U2F client -> CTAPHID framing -> emulated HID device -> authenticator -> back,
 *     with a press from the station's actuator before each, traffic logging off;
 *  3. their ratio (aim: 0.6 or better);
 *  4. NFC exchange latency p50/p99, in process and through pcscd + vpcd (scripts/bench-nfc.ts);
 *  5. BLE exchange latency p50/p99, in-process noble and noble's HCI stack on a pty (scripts/bench-ble.ts).
 * The two tasks alternate over several short rounds and the ratio is the median of the
 * per-round ratios, so a shared machine whose speed drifts does not skew it.
 * Only signatures verified afterwards count; verification stays out of the timed loop.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { Bench } from 'tinybench';
import { Station } from '../rig/station/station.ts';
import { AUTH_P1, SW } from '../rig/u2f/apdu.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  parseAuthenticateResponse,
} from '../rig/u2f/messages.ts';
import { benchBle } from './bench-ble.ts';
import { benchNfc } from './bench-nfc.ts';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 4000);
const ROUNDS = 5;
// Each timed sample does BATCH operations so the harness's own per-call cost
// (larger for async functions) does not count against either side.
const BATCH = 10;

const station = await Station.open();
station.traffic.enabled = false;
const u2f = await station.u2f();
const app = Uint8Array.from(randomBytes(32));
const chal = Uint8Array.from(randomBytes(32));
const registration = await u2f.register(chal, app);
const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, registration.keyHandle);

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const key = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
const message = randomBytes(69); // app ‖ flags ‖ counter ‖ chal, as the chip signs

// Responses go into one preallocated pool (no per-response objects kept alive, which
// would make later rounds pay for a growing heap).
const POOL_RESPONSES = 400_000;
const SLOT = 80; // flags 1 + counter 4 + DER signature <= 72 + 1 length byte
const pool = new Uint8Array(POOL_RESPONSES * SLOT);
let collected = 0;
let overflow = 0;
const tasks: Record<string, () => unknown> = {
  'node:crypto P-256 sign': () => {
    for (let i = 0; i < BATCH; i++) sign('sha256', message, key);
  },
  'emulated HID authenticate (full rig)': async () => {
    for (let i = 0; i < BATCH; i++) {
      await station.presence.request('bench');
      const r = await u2f.send(apdu);
      if (r.sw !== SW.NO_ERROR) throw new Error(`AUTHENTICATE answered ${r.sw.toString(16)}`);
      if (collected < POOL_RESPONSES && r.data.length < SLOT) {
        pool[collected * SLOT] = r.data.length;
        pool.set(r.data, collected * SLOT + 1);
        collected++;
      } else overflow++;
    }
  },
};

const rates: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  const bench = new Bench({ time: TIME_MS / ROUNDS / 2, warmupTime: 100 });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  for (const t of bench.tasks) {
    if (t.result.state !== 'completed') throw new Error(`${t.name}: ${t.result.state}`);
    const list = rates[t.name] ?? [];
    list.push((BATCH * 1000) / t.result.latency.mean);
    rates[t.name] = list;
  }
}
await station.close();

// Verify every collected signature outside the timed loop (node:crypto, independent of the rig's verifier).
const publicKey = createPublicKey({
  key: {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(registration.userPublicKey.subarray(1, 33)).toString('base64url'),
    y: Buffer.from(registration.userPublicKey.subarray(33)).toString('base64url'),
  },
  format: 'jwk',
});
let verified = 0;
for (let i = 0; i < collected; i++) {
  const at = i * SLOT;
  const a = parseAuthenticateResponse(pool.subarray(at + 1, at + 1 + pool[at]!));
  if (verify('sha256', authenticationSignedData(app, a.flags, a.counter, chal), publicKey, a.signature))
    verified++;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const names = Object.keys(tasks);
const raw = rates[names[0]!]!;
const rig = rates[names[1]!]!;
console.log(
  `\nchiprig bench: ${ROUNDS} alternating rounds, ${TIME_MS} ms in all, Node ${process.version}, ${process.platform} ${process.arch}\n`,
);
console.log(
  `${'task'.padEnd(40)} ${'median ops/s'.padStart(13)} ${'min'.padStart(8)} ${'max'.padStart(8)} ${'mean us'.padStart(9)}`,
);
for (const name of names) {
  const r = rates[name]!;
  const m = median(r);
  console.log(
    `${name.padEnd(40)} ${m.toFixed(0).padStart(13)} ${Math.min(...r)
      .toFixed(0)
      .padStart(8)} ${Math.max(...r)
      .toFixed(0)
      .padStart(8)} ${(1e6 / m).toFixed(1).padStart(9)}`,
  );
}
const ratios = raw.map((r, i) => rig[i]! / r);
const ratio = median(ratios);
console.log(
  `\nverified signatures: ${verified} of ${collected} full-rig authentications${overflow ? ` (${overflow} more not kept, not counted)` : ''}`,
);
console.log(`per-round ratios: ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
console.log(
  `ratio full-rig authenticate / raw sign (median): ${ratio.toFixed(3)} (aim >= 0.6)${ratio >= 0.6 ? '' : '  BELOW AIM'}`,
);
console.log('');
for (const line of await benchNfc(Number(process.env.BENCH_NFC_SAMPLES ?? 1000))) console.log(line);
console.log('');
for (const line of await benchBle(Number(process.env.BENCH_BLE_SAMPLES ?? 300))) console.log(line);
if (verified !== collected) {
  console.error('some signatures did not verify: the figures above do not count');
  process.exitCode = 1;
}
