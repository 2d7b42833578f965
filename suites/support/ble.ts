import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import { TransportError } from '../../rig/errors.ts';
import type { Station } from '../../rig/station/station.ts';
import { BleError } from '../../rig/transport/ble/ble-error.ts';
import type { BleTransport } from '../../rig/transport/ble/ble-transport.ts';
import type { Advertisement, GattLink } from '../../rig/transport/ble/connection.ts';
import {
  BLE_CMD,
  bleErrName,
  CONT_HEADER,
  continuationFrame,
  INIT_HEADER,
  initialFrame,
  KEEPALIVE_CODE,
  MAX_SEQ,
  parseFrame,
} from '../../rig/transport/ble/fragments.ts';

export { UUID } from '../../rig/transport/ble/gatt-uuids.ts';

/** One fidoStatus response as the device sent it, frame by frame (BLE-FRAG-06 checked). */
export interface RawResponse {
  cmd: number;
  /** Announced length (HLEN·256 + LLEN). */
  length: number;
  data: Uint8Array;
  /** Every notification of the response, keepalives before it included. */
  frames: Uint8Array[];
  keepalives: { code: number; atMs: number }[];
}

export const framesHex = (frames: readonly Uint8Array[]): string => frames.map(hex).join(' | ');

/**
 * Reads fidoStatus until it has been quiet for `quietMs` (at most `maxMs`): what a
 * malformed-frame case leaves behind, so the next case starts with an idle device.
 */
export async function drainQuiet(ble: BleTransport, quietMs = 100, maxMs = 3000): Promise<Uint8Array[]> {
  const seen: Uint8Array[] = [];
  const until = performance.now() + maxMs;
  while (performance.now() < until) {
    const frame = await ble.nextNotification(quietMs);
    if (frame === undefined) break;
    seen.push(frame);
  }
  return seen;
}

/**
 * Splits `payload` into frames of the given total lengths (cycled), e.g. [20] like any
 * host, or [4, 2, 11, 20] for mixed sizes (BLE-FRAG-05). Each frame carries ≥ 1 data byte.
 */
export function fragmentAt(cmd: number, payload: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const size = (i: number, header: number) => Math.max(header + 1, sizes[i % sizes.length]!) - header;
  const first = Math.min(payload.length, size(0, INIT_HEADER));
  const frames = [initialFrame(cmd, payload.length, payload.subarray(0, first))];
  for (let offset = first, i = 1; offset < payload.length; i++) {
    const n = size(i, CONT_HEADER);
    frames.push(continuationFrame((i - 1) & MAX_SEQ, payload.subarray(offset, offset + n)));
    offset += n;
  }
  return frames;
}

/**
 * Writes the frames one by one. After each write it looks for a notification that came
 * early: an ERROR (e.g. ERR_INVALID_LEN for a request over the device's limit) stops the
 * sending, as a host would. Returns what arrived early, for collectResponse.
 */
export async function sendFrames(
  ble: BleTransport,
  frames: readonly Uint8Array[],
  opts: { withoutResponse?: boolean } = {},
): Promise<Uint8Array[]> {
  const early: Uint8Array[] = [];
  for (const frame of frames) {
    await ble.sendRaw(frame, opts);
    const got = await ble.nextNotification(0);
    if (got === undefined) continue;
    early.push(got);
    if (got[0] === BLE_CMD.ERROR) break;
  }
  return early;
}

/** Nothing at all on fidoStatus (not even a keepalive) within `timeoutMs`: a TIMEOUT link fault. */
export class NoAnswer extends TransportError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('TIMEOUT', `no answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Reads one whole response from fidoStatus, checking BLE-FRAG-06 on the raw frames:
 * keepalives only before the response, an initial fragment first (bit 7 set), continuation
 * SEQ 0, 1, … wrapping at 0x7F, no fragment longer than fidoControlPointLength, and exactly
 * HLEN·256+LLEN data bytes. Silence is a link fault (TransportError TIMEOUT; NoAnswer when
 * nothing came at all), not a verdict: rawCall turns silence into one (see `silence`).
 */
export async function collectResponse(
  ble: BleTransport,
  opts: { timeoutMs?: number; early?: Uint8Array[]; onKeepalive?: (code: number) => void } = {},
): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const pending = [...(opts.early ?? [])];
  const frames: Uint8Array[] = [];
  const keepalives: RawResponse['keepalives'] = [];
  const started = performance.now();
  let deadline = started + timeoutMs;
  let head: { cmd: number; length: number } | undefined;
  let data = new Uint8Array(0);
  let filled = 0;
  let seq = 0;
  for (;;) {
    const raw = pending.shift() ?? (await ble.nextNotification(Math.max(0, deadline - performance.now())));
    if (raw === undefined) {
      if (frames.length === 0) throw new NoAnswer(timeoutMs);
      throw new TransportError(
        'TIMEOUT',
        `no complete response within ${timeoutMs} ms (frames so far: ${framesHex(frames) || 'none'})`,
      );
    }
    frames.push(raw);
    const where = () => `BLE-FRAG-06: response frames ${framesHex(frames)}`;
    assert.ok(
      raw.length <= ble.controlPointLength,
      `${where()}: a ${raw.length}-byte notification exceeds fidoControlPointLength ${ble.controlPointLength}`,
    );
    const frame = parseFrame(raw);
    assert.notEqual(frame.kind, 'malformed', `${where()}: malformed notification ${hex(raw)}`);
    if (head === undefined) {
      assert.equal(frame.kind, 'init', `${where()}: the first notification must have bit 7 set`);
      if (frame.kind !== 'init') continue;
      if (frame.cmd === BLE_CMD.KEEPALIVE) {
        keepalives.push({ code: frame.data[0] ?? -1, atMs: performance.now() - started });
        opts.onKeepalive?.(frame.data[0] ?? -1);
        deadline = performance.now() + timeoutMs;
        continue;
      }
      head = { cmd: frame.cmd, length: frame.length };
      data = new Uint8Array(frame.length);
      assert.ok(frame.data.length <= frame.length, `${where()}: more data than HLEN/LLEN announce`);
      data.set(frame.data);
      filled = frame.data.length;
    } else {
      assert.equal(frame.kind, 'cont', `${where()}: a command frame inside a fragmented response`);
      if (frame.kind !== 'cont') continue;
      assert.equal(frame.seq, seq, `${where()}: continuation SEQ ${frame.seq}, expected ${seq}`);
      assert.ok(frame.data.length <= head.length - filled, `${where()}: more data than announced`);
      data.set(frame.data, filled);
      filled += frame.data.length;
      seq = (seq + 1) & MAX_SEQ;
    }
    if (filled === head.length) return { ...head, data, frames, keepalives };
  }
}

/**
 * One request written as `frames`, one raw response read back. Every request a case sends
 * this way is owed an answer (an echo, a reply or an ERROR frame): if nothing at all comes,
 * `silence` decides between a device that stayed silent (failed, "no answer within N ms to
 * <bytes>") and a link that is gone (broken). `what` names the requirement in that message.
 */
export async function rawCall(
  ble: BleTransport,
  frames: readonly Uint8Array[],
  opts: {
    timeoutMs?: number;
    withoutResponse?: boolean;
    onKeepalive?: (code: number) => void;
    what?: string;
  } = {},
): Promise<RawResponse> {
  const early = await sendFrames(ble, frames, opts);
  try {
    return await collectResponse(ble, { ...opts, early });
  } catch (error) {
    if (!(error instanceof NoAnswer)) throw error;
    return silence(
      ble,
      `${opts.what ?? 'the device'}: no answer within ${error.timeoutMs} ms to ${sentHex(frames)}`,
    );
  }
}

/** A request's frames for a message: all of them, or the first two and the last of a long one. */
function sentHex(frames: readonly Uint8Array[]): string {
  if (frames.length <= 4) return framesHex(frames);
  return `${framesHex(frames.slice(0, 2))} | … | ${hex(frames[frames.length - 1]!)} (${frames.length} frames)`;
}

/** How long the liveness probe after a silence waits for its PING echo. */
const PROBE_MS = 1000;

/**
 * Silence where the device owed an answer. If it still answers a PING it is there and chose
 * not to answer: a device failure. If the PING gets nothing either, the device or its link
 * is gone: a link fault (broken), so a dropped link never looks like a bad key.
 */
export async function silence(ble: BleTransport, message: string): Promise<never> {
  const probe = Uint8Array.of(0x41, 0x4c, 0x49, 0x56, 0x45); // "ALIVE"
  const outcome = await ble.ping(probe, { timeoutMs: PROBE_MS }).then(
    (echo) => `echoes a PING (${hex(echo)})`,
    (error: unknown) => {
      if (error instanceof BleError) return `answers a PING (${error.message})`;
      if (error instanceof TransportError) return undefined;
      return `answers a PING (${String(error)})`;
    },
  );
  if (outcome) assert.fail(`${message} (the device still ${outcome}: it is there and did not answer)`);
  throw new TransportError(
    'TIMEOUT',
    `${message}, and no answer to a PING within ${PROBE_MS} ms either: the device or its link is gone`,
  );
}

/**
 * rawCall for a request that needs the button: presses on the first TUP_NEEDED keepalive,
 * or after 300 ms if none came (a missing keepalive is BLE-KA-01's verdict, not this one's).
 */
export async function rawCallPressing(
  station: Station,
  ble: BleTransport,
  frames: readonly Uint8Array[],
  what: string,
): Promise<RawResponse> {
  let asked = false;
  const press = () => {
    if (asked) return;
    asked = true;
    station.presence.request(what).catch(() => undefined);
  };
  const timer = setTimeout(press, 300);
  try {
    return await rawCall(ble, frames, {
      timeoutMs: 10_000,
      what,
      onKeepalive: (code) => code === KEEPALIVE_CODE.TUP_NEEDED && press(),
    });
  } finally {
    clearTimeout(timer);
  }
}

/** A short PING must echo: the device is idle and takes the next request (after a malformed one). */
export async function assertPingWorks(ble: BleTransport, requirement: string): Promise<void> {
  const payload = Uint8Array.of(0x50, 0x49, 0x4e, 0x47);
  const echo = await ble.ping(payload).catch((error: unknown) => {
    if (error instanceof BleError) assert.fail(`${requirement}: the next PING was refused: ${error.message}`);
    throw error;
  });
  assert.equal(hex(echo), hex(payload), `${requirement}: the next PING echoed ${hex(echo)}`);
}

/** Asserts a response is exactly ERROR(code): `BF 00 01 code`, naming the requirement. */
export function assertErrorFrame(response: RawResponse, code: number, requirement: string): void {
  const expected = `bf0001${code.toString(16).padStart(2, '0')}`;
  const got = response.frames.filter((f) => f[0] !== BLE_CMD.KEEPALIVE);
  assert.equal(
    framesHex(got),
    expected,
    `${requirement}: expected ${bleErrName(code)} (${expected}), device sent ${framesHex(response.frames)}`,
  );
}

/** Asserts an echo is exact, showing both sides when it is not. */
export function assertEcho(response: RawResponse, payload: Uint8Array, requirement: string): void {
  assert.equal(
    response.cmd,
    BLE_CMD.PING,
    `${requirement}: PING answered with command 0x${response.cmd.toString(16)}: ${framesHex(response.frames)}`,
  );
  assert.equal(
    hex(response.data),
    hex(payload),
    `${requirement}: PING of ${payload.length} bytes echoed ${response.data.length} different bytes`,
  );
}

/** The advertisement of the device the link is (or was) connected to. */
export function ours(ads: readonly Advertisement[], peripheral: GattLink['peripheral']): Advertisement {
  const found = ads.find(
    (a) => a.id === peripheral.id || a.address.toLowerCase() === peripheral.address.toLowerCase(),
  );
  assert.ok(
    found,
    `no FIDO (FFFD) advertisement from ${peripheral.address}; seen: ${ads.map((a) => a.address || a.id).join(', ') || 'none'}`,
  );
  return found;
}

export const fidoServiceData = (ad: Advertisement) => ad.serviceData.find((d) => d.uuid === 'fffd');

export const describeAd = (ad: Advertisement): string =>
  `flags ${ad.flags === undefined ? '(not reported)' : `0x${ad.flags.toString(16).padStart(2, '0')}`}, ` +
  `UUIDs [${ad.serviceUuids.join(', ')}], service data ${
    ad.serviceData.map((d) => `${d.uuid}:${hex(d.data)}`).join(', ') || '(none)'
  }, connectable ${ad.connectable}`;
