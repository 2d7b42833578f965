import { hex } from '../../rig/bytes.ts';
import type { TrafficLog } from '../../rig/traffic.ts';
import type { HidConnection } from '../../rig/transport/hid/connection.ts';
import {
  CTAPHID,
  cmdName,
  ERR,
  errName,
  fragment,
  MessageAssembler,
  type Packet,
  parsePacket,
} from '../../rig/transport/hid/framing.ts';
import type { HidTransport } from '../../rig/transport/hid/hid-transport.ts';

/**
 * Raw CTAPHID access for the HID conformance cases: write packets exactly as a case
 * prescribes and read what comes back, with every report in the test's traffic.
 */
export interface RawHid {
  readonly connection: HidConnection;
  write(report: Uint8Array): Promise<void>;
  /** Next report within timeoutMs, or undefined. */
  read(timeoutMs: number): Promise<Uint8Array | undefined>;
  /** Every report that arrives within windowMs (stops early after `max`). */
  collect(windowMs: number, max?: number): Promise<Uint8Array[]>;
}

export function rawHid(hid: { readonly connection: HidConnection }, traffic: TrafficLog): RawHid {
  const log = (dir: 'send' | 'recv', bytes: Uint8Array) => traffic.record(dir, 'hid', bytes, 'raw');
  const connection = hid.connection;
  const self: RawHid = {
    connection,
    async write(report) {
      log('send', report);
      await connection.write(report);
    },
    async read(timeoutMs) {
      const report = await connection.read(timeoutMs);
      if (report) log('recv', report);
      return report;
    },
    async collect(windowMs, max = Number.POSITIVE_INFINITY) {
      const out: Uint8Array[] = [];
      const end = performance.now() + windowMs;
      while (out.length < max) {
        const left = end - performance.now();
        if (left <= 0) break;
        const report = await self.read(left);
        if (!report) break;
        out.push(report);
      }
      return out;
    },
  };
  return self;
}

export interface RawAnswer {
  cid: number;
  cmd: number;
  /** The MSG payload (APDU response) when cmd is MSG. */
  apdu?: Uint8Array;
  sw?: number;
  errorCode?: number;
  summary: string;
  /** A refusal that a conformant device may give to a duplicate (BUSY, 6985). */
  acceptable: boolean;
}

/** Reassembles whole messages from reports, per CID, in arrival order. */
export function assemble(
  reports: readonly Uint8Array[],
): { cid: number; cmd: number; payload: Uint8Array }[] {
  const open = new Map<number, MessageAssembler>();
  const out: { cid: number; cmd: number; payload: Uint8Array }[] = [];
  for (const report of reports) {
    const packet: Packet = parsePacket(report);
    let assembler = open.get(packet.cid);
    if (!assembler) {
      assembler = new MessageAssembler();
      open.set(packet.cid, assembler);
    }
    const status = packet.kind === 'init' ? assembler.start(packet) : assembler.add(packet);
    if (status === 'complete') {
      const cmd = assembler.cmd;
      out.push({ cid: packet.cid, cmd, payload: assembler.take() });
    }
  }
  return out;
}

/** U2F-REG-11: the same REGISTER written twice back to back on one channel. */
export async function registerRetransmitted(
  hid: HidTransport,
  traffic: TrafficLog,
  apdu: Uint8Array,
  windowMs: number,
): Promise<RawAnswer[]> {
  const raw = rawHid(hid, traffic);
  const frames = fragment(hid.cid, CTAPHID.MSG, apdu);
  for (const f of frames) await raw.write(f);
  for (const f of frames) await raw.write(f);
  const messages = assemble(await raw.collect(windowMs)).filter((m) => m.cid === hid.cid);
  return messages.map((m) => {
    if (m.cmd === CTAPHID.ERROR) {
      const code = m.payload[0] ?? -1;
      return {
        cid: m.cid,
        cmd: m.cmd,
        errorCode: code,
        summary: `ERROR ${errName(code)}`,
        acceptable: code === ERR.CHANNEL_BUSY,
      };
    }
    if (m.cmd === CTAPHID.MSG && m.payload.length >= 2) {
      const sw = ((m.payload[m.payload.length - 2]! << 8) | m.payload[m.payload.length - 1]!) >>> 0;
      return {
        cid: m.cid,
        cmd: m.cmd,
        apdu: m.payload,
        sw,
        summary: `MSG SW ${sw.toString(16).padStart(4, '0')} (${m.payload.length} bytes)`,
        acceptable: sw === 0x6985,
      };
    }
    return { cid: m.cid, cmd: m.cmd, summary: `${cmdName(m.cmd)} ${hex(m.payload)}`, acceptable: false };
  });
}
