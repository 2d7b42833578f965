/**
 * The emulated chip's supply current by state, for a power meter (the PPK2 simulator) to
 * sample: idle, advertising over BLE, signing, charging from USB, and off. The figures
 * are a plausible small BLE 4.0 key on a 35 mAh Li-ion cell, not a measurement of the
 * MitID chip: a lab replaces them with its own (emulator.power in the station file) and
 * the battery suites check the projections against the device profile.
 */

export type PowerState = 'off' | 'idle' | 'advertising' | 'signing' | 'charging';

export interface CurrentTable {
  /** Microamperes drawn in each state. Signing is drawn for signingMs per signature. */
  offUa: number;
  idleUa: number;
  advertisingUa: number;
  signingUa: number;
  /** Into the battery while charging (shown as a negative draw). */
  chargingUa: number;
  signingMs: number;
}

export const DEFAULT_CURRENTS: CurrentTable = {
  offUa: 0,
  idleUa: 8,
  advertisingUa: 180,
  // 12 mA for 600 ms: 2 µAh a signature, the battery model's 0.002 mAh (BatteryModel).
  signingUa: 12_000,
  chargingUa: -20_000,
  signingMs: 600,
};

/**
 * Current at any instant from the chip's state and its recent signatures. Times are in
 * milliseconds on an injectable clock so a simulator and a test agree on them.
 */
export class PowerModel {
  readonly table: CurrentTable;
  readonly #now: () => number;
  #state: Exclude<PowerState, 'signing'> = 'idle';
  /** Start times of recent signatures (numbers, not objects: this runs per signature). */
  #starts: number[] = [];
  #head = 0;

  constructor(table: Partial<CurrentTable> = {}, now: () => number = () => performance.now()) {
    this.table = { ...DEFAULT_CURRENTS, ...table };
    for (const [k, v] of Object.entries(this.table)) {
      if (!Number.isFinite(v)) throw new RangeError(`power.${k}: not a number: ${v}`);
    }
    this.#now = now;
  }

  /** The background state (advertising while no central holds the BLE link, etc.). */
  setState(state: Exclude<PowerState, 'signing'>): void {
    this.#state = state;
    // A power cut ends any signature in progress: its draw does not resume on power-up.
    if (state === 'off') {
      this.#starts = [];
      this.#head = 0;
    }
  }

  get state(): PowerState {
    return this.#signingAt(this.#now()) > 0 ? 'signing' : this.#state;
  }

  /**
   * A signature made now: signingUa for signingMs in place of the background current. The
   * emulated chip signs faster than that, so overlapping signatures add up (each still
   * costs its charge) rather than queue, and the draw ends signingMs after the last one.
   */
  signed(): void {
    const t = this.#now();
    this.#prune(t);
    this.#starts.push(t);
  }

  /** Microamperes at time `tMs` (default now). */
  currentUa(tMs: number = this.#now()): number {
    if (this.#state === 'off') return this.table.offUa;
    const signing = this.#signingAt(tMs);
    if (signing > 0) return signing * this.table.signingUa;
    switch (this.#state) {
      case 'advertising':
        return this.table.advertisingUa;
      case 'charging':
        return this.table.chargingUa;
      default:
        return this.table.idleUa;
    }
  }

  /** Signatures whose draw covers `t` (a meter asks about now, or just before). */
  #signingAt(t: number): number {
    let n = 0;
    for (let i = this.#head; i < this.#starts.length; i++) {
      const s = this.#starts[i]!;
      if (t >= s && t < s + this.table.signingMs) n++;
    }
    return n;
  }

  /** Forgets signatures whose draw ended more than a second before `t` (bounded memory). */
  #prune(t: number): void {
    const before = t - this.table.signingMs - 1000;
    while (this.#head < this.#starts.length && this.#starts[this.#head]! < before) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#starts.length) {
      this.#starts = this.#starts.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Charge one signature costs above idle, microampere-hours. */
export function chargePerSignatureUah(table: CurrentTable): number {
  return ((table.signingUa - table.idleUa) * table.signingMs) / 3_600_000;
}
