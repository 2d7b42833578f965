import { withDeadline } from '../deadline.ts';
import { TransportError } from '../errors.ts';
import { requirements } from '../requirements/requirements.ts';
import type { Station } from '../station/station.ts';
import { Canary } from './canary.ts';
import { type FuzzCase, type FuzzLayer, type FuzzTransport, messageCount, type Step } from './case.ts';
import { type CaseRun, type FuzzDriver, type Liveness, makeDriver, type Unit } from './drivers.ts';
import { type GenContext, generate, productionsFor } from './grammar.ts';
import { Prng } from './prng.ts';
import { checkRules } from './rules.ts';

/**
 * A fuzz campaign against one link of one station: seeded cases from the grammar (and
 * mutations of a recorded corpus), the liveness probe after each, a canary every N cases,
 * the protocol rules on each answer. Each finding is confirmed from a clean start,
 * minimized (the shortest sequence that still reproduces it) and handed over at once.
 */
export type FindingKind = 'crash' | 'hang' | 'corruption' | 'violation';

export interface Finding {
  /** FUZZ-CRASH-01, FUZZ-HANG-01, FUZZ-STATE-01, FUZZ-RULE-01 … in order of discovery. */
  id: string;
  kind: FindingKind;
  /** One line: what happened. */
  title: string;
  /** The evidence: what the probe, the canary or the rule saw. */
  detail: string;
  /** The requirement a protocol violation breaks. */
  requirement?: string;
  transport: FuzzTransport;
  seed: number;
  /** The case number (from 1) whose run showed it. */
  caseNumber: number;
  rule: string;
  /** The reproducing sequence: minimized where that was possible. */
  steps: Step[];
  messages: number;
  /** Steps in the sequence before minimization. */
  originalSteps: number;
  minimized: boolean;
  /** Why it was not minimized, or how many trials minimization took. */
  minimizeNote: string;
  /** Whether the final sequence showed the same finding again from a clean start. */
  confirmed: boolean;
  /** How the device came back: by itself (a rule, the canary), a link reset, a power cycle, or not. */
  recovery: 'none needed' | 'link reset' | 'power cycle' | 'not recovered';
  /** The units of the run that showed it (the original case) and of the confirming run. */
  traffic: Unit[];
  confirmTraffic: Unit[];
}

export interface CampaignProgress {
  cases: number;
  elapsedMs: number;
  casesPerSecond: number;
  findings: number;
  coverage: { hit: number; total: number };
}

export interface CampaignOptions {
  transport: FuzzTransport;
  seed: number;
  /** Stop after this many cases (default: no limit, then durationMs must be set). */
  maxCases?: number;
  durationMs?: number;
  timeoutMs: number;
  /** A canary every this many cases; 0: none (a station where presence needs a person). */
  canaryEvery: number;
  layers?: FuzzLayer[];
  /** Only these productions ("ctaphid/init-bcnt") or variants ("ctaphid/init-bcnt:over-limit"). */
  only?: string[];
  corpus?: Step[][];
  /** End at the first finding (the replay-file tests and a quick check). */
  stopAtFirst?: boolean;
  minimize?: boolean;
  /**
   * A clean device for a confirmation or minimization trial: a fresh emulated chip, or the
   * same station after a power cycle. Undefined: no clean start is possible (no power switch).
   */
  cleanStart?: () => Promise<{ station: Station; release: () => Promise<void> } | undefined>;
  onProgress?: (p: CampaignProgress) => void;
  onFinding?: (f: Finding) => void | Promise<void>;
  /** Lines for the console (classification, recovery). */
  log?: (line: string) => void;
}

export interface CampaignResult {
  cases: number;
  refused: number;
  elapsedMs: number;
  findings: Finding[];
  /** Findings seen again (same kind and production) and not listed twice. */
  repeats: number;
  coverage: { hit: number; total: number; missed: string[] };
  canaries: number;
  /** Why the campaign ended before its limit, if it did. */
  ended?: string;
}

const ID_PREFIX: Record<FindingKind, string> = {
  crash: 'FUZZ-CRASH',
  hang: 'FUZZ-HANG',
  corruption: 'FUZZ-STATE',
  violation: 'FUZZ-RULE',
};

/** What one trial of a sequence showed: the finding kind (and rule) or nothing. */
export interface TrialVerdict {
  kind: FindingKind | undefined;
  requirement?: string;
  detail: string;
  traffic: Unit[];
}

export async function runCampaign(station: Station, opts: CampaignOptions): Promise<CampaignResult> {
  const log = opts.log ?? (() => undefined);
  const rng = new Prng(opts.seed);
  const productions = productionsFor(opts.transport, opts.layers, opts.only);
  const pairs = new Set(productions.flatMap((p) => p.variants.map((v) => `${p.name}:${v}`)));
  const hit = new Set<string>();
  let driver = makeDriver(station, opts.transport, opts.timeoutMs);
  await driver.open();
  const canary = opts.canaryEvery > 0 ? new Canary(station, opts.transport) : undefined;
  await canary?.setup();
  const gen: GenContext = {
    rng,
    transport: opts.transport,
    controlPointLength: driver.controlPointLength || 20,
    knownKeyHandle: canary?.keyHandle,
    knownAppParam: canary?.appParam,
    corpus: opts.corpus ?? [],
  };
  const findings: Finding[] = [];
  const seen = new Set<string>();
  let repeats = 0;
  let refused = 0;
  let canaries = 0;
  let ended: string | undefined;
  const started = performance.now();
  let lastProgress = started;
  /** Cases since the last good canary (the sequence a state corruption came from). */
  let since: FuzzCase[] = [];
  const keep = Math.max(64, opts.canaryEvery);
  let cases = 0;
  const progress = (): CampaignProgress => {
    const elapsedMs = performance.now() - started;
    return {
      cases,
      elapsedMs,
      casesPerSecond: cases / Math.max(elapsedMs / 1000, 1e-6),
      findings: findings.length,
      coverage: { hit: hit.size, total: pairs.size },
    };
  };
  const limitReached = () =>
    (opts.maxCases !== undefined && cases >= opts.maxCases) ||
    (opts.durationMs !== undefined && performance.now() - started >= opts.durationMs);

  const record = async (
    kind: FindingKind,
    c: FuzzCase,
    detail: string,
    traffic: Unit[],
    recovery: Finding['recovery'],
    sequences: Step[][],
    requirement?: string,
  ) => {
    const key = `${kind}:${requirement ?? c.rule}`;
    if (seen.has(key)) {
      repeats++;
      return;
    }
    seen.add(key);
    const n = findings.filter((f) => f.kind === kind).length + 1;
    const id = `${ID_PREFIX[kind]}-${String(n).padStart(2, '0')}`;
    log(`${id}: ${kind}${requirement ? ` (${requirement})` : ''} after case ${cases} (${c.rule}): ${detail}`);
    const settled = await settle(sequences, { kind, requirement }, opts, log, station);
    const finding: Finding = {
      id,
      kind,
      title: titleOf(kind, c.rule, requirement),
      detail,
      ...(requirement ? { requirement } : {}),
      transport: opts.transport,
      seed: opts.seed,
      caseNumber: cases,
      rule: c.rule,
      steps: settled.steps,
      messages: messageCount(settled.steps),
      originalSteps: settled.original,
      minimized: settled.minimized,
      minimizeNote: settled.note,
      confirmed: settled.confirmed,
      recovery,
      traffic,
      confirmTraffic: settled.traffic,
    };
    findings.push(finding);
    await opts.onFinding?.(finding);
  };

  try {
    while (!limitReached()) {
      const { fuzzCase, variant } = generate(gen, productions);
      hit.add(`${fuzzCase.rule}:${variant}`);
      cases++;
      since.push(fuzzCase);
      // Every case since the last good canary (a state corruption came from one of them).
      if (since.length > keep) since = since.slice(-keep);
      const run = await driver.run(fuzzCase);
      if (run.outcome === 'refused') {
        refused++;
        continue;
      }
      const probeUnits: Unit[] = [];
      const live =
        run.outcome === 'gone'
          ? { state: 'gone' as const, detail: run.detail ?? 'gone' }
          : await driver.probe(probeUnits);
      if (live.state !== 'alive') {
        const verdict = await classify(driver, live, run, log);
        const sequence = casesAsSequence(since);
        const recovered = verdict.recovered ? verdict.recovery : await recover(station, driver, log);
        await record(verdict.kind, fuzzCase, verdict.detail, [...run.units, ...probeUnits], recovered, [
          fuzzCase.steps,
          sequence,
        ]);
        if (recovered === 'not recovered') {
          ended = `the device did not come back after the ${verdict.kind} (${verdict.detail}); no power switch brought it back`;
          break;
        }
        // The link was reopened: a fresh driver on it, and the canary's credential may be gone.
        driver = makeDriver(station, opts.transport, opts.timeoutMs);
        await driver.open();
        since = [];
        if (opts.stopAtFirst) break;
        continue;
      }
      const pv = probeViolation(driver);
      if (pv) {
        await record('violation', fuzzCase, pv.what, probeUnits, 'none needed', [pv.steps], pv.requirement);
        if (opts.stopAtFirst) break;
      }
      const violation = checkRules(opts.transport, fuzzCase, run, requirements());
      if (violation) {
        await record(
          'violation',
          fuzzCase,
          violation.what,
          run.units,
          'none needed',
          [fuzzCase.steps],
          violation.requirement,
        );
        if (opts.stopAtFirst) break;
      }
      if (canary && cases % opts.canaryEvery === 0) {
        canaries++;
        const failure = await canary.check();
        if (failure) {
          await record(
            'corruption',
            fuzzCase,
            `canary after case ${cases}: ${failure}`,
            run.units,
            'none needed',
            [casesAsSequence(since)],
          );
          // Start again from a device that signs: a power cycle where there is one, and a new credential.
          await recover(station, driver, log, true);
          driver = makeDriver(station, opts.transport, opts.timeoutMs);
          await driver.open();
          await canary.setup().catch((error: Error) => {
            ended = `the canary still fails after recovery: ${error.message}`;
          });
          if (ended || opts.stopAtFirst) break;
        }
        since = [];
      }
      const now = performance.now();
      if (opts.onProgress && now - lastProgress >= 1000) {
        lastProgress = now;
        opts.onProgress(progress());
      }
    }
  } finally {
    opts.onProgress?.(progress());
  }
  return {
    cases,
    refused,
    elapsedMs: performance.now() - started,
    findings,
    repeats,
    coverage: { hit: hit.size, total: pairs.size, missed: [...pairs].filter((p) => !hit.has(p)) },
    canaries,
    ...(ended ? { ended } : {}),
  };
}

function titleOf(kind: FindingKind, rule: string, requirement?: string): string {
  if (kind === 'crash') return `the device crashed on a ${rule} case`;
  if (kind === 'hang') return `the device hung on a ${rule} case`;
  if (kind === 'corruption') return 'the device state was corrupted: the canary failed';
  return `${requirement} broken by a ${rule} case`;
}

/**
 * What a failed probe means (the issue's taxonomy, symptom first): gone, or silent on a
 * freshly opened link too → crash; silent but answering once the link is reopened, or
 * BUSY for the whole timeout → hang.
 */
async function classify(
  driver: FuzzDriver,
  live: Exclude<Liveness, { state: 'alive' }>,
  run: CaseRun,
  log: (l: string) => void,
): Promise<{ kind: 'crash' | 'hang'; detail: string; recovered: boolean; recovery: Finding['recovery'] }> {
  const first = run.outcome === 'no-answer' ? `${run.detail}; then ${live.detail}` : live.detail;
  log(`probe failed (${live.state}): ${first}; reopening the link`);
  let again: Liveness;
  try {
    await bounded(driver.resetLink(), driver, 'reopening the link');
    again = await driver.probe();
  } catch (error) {
    again = { state: 'gone', detail: error instanceof Error ? error.message : String(error) };
  }
  if (live.state === 'gone') {
    return {
      kind: 'crash',
      detail: `the device went away (${live.detail})${again.state === 'alive' ? ' and came back by itself' : ''}`,
      recovered: again.state === 'alive',
      recovery: 'link reset',
    };
  }
  if (again.state === 'alive') {
    return {
      kind: 'hang',
      detail: `${first}; it answered again after the link was reopened`,
      recovered: true,
      recovery: 'link reset',
    };
  }
  if (live.state === 'busy' || again.state === 'busy') {
    return {
      kind: 'hang',
      detail: `${first}; still busy on a reopened link (${again.detail})`,
      recovered: false,
      recovery: 'link reset',
    };
  }
  return {
    kind: 'crash',
    detail: `${first}; silent on a reopened link too (${again.detail})`,
    recovered: false,
    recovery: 'link reset',
  };
}

/**
 * Reopening a link waits on the host's stack (a PC/SC reader's reconnect, a BLE connect),
 * which may itself hang: it gets a deadline of its own, and a link that does not reopen in
 * time counts as the device gone.
 */
function bounded<T>(work: Promise<T>, driver: FuzzDriver, what: string): Promise<T> {
  const ms = Math.max(5000, 3 * driver.timeoutMs);
  return withDeadline(
    work,
    ms,
    () => new TransportError('DISCONNECTED', `${what} took longer than ${ms} ms`),
  );
}

/** Power cycle (the emulated chip's switch, or the station's relay), then the link again. */
export async function powerCycle(station: Station): Promise<boolean> {
  if (station.canPowerCycle) {
    await station.powerCycle();
    return true;
  }
  // A simulated switch drives only the emulated chip (canPowerCycle above): none for another device.
  const power = station.file.instruments?.power as { port?: string } | undefined;
  if (power && power.port !== 'simulated') {
    await station.openInstruments();
    if (!station.instruments.power) return false;
    await station.setPower(false);
    await new Promise((r) => setTimeout(r, 500));
    await station.setPower(true);
    return true;
  }
  return false;
}

async function recover(
  station: Station,
  driver: FuzzDriver,
  log: (l: string) => void,
  always = false,
): Promise<Finding['recovery']> {
  if (!always) {
    const live = await driver.probe().catch(() => ({ state: 'gone' as const }));
    if (live.state === 'alive') return 'link reset';
  }
  let cycled = false;
  try {
    cycled = await powerCycle(station);
  } catch (error) {
    log(`power cycle failed: ${error instanceof Error ? error.message : error}`);
  }
  if (!cycled) return 'not recovered';
  log('power cycled');
  try {
    await bounded(driver.resetLink(), driver, 'reopening the link');
    const live = await driver.probe();
    return live.state === 'alive' ? 'power cycle' : 'not recovered';
  } catch {
    return 'not recovered';
  }
}

/**
 * One trial of a sequence from a clean start: the steps as one case, then the probe (and
 * the canary around it for a state corruption, the rules for a violation).
 */
export async function trial(
  station: Station,
  transport: FuzzTransport,
  steps: Step[],
  timeoutMs: number,
  want: { kind: FindingKind | undefined; requirement?: string | undefined },
): Promise<TrialVerdict> {
  const driver = makeDriver(station, transport, timeoutMs);
  await driver.open();
  const checkCanary = want.kind === 'corruption' || want.kind === undefined;
  const canary = checkCanary ? new Canary(station, transport) : undefined;
  if (canary) await canary.setup();
  const traffic: Unit[] = [];
  let c: FuzzCase | undefined;
  let run: CaseRun | undefined;
  for (const group of caseGroups(steps)) {
    c = { rule: 'replay', layer: layerOf(transport, group), steps: group };
    run = await driver.run(c);
    traffic.push(...run.units);
    const live =
      run.outcome === 'gone'
        ? ({ state: 'gone', detail: run.detail ?? 'gone' } as const)
        : await driver.probe();
    if (live.state !== 'alive') {
      const v = await classify(driver, live, run, () => undefined);
      return { kind: v.kind, detail: v.detail, traffic };
    }
  }
  const pv = probeViolation(driver);
  if (pv && (want.kind === 'violation' || want.kind === undefined)) {
    return { kind: 'violation', requirement: pv.requirement, detail: pv.what, traffic };
  }
  const violation = c && run ? checkRules(transport, c, run, requirements()) : undefined;
  if (violation && (want.kind === 'violation' || want.kind === undefined)) {
    return { kind: 'violation', requirement: violation.requirement, detail: violation.what, traffic };
  }
  if (canary) {
    const failure = await canary.check();
    if (failure) return { kind: 'corruption', detail: `canary: ${failure}`, traffic };
  }
  return { kind: undefined, detail: 'the device answered the probe and the canary', traffic };
}

/** A rule the device broke answering the probe, while that rule's requirement is required. */
function probeViolation(driver: FuzzDriver) {
  const pv = driver.takeProbeViolation?.();
  const strength = pv ? requirements().get(pv.requirement)?.strength : undefined;
  return pv && (strength === 'required' || strength === 'security') ? pv : undefined;
}

/** Several cases as one sequence, each step marked with its case. */
function casesAsSequence(cases: readonly FuzzCase[]): Step[] {
  return cases.flatMap((c, i) => c.steps.map((s) => ({ ...s, case: i })));
}

/** A sequence split back into its cases (consecutive steps with the same mark), marks removed. */
export function caseGroups(steps: readonly Step[]): Step[][] {
  const groups: Step[][] = [];
  let mark: number | undefined | null = null;
  for (const { case: n, ...step } of steps) {
    if (groups.length === 0 || n !== mark) groups.push([]);
    groups[groups.length - 1]!.push(step as Step);
    mark = n;
  }
  return groups;
}

/** The layer a replayed sequence belongs to: the link's own, or U2F where every unit is one U2F message. */
function layerOf(transport: FuzzTransport, steps: Step[]): FuzzLayer {
  if (transport === 'nfc') {
    const first = Buffer.from(steps[0]!.data, 'hex');
    return steps.length === 1 && first[0] === 0x00 && (first[1] ?? 0) <= 0x03 ? 'u2f' : 'iso7816';
  }
  const first = Buffer.from(steps[0]!.data, 'hex');
  if (transport === 'hid')
    return first[0] === 0x83 && steps.every((s) => s.kind === 'report' && s.cid === 'A') ? 'u2f' : 'ctaphid';
  return first[0] === 0x83 ? 'u2f' : 'ble';
}

/** Confirms a finding from a clean start and minimizes it (ddmin over its steps). */
async function settle(
  sequences: Step[][],
  want: { kind: FindingKind; requirement?: string | undefined },
  opts: CampaignOptions,
  log: (l: string) => void,
  current: Station,
): Promise<{
  steps: Step[];
  original: number;
  minimized: boolean;
  note: string;
  confirmed: boolean;
  traffic: Unit[];
}> {
  const first = sequences[0]!;
  // A broken rule needs no clean start: the same message on the same device shows it again.
  const cleanStart =
    opts.cleanStart ??
    (want.kind === 'violation'
      ? async () => ({ station: current, release: async () => undefined })
      : undefined);
  if (!cleanStart) {
    return {
      steps: first,
      original: first.length,
      minimized: false,
      note: 'no clean start possible (no power switch): not minimized or confirmed',
      confirmed: false,
      traffic: [],
    };
  }
  let trials = 0;
  let lastTraffic: Unit[] = [];
  const reproduces = async (steps: Step[]): Promise<boolean> => {
    trials++;
    const clean = await cleanStart();
    if (!clean) return false;
    const { station } = clean;
    try {
      const v = await trial(station, opts.transport, steps, opts.timeoutMs, want);
      const same = v.kind === want.kind && (want.kind !== 'violation' || v.requirement === want.requirement);
      if (same) lastTraffic = v.traffic;
      return same;
    } catch (error) {
      log(`trial failed: ${error instanceof Error ? error.message : error}`);
      return false;
    } finally {
      await clean.release().catch(() => undefined);
    }
  };
  // The case alone first; then with the cases before it (state they left behind).
  let sequence: Step[] | undefined;
  for (const candidate of sequences) {
    if (candidate.length === 0 || candidate.length < first.length) continue;
    if (candidate !== first && candidate.length === first.length) continue;
    if (await reproduces(candidate)) {
      sequence = candidate;
      break;
    }
  }
  if (!sequence) {
    return {
      steps: first,
      original: first.length,
      minimized: false,
      note: `did not reproduce from a clean start (${trials} trials)`,
      confirmed: false,
      traffic: [],
    };
  }
  let steps = sequence;
  if (opts.minimize !== false && sequence.length > 1) steps = await ddmin(sequence, reproduces);
  const confirmed = await reproduces(steps);
  return {
    steps,
    original: sequence.length,
    minimized: steps.length < sequence.length,
    note: `${trials} trials from a clean start`,
    confirmed,
    traffic: lastTraffic,
  };
}

/** Zeller's ddmin: a 1-minimal subsequence for which `test` still holds. */
export async function ddmin<T>(
  input: T[],
  test: (candidate: T[]) => Promise<boolean>,
  maxTrials = 200,
): Promise<T[]> {
  let current = input;
  let n = 2;
  let trials = 0;
  while (current.length >= 2 && trials < maxTrials) {
    const size = Math.ceil(current.length / n);
    let reduced = false;
    for (let i = 0; i < n && trials < maxTrials; i++) {
      const complement = [...current.slice(0, i * size), ...current.slice((i + 1) * size)];
      if (complement.length === 0) continue;
      trials++;
      if (await test(complement)) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return current;
}
