/**
 * `npm run bench`: speed figures side by side in one run (no timed tests).
 *  1. the raw node:crypto P-256 ECDSA/SHA-256 sign rate (the emulator's floor), and enforce
 *     AUTHENTICATE round trips per second through the full rig over each of the emulated
 *     chip's links with zero link delay, each with its ratio to the raw sign rate
 *     (scripts/bench-throughput.ts); aim for USB HID: 0.8 or more;
 *  2. the rig's own cost per exchange: framing an AUTHENTICATE and parsing its answer on
 *     each transport, no device (scripts/bench-codecs.ts), and its share of one signature;
 *  3. NFC exchange latency p50/p99, in process and through pcscd + vpcd (scripts/bench-nfc.ts);
 *  4. BLE exchange latency p50/p99, in-process noble and noble's HCI stack on a pty (scripts/bench-ble.ts);
 *  5. NFC through pcscd + vpcd, two clients on one card served by `chiprig emulate` in its
 *     own process: chiprig's and python-fido2's VERSION latency and rate and AUTHENTICATE
 *     rate, with their ratio (scripts/bench-nfc-clients.ts, scripts/fido2-bench.py);
 *  6. fuzz campaign cases per second over each link (scripts/bench-fuzz.ts);
 *  7. `chiprig --version` start-up, median of five: the development checkout (tsx) beside the
 *     package installed from `npm pack`'s tarball (built JavaScript), and their ratio
 *     (scripts/bench-startup.ts; it packs and installs into a temp prefix first).
 * BENCH_TIME_MS (per task and round), BENCH_ROUNDS, BENCH_NFC_SAMPLES, BENCH_NFC_CLIENT_SAMPLES
 * and BENCH_BLE_SAMPLES shorten or lengthen it.
 */
import { benchBle } from './bench-ble.ts';
import { benchCodecs } from './bench-codecs.ts';
import { benchFuzz } from './bench-fuzz.ts';
import { benchNfc } from './bench-nfc.ts';
import { benchNfcClients } from './bench-nfc-clients.ts';
import { benchResults } from './bench-results.ts';
import { benchStartup } from './bench-startup.ts';
import { benchThroughput, median, RAW_SIGN } from './bench-throughput.ts';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const AIM = 0.8;

const t = await benchThroughput(['hid', 'nfc', 'ble'], ROUNDS, TIME_MS);
console.log(
  `\nchiprig bench: ${ROUNDS} alternating rounds of ${TIME_MS} ms per task, Node ${process.version}, ${process.platform} ${process.arch}\n`,
);
console.log(
  `${'task'.padEnd(44)} ${'median ops/s'.padStart(13)} ${'min'.padStart(8)} ${'max'.padStart(8)} ${'mean us'.padStart(9)} ${'ratio'.padStart(7)}`,
);
const signRate = median(t.rates[RAW_SIGN]!);
for (const [name, rates] of Object.entries(t.rates)) {
  const m = median(rates);
  const ratio = name === RAW_SIGN ? 1 : median(t.ratios[name]!);
  const mark = name.includes('HID') && ratio < AIM ? `  BELOW AIM ${AIM}` : '';
  console.log(
    `${name.padEnd(44)} ${m.toFixed(0).padStart(13)} ${Math.min(...rates)
      .toFixed(0)
      .padStart(8)} ${Math.max(...rates)
      .toFixed(0)
      .padStart(8)} ${(1e6 / m).toFixed(1).padStart(9)} ${ratio.toFixed(3).padStart(7)}${mark}`,
  );
}
for (const [name, ratios] of Object.entries(t.ratios)) {
  console.log(`  per-round ratios, ${name}: ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
}
console.log(
  `verified signatures: ${t.verified} of ${t.collected} full-rig authentications${t.notKept ? ` (${t.notKept} more not kept, not counted)` : ''}`,
);

console.log("\nthe rig's own cost per exchange (AUTHENTICATE framing + answer parsing, no device):");
const signUs = 1e6 / signRate;
console.log(
  `${'transport'.padEnd(44)} ${'mean us'.padStart(9)} ${'± %'.padStart(6)} ${'of a sign'.padStart(10)}`,
);
for (const c of await benchCodecs()) {
  console.log(
    `${c.transport.padEnd(44)} ${c.meanUs.toFixed(2).padStart(9)} ${c.rmePct.toFixed(1).padStart(6)} ${(c.meanUs / signUs).toFixed(3).padStart(10)}`,
  );
}
console.log(`(one raw sign: ${signUs.toFixed(1)} us)`);

console.log('');
for (const line of await benchNfc(Number(process.env.BENCH_NFC_SAMPLES ?? 1000))) console.log(line);
console.log('');
for (const line of await benchBle(Number(process.env.BENCH_BLE_SAMPLES ?? 300))) console.log(line);
console.log('');
for (const line of await benchNfcClients(Number(process.env.BENCH_NFC_CLIENT_SAMPLES ?? 3000)))
  console.log(line);
console.log('');
for (const line of await benchFuzz(Number(process.env.BENCH_FUZZ_CASES ?? 20000))) console.log(line);
console.log('');
for (const line of await benchResults(Number(process.env.BENCH_RESULTS ?? 2000))) console.log(line);
console.log('');
for (const line of await benchStartup()) console.log(line);
if (t.verified !== t.collected) {
  console.error('some signatures did not verify: the figures above do not count');
  process.exitCode = 1;
}
