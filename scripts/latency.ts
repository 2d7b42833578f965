import { SW } from '../rig/transport/nfc/apdu.ts';
import type { ApduResponse } from '../rig/u2f/u2f-client.ts';

/**
 * Times `samples` runs of one U2F exchange and returns a report row with p50, p99 and max.
 * Every answer must be 9000: a failed exchange is not a latency.
 */
export async function latencyRow(
  what: string,
  samples: number,
  run: () => Promise<ApduResponse>,
): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const r = await run();
    times.push(performance.now() - t);
    if (r.sw !== SW.NO_ERROR) throw new Error(`${what} answered ${r.sw.toString(16)}`);
  }
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!;
  const f = (ms: number) => `${ms.toFixed(3)} ms`.padStart(11);
  return `  ${what.padEnd(13)} p50 ${f(at(50))}  p99 ${f(at(99))}  max ${f(times.at(-1)!)}  (n=${samples})`;
}
