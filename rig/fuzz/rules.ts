import { hex, readU16be } from '../bytes.ts';
import type { Requirements } from '../requirements/requirements.ts';
import { BLE_CMD, BLE_ERR, FrameAssembler, parseFrame } from '../transport/ble/fragments.ts';
import { CTAPHID, ERR, MessageAssembler, parsePacket, reportCid } from '../transport/hid/framing.ts';
import { parseCommandApdu } from '../transport/nfc/apdu.ts';
import type { FuzzCase, FuzzTransport, SymbolicCid } from './case.ts';
import type { CaseRun, Unit } from './drivers.ts';

/**
 * The protocol-violation oracle: rules that judge one case's answer, each bound to a
 * requirement of fixtures/requirements.yaml and used only while that requirement is
 * `required` or `security` for the link (a disputed or advisory point is never a finding).
 * A rule speaks only where the case is one whole message the requirement is about: the
 * answer is then the device's, not an artefact of what the case left open.
 */
export interface Violation {
  requirement: string;
  what: string;
}

/** One whole message sent or received, reassembled from the units. */
interface Msg {
  cid?: number;
  /** The channel as the case named it (A, B: the fuzzer's own allocated channels). */
  sym?: SymbolicCid;
  cmd: number;
  payload: Uint8Array;
}

const SW_TEXT = (sw: number) => sw.toString(16).padStart(4, '0');

/** Whole messages in `units` of direction `dir`, per the link's framing. */
function messages(transport: FuzzTransport, units: readonly Unit[], dir: 'send' | 'recv'): Msg[] {
  const out: Msg[] = [];
  const picked = units.filter((u) => u.dir === dir).map((u) => u.bytes);
  if (transport === 'nfc') return picked.map((b) => ({ cmd: 0, payload: b }));
  if (transport === 'hid') {
    const open = new Map<number, MessageAssembler>();
    for (const r of picked) {
      let p: ReturnType<typeof parsePacket>;
      try {
        p = parsePacket(r);
      } catch {
        continue;
      }
      const sym = units.find((u) => u.dir === dir && u.bytes === r)?.cid;
      let a = open.get(p.cid);
      if (!a) {
        a = new MessageAssembler();
        open.set(p.cid, a);
      }
      const status = p.kind === 'init' ? a.start(p) : a.add(p);
      if (status === 'complete') out.push({ cid: p.cid, sym, cmd: a.cmd, payload: a.take() });
      // A request announcing more than the maximum is whole as sent: it is answered at once.
      else if (status === 'too-long' && p.kind === 'init' && dir === 'send')
        out.push({ cid: p.cid, sym, cmd: p.cmd, payload: new Uint8Array(p.bcnt) });
    }
    return out;
  }
  const a = new FrameAssembler();
  for (const f of picked) {
    const p = parseFrame(f);
    if (p.kind === 'malformed') continue;
    if (p.kind === 'init' && p.cmd === BLE_CMD.KEEPALIVE && dir === 'recv') continue;
    const status = p.kind === 'init' ? a.start(p) : a.add(p);
    if (status === 'complete') out.push({ cmd: a.cmd, payload: a.take() });
  }
  return out;
}

/** The units after the case's first send (reports left from before are not its answers). */
function ownUnits(run: CaseRun): Unit[] {
  const first = run.units.findIndex((u) => u.dir === 'send');
  return first < 0 ? [] : run.units.slice(first);
}

interface Rule {
  requirement: string;
  transports: readonly FuzzTransport[];
  check(c: FuzzCase, sent: Msg[], answers: Msg[], units: Unit[]): string | undefined;
}

const MSG_CMD = { hid: CTAPHID.MSG, ble: BLE_CMD.MSG, nfc: 0 } as const;

/** The U2F answer to the case's one U2F message: its APDU, or what came instead. */
function u2fRule(
  requirement: string,
  applies: (apdu: Uint8Array) => boolean,
  judge: (answer: Uint8Array) => string | undefined,
): Rule {
  return {
    requirement,
    transports: ['hid', 'nfc', 'ble'],
    check(c, sent, answers) {
      if (c.layer !== 'u2f' || sent.length !== 1 || !applies(sent[0]!.payload)) return undefined;
      const answer = answers[0];
      if (!answer) return undefined; // silence is the probe's to judge
      const transport = sent[0]!.cid !== undefined ? 'hid' : c.steps[0]!.kind === 'apdu' ? 'nfc' : 'ble';
      if (transport !== 'nfc' && answer.cmd !== MSG_CMD[transport]) {
        return `answered with command ${answer.cmd.toString(16)} (${shortHex(answer.payload)}) instead of a status word`;
      }
      return judge(answer.payload);
    },
  };
}

function sw(answer: Uint8Array): number | undefined {
  return answer.length >= 2 ? readU16be(answer, answer.length - 2) : undefined;
}

/** The answer must be exactly this status word, with no data. */
const exactly = (want: number) => (answer: Uint8Array) =>
  answer.length === 2 && sw(answer) === want
    ? undefined
    : `answered ${shortHex(answer) || '(nothing)'}, not ${SW_TEXT(want)}`;

/** Bytes as hex, a long answer cut (its length given). */
function shortHex(bytes: Uint8Array, max = 24): string {
  return bytes.length > max
    ? `${hex(bytes.subarray(0, max))} … ${hex(bytes.subarray(-2))} (${bytes.length} bytes)`
    : hex(bytes);
}

const parsed = (apdu: Uint8Array) => {
  const p = parseCommandApdu(apdu);
  return p.ok ? p.apdu : undefined;
};

/** A single whole CTAPHID message on a channel, and the first answer on that channel. */
function hidRule(
  requirement: string,
  applies: (m: Msg) => boolean,
  judge: (answer: Msg | undefined) => string | undefined,
  own = true,
): Rule {
  return {
    requirement,
    transports: ['hid'],
    check(c, sent, answers) {
      if (c.layer !== 'ctaphid' || sent.length !== 1 || !applies(sent[0]!)) return undefined;
      if (own && sent[0]!.sym !== 'A' && sent[0]!.sym !== 'B') return undefined;
      const answer = answers.find((a) => a.cid === sent[0]!.cid && a.cmd !== CTAPHID.KEEPALIVE);
      return judge(answer);
    },
  };
}

const hidError = (code: number) => (answer: Msg | undefined) =>
  !answer
    ? undefined
    : answer.cmd === CTAPHID.ERROR && answer.payload.length === 1 && answer.payload[0] === code
      ? undefined
      : `answered ${answer.cmd.toString(16)} ${hex(answer.payload.subarray(0, 16))}, not ERROR ${code.toString(16).padStart(2, '0')}`;

const RULES: Rule[] = [
  u2fRule('U2F-INS-01', (a) => parsed(a)?.cla === 0 && parsed(a)?.ins === 0, exactly(0x6d00)),
  u2fRule('U2F-CLA-01', (a) => a.length >= 4 && a[0] === 0x01 && [1, 2, 3].includes(a[1]!), exactly(0x6e00)),
  u2fRule(
    'U2F-CLA-02',
    (a) => parsed(a)?.ins === 3 && parsed(a)!.cla !== 0 && (parsed(a)!.cla & 0x10) === 0,
    (answer) =>
      answer.length === 2 && sw(answer) !== 0x9000
        ? undefined
        : `VERSION with a CLA not 00 answered ${shortHex(answer)}`,
  ),
  u2fRule('U2F-CLA-03', (a) => parsed(a)?.cla === 0x80 && parsed(a)?.ins === 1, exactly(0x6e00)),
  u2fRule(
    'U2F-VER-03',
    (a) => parsed(a)?.cla === 0 && parsed(a)?.ins === 3 && parsed(a)!.data.length > 0,
    exactly(0x6700),
  ),
  u2fRule(
    'U2F-REG-01',
    (a) =>
      parsed(a)?.cla === 0 &&
      parsed(a)?.ins === 1 &&
      parsed(a)!.data.length > 0 &&
      parsed(a)!.data.length !== 64,
    exactly(0x6700),
  ),
  hidRule('HID-LEN-01', (m) => m.cmd === CTAPHID.PING && m.payload.length > 7609, hidError(ERR.INVALID_LEN)),
  hidRule('HID-CMD-01', (m) => m.cmd === CTAPHID.SYNC && m.payload.length <= 7609, hidError(ERR.INVALID_CMD)),
  hidRule('HID-CMD-02', (m) => m.cmd === 0xe6 && m.payload.length <= 7609, hidError(ERR.INVALID_CMD)),
  hidRule('HID-CMD-03', (m) => m.cmd === CTAPHID.CBOR && m.payload.length === 0, hidError(ERR.INVALID_CMD)),
  hidRule('HID-CID-01', (m) => m.cid === 0 && m.cmd === CTAPHID.INIT, hidError(ERR.INVALID_CID), false),
  hidRule(
    'HID-CID-02',
    (m) => m.cid === 0xffffffff && m.cmd === CTAPHID.PING && m.payload.length <= 7609,
    hidError(ERR.INVALID_CID),
    false,
  ),
  {
    // Every reply is on a channel the case sent on, with that channel's command or ERROR.
    requirement: 'HID-RSP-01',
    transports: ['hid'],
    check(_c, _sent, _answers, units) {
      const cmds = new Map<number, Set<number>>();
      for (const u of units) {
        if (u.dir !== 'send' || !(u.bytes[4]! & 0x80)) continue;
        const cid = reportCid(u.bytes);
        if (!cmds.has(cid)) cmds.set(cid, new Set());
        cmds.get(cid)!.add(u.bytes[4]!);
      }
      for (const u of units) {
        if (u.dir !== 'recv' || !(u.bytes[4]! & 0x80)) continue;
        const cid = reportCid(u.bytes);
        const cmd = u.bytes[4]!;
        const mine = cmds.get(cid);
        if (!mine)
          return `a reply on channel ${cid.toString(16).padStart(8, '0')}, which the case never used: ${hex(u.bytes.subarray(0, 16))}`;
        if (cmd === CTAPHID.ERROR) {
          const bcnt = (u.bytes[5]! << 8) | u.bytes[6]!;
          if (bcnt !== 1) return `ERROR with BCNT ${bcnt}, not 1: ${hex(u.bytes.subarray(0, 16))}`;
        } else if (cmd !== CTAPHID.KEEPALIVE && !mine.has(cmd)) {
          return `a reply with command ${cmd.toString(16)} on a channel that was sent ${[...mine].map((m) => m.toString(16)).join(', ')}`;
        }
      }
      return undefined;
    },
  },
  {
    requirement: 'BLE-CMD-01',
    transports: ['ble'],
    check(c, sent, answers) {
      if (c.layer !== 'ble' || sent.length !== 1) return undefined;
      const cmd = sent[0]!.cmd;
      if (cmd < 0x84 || cmd > 0xbd) return undefined;
      const answer = answers[0];
      if (!answer) return undefined;
      return answer.cmd === BLE_CMD.ERROR && answer.payload[0] === BLE_ERR.INVALID_CMD
        ? undefined
        : `command ${cmd.toString(16)} answered ${answer.cmd.toString(16)} ${hex(answer.payload.subarray(0, 16))}, not ERROR 01`;
    },
  },
];

/** Names of the requirements the oracle can judge (for the report and the docs). */
export const RULE_REQUIREMENTS = RULES.map((r) => r.requirement);

/** The first rule the case's answer breaks, among those in force for `transport`. */
export function checkRules(
  transport: FuzzTransport,
  c: FuzzCase,
  run: CaseRun,
  requirements: Requirements,
): Violation | undefined {
  if (run.outcome !== 'answered') return undefined;
  const units = ownUnits(run);
  const sent = messages(transport, units, 'send');
  const answers = messages(transport, units, 'recv');
  // A device that is busy (another channel's message, a LOCK) may refuse anything: not judged.
  const busy = answers.some(
    (a) => (a.cmd === CTAPHID.ERROR || a.cmd === BLE_CMD.ERROR) && a.payload[0] === ERR.CHANNEL_BUSY,
  );
  if (busy && transport === 'hid') return undefined;
  for (const rule of RULES) {
    if (!rule.transports.includes(transport)) continue;
    const req = requirements.get(rule.requirement);
    if (!req || !(req.strength === 'required' || req.strength === 'security')) continue;
    if (!req.transports.includes(transport)) continue;
    const what = rule.check(c, sent, answers, units);
    if (what) return { requirement: rule.requirement, what };
  }
  return undefined;
}
