/**
 * Runs callbacks at precise `performance.now()` instants, for the emulated links' timing
 * models. libuv timers have millisecond granularity and usually fire late, which alone would
 * break the models' 0.2 ms accuracy; so a timer covers the bulk of a wait and the last
 * stretch is polled with setImmediate, which yields to I/O between polls. The poll burns
 * CPU for at most SPIN_MS per due job, and only while a timed link has something in flight.
 */

/** Below this much waiting, poll instead of arming a timer. */
const SPIN_MS = 2;
/**
 * Below this much waiting, and with nothing else to run, wait in a tight loop: one turn of
 * the event loop can take 0.1 ms on a busy virtual machine, half the models' tolerance.
 */
const BUSY_MS = 0.3;

interface Job {
  at: number;
  seq: number;
  run: () => void;
}

const now = () => performance.now();

export class PreciseScheduler {
  /** Pending jobs, sorted by time, then by order of scheduling (FIFO for equal times). */
  readonly #jobs: Job[] = [];
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #polling = false;

  get pending(): number {
    return this.#jobs.length;
  }

  /** Runs `run` at `atMs` (performance.now() time base), or as soon as possible if past. */
  at(atMs: number, run: () => void): void {
    const job: Job = { at: atMs, seq: this.#seq++, run };
    let i = this.#jobs.length;
    while (i > 0 && this.#jobs[i - 1]!.at > atMs) i--;
    this.#jobs.splice(i, 0, job);
    this.#wake();
  }

  #wake(): void {
    if (this.#polling) return;
    const first = this.#jobs[0];
    if (!first) return;
    const wait = first.at - now();
    if (wait <= SPIN_MS) {
      this.#polling = true;
      setImmediate(this.#poll);
      return;
    }
    const timerAt = first.at - SPIN_MS;
    if (this.#timer !== undefined && this.#timerAt <= timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = timerAt;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, timerAt - now()));
  }

  #onTimer = () => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#wake();
  };

  #poll = () => {
    this.#polling = false;
    let ran = this.#runDue();
    const next = this.#jobs[0];
    if (ran === 0 && next !== undefined && next.at - now() <= BUSY_MS) {
      // Nothing ran this turn, so no reaction to a delivery is waiting: hold the loop for
      // the last fraction of a millisecond and run the job on time.
      while (now() < next.at) {
        // busy wait (bounded by BUSY_MS)
      }
      ran = this.#runDue();
    }
    // Return to the event loop after running anything, so what a delivery set off (the
    // host's promise continuations, I/O) happens before the next job.
    this.#wake();
  };

  #runDue(): number {
    const t = now();
    let ran = 0;
    while (this.#jobs.length > 0 && this.#jobs[0]!.at <= t) {
      const job = this.#jobs.shift()!;
      ran++;
      try {
        job.run();
      } catch (error) {
        // One link's failure must not stop the clock for the others, nor the process.
        process.stderr.write(`chiprig: emulated link timing: ${(error as Error)?.stack ?? error}\n`);
      }
    }
    return ran;
  }
}

/** The one clock every emulated link shares, so their jobs interleave in time order. */
export const linkClock = new PreciseScheduler();
