/** What the authenticator core asks of a presence source: is it there, and take it. */
export interface PresenceLike {
  readonly present: boolean;
  consume(): boolean;
}

/**
 * The emulated chip's button. A press latches presence for `windowMs`; one REGISTER or
 * enforce-AUTHENTICATE consumes it (catalogue U2F-REG-10, U2F-AUTH-09); check-only reads
 * it without consuming (U2F-AUTH-03). Time comes from an injectable clock so tests can
 * step it.
 */
export class PresenceSource implements PresenceLike {
  readonly windowMs: number;
  #latchedAt: number | undefined;
  #presses = 0;
  readonly #now: () => number;
  /** Called on every press (the NFC front-end listens: a press while in the field blocks NFC). */
  readonly #listeners = new Set<() => void>();

  /** Test firmware that needs no press: presence is always there (`--presence auto` devices). */
  readonly approvesByItself: boolean;

  constructor(opts: { windowMs?: number; now?: () => number; approvesByItself?: boolean } = {}) {
    this.windowMs = opts.windowMs ?? 10_000;
    this.approvesByItself = opts.approvesByItself ?? false;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The button goes down and up. `holdMs` is accepted for instruments; a press counts once. */
  press(_holdMs = 100): void {
    this.#latchedAt = this.#now();
    this.#presses++;
    for (const listener of this.#listeners) listener();
  }

  /** Subscribes to presses; returns the unsubscribe function. */
  onPress(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Presence is latched and still inside its window. */
  get present(): boolean {
    if (this.approvesByItself) return true;
    return this.#latchedAt !== undefined && this.#now() - this.#latchedAt <= this.windowMs;
  }

  /** Takes the latched presence if there is one. */
  consume(): boolean {
    if (this.approvesByItself) return true;
    const ok = this.present;
    this.#latchedAt = undefined;
    return ok;
  }

  /** Forget any latched press (power loss). */
  clear(): void {
    this.#latchedAt = undefined;
  }

  get presses(): number {
    return this.#presses;
  }
}
