/**
 * The perf suite's timed operations: each sample is one exchange timed by the rig around
 * the transport call (performance.now), from the request leaving the U2F client to the
 * parsed answer. Button actuation is timed apart and never counted as device time: the rig
 * presses (or asks for a press) before the request, and when a device still answers 6985
 * the failed attempts and the wait count as actuation, and only the exchange that
 * succeeded counts as device time.
 */
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import type { LatencyHistogram } from '../../rig/measure/histogram.ts';
import { type Measurements, profileLimit } from '../../rig/measure/measurement.ts';
import { type Estimate, quantileInterval } from '../../rig/measure/stats.ts';
import { histogramSvg } from '../../rig/measure/svg.ts';
import { attachSvg } from '../../rig/report/allure.ts';
import type { Station } from '../../rig/station/station.ts';
import { parseResponse, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { deviceTimeMs, type TransportKind } from '../../rig/transport/transport.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import {
  authenticationSignedData,
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
} from '../../rig/u2f/messages.ts';
import type { ApduResponse } from '../../rig/u2f/u2f-client.ts';
import { p256KeyObject } from '../../rig/u2f/verify.ts';
import { type Credential, random32 } from './u2f.ts';

export type PerfOperation = 'version' | 'register' | 'authenticate' | 'check-only' | 'ping' | 'select';

export interface OperationCase {
  id: string;
  op: PerfOperation;
  name: string;
  /** Catalogue transport column: "*", "H,B", "N". */
  tr: string;
  /** Needs a press (device time and actuation are kept apart). */
  press: boolean;
}

/** chiprig's own perf cases (catalogue §4 "Timing / performance" lists them as a gap). */
export const LATENCY_CASES: readonly OperationCase[] = [
  { id: 'PERF-LAT-01', op: 'version', name: 'VERSION', tr: '*', press: false },
  { id: 'PERF-LAT-02', op: 'register', name: 'REGISTER', tr: '*', press: true },
  { id: 'PERF-LAT-03', op: 'authenticate', name: 'AUTHENTICATE (enforce)', tr: '*', press: true },
  { id: 'PERF-LAT-04', op: 'check-only', name: 'AUTHENTICATE (check-only)', tr: '*', press: false },
  { id: 'PERF-LAT-05', op: 'ping', name: 'PING (32 bytes)', tr: 'H,B', press: false },
  { id: 'PERF-LAT-06', op: 'select', name: 'SELECT', tr: 'N', press: false },
];

export const PING_BYTES = 32;

export interface Sample {
  deviceMs: number;
  actuationMs: number;
  /** Bytes of the request message and of the answer (for the link models). */
  requestBytes: number;
  responseBytes: number;
}

const now = () => performance.now();

/**
 * A function taking one timed sample of `op` over `kind`. Sets up what it needs (a
 * credential for AUTHENTICATE) inside the test, never in a hook.
 */
export async function sampler(
  station: Station,
  kind: TransportKind,
  op: PerfOperation,
  credential: () => Promise<Credential>,
): Promise<() => Promise<Sample>> {
  const u2f = await station.u2fOver(kind);
  const timedSend = async (apdu: Uint8Array, expect: number, what: string): Promise<Sample> => {
    const t0 = now();
    const r = await u2f.send(apdu);
    const deviceMs = deviceTimeMs(u2f.transport, t0, now());
    expectSw(r, expect, what);
    return { deviceMs, actuationMs: 0, requestBytes: apdu.length, responseBytes: r.raw.length };
  };
  const pressed = async (apdu: Uint8Array, what: string): Promise<Sample> => {
    const s = await sendPressed(station, kind, apdu, what);
    expectSw(s.response, SW.NO_ERROR, what);
    return s;
  };
  switch (op) {
    case 'version': {
      const apdu = encodeVersion('iso');
      return () => timedSend(apdu, SW.NO_ERROR, 'VERSION');
    }
    case 'register':
      return () => pressed(encodeRegister(random32(), random32()), 'REGISTER');
    case 'authenticate': {
      const cred = await credential();
      const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle);
      return () => pressed(apdu, 'AUTHENTICATE (enforce)');
    }
    case 'check-only': {
      const cred = await credential();
      const apdu = encodeAuthenticate(AUTH_P1.CHECK_ONLY, random32(), cred.appParam, cred.keyHandle);
      return () => timedSend(apdu, SW.CONDITIONS_NOT_SATISFIED, 'AUTHENTICATE (check-only)');
    }
    case 'ping': {
      const data = Uint8Array.from({ length: PING_BYTES }, (_, i) => i);
      const transport = kind === 'hid' ? await station.hid() : await station.ble();
      return async () => {
        const t0 = now();
        const echo = await transport.ping(data);
        const deviceMs = deviceTimeMs(transport, t0, now());
        assert.deepEqual(echo, data, 'PING: the echo differs from what was sent');
        return { deviceMs, actuationMs: 0, requestBytes: data.length, responseBytes: echo.length };
      };
    }
    case 'select': {
      const nfc = await station.nfc();
      return async () => {
        const t0 = now();
        const version = await nfc.select();
        const deviceMs = deviceTimeMs(nfc, t0, now());
        // The answer is the version string and SW 9000.
        return {
          deviceMs,
          actuationMs: 0,
          requestBytes: SELECT_APDU_BYTES,
          responseBytes: version.length + 2,
        };
      };
    }
  }
}

/** SELECT of the FIDO AID with Le: 00 A4 04 00 08 A0000006472F0001 00. */
const SELECT_APDU_BYTES = 14;

function expectSw(r: ApduResponse, sw: number, what: string): void {
  assert.equal(
    r.sw,
    sw,
    `${what}: expected SW ${sw.toString(16)}, device answered ${swName(r.sw)} (response ${Buffer.from(r.raw).toString('hex')})`,
  );
}

/**
 * An operation that needs presence: press (or prompt) first, then the timed request; a
 * device that still answers 6985 gets re-sent at the profile's poll pace, and the failed
 * attempts count as actuation. NFC needs no press (the tap is the presence).
 */
export async function sendPressed(
  station: Station,
  kind: TransportKind,
  apdu: Uint8Array,
  what: string,
): Promise<Sample & { response: ApduResponse }> {
  const u2f = await station.u2fOver(kind);
  const presence = kind === 'nfc' ? undefined : station.presence;
  const a0 = now();
  if (presence) await presence.request(what);
  let actuationMs = now() - a0;
  const deadline = now() + (presence?.timeoutMs ?? 0);
  for (;;) {
    const t0 = now();
    const response = await u2f.send(apdu);
    const deviceMs = deviceTimeMs(u2f.transport, t0, now());
    if (response.sw !== SW.CONDITIONS_NOT_SATISFIED || !presence) {
      return {
        deviceMs,
        actuationMs,
        requestBytes: apdu.length,
        responseBytes: response.raw.length,
        response,
      };
    }
    if (now() >= deadline) throw presence.timeoutError(what);
    const w0 = now();
    await new Promise((r) => setTimeout(r, presence.pollMs));
    actuationMs += deviceMs + (now() - w0);
  }
}

/**
 * The rig's accuracy for device time: max(2 %, 0.2 ms), as PERF-MODEL-01 checks it against
 * the emulated links' timing models. A latency changing less than this between two runs is
 * not a change of the device (chiprig compare).
 */
export const LATENCY_ACCURACY = { abs: 0.2, rel: 0.02 } as const;

/** Declares p50/p90/p99/max/count of a distribution; the p99 carries the limit. */
export function declareLatency(
  measure: Measurements,
  prefix: string,
  what: string,
  limit?: { max: number; marginal?: number | undefined; source: string },
): void {
  for (const stat of ['p50', 'p90', 'p99', 'max'] as const) {
    measure.declare({
      name: `${prefix}.${stat}`,
      unit: 'ms',
      better: 'lower',
      description: `${what} ${stat}`,
      accuracy: LATENCY_ACCURACY,
      ...(stat === 'p99' && limit ? profileLimit(limit, limit.source) : {}),
    });
  }
  measure.declare({ name: `${prefix}.count`, unit: 'samples', description: `${what} samples` });
}

/**
 * Records a distribution's figures; the p99 (which carries the limit) from `p99` when given:
 * the order-statistics interval of the samples, graded on the whole interval. With the
 * samples, the p50 and p90 carry their intervals too (chiprig compare judges a change
 * between runs by them, not by a fixed percentage).
 */
export function recordLatency(
  measure: Measurements,
  prefix: string,
  h: LatencyHistogram,
  p99?: Estimate,
  samples?: readonly number[],
): void {
  const s = h.summary();
  if (samples && samples.length > 0) {
    measure.recordEstimate(`${prefix}.p50`, quantileInterval(samples, 0.5));
    measure.recordEstimate(`${prefix}.p90`, quantileInterval(samples, 0.9));
  } else {
    measure.record(`${prefix}.p50`, s.p50Ms);
    measure.record(`${prefix}.p90`, s.p90Ms);
  }
  if (p99) measure.recordEstimate(`${prefix}.p99`, p99);
  else measure.record(`${prefix}.p99`, s.p99Ms);
  measure.record(`${prefix}.max`, s.maxMs);
  measure.record(`${prefix}.count`, s.count);
}

export async function attachHistogram(
  name: string,
  title: string,
  axis: string,
  h: LatencyHistogram,
  limit?: { max: number; marginal?: number | undefined },
): Promise<void> {
  if (h.count === 0) return;
  const svg = histogramSvg({
    title,
    axis,
    bins: h.bins(30),
    summary: h.summary(),
    ...(limit ? { limitMs: limit.max } : {}),
    ...(limit?.marginal !== undefined ? { marginalMs: limit.marginal } : {}),
  });
  await attachSvg(name, svg);
}

/**
 * Checks collected AUTHENTICATE answers after the timed loop (node:crypto, fast enough for
 * thousands): returns how many verify with the credential's key.
 */
export function verifyAuthentications(
  cred: Credential,
  challenge: Uint8Array,
  answers: readonly Uint8Array[],
): number {
  const key = p256KeyObject(cred.publicKey);
  let ok = 0;
  for (const raw of answers) {
    try {
      const r = parseResponse(raw);
      if (r.sw !== SW.NO_ERROR) continue;
      const a = parseAuthenticateResponse(r.data);
      if (
        verify(
          'sha256',
          authenticationSignedData(cred.appParam, a.flags, a.counter, challenge),
          key,
          a.signature,
        )
      )
        ok++;
    } catch {
      // A malformed answer does not verify.
    }
  }
  return ok;
}
