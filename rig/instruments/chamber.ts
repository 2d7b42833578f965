/**
 * A temperature step on any climate chamber: write the set point, wait until the chamber's
 * reading has stayed inside the tolerance band for the soak time, or give up at the
 * timeout with an InstrumentError that names the target and the last reading.
 */
import { InstrumentError } from '../errors.ts';
import type { ClimateChamber } from './roles.ts';

export interface SettleOptions {
  target: number;
  /** Band around the target the reading must stay in, C (default 1). */
  toleranceC?: number;
  /** How long the reading must stay in the band, ms (default 0). */
  soakMs?: number;
  /** Give up after this long, ms. */
  timeoutMs: number;
  /** Reading interval, ms (default 250). */
  pollMs?: number;
  /** Told of each reading (live progress on long steps). */
  onReading?: (celsius: number, elapsedMs: number) => void;
}

export async function settle(chamber: ClimateChamber, opts: SettleOptions): Promise<number> {
  const tolerance = opts.toleranceC ?? 1;
  const soakMs = opts.soakMs ?? 0;
  const pollMs = opts.pollMs ?? 250;
  await chamber.setSetPoint(opts.target);
  const started = performance.now();
  let inBandSince: number | undefined;
  let last = Number.NaN;
  for (;;) {
    last = await chamber.readTemperature();
    const now = performance.now();
    opts.onReading?.(last, now - started);
    if (Math.abs(last - opts.target) <= tolerance) {
      inBandSince ??= now;
      if (now - inBandSince >= soakMs) return last;
    } else {
      inBandSince = undefined;
    }
    if (now - started >= opts.timeoutMs) {
      throw new InstrumentError(
        'TIMEOUT',
        `${chamber.name}: did not hold ${opts.target} C ±${tolerance} for ${soakMs} ms within ${Math.round(opts.timeoutMs / 1000)} s (last reading ${last} C); check the chamber and its door`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
