/**
 * Nordic Power Profiler Kit II (PPK2) wire protocol: a pure codec, no I/O.
 *
 * The PPK2 is a USB CDC ACM device. The host writes commands (one opcode byte, then that
 * command's argument bytes, no framing or checksum); the PPK2 answers GetMetadata with
 * "Key: value" text lines ending in "END", and after AverageStart streams 4-byte
 * little-endian sample words at 100 kHz until AverageStop.
 *
 * Facts cross-checked between (cited by short name below):
 * - [nordic]   NordicSemiconductor/pc-nrfconnect-ppk: src/constants.ts (opcodes),
 *              src/device/abstractDevice.ts (RegulatorSet, DeviceRunningSet, AverageStart/Stop),
 *              src/device/serialDevice.ts (sample masks, counter, metadata, conversion).
 * - [irnas]    IRNAS/ppk2-api-python: src/ppk2_api/ppk2_api.py (same opcodes, masks,
 *              conversion, regulator bytes, power modes) and example.py (command order).
 * - [devzone]  devzone.nordicsemi.com/f/nordic-q-a/92921 "PPK2 reports implausible values &
 *              modifiers": a recorded GetMetadata answer (line order, number formats,
 *              lowercase "mode", trailing "END").
 */
import { InstrumentError } from '../../errors.ts';

/** Opcodes used by the driver and simulator; [nordic] constants.ts and [irnas] agree on all. */
export const Ppk2Op = {
  AverageStart: 0x06,
  AverageStop: 0x07,
  DeviceRunningSet: 0x0c,
  RegulatorSet: 0x0d,
  /** Shares 0x11 with TriggerExtToggle in both sources; on the PPK2 it selects the power mode. */
  SetPowerMode: 0x11,
  GetMetadata: 0x19,
  Reset: 0x20,
  SetUserGains: 0x25,
} as const;

/**
 * Total frame length (opcode included) of the commands a simulator must split from a byte
 * stream. SetUserGains carries a range byte and a float32 ([nordic] ppkSetUserGains).
 */
export const PPK2_FRAME_LENGTH: Readonly<Record<number, number>> = {
  [Ppk2Op.AverageStart]: 1,
  [Ppk2Op.AverageStop]: 1,
  [Ppk2Op.DeviceRunningSet]: 2,
  [Ppk2Op.RegulatorSet]: 3,
  [Ppk2Op.SetPowerMode]: 2,
  [Ppk2Op.GetMetadata]: 1,
  [Ppk2Op.Reset]: 1,
  [Ppk2Op.SetUserGains]: 6,
};

/** Ampere meter: the DUT has its own supply (the battery) through the PPK2's shunts; source meter: the PPK2 powers it. */
export type Ppk2Mode = 'ampere' | 'source';

/** SetPowerMode argument: 1 ampere, 2 source ([nordic] ppkSetPowerMode(isSmu ? 2 : 1), [irnas] use_*_meter). */
export const PPK2_MODE_BYTE: Readonly<Record<Ppk2Mode, number>> = { ampere: 1, source: 2 };

/** Regulator limits in millivolts ([nordic] vddRange, [irnas] vdd_low/vdd_high). */
export const PPK2_VDD_MIN_MV = 800;
export const PPK2_VDD_MAX_MV = 5000;

/** The real instrument's sample rate: one sample every 10 µs ([nordic] adcSamplingTimeUs, [irnas] "100 samples per millisecond"). */
export const PPK2_SAMPLE_RATE_HZ = 100_000;

export const SAMPLE_BYTES = 4;

export const getMetadataFrame = (): Uint8Array => Uint8Array.of(Ppk2Op.GetMetadata);
export const averageStartFrame = (): Uint8Array => Uint8Array.of(Ppk2Op.AverageStart);
export const averageStopFrame = (): Uint8Array => Uint8Array.of(Ppk2Op.AverageStop);
export const powerModeFrame = (mode: Ppk2Mode): Uint8Array =>
  Uint8Array.of(Ppk2Op.SetPowerMode, PPK2_MODE_BYTE[mode]);
export const deviceRunningFrame = (on: boolean): Uint8Array =>
  Uint8Array.of(Ppk2Op.DeviceRunningSet, on ? 1 : 0);

/**
 * RegulatorSet: millivolts big-endian in two bytes ([nordic] `vdd >> 8, vdd & 0xff`). [irnas]
 * derives the same bytes another way (800 mV = [3, 32], then linear), which confirms the encoding.
 */
export function regulatorFrame(millivolts: number): Uint8Array {
  if (!Number.isInteger(millivolts) || millivolts < PPK2_VDD_MIN_MV || millivolts > PPK2_VDD_MAX_MV) {
    throw new RangeError(
      `PPK2 regulator voltage must be an integer ${PPK2_VDD_MIN_MV}..${PPK2_VDD_MAX_MV} mV, got ${millivolts}`,
    );
  }
  return Uint8Array.of(Ppk2Op.RegulatorSet, millivolts >> 8, millivolts & 0xff);
}

/** Splits whole command frames off the front of `bytes`; an unknown opcode is taken as one byte. */
export function splitCommands(bytes: Uint8Array): { frames: Uint8Array[]; rest: Uint8Array } {
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const len = PPK2_FRAME_LENGTH[bytes[at]!] ?? 1;
    if (at + len > bytes.length) break;
    frames.push(bytes.slice(at, at + len));
    at += len;
  }
  return { frames, rest: bytes.slice(at) };
}

// ---------------------------------------------------------------------------------------
// Metadata and calibration

/** One value per measurement range 0..4 (range 0 is the most sensitive: the largest shunt). */
export type RangeValues = readonly [number, number, number, number, number];

export const RANGE_COUNT = 5;

export interface Ppk2Calibration {
  calibrated: boolean;
  /** Shunt resistance per range, ohms. */
  r: RangeValues;
  /** Quadratic gain term. */
  gs: RangeValues;
  /** Linear gain. */
  gi: RangeValues;
  /** ADC offset, in (adc × 4) counts. */
  o: RangeValues;
  /** Supply-voltage dependent offset, amperes per volt. */
  s: RangeValues;
  /** Constant offset, amperes. */
  i: RangeValues;
  /** User gain. */
  ug: RangeValues;
  /** Regulator voltage at the time of the answer, millivolts. */
  vddMv?: number;
  hw?: number;
  /** Power mode byte at the time of the answer (1 ampere, 2 source). */
  mode?: number;
  ia?: number;
  /** Keys this codec does not interpret, lower-cased, as numbers (null for nan). */
  extra: Record<string, number | null>;
}

/** Used where the metadata has no usable value; identical in [nordic] and [irnas]. */
export const DEFAULT_CALIBRATION: Ppk2Calibration = {
  calibrated: false,
  r: [1031.64, 101.65, 10.15, 0.94, 0.043],
  gs: [1, 1, 1, 1, 1],
  gi: [1, 1, 1, 1, 1],
  o: [0, 0, 0, 0, 0],
  s: [0, 0, 0, 0, 0],
  i: [0, 0, 0, 0, 0],
  ug: [1, 1, 1, 1, 1],
  extra: {},
};

const GROUPS = ['r', 'gs', 'gi', 'o', 's', 'i', 'ug'] as const;
type Group = (typeof GROUPS)[number];

const END_MARK = 'END';

/**
 * Finds a complete metadata answer in received bytes: the text before the first "END".
 * Stray sample bytes ahead of it (a PPK2 left streaming by an earlier run) are cut at
 * the last non-text byte. Returns undefined until "END" has arrived.
 */
export function extractMetadata(bytes: Uint8Array): { text: string; consumed: number } | undefined {
  const end = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(END_MARK, 0, 'latin1');
  if (end < 0) return undefined;
  let start = end;
  while (start > 0) {
    const b = bytes[start - 1]!;
    const text = b === 0x0a || b === 0x0d || b === 0x09 || (b >= 0x20 && b < 0x7f);
    if (!text) break;
    start--;
  }
  let consumed = end + END_MARK.length;
  while (consumed < bytes.length && (bytes[consumed] === 0x0a || bytes[consumed] === 0x0d)) consumed++;
  return {
    text: Buffer.from(bytes.subarray(start, end + END_MARK.length)).toString('latin1'),
    consumed,
  };
}

const malformed = (why: string) =>
  new InstrumentError(
    'PROTOCOL',
    `PPK2 metadata is malformed: ${why}. Expected "Key: value" lines (Calibrated, R0..R4, GS0..GS4, ...) ending in END; ` +
      'check that the port is a PPK2 and update its firmware with nRF Connect Power Profiler',
  );

/**
 * Parses a GetMetadata answer. Keys are matched case-insensitively ([nordic] lower-cases the
 * text; the recorded answer has "mode" lower case). "nan"/"-nan" values are read as missing,
 * as [nordic] does. A missing, zero or nan calibration value falls back to the default, as
 * [nordic] does with `meta[key] || default` ([irnas] does so only for R; for the other groups
 * it would keep a 0, e.g. the recorded GS0: 0.0000 — the official app's rule is followed).
 * All five shunt values R0..R4 must be present: without them the text is not PPK2 metadata.
 */
export function parseMetadata(text: string): Ppk2Calibration {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const endAt = lines.indexOf(END_MARK);
  if (endAt < 0) throw malformed('no END line');
  const values = new Map<string, number | null>();
  for (const [n, line] of lines.slice(0, endAt).entries()) {
    if (line === '') continue;
    const m = /^([A-Za-z]+[0-9]?)\s*:\s*(\S+)$/.exec(line);
    if (!m) throw malformed(`line ${n + 1} is not "Key: value": ${JSON.stringify(line.slice(0, 60))}`);
    const key = m[1]!.toLowerCase();
    const raw = m[2]!;
    let value: number | null;
    if (/^[-+]?nan$/i.test(raw)) value = null;
    else {
      value = Number(raw);
      if (!Number.isFinite(value)) throw malformed(`${m[1]} is not a number: ${JSON.stringify(raw)}`);
    }
    values.set(key, value);
  }
  const missingR = [0, 1, 2, 3, 4].filter((k) => !values.has(`r${k}`));
  if (missingR.length > 0) throw malformed(`no ${missingR.map((k) => `R${k}`).join(', ')}`);

  const group = (g: Group): RangeValues => {
    const out = DEFAULT_CALIBRATION[g].map((fallback, k) => {
      const v = values.get(`${g}${k}`);
      return v ? v : fallback;
    });
    return out as unknown as RangeValues;
  };
  const known = new Set<string>(['calibrated', 'vdd', 'hw', 'mode', 'ia']);
  for (const g of GROUPS) for (let k = 0; k < RANGE_COUNT; k++) known.add(`${g}${k}`);
  const extra: Record<string, number | null> = {};
  for (const [k, v] of values) if (!known.has(k)) extra[k] = v;
  const opt = (k: string) => values.get(k) ?? undefined;

  return {
    calibrated: (values.get('calibrated') ?? 0) !== 0,
    r: group('r'),
    gs: group('gs'),
    gi: group('gi'),
    o: group('o'),
    s: group('s'),
    i: group('i'),
    ug: group('ug'),
    vddMv: opt('vdd'),
    hw: opt('hw'),
    mode: opt('mode'),
    ia: opt('ia'),
    extra,
  };
}

/** Writes metadata text in the recorded [devzone] layout and number formats (for the simulator). */
export function formatMetadata(cal: Ppk2Calibration): string {
  const lines: string[] = [`Calibrated: ${cal.calibrated ? 1 : 0}`];
  const put = (name: string, vals: RangeValues, digits: number) => {
    vals.forEach((v, k) => {
      lines.push(`${name}${k}: ${v.toFixed(digits)}`);
    });
  };
  put('R', cal.r, 4);
  put('GS', cal.gs, 4);
  put('GI', cal.gi, 4);
  put('O', cal.o, 4);
  lines.push(`VDD: ${cal.vddMv ?? 3300}`, `HW: ${cal.hw ?? 0}`, `mode: ${cal.mode ?? 2}`);
  put('S', cal.s, 9);
  put('I', cal.i, 9);
  put('UG', cal.ug, 2);
  lines.push(`IA: ${cal.ia ?? 0}`, END_MARK);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------
// Samples

/**
 * One sample word, little-endian uint32 ([nordic] readUIntLE(ofs, 4), [irnas] from_bytes little):
 * bits 0..13 ADC, 14..16 measurement range, 18..23 counter ([nordic] only; [irnas] ignores it),
 * 24..31 digital logic inputs. Bit 17 is unused in both.
 */
export interface Ppk2Sample {
  /** Raw 14-bit ADC value; the conversion uses adc × 4. */
  adc: number;
  range: number;
  /** 6-bit rolling sample counter; a jump means samples were lost. */
  counter: number;
  logic: number;
}

export const ADC_MAX = 0x3fff;
export const COUNTER_MODULO = 64;

export function decodeSampleWord(word: number): Ppk2Sample {
  return {
    adc: word & 0x3fff,
    range: (word >>> 14) & 0x7,
    counter: (word >>> 18) & 0x3f,
    logic: (word >>> 24) & 0xff,
  };
}

export function encodeSampleWord(s: Ppk2Sample): number {
  for (const [field, value, max] of [
    ['adc', s.adc, ADC_MAX],
    ['range', s.range, 7],
    ['counter', s.counter, 0x3f],
    ['logic', s.logic, 0xff],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new RangeError(`PPK2 sample ${field} must be an integer 0..${max}, got ${value}`);
    }
  }
  return (s.adc | (s.range << 14) | (s.counter << 18) | (s.logic << 24)) >>> 0;
}

export function writeSample(buf: Uint8Array, offset: number, s: Ppk2Sample): void {
  const w = encodeSampleWord(s);
  buf[offset] = w & 0xff;
  buf[offset + 1] = (w >>> 8) & 0xff;
  buf[offset + 2] = (w >>> 16) & 0xff;
  buf[offset + 3] = w >>> 24;
}

/** Volts per (adc × 4) count: 1.8 V reference over 163840 ([nordic] adcMult, [irnas] adc_mult). */
export const ADC_MULT = 1.8 / 163840;

/**
 * ADC value to microamperes, the formula of [nordic] getAdcResult and [irnas] get_adc_result:
 *   x = (adc·4 − O) · ADC_MULT / R                  (shunt voltage over shunt resistance, A)
 *   I = UG · (x · (GS·x + GI) + S · VDD/1000 + I0)   (A; VDD in mV)
 * Both apps then smooth range switches with a rolling average (spike filter); that is a
 * display filter and is not applied here, so charge integrates the raw samples.
 * Ranges 5..7 do not exist: NaN, which the driver counts as an invalid sample.
 */
export function adcToMicroamps(cal: Ppk2Calibration, range: number, adc: number, vddMv: number): number {
  if (range < 0 || range >= RANGE_COUNT) return Number.NaN;
  const k = range as 0 | 1 | 2 | 3 | 4;
  const x = (adc * 4 - cal.o[k]) * (ADC_MULT / cal.r[k]);
  const amps = cal.ug[k] * (x * (cal.gs[k] * x + cal.gi[k]) + (cal.s[k] * (vddMv / 1000) + cal.i[k]));
  return amps * 1e6;
}

/**
 * The inverse, for the simulator: the most sensitive range whose ADC does not saturate, and
 * the nearest ADC value there. Currents below a range's zero clamp to ADC 0; above range 4's
 * full scale, to full scale.
 */
export function microampsToSample(
  cal: Ppk2Calibration,
  microamps: number,
  vddMv: number,
): { range: number; adc: number } {
  for (let k = 0 as 0 | 1 | 2 | 3 | 4; k < RANGE_COUNT; k = (k + 1) as 0 | 1 | 2 | 3 | 4) {
    const t = microamps / 1e6 / cal.ug[k] - (cal.s[k] * (vddMv / 1000) + cal.i[k]);
    const gs = cal.gs[k];
    const gi = cal.gi[k];
    const disc = gi * gi + 4 * gs * t;
    if (disc < 0) continue;
    // 2t / (GI + √disc) is the root continuous with the linear case and stable when GS → 0.
    const x = (2 * t) / (gi + Math.sqrt(disc));
    const rounded = Math.round(((x * cal.r[k]) / ADC_MULT + cal.o[k]) / 4);
    if (Number.isFinite(rounded) && rounded <= ADC_MAX) return { range: k, adc: Math.max(0, rounded) };
  }
  return { range: RANGE_COUNT - 1, adc: ADC_MAX };
}

/**
 * Reassembles sample words from arbitrarily split chunks (USB and tty reads cut anywhere) and
 * checks the rolling counter: a jump from the expected value counts the skipped samples as
 * dropped ([nordic] handleRawDataSet does the same with MAX_PAYLOAD_COUNTER). A loss of 64 or
 * more samples in one gap is not detectable from a 6-bit counter.
 */
export class Ppk2SampleDecoder {
  private remainder = new Uint8Array(SAMPLE_BYTES);
  private remainderLength = 0;
  private expected: number | undefined;
  dropped = 0;
  received = 0;

  reset(): void {
    this.remainderLength = 0;
    this.expected = undefined;
    this.dropped = 0;
    this.received = 0;
  }

  /** Decodes every whole sample in `chunk`; `onSample` gets each with the gap before it. */
  push(chunk: Uint8Array, onSample: (s: Ppk2Sample, droppedBefore: number) => void): void {
    let at = 0;
    if (this.remainderLength > 0) {
      const need = SAMPLE_BYTES - this.remainderLength;
      const take = Math.min(need, chunk.length);
      this.remainder.set(chunk.subarray(0, take), this.remainderLength);
      this.remainderLength += take;
      at = take;
      if (this.remainderLength < SAMPLE_BYTES) return;
      this.emit(this.remainder, 0, onSample);
      this.remainderLength = 0;
    }
    for (; at + SAMPLE_BYTES <= chunk.length; at += SAMPLE_BYTES) this.emit(chunk, at, onSample);
    if (at < chunk.length) {
      this.remainder.set(chunk.subarray(at), 0);
      this.remainderLength = chunk.length - at;
    }
  }

  private emit(bytes: Uint8Array, at: number, onSample: (s: Ppk2Sample, droppedBefore: number) => void) {
    const word = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    const s = decodeSampleWord(word);
    const gap =
      this.expected === undefined ? 0 : (s.counter - this.expected + COUNTER_MODULO) % COUNTER_MODULO;
    this.expected = (s.counter + 1) % COUNTER_MODULO;
    this.dropped += gap;
    this.received++;
    onSample(s, gap);
  }
}
