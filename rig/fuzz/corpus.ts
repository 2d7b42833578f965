import { ConfigError } from '../errors.ts';
import { readRecording } from '../tape/format.ts';
import { report, type Step, type SymbolicCid } from './case.ts';

/**
 * The seed corpus: what the host sent in recordings (`chiprig run --record`), one
 * sequence per test and link. HID channels are renamed A, B in order of first use (the
 * broadcast stays broadcast), so a mutated sequence runs on the fuzzer's own channels.
 */
export function corpusFromRecordings(paths: readonly string[]): Step[][] {
  const out: Step[][] = [];
  for (const path of paths) {
    let recording: ReturnType<typeof readRecording>;
    try {
      recording = readRecording(path);
    } catch (error) {
      throw new ConfigError(`--corpus: ${path}: ${error instanceof Error ? error.message : error}`, {
        cause: error,
      });
    }
    const groups = new Map<string, Step[]>();
    const cids = new Map<string, Map<number, SymbolicCid>>();
    for (const e of recording.exchanges) {
      if (e.dir !== 'send' || !e.hex) continue;
      const key = `${e.test ?? ''}|${e.transport}`;
      const bytes = Uint8Array.from(Buffer.from(e.hex.replace(/ /g, ''), 'hex'));
      let step: Step | undefined;
      if (e.transport === 'hid' && e.op === 'write' && bytes.length >= 5) {
        const names = cids.get(key) ?? new Map<number, SymbolicCid>();
        cids.set(key, names);
        const cid = Buffer.from(bytes.subarray(0, 4)).readUInt32BE(0);
        if (!names.has(cid)) names.set(cid, cid === 0xffffffff ? 'broadcast' : names.size === 0 ? 'A' : 'B');
        step = report(names.get(cid)!, bytes.subarray(4));
      } else if (e.transport === 'nfc' && e.op === 'transmit') {
        step = { kind: 'apdu', data: Buffer.from(bytes).toString('hex') };
      } else if (e.transport === 'ble' && e.op === 'write') {
        step = { kind: 'fragment', data: Buffer.from(bytes).toString('hex') };
      }
      if (!step) continue;
      const list = groups.get(key) ?? [];
      groups.set(key, list);
      if (list.length < 32) list.push(step);
    }
    out.push(...[...groups.values()].filter((g) => g.length > 0));
  }
  return out;
}
