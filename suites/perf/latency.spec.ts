import { LatencyHistogram } from '../../rig/measure/histogram.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import {
  attachHistogram,
  declareLatency,
  LATENCY_CASES,
  p99Exceeded,
  recordLatency,
  sampler,
} from '../support/perf.ts';
import { type Credential, register } from '../support/u2f.ts';

const station = await getStation();
const perf = station.profile.performance;
const samples = perf?.samples ?? 20;

for (const kind of station.transports) {
  describe(`${TRANSPORT_NAMES[kind]} · latency`, () => {
    const check = area(station, kind, 'latency');
    let cred: Credential | undefined;
    const credential = async () => {
      cred ??= await register(await station.u2fOver(kind));
      return cred;
    };

    for (const c of LATENCY_CASES) {
      if (!appliesTo(c.tr, kind)) continue;
      check(
        c.id,
        `${c.name} latency: p50, p90, p99, max of ${samples} samples (device time)`,
        async ({ measure, observe }) => {
          const limit = perf?.latencyP99Ms[kind]?.[c.op];
          const source = `device profile performance.latencyP99Ms.${kind}.${c.op}`;
          declareLatency(measure, 'device', `${c.name} device time`, limit && { ...limit, source });
          if (c.press) declareLatency(measure, 'actuation', 'button actuation (rig, not device)');
          const take = await sampler(station, kind, c.op, credential);
          const device = new LatencyHistogram();
          const actuation = new LatencyHistogram();
          let over = 0;
          for (let i = 0; i < samples; i++) {
            const s = await take();
            device.record(s.deviceMs);
            if (c.press) actuation.record(s.actuationMs);
            if (limit && s.deviceMs > limit.max) over++;
            // No point going on once the p99 is certain to break the limit (a slow device
            // would otherwise hold the run for samples × its slowness).
            if (p99Exceeded(samples, over)) {
              observe(
                `stopped after ${i + 1} of ${samples} samples: the p99 limit of ${limit!.max} ms is already exceeded`,
              );
              break;
            }
          }
          recordLatency(measure, 'device', device);
          if (c.press) recordLatency(measure, 'actuation', actuation);
          await attachHistogram(
            `${c.name} device time (histogram)`,
            `${c.name} over ${TRANSPORT_NAMES[kind]}: device time`,
            c.press ? 'device time, ms (button actuation excluded, measured apart)' : 'device time, ms',
            device,
            limit,
          );
          if (c.press) {
            await attachHistogram(
              `${c.name} button actuation (histogram)`,
              `${c.name} over ${TRANSPORT_NAMES[kind]}: button actuation (rig, not device)`,
              'actuation time, ms (press or prompt before the request, plus any re-sends)',
              actuation,
            );
          }
        },
        { timeoutMs: 120_000, exchangeSteps: false },
      );
    }
  });
}
