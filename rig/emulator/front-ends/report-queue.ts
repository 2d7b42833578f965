/**
 * Input reports waiting for `read`, with the HidConnection read semantics: a queued report
 * resolves at once, otherwise the reader waits up to its timeout and gets `undefined`.
 *
 * Why one long-lived timer instead of setTimeout per read: the emulated round trip is
 * benchmarked against the raw P-256 sign rate, so a read that is satisfied by a promise
 * resolution must not pay for creating and clearing a timer. The timer is armed at most once
 * per timeout period, checks the waiter's real deadline when it fires, and is unref'd
 * whenever nobody waits, so it never keeps the process alive.
 */
interface Waiter {
  resolve: (report: Uint8Array | undefined) => void;
  reject: (error: unknown) => void;
  deadline: number;
}

const now = () => performance.now();

export class ReportQueue {
  #items: Uint8Array[] = [];
  #head = 0;
  #waiter: Waiter | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(report: Uint8Array): void {
    const waiter = this.#waiter;
    if (waiter === undefined) {
      this.#items.push(report);
      return;
    }
    this.#waiter = undefined;
    this.#timer?.unref();
    waiter.resolve(report);
  }

  /** The oldest queued report, or undefined when none is queued. */
  shift(): Uint8Array | undefined {
    if (this.#head === this.#items.length) return undefined;
    const report = this.#items[this.#head++];
    if (this.#head === this.#items.length) {
      this.#items.length = 0; // drained: reuse the array rather than allocate one per answer
      this.#head = 0;
    }
    return report;
  }

  take(timeoutMs: number): Promise<Uint8Array | undefined> {
    if (this.#head < this.#items.length) return Promise.resolve(this.shift());
    if (this.#waiter !== undefined) return Promise.reject(new Error('read: another read is already pending'));
    if (timeoutMs <= 0) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const deadline = now() + timeoutMs;
      this.#waiter = { resolve, reject, deadline };
      this.#arm(deadline);
    });
  }

  /** Drops queued reports and rejects a waiting reader (unplug, close). */
  fail(error: unknown): void {
    this.clear();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    this.#timer?.unref();
    waiter?.reject(error);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined && this.#timerAt <= deadline) {
      this.#timer.ref(); // fires first; re-arms for the rest then
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, deadline - now()));
  }

  #onTimer = () => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    // 1 ms slack: libuv's millisecond clock may fire a fraction before performance.now() agrees.
    if (now() < waiter.deadline - 1) return this.#arm(waiter.deadline);
    this.#waiter = undefined;
    waiter.resolve(undefined);
  };
}
