/** The values a scenario file writes: bytes, variables captured by earlier steps, durations. */
import { createHash } from 'node:crypto';
import { fromHex, hex } from '../bytes.ts';
import { ChiprigError } from '../errors.ts';
import { hostRandomBytes } from '../random.ts';
import type { Run } from './action.ts';

/** Bytes from a value string (schema.ts): hex, sha256:, text:, random[:N], with ${name} substituted. */
export function value(run: Pick<Run, 'vars'>, text: string): Uint8Array {
  const t = substitute(run, text);
  if (t.startsWith('sha256:'))
    return new Uint8Array(createHash('sha256').update(t.slice(7), 'utf8').digest());
  if (t.startsWith('text:')) return new TextEncoder().encode(t.slice(5));
  const random = /^random(?::(\d+))?$/.exec(t);
  if (random) return hostRandomBytes(Number(random[1] ?? 32));
  const bare = t.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(bare)) throw new ChiprigError('SCENARIO', `"${text}" is not hex bytes`);
  return fromHex(bare.toLowerCase());
}

function substitute(run: Pick<Run, 'vars'>, text: string): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const v = run.vars.get(name);
    if (v === undefined) throw new ChiprigError('SCENARIO', `\${${name}} has no value yet`);
    if (typeof v !== 'number') return hex(v);
    let h = v.toString(16);
    if (h.length % 2) h = `0${h}`;
    return h;
  });
}

/** A number, or the number a variable (`${name}`) holds. */
export function number(run: Pick<Run, 'vars'>, v: number | string): number {
  if (typeof v === 'number') return v;
  const got = run.vars.get(v.slice(2, -1));
  if (typeof got !== 'number') throw new ChiprigError('SCENARIO', `${v} does not hold a number`);
  return got;
}

/** Milliseconds from a number of ms or "250ms" / "1.5s". */
export function durationMs(d: number | string): number {
  if (typeof d === 'number') return d;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(d)!;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}
