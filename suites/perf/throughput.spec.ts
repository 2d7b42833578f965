import assert from 'node:assert/strict';
import { profileLimit } from '../../rig/measure/measurement.ts';
import { decide, formatEstimate, mapEstimate, meanInterval } from '../../rig/measure/stats.ts';
import { forTransport } from '../../rig/station/device-profile.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate } from '../../rig/u2f/messages.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { sendPressed, verifyAuthentications } from '../support/perf.ts';
import { random32, register } from '../support/u2f.ts';

const station = await getStation();
const perf = station.profile.performance;
const durationMs = perf?.throughputMs ?? 1000;
/** Longest the loop may run while the rate's interval straddles the floor (it doubles per look). */
const maxDurationMs = Math.max(durationMs, perf?.maxThroughputMs ?? 4000);
/** Cycles run and thrown away first (code not yet compiled, links warming up). */
const WARMUP = 2;
/** Answers kept for verification after the timed loop (the rest are counted, not kept). */
const KEEP = 200_000;

for (const kind of station.transports) {
  describe(`${TRANSPORT_NAMES[kind]} · throughput`, () => {
    const check = area(station, kind, 'throughput');
    check(
      'PERF-TPUT-01',
      `sustained AUTHENTICATE (enforce) signatures per second over ${durationMs} ms or more, verified afterwards`,
      async ({ measure, observe }) => {
        const limit = forTransport(perf?.throughputPerS, kind);
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
        const cycle = async () => {
          const s = await sendPressed(station, kind, apdu, 'AUTHENTICATE');
          total++;
          if (answers.length < KEEP) answers.push(s.response.raw);
        };
        const logging = station.traffic.enabled;
        station.traffic.note(
          'rig',
          'traffic logging paused for the timed loop (every answer is verified afterwards)',
        );
        station.traffic.enabled = false;
        // Cycle times, ms; the rate is 1000 / their mean (the mean of per-cycle rates would
        // overstate it), with the t interval of the mean carried through. The loop runs for
        // durationMs, and while that interval straddles the profile's floor it runs on,
        // doubling, up to maxDurationMs.
        const cycles: number[] = [];
        const toRate = (ms: number) => (ms > 0 ? 1000 / ms : Number.POSITIVE_INFINITY);
        let ranMs = 0;
        try {
          for (let i = 0; i < WARMUP; i++) await cycle();
          const start = performance.now();
          for (let budget = durationMs; ; budget = Math.min(maxDurationMs, budget * 2)) {
            while (performance.now() - start < budget || cycles.length < 2) {
              const t0 = performance.now();
              await cycle();
              cycles.push(performance.now() - t0);
            }
            const rate = mapEstimate(meanInterval(cycles), toRate);
            if (!limit || decide(rate, limit) !== 'inconclusive' || budget >= maxDurationMs) break;
          }
          ranMs = performance.now() - start;
        } finally {
          station.traffic.enabled = logging;
        }
        const verified = verifyAuthentications(cred, challenge, answers);
        const kept = answers.length;
        const share = kept > 0 ? verified / kept : 0;
        // Only verified signatures count: the rate and its interval scaled by their share.
        const rate = mapEstimate(meanInterval(cycles), (ms) => toRate(ms) * share);
        const moe = (rate.hi - rate.lo) / 2;
        measure.recordEstimate('signatures.per_s', rate);
        measure.record('signatures.per_s.ci95', moe);
        measure.record('signatures.rme', (100 * moe) / rate.value);
        measure.record('signatures.verified', verified);
        measure.record('signatures.total', total);
        observe(
          `${verified} of ${kept} answers verified${total > kept ? ` (${total - kept} more counted, not kept)` : ''}; ${formatEstimate(rate, '/s')} over ${Math.round(ranMs)} ms`,
        );
        assert.equal(verified, kept, `${kept - verified} of ${kept} AUTHENTICATE signatures do not verify`);
      },
      { timeoutMs: maxDurationMs + 60_000, exchangeSteps: false },
    );
  });
}
