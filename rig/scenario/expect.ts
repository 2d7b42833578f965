/** A step's expectations (and those its operation always has), and its captures. */
import { hex } from '../bytes.ts';
import { deviceFault } from '../errors.ts';
import type { Answer, Run } from './action.ts';
import type { Step } from './schema.ts';
import { number, value } from './values.ts';

/** The step's expectations, and those its operation always has. */
export function check(run: Run, step: Step, action: string, a: Answer, where: string): void {
  const e = step.expect ?? {};
  const fail = (what: string, actual: unknown, expected: unknown): never => {
    throw deviceFault(`${where}: ${what}${a.data ? ` (response data ${hex(a.data) || 'empty'})` : ''}`, {
      actual,
      expected,
    });
  };
  if (a.sw !== undefined) {
    const defaultSw =
      action === 'authenticate' && step.authenticate?.mode === 'check-only'
        ? '6985'
        : ['version', 'register', 'authenticate'].includes(action)
          ? '9000'
          : undefined;
    const allowed = (e.sw === undefined ? (defaultSw ? [defaultSw] : []) : [e.sw].flat()).map((s) =>
      s.toUpperCase(),
    );
    const sw = a.sw.toString(16).padStart(4, '0').toUpperCase();
    if (allowed.length > 0 && !allowed.includes(sw)) {
      fail(
        `expected status word ${allowed.join(' or ')}, the device answered ${sw}`,
        sw,
        allowed.join(' or '),
      );
    }
  }
  if (e.error !== undefined || a.error !== undefined) {
    const got = a.error === undefined ? 'an answer' : `ERROR 0x${a.error.toString(16).padStart(2, '0')}`;
    const want = e.error === undefined ? 'an answer' : `ERROR 0x${e.error.toString(16).padStart(2, '0')}`;
    if (got !== want) fail(`expected ${want}, the device answered ${got}`, got, want);
  }
  if (e.none !== undefined && (a.none === true) !== e.none) {
    fail(e.none ? 'expected no answer, one came' : 'expected an answer, none came', a.none === true, e.none);
  }
  if (e.data && !a.data && a.none) fail('expected an answer, none came', 'nothing', 'data');
  if (e.data && a.data) {
    const h = hex(a.data).toUpperCase();
    if (e.data.exact !== undefined) {
      const want = hex(value(run, e.data.exact)).toUpperCase();
      if (h !== want) fail('the response data differs', h, want);
    }
    const length = e.data.length;
    if (typeof length === 'number' && a.data.length !== length) {
      fail(`expected ${length} bytes of data, got ${a.data.length}`, a.data.length, length);
    }
    if (typeof length === 'object') {
      if (
        (length.min !== undefined && a.data.length < length.min) ||
        (length.max !== undefined && a.data.length > length.max)
      ) {
        fail(
          `expected ${length.min ?? 0}..${length.max ?? '∞'} bytes of data, got ${a.data.length}`,
          a.data.length,
          length,
        );
      }
    }
    if (e.data.pattern !== undefined && !new RegExp(e.data.pattern).test(h)) {
      fail(`the response data does not match /${e.data.pattern}/`, h, e.data.pattern);
    }
  }
  if (e.maxMs !== undefined && a.ms !== undefined && a.ms > e.maxMs) {
    fail(`took ${a.ms.toFixed(1)} ms, more than ${e.maxMs} ms`, a.ms, e.maxMs);
  }
  const f = a.fields;
  if (e.flags !== undefined && f?.flags !== undefined && f.flags !== e.flags) {
    fail(
      `expected flags 0x${e.flags.toString(16).padStart(2, '0')}, got 0x${f.flags.toString(16).padStart(2, '0')}`,
      f.flags,
      e.flags,
    );
  }
  if (e.counter && f?.counter !== undefined) {
    if (e.counter.above !== undefined) {
      const n = number(run, e.counter.above);
      if (!(f.counter > n)) fail(`expected the counter above ${n}, got ${f.counter}`, f.counter, `> ${n}`);
    }
    if (e.counter.equals !== undefined) {
      const n = number(run, e.counter.equals);
      if (f.counter !== n) fail(`expected the counter ${n}, got ${f.counter}`, f.counter, n);
    }
  }
  if ((e.found ?? (action === 'scan' ? true : undefined)) !== undefined && a.found !== undefined) {
    const want = e.found ?? true;
    if (a.found !== want) {
      fail(want ? 'the device does not advertise FIDO (FFFD)' : 'the device still advertises', a.found, want);
    }
  }
  if (e.pairingMode !== undefined && a.found && a.pairingMode !== e.pairingMode) {
    fail(`expected the pairing bit ${e.pairingMode ? 'set' : 'clear'}`, a.pairingMode, e.pairingMode);
  }
}

/** Sets the variables the step captures from what it saw. */
export function capture(run: Run, step: Step, a: Answer): void {
  for (const [name, field] of Object.entries(step.capture ?? {})) {
    const v = field === 'data' ? a.data : field === 'sw' ? a.sw : a.fields?.[field];
    if (v === undefined) {
      throw deviceFault(
        `capture ${name}: the answer has no ${field} (status word ${a.sw?.toString(16) ?? 'none'})`,
      );
    }
    run.vars.set(name, v);
  }
}
