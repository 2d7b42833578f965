import { createHash, randomBytes } from 'node:crypto';

/**
 * The rig's own random choices (challenges, application parameters, INIT nonces, mutated
 * key handles). Normally they come from the OS. While a run is recorded or replayed they
 * come from a deterministic stream instead, seeded per test from the recording's seed, so
 * the host sends the same bytes again and a replay can match them one for one.
 */
let stream: { seed: Uint8Array; label: string; block: Uint8Array; used: number; counter: number } | undefined;

/** Fixes the stream for `label` (a test's full title, or "(station)") under `seed`; undefined: the OS again. */
export function seedHostRandom(seed: Uint8Array | undefined, label = '(station)'): void {
  stream = seed ? { seed, label, block: new Uint8Array(0), used: 0, counter: 0 } : undefined;
}

export function hostRandomBytes(n: number): Uint8Array {
  if (!stream) return new Uint8Array(randomBytes(n));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; ) {
    if (stream.used === stream.block.length) {
      // SHA-256(seed ‖ label ‖ counter): a plain counter-mode stream, enough for test inputs.
      const h = createHash('sha256')
        .update(stream.seed)
        .update(stream.label)
        .update(String(stream.counter++));
      stream.block = new Uint8Array(h.digest());
      stream.used = 0;
    }
    const take = Math.min(n - i, stream.block.length - stream.used);
    out.set(stream.block.subarray(stream.used, stream.used + take), i);
    stream.used += take;
    i += take;
  }
  return out;
}

/** A uniform integer in [0, below). */
export function hostRandomInt(below: number): number {
  const b = hostRandomBytes(4);
  const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  return Math.floor((v / 2 ** 32) * below);
}
