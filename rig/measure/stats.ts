/**
 * The statistics every check on a measured figure decides with (battery charge, idle
 * current, latency percentiles, throughput, model error): an interval at a stated
 * confidence, never a single point, compared with the limit.
 *
 * - pass: the whole interval is inside the limits;
 * - fail: the whole interval is outside them (the device broke the requirement);
 * - inconclusive: the interval straddles a limit, the data cannot decide. The rig takes more
 *   samples while it may, and if it still cannot decide the case is broken with the figures
 *   (n, estimate, interval, limit), never failed.
 *
 * Means: Student's t interval. Percentiles (p50, p99): the distribution-free interval from
 * order statistics and the binomial distribution (no assumption about the shape: latencies
 * are skewed). Pure functions, no dependencies.
 */
import type { Limits } from './measurement.ts';

/** Default confidence of every interval: two-sided 95 %. */
export const CONFIDENCE = 0.95;

/** A figure with its interval: what a check decides from. */
export interface Estimate {
  /** The point estimate (mean, percentile), shown and trended. */
  value: number;
  /** The interval at `confidence`; infinite ends when the data bound nothing on that side. */
  lo: number;
  hi: number;
  confidence: number;
  /** Samples the estimate rests on. */
  n: number;
  /** How the interval was made, e.g. "t interval of the mean", "order statistics (p99)". */
  method: string;
  /**
   * The samples' own spread, as a standard deviation: theirs (a mean), or the interquartile
   * range / 1.349 (a percentile: the normal-equivalent, robust to outliers). How much one
   * sample varies, where the interval says how well the estimate is known.
   */
  spread?: number;
}

export type Decision = 'pass' | 'fail' | 'inconclusive';

// ---------------------------------------------------------------------------------------
// Special functions

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaFraction(a, b, x)) / a
    : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The t with P(T <= t) = p (bisection on the CDF: exact to ~1e-12, fast enough for a check). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile: df must be positive, got ${df}`);
  if (p === 0.5) return 0;
  let lo = -1;
  let hi = 1;
  while (tCdf(lo, df) > p) lo *= 2;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** P(B <= k) for B ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lnC = (i: number) => logGamma(n + 1) - logGamma(i + 1) - logGamma(n - i + 1);
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(lnC(i) + i * Math.log(p) + (n - i) * Math.log(1 - p));
  return Math.min(1, sum);
}

// ---------------------------------------------------------------------------------------
// Estimates

function finite(xs: readonly number[], what: string): void {
  for (const x of xs) if (!Number.isFinite(x)) throw new RangeError(`${what}: not a finite sample: ${x}`);
}

/**
 * The mean with Student's t interval. One sample bounds nothing (an infinite interval);
 * identical samples give a zero-width interval (the data show no spread).
 */
export function meanInterval(xs: readonly number[], confidence = CONFIDENCE): Estimate {
  finite(xs, 'meanInterval');
  const n = xs.length;
  if (n === 0) throw new RangeError('meanInterval: no samples');
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const method = 't interval of the mean';
  if (n === 1) return { value: mean, lo: -Infinity, hi: Infinity, confidence, n, method };
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const half = tQuantile(1 - (1 - confidence) / 2, n - 1) * Math.sqrt(variance / n);
  return {
    value: mean,
    lo: mean - half,
    hi: mean + half,
    confidence,
    n,
    method,
    spread: Math.sqrt(variance),
  };
}

/**
 * The q-quantile (0.99 for p99) with its distribution-free interval: order statistics
 * X(l) .. X(u) such that P(X(l) <= true quantile <= X(u)) >= confidence, from the
 * binomial count of samples below the quantile. With too few samples an end is infinite
 * (for p99 at 95 % the upper end needs 368 samples, the lower end 2 over it).
 */
export function quantileInterval(xs: readonly number[], q: number, confidence = CONFIDENCE): Estimate {
  finite(xs, 'quantileInterval');
  if (!(q > 0 && q < 1)) throw new RangeError(`quantileInterval: q must be in (0, 1), got ${q}`);
  const n = xs.length;
  if (n === 0) throw new RangeError('quantileInterval: no samples');
  const sorted = [...xs].sort((a, b) => a - b);
  return quantileFromRanks(n, q, (rank) => sorted[rank - 1]!, confidence);
}

/**
 * The ranks (1-based) of the order statistics that bound the q-quantile of n samples at
 * `confidence`: l = 0 or u = n + 1 when the samples bound nothing on that side. Exact (the
 * binomial distribution, in one pass) up to 100 000 samples, the normal approximation above.
 */
export function quantileRanks(n: number, q: number, confidence = CONFIDENCE): { l: number; u: number } {
  const alpha = (1 - confidence) / 2;
  if (n > 100_000) {
    const z = -normalQuantileLow(alpha);
    const sd = Math.sqrt(n * q * (1 - q));
    return {
      l: Math.max(0, Math.floor(n * q - z * sd)),
      u: Math.min(n + 1, Math.ceil(n * q + z * sd) + 1),
    };
  }
  // Lower end X(l): the largest l with P(B <= l - 1) <= alpha; upper end X(u): the smallest
  // u with P(B <= u - 1) >= 1 - alpha (B ~ Binomial(n, q): samples below the quantile).
  let l = 0;
  let u = n + 1;
  let cdf = 0;
  const lnQ = Math.log(q);
  const lnP = Math.log(1 - q);
  const lnN = logGamma(n + 1);
  for (let k = 0; k < n; k++) {
    cdf += Math.exp(lnN - logGamma(k + 1) - logGamma(n - k + 1) + k * lnQ + (n - k) * lnP);
    // cdf = P(B <= k): X(k + 1) is a lower end while it stays <= alpha.
    if (cdf <= alpha) l = k + 1;
    if (cdf >= 1 - alpha) {
      u = k + 1;
      break;
    }
  }
  return { l, u };
}

/** The q-quantile's interval from a count and the value at each rank (a histogram, sorted samples). */
export function quantileFromRanks(
  n: number,
  q: number,
  valueAt: (rank: number) => number,
  confidence = CONFIDENCE,
): Estimate {
  const { l, u } = quantileRanks(n, q, confidence);
  const at = (p: number) => valueAt(Math.min(n, Math.max(1, Math.ceil(p * n))));
  return {
    value: at(q),
    lo: l >= 1 ? valueAt(l) : -Infinity,
    hi: u <= n ? valueAt(u) : Infinity,
    confidence,
    n,
    method: `order statistics of the ${quantileName(q)}, distribution-free`,
    spread: (at(0.75) - at(0.25)) / 1.349,
  };
}

/** The standard normal quantile for a small lower-tail p (Acklam's rational approximation). */
function normalQuantileLow(p: number): number {
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const r = Math.sqrt(-2 * Math.log(p));
  return (
    (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) /
    ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1)
  );
}

/** Nearest-rank percentile of sorted samples (the sample at rank ceil(q n)). */
export function percentileOf(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

function quantileName(q: number): string {
  return q === 0.5 ? 'median' : `p${Number((q * 100).toPrecision(4))}`;
}

/**
 * An estimate carried through a monotone function (a charge per signature into signatures
 * per charge): the ends are mapped and swapped if it decreases.
 */
export function mapEstimate(e: Estimate, f: (x: number) => number, method?: string): Estimate {
  const a = f(e.lo);
  const b = f(e.hi);
  const value = f(e.value);
  // The spread carried to first order: what one spread does to the value.
  const spread = e.spread === undefined ? undefined : Math.abs(f(e.value + e.spread) - value);
  const { spread: _, ...rest } = e;
  return {
    ...rest,
    value,
    lo: Math.min(a, b),
    hi: Math.max(a, b),
    method: method ?? e.method,
    ...(spread !== undefined && Number.isFinite(spread) ? { spread } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Decisions

/** Pass when the whole interval is inside the limits, fail when it is wholly outside. */
export function decide(e: Pick<Estimate, 'lo' | 'hi'>, limits: Limits): Decision {
  const { min, max } = limits;
  if (Number.isNaN(e.lo) || Number.isNaN(e.hi)) return 'inconclusive';
  if ((min !== undefined && e.hi < min) || (max !== undefined && e.lo > max)) return 'fail';
  if ((min === undefined || e.lo >= min) && (max === undefined || e.hi <= max)) return 'pass';
  return 'inconclusive';
}

/** "1.99 µAh [1.95, 2.03] (n = 5, 95 %)", for messages and the report. */
export function formatEstimate(e: Estimate, unit: string): string {
  const f = (x: number) =>
    x === Infinity ? '+inf' : x === -Infinity ? '-inf' : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(4);
  return `${f(e.value)} ${unit}, ${Math.round(e.confidence * 100)} % interval [${f(e.lo)}, ${f(e.hi)}] (n = ${e.n}, ${e.method})`;
}

// ---------------------------------------------------------------------------------------
// Taking enough samples

export interface SequentialOptions {
  /** One sample (a timed exchange, one trial of a charge measurement). */
  take: () => Promise<number>;
  /** The estimate of the samples so far (meanInterval, a quantile interval, ...). */
  estimate: (samples: readonly number[]) => Estimate;
  /** The limits the estimate is decided against; none: `minN` samples are taken. */
  limits?: Limits | undefined;
  /** Samples before the first look. */
  minN: number;
  /** The most samples the check may take; past it an undecided check is inconclusive. */
  maxN: number;
  /** Stop early (e.g. a time budget spent); the decision is made on what was taken. */
  enough?: (samples: readonly number[]) => boolean;
}

export interface SequentialResult {
  samples: number[];
  estimate: Estimate;
  decision: Decision | undefined;
  /** How many times the estimate was looked at (each look may stop the sampling). */
  looks: number;
}

/**
 * Takes samples until the interval decides against the limits, or `maxN`. It looks at
 * `minN`, then each time the count has doubled (few looks: each one is a chance to stop on a
 * fluke), and at `maxN`. Without limits it takes `minN` samples.
 */
export async function sampleUntilDecided(opts: SequentialOptions): Promise<SequentialResult> {
  const { minN, maxN } = opts;
  if (!(Number.isInteger(minN) && minN >= 1 && maxN >= minN)) {
    throw new RangeError(`sampleUntilDecided: need 1 <= minN <= maxN, got ${minN}, ${maxN}`);
  }
  const samples: number[] = [];
  let next = minN;
  let looks = 0;
  for (;;) {
    while (samples.length < next) {
      samples.push(await opts.take());
      if (opts.enough?.(samples)) break;
    }
    looks++;
    const estimate = opts.estimate(samples);
    const decision = opts.limits ? decide(estimate, opts.limits) : undefined;
    const stop = decision !== 'inconclusive' || samples.length >= maxN || (opts.enough?.(samples) ?? false);
    if (stop) return { samples, estimate, decision, looks };
    next = Math.min(maxN, samples.length * 2);
  }
}
