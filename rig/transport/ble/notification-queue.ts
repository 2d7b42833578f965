import { TransportError } from '../../errors.ts';

/**
 * Buffers fidoStatus notifications between the GATT callback (push) and the transport's
 * reader (next). Notifications arrive whether or not anyone is reading; nothing is lost.
 * A failure (the link went away) rejects the pending and every later read.
 */
export class NotificationQueue {
  readonly #items: Uint8Array[] = [];
  #waiter: ((value: Uint8Array | undefined | Error) => void) | undefined;
  #failure: Error | undefined;

  get size(): number {
    return this.#items.length;
  }

  push(value: Uint8Array): void {
    if (this.#failure) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter(value);
    } else this.#items.push(value);
  }

  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(error);
  }

  /** Drops and returns everything buffered (stale frames of an abandoned exchange). */
  drain(): Uint8Array[] {
    return this.#items.splice(0);
  }

  /** The next notification, or undefined when `timeoutMs` passes first. One reader at a time. */
  next(timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    const ready = this.#items.shift();
    if (ready) return Promise.resolve(ready);
    if (signal?.aborted) return Promise.reject(cancelled());
    if (timeoutMs <= 0) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const finish = (value: Uint8Array | undefined | Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.#waiter === finish) this.#waiter = undefined;
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      const onAbort = () => finish(cancelled());
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = finish;
    });
  }
}

function cancelled(): TransportError {
  return new TransportError('CANCELLED', 'FIDO BLE call cancelled');
}
