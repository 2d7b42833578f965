import assert from 'node:assert/strict';
import { InstrumentError } from '../../errors.ts';
import {
  ADC_MAX,
  adcToMicroamps,
  averageStartFrame,
  averageStopFrame,
  DEFAULT_CALIBRATION,
  decodeSampleWord,
  deviceRunningFrame,
  encodeSampleWord,
  extractMetadata,
  formatMetadata,
  getMetadataFrame,
  microampsToSample,
  Ppk2SampleDecoder,
  parseMetadata,
  powerModeFrame,
  regulatorFrame,
  splitCommands,
  writeSample,
} from './ppk2-protocol.ts';
import { SIMULATED_CALIBRATION } from './ppk2-simulator.ts';

/**
 * A GetMetadata answer as recorded from a PPK2 with damaged calibration, posted on Nordic
 * DevZone (q-a 92921, "PPK2 reports implausible values & modifiers"). Its zeros exercise the
 * fallback rules; its layout is the firmware's.
 */
const RECORDED_METADATA = [
  'Calibrated: 0',
  'R0: 3095044895830869060112875520.0000',
  'R1: 0.0000',
  'R2: 0.0000',
  'R3: 0.0000',
  'R4: 0.0000',
  'GS0: 0.0000',
  'GS1: 138.3582',
  'GS2: 21.5994',
  'GS3: 3.0130',
  'GS4: 0.0876',
  'GI0: 1.0000',
  'GI1: 0.9614',
  'GI2: 0.9534',
  'GI3: 0.9415',
  'GI4: 0.9521',
  'O0: 0.0000',
  'O1: -2814926129201152.0000',
  'O2: 0.0000',
  'O3: -2251799813685248.0000',
  'O4: 0.0000',
  'VDD: 3300',
  'HW: 54350',
  'mode: 2',
  'S0: -0.000000009',
  'S1: -0.000000064',
  'S2: -0.000000512',
  'S3: -0.000004891',
  'S4: 0.002447326',
  'I0: 0.000000044',
  'I1: 0.000000364',
  'I2: 0.000061116',
  'I3: -0.000254856',
  'I4: -0.007713722',
  'UG0: 1.00',
  'UG1: 1.00',
  'UG2: 1.00',
  'UG3: 1.00',
  'UG4: 1.00',
  'IA: 58',
  'END',
  '',
].join('\n');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= Math.abs(expected) * rel,
    `${what}: ${actual} not within ${rel * 100}% of ${expected}`,
  );

describe('PPK2 protocol: command frames', () => {
  it('encodes the single-byte commands', () => {
    assert.equal(hex(getMetadataFrame()), '19');
    assert.equal(hex(averageStartFrame()), '06');
    assert.equal(hex(averageStopFrame()), '07');
  });

  it('encodes power mode and DUT power', () => {
    assert.equal(hex(powerModeFrame('ampere')), '1101');
    assert.equal(hex(powerModeFrame('source')), '1102');
    assert.equal(hex(deviceRunningFrame(true)), '0c01');
    assert.equal(hex(deviceRunningFrame(false)), '0c00');
  });

  it('encodes the regulator voltage as big-endian millivolts', () => {
    // The Python API's documented baseline: 800 mV is [3, 32].
    assert.equal(hex(regulatorFrame(800)), '0d0320');
    assert.equal(hex(regulatorFrame(3300)), '0d0ce4');
    assert.equal(hex(regulatorFrame(3700)), '0d0e74');
    assert.equal(hex(regulatorFrame(5000)), '0d1388');
    assert.throws(() => regulatorFrame(799), RangeError);
    assert.throws(() => regulatorFrame(5001), RangeError);
    assert.throws(() => regulatorFrame(3300.5), RangeError);
  });

  it('splits a byte stream into frames, keeping an incomplete tail', () => {
    const { frames, rest } = splitCommands(Uint8Array.from([0x07, 0x19, 0x0d, 0x0e, 0x74, 0x11, 0x02, 0x0c]));
    assert.deepEqual(frames.map(hex), ['07', '19', '0d0e74', '1102']);
    assert.equal(hex(rest), '0c');
  });
});

describe('PPK2 protocol: metadata', () => {
  it('parses the recorded answer, with the fallbacks for zero values', () => {
    const cal = parseMetadata(RECORDED_METADATA);
    assert.equal(cal.calibrated, false);
    // R0 is garbage but non-zero, so kept; R1..R4 are 0 and fall back to the defaults.
    assert.deepEqual(cal.r, [Number('3095044895830869060112875520.0000'), 101.65, 10.15, 0.94, 0.043]);
    assert.deepEqual(cal.gs, [1, 138.3582, 21.5994, 3.013, 0.0876]);
    assert.deepEqual(cal.gi, [1, 0.9614, 0.9534, 0.9415, 0.9521]);
    assert.deepEqual(cal.o, [0, -2814926129201152, 0, -2251799813685248, 0]);
    assert.deepEqual(cal.s, [-0.000000009, -0.000000064, -0.000000512, -0.000004891, 0.002447326]);
    assert.deepEqual(cal.i, [0.000000044, 0.000000364, 0.000061116, -0.000254856, -0.007713722]);
    assert.deepEqual(cal.ug, [1, 1, 1, 1, 1]);
    assert.equal(cal.vddMv, 3300);
    assert.equal(cal.hw, 54350);
    assert.equal(cal.mode, 2);
    assert.equal(cal.ia, 58);
    assert.deepEqual(cal.extra, {});
  });

  it('reads nan as missing and keeps unknown keys', () => {
    const text = RECORDED_METADATA.replace('R1: 0.0000', 'R1: -nan').replace('IA: 58', 'IA: 58\nXY: 7');
    const cal = parseMetadata(text);
    assert.equal(cal.r[1], 101.65);
    assert.deepEqual(cal.extra, { xy: 7 });
  });

  it('round-trips formatMetadata → parseMetadata', () => {
    const cal = parseMetadata(formatMetadata(SIMULATED_CALIBRATION));
    assert.deepEqual(cal.r, SIMULATED_CALIBRATION.r);
    assert.deepEqual(cal.s, SIMULATED_CALIBRATION.s);
    assert.deepEqual(cal.i, SIMULATED_CALIBRATION.i);
    assert.equal(cal.gs[0], 1, 'GS0 0.0000 falls back to 1');
    assert.deepEqual(cal.gs.slice(1), SIMULATED_CALIBRATION.gs.slice(1));
  });

  it('rejects malformed metadata with a clear InstrumentError', () => {
    const bad = (text: string, pattern: RegExp) =>
      assert.throws(
        () => parseMetadata(text),
        (e: unknown) => e instanceof InstrumentError && e.code === 'PROTOCOL' && pattern.test(e.message),
      );
    bad(RECORDED_METADATA.replace('END', ''), /no END line/);
    bad(RECORDED_METADATA.replace('GS2: 21.5994', 'GS2 21.5994'), /line \d+ is not "Key: value"/);
    bad(RECORDED_METADATA.replace('GI3: 0.9415', 'GI3: abc'), /GI3 is not a number/);
    bad(RECORDED_METADATA.replace('R2: 0.0000\n', '').replace('R4: 0.0000\n', ''), /no R2, R4/);
    bad('END\n', /no R0, R1, R2, R3, R4/);
  });

  it('finds the answer behind stray sample bytes and waits for END', () => {
    const text = Buffer.from(RECORDED_METADATA, 'latin1');
    const stray = Uint8Array.from([0x34, 0x52, 0x8c, 0x01, 0xff, 0x00]);
    const all = Buffer.concat([stray, text]);
    assert.equal(extractMetadata(all.subarray(0, all.length - 5)), undefined);
    const found = extractMetadata(all);
    assert.ok(found);
    assert.ok(found.text.startsWith('Calibrated: 0\n'));
    assert.ok(found.text.endsWith('IA: 58\nEND'));
    assert.equal(found.consumed, all.length);
  });
});

describe('PPK2 protocol: samples', () => {
  it('decodes a little-endian word into adc, range, counter and logic', () => {
    // 4660 | 1 << 14 | 35 << 18 | 1 << 24 = 0x018c5234
    const s = decodeSampleWord(0x018c5234);
    assert.deepEqual(s, { adc: 4660, range: 1, counter: 35, logic: 1 });
    assert.equal(encodeSampleWord(s), 0x018c5234);
    const buf = new Uint8Array(4);
    writeSample(buf, 0, s);
    assert.deepEqual([...buf], [0x34, 0x52, 0x8c, 0x01]);
  });

  it('round-trips every field at its limits', () => {
    for (const s of [
      { adc: 0, range: 0, counter: 0, logic: 0 },
      { adc: ADC_MAX, range: 4, counter: 63, logic: 255 },
      { adc: 1, range: 7, counter: 1, logic: 128 },
    ]) {
      assert.deepEqual(decodeSampleWord(encodeSampleWord(s)), s);
    }
    assert.throws(() => encodeSampleWord({ adc: ADC_MAX + 1, range: 0, counter: 0, logic: 0 }), RangeError);
    assert.throws(() => encodeSampleWord({ adc: 0, range: 0, counter: 64, logic: 0 }), RangeError);
  });

  it('converts adc to µA per range with the default modifiers (hand computed)', () => {
    // adc 10000 → 40000 counts × 1.8/163840 V = 0.439453125 V; x = V / R; I = x·(1·x + 1).
    const expected = [
      426.1567224637384, 4341.888520215487, 45170.40712293203, 686062.6828567968, 114664972.1185861,
    ];
    expected.forEach((ua, range) => {
      close(adcToMicroamps(DEFAULT_CALIBRATION, range, 10000, 3300), ua, 1e-12, `range ${range}`);
    });
    assert.ok(Number.isNaN(adcToMicroamps(DEFAULT_CALIBRATION, 5, 10000, 3300)));
  });

  it('applies GS, GI, S, I and VDD from the recorded metadata (hand computed)', () => {
    const cal = parseMetadata(RECORDED_METADATA);
    // Range 2 (O2 = 0; R2 = 0 falls back to 10.15), adc 1000: x = 4000 × 1.8/163840 / 10.15;
    // I = x·(21.5994·x + 0.9534) + (−0.000000512 × 3.3 + 0.000061116) = 4592.142888 µA
    close(adcToMicroamps(cal, 2, 1000, 3300), 4592.142888154916, 1e-12, 'range 2');
  });

  it('encodes currents so that decoding returns them within half an ADC step', () => {
    const cal = parseMetadata(formatMetadata(SIMULATED_CALIBRATION));
    for (const ua of [0.5, 3, 10, 150, 700, 1000, 5000, 8000, 60_000, 250_000, 700_000]) {
      const { range, adc } = microampsToSample(cal, ua, 3700);
      assert.ok(adc >= 0 && adc <= ADC_MAX, `${ua} µA: adc ${adc}`);
      const back = adcToMicroamps(cal, range, adc, 3700);
      const step = Math.abs(adcToMicroamps(cal, range, adc + 1, 3700) - back);
      assert.ok(Math.abs(back - ua) <= step / 2 + 1e-9, `${ua} µA → range ${range} adc ${adc} → ${back} µA`);
    }
  });

  it('picks the most sensitive range that does not saturate', () => {
    const r = (ua: number) => microampsToSample(DEFAULT_CALIBRATION, ua, 3700).range;
    assert.equal(r(10), 0);
    assert.equal(r(1000), 1);
    assert.equal(r(8000), 2);
    assert.equal(r(100_000), 3);
    assert.equal(r(2_000_000), 4);
  });
});

describe('PPK2 protocol: sample stream', () => {
  const stream = (counters: number[]) => {
    const buf = new Uint8Array(counters.length * 4);
    counters.forEach((counter, k) => {
      writeSample(buf, k * 4, { adc: 100 + k, range: 0, counter, logic: 0 });
    });
    return buf;
  };

  it('reassembles samples split at every possible byte boundary', () => {
    const counters = Array.from({ length: 70 }, (_, k) => k % 64);
    const bytes = stream(counters);
    for (const cut of [1, 2, 3, 5, 7, 13]) {
      const d = new Ppk2SampleDecoder();
      const adcs: number[] = [];
      for (let at = 0; at < bytes.length; at += cut) {
        d.push(bytes.subarray(at, at + cut), (s) => adcs.push(s.adc));
      }
      assert.deepEqual(
        adcs,
        counters.map((_, k) => 100 + k),
        `chunks of ${cut}`,
      );
      assert.equal(d.dropped, 0, 'the 63 → 0 wrap is not a gap');
    }
  });

  it('counts counter gaps as dropped samples', () => {
    const d = new Ppk2SampleDecoder();
    const gaps: number[] = [];
    d.push(stream([60, 61, 63, 0, 5, 6]), (_, gap) => gaps.push(gap));
    assert.deepEqual(gaps, [0, 0, 1, 0, 4, 0]);
    assert.equal(d.dropped, 5);
    assert.equal(d.received, 6);
  });
});
