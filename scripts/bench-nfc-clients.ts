/**
 * NFC through the real PC/SC stack, two clients on one card, for `npm run bench`: chiprig's
 * own (U2fClient → NfcTransport → its pcscd socket client → pcscd, the traffic logged as in a
 * run) and an independent one, Yubico's python-fido2 (Debian python3-fido2 over
 * python3-pyscard, scripts/fido2-bench.py). The
 * card is the emulated chip served by `chiprig emulate --transport nfc` in its own process
 * to pcscd's vpcd driver, so neither client shares its event loop with the card. Rounds
 * alternate between the clients; each figure is the median of the rounds, and the ratios
 * compare those medians (each round's own ratios are printed too): VERSION round trip
 * p50/p99 and rate, and enforce AUTHENTICATE round trips per second (every signature
 * verified afterwards, outside the timed loop).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Station } from '../rig/station/station.ts';
import { pcscUnavailableReason } from '../rig/transport/nfc/nfc-pcsc.ts';
import { AUTH_P1 } from '../rig/u2f/apdu.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  encodeVersion,
  parseAuthenticateResponse,
} from '../rig/u2f/messages.ts';
import { p256KeyObject } from '../rig/u2f/verify.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const READER = 'Virtual PCD';

export interface ClientFigures {
  versionP50Ms: number;
  versionP99Ms: number;
  versionPerSecond: number;
  authPerSecond: number;
  verified: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The emulated chip as a card to vpcd, served by `chiprig emulate` in a process of its own. */
export async function serveCard(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${ROOT}rig/cli/main.ts`, 'emulate', '--transport', 'nfc'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: ROOT,
    },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chiprig emulate did not start: ${out}`)), 20_000);
    const on = (d: Buffer) => {
      out += d;
      if (/serving the emulated MitID chip/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (code) => reject(new Error(`chiprig emulate exited (${code}): ${out}`)));
  });
  return child;
}

/** chiprig's client: the station's U2F client over the pcsc: device, as a run uses it. */
async function chiprigRound(samples: number): Promise<ClientFigures> {
  let station: Station | undefined;
  // pcscd polls vpcd for the card; give it a moment after the card server starts.
  for (let tries = 0; !station; tries++) {
    try {
      station = await Station.open({ device: `pcsc:${READER}`, presence: 'auto' });
    } catch (error) {
      if (tries > 30) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    const u2f = await station.u2fOver('nfc');
    const version = encodeVersion();
    // Node's JIT needs a few thousand exchanges to settle (the first rounds run up to 2x slower).
    for (let i = 0; i < 3000; i++) await u2f.send(version);
    const times: number[] = [];
    const started = performance.now();
    for (let i = 0; i < samples; i++) {
      const t = performance.now();
      await u2f.send(version);
      times.push(performance.now() - t);
    }
    const versionPerSecond = samples / ((performance.now() - started) / 1000);
    times.sort((a, b) => a - b);
    const app = Uint8Array.from(randomBytes(32));
    const chal = Uint8Array.from(randomBytes(32));
    const reg = await u2f.register(chal, app);
    const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, reg.keyHandle);
    const answers: Uint8Array[] = [];
    const t0 = performance.now();
    for (let i = 0; i < samples; i++) answers.push((await u2f.send(apdu)).data);
    const authPerSecond = samples / ((performance.now() - t0) / 1000);
    const key = p256KeyObject(reg.userPublicKey);
    let verified = 0;
    for (const data of answers) {
      const a = parseAuthenticateResponse(data);
      if (verify('sha256', authenticationSignedData(app, a.flags, a.counter, chal), key, a.signature))
        verified++;
    }
    return {
      versionP50Ms: times[Math.floor(samples / 2)]!,
      versionP99Ms: times[Math.min(samples - 1, Math.floor(samples * 0.99))]!,
      versionPerSecond,
      authPerSecond,
      verified,
    };
  } finally {
    await station.close();
  }
}

function pythonRound(samples: number): ClientFigures {
  const r = spawnSync(PYTHON, [`${ROOT}scripts/fido2-bench.py`, READER, String(samples)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  let parsed: ClientFigures & { ok: boolean; reason?: string };
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`python-fido2 gave no figures: ${r.stderr || line || r.error?.message}`);
  }
  if (!parsed.ok) throw new Error(`python-fido2: ${parsed.reason}`);
  return parsed;
}

export async function benchNfcClients(samples = 3000, rounds = 5): Promise<string[]> {
  const lines = ['NFC clients on one vpcd card (chiprig emulate --transport nfc in its own process):'];
  const down = pcscUnavailableReason();
  if (down) return [...lines, `  not measured: ${down}`];
  if (!existsSync(PYTHON))
    return [...lines, `  not measured: ${PYTHON} is missing (python3-fido2 lives there)`];
  const card = await serveCard();
  const ours: ClientFigures[] = [];
  const theirs: ClientFigures[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      ours.push(await chiprigRound(samples));
      theirs.push(pythonRound(samples));
    }
  } catch (error) {
    return [...lines, `  not measured: ${error instanceof Error ? error.message : error}`];
  } finally {
    card.kill('SIGTERM');
  }
  const row = (name: string, f: ClientFigures[]) => {
    const m = (k: keyof ClientFigures) => median(f.map((x) => x[k]));
    return `  ${name.padEnd(30)} ${m('versionP50Ms').toFixed(3).padStart(9)} ${m('versionP99Ms').toFixed(3).padStart(9)} ${m('versionPerSecond').toFixed(0).padStart(11)} ${m('authPerSecond').toFixed(0).padStart(10)} ${`${Math.min(...f.map((x) => x.verified))}/${samples}`.padStart(10)}`;
  };
  // The headline compares the medians in the table; each round's own ratio (the two clients
  // ran back to back in it) is printed beside it, to show how much the machine moved.
  const ratio = (k: 'versionPerSecond' | 'authPerSecond') =>
    (median(ours.map((x) => x[k])) / median(theirs.map((x) => x[k]))).toFixed(2);
  const perRound = (k: 'versionPerSecond' | 'authPerSecond') =>
    ours.map((x, i) => (x[k] / theirs[i]![k]).toFixed(2)).join(' ');
  return [
    ...lines,
    `  ${'client'.padEnd(30)} ${'VER p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'VERSION/s'.padStart(11)} ${'AUTH/s'.padStart(10)} ${'verified'.padStart(10)}`,
    row('chiprig (pcscd socket)', ours),
    row('python-fido2 (pyscard)', theirs),
    `  chiprig / python-fido2: VERSION/s ${ratio('versionPerSecond')}, AUTHENTICATE/s ${ratio('authPerSecond')} (medians of ${rounds} alternating rounds of ${samples}; each round's ratios ${perRound('versionPerSecond')} and ${perRound('authPerSecond')})`,
  ];
}
