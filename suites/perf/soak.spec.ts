import assert from 'node:assert/strict';
import { isDeviceFailure, isTransportError } from '../../rig/errors.ts';
import { LatencyHistogram } from '../../rig/measure/histogram.ts';
import { profileLimit } from '../../rig/measure/measurement.ts';
import { meanInterval, quantileFromRanks } from '../../rig/measure/stats.ts';
import { forTransport } from '../../rig/station/device-profile.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate, parseAuthenticateResponse } from '../../rig/u2f/messages.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  attachHistogram,
  declareLatency,
  recordLatency,
  sendPressed,
  verifyAuthentications,
} from '../support/perf.ts';
import { random32, register } from '../support/u2f.ts';

const station = await getStation();
const perf = station.profile.performance;
const totalMs = station.soakMs;
const share = totalMs === undefined ? 0 : totalMs / station.transports.length;
/** Figures every this often: 20 windows a soak, between 200 ms and 60 s each (the rate's interval needs several). */
const windowMs = Math.min(60_000, Math.max(200, share / 20));
/** Answers verified per window (the rest are counted): verification stays out of timing. */
const VERIFY_PER_WINDOW = 500;

const clock = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

for (const kind of station.transports) {
  describe(`${TRANSPORT_NAMES[kind]} · soak`, () => {
    const check = area(station, kind, 'soak');
    check(
      'PERF-SOAK-01',
      'soak: AUTHENTICATE (enforce) again and again for the --duration share, with figures every window',
      async ({ measure, skip, observe }) => {
        if (totalMs === undefined) {
          skip('the soak runs only with a duration: chiprig run --suite perf --duration 10m');
        }
        const limit = forTransport(perf?.latencyP99Ms, kind)?.authenticate;
        const floor = forTransport(perf?.throughputPerS, kind);
        declareLatency(
          measure,
          'device',
          'AUTHENTICATE device time over the soak',
          limit && { ...limit, source: `device profile performance.latencyP99Ms.${kind}.authenticate` },
        );
        measure.declare({
          name: 'window.per_s',
          unit: '1/s',
          better: 'higher',
          description: 'signatures per second in a window',
        });
        measure.declare({
          name: 'window.p99',
          unit: 'ms',
          better: 'lower',
          description: 'device time p99 in a window',
        });
        measure.declare({
          name: 'signatures.per_s',
          unit: '1/s',
          better: 'higher',
          ...profileLimit(floor, `device profile performance.throughputPerS.${kind}`),
        });
        measure.declare({ name: 'signatures.total', unit: 'signatures' });
        measure.declare({ name: 'signatures.verified', unit: 'signatures' });
        measure.declare({
          name: 'link.faults',
          unit: 'faults',
          limits: { max: 0 },
          source: 'a soak must run clean',
        });

        const u2f = await station.u2fOver(kind);
        const cred = await register(u2f);
        const challenge = random32();
        const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, challenge, cred.appParam, cred.keyHandle);
        const all = new LatencyHistogram();
        let window = new LatencyHistogram();
        let kept: Uint8Array[] = [];
        let total = 0;
        let verified = 0;
        let checked = 0;
        let faults = 0;
        let lastCounter = -1;
        const windowRates: number[] = [];
        const logging = station.traffic.enabled;
        station.traffic.note(
          'rig',
          `traffic logging paused for the soak (${clock(share)}); answers verified per window`,
        );
        station.traffic.enabled = false;
        const start = performance.now();
        let windowStart = start;
        const closeWindow = (t: number) => {
          const inWindow = window.count;
          const rate = (inWindow * 1000) / (t - windowStart);
          const v = verifyAuthentications(cred, challenge, kept);
          verified += v;
          checked += kept.length;
          measure.record('window.per_s', rate);
          windowRates.push(rate);
          if (inWindow > 0) measure.record('window.p99', window.percentileMs(99));
          const s = all.summary();
          process.stdout.write(
            `      soak ${kind} ${clock(t - start)}/${clock(share)}  ${total} signatures  ${rate.toFixed(1)}/s  p50 ${s.p50Ms.toFixed(2)} ms  p99 ${s.p99Ms.toFixed(2)} ms  verified ${verified}/${checked}  faults ${faults}\n`,
          );
          window = new LatencyHistogram();
          kept = [];
          windowStart = t;
        };
        try {
          for (let t = performance.now(); t - start < share; t = performance.now()) {
            try {
              const s = await sendPressed(station, kind, apdu, 'AUTHENTICATE');
              assert.equal(s.response.sw, 0x9000, `AUTHENTICATE answered ${s.response.sw.toString(16)}`);
              const counter = parseAuthenticateResponse(s.response.data).counter;
              assert.ok(
                counter > lastCounter,
                `the counter went from ${lastCounter} to ${counter} during the soak`,
              );
              lastCounter = counter;
              total++;
              all.record(s.deviceMs);
              window.record(s.deviceMs);
              if (kept.length < VERIFY_PER_WINDOW) kept.push(s.response.raw);
            } catch (error) {
              if (isDeviceFailure(error) || !isTransportError(error)) throw error;
              // A link fault is counted and the link reset; the soak goes on (and fails at the end).
              faults++;
              await station.resetLink(kind).catch(() => undefined);
            }
            if (performance.now() - windowStart >= windowMs) closeWindow(performance.now());
          }
          if (window.count > 0) closeWindow(performance.now());
        } finally {
          station.traffic.enabled = logging;
        }
        // The p99 graded on its order-statistics interval (ranks read off the histogram), the
        // rate on the t interval of the window rates.
        recordLatency(
          measure,
          'device',
          all,
          all.count > 0
            ? quantileFromRanks(all.count, 0.99, (rank) => all.percentileMs((100 * rank) / all.count))
            : undefined,
        );
        if (windowRates.length > 0) {
          measure.recordEstimate('signatures.per_s', {
            ...meanInterval(windowRates),
            method: `t interval of the mean of ${windowRates.length} window rates`,
          });
        } else measure.record('signatures.per_s', (total * 1000) / share);
        measure.record('signatures.total', total);
        measure.record('signatures.verified', verified);
        measure.record('link.faults', faults);
        await attachHistogram(
          'AUTHENTICATE device time over the soak (histogram)',
          `AUTHENTICATE over ${TRANSPORT_NAMES[kind]}: soak of ${clock(share)}`,
          'device time, ms (button actuation excluded, measured apart)',
          all,
          limit,
        );
        observe(`${total} signatures in ${clock(share)}; ${verified} of ${checked} sampled answers verified`);
        assert.equal(
          verified,
          checked,
          `${checked - verified} of ${checked} sampled signatures do not verify`,
        );
      },
      { timeoutMs: share + 120_000, exchangeSteps: false },
    );
  });
}
