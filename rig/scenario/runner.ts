import { createHash } from 'node:crypto';
import { isAbsolute, relative } from 'node:path';
import { fromHex, hex, u32be } from '../bytes.ts';
import { ChiprigError, CtapHidError, deviceFault } from '../errors.ts';
import { settle } from '../instruments/chamber.ts';
import { hostRandomBytes } from '../random.ts';
import { attachTraffic, flushSteps, scenarioStep } from '../report/allure.ts';
import type { Station } from '../station/station.ts';
import { BleError } from '../transport/ble/ble-error.ts';
import { CTAPHID } from '../transport/hid/framing.ts';
import { parseResponse, SW } from '../transport/nfc/apdu.ts';
import { AUTH_P1 } from '../u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../u2f/messages.ts';
import { authenticationSignatureValid, registrationSignatureValid } from '../u2f/signatures.ts';
import type { U2fClient } from '../u2f/u2f-client.ts';
import type { LoadedScenario, LoadedStep } from './load.ts';
import type { Step } from './schema.ts';

/** What a scenario needs of the test it runs in (suites/support/conformance.ts CaseContext). */
export interface ScenarioContext {
  station: Station;
  skip(reason: string): never;
  observe(what: string): void;
}

type Value = Uint8Array | number;

interface Run {
  station: Station;
  ctx: ScenarioContext;
  loaded: LoadedScenario;
  u2f: U2fClient;
  vars: Map<string, Value>;
  /** Credentials registered in this scenario, by key handle (hex): their key and app. */
  credentials: Map<string, { publicKey: Uint8Array; appParam: Uint8Array }>;
}

/** What one step saw, for its expectations and captures. */
interface Answer {
  sw?: number;
  data?: Uint8Array;
  fields?: Partial<Record<'keyHandle' | 'publicKey' | 'certificate' | 'signature', Uint8Array>> & {
    counter?: number;
    flags?: number;
  };
  error?: number;
  /** A raw report or frame got no answer. */
  none?: boolean;
  found?: boolean;
  pairingMode?: boolean;
  ms?: number;
}

const PAIRING_BIT = 0x80;

/**
 * Runs a scenario's steps in order, each an Allure step with its own traffic. A failed
 * expectation is a device failure naming the step, its line and the bytes; a lab action
 * the station cannot do skips the scenario with the reason.
 */
export async function runScenario(loaded: LoadedScenario, ctx: ScenarioContext): Promise<void> {
  const { station } = ctx;
  const transport = loaded.scenario.transport;
  if (!station.transports.includes(transport)) {
    ctx.skip(
      `the scenario runs over ${transport}; ${station.deviceSpec.text} on this station has ${station.transports.join(', ')}`,
    );
  }
  const run: Run = {
    station,
    ctx,
    loaded,
    u2f: await station.u2fOver(transport),
    vars: new Map(),
    credentials: new Map(),
  };
  await runSteps(run, loaded.steps, '');
}

async function runSteps(run: Run, steps: readonly LoadedStep[], round: string): Promise<void> {
  for (const ls of steps) {
    const where = `step ${ls.label} (${shown(run.loaded.file)}:${ls.line}${round})`;
    await scenarioStep(`${where}: ${describe(ls.step, ls.action)}`, async () => {
      const from = run.station.traffic.size;
      try {
        if (ls.action === 'repeat') {
          for (let i = 1; i <= ls.step.repeat!.count; i++) {
            run.vars.set('i', i);
            await runSteps(run, ls.children!, `${round}, round ${i}`);
          }
          return;
        }
        if (run.loaded.scenario.transport === 'hid')
          run.vars.set('cid', u32be((await run.station.hid()).cid));
        const answer = await execute(run, ls.step, ls.action, where);
        check(run, ls.step, ls.action, answer, where);
        capture(run, ls.step, answer);
      } catch (error) {
        throw located(error, where);
      } finally {
        // Notes logged during the step first, so the traffic lands in the step itself.
        await flushSteps();
        if (ls.action !== 'repeat') await attachTraffic(run.station.traffic.entriesSince(from), 0);
      }
    });
  }
}

async function execute(run: Run, step: Step, action: string, where: string): Promise<Answer> {
  const { station, ctx, u2f } = run;
  const transport = run.loaded.scenario.transport;
  const timed = async (send: () => Promise<Answer>): Promise<Answer> => {
    const started = performance.now();
    const answer = await send();
    return { ...answer, ms: performance.now() - started };
  };
  const apduAnswer = (r: { sw: number; data: Uint8Array }): Answer => ({ sw: r.sw, data: r.data });
  switch (action) {
    case 'version': {
      const form = step.version === 'legacy' ? 'legacy' : 'iso';
      return timed(async () => apduAnswer(await u2f.send(encodeVersion(form))));
    }
    case 'register': {
      const app = value(run, step.register?.app ?? 'random');
      const challenge = value(run, step.register?.challenge ?? 'random');
      const p1 = step.register?.p1;
      const apdu = encodeRegister(challenge, app, p1 === undefined ? {} : { p1 });
      const answer = await timed(async () =>
        apduAnswer(
          presenceFor(step, transport) ? await u2f.sendWithPresence(apdu, 'REGISTER') : await u2f.send(apdu),
        ),
      );
      if (answer.sw === SW.NO_ERROR) {
        const r = parseRegisterResponse(answer.data!);
        if (!registrationSignatureValid(app, challenge, r)) {
          throw deviceFault(
            `${where}: the registration signature does not verify with the attestation certificate's key`,
            {
              actual: hex(r.signature),
            },
          );
        }
        run.credentials.set(hex(r.keyHandle), { publicKey: r.userPublicKey, appParam: app });
        answer.fields = {
          keyHandle: r.keyHandle,
          publicKey: r.userPublicKey,
          certificate: r.certificate,
          signature: r.signature,
        };
      }
      return answer;
    }
    case 'authenticate': {
      const a = step.authenticate!;
      const keyHandle = value(run, a.keyHandle);
      const known = run.credentials.get(hex(keyHandle));
      const app = a.app ? value(run, a.app) : (known?.appParam ?? hostRandomBytes(32));
      const challenge = value(run, a.challenge ?? 'random');
      const mode = a.mode ?? 'enforce';
      const p1 =
        mode === 'enforce'
          ? AUTH_P1.ENFORCE
          : mode === 'check-only'
            ? AUTH_P1.CHECK_ONLY
            : AUTH_P1.DONT_ENFORCE;
      const apdu = encodeAuthenticate(p1, challenge, app, keyHandle);
      const press = mode === 'enforce' && presenceFor(step, transport);
      const answer = await timed(async () =>
        apduAnswer(press ? await u2f.sendWithPresence(apdu, 'AUTHENTICATE') : await u2f.send(apdu)),
      );
      if (answer.sw === SW.NO_ERROR) {
        const r = parseAuthenticateResponse(answer.data!);
        if (known && !authenticationSignatureValid(known.publicKey, app, challenge, r)) {
          throw deviceFault(
            `${where}: the authentication signature does not verify with the registered key`,
            {
              actual: hex(r.signature),
            },
          );
        }
        if (!known)
          ctx.observe(`${where}: key handle not registered in this scenario; signature not verified`);
        answer.fields = { counter: r.counter, flags: r.flags, signature: r.signature };
      }
      return answer;
    }
    case 'apdu':
      return timed(async () => apduAnswer(await u2f.send(value(run, step.apdu!))));
    case 'raw-apdu': {
      const nfc = await station.nfc();
      return timed(async () =>
        apduAnswer(parseResponse(await nfc.transmitRaw(value(run, step['raw-apdu']!)))),
      );
    }
    case 'ctaphid':
    case 'ble': {
      const c = action === 'ctaphid' ? step.ctaphid! : step.ble!;
      const cmd = typeof c.cmd === 'number' ? c.cmd : CTAPHID[c.cmd as keyof typeof CTAPHID];
      const data = c.data ? value(run, c.data) : new Uint8Array(0);
      const link = action === 'ctaphid' ? await station.hid() : await station.ble();
      return timed(async () => {
        try {
          return { data: await link.call(cmd, data) };
        } catch (error) {
          if (error instanceof CtapHidError || error instanceof BleError) return { error: error.errorCode };
          throw error;
        }
      });
    }
    case 'hid-report': {
      const r = step['hid-report']!;
      const report = new Uint8Array(64);
      const bytes = value(run, r.report);
      if (bytes.length > 64)
        throw new ChiprigError('SCENARIO', `${where}: a report holds 64 bytes, not ${bytes.length}`);
      report.set(bytes);
      const connection = (await station.hid()).connection;
      return timed(async () => {
        station.traffic.record('send', 'hid', report, 'raw report');
        await connection.write(report);
        const got = await connection.read(r.waitMs ?? 1000);
        if (got) station.traffic.record('recv', 'hid', got);
        return got ? { data: got } : { none: true };
      });
    }
    case 'ble-frame': {
      const f = step['ble-frame']!;
      const ble = await station.ble();
      const frame = value(run, f.frame);
      return timed(async () => {
        await ble.sendRaw(frame);
        const got = await ble.nextNotification(f.waitMs ?? 1000);
        return got ? { data: got } : { none: true };
      });
    }
    case 'press':
      await station.presence.request(`scenario ${where}`);
      return {};
    case 'power-cycle':
      if (station.canPowerCycle) await station.powerCycle();
      else {
        const power = (await station.openInstruments()).power;
        if (!power) ctx.skip(`${where}: the station cannot cut the chip's power (no power switch)`);
        await station.setPower(false);
        await station.setPower(true);
      }
      return {};
    case 'tap':
      await station.fieldCycle();
      return {};
    case 'chamber': {
      const { chamber, chamberSettle } = await station.openInstruments();
      if (!chamber) return ctx.skip(`${where}: the station has no climate chamber (instruments.chamber)`);
      const reading = await settle(chamber, {
        timeoutMs: 2 * 3_600_000,
        toleranceC: 1,
        soakMs: 0,
        ...chamberSettle,
        target: step.chamber!.celsius,
      });
      ctx.observe(`${where}: chamber settled at ${reading} C`);
      return {};
    }
    case 'wait':
      await new Promise((resolve) => setTimeout(resolve, durationMs(step.wait!)));
      return {};
    case 'pairing-mode':
      if (!station.canSetPairingMode) {
        ctx.skip(
          `${where}: the rig cannot put ${station.deviceSpec.text} in or out of pairing mode (hold its button by hand)`,
        );
      }
      station.setPairingMode(step['pairing-mode']!);
      return {};
    case 'scan': {
      const ads = await station.bleScan(step.scan?.timeoutMs ?? 3000);
      const spec = station.deviceSpec;
      const target = (
        spec.kind === 'ble' ? spec.target : (station.emulator?.blePeripheral().address ?? '')
      ).toLowerCase();
      const ad = ads.find(
        (a) =>
          !target ||
          a.address.toLowerCase() === target ||
          a.localName?.toLowerCase() === target ||
          a.id === target.replaceAll(':', ''),
      );
      const flags = ad?.serviceData.find((d) => d.uuid === 'fffd')?.data[0] ?? 0;
      return { found: ad !== undefined, pairingMode: (flags & PAIRING_BIT) !== 0 };
    }
  }
  throw new ChiprigError('SCENARIO', `${where}: unknown action ${action}`);
}

/** Presence is given on USB and BLE unless the step says none; on NFC the tap is the presence. */
function presenceFor(step: Step, transport: string): boolean {
  return (step.presence ?? (transport === 'nfc' ? 'none' : 'press')) === 'press';
}

/** The step's expectations, and those its operation always has. */
function check(run: Run, step: Step, action: string, a: Answer, where: string): void {
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

function capture(run: Run, step: Step, a: Answer): void {
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

function number(run: Run, v: number | string): number {
  if (typeof v === 'number') return v;
  const got = run.vars.get(v.slice(2, -1));
  if (typeof got !== 'number') throw new ChiprigError('SCENARIO', `${v} does not hold a number`);
  return got;
}

function durationMs(d: number | string): number {
  if (typeof d === 'number') return d;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(d)!;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** The step's text in the report: its action and the values that matter. */
function describe(step: Step, action: string): string {
  const short = (v: string | undefined) => (v === undefined ? '' : v.length > 40 ? `${v.slice(0, 36)}…` : v);
  const name = step.name ? ` "${step.name}"` : '';
  switch (action) {
    case 'register':
      return `register${name} app ${short(step.register?.app ?? 'random')}${step.presence === 'none' ? ', no press' : ''}`;
    case 'authenticate':
      return `authenticate${name} ${step.authenticate?.mode ?? 'enforce'}, key handle ${short(step.authenticate?.keyHandle)}${step.presence === 'none' ? ', no press' : ''}`;
    case 'apdu':
    case 'raw-apdu':
      return `${action}${name} ${short(step[action])}`;
    case 'ctaphid':
    case 'ble': {
      const c = action === 'ctaphid' ? step.ctaphid! : step.ble!;
      return `${action}${name} ${typeof c.cmd === 'number' ? `0x${c.cmd.toString(16)}` : c.cmd} ${short(c.data)}`;
    }
    case 'hid-report':
      return `hid-report${name} ${short(step['hid-report']!.report)}`;
    case 'ble-frame':
      return `ble-frame${name} ${short(step['ble-frame']!.frame)}`;
    case 'chamber':
      return `chamber${name} to ${step.chamber!.celsius} C`;
    case 'wait':
      return `wait${name} ${step.wait}`;
    case 'pairing-mode':
      return `pairing mode${name} ${step['pairing-mode'] ? 'on' : 'off'}`;
    case 'repeat':
      return `repeat${name} ${step.repeat!.count} times`;
    default:
      return `${action}${name}`;
  }
}

/** The step's place in front of an error's message (device failures and link faults alike). */
function located(error: unknown, where: string): unknown {
  if (error instanceof Error && error.constructor.name !== 'Pending' && !error.message.startsWith('step ')) {
    error.message = error.message.startsWith(where) ? error.message : `${where}: ${error.message}`;
  }
  return error;
}

/** A scenario file as the report shows it: relative to the working folder when inside it. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}
