/**
 * `chiprig fuzz`: a seeded, bounded fuzz campaign against one link of a device, or the
 * replay of one finding (`--replay FILE`). Exit codes as `chiprig run`'s: 0 nothing found
 * (or the replay showed nothing), 1 a confirmed finding (or the replay showed one), 2 usage,
 * 3 the rig could not finish (device unreachable, or findings that did not reproduce).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { type CampaignResult, type Finding, powerCycle, runCampaign, trial } from '../fuzz/campaign.ts';
import {
  FUZZ_TRANSPORTS,
  type FuzzLayer,
  type FuzzTransport,
  LAYERS,
  LAYERS_OF,
  type Step,
} from '../fuzz/case.ts';
import { corpusFromRecordings } from '../fuzz/corpus.ts';
import { CoverageProbe } from '../fuzz/coverage.ts';
import {
  type CampaignInfo,
  findingFile,
  readFindingFile,
  summary,
  trafficText,
  writeAllureResults,
  writeFindingFile,
} from '../fuzz/finding-file.ts';
import { productionsFor } from '../fuzz/grammar.ts';
import { freshSeed } from '../fuzz/prng.ts';
import { formatMs } from '../report/console.ts';
import { generateHtmlReport } from '../report/html.ts';
import { chiprigVersion } from '../run/environment.ts';
import { Station } from '../station/station.ts';
import type { StationOptions } from '../station/station-options.ts';
import { deviceText } from '../untrusted.ts';
import { EXIT } from './exit-codes.ts';
import { parseDuration } from './run.ts';

export interface FuzzOptions {
  station?: string;
  device?: string;
  transport?: string;
  layer?: string;
  rule?: string;
  seed?: string;
  cases?: string;
  duration?: string;
  timeout: string;
  canaryEvery: string;
  corpus?: string[];
  out: string;
  html: boolean;
  minimize: boolean;
  stopAtFirst?: boolean;
  replay?: string;
  coverage?: boolean;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

function wholeNumber(text: string, flag: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(Number.isInteger(n) && n >= min && n <= max)) {
    throw new ConfigError(`${flag}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

/** One key-wrapping key per fuzz process: every emulated chip it opens is the same device. */
const MASTER_KEY = new Uint8Array(randomBytes(32));

function stationOptions(
  opts: { station?: string; device?: string; timeout?: string },
  transport?: FuzzTransport,
): StationOptions {
  return {
    emulatorMasterKey: MASTER_KEY,
    ...(opts.timeout ? { exchangeTimeoutMs: Math.max(Number(opts.timeout), 50) } : {}),
    ...(opts.station ? { stationFile: opts.station } : {}),
    ...(opts.device ? { device: opts.device } : {}),
    ...(transport ? { transports: [transport] } : {}),
  };
}

async function openStation(options: StationOptions): Promise<Station> {
  try {
    return await Station.open(options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    say(`chiprig fuzz: the device could not be opened: ${error instanceof Error ? error.message : error}`);
    throw Object.assign(new Error('unreachable'), { exit: EXIT.BROKEN });
  }
}

function identityOf(station: Station): Record<string, string> {
  return Object.fromEntries(
    Object.entries(station.identity)
      .filter(([, v]) => typeof v === 'string')
      .map(([k, v]) => [k, deviceText(v as string, 200)]),
  );
}

export async function fuzz(opts: FuzzOptions): Promise<number> {
  try {
    return opts.replay ? await replay(opts.replay, opts) : await campaign(opts);
  } catch (error) {
    const exit = (error as { exit?: number }).exit;
    if (exit !== undefined) return exit;
    throw error;
  }
}

async function campaign(opts: FuzzOptions): Promise<number> {
  const transportText = opts.transport ?? undefined;
  if (transportText && !(FUZZ_TRANSPORTS as readonly string[]).includes(transportText)) {
    throw new ConfigError(
      `--transport: "${transportText}" cannot be fuzzed (one of: ${FUZZ_TRANSPORTS.join(', ')})`,
    );
  }
  const seed = opts.seed === undefined ? freshSeed() : wholeNumber(opts.seed, '--seed', 0, 0xffffffff);
  const maxCases = opts.cases === undefined ? undefined : wholeNumber(opts.cases, '--cases', 1, 1e9);
  const durationMs = opts.duration === undefined ? undefined : parseDuration(opts.duration, '--duration');
  const timeoutMs = wholeNumber(opts.timeout, '--timeout', 10, 600_000);
  const canaryEvery = wholeNumber(opts.canaryEvery, '--canary-every', 0, 1e9);
  if (maxCases === undefined && durationMs === undefined) {
    throw new ConfigError('a campaign needs a bound: --cases N or --duration TIME (e.g. --duration 60s)');
  }
  const corpus: Step[][] = opts.corpus?.length ? corpusFromRecordings(opts.corpus) : [];
  const coverage = opts.coverage ? new CoverageProbe() : undefined;
  await coverage?.start();
  const station = await openStation(stationOptions(opts, transportText as FuzzTransport | undefined));
  const out = resolve(opts.out);
  let result: CampaignResult;
  const files = new Map<string, string>();
  const transport = (transportText ??
    station.transports.find((t) => (FUZZ_TRANSPORTS as readonly string[]).includes(t))) as
    | FuzzTransport
    | undefined;
  try {
    if (!transport) throw new ConfigError(`station "${station.name}": no transport chiprig can fuzz`);
    const layers = parseLayers(opts.layer, transport);
    const only = opts.rule
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (only) {
      try {
        productionsFor(transport, layers, only);
      } catch (error) {
        throw new ConfigError(`--rule: ${(error as Error).message}`);
      }
    }
    if (corpus.length) corpusCheck(corpus, transport);
    const info: CampaignInfo & { transport: string; seed: number } = {
      device: station.deviceSpec.text,
      station: station.name,
      identity: identityOf(station),
      timeoutMs,
      chiprig: chiprigVersion(),
      ...(station.emulator ? { emulatorKey: Buffer.from(MASTER_KEY).toString('hex') } : {}),
      transport,
      seed,
    };
    rmSync(out, { recursive: true, force: true });
    mkdirSync(join(out, 'findings'), { recursive: true });
    say(
      `fuzz: ${station.deviceSpec.text} over ${transport}, seed ${seed}, ${maxCases !== undefined ? `${maxCases} cases` : ''}${maxCases !== undefined && durationMs !== undefined ? ' or ' : ''}${durationMs !== undefined ? formatMs(durationMs) : ''}${corpus.length ? `, ${corpus.length} recorded sequences to mutate` : ''}`,
    );
    const cleanStart = cleanStartFor(station, opts, transport);
    result = await runCampaign(station, {
      transport,
      seed,
      ...(maxCases !== undefined ? { maxCases } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      timeoutMs,
      canaryEvery,
      ...(layers ? { layers } : {}),
      ...(only ? { only } : {}),
      corpus,
      ...(opts.stopAtFirst ? { stopAtFirst: true } : {}),
      minimize: opts.minimize,
      ...(cleanStart ? { cleanStart } : {}),
      log: (line) => say(`fuzz: ${line}`),
      onProgress: (p) =>
        say(
          `fuzz: ${p.cases} cases in ${formatMs(p.elapsedMs)}, ${p.casesPerSecond.toFixed(0)}/s, ${p.findings} findings, grammar ${p.coverage.hit}/${p.coverage.total}`,
        ),
      onFinding: (f: Finding) => {
        const path = writeFindingFile(join(out, 'findings'), findingFile(f, info));
        files.set(f.id, relative(process.cwd(), path) || path);
        say(
          `fuzz: ${f.id} ${f.kind}${f.requirement ? ` (${f.requirement})` : ''}: ${f.steps.length} steps, ${f.messages} messages, ${f.confirmed ? 'confirmed' : 'NOT confirmed'} (${f.minimizeNote}) -> ${files.get(f.id)}`,
        );
      },
    });
    writeFileSync(
      join(out, 'fuzz-summary.json'),
      `${JSON.stringify(summary(result, info, files), null, 2)}\n`,
    );
    const results = join(out, 'allure-results');
    writeAllureResults(results, result, info, files);
    printResult(result, files);
    if (coverage) await printCoverage(coverage, join(out, 'coverage.json'));
    if (opts.html) {
      const report = join(out, 'allure-report');
      const made = await generateHtmlReport(results, report);
      say(
        made.ok
          ? `fuzz: report ${relative(process.cwd(), made.index) || made.index}${made.note}`
          : `fuzz: the HTML report was not generated: ${made.error}`,
      );
    }
  } finally {
    await station.close();
    await coverage?.close();
  }
  const confirmed = result.findings.filter((f) => f.confirmed).length;
  if (confirmed > 0) return EXIT.FAILED;
  if (result.findings.length > 0 || (result.ended && result.findings.length === 0)) return EXIT.BROKEN;
  return EXIT.PASSED;
}

function parseLayers(text: string | undefined, transport: FuzzTransport): FuzzLayer[] | undefined {
  if (!text) return undefined;
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(LAYERS_OF[transport] as readonly string[]).includes(n));
  if (names.length === 0 || bad.length) {
    throw new ConfigError(
      `--layer: "${text}": ${transport} carries ${LAYERS_OF[transport].join(', ')} (all of: ${LAYERS.join(', ')})`,
    );
  }
  return names as FuzzLayer[];
}

function corpusCheck(corpus: Step[][], transport: FuzzTransport): void {
  const want = { hid: 'report', nfc: 'apdu', ble: 'fragment' }[transport];
  if (!corpus.some((seq) => seq.every((s) => s.kind === want))) {
    throw new ConfigError(`--corpus: the recordings hold no ${transport} traffic to mutate`);
  }
  corpus.splice(0, corpus.length, ...corpus.filter((seq) => seq.every((s) => s.kind === want)));
}

/**
 * A clean device for confirmation and minimization: a new emulated chip (the same fault),
 * or the station's own device after a power cycle; none without a power switch.
 */
function cleanStartFor(station: Station, opts: FuzzOptions, transport: FuzzTransport) {
  if (station.emulator) {
    return async () => {
      const fresh = await Station.open(
        stationOptions({ ...opts, device: station.deviceSpec.text }, transport),
      );
      return { station: fresh, release: () => fresh.close() };
    };
  }
  // A simulated power switch drives only the emulated chip: no clean start for another device.
  const power = station.file.instruments?.power as { port?: string } | undefined;
  if (!station.canPowerCycle && (!power || power.port === 'simulated')) return undefined;
  return async () => {
    try {
      if (!(await powerCycle(station))) return undefined;
    } catch (error) {
      say(`fuzz: no clean start: the power cycle failed: ${error instanceof Error ? error.message : error}`);
      return undefined;
    }
    return { station, release: async () => undefined };
  };
}

function printResult(result: CampaignResult, files: Map<string, string>): void {
  const rate = result.cases / Math.max(result.elapsedMs / 1000, 1e-6);
  const pct = (100 * result.coverage.hit) / Math.max(1, result.coverage.total);
  process.stdout.write(
    `fuzz: ${result.cases} cases in ${formatMs(result.elapsedMs)} (${rate.toFixed(0)} cases/s), ${result.canaries} canaries, grammar coverage ${result.coverage.hit} of ${result.coverage.total} (${pct.toFixed(0)} %)${result.refused ? `, ${result.refused} refused by the host side` : ''}\n`,
  );
  if (result.ended) process.stdout.write(`fuzz: campaign ended early: ${result.ended}\n`);
  if (result.findings.length === 0) {
    process.stdout.write('fuzz: no findings\n');
    return;
  }
  for (const f of result.findings) {
    process.stdout.write(
      `  ${f.id} ${f.confirmed ? 'FAILED' : 'UNCONFIRMED'} ${deviceText(f.title, 200)}\n    ${deviceText(f.detail, 400)}\n    ${f.steps.length} steps, ${f.messages} messages${f.minimized ? ` (minimized from ${f.originalSteps})` : ''}; replay: chiprig fuzz --replay ${files.get(f.id)}\n`,
    );
  }
  if (result.repeats)
    process.stdout.write(`  (${result.repeats} more cases showed a finding already listed)\n`);
}

async function printCoverage(probe: CoverageProbe, path: string): Promise<void> {
  const files = await probe.take(`${join('rig', 'emulator')}/`);
  const sum = (pick: (f: (typeof files)[number]) => number) => files.reduce((n, f) => n + pick(f), 0);
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)} %`;
  const [bytes, covered, fns, run] = [
    sum((f) => f.bytes),
    sum((f) => f.covered),
    sum((f) => f.functions),
    sum((f) => f.functionsRun),
  ];
  writeFileSync(
    path,
    `${JSON.stringify({ bytes, covered, functions: fns, functionsRun: run, files }, null, 2)}\n`,
  );
  process.stdout.write(
    `fuzz: V8 coverage of rig/emulator/ (the ${files.length} modules loaded): ${pct(covered, bytes)} of the code, ${run} of ${fns} functions (${pct(run, fns)})\n`,
  );
  for (const f of files) {
    const rel = f.file.slice(f.file.indexOf(join('rig', 'emulator')));
    process.stdout.write(
      `  ${rel.padEnd(46)} ${pct(f.covered, f.bytes).padStart(8)} of the code, ${f.functionsRun}/${f.functions} functions\n`,
    );
  }
}

async function replay(path: string, opts: FuzzOptions): Promise<number> {
  const file = readFindingFile(path);
  const device = opts.device ?? file.device;
  if (file.emulatorKey) MASTER_KEY.set(Buffer.from(file.emulatorKey, 'hex'));
  const station = await openStation(stationOptions({ ...opts, device }, file.transport));
  try {
    say(
      `fuzz: replaying ${file.id} (${file.kind}${file.requirement ? `, ${file.requirement}` : ''}: ${file.steps.length} steps) against ${station.deviceSpec.text} over ${file.transport}`,
    );
    const verdict = await trial(station, file.transport, file.steps, file.timeoutMs, { kind: undefined });
    process.stdout.write(`${trafficText(verdict.traffic)}\n`);
    if (!verdict.kind) {
      process.stdout.write(`fuzz: ${file.id} did not reproduce: ${verdict.detail}\n`);
      return EXIT.PASSED;
    }
    const same =
      verdict.kind === file.kind && (file.kind !== 'violation' || verdict.requirement === file.requirement);
    process.stdout.write(
      `fuzz: ${same ? 'reproduced' : `a different finding than recorded (${file.kind})`}: ${verdict.kind}${verdict.requirement ? ` (${verdict.requirement})` : ''}: ${deviceText(verdict.detail, 400)}\n`,
    );
    return EXIT.FAILED;
  } finally {
    await station.close();
  }
}
