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

interface Burst {
  fromMs: number;
  toMs: number;
}

/**
 * Current at any instant from the chip's state and its recent signatures. Times are in
 * milliseconds on an injectable clock so a simulator and a test agree on them.
 */
export class PowerModel {
  readonly table: CurrentTable;
  readonly #now: () => number;
  #state: Exclude<PowerState, 'signing'> = 'idle';
  #bursts: Burst[] = [];

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
  }

  get state(): PowerState {
    return this.#inBurst(this.#now()) ? 'signing' : this.#state;
  }

  /** A signature started now: signingUa for signingMs, on top of nothing else. */
  signed(): void {
    const t = this.#now();
    const last = this.#bursts.at(-1);
    const from = last && last.toMs > t ? last.toMs : t; // back-to-back signatures queue up
    this.#bursts.push({ fromMs: from, toMs: from + this.table.signingMs });
    // Keep only what a meter may still ask about (the last minute).
    const horizon = t - 60_000;
    while (this.#bursts.length > 0 && this.#bursts[0]!.toMs < horizon) this.#bursts.shift();
  }

  /** Microamperes at time `tMs` (default now). */
  currentUa(tMs: number = this.#now()): number {
    if (this.#state === 'off') return this.table.offUa;
    if (this.#inBurst(tMs)) return this.table.signingUa;
    switch (this.#state) {
      case 'advertising':
        return this.table.advertisingUa;
      case 'charging':
        return this.table.chargingUa;
      default:
        return this.table.idleUa;
    }
  }

  #inBurst(t: number): boolean {
    return this.#bursts.some((b) => t >= b.fromMs && t < b.toMs);
  }
}

/** Charge one signature costs above idle, microampere-hours. */
export function chargePerSignatureUah(table: CurrentTable): number {
  return ((table.signingUa - table.idleUa) * table.signingMs) / 3_600_000;
}
