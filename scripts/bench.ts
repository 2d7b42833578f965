/**
 * `npm run bench`: speed figures side by side in one run (no timed tests).
 *  1. raw node:crypto P-256 ECDSA/SHA-256 signatures per second (the emulator's floor);
 *  2. emulated HID AUTHENTICATE (enforce) round trips per second through the full rig:
 *     U2F client -> CTAPHID framing -> emulated HID device -> authenticator -> back,
 *     with a press from the station's actuator before each, traffic logging off;
 *  3. their ratio (aim: 0.6 or better).
 * Only signatures verified afterwards count; verification stays out of the timed loop.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Bench } from 'tinybench';
import { Station } from '../rig/station/station.ts';
import { AUTH_P1, SW } from '../rig/u2f/apdu.ts';
import { authenticationSignedData, encodeAuthenticate, parseAuthenticateResponse } from '../rig/u2f/messages.ts';
import { verifySignature } from '../rig/u2f/verify.ts';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 3000);
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

// Each timed iteration does BATCH operations so the harness's own per-call cost
// (larger for async functions) does not count against either side.
const BATCH = 10;
const responses: Uint8Array[] = [];
const bench = new Bench({ time: TIME_MS, warmupTime: 300 });
bench.add('node:crypto P-256 sign', () => {
  for (let i = 0; i < BATCH; i++) sign('sha256', message, key);
});
bench.add('emulated HID authenticate (full rig)', async () => {
  for (let i = 0; i < BATCH; i++) {
    await station.presence.request('bench');
    const r = await u2f.send(apdu);
    if (r.sw !== SW.NO_ERROR) throw new Error(`AUTHENTICATE answered ${r.sw.toString(16)}`);
    if (responses.length < 200_000) responses.push(r.data);
  }
});
await bench.run();

// Verify every collected signature outside the timed loop.
let verified = 0;
for (const data of responses) {
  const a = parseAuthenticateResponse(data);
  if (verifySignature(registration.userPublicKey, authenticationSignedData(app, a.flags, a.counter, chal), a.signature)) verified++;
}
await station.close();

const rows = bench.tasks.map((t) => {
  const r = t.result;
  if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
  const rate = (BATCH * 1000) / r.latency.mean;
  const lo = (BATCH * 1000) / (r.latency.mean + r.latency.moe);
  const hi = (BATCH * 1000) / Math.max(1e-9, r.latency.mean - r.latency.moe);
  return { name: t.name, rate, lo, hi, meanUs: (r.latency.mean * 1000) / BATCH };
});
const [raw, rig] = rows as [(typeof rows)[0], (typeof rows)[0]];
const fmt = (n: number) => n.toFixed(0).padStart(9);
console.log(`\nchiprig bench (${TIME_MS} ms per task, ${BATCH} operations per sample, Node ${process.version}, ${process.platform} ${process.arch})\n`);
console.log(`${'task'.padEnd(40)} ${'ops/s'.padStart(9)} ${'95% CI'.padStart(21)} ${'mean us'.padStart(9)}`);
for (const r of rows) {
  console.log(`${r.name.padEnd(40)} ${fmt(r.rate)} ${`[${r.lo.toFixed(0)}, ${r.hi.toFixed(0)}]`.padStart(21)} ${r.meanUs.toFixed(1).padStart(9)}`);
}
console.log(`\nverified signatures: ${verified} of ${responses.length} collected`);
const ratio = rig.rate / raw.rate;
console.log(`ratio full-rig authenticate / raw sign: ${ratio.toFixed(3)} (aim >= 0.6)${ratio >= 0.6 ? '' : '  BELOW AIM'}`);
if (verified !== responses.length) {
  console.error('some signatures did not verify: the figures above do not count');
  process.exitCode = 1;
}
