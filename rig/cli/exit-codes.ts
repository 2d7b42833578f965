/**
 * Exit codes of `chiprig run`, a contract with lab scripts and CI jobs:
 * 0 every test passed (skips allowed), 1 a test failed (the device broke a requirement),
 * 2 usage or configuration error (nothing ran), 3 a test was broken (rig, link or
 * instrument fault) and none failed — also when the device cannot be reached at all.
 */
export const EXIT = { PASSED: 0, FAILED: 1, USAGE: 2, BROKEN: 3 } as const;
