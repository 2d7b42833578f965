import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, TransportError } from '../errors.ts';
import { GattError } from '../transport/ble/connection.ts';
import { transportKindSchema } from '../transport/kinds.ts';

/**
 * The recording format of `chiprig run --record FILE` (README, "Recorded traffic"): JSON
 * Lines, one object per line.
 *
 * Line 1 is the header: what was recorded, where, and the seed of the rig's random choices.
 * Every later line is one of
 * - an exchange line: `dir` "send" (the host's call, with the bytes it handed the link) or
 *   "recv" (that call's outcome: bytes, `hex: null` for "nothing came", or `error`), sharing
 *   a `call` number per transport; or `dir` "event" (something the device did by itself:
 *   a BLE notification, a disconnect);
 * - a note line (`dir` "note"): what the rig did to the device, for the reader;
 * - a result line (`result`): a test's verdict.
 * `t` is milliseconds since the recording began; `test` is the test's full title, or null
 * outside tests (opening the station, hooks).
 */
export const RECORDING_FORMAT = 'chiprig-recording';
export const RECORDING_VERSION = 1;

const TRANSPORT = transportKindSchema;
const HEX = z.string().regex(/^([0-9a-f]{2})*$/, 'lowercase hex, two digits a byte');

export const HeaderSchema = z.strictObject({
  format: z.literal(RECORDING_FORMAT),
  version: z.literal(RECORDING_VERSION),
  startedAt: z.string(),
  chiprig: z.string(),
  host: z.string(),
  station: z.string(),
  device: z.string(),
  transports: z.array(TRANSPORT),
  presence: z.enum(['actuator', 'prompt', 'auto']),
  /** The device was the emulated chip: the suites take its branches again on replay. */
  emulated: z.boolean(),
  canPowerCycle: z.boolean(),
  canSetPairingMode: z.boolean(),
  /** 32 bytes: the rig's random choices (challenges, nonces) per test derive from it. */
  seed: HEX.refine((h) => h.length === 64, 'a 32-byte seed'),
  suites: z.array(z.string()),
  grep: z.string().nullable(),
  /** The host platform the run was judged by; a replay is judged by it too. */
  platform: z.string().optional(),
  /** The device profile the run was judged by (a shipped name or a file); a replay uses it too. */
  profile: z.string().optional(),
  /** Which device was recorded (rig/station/identity.ts); a replay shows the same. */
  identity: z.record(z.string(), z.string()).optional(),
});
export type RecordingHeader = z.infer<typeof HeaderSchema>;

const ErrorSchema = z.strictObject({
  name: z.string(),
  code: z.string().optional(),
  attCode: z.number().int().optional(),
  message: z.string(),
});
export type RecordedError = z.infer<typeof ErrorSchema>;

const ExchangeSchema = z.strictObject({
  t: z.number(),
  test: z.string().nullable(),
  transport: TRANSPORT,
  dir: z.enum(['send', 'recv', 'event']),
  op: z.string(),
  call: z.number().int().positive().optional(),
  hex: HEX.nullable().optional(),
  /** Arguments and outcomes that are not bytes (GATT UUIDs, device info, advertisements). */
  data: z.record(z.string(), z.unknown()).optional(),
  error: ErrorSchema.optional(),
});
export type ExchangeLine = z.infer<typeof ExchangeSchema>;

const NoteSchema = z.strictObject({
  t: z.number(),
  test: z.string().nullable(),
  dir: z.literal('note'),
  note: z.string(),
});

const ResultSchema = z.strictObject({
  t: z.number(),
  test: z.string(),
  result: z.enum(['passed', 'failed', 'broken', 'skipped', 'advisory']),
  message: z.string().optional(),
  /** The suite the test belongs to (u2f, hid, ...). */
  suite: z.string().optional(),
});
export type ResultLine = z.infer<typeof ResultSchema>;

export interface Recording {
  path: string;
  header: RecordingHeader;
  exchanges: (ExchangeLine & { line: number })[];
  results: ResultLine[];
}

/** Reads and checks a recording; every problem is a ConfigError naming the file and line. */
export function readRecording(path: string): Recording {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `recording ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  const lines = text.split('\n');
  const parse = (n: number): unknown => {
    try {
      return JSON.parse(lines[n - 1]!);
    } catch (error) {
      throw new ConfigError(`recording ${path}:${n}: not JSON (${(error as Error).message})`);
    }
  };
  const problem = (n: number, error: z.ZodError): never => {
    const issue = error.issues[0]!;
    const field = issue.path.join('.') || '(line)';
    throw new ConfigError(`recording ${path}:${n}: field "${field}": ${issue.message}`);
  };
  if (!lines[0]?.trim()) throw new ConfigError(`recording ${path}: empty (no header line)`);
  const head = HeaderSchema.safeParse(parse(1));
  if (!head.success) {
    const raw = parse(1) as { format?: unknown; version?: unknown };
    if (raw?.format === RECORDING_FORMAT && raw.version !== RECORDING_VERSION) {
      throw new ConfigError(
        `recording ${path}: format version ${String(raw.version)}; this chiprig reads version ${RECORDING_VERSION}`,
      );
    }
    problem(1, head.error);
  }
  const recording: Recording = { path, header: head.data!, exchanges: [], results: [] };
  for (let n = 2; n <= lines.length; n++) {
    if (!lines[n - 1]!.trim()) continue;
    const raw = parse(n) as { result?: unknown; dir?: unknown } | null;
    // The line's own schema, chosen by its shape, so a problem names the field.
    const schema =
      raw !== null && typeof raw === 'object' && 'result' in raw
        ? ResultSchema
        : raw?.dir === 'note'
          ? NoteSchema
          : ExchangeSchema;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) problem(n, parsed.error);
    const line = parsed.data!;
    if ('result' in line) recording.results.push(line);
    else if (line.dir !== 'note') recording.exchanges.push({ ...line, line: n });
  }
  return recording;
}

/** An error as a line can hold it. */
export function errorRecord(error: unknown): RecordedError {
  const e = error as { name?: unknown; code?: unknown; attCode?: unknown; message?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.attCode === 'number' ? { attCode: e.attCode } : {}),
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

/** The error a recorded line stands for, of the class the host code tells apart. */
export function errorFrom(r: RecordedError): Error {
  if (r.name === 'TransportError' && r.code) {
    return new TransportError(r.code as ConstructorParameters<typeof TransportError>[0], r.message);
  }
  if (r.name === 'GattError' && r.attCode !== undefined) return new GattError(r.attCode, r.message);
  const error = new Error(r.message);
  error.name = r.name;
  return error;
}
