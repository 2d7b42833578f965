import { hex } from '../../rig/bytes.ts';
import { isDeviceFailure, isTransportError } from '../../rig/errors.ts';
import { formatValue, type MeasurementSink, Measurements } from '../../rig/measure/measurement.ts';
import { runRecord, type TestOf } from '../../rig/measure/run-record.ts';
import {
  attachTraffic,
  exchangeStep,
  flushSteps,
  labelTest,
  measurementStep,
  noteStep,
  parameterLater,
  tagLater,
} from '../../rig/report/allure.ts';
import { skipReasons } from '../../rig/report/skips.ts';
import { deviceText } from '../../rig/report/untrusted.ts';
import type { Station } from '../../rig/station/station.ts';
import type { TrafficEntry } from '../../rig/traffic.ts';
import { TRANSPORT_NAMES, type TransportKind } from '../../rig/transport/transport.ts';

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
    const test = it(`${id} ${title}`, async function (this: Mocha.Context) {
      await labelTest({
        id,
        epic: TRANSPORT_NAMES[transport],
        feature,
        severity: opts.severity ?? 'normal',
        parameters: { station: station.name, device: station.deviceSpec.text, transport },
        ...(opts.description ? { description: opts.description } : {}),
      });
      const test = { id, title, transport };
      await runCase(station, transport, test, opts.exchangeSteps ?? true, body, (reason): never => {
        if (this.test) skipReasons.set(this.test, reason);
        if (!process.env.CHIPRIG_QUIET_SKIPS) process.stdout.write(`      skipped ${id}: ${reason}\n`);
        noteStep(`skipped: ${reason}`);
        return this.skip();
      });
    });
    // With an operator or a self-approving device, each press may take the whole presence
    // timeout; the case must outlast a few of them rather than cut the wait short.
    const base = opts.timeoutMs ?? 10_000;
    test.timeout(station.presence.mode === 'actuator' ? base : base + 3 * station.presence.timeoutMs);
    return test;
  };
}

async function runCase(
  station: Station,
  transport: TransportKind,
  test: TestOf,
  exchangeSteps: boolean,
  body: (ctx: CaseContext) => Promise<void>,
  skip: (reason: string) => never,
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
    measure: new Measurements(`${test.id} ${test.title}`, measurementSink(test)),
  };
  try {
    await body(ctx);
    ctx.measure.verify();
  } catch (error) {
    if (isPending(error)) throw error;
    // A link fault costs this test only: reopen the device so the next one starts clean.
    if (!isDeviceFailure(error) && isTransportError(error)) {
      station.traffic.note('rig', `link fault (${error.code}); resetting the link`);
      await station.resetLink(transport).catch(() => undefined);
    }
    throw error;
  } finally {
    station.traffic.onEntry = undefined;
    await flushSteps();
    const { entries, dropped } = station.traffic.drain();
    await attachTraffic(entries, dropped);
  }
}

/** Each measurement, as it is recorded: to disk (run JSON, Allure metrics), the report and, if marginal, the console. */
function measurementSink(test: TestOf): MeasurementSink {
  const perfFile = runRecord.perfFileFor();
  const start = Date.now();
  return {
    record: (m) => {
      runRecord.add(test, perfFile, m, start);
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

const TR_LETTER: Record<TransportKind, string> = { hid: 'H', nfc: 'N', ble: 'B' };

/** Whether a catalogue case with transport column `tr` ("*", "H", "H,B", ...) runs on `kind`. */
export function appliesTo(tr: string, kind: TransportKind): boolean {
  return tr === '*' || tr.split(',').includes(TR_LETTER[kind]);
}
