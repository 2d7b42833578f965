/**
 * The emulated chip's temperature: it follows the air around it (a climate chamber's
 * temperature) with a first-order lag, as a small plastic-cased device does, and outside
 * the range it really works in it misbehaves in a configurable way. The spec sheet's
 * operating range is -10 C to 50 C; by default the emulated chip keeps working a little
 * beyond it, so a sweep over the operating range passes, and a faulty one can be made to
 * stop early (e.g. at 45 C) so the environmental suites can prove they catch it.
 */

/** What the chip does while its temperature is outside the range it works in. */
export type ThermalFailure =
  /** Every command is refused with 6F00 (no precise diagnosis). */
  | 'error-status'
  /** It signs, but the signature is wrong (a marginal crypto engine). */
  | 'bad-signature';

export interface ThermalModelOptions {
  /** Starting chip and ambient temperature, C (default 25). */
  ambientC?: number;
  /** First-order time constant of the chip following the ambient, seconds (default 60). */
  timeConstantS?: number;
  /** The range the chip really works in, C (default -15 .. 55: a margin beyond the spec). */
  worksFromC?: number;
  worksUpToC?: number;
  failure?: ThermalFailure;
  /** Injectable clock, milliseconds (tests). */
  now?: () => number;
}

export class ThermalModel {
  readonly timeConstantS: number;
  readonly worksFromC: number;
  readonly worksUpToC: number;
  readonly failure: ThermalFailure;
  readonly #now: () => number;
  #ambientC: number;
  #chipC: number;
  #at: number;

  constructor(opts: ThermalModelOptions = {}) {
    this.#now = opts.now ?? (() => performance.now());
    this.#ambientC = opts.ambientC ?? 25;
    this.#chipC = this.#ambientC;
    this.#at = this.#now();
    this.timeConstantS = opts.timeConstantS ?? 60;
    this.worksFromC = opts.worksFromC ?? -15;
    this.worksUpToC = opts.worksUpToC ?? 55;
    this.failure = opts.failure ?? 'error-status';
    if (!(this.timeConstantS >= 0))
      throw new RangeError(`timeConstantS: must be >= 0: ${this.timeConstantS}`);
    if (!(this.worksFromC < this.worksUpToC)) {
      throw new RangeError(`worksFromC ${this.worksFromC} must be below worksUpToC ${this.worksUpToC}`);
    }
  }

  /** The air around the chip changed (the chamber reports its process value). */
  setAmbient(celsius: number): void {
    if (!Number.isFinite(celsius)) throw new RangeError(`ambient temperature: not a number: ${celsius}`);
    this.#advance();
    this.#ambientC = celsius;
  }

  get ambientC(): number {
    return this.#ambientC;
  }

  /** The chip's own temperature now. */
  get chipC(): number {
    this.#advance();
    return this.#chipC;
  }

  /** Whether the chip works at its present temperature. */
  get working(): boolean {
    const c = this.chipC;
    return c >= this.worksFromC && c <= this.worksUpToC;
  }

  #advance(): void {
    const t = this.#now();
    const dtS = Math.max(0, (t - this.#at) / 1000);
    this.#at = t;
    if (this.timeConstantS === 0) {
      this.#chipC = this.#ambientC;
      return;
    }
    // Exact solution of dT/dt = (ambient - T) / tau over dt at constant ambient.
    this.#chipC = this.#ambientC + (this.#chipC - this.#ambientC) * Math.exp(-dtS / this.timeConstantS);
  }
}
