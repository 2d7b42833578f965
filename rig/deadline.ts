/**
 * `run`, or the error `late()` makes if it has not settled within `ms`: for a call into a
 * stack that may itself hang (a BLE connect, a PC/SC reconnect). The timer never outlives
 * the call; an abandoned call's late failure is swallowed.
 */
export function withDeadline<T>(run: Promise<T>, ms: number, late: () => Error): Promise<T> {
  run.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    run.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
