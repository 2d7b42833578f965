/** What the property tests share: how many cases, the byte arbitrary, and stream cutting. */
import fc from 'fast-check';

/** Generated cases per property in npm test (CHIPRIG_PROPERTY_RUNS to run more or fewer). */
export const RUNS =
  Number(process.env.CHIPRIG_PROPERTY_RUNS) > 0 ? Number(process.env.CHIPRIG_PROPERTY_RUNS) : 2000;

/** Short and long inputs alike: fast-check's default size keeps arrays short. */
export const bytes = (maxLength: number) =>
  fc.oneof(fc.uint8Array({ maxLength }), fc.uint8Array({ maxLength, size: 'max' }));

export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Cuts `stream` at the given points (taken modulo its length) into chunks, in order. */
export function cut(stream: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...points, stream.length]) {
    out.push(stream.slice(from, to));
    from = to;
  }
  return out;
}
