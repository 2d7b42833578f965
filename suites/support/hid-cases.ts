import assert from 'node:assert/strict';
import { equal, hex, readU32be } from '../../rig/bytes.ts';
import { TransportError } from '../../rig/errors.ts';
import { hostRandomBytes } from '../../rig/random.ts';
import type { Station } from '../../rig/station/station.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  cmdName,
  ERR,
  errName,
  fragment,
  INIT_DATA,
  INIT_NONCE_SIZE,
  INIT_RESPONSE_SIZE,
  initPacket,
  MessageAssembler,
  parsePacket,
} from '../../rig/transport/hid/framing.ts';
import type { CaseContext } from './conformance.ts';
import { type RawHid, rawHid } from './hid-raw.ts';

/**
 * Helpers for the CTAPHID cases (catalogue §2.2). Every case works on channels it allocates
 * itself with a raw broadcast INIT, so the station's own HidTransport channel is never
 * disturbed, and every helper that waits names the requirement and shows the bytes.
 */

/** How long a normal reply may take before the rig calls it missing (generous; §6.1). */
export const REPLY_MS = 1000;
/** SW "conditions not satisfied": the device wants a press. */
const SW_PRESENCE = 0x6985;

const now = () => performance.now();

export const cidHex = (cid: number): string => cid.toString(16).padStart(8, '0');
export const byteHex = (b: number): string => b.toString(16).padStart(2, '0');
export const randomData = (n: number): Uint8Array => hostRandomBytes(n);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A report as "cid cmd bcnt data" (init) or "cid seq data" (CONT), padding and long data cut. */
export function frameHex(report: Uint8Array): string {
  if (report.length < 7) return hex(report);
  const p = parsePacket(report);
  const head = `${hex(report.subarray(0, 4))} ${byteHex(report[4]!)}`;
  const data = p.kind === 'init' ? p.data : trimZeros(p.data);
  const shown = data.length > 24 ? `${hex(data.subarray(0, 24))}…(${data.length} bytes)` : hex(data);
  return p.kind === 'init' ? `${head} ${hex(report.subarray(5, 7))} ${shown}`.trimEnd() : `${head} ${shown}`;
}

function trimZeros(data: Uint8Array): Uint8Array {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.subarray(0, end);
}

/** The catalogue's ERR(x): `CID BF 0001 x` (§2.2 conventions). */
export const errFrame = (cid: number, code: number): string => `${cidHex(cid)} bf 0001 ${byteHex(code)}`;

/** Raw access for one case, after dropping stray reports a previous case may have left. */
export async function openRaw(station: Station): Promise<RawHid> {
  // The connection alone: a case may judge a device whose INIT the rig's transport refused.
  const raw = rawHid({ connection: await station.rawHidConnection() }, station.traffic);
  await raw.collect(30);
  return raw;
}

/** PING init packet announcing `bcnt` bytes and carrying the first (up to 57) of them. */
export function pingInit(cid: number, bcnt: number, fill = 0x5a): Uint8Array {
  return initPacket(cid, CTAPHID.PING, bcnt, new Uint8Array(Math.min(bcnt, INIT_DATA)).fill(fill));
}

export async function writeAll(raw: RawHid, reports: readonly Uint8Array[]): Promise<number> {
  for (const r of reports) await raw.write(r);
  return now();
}

/** Next report on `cid` within timeoutMs; reports on other CIDs are skipped into `skipped`. */
export async function readOn(raw: RawHid, cid: number, timeoutMs: number, skipped: Uint8Array[] = []) {
  const end = now() + timeoutMs;
  for (;;) {
    const left = end - now();
    if (left <= 0) return undefined;
    const report = await raw.read(Math.ceil(left));
    if (!report) return undefined;
    if (report.length >= 4 && readU32be(report, 0) === cid) return { report, atMs: now() };
    skipped.push(report);
  }
}

export interface Message {
  cid: number;
  cmd: number;
  payload: Uint8Array;
  reports: Uint8Array[];
  firstAt: number;
  lastAt: number;
}

/**
 * One whole reply on `cid` within timeoutMs (undefined if none started). A CONT with no
 * reply open, an init packet inside a reply or a SEQ out of order is a device fault (HID-MSG-02).
 */
export async function readMessage(raw: RawHid, cid: number, timeoutMs: number, what: string) {
  const end = now() + timeoutMs;
  const asm = new MessageAssembler();
  const reports: Uint8Array[] = [];
  let firstAt = 0;
  for (;;) {
    const got = await readOn(raw, cid, end - now());
    if (!got) {
      const sofar = reports.map(frameHex).join(' | ');
      assert.ok(!asm.open, `${what}: reply on ${cidHex(cid)} incomplete after ${timeoutMs} ms: ${sofar}`);
      return undefined;
    }
    const packet = parsePacket(got.report);
    if (reports.length === 0) firstAt = got.atMs;
    reports.push(got.report);
    const shown = frameHex(got.report);
    let status: string;
    if (packet.kind === 'init') {
      assert.ok(!asm.open, `${what}: init packet ${shown} inside an unfinished reply on ${cidHex(cid)}`);
      status = asm.start(packet);
      assert.notEqual(status, 'too-long', `${what}: reply BCNT above 7609: ${shown}`);
    } else {
      status = asm.add(packet);
      assert.notEqual(status, 'not-open', `${what}: CONT ${shown} with no reply open on ${cidHex(cid)}`);
      assert.notEqual(
        status,
        'bad-seq',
        `${what}: reply CONT out of sequence (SEQ must run 0,1,2…): ${shown}`,
      );
    }
    if (status === 'complete') {
      const cmd = asm.cmd;
      return { cid, cmd, payload: asm.take(), reports, firstAt, lastAt: got.atMs } satisfies Message;
    }
  }
}

/** How long the liveness probe waits for its INIT answer. */
const PROBE_MS = 1000;

/**
 * Silence where the device owed an answer. If it still answers a broadcast INIT it is alive
 * and dropped this one: a device failure. If it answers nothing at all, the link or the
 * device is gone: a link fault (broken), so a cable never looks like a bad key.
 */
async function silence(raw: RawHid, message: string): Promise<never> {
  const nonce = randomData(INIT_NONCE_SIZE);
  await raw.write(initPacket(BROADCAST_CID, CTAPHID.INIT, INIT_NONCE_SIZE, nonce));
  const end = now() + PROBE_MS;
  for (let left = PROBE_MS; left > 0; left = end - now()) {
    const report = await raw.read(left);
    if (!report) break;
    const p = parsePacket(report);
    // Our INIT answered, or refused (a strict device answers ERR_CHANNEL_BUSY while a message
    // is open): either way the device is there.
    const onBroadcast = p.kind === 'init' && p.cid === BROADCAST_CID;
    const answered = onBroadcast && p.cmd === CTAPHID.INIT && equal(p.data.subarray(0, 8), nonce);
    if (answered || (onBroadcast && p.cmd === CTAPHID.ERROR)) {
      assert.fail(`${message} (the device still answers a broadcast INIT: it is there and did not send it)`);
    }
  }
  throw new TransportError(
    'TIMEOUT',
    `${message}, and no answer to a broadcast INIT within ${PROBE_MS} ms either: the device or its link is gone`,
  );
}

/** A reply with command `cmd` on `cid`; anything else (an ERROR, nothing) fails with the bytes. */
export async function expectMessage(
  raw: RawHid,
  cid: number,
  cmd: number,
  what: string,
  timeoutMs = REPLY_MS,
) {
  const m = await readMessage(raw, cid, timeoutMs, what);
  if (!m) {
    return silence(
      raw,
      `${what}: expected ${cmdName(cmd)} (${byteHex(cmd)}) on ${cidHex(cid)} within ${timeoutMs} ms, got nothing`,
    );
  }
  assert.equal(
    m.cmd,
    cmd,
    `${what}: expected ${cmdName(cmd)} (${byteHex(cmd)}) on ${cidHex(cid)}, got ${frameHex(m.reports[0]!)}`,
  );
  return m;
}

/** ERR(code) on `cid` within `withinMs` of `since`; returns the delay since `since` in ms. */
export async function expectError(
  raw: RawHid,
  cid: number,
  code: number,
  withinMs: number,
  what: string,
  since = now(),
) {
  const m = await readMessage(raw, cid, Math.max(0, since + withinMs - now()), what);
  const expected = errFrame(cid, code);
  if (!m)
    return silence(
      raw,
      `${what}: expected ${errName(code)} (${expected}) within ${withinMs} ms, got nothing`,
    );
  assert.equal(
    frameHex(m.reports[0]!),
    expected,
    `${what}: expected ${errName(code)} (${expected}), got ${frameHex(m.reports[0]!)}`,
  );
  return m.firstAt - since;
}

/** No report at all (or none on `cid`) for `ms`. */
export async function expectSilence(raw: RawHid, ms: number, what: string, cid?: number): Promise<void> {
  const got = (await raw.collect(ms)).filter((r) => cid === undefined || readU32be(r, 0) === cid);
  assert.deepEqual(
    got.map(frameHex),
    [],
    `${what}: expected no report for ${ms} ms, got ${got.map(frameHex).join(' | ')}`,
  );
}

export interface Channel {
  cid: number;
  /** The 17-byte INIT response. */
  response: Uint8Array;
  capabilities: number;
}

/** Checks an INIT reply against its nonce (HID-INIT-01/02); returns the channel it names. */
export function checkInitReply(m: Message, nonce: Uint8Array, what: string): Channel {
  const shown = frameHex(m.reports[0]!);
  assert.equal(byteHex(m.cmd), byteHex(CTAPHID.INIT), `${what}: expected an INIT (86) reply, got ${shown}`);
  assert.ok(
    m.payload.length >= INIT_RESPONSE_SIZE,
    `${what}: INIT reply of ${m.payload.length} bytes, need 17: ${shown}`,
  );
  const echoed = m.payload.subarray(0, INIT_NONCE_SIZE);
  assert.equal(hex(echoed), hex(nonce), `${what}: INIT reply must echo the nonce ${hex(nonce)}: ${shown}`);
  const cid = readU32be(m.payload, 8);
  assert.ok(cid !== 0 && cid !== BROADCAST_CID, `${what}: INIT assigned the reserved CID ${cidHex(cid)}`);
  const response = m.payload.slice(0, INIT_RESPONSE_SIZE);
  return { cid, response, capabilities: response[16]! };
}

/** INIT on `cid` with a fresh nonce; reports on `cid` that are not our INIT reply are skipped. */
export async function initOn(raw: RawHid, cid: number, what: string, nonce = randomData(INIT_NONCE_SIZE)) {
  await raw.write(initPacket(cid, CTAPHID.INIT, INIT_NONCE_SIZE, nonce));
  const end = now() + REPLY_MS;
  for (;;) {
    const m = await readMessage(raw, cid, end - now(), what);
    assert.ok(m, `${what}: no INIT reply on ${cidHex(cid)} within ${REPLY_MS} ms`);
    if (m.cmd !== CTAPHID.INIT || !equal(m.payload.subarray(0, INIT_NONCE_SIZE), nonce)) {
      const refused = m.cmd === CTAPHID.ERROR && (cid === BROADCAST_CID || m.payload[0] === ERR.INVALID_CID);
      assert.ok(!refused, `${what}: INIT on ${cidHex(cid)} answered ${frameHex(m.reports[0]!)}`);
      continue; // a stray answer of an earlier transaction, or another host's INIT
    }
    return { channel: checkInitReply(m, nonce, what), message: m };
  }
}

/** Channels allocated by the current case, for settleAfterFailure. */
const touched = new Set<number>();

/** A fresh channel from a broadcast INIT with a random nonce (HID-INIT-01). */
export async function allocateChannel(raw: RawHid, what = 'broadcast INIT'): Promise<Channel> {
  const channel = (await initOn(raw, BROADCAST_CID, what)).channel;
  touched.add(channel.cid);
  return channel;
}

/**
 * Mocha hook for a describe block: after a failed case (which may have stopped mid-transaction
 * or under a LOCK), INIT and LOCK 00 every channel it allocated and let a frame timeout pass,
 * so the next case starts with the device idle. Best effort: a hook error would stop the block.
 */
export function settleAfterFailure(station: Station): void {
  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed';
    const cids = [...touched];
    touched.clear();
    if (!failed) return;
    try {
      const raw = rawHid(await station.hid(), station.traffic);
      for (const cid of cids) {
        await raw.write(initPacket(cid, CTAPHID.INIT, INIT_NONCE_SIZE, randomData(INIT_NONCE_SIZE)));
        await raw.write(initPacket(cid, CTAPHID.LOCK, 1, Uint8Array.of(0)));
      }
      await raw.collect(station.profile.hid.frameTimeoutMs.max + 100);
    } catch {
      // the next case drains again and reports what it finds
    }
  });
}

/** Leaves `cid` idle: INIT on it drops any open or pending transaction (HID-INIT-04). */
export async function resync(raw: RawHid, cid: number): Promise<void> {
  await initOn(raw, cid, `clean-up INIT on ${cidHex(cid)}`);
}

/** PING `data` on `cid` and require the exact echo. */
export async function expectEcho(
  raw: RawHid,
  cid: number,
  data: Uint8Array,
  what: string,
  timeoutMs = REPLY_MS,
) {
  const sentAt = await writeAll(raw, fragment(cid, CTAPHID.PING, data));
  const m = await expectMessage(raw, cid, CTAPHID.PING, what, timeoutMs);
  if (!equal(m.payload, data)) {
    assert.equal(
      hex(m.payload),
      hex(data),
      `${what}: PING echo of ${data.length} bytes differs (got ${m.payload.length})`,
    );
  }
  return { ...m, sentAt };
}

/** Anchor timing (§6.1): recorded, warned above the anchors' number, failed only above `failMs`. */
export function judgeTime(
  ctx: CaseContext,
  what: string,
  ms: number,
  anchorMs: number,
  failMs: number,
): void {
  const warn = ms > anchorMs ? ` (WARN: above the anchors' ${anchorMs} ms)` : '';
  ctx.observe(`${what}: ${ms.toFixed(1)} ms${warn}`);
  assert.ok(ms <= failMs, `${what}: took ${ms.toFixed(1)} ms, beyond the rig's bound of ${failMs} ms`);
}

/** MSG exchange on a raw channel, getting presence through the station while the device says 6985. */
export async function msgWithPresence(
  station: Station,
  raw: RawHid,
  cid: number,
  apdu: Uint8Array,
  what: string,
) {
  const exchange = async () => {
    await writeAll(raw, fragment(cid, CTAPHID.MSG, apdu));
    const m = await expectMessage(raw, cid, CTAPHID.MSG, what, 3000);
    assert.ok(m.payload.length >= 2, `${what}: MSG reply without a status word: ${frameHex(m.reports[0]!)}`);
    return { m, sw: (m.payload[m.payload.length - 2]! << 8) | m.payload[m.payload.length - 1]! };
  };
  let r = await exchange();
  if (r.sw !== SW_PRESENCE) return r;
  await station.presence.request(what);
  const deadline = now() + station.presence.timeoutMs;
  for (;;) {
    r = await exchange();
    if (r.sw !== SW_PRESENCE) return r;
    if (now() >= deadline) throw station.presence.timeoutError(what);
    await sleep(station.presence.pollMs);
  }
}
