import { hex } from './bytes.ts';

/** One line of traffic: what crossed a layer, which way, and when. */
export interface TrafficEntry {
  /** Milliseconds since the log's origin (performance.now based). */
  readonly atMs: number;
  readonly dir: 'send' | 'recv' | 'note';
  /** The layer that saw it: 'apdu' (U2F message), 'hid' (64-byte report), ... */
  readonly layer: string;
  readonly hex: string;
  readonly note?: string;
}

const DIRS = ['send', 'recv', 'note'] as const;
const START_ENTRIES = 256;
const START_BYTES = 16 * 1024;

/**
 * Collects the traffic of the current test (architecture.md, style 11). The suites drain it
 * after every test into the report entry, so a failure can be judged from the report alone.
 *
 * Entries are kept in columns (times, codes, offsets into one byte arena), and become
 * TrafficEntry objects, hex and all, only when read: a test of thousands of exchanges used to
 * keep an object and a hex string per unit, which every garbage collection had to copy (about
 * a tenth of an NFC round trip through pcscd). A listener (onEntry) still gets each entry as
 * it is recorded.
 */
export class TrafficLog {
  #origin = performance.now();
  /** Set false to measure without logging cost (benchmarks). */
  enabled = true;
  /** Cap per test so a soak cannot exhaust memory; the overflow is counted. */
  maxEntries = 20000;
  #dropped = 0;
  /** Called with every entry as it is recorded (the report layer turns exchanges into steps). */
  onEntry: ((entry: TrafficEntry) => void) | undefined;
  /** A second listener, for the whole run (chiprig serve's live traffic and latency plot). */
  tap: ((entry: TrafficEntry) => void) | undefined;

  #count = 0;
  #at = new Float64Array(START_ENTRIES);
  /** dir index (DIRS) in the low 2 bits, layer index above. */
  #code = new Uint32Array(START_ENTRIES);
  #start = new Uint32Array(START_ENTRIES);
  #length = new Uint32Array(START_ENTRIES);
  #notes = new Map<number, string>();
  #bytes = new Uint8Array(START_BYTES);
  #used = 0;
  readonly #layers: string[] = [];
  readonly #layerIndex = new Map<string, number>();

  record(dir: 'send' | 'recv', layer: string, bytes: Uint8Array, note?: string): void {
    if (!this.enabled) return;
    const i = this.#add(dir === 'send' ? 0 : 1, layer, note);
    if (i < 0) return;
    const n = bytes.length;
    if (this.#used + n > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.#bytes.length, this.#used + n));
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, this.#used);
    this.#start[i] = this.#used;
    this.#length[i] = n;
    this.#used += n;
    if (this.onEntry || this.tap) this.#tell(i);
  }

  #tell(i: number): void {
    const entry = this.#entry(i);
    this.onEntry?.(entry);
    this.tap?.(entry);
  }

  note(layer: string, note: string): void {
    if (!this.enabled) return;
    const i = this.#add(2, layer, note);
    if (i < 0) return;
    this.#start[i] = this.#used;
    this.#length[i] = 0;
    if (this.onEntry || this.tap) this.#tell(i);
  }

  get size(): number {
    return this.#count;
  }

  /** What was recorded since the log held `from` entries (a scenario step's traffic). */
  entriesSince(from: number): TrafficEntry[] {
    const out: TrafficEntry[] = [];
    for (let i = Math.max(0, from); i < this.#count; i++) out.push(this.#entry(i));
    return out;
  }

  /** Returns and clears what was recorded since the last drain. */
  drain(): { entries: TrafficEntry[]; dropped: number } {
    const out = { entries: this.entriesSince(0), dropped: this.#dropped };
    this.#count = 0;
    this.#used = 0;
    this.#notes.clear();
    this.#dropped = 0;
    this.#origin = performance.now();
    // A soak's arena is not kept for the next test.
    if (this.#bytes.length > 64 * START_BYTES) this.#bytes = new Uint8Array(START_BYTES);
    return out;
  }

  /** The next row, or -1 when the cap is reached (counted as dropped). */
  #add(dir: number, layer: string, note: string | undefined): number {
    if (this.#count >= this.maxEntries) {
      this.#dropped++;
      return -1;
    }
    const i = this.#count++;
    if (i >= this.#at.length) this.#grow();
    let l = this.#layerIndex.get(layer);
    if (l === undefined) {
      l = this.#layers.push(layer) - 1;
      this.#layerIndex.set(layer, l);
    }
    this.#at[i] = performance.now() - this.#origin;
    this.#code[i] = (l << 2) | dir;
    if (note !== undefined) this.#notes.set(i, note);
    return i;
  }

  #grow(): void {
    const size = 2 * this.#at.length;
    const grow = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.#at = grow(this.#at, (n) => new Float64Array(n));
    this.#code = grow(this.#code, (n) => new Uint32Array(n));
    this.#start = grow(this.#start, (n) => new Uint32Array(n));
    this.#length = grow(this.#length, (n) => new Uint32Array(n));
  }

  #entry(i: number): TrafficEntry {
    const code = this.#code[i]!;
    const dir = DIRS[code & 3]!;
    const start = this.#start[i]!;
    const base = {
      atMs: this.#at[i]!,
      dir,
      layer: this.#layers[code >>> 2]!,
      hex: dir === 'note' ? '' : hex(this.#bytes.subarray(start, start + this.#length[i]!)),
    };
    const note = this.#notes.get(i);
    return note === undefined ? base : { ...base, note };
  }
}

/** Human-readable form for report attachments: one line per entry. */
export function formatTraffic(entries: readonly TrafficEntry[], dropped = 0): string {
  const lines = entries.map((e) => {
    const arrow = e.dir === 'send' ? 'SEND' : e.dir === 'recv' ? 'RECV' : 'NOTE';
    const body = e.hex ? e.hex : '';
    const note = e.note ? `  # ${e.note}` : '';
    return `${e.atMs.toFixed(3).padStart(10)} ms  ${arrow} ${e.layer.padEnd(4)} ${body}${note}`;
  });
  if (dropped > 0) lines.push(`(${dropped} further entries not kept)`);
  return lines.join('\n');
}
