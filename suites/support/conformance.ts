import { hex } from '../../rig/bytes.ts';
import { isDeviceFailure, isTransportError, TransportError } from '../../rig/errors.ts';
import { formatValue, type MeasurementSink, Measurements } from '../../rig/measure/measurement.ts';
import type { TestOf } from '../../rig/measure/run-record.ts';
import {
  ADVISORY_TAG,
  attachTraffic,
  exchangeStep,
  flushSteps,
  labelTest,
  measurementStep,
  noteStep,
  parameterLater,
  tagLater,
} from '../../rig/report/allure.ts';
import { judgeDisputed, REQUIREMENTS_FILE, requirements } from '../../rig/requirements/requirements.ts';
import { activeRun } from '../../rig/run/context.ts';
import { suiteOf } from '../../rig/run/suites.ts';
import { deviceUnavailable, judgeDeviceAfterCase } from '../../rig/station/hid-health.ts';
import { identityParameters } from '../../rig/station/identity.ts';
import type { Station } from '../../rig/station/station.ts';
import type { TrafficEntry } from '../../rig/traffic.ts';
import {
  TRANSPORT_NAMES,
  type TransportKind,
  transportLetter,
  transportName,
} from '../../rig/transport/kinds.ts';
import { deviceText } from '../../rig/untrusted.ts';

export { TRANSPORT_NAMES };

export interface CaseOptions {
  severity?: 'blocker' | 'critical' | 'normal' | 'minor' | 'trivial';
  /** Mocha timeout for this case (default 10 s, plus three presence timeouts without an actuator). */
  timeoutMs?: number;
  description?: string;
  /**
   * One report step per exchange (default). Timed cases turn it off: writing a step while
   * the next exchange runs would count report work as device latency. Their traffic is
   * still attached whole.
   */
  exchangeSteps?: boolean;
}

export interface CaseContext {
  station: Station;
  /** Records what the device did where public suites disagree, without judging it. */
  observe(what: string): void;
  /** Ends the case as skipped, with the reason printed and kept in the report. */
  skip(reason: string): never;
  /**
   * Judges a disputed point (fixtures/requirements.yaml, strength disputed): `observed` is
   * the sanctioned behaviour the answer shows (undefined: none of them), `shown` the bytes.
   * Every sanctioned behaviour passes and is recorded, unless the device profile narrows
   * the point (profile `disputed:`, with the vendor's source); anything else fails.
   */
  disputed(observed: string | undefined, shown: string): void;
  /**
   * The case's measurements: declared with limits, graded when recorded, each in the report
   * (parameter, step, Allure metric) and the run's JSON file at once. A value outside its
   * limits fails the case when the body ends.
   */
  measure: Measurements;
}

/**
 * Declares catalogue cases for one area. Each case is a mocha test titled
 * "ID title", labelled for Allure (epic = transport, feature = area, story = ID), with
 * a step per exchange and the whole traffic attached, pass or fail.
 */
export function area(station: Station, transport: TransportKind, feature: string) {
  return (id: string, title: string, body: (ctx: CaseContext) => Promise<void>, opts: CaseOptions = {}) => {
    const strength = requirements().strengthOf(id);
    const test = it(`${id} ${title}`, async function (this: Mocha.Context) {
      await labelTest({
        id,
        epic: transportName(transport),
        feature,
        strength,
        severity: opts.severity ?? 'normal',
        // On a station with several devices under test, the device's ID keeps their
        // results (and their Allure history) apart even where their specs are alike.
        parameters: {
          station: station.name,
          device: station.deviceSpec.text,
          transport,
          platform: station.platform.name,
          ...(process.env.CHIPRIG_DUT ? { dut: process.env.CHIPRIG_DUT } : {}),
        },
        identity: identityParameters(station.identity),
        ...(opts.description ? { description: opts.description } : {}),
      });
      const test = { id, title, transport };
      const retries =
        policyOf(station, this.test?.file).linkFaultRetries ?? station.file.policy.linkFaultRetries;
      // The rig enforces the time limit itself, a little before mocha would: a test body
      // mocha abandons keeps running and would use the link under the next test. Past the
      // limit the link is reset, which ends the abandoned body's I/O.
      const limitMs = this.timeout();
      if (limitMs > 0) this.timeout(limitMs + ABANDON_GRACE_MS);
      // A recording or a replay keys each test's exchanges (and its random choices) by title.
      station.tape?.beginTest(this.test?.fullTitle() ?? `${id} ${title}`);
      const skip = (reason: string): never => {
        if (this.test) activeRun().skipReasons.set(this.test, reason);
        if (!process.env.CHIPRIG_QUIET_SKIPS) process.stdout.write(`      skipped ${id}: ${reason}\n`);
        noteStep(`skipped: ${reason}`);
        return this.skip();
      };
      try {
        // A transport the chip does not support on this host platform: skipped, not failed.
        const unsupported = station.unsupported(transport);
        if (unsupported) skip(unsupported);
        await runCase(
          station,
          transport,
          test,
          opts.exchangeSteps ?? true,
          retries,
          limitMs,
          body,
          skip,
          (ms) => this.timeout(ms),
        );
      } catch (error) {
        // An advisory breach (stricter than every official tool) is shown as its own outcome
        // and leaves the exit code alone, unless the run is --strict.
        if (strength !== 'advisory' || !isDeviceFailure(error) || strictRun()) throw error;
        const message = (error as Error).message;
        if (this.test) activeRun().advisoryBreaches.set(this.test, message);
        tagLater(ADVISORY_TAG);
        noteStep(`${ADVISORY_TAG}: ${deviceText(message, 2000)}`);
        await flushSteps();
      } finally {
        station.tape?.endTest();
      }
    });
    // With an operator or a self-approving device, each press may take the whole presence
    // timeout; the case must outlast a few of them rather than cut the wait short.
    const base = policyOf(station, test.file).timeoutMs ?? opts.timeoutMs ?? 10_000;
    test.timeout(station.presence.mode === 'actuator' ? base : base + 3 * station.presence.timeoutMs);
    return test;
  };
}

/** `chiprig run --strict` (or CHIPRIG_STRICT=1): advisory breaches fail like any other. */
export function strictRun(): boolean {
  return activeRun().strict;
}

/**
 * Thrown by a case (or a helper) when the station cannot stage what the case needs, e.g. a
 * withheld press under --presence auto: the case is skipped with this reason, never judged.
 */
export class CannotStage extends Error {
  override name = 'CannotStage';
}

/** Past the rig's own limit, mocha still waits this long before it gives up on a test. */
const ABANDON_GRACE_MS = 2000;

/** The body's outcome, or a TIMEOUT link fault once `ms` pass (the body is abandoned). */
function withinLimit(run: Promise<void>, ms: number, id: string, limitMs: number): Promise<void> {
  run.catch(() => undefined); // an abandoned body's late failure must not surface anywhere
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new TransportError(
            'TIMEOUT',
            `${id} did not finish within its ${limitMs} ms limit; the link is reset`,
          ),
        ),
      ms,
    );
    run.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The station's policy for the suite a spec file belongs to (suites/<suite>/*.spec.ts). */
function policyOf(
  station: Station,
  file: string | undefined,
): { linkFaultRetries?: number; timeoutMs?: number } {
  const suite = suiteOf(file);
  return (suite && station.file.policy.suites[suite]) || {};
}

async function runCase(
  station: Station,
  transport: TransportKind,
  test: TestOf,
  exchangeSteps: boolean,
  retries: number,
  limitMs: number,
  body: (ctx: CaseContext) => Promise<void>,
  skip: (reason: string) => never,
  extendTimeout: (ms: number) => void,
): Promise<void> {
  station.traffic.drain();
  let pendingSend: TrafficEntry | undefined;
  station.traffic.onEntry = (entry) => {
    if (entry.dir === 'note' && entry.layer === 'presence') noteStep(`presence: ${entry.note}`);
    if (entry.layer !== 'apdu' || !exchangeSteps) return;
    if (entry.dir === 'send') pendingSend = entry;
    else if (entry.dir === 'recv' && pendingSend) {
      exchangeStep(
        `${pendingSend.note ?? 'APDU'} ${short(pendingSend.hex)} -> ${short(entry.hex)} (${(entry.atMs - pendingSend.atMs).toFixed(2)} ms)`,
      );
      pendingSend = undefined;
    }
  };
  const ctx: CaseContext = {
    station,
    observe: (text) => {
      // Observations quote what the device said (names, strings): shown escaped.
      const what = deviceText(text, 2000);
      station.traffic.note('rig', `observed: ${what}`);
      noteStep(`observed: ${what}`);
    },
    skip,
    disputed: (observed, shown) => {
      const req = requirements().get(test.id);
      if (!req?.sanctioned) {
        throw new Error(`${test.id} is not a disputed requirement in ${REQUIREMENTS_FILE}`);
      }
      const what = judgeDisputed(req, observed, shown, station.profile.disputed?.[req.id]);
      ctx.observe(what);
      if (observed) parameterLater('observed behaviour', observed);
    },
    measure: new Measurements(`${test.id} ${test.title}`, measurementSink(test)),
  };
  const started = performance.now();
  // Set when the device check below has judged this case already.
  let judged = false;
  try {
    // A device gone, stuck or unusable since an earlier case: this one cannot run (broken).
    const unavailable = deviceUnavailable(station, transport, test.id);
    if (unavailable) throw unavailable;
    for (let attempt = 0; ; attempt++) {
      try {
        const left = limitMs > 0 ? limitMs - (performance.now() - started) : 0;
        await (limitMs > 0 ? withinLimit(body(ctx), Math.max(1, left), test.id, limitMs) : body(ctx));
        ctx.measure.verify();
        // A device that stopped answering (or stays busy) after this case's input fails it.
        const verdict = await judgeDeviceAfterCase(station, transport, test.id, undefined, extendTimeout);
        judged = true;
        if (verdict) throw verdict;
        return;
      } catch (error) {
        if (error instanceof CannotStage) skip(error.message);
        // Nobody can answer an operator prompt (no terminal, no chiprig serve page): the
        // case cannot be staged here, which is nobody's fault; skipped with the reason.
        if ((error as { code?: unknown } | undefined)?.code === 'NO_OPERATOR') skip((error as Error).message);
        if (isPending(error)) throw error;
        if (isDeviceFailure(error) && !judged) {
          judged = true;
          throw (await judgeDeviceAfterCase(station, transport, test.id, error, extendTimeout)) ?? error;
        }
        if (isDeviceFailure(error) || !isTransportError(error)) throw error;
        // A link fault costs this test only: reopen the device so the next one starts clean.
        station.traffic.note('rig', `link fault (${error.code}); resetting the link`);
        await station.resetLink(transport).catch(() => undefined);
        // Still silent (or busy) on a fresh link: the device stopped after this input, it fails.
        const verdict = await judgeDeviceAfterCase(station, transport, test.id, error, extendTimeout);
        if (verdict) throw verdict;
        // Run it again, unless that would record measurements twice. A device failure is
        // never retried; the retry is in the report and on the console.
        if (attempt >= retries || ctx.measure.values.length > 0) throw error;
        const what = `link fault (${error.code}): ${error.message}; retry ${attempt + 1} of ${retries}`;
        station.traffic.note('rig', what);
        noteStep(what);
        tagLater('retried after a link fault');
        process.stdout.write(`      retry ${test.id}: ${deviceText(what, 400)}\n`);
      }
    }
  } finally {
    station.traffic.onEntry = undefined;
    await flushSteps();
    const { entries, dropped } = station.traffic.drain();
    await attachTraffic(entries, dropped);
  }
}

/** Each measurement, as it is recorded: to disk (run JSON, Allure metrics), the report and, if marginal, the console. */
function measurementSink(test: TestOf): MeasurementSink {
  const record = activeRun().measurements;
  const perfFile = record.perfFileFor();
  const start = Date.now();
  return {
    record: (m) => {
      record.add(test, perfFile, m, start);
      const verdict = m.verdict === 'recorded' ? '' : ` (${m.verdict})`;
      parameterLater(m.name, `${Number(m.value.toPrecision(6))} ${m.unit}${verdict}`);
      measurementStep(`measurement ${formatValue(m)}`, m.verdict === 'fail');
      if (m.verdict === 'marginal') {
        tagLater('marginal');
        process.stdout.write(`      marginal ${test.id}: ${formatValue(m)}\n`);
      }
    },
  };
}

function isPending(error: unknown): boolean {
  return (error as { constructor?: { name?: string } })?.constructor?.name === 'Pending';
}

function short(h: string): string {
  return h.length <= 48 ? h : `${h.slice(0, 40)}…${h.slice(-8)} [${h.length / 2} bytes]`;
}

export { hex };

/** Whether a catalogue case with transport column `tr` ("*", "H", "H,B", ...) runs on `kind`. */
export function appliesTo(tr: string, kind: TransportKind): boolean {
  return tr === '*' || tr.split(',').includes(transportLetter(kind));
}
