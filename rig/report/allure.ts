import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { formatTraffic, type TrafficEntry } from '../traffic.ts';
import { deviceText } from '../untrusted.ts';

/**
 * The Allure adapter: the only file that imports allure-js-commons. Suites describe
 * their tests through these functions; the reporter (allure-mocha) writes each result to
 * disk as soon as the test ends.
 */
export interface TestLabels {
  /** Catalogue ID, e.g. U2F-REG-04. */
  id: string;
  /** Epic: the transport, e.g. "USB HID". */
  epic: string;
  /** Feature: the area, e.g. "U2F REGISTER". */
  feature: string;
  severity?: 'blocker' | 'critical' | 'normal' | 'minor' | 'trivial';
  /** The requirement's strength (fixtures/requirements.yaml): required, security, disputed, advisory. */
  strength?: string;
  parameters?: Record<string, string>;
  /**
   * Which device (rig/station/identity.ts): parameters kept out of the history ID, so a new
   * firmware or another serial keeps the test's history and trend.
   */
  identity?: Record<string, string>;
  description?: string;
}

export async function labelTest(t: TestLabels): Promise<void> {
  await allure.epic(t.epic);
  await allure.feature(t.feature);
  await allure.story(t.id);
  await allure.label('catalogueId', t.id);
  await allure.severity(t.severity ?? 'normal');
  if (t.strength) {
    await allure.label('strength', t.strength);
    await allure.tag(t.strength);
  }
  for (const [name, value] of Object.entries(t.parameters ?? {})) await allure.parameter(name, value);
  for (const [name, value] of Object.entries(t.identity ?? {})) {
    await allure.parameter(name, value, { excluded: true });
  }
  if (t.description) await allure.description(t.description);
}

/** The test's traffic, one line per report or message, as a text attachment. */
export async function attachTraffic(entries: readonly TrafficEntry[], dropped: number): Promise<void> {
  if (entries.length === 0) return;
  await allure.attachment('traffic (hex)', formatTraffic(entries, dropped), 'text/plain');
}

export async function attachText(name: string, text: string): Promise<void> {
  await allure.attachment(name, text, 'text/plain');
}

export async function attachJson(name: string, value: unknown): Promise<void> {
  await allure.attachment(name, JSON.stringify(value, null, 2), 'application/json');
}

/**
 * Steps are logged one after another: logStep is asynchronous, and steps started while an
 * earlier one is still being written are lost. `flushSteps` waits for the queue to drain
 * (the case wrapper calls it before the test ends).
 */
let steps: Promise<void> = Promise.resolve();

function queueStep(name: string, status: allure.Status = allure.Status.PASSED): void {
  steps = steps.then(
    () => allure.logStep(name, status),
    () => undefined,
  );
}

export function flushSteps(): Promise<void> {
  return steps.catch(() => undefined);
}

/**
 * A scenario step: an Allure step around `body`, failed when it throws. What the body logs
 * and attaches (its traffic) lands inside it.
 */
export async function scenarioStep<T>(name: string, body: () => Promise<T>): Promise<T> {
  await flushSteps();
  return allure.step(name, body);
}

/** A finished exchange as a step of its own (passed: the device answered). */
export function exchangeStep(name: string): void {
  queueStep(name);
}

export function noteStep(name: string): void {
  queueStep(name);
}

/** A measurement as a step: failed outside its limits, passed otherwise (the name says MARGINAL). */
export function measurementStep(name: string, failed: boolean): void {
  queueStep(name, failed ? allure.Status.FAILED : allure.Status.PASSED);
}

/**
 * A measured value as a test parameter, kept out of the history ID (Allure would otherwise
 * treat every new value as a different test and lose the trend).
 */
export function parameterLater(name: string, value: string): void {
  steps = steps.then(
    () => allure.parameter(name, value, { excluded: true }),
    () => undefined,
  );
}

export function tagLater(name: string): void {
  steps = steps.then(
    () => allure.tag(name),
    () => undefined,
  );
}

/** A run-level attachment (Allure 3 shows global attachments on the report's overview). */
export async function attachGlobal(name: string, content: string, contentType: string): Promise<void> {
  await allure.globalAttachment(name, content, contentType);
}

export async function attachSvg(name: string, svg: string): Promise<void> {
  await allure.attachment(name, svg, 'image/svg+xml');
}

/** Environment info shown on the report's overview (Allure reads environment.properties). */
export function writeEnvironment(resultsDir: string, info: Record<string, string>): void {
  // Values may hold device text: control characters escaped first, then the .properties rules.
  const escapeValue = (s: string) =>
    deviceText(s, 400)
      .replace(/\\/g, '\\\\')
      .replace(/([=:#!])/g, '\\$1');
  const lines = Object.entries(info).map(([k, v]) => `${escapeValue(k)}=${escapeValue(v)}`);
  writeFileSync(join(resultsDir, 'environment.properties'), `${lines.join('\n')}\n`);
}

/**
 * allure-mocha marks every skipped test "Test skipped". The rig gives each skip a reason
 * (its first step, "skipped: …"); at the end of a run that reason becomes the result's
 * status message, so the report says why where it says "skipped".
 */
export function fillSkipReasons(resultsDir: string): number {
  return (
    markAdvisory(resultsDir) +
    rewriteResults(resultsDir, (result) => {
      if (result.status !== 'skipped' || result.statusDetails?.message !== 'Test skipped') return false;
      const step = result.steps?.find((s) => s.name?.startsWith('skipped: '));
      if (!step?.name) return false;
      result.statusDetails = { ...result.statusDetails, message: step.name.slice('skipped: '.length) };
      return true;
    })
  );
}

/** The fields of an Allure result file the end-of-run rewrites read. */
interface ResultFile {
  status?: string;
  statusDetails?: { message?: string };
  labels?: { name?: string; value?: string }[];
  steps?: { name?: string }[];
}

/** Applies `edit` to every result file in `resultsDir`, writing back those it changed; counts them. */
function rewriteResults(resultsDir: string, edit: (result: ResultFile) => boolean): number {
  let changed = 0;
  for (const name of readdirSync(resultsDir)) {
    if (!name.endsWith('-result.json')) continue;
    const path = join(resultsDir, name);
    try {
      const result = JSON.parse(readFileSync(path, 'utf8')) as ResultFile;
      if (!edit(result)) continue;
      writeFileSync(path, JSON.stringify(result));
      changed++;
    } catch {
      // A result another writer is still writing, or not ours: left as it is.
    }
  }
  return changed;
}

/** The tag the case wrapper gives an advisory breach (see fixtures/requirements.yaml). */
export const ADVISORY_TAG = 'advisory breach';

/**
 * An advisory breach passes in mocha (it must not change the exit code); its result is on
 * disk as passed, with the breach as a step and a tag. At the end of the run it becomes
 * its own outcome in the report: status "unknown" with the breach as the status message.
 */
function markAdvisory(resultsDir: string): number {
  return rewriteResults(resultsDir, (result) => {
    if (result.status !== 'passed') return false;
    if (!result.labels?.some((l) => l.name === 'tag' && l.value === ADVISORY_TAG)) return false;
    const step = result.steps?.find((s) => s.name?.startsWith(`${ADVISORY_TAG}: `));
    result.status = 'unknown';
    result.statusDetails = { message: step?.name ?? ADVISORY_TAG };
    return true;
  });
}
