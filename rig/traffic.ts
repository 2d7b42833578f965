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

/**
 * Collects the traffic of the current test (architecture.md, style 11). The suites drain it
 * after every test into the report entry, so a failure can be judged from the report alone.
 */
export class TrafficLog {
  #entries: TrafficEntry[] = [];
  #origin = performance.now();
  /** Set false to measure without logging cost (benchmarks). */
  enabled = true;
  /** Cap per test so a soak cannot exhaust memory; the overflow is counted. */
  maxEntries = 20000;
  #dropped = 0;
  /** Called with every entry as it is recorded (the report layer turns exchanges into steps). */
  onEntry: ((entry: TrafficEntry) => void) | undefined;

  record(dir: 'send' | 'recv', layer: string, bytes: Uint8Array, note?: string): void {
    if (!this.enabled) return;
    if (this.#entries.length >= this.maxEntries) {
      this.#dropped++;
      return;
    }
    const base: TrafficEntry = { atMs: performance.now() - this.#origin, dir, layer, hex: hex(bytes) };
    const entry = note === undefined ? base : { ...base, note };
    this.#entries.push(entry);
    this.onEntry?.(entry);
  }

  note(layer: string, note: string): void {
    if (!this.enabled) return;
    const entry: TrafficEntry = { atMs: performance.now() - this.#origin, dir: 'note', layer, hex: '', note };
    this.#entries.push(entry);
    this.onEntry?.(entry);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** What was recorded since the log held `from` entries (a scenario step's traffic). */
  entriesSince(from: number): TrafficEntry[] {
    return this.#entries.slice(from);
  }

  /** Returns and clears what was recorded since the last drain. */
  drain(): { entries: TrafficEntry[]; dropped: number } {
    const out = { entries: this.#entries, dropped: this.#dropped };
    this.#entries = [];
    this.#dropped = 0;
    this.#origin = performance.now();
    return out;
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
