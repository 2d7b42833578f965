import { AssertionError } from 'node:assert';
import { equal, fromHex, hex } from '../bytes.ts';
import { deviceFault, isDeviceFailure, isTransportError } from '../errors.ts';
import { hostRandomBytes } from '../random.ts';
import type { TrafficEntry } from '../traffic.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  ERR,
  INIT_NONCE_SIZE,
  initPacket,
  isContReport,
} from '../transport/hid/framing.ts';
import type { TransportKind } from '../transport/transport.ts';
import type { Station } from './station.ts';
import { troubleError } from './trouble.ts';

/**
 * Whether the device under test still serves CTAPHID after a case, and what the case is
 * judged by when it does not. A device that stops answering, or stays busy, after an input
 * broke a requirement with that input, whatever the case was checking: that case fails,
 * showing the bytes. The rig then tries what it can to bring the device back (wait out the
 * frame timeout, a new handle and channel, a power cycle where the station has a switch), so
 * one bad input does not turn every later case into the same failure; when nothing does,
 * the later cases are broken with "device gone (or stuck) since ID".
 *
 * A device that left the bus (DISCONNECTED, NOT_FOUND) is a link fault and left to the link
 * reset, as before. A recording or a replay is not probed: the probes are not part of the
 * device's recorded traffic.
 */

/** How long one probe (a broadcast INIT) waits for its answer. */
export const PROBE_MS = 1000;

/** What one probe found. */
export type ProbeResult = 'answers' | 'busy' | 'silent' | 'gone';

/** How long the whole check may take at most: the case's time limit is stretched by it. */
export const HEALTH_BUDGET_MS = 60_000;

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function gone(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return isTransportError(error) && (code === 'DISCONNECTED' || code === 'NOT_FOUND');
}

/**
 * One probe: a broadcast INIT with a fresh nonce on the device's raw connection. 'answers'
 * when the INIT answer with that nonce comes within `timeoutMs`; 'busy' when only
 * ERR_CHANNEL_BUSY comes on the broadcast channel; 'gone' when the device is off the bus.
 */
export async function probeHid(station: Station, timeoutMs = PROBE_MS): Promise<ProbeResult> {
  const nonce = hostRandomBytes(INIT_NONCE_SIZE);
  const request = initPacket(BROADCAST_CID, CTAPHID.INIT, INIT_NONCE_SIZE, nonce);
  let busy = false;
  try {
    const connection = await station.rawHidConnection();
    station.traffic.record('send', 'hid', request, 'health probe: broadcast INIT');
    await connection.write(request);
    const end = now() + timeoutMs;
    for (let left = timeoutMs; left > 0; left = end - now()) {
      const report = await connection.read(Math.ceil(left));
      if (!report) break;
      station.traffic.record('recv', 'hid', report, 'health probe');
      if (report.length < 8 || isContReport(report) || hex(report.subarray(0, 4)) !== 'ffffffff') continue;
      if (report[4] === CTAPHID.INIT && equal(report.subarray(7, 15), nonce)) return 'answers';
      if (report[4] === CTAPHID.ERROR && report[7] === ERR.CHANNEL_BUSY) busy = true;
    }
  } catch (error) {
    if (gone(error)) return 'gone';
    if (!isTransportError(error)) throw error;
    // A link that times out underneath (a FIFO device no longer answering polls): silence.
  }
  return busy ? 'busy' : 'silent';
}

/** A report as "cid cmd bcnt data" (init) or "cid seq data" (CONT), data cut at 16 bytes. */
function frame(reportHex: string): string {
  const r = fromHex(reportHex);
  if (r.length < 7) return reportHex;
  const cut = (data: Uint8Array) => {
    let end = data.length;
    while (end > 0 && data[end - 1] === 0) end--;
    return end > 16 ? `${hex(data.subarray(0, 16))}…` : hex(data.subarray(0, end));
  };
  const head = `${hex(r.subarray(0, 4))} ${hex(r.subarray(4, 5))}`;
  return isContReport(r)
    ? `${head} ${cut(r.subarray(5))}`.trimEnd()
    : `${head} ${hex(r.subarray(5, 7))} ${cut(r.subarray(7))}`.trimEnd();
}

/**
 * The input after which the device went quiet: the reports the case sent after the last
 * report it received, or, when the device answered everything, the last three it sent.
 */
export function lastInput(entries: readonly TrafficEntry[]): string {
  const reports = entries.filter(
    (e) => e.layer === 'hid' && e.dir !== 'note' && !/health probe/.test(e.note ?? ''),
  );
  const lastIn = reports.map((e) => e.dir).lastIndexOf('recv');
  // After the first unanswered report, INITs are the rig's own liveness probes and resyncs.
  const isInit = (e: TrafficEntry) => e.hex.length >= 10 && e.hex.slice(8, 10) === '86';
  const after = reports
    .slice(lastIn + 1)
    .filter((e) => e.dir === 'send')
    .filter((e, i) => i === 0 || !isInit(e));
  if (after.length > 0) {
    const shown = after.slice(0, 4).map((e) => frame(e.hex));
    return `${shown.join(' | ')}${after.length > 4 ? ` and ${after.length - 4} more reports` : ''}`;
  }
  const sent = reports.filter((e) => e.dir === 'send').slice(-3);
  return sent.length === 0 ? '(no report sent)' : sent.map((e) => frame(e.hex)).join(' | ');
}

/** Sends INIT on every channel the case sent to (not 0, not broadcast); false when there was none. */
async function resyncChannels(station: Station, entries: readonly TrafficEntry[]): Promise<boolean> {
  const cids = new Set(
    entries
      .filter((e) => e.layer === 'hid' && e.dir === 'send' && e.hex.length >= 8)
      .map((e) => e.hex.slice(0, 8))
      .filter((cid) => cid !== 'ffffffff' && cid !== '00000000'),
  );
  if (cids.size === 0) return false;
  try {
    const connection = await station.rawHidConnection();
    for (const cid of [...cids].slice(-8)) {
      const nonce = hostRandomBytes(INIT_NONCE_SIZE);
      const request = initPacket(Number.parseInt(cid, 16), CTAPHID.INIT, INIT_NONCE_SIZE, nonce);
      station.traffic.record('send', 'hid', request, 'health probe: INIT on a channel the case used');
      await connection.write(request);
    }
    // Their answers (or refusals), a bounded number: a chattering device cannot hold the rig.
    const end = now() + 500;
    for (let n = 0; n < 64 && now() < end; n++) {
      const report = await connection.read(Math.max(1, Math.min(200, end - now())));
      if (!report) break;
      station.traffic.record('recv', 'hid', report, 'health probe');
    }
  } catch (error) {
    if (!isTransportError(error)) throw error;
  }
  return true;
}

/** Cuts and restores the device's power, where the station can; what did it, or undefined. */
async function powerCycle(station: Station): Promise<string | undefined> {
  if (station.canPowerCycle) {
    await station.powerCycle().catch(() => undefined);
    return 'a power cycle';
  }
  const power = (await station.openInstruments().catch(() => undefined))?.power;
  if (!power) return undefined;
  await station.setPower(false).catch(() => undefined);
  await sleep(500);
  await station.setPower(true).catch(() => undefined);
  return `a power cycle (${power.name})`;
}

function describe(result: ProbeResult): string {
  return result === 'busy' ? 'answered only ERR_CHANNEL_BUSY' : 'got no answer';
}

/**
 * After a HID case: whether the device still answers, and if not the error the case ends
 * with instead of `error` (undefined: the case's own outcome stands). `extendTimeout` gives
 * the case the time the probes and the recovery take.
 */
export async function judgeDeviceAfterCase(
  station: Station,
  kind: TransportKind,
  id: string,
  error: unknown,
  extendTimeout: (ms: number) => void,
): Promise<Error | undefined> {
  if (kind !== 'hid' || station.tape || station.trouble('hid')) return undefined;
  if (!station.transports.includes('hid')) return undefined;
  const entries = station.traffic.entriesSince(0);
  const input = lastInput(entries);
  let result = await probeHid(station);
  if (result === 'answers' || result === 'gone') return undefined;
  extendTimeout(HEALTH_BUDGET_MS);
  const first = result;
  const tried: string[] = [`a broadcast INIT ${describe(result)} within ${PROBE_MS} ms`];
  // Whatever the case left open on the device times out by the device's own frame timeout.
  await sleep(station.profile.hid.frameTimeoutMs.max + 100);
  result = await probeHid(station);
  if (result === 'answers' || result === 'gone') return undefined;
  tried.push(`after its frame timeout it ${describe(result)}`);
  // INIT on each channel the case used drops whatever it left open there (HID-INIT-04).
  if (await resyncChannels(station, entries)) {
    result = await probeHid(station);
    if (result === 'answers' || result === 'gone') return undefined;
    tried.push(`after an INIT on each channel the case used it ${describe(result)}`);
  }
  // A new handle and a new channel, as a re-plug would give the host.
  await station.resetLink('hid').catch(() => undefined);
  result = await probeHid(station);
  if (result === 'answers' || result === 'gone') return undefined;
  tried.push(`on a reopened link it ${describe(result)}`);
  const cycled = await powerCycle(station);
  if (cycled) {
    result = await probeHid(station);
    if (result === 'gone') return undefined;
    if (result !== 'answers') tried.push(`after ${cycled} it ${describe(result)}`);
  } else tried.push('the station has no power switch to cycle it');
  const stuck = first === 'busy';
  const what = stuck
    ? 'the device stayed busy (ERR_CHANNEL_BUSY to a broadcast INIT, beyond its frame timeout) after this input'
    : 'the device stopped answering after this input';
  const recovered = result === 'answers';
  const ending = recovered
    ? `it answered a broadcast INIT again only after ${cycled}`
    : `${tried.join('; ')}`;
  const verdict = `${what}: ${input}; ${ending}`;
  station.traffic.note('rig', verdict);
  if (!recovered) {
    station.markTrouble('hid', { state: stuck ? 'stuck' : 'gone', since: id, why: `${what}: ${input}` });
  }
  // A case that failed on its own keeps its failure, with what followed.
  if (isDeviceFailure(error)) {
    return new AssertionError({
      message: `${(error as Error).message}\nthen ${verdict}`,
      operator: 'conforms',
    });
  }
  return deviceFault(verdict);
}

/** Before a case: the error it is broken with when the device cannot be tested over `kind`. */
export function deviceUnavailable(station: Station, kind: TransportKind, id: string): Error | undefined {
  station.currentCase = id;
  const trouble = station.trouble(kind);
  if (!trouble || trouble.judgedBy?.includes(id)) return undefined;
  return troubleError(trouble);
}
