import assert from 'node:assert/strict';
import {
  bleExchangeMs,
  classifyApdu,
  hidExchangeMs,
  type LinkTiming,
  nfcExchangeMs,
  type Operation,
  processingMs,
} from '../../rig/emulator/timing/link-model.ts';
import { formatEstimate, quantileInterval, sampleUntilDecided } from '../../rig/measure/stats.ts';
import { SW } from '../../rig/transport/nfc/apdu.ts';
import { deviceTimeMs, type TransportKind } from '../../rig/transport/transport.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate, encodeVersion } from '../../rig/u2f/messages.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { LATENCY_ACCURACY, PING_BYTES } from '../support/perf.ts';
import { random32, register } from '../support/u2f.ts';

const station = await getStation();
/**
 * Samples per operation at the first look; the median error's distribution-free 95 %
 * interval is compared with the tolerance, and while it straddles it more are taken, up to
 * MAX_SAMPLES (then the case is inconclusive: broken, not failed).
 */
const SAMPLES = 21;
const MAX_SAMPLES = 168;
/**
 * Exchanges run and thrown away first: the first ones go through code the JavaScript engine
 * has not compiled yet and take longer on the host side, as a lab warms up an instrument.
 */
const WARMUP = 5;
/** The accuracy the rig claims for device time: max(2 %, 0.2 ms). */
const tolerance = (modelledMs: number) => Math.max(LATENCY_ACCURACY.rel * modelledMs, LATENCY_ACCURACY.abs);

interface Probe {
  op: Operation;
  /** One timed exchange: measured time and what the model predicts for it. */
  run: () => Promise<{ measuredMs: number; modelledMs: number }>;
}

const now = () => performance.now();

for (const kind of station.transports) {
  describe(`${TRANSPORT_NAMES[kind]} · link model`, () => {
    const check = area(station, kind, 'link model accuracy');
    check(
      'PERF-MODEL-01',
      `measured latency matches the emulated link's timing model within max(2 %, 0.2 ms)`,
      async ({ measure, skip, observe }) => {
        const timing = station.emulator?.timing;
        if (!timing) {
          skip(
            'the device is not an emulated chip with a link timing model (emulator.timing in the station file, e.g. fixtures/stations/emulated-timed.yaml)',
          );
        }
        const probes = await probesFor(kind, timing);
        for (const p of probes) {
          // Exact medians of the samples (a histogram bucket would add up to 0.1 % of bias),
          // and the error taken per sample: the model can differ between samples (an ECDSA
          // signature is 70 to 72 bytes, so a response can take one more block or fragment).
          const measured: number[] = [];
          const modelled: number[] = [];
          const warm: number[] = [];
          for (let i = 0; i < WARMUP; i++) warm.push((await p.run()).modelledMs);
          const warmTol = tolerance(median(warm));
          const run = await sampleUntilDecided({
            take: async () => {
              const s = await p.run();
              measured.push(s.measuredMs);
              modelled.push(s.modelledMs);
              return s.measuredMs - s.modelledMs;
            },
            estimate: (errors) => quantileInterval(errors, 0.5),
            limits: { min: -warmTol, max: warmTol },
            minN: SAMPLES,
            maxN: MAX_SAMPLES,
          });
          const modelledMs = median(modelled);
          const p50 = median(measured);
          const error = run.estimate;
          const tol = tolerance(modelledMs);
          measure.declare({ name: `${p.op}.modelled`, unit: 'ms', description: `${p.op}: modelled latency` });
          measure.declare({ name: `${p.op}.measured.p50`, unit: 'ms', better: 'lower' });
          measure.declare({
            name: `${p.op}.error`,
            unit: 'ms',
            limits: { min: -tol, max: tol },
            source: 'max(2 %, 0.2 ms) of the modelled latency',
            description: `${p.op}: median of measured minus modelled over ${run.samples.length} exchanges`,
          });
          measure.record(`${p.op}.modelled`, modelledMs);
          measure.record(`${p.op}.measured.p50`, p50);
          measure.recordEstimate(`${p.op}.error`, error);
          observe(
            `${p.op}: measured p50 ${p50.toFixed(3)} ms, modelled ${modelledMs.toFixed(3)} ms, median error ${formatEstimate(error, 'ms')} (tolerance ±${tol.toFixed(3)} ms)`,
          );
        }
      },
      { timeoutMs: 120_000, exchangeSteps: false },
    );
  });
}

async function probesFor(kind: TransportKind, timing: LinkTiming | undefined): Promise<Probe[]> {
  assert.ok(timing);
  const u2f = await station.u2fOver(kind);
  const cred = await register(u2f);
  const version = encodeVersion('iso');
  const auth = () => encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle);
  const proc = (op: Operation) => processingMs(timing, op);
  const press = () => (kind === 'nfc' ? Promise.resolve() : station.presence.request('AUTHENTICATE'));

  if (kind === 'nfc') {
    const nfc = await station.nfc();
    // Every C-APDU → R-APDU of the exchange (GET RESPONSE, chaining) is modelled on its own.
    const timed = async (apdu: Uint8Array) => {
      const t0 = now();
      const x = await nfc.exchangeDetailed(apdu);
      const measuredMs = deviceTimeMs(nfc, t0, now());
      const modelledMs = x.steps.reduce(
        (sum, s) =>
          sum +
          (timing.nfc
            ? nfcExchangeMs(timing.nfc, s.command.length, s.response.length, proc(classifyApdu(s.command)))
            : proc(classifyApdu(s.command))),
        0,
      );
      return { measuredMs, modelledMs, sw: x.response };
    };
    return [
      { op: 'version', run: () => timed(version) },
      {
        op: 'authenticate',
        run: async () => {
          const r = await timed(auth());
          assertOk(r.sw);
          return r;
        },
      },
    ];
  }

  const transport = kind === 'hid' ? await station.hid() : await station.ble();
  const fragmentSize = 'controlPointLength' in transport ? transport.controlPointLength : 0;
  const model = (requestBytes: number, responseBytes: number, op: Operation): number => {
    if (kind === 'hid') {
      return timing.hid ? hidExchangeMs(timing.hid, requestBytes, responseBytes, proc(op)) : proc(op);
    }
    return timing.ble
      ? bleExchangeMs(timing.ble, fragmentSize, requestBytes, responseBytes, proc(op))
      : proc(op);
  };
  const timed = async (apdu: Uint8Array, op: Operation) => {
    const t0 = now();
    const raw = await u2f.transport.exchange(apdu);
    const measuredMs = deviceTimeMs(u2f.transport, t0, now());
    if (op === 'authenticate') assertOk(raw);
    return { measuredMs, modelledMs: model(apdu.length, raw.length, op) };
  };
  const ping = Uint8Array.from({ length: PING_BYTES }, (_, i) => i);
  return [
    { op: 'version', run: () => timed(version, 'version') },
    {
      op: 'authenticate',
      run: async () => {
        await press();
        return timed(auth(), 'authenticate');
      },
    },
    {
      op: 'ping',
      run: async () => {
        const t0 = now();
        const echo = await transport.ping(ping);
        return {
          measuredMs: deviceTimeMs(transport, t0, now()),
          modelledMs: model(ping.length, echo.length, 'ping'),
        };
      },
    },
  ];
}

function assertOk(raw: Uint8Array): void {
  const sw = ((raw.at(-2) ?? 0) << 8) | (raw.at(-1) ?? 0);
  assert.equal(sw, SW.NO_ERROR, `AUTHENTICATE: expected SW 9000, device answered ${sw.toString(16)}`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
