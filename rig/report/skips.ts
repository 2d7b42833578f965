/**
 * Why a test was skipped, by mocha test: the suites record it, the console reporter
 * prints it (mocha's pending event carries no reason).
 */
export const skipReasons = new WeakMap<object, string>();
