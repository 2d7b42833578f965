/**
 * Signing throughput for `npm run bench`: the raw node:crypto P-256 sign rate beside
 * enforce AUTHENTICATE round trips through the full rig over each of the emulated chip's
 * links with zero link delay (USB HID, the in-process NFC reader, BLE through noble with
 * in-process bindings), each with a press from the station's actuator, traffic logging off.
 *
 * The tasks alternate over several short rounds and each ratio is the median of the
 * per-round ratios, so a shared machine whose speed drifts does not skew it. Only
 * signatures verified afterwards count; verification stays out of the timed loop.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { Bench } from 'tinybench';
import { Station } from '../rig/station/station.ts';
import { SW } from '../rig/transport/nfc/apdu.ts';
import type { TransportKind } from '../rig/transport/transport.ts';
import { AUTH_P1 } from '../rig/u2f/apdu.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  parseAuthenticateResponse,
  type RegisterResponse,
} from '../rig/u2f/messages.ts';
import { p256KeyObject } from '../rig/u2f/verify.ts';

export interface ThroughputFigures {
  rounds: number;
  /** Operations per second per task, one figure per round. */
  rates: Record<string, number[]>;
  /** Per-round ratio of each transport's rate to the raw sign rate measured just before it. */
  ratios: Record<string, number[]>;
  verified: number;
  collected: number;
  notKept: number;
}

export const RAW_SIGN = 'node:crypto P-256 sign';
// Each timed sample does BATCH operations so the harness's own per-call cost (larger for
// async functions) does not count against either side.
const BATCH = 10;
const SLOT = 80; // flags 1 + counter 4 + DER signature <= 72 + 1 length byte
const POOL = 300_000;

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchThroughput(
  kinds: readonly TransportKind[],
  rounds: number,
  timeMs: number,
): Promise<ThroughputFigures> {
  const station = await Station.open();
  station.traffic.enabled = false;
  const app = Uint8Array.from(randomBytes(32));
  const chal = Uint8Array.from(randomBytes(32));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const message = randomBytes(69); // app ‖ flags ‖ counter ‖ chal, as the chip signs

  // Answers go into one preallocated pool (no per-answer objects kept alive, which would
  // make later rounds pay for a growing heap).
  const pool = new Uint8Array(POOL * SLOT);
  let collected = 0;
  let notKept = 0;
  const registrations = new Map<TransportKind, RegisterResponse>();
  const tasks: Record<string, () => unknown> = {
    [RAW_SIGN]: () => {
      for (let i = 0; i < BATCH; i++) sign('sha256', message, key);
    },
  };
  const names = new Map<TransportKind, string>();
  for (const kind of kinds) {
    const u2f = await station.u2fOver(kind);
    const registration = await u2f.register(chal, app);
    registrations.set(kind, registration);
    const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, registration.keyHandle);
    const name = `emulated ${kind.toUpperCase()} authenticate (full rig)`;
    names.set(kind, name);
    // On NFC the tap is the presence (and a press would block NFC: the MitID rule).
    const press = kind !== 'nfc';
    tasks[name] = async () => {
      for (let i = 0; i < BATCH; i++) {
        if (press) await station.presence.request('bench');
        const r = await u2f.send(apdu);
        if (r.sw !== SW.NO_ERROR) throw new Error(`AUTHENTICATE over ${kind} answered ${r.sw.toString(16)}`);
        if (collected < POOL && r.data.length < SLOT) {
          const at = collected * SLOT;
          pool[at] = kind === 'hid' ? 0 : kind === 'nfc' ? 1 : 2;
          pool[at + 1] = r.data.length;
          pool.set(r.data, at + 2);
          collected++;
        } else notKept++;
      }
    };
  }

  const rates: Record<string, number[]> = {};
  const ratios: Record<string, number[]> = {};
  const run = async (name: string): Promise<number> => {
    const bench = new Bench({ time: timeMs, warmupTime: 100 });
    bench.add(name, tasks[name]!);
    await bench.run();
    const t = bench.tasks[0]!;
    if (t.result.state !== 'completed') {
      const why = t.result.state === 'errored' ? `: ${t.result.error}` : '';
      throw new Error(`${name}: ${t.result.state}${why}`);
    }
    const rate = (BATCH * 1000) / t.result.latency.mean;
    rates[name] = [...(rates[name] ?? []), rate];
    return rate;
  };
  try {
    for (let round = 0; round < rounds; round++) {
      // Raw sign right before each transport's task: each ratio compares neighbours in
      // time. The emulated chip moves between links only between tasks, never inside one.
      for (const name of names.values()) {
        const raw = await run(RAW_SIGN);
        const rate = await run(name);
        ratios[name] = [...(ratios[name] ?? []), rate / raw];
      }
    }
  } finally {
    await station.close();
  }

  // Verify every kept signature with node:crypto, independently of the rig's verifier.
  const keys = new Map([...registrations].map(([kind, reg]) => [kind, p256KeyObject(reg.userPublicKey)]));
  const kindOf: TransportKind[] = ['hid', 'nfc', 'ble'];
  let verified = 0;
  for (let i = 0; i < collected; i++) {
    const at = i * SLOT;
    const a = parseAuthenticateResponse(pool.subarray(at + 2, at + 2 + pool[at + 1]!));
    const publicKey = keys.get(kindOf[pool[at]!]!)!;
    if (verify('sha256', authenticationSignedData(app, a.flags, a.counter, chal), publicKey, a.signature))
      verified++;
  }

  return { rounds, rates, ratios, verified, collected, notKept };
}
