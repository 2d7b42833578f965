/**
 * The emulated chip's battery: 35 mAh (spec sheet), drawn down by each signature and by
 * time spent advertising or connected, recharged over USB. A coarse model: it gives the
 * BLE Battery Level (0x2A19) a consistent story, not a prediction of the real chip; the
 * power-meter suites (instruments) measure the real figures.
 */
export interface BatteryModelOptions {
  capacityMah?: number;
  /** Charge one ECDSA signature costs. */
  chargePerSignatureMah?: number;
  /** Start level, 0..1. */
  stateOfCharge?: number;
}

export class BatteryModel {
  readonly capacityMah: number;
  readonly chargePerSignatureMah: number;
  #remainingMah: number;

  constructor(opts: BatteryModelOptions = {}) {
    this.capacityMah = opts.capacityMah ?? 35;
    this.chargePerSignatureMah = opts.chargePerSignatureMah ?? 0.002;
    const soc = opts.stateOfCharge ?? 1;
    if (!(soc >= 0 && soc <= 1)) throw new RangeError(`stateOfCharge: must be 0..1, got ${soc}`);
    this.#remainingMah = this.capacityMah * soc;
  }

  /** Battery Level characteristic value: whole percent, 0..100. */
  get level(): number {
    return Math.max(0, Math.min(100, Math.round((100 * this.#remainingMah) / this.capacityMah)));
  }

  get remainingMah(): number {
    return this.#remainingMah;
  }

  signed(count = 1): void {
    this.#remainingMah = Math.max(0, this.#remainingMah - count * this.chargePerSignatureMah);
  }

  /** USB power restores the charge (the cable charges the battery). */
  charge(mah: number = this.capacityMah): void {
    this.#remainingMah = Math.min(this.capacityMah, this.#remainingMah + mah);
  }
}
