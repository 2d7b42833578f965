import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hex } from '../bytes.ts';
import { ConfigError } from '../errors.ts';
import { deviceText } from '../untrusted.ts';
import type { CampaignResult, Finding } from './campaign.ts';
import { describeStep, FUZZ_TRANSPORTS, StepSchema } from './case.ts';
import type { Unit } from './drivers.ts';

/**
 * A finding as a replayable file (`chiprig fuzz --replay FILE`): the sequence, what it did,
 * and which device it did it to. Written the moment the finding is settled.
 */
export const FINDING_FORMAT = 'chiprig-fuzz-finding';

export const FindingFileSchema = z.strictObject({
  format: z.literal(FINDING_FORMAT),
  version: z.literal(1),
  id: z.string(),
  kind: z.enum(['crash', 'hang', 'corruption', 'violation']),
  requirement: z.string().optional(),
  title: z.string(),
  detail: z.string(),
  transport: z.enum(FUZZ_TRANSPORTS),
  device: z.string(),
  station: z.string(),
  identity: z.record(z.string(), z.string()),
  seed: z.number().int(),
  caseNumber: z.number().int(),
  rule: z.string(),
  steps: z.array(StepSchema).min(1),
  messages: z.number().int(),
  originalSteps: z.number().int(),
  minimized: z.boolean(),
  minimizeNote: z.string(),
  confirmed: z.boolean(),
  recovery: z.string(),
  timeoutMs: z.number().int().positive(),
  /**
   * The emulated chip's key-wrapping key (hex), for a replay against the emulator: key
   * handles in the steps open only on the chip that issued them. A TEST key, never a device's.
   */
  emulatorKey: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  found: z.string(),
  chiprig: z.string(),
});
export type FindingFile = z.infer<typeof FindingFileSchema>;

export interface CampaignInfo {
  device: string;
  station: string;
  identity: Record<string, string>;
  timeoutMs: number;
  emulatorKey?: string;
  /** chiprig's version, for the file. */
  chiprig: string;
}

export function findingFile(f: Finding, info: CampaignInfo): FindingFile {
  return {
    format: FINDING_FORMAT,
    version: 1,
    id: f.id,
    kind: f.kind,
    ...(f.requirement ? { requirement: f.requirement } : {}),
    title: f.title,
    detail: f.detail,
    transport: f.transport,
    device: info.device,
    station: info.station,
    identity: info.identity,
    seed: f.seed,
    caseNumber: f.caseNumber,
    rule: f.rule,
    steps: f.steps,
    messages: f.messages,
    originalSteps: f.originalSteps,
    minimized: f.minimized,
    minimizeNote: f.minimizeNote,
    confirmed: f.confirmed,
    recovery: f.recovery,
    timeoutMs: info.timeoutMs,
    ...(info.emulatorKey ? { emulatorKey: info.emulatorKey } : {}),
    found: new Date().toISOString(),
    chiprig: info.chiprig,
  };
}

export function writeFindingFile(dir: string, file: FindingFile): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file.id}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

export function readFindingFile(path: string): FindingFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--replay: cannot read ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--replay: ${path} is not JSON`, { cause: error });
  }
  const parsed = FindingFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `--replay: ${path} is not a chiprig fuzz finding: field "${issue.path.join('.') || '(top)'}": ${issue.message}`,
    );
  }
  return parsed.data;
}

/** The traffic of a run as text: one line per unit, direction and bytes. */
export function trafficText(units: readonly Unit[]): string {
  return units
    .map(
      (u) => `${u.dir === 'send' ? '>>' : '<<'} ${u.cid !== undefined ? `[${u.cid}] ` : ''}${hex(u.bytes)}`,
    )
    .join('\n');
}

/** Allure result files for a campaign: one failed (or broken) test per finding, one for the campaign. */
export function writeAllureResults(
  dir: string,
  result: CampaignResult,
  info: CampaignInfo & { transport: string; seed: number },
  files: Map<string, string>,
): void {
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  const attach = (name: string, content: string, type: string, ext: string) => {
    const source = `${randomUUID()}-attachment.${ext}`;
    writeFileSync(join(dir, source), content);
    return { name, source, type };
  };
  const labels = (id: string) => [
    { name: 'suite', value: `fuzz (${info.transport})` },
    { name: 'parentSuite', value: 'fuzz' },
    { name: 'tag', value: 'fuzz' },
    { name: 'AS_ID', value: id },
    { name: 'transport', value: info.transport },
  ];
  const write = (r: Record<string, unknown>) => {
    const uuid = randomUUID();
    writeFileSync(
      join(dir, `${uuid}-result.json`),
      JSON.stringify({ uuid, stage: 'finished', steps: [], links: [], ...r }),
    );
  };
  for (const f of result.findings) {
    const name = `${f.id} ${f.title}`;
    const lines = [
      f.detail,
      '',
      `sequence (${f.steps.length} steps, ${f.messages} messages${f.minimized ? `, minimized from ${f.originalSteps}` : ''}):`,
      ...f.steps.map((s) => `  ${describeStep(s, 64)}`),
      '',
      `${f.confirmed ? 'confirmed' : 'NOT confirmed'} from a clean start: ${f.minimizeNote}; recovery: ${f.recovery}`,
      `replay: chiprig fuzz --replay ${files.get(f.id) ?? `${f.id}.json`}`,
    ];
    write({
      historyId: `fuzz:${info.transport}:${f.kind}:${f.requirement ?? f.rule}`,
      name,
      fullName: `fuzz.${info.transport}.${f.id}`,
      // An unconfirmed finding is not a verdict on the device: broken (inconclusive).
      status: f.confirmed ? 'failed' : 'broken',
      statusDetails: { message: deviceText(lines[0]!, 2000), trace: lines.join('\n') },
      start: now,
      stop: now,
      labels: [...labels(f.id), ...(f.requirement ? [{ name: 'requirement', value: f.requirement }] : [])],
      parameters: [
        { name: 'seed', value: String(f.seed) },
        { name: 'case', value: String(f.caseNumber) },
        { name: 'production', value: f.rule },
      ],
      attachments: [
        attach('replay file', JSON.stringify(findingFile(f, info), null, 2), 'application/json', 'json'),
        attach('traffic (the case that showed it)', trafficText(f.traffic), 'text/plain', 'txt'),
        ...(f.confirmTraffic.length
          ? [attach('traffic (confirming run)', trafficText(f.confirmTraffic), 'text/plain', 'txt')]
          : []),
      ],
    });
  }
  const pct = ((100 * result.coverage.hit) / Math.max(1, result.coverage.total)).toFixed(0);
  write({
    historyId: `fuzz:${info.transport}:campaign`,
    name: `FUZZ-CAMPAIGN ${info.transport}: ${result.cases} cases, ${result.findings.length} findings`,
    fullName: `fuzz.${info.transport}.campaign`,
    status: result.ended && result.findings.length === 0 ? 'broken' : 'passed',
    statusDetails: result.ended ? { message: result.ended } : {},
    start: now - Math.round(result.elapsedMs),
    stop: now,
    labels: labels('FUZZ-CAMPAIGN'),
    parameters: [
      { name: 'seed', value: String(info.seed) },
      { name: 'cases', value: String(result.cases) },
      {
        name: 'cases per second',
        value: (result.cases / Math.max(result.elapsedMs / 1000, 1e-6)).toFixed(0),
      },
      { name: 'grammar coverage', value: `${result.coverage.hit} of ${result.coverage.total} (${pct} %)` },
      { name: 'canaries', value: String(result.canaries) },
    ],
    attachments: [
      attach('summary', JSON.stringify(summary(result, info, files), null, 2), 'application/json', 'json'),
    ],
  });
}

/** The campaign's JSON summary (fuzz-summary.json). */
export function summary(
  result: CampaignResult,
  info: CampaignInfo & { transport: string; seed: number },
  files: Map<string, string>,
) {
  return {
    format: 'chiprig-fuzz-summary',
    version: 1,
    device: info.device,
    station: info.station,
    identity: info.identity,
    transport: info.transport,
    seed: info.seed,
    cases: result.cases,
    refused: result.refused,
    elapsedMs: Math.round(result.elapsedMs),
    casesPerSecond: Math.round(result.cases / Math.max(result.elapsedMs / 1000, 1e-6)),
    canaries: result.canaries,
    coverage: result.coverage,
    repeats: result.repeats,
    ...(result.ended ? { ended: result.ended } : {}),
    findings: result.findings.map((f) => ({
      id: f.id,
      kind: f.kind,
      ...(f.requirement ? { requirement: f.requirement } : {}),
      title: f.title,
      detail: f.detail,
      messages: f.messages,
      steps: f.steps.length,
      minimized: f.minimized,
      confirmed: f.confirmed,
      recovery: f.recovery,
      file: files.get(f.id),
    })),
  };
}
