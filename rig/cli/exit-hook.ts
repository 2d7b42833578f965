/**
 * What must still happen when the process ends early because its output is gone (stdout or
 * stderr closed: `| head`, or the chiprig serve that reads a run's output was killed): a run
 * marks itself interrupted in the results database first.
 */
let hook: (() => Promise<void>) | undefined;
let ending = false;

export function setEarlyExitHook(h: (() => Promise<void>) | undefined): void {
  hook = h;
}

/** Ends the process after the hook (at most 5 s). */
export function exitEarly(code: number): void {
  // Already ending: the hook under way exits when it is done.
  if (ending) return;
  ending = true;
  const h = hook;
  hook = undefined;
  if (!h) process.exit(code);
  const timer = setTimeout(() => process.exit(code), 5000);
  void h()
    .catch(() => undefined)
    .finally(() => {
      clearTimeout(timer);
      process.exit(code);
    });
}
