import { concat, equal } from '../bytes.ts';
import { isTransportError } from '../errors.ts';
import { hostRandomBytes } from '../random.ts';
import type { Station } from '../station/station.ts';
import type { BleTransport } from '../transport/ble/ble-transport.ts';
import { BLE_CMD, FrameAssembler, parseFrame } from '../transport/ble/fragments.ts';
import type { HidConnection } from '../transport/hid/connection.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  ERR,
  INIT_NONCE_SIZE,
  initPacket,
  MAX_MESSAGE,
  MessageAssembler,
  parsePacket,
  reportCid,
} from '../transport/hid/framing.ts';
import type { CardConnection } from '../transport/nfc/connection.ts';
import { selectFido } from '../transport/nfc/iso7816.ts';
import { type FuzzCase, type FuzzTransport, report, type Step, type SymbolicCid, stepBytes } from './case.ts';

/**
 * How the fuzzer talks to one link: below the rig's transports (no retries, no
 * reassembly rules of the rig's own), so a malformed case reaches the device as written.
 * Every driver answers the same questions: what came back, is the device still there
 * (its probe), and can the link be brought back without touching the power.
 */
export interface Unit {
  dir: 'send' | 'recv';
  bytes: Uint8Array;
  /** For HID: the channel as the case names it (A, B, broadcast) where it is one. */
  cid?: SymbolicCid;
}

export interface CaseRun {
  /** Everything sent and received while the case ran, in order. */
  units: Unit[];
  /**
   * answered: the last whole message got its answer, or the case left nothing to answer;
   * no-answer: a whole message went unanswered for the timeout (the probe decides what it
   * means); gone: the link reported the device gone; refused: the host side would not carry
   * the case (a PC/SC reader refusing an APDU), so it says nothing about the device.
   */
  outcome: 'answered' | 'no-answer' | 'gone' | 'refused';
  detail?: string;
}

export type Liveness = { state: 'alive' } | { state: 'busy' | 'silent' | 'gone'; detail: string };

export interface FuzzDriver {
  readonly transport: FuzzTransport;
  /** How long the device may stay silent (the campaign's --timeout). */
  readonly timeoutMs: number;
  readonly controlPointLength: number;
  open(): Promise<void>;
  run(c: FuzzCase): Promise<CaseRun>;
  /** The transport's liveness probe within the timeout (INIT, SELECT, PING); HID keeps its reports in `units`. */
  probe(units?: Unit[]): Promise<Liveness>;
  /** Drops the link and opens it again (no power cycle). Rejects when the device is gone. */
  resetLink(): Promise<void>;
  /** A rule the device broke in answering the probe itself, with the probe's own steps. */
  takeProbeViolation?(): ProbeViolation | undefined;
}

export interface ProbeViolation {
  requirement: string;
  what: string;
  steps: Step[];
}

const gone = (error: unknown) =>
  isTransportError(error) &&
  ((error as { code?: string }).code === 'DISCONNECTED' || (error as { code?: string }).code === 'NOT_FOUND');
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function makeDriver(station: Station, transport: FuzzTransport, timeoutMs: number): FuzzDriver {
  if (transport === 'hid') return new HidDriver(station, timeoutMs);
  if (transport === 'nfc') return new NfcDriver(station, timeoutMs);
  return new BleDriver(station, timeoutMs);
}

// ---------------------------------------------------------------------------------------

/**
 * USB HID: reports straight onto the HID connection. Channels A and B are allocated with
 * broadcast INITs when the driver opens (and again after a link reset).
 */
class HidDriver implements FuzzDriver {
  readonly transport = 'hid';
  readonly controlPointLength = 0;
  #probeViolation: ProbeViolation | undefined;

  takeProbeViolation(): ProbeViolation | undefined {
    const v = this.#probeViolation;
    this.#probeViolation = undefined;
    return v;
  }
  #conn: HidConnection | undefined;
  #cids = { A: 0, B: 0 };
  #lastCase: FuzzCase | undefined;

  constructor(
    private readonly station: Station,
    readonly timeoutMs: number,
  ) {}

  async open(): Promise<void> {
    this.#conn = await this.station.rawHidConnection();
    this.#cids.A = await this.#allocate();
    this.#cids.B = await this.#allocate();
  }

  #cid(cid: SymbolicCid): number {
    if (cid === 'broadcast') return BROADCAST_CID;
    if (cid === 'A' || cid === 'B') return this.#cids[cid];
    return cid >>> 0;
  }

  #report(step: Step & { kind: 'report' }): Uint8Array {
    const out = new Uint8Array(64);
    const cid = this.#cid(step.cid);
    out[0] = cid >>> 24;
    out[1] = cid >>> 16;
    out[2] = cid >>> 8;
    out[3] = cid;
    out.set(stepBytes(step).subarray(0, 60), 4);
    return out;
  }

  /** Broadcast INIT; the new channel's CID. */
  async #allocate(): Promise<number> {
    const nonce = hostRandomBytes(INIT_NONCE_SIZE);
    const units: Unit[] = [];
    const answer = await this.#init(BROADCAST_CID, nonce, units, performance.now() + this.timeoutMs);
    if (answer.state !== 'alive')
      throw new Error(`the device did not answer a broadcast INIT (${answer.detail})`);
    const r = answer.payload;
    return ((r[8]! << 24) | (r[9]! << 16) | (r[10]! << 8) | r[11]!) >>> 0;
  }

  /** INIT on `cid` and its answer (other reports are kept as late answers). */
  async #init(
    cid: number,
    nonce: Uint8Array,
    units: Unit[],
    deadline: number,
  ): Promise<
    | { state: 'alive'; payload: Uint8Array; answeredOn: number }
    | { state: 'busy' | 'silent' | 'gone'; detail: string }
  > {
    const conn = this.#conn!;
    const frame = initPacket(cid, CTAPHID.INIT, INIT_NONCE_SIZE, nonce);
    let busy = false;
    try {
      units.push({ dir: 'send', bytes: frame });
      await conn.write(frame);
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        const r = await conn.read(left);
        if (!r) break;
        units.push({ dir: 'recv', bytes: r });
        if ((r[4]! & 0x80) === 0) continue;
        // The answer to our INIT (its nonce), on whatever channel it came: the device is there.
        if (r[4] === CTAPHID.INIT && r.length >= 7 + 17 && equal(r.subarray(7, 15), nonce)) {
          return { state: 'alive', payload: r.subarray(7, 7 + 17), answeredOn: reportCid(r) };
        }
        if (reportCid(r) !== cid) continue;
        if (r[4] === CTAPHID.ERROR && r[7] === ERR.CHANNEL_BUSY) {
          busy = true;
          await new Promise((resolve) => setTimeout(resolve, 20));
          units.push({ dir: 'send', bytes: frame });
          await conn.write(frame);
        }
      }
    } catch (error) {
      if (gone(error)) return { state: 'gone', detail: message(error) };
      throw error;
    }
    return busy
      ? { state: 'busy', detail: `INIT answered ERR_CHANNEL_BUSY for ${this.timeoutMs} ms` }
      : { state: 'silent', detail: `no answer to INIT within ${this.timeoutMs} ms` };
  }

  async run(c: FuzzCase): Promise<CaseRun> {
    this.#lastCase = c;
    const conn = this.#conn!;
    const units: Unit[] = [];
    // Whole messages the case completes, per channel (as a conformant device reads them).
    const open = new Map<number, { need: number; seq: number }>();
    let lastComplete: number | undefined;
    try {
      for (;;) {
        const stale = conn.readQueued?.();
        if (!stale) break;
        units.push({ dir: 'recv', bytes: stale });
      }
      for (const step of c.steps) {
        if (step.kind !== 'report') continue;
        const frame = this.#report(step);
        units.push({ dir: 'send', bytes: frame, cid: step.cid });
        await conn.write(frame);
        const cid = reportCid(frame);
        if (frame[4]! & 0x80) {
          const bcnt = (frame[5]! << 8) | frame[6]!;
          // Over the maximum: answered at once (ERR_INVALID_LEN), as a whole message is.
          if (bcnt <= 57 || bcnt > MAX_MESSAGE) {
            open.delete(cid);
            lastComplete = cid;
          } else open.set(cid, { need: bcnt - 57, seq: 0 });
        } else {
          const o = open.get(cid);
          if (!o || frame[4] !== o.seq) open.delete(cid);
          else {
            o.need -= 59;
            o.seq++;
            if (o.need <= 0) {
              open.delete(cid);
              lastComplete = cid;
            }
          }
        }
      }
      // The answer to the last whole message: a complete reply on its channel.
      if (lastComplete === undefined) return { units, outcome: 'answered' };
      const assembler = new MessageAssembler();
      let started = false;
      const deadline = performance.now() + this.timeoutMs;
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0)
          return { units, outcome: 'no-answer', detail: `no answer within ${this.timeoutMs} ms` };
        const r = await conn.read(left);
        if (!r) return { units, outcome: 'no-answer', detail: `no answer within ${this.timeoutMs} ms` };
        units.push({ dir: 'recv', bytes: r });
        if (reportCid(r) !== lastComplete) continue;
        let packet: ReturnType<typeof parsePacket>;
        try {
          packet = parsePacket(r);
        } catch {
          return { units, outcome: 'answered' };
        }
        if (packet.kind === 'init') {
          if (packet.cmd === CTAPHID.KEEPALIVE) continue;
          started = true;
          if (assembler.start(packet) !== 'more') return { units, outcome: 'answered' };
        } else if (started && assembler.add(packet) !== 'more') return { units, outcome: 'answered' };
      }
    } catch (error) {
      if (gone(error)) return { units, outcome: 'gone', detail: message(error) };
      throw error;
    }
  }

  async probe(units: Unit[] = []): Promise<Liveness> {
    const deadline = performance.now() + this.timeoutMs;
    // INIT on each allocated channel the case used aborts what it left open (HID-INIT-04).
    const used = new Set(this.#lastCase?.steps.flatMap((s) => (s.kind === 'report' ? [s.cid] : [])));
    const channels: ('A' | 'B')[] = used.has('B') ? ['B', 'A'] : ['A'];
    for (const ch of channels) {
      // Busy: the INIT is sent again, every other time on the other channel (a device with one
      // transaction slot may free it only for a packet from another CID, as libu2f-emu does).
      for (let turn = 0; ; turn++) {
        const on = turn % 2 === 0 ? ch : ch === 'A' ? 'B' : 'A';
        const until = Math.min(deadline, performance.now() + 250);
        const nonce = hostRandomBytes(INIT_NONCE_SIZE);
        const answer = await this.#init(this.#cids[on], nonce, units, until);
        if (answer.state === 'alive' && answer.answeredOn !== this.#cids[on] && !this.#probeViolation) {
          // HID-RSP-01 (and HID-INIT-02): the reply belongs on the stimulus CID.
          const hex8 = (n: number) => n.toString(16).padStart(8, '0');
          this.#probeViolation = {
            requirement: 'HID-RSP-01',
            what: `INIT on the allocated channel ${hex8(this.#cids[on])} was answered on ${hex8(answer.answeredOn)}`,
            steps: [report(on, concat(Uint8Array.of(CTAPHID.INIT, 0, INIT_NONCE_SIZE), nonce))],
          };
        }
        if (answer.state === 'alive' && on === ch) break;
        if (answer.state === 'gone') return answer;
        if (performance.now() >= deadline) {
          return answer.state === 'busy'
            ? { state: 'busy', detail: `INIT answered ERR_CHANNEL_BUSY for ${this.timeoutMs} ms` }
            : { state: 'silent', detail: `no answer to INIT within ${this.timeoutMs} ms` };
        }
      }
    }
    // A LOCK the case took is released, so the canary's channel is not kept busy.
    // (on whatever channel it named: a device may grant a lock to a CID it never allocated).
    const locked = new Set(
      (this.#lastCase?.steps ?? []).flatMap((s) =>
        s.kind === 'report' && s.data.startsWith('84') ? [this.#cid(s.cid)] : [],
      ),
    );
    for (const cid of locked) {
      if (cid === BROADCAST_CID || cid === 0) continue;
      const frame = initPacket(cid, CTAPHID.LOCK, 1, Uint8Array.of(0));
      await this.#conn!.write(frame);
      for (;;) {
        const r = await this.#conn!.read(this.timeoutMs);
        if (!r || (reportCid(r) === cid && r[4]! & 0x80)) break;
      }
    }
    return { state: 'alive' };
  }

  async resetLink(): Promise<void> {
    await this.station.resetLink('hid');
    await this.open();
  }
}

// ---------------------------------------------------------------------------------------

/** NFC: C-APDUs straight to the card, no chaining or GET RESPONSE of the rig's own. */
class NfcDriver implements FuzzDriver {
  readonly transport = 'nfc';
  readonly controlPointLength = 0;
  #card: CardConnection | undefined;

  constructor(
    private readonly station: Station,
    readonly timeoutMs: number,
  ) {}

  async open(): Promise<void> {
    this.#card = await this.station.cardConnection();
  }

  async run(c: FuzzCase): Promise<CaseRun> {
    const units: Unit[] = [];
    for (const step of c.steps) {
      if (step.kind !== 'apdu') continue;
      const apdu = stepBytes(step);
      // A command APDU has at least its 4-byte header; PC/SC has no way to carry less (and
      // pcscd with vpcd stops answering altogether after an empty one). Not the device's.
      if (apdu.length < 4) {
        return { units, outcome: 'refused', detail: `a ${apdu.length}-byte C-APDU cannot be sent to a card` };
      }
      units.push({ dir: 'send', bytes: apdu });
      try {
        units.push({ dir: 'recv', bytes: await this.#card!.transmit(apdu, { timeoutMs: this.timeoutMs }) });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (gone(error)) return { units, outcome: 'gone', detail: message(error) };
        if (code === 'TIMEOUT') return { units, outcome: 'no-answer', detail: message(error) };
        if (isTransportError(error)) return { units, outcome: 'refused', detail: message(error) };
        throw error;
      }
    }
    return { units, outcome: 'answered' };
  }

  async probe(): Promise<Liveness> {
    try {
      const answer = await this.#card!.transmit(selectFido(), { timeoutMs: this.timeoutMs });
      const sw = ((answer[answer.length - 2] ?? 0) << 8) | (answer[answer.length - 1] ?? 0);
      return sw === 0x9000
        ? { state: 'alive' }
        : { state: 'busy', detail: `SELECT of the FIDO applet answered ${sw.toString(16)}` };
    } catch (error) {
      if (gone(error)) return { state: 'gone', detail: message(error) };
      if ((error as { code?: string }).code === 'TIMEOUT')
        return { state: 'silent', detail: `no answer to SELECT within ${this.timeoutMs} ms` };
      throw error;
    }
  }

  async resetLink(): Promise<void> {
    // The field off and on: the card loses power and starts again (a tap away and back).
    await this.station.resetLink('nfc').catch(() => undefined);
    this.#card = await this.station.cardConnection();
    await this.#card.powerCycle?.();
  }
}

// ---------------------------------------------------------------------------------------

/** FIDO BLE: writes to the control point, fidoStatus notifications back. */
class BleDriver implements FuzzDriver {
  readonly transport = 'ble';
  #ble: BleTransport | undefined;

  constructor(
    private readonly station: Station,
    readonly timeoutMs: number,
  ) {}

  get controlPointLength(): number {
    return this.#ble?.controlPointLength ?? 20;
  }

  async open(): Promise<void> {
    this.#ble = await this.station.ble();
  }

  async run(c: FuzzCase): Promise<CaseRun> {
    const ble = this.#ble!;
    const units: Unit[] = [];
    let expectAnswer = false;
    let pending: { need: number } | undefined;
    try {
      for (;;) {
        const stale = await ble.nextNotification(0);
        if (!stale) break;
        units.push({ dir: 'recv', bytes: stale });
      }
      for (const step of c.steps) {
        if (step.kind !== 'fragment') continue;
        const frame = stepBytes(step);
        units.push({ dir: 'send', bytes: frame });
        await ble.sendRaw(frame);
        // What a conformant device answers: a whole message, or an error for a bad fragment.
        if (frame.length === 0) continue;
        if (frame[0]! & 0x80) {
          const length = frame.length >= 3 ? (frame[1]! << 8) | frame[2]! : -1;
          const have = frame.length - 3;
          if (length >= 0 && have >= length) {
            pending = undefined;
            expectAnswer = true;
          } else pending = length >= 0 ? { need: length - have } : undefined;
        } else if (pending) {
          pending.need -= frame.length - 1;
          if (pending.need <= 0) {
            pending = undefined;
            expectAnswer = true;
          }
        }
      }
      if (!expectAnswer) return { units, outcome: 'answered' };
      const assembler = new FrameAssembler();
      let pressed = false;
      const deadline = performance.now() + this.timeoutMs;
      for (;;) {
        const left = deadline - performance.now();
        const frame = left > 0 ? await ble.nextNotification(left) : undefined;
        if (!frame) return { units, outcome: 'no-answer', detail: `no answer within ${this.timeoutMs} ms` };
        units.push({ dir: 'recv', bytes: frame });
        let parsed: ReturnType<typeof parseFrame>;
        try {
          parsed = parseFrame(frame);
        } catch {
          return { units, outcome: 'answered' };
        }
        if (parsed.kind === 'init' && parsed.cmd === BLE_CMD.KEEPALIVE) {
          // A device waiting for the button (U2F over BLE waits, with keepalives): press it,
          // as a user would, so the case runs to its end.
          if (parsed.data[0] === 0x02 && !pressed) {
            pressed = true;
            await this.station.presence.request('fuzz case');
          }
          continue;
        }
        if (parsed.kind === 'malformed') return { units, outcome: 'answered' };
        const status = parsed.kind === 'init' ? assembler.start(parsed) : assembler.add(parsed);
        if (status !== 'more') return { units, outcome: 'answered' };
      }
    } catch (error) {
      if (gone(error)) return { units, outcome: 'gone', detail: message(error) };
      if ((error as { code?: string }).code === 'TIMEOUT')
        return { units, outcome: 'no-answer', detail: message(error) };
      throw error;
    }
  }

  async probe(): Promise<Liveness> {
    const ble = this.#ble!;
    const deadline = performance.now() + this.timeoutMs;
    try {
      // What the case left behind is not the probe's answer.
      while (await ble.nextNotification(0)) {}
      // A message the case left open answers our PING's initial fragment ERR_INVALID_SEQ
      // and is dropped; a PING sent again is then answered. Each PING carries its own
      // bytes and the device answers in order: alive when the last one sent is echoed
      // (earlier echoes are consumed on the way, so nothing is left for the next case).
      let refusals = 0;
      let data = hostRandomBytes(4);
      const send = () => ble.sendRaw(concat(Uint8Array.of(BLE_CMD.PING, 0, data.length), data));
      await send();
      for (;;) {
        const left = deadline - performance.now();
        const frame = left > 0 ? await ble.nextNotification(left) : undefined;
        if (!frame) {
          return refusals > 0
            ? {
                state: 'busy',
                detail: `PING answered ERR_INVALID_SEQ ${refusals} times in ${this.timeoutMs} ms`,
              }
            : { state: 'silent', detail: `no answer to PING within ${this.timeoutMs} ms` };
        }
        if (frame[0] === BLE_CMD.PING && equal(frame.subarray(3, 7), data)) return { state: 'alive' };
        if (frame[0] === BLE_CMD.ERROR && refusals < 5) {
          refusals++;
          data = hostRandomBytes(4);
          await send();
        }
      }
    } catch (error) {
      if (gone(error)) return { state: 'gone', detail: message(error) };
      if ((error as { code?: string }).code === 'TIMEOUT') return { state: 'silent', detail: message(error) };
      throw error;
    }
  }

  async resetLink(): Promise<void> {
    await this.station.resetLink('ble');
    await this.open();
  }
}
