import assert from 'node:assert/strict';
import { Bench } from 'tinybench';
import { profileLimit } from '../../rig/measure/measurement.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate } from '../../rig/u2f/messages.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { sendPressed, verifyAuthentications } from '../support/perf.ts';
import { random32, register } from '../support/u2f.ts';

const station = await getStation();
const perf = station.profile.performance;
const durationMs = perf?.throughputMs ?? 1000;
/** Answers kept for verification after the timed loop (the rest are counted, not kept). */
const KEEP = 200_000;

for (const kind of station.transports) {
  describe(`${TRANSPORT_NAMES[kind]} · throughput`, () => {
    const check = area(station, kind, 'throughput');
    check(
      'PERF-TPUT-01',
      `sustained AUTHENTICATE (enforce) signatures per second over ${durationMs} ms, verified afterwards`,
      async ({ measure, observe }) => {
        const limit = perf?.throughputPerS[kind];
        measure.declare({
          name: 'signatures.per_s',
          unit: '1/s',
          better: 'higher',
          description: 'verified signatures per second (mean)',
          ...profileLimit(limit, `device profile performance.throughputPerS.${kind}`),
        });
        measure.declare({
          name: 'signatures.per_s.ci95',
          unit: '1/s',
          description: '95 % confidence half-width',
        });
        measure.declare({ name: 'signatures.rme', unit: '%', description: 'relative margin of error' });
        measure.declare({ name: 'signatures.verified', unit: 'signatures' });
        measure.declare({ name: 'signatures.total', unit: 'signatures' });

        const u2f = await station.u2fOver(kind);
        const cred = await register(u2f);
        const challenge = random32();
        const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, challenge, cred.appParam, cred.keyHandle);
        const answers: Uint8Array[] = [];
        let total = 0;
        // The whole cycle a lab sustains: press (or prompt), request, answer. Verification
        // and traffic logging stay out of the timed loop.
        const bench = new Bench({
          time: durationMs,
          iterations: 2,
          warmup: true,
          warmupIterations: 2,
          warmupTime: 50,
        });
        bench.add('authenticate', async () => {
          const s = await sendPressed(station, kind, apdu, 'AUTHENTICATE');
          total++;
          if (answers.length < KEEP) answers.push(s.response.raw);
        });
        const logging = station.traffic.enabled;
        station.traffic.note(
          'rig',
          'traffic logging paused for the timed loop (every answer is verified afterwards)',
        );
        station.traffic.enabled = false;
        try {
          await bench.run();
        } finally {
          station.traffic.enabled = logging;
        }
        const task = bench.tasks[0]!;
        const result = task.result;
        assert.equal(result.state, 'completed', `the timed loop did not complete: ${result.state}`);
        if (result.state !== 'completed') return;
        const verified = verifyAuthentications(cred, challenge, answers);
        const kept = answers.length;
        const share = kept > 0 ? verified / kept : 0;
        // Sustained rate = 1 / mean cycle time (the mean of per-sample rates would overstate
        // it); its 95 % interval from the mean's relative margin of error.
        const lat = result.latency;
        const rate = (1000 / lat.mean) * share;
        const t = { mean: rate, moe: (rate * lat.rme) / 100, rme: lat.rme };
        measure.record('signatures.per_s', t.mean);
        measure.record('signatures.per_s.ci95', t.moe);
        measure.record('signatures.rme', t.rme);
        measure.record('signatures.verified', verified);
        measure.record('signatures.total', total);
        observe(
          `${verified} of ${kept} answers verified${total > kept ? ` (${total - kept} more counted, not kept)` : ''}; ${t.mean.toFixed(1)} ± ${t.moe.toFixed(1)} /s (95 %)`,
        );
        assert.equal(verified, kept, `${kept - verified} of ${kept} AUTHENTICATE signatures do not verify`);
      },
      { timeoutMs: durationMs + 60_000, exchangeSteps: false },
    );
  });
}
