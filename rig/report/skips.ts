/**
 * Why a test was skipped, by mocha test: the suites record it, the console reporter
 * prints it (mocha's pending event carries no reason).
 */
export const skipReasons = new WeakMap<object, string>();

/**
 * The advisory breaches of tests that passed in mocha, by mocha test: the console, JUnit
 * and the matrix show them as their own outcome (fixtures/requirements.yaml, strength
 * advisory). Under --strict they fail instead and are not recorded here.
 */
export const advisoryBreaches = new WeakMap<object, string>();
