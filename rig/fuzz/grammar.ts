import { concat, u16be } from '../bytes.ts';
import { BLE_CMD, fragment as bleFragment } from '../transport/ble/fragments.ts';
import { CTAPHID, fragment as hidFragment, MAX_MESSAGE } from '../transport/hid/framing.ts';
import { FIDO_AID } from '../transport/nfc/iso7816.ts';
import {
  apduStep,
  type FuzzCase,
  type FuzzLayer,
  type FuzzTransport,
  fragmentStep,
  LAYERS_OF,
  report,
  type Step,
  type SymbolicCid,
} from './case.ts';
import type { Prng } from './prng.ts';

/**
 * The fuzzer's grammar: structure-aware productions per layer, each with named variants
 * (the coverage the campaign reports is the share of production × variant pairs it made).
 * A production builds valid structure around one or two broken fields, where parser bugs
 * live: lengths at and beyond their limits, sequence numbers out of order, channels that
 * are not the sender's, key handles whose length byte lies.
 */
export interface GenContext {
  rng: Prng;
  transport: FuzzTransport;
  /** FIDO BLE fragment size the link uses (cpl). */
  controlPointLength: number;
  /** A key handle the device issued (the canary's), so some cases reach the signing path. */
  knownKeyHandle?: Uint8Array | undefined;
  /** The application parameter that key handle was registered under. */
  knownAppParam?: Uint8Array | undefined;
  /** Units taken from recordings, mutated by the corpus production. */
  corpus: readonly Step[][];
}

export interface Production {
  name: string;
  layer: FuzzLayer;
  variants: readonly string[];
  /** Only these links (default: every link that carries the layer). */
  transports?: readonly FuzzTransport[];
  make(g: GenContext, variant: string): Step[];
}

// ---------------------------------------------------------------------------------------
// U2F raw messages, carried by whichever link runs the campaign.

type LeForm = 'none' | 'short' | 'ext2' | 'ext3';

/** An APDU in U2F's extended form (or short), with Lc/Le as asked, lengths as given. */
function encodeApdu(
  head: readonly [number, number, number, number],
  data: Uint8Array,
  form: 'extended' | 'short',
  le: LeForm,
  lcOverride?: number,
): Uint8Array {
  const lc = lcOverride ?? data.length;
  const parts: Uint8Array[] = [Uint8Array.from(head)];
  if (form === 'short') {
    if (data.length > 0 || lcOverride !== undefined) parts.push(Uint8Array.of(lc & 0xff), data);
    if (le !== 'none') parts.push(Uint8Array.of(0));
    return concat(...parts);
  }
  if (data.length > 0 || lcOverride !== undefined)
    parts.push(Uint8Array.of(0, (lc >> 8) & 0xff, lc & 0xff), data);
  if (le === 'ext3' || (le !== 'none' && data.length === 0 && lcOverride === undefined))
    parts.push(Uint8Array.of(0, 0, 0));
  else if (le === 'ext2' || le === 'short') parts.push(Uint8Array.of(0, 0));
  return concat(...parts);
}

const anyForm = (g: GenContext) => (g.rng.chance(0.8) ? 'extended' : 'short') as 'extended' | 'short';
const anyLe = (g: GenContext): LeForm => g.rng.pick(['none', 'short', 'ext2', 'ext3', 'ext2'] as const);

/** The link's framing around one U2F message. */
export function carry(g: GenContext, apdu: Uint8Array): Step[] {
  if (g.transport === 'hid') return hidFragment(0, CTAPHID.MSG, apdu).map((r) => report('A', r.subarray(4)));
  if (g.transport === 'nfc') return [apduStep(apdu)];
  return bleFragment(BLE_CMD.MSG, apdu, g.controlPointLength).map(fragmentStep);
}

const KH_LENGTHS = [0, 1, 63, 64, 65, 127, 128, 254, 255];

const u2f: Production[] = [
  {
    name: 'u2f/ins',
    layer: 'u2f',
    variants: ['ins-00', 'undefined', 'iso', 'vendor'],
    make(g, v) {
      const ins =
        v === 'ins-00'
          ? 0
          : v === 'undefined'
            ? g.rng.range(0x04, 0x3f)
            : v === 'iso'
              ? g.rng.pick([0xa4, 0xc0, 0xb0, 0xca, 0x84, 0x20, 0xe2])
              : g.rng.range(0x40, 0xbf);
      const data = g.rng.bytes(g.rng.pick([0, 0, 1, 8, 32]));
      return carry(g, encodeApdu([0, ins, g.rng.int(256), g.rng.int(256)], data, anyForm(g), anyLe(g)));
    },
  },
  {
    name: 'u2f/cla',
    layer: 'u2f',
    variants: ['01', '80', 'any'],
    make(g, v) {
      const cla = v === '01' ? 1 : v === '80' ? 0x80 : g.rng.range(1, 255);
      const ins = g.rng.pick([1, 2, 3]);
      const data = ins === 3 ? new Uint8Array(0) : g.rng.bytes(ins === 1 ? 64 : 65 + g.rng.int(64));
      return carry(g, encodeApdu([cla, ins, 0, 0], data, anyForm(g), anyLe(g)));
    },
  },
  {
    name: 'u2f/register',
    layer: 'u2f',
    variants: [
      'lc-0',
      'lc-63',
      'lc-65',
      'lc-lies',
      'truncated',
      'over-long',
      'le-forms',
      'short-form',
      'p1-p2',
    ],
    make(g, v) {
      let data = g.rng.bytes(64);
      let lc: number | undefined;
      let p1 = 0;
      let p2 = 0;
      if (v === 'lc-0') data = new Uint8Array(0);
      else if (v === 'lc-63') data = data.subarray(0, 63);
      else if (v === 'lc-65') data = concat(data, g.rng.bytes(1));
      else if (v === 'lc-lies') lc = g.rng.pick([0, 1, 63, 65, 128, 255, 0xffff, g.rng.int(0x10000)]);
      else if (v === 'over-long') data = concat(data, g.rng.bytes(g.rng.range(1, 300)));
      else if (v === 'p1-p2') {
        p1 = g.rng.int(256);
        p2 = g.rng.int(256);
      }
      let apdu = encodeApdu([0, 1, p1, p2], data, v === 'short-form' ? 'short' : anyForm(g), anyLe(g), lc);
      if (v === 'truncated') apdu = apdu.subarray(0, g.rng.range(4, apdu.length - 1));
      return carry(g, apdu);
    },
  },
  {
    name: 'u2f/authenticate',
    layer: 'u2f',
    variants: ['kh-length-lies', 'kh-lengths', 'known-kh', 'known-kh-other-app', 'p1', 'truncated', 'no-kh'],
    make(g, v) {
      const challenge = g.rng.bytes(32);
      const known = g.knownKeyHandle;
      let app = g.rng.bytes(32);
      let kh = g.rng.bytes(g.rng.pick(KH_LENGTHS));
      let lengthByte = kh.length;
      let p1 = g.rng.pick([0x03, 0x07, 0x08]);
      if (v === 'kh-length-lies') {
        lengthByte = g.rng.pick(KH_LENGTHS.filter((n) => n > 0));
        kh = g.rng.bytes(g.rng.int(lengthByte));
      } else if (v === 'known-kh' && known) {
        kh = known;
        lengthByte = kh.length;
        app = g.knownAppParam ?? app;
        p1 = g.rng.pick([0x07, 0x03, 0x08, g.rng.int(256)]);
      } else if (v === 'known-kh-other-app' && known) {
        kh = known;
        lengthByte = kh.length;
      } else if (v === 'p1') p1 = g.rng.int(256);
      const data =
        v === 'no-kh' ? concat(challenge, app) : concat(challenge, app, Uint8Array.of(lengthByte & 0xff), kh);
      let apdu = encodeApdu([0, 2, p1, 0], data, anyForm(g), anyLe(g));
      if (v === 'truncated') apdu = apdu.subarray(0, g.rng.range(4, apdu.length - 1));
      return carry(g, apdu);
    },
  },
  {
    name: 'u2f/version',
    layer: 'u2f',
    variants: ['with-data', 'short', 'no-le', 'p1-p2', 'le-forms'],
    make(g, v) {
      const data = v === 'with-data' ? g.rng.bytes(g.rng.range(1, 8)) : new Uint8Array(0);
      const p = v === 'p1-p2' ? [g.rng.int(256), g.rng.int(256)] : [0, 0];
      const form = v === 'short' ? 'short' : 'extended';
      const le: LeForm = v === 'no-le' ? 'none' : v === 'le-forms' ? anyLe(g) : 'ext3';
      return carry(g, encodeApdu([0, 3, p[0]!, p[1]!], data, form, le));
    },
  },
  {
    name: 'u2f/lengths',
    layer: 'u2f',
    variants: [
      'header-only',
      'short-header',
      'ext-lc-0',
      'ext-lc-cut',
      'lc-over-body',
      'lc-under-body',
      'random',
    ],
    make(g, v) {
      const ins = g.rng.pick([1, 2, 3]);
      const head = Uint8Array.of(0, ins, ins === 2 ? 3 : 0, 0);
      const body = g.rng.bytes(g.rng.range(1, 140));
      const lc = body.length;
      const apdu =
        v === 'header-only'
          ? head
          : v === 'short-header'
            ? head.subarray(0, g.rng.range(0, 3))
            : v === 'ext-lc-0'
              ? concat(head, Uint8Array.of(0, 0, 0), g.rng.chance(0.5) ? body : new Uint8Array(0))
              : v === 'ext-lc-cut'
                ? concat(head, Uint8Array.of(0, g.rng.int(256)).subarray(0, g.rng.range(1, 2)))
                : v === 'lc-over-body'
                  ? concat(head, Uint8Array.of(0), u16be(lc + g.rng.range(1, 600)), body)
                  : v === 'lc-under-body'
                    ? concat(head, Uint8Array.of(0), u16be(g.rng.int(lc)), body)
                    : g.rng.bytes(g.rng.range(0, 300));
      return carry(g, apdu);
    },
  },
];

// ---------------------------------------------------------------------------------------
// CTAPHID (USB HID only).

const PING = CTAPHID.PING;
const CMDS = [CTAPHID.PING, CTAPHID.MSG, CTAPHID.INIT, CTAPHID.LOCK, CTAPHID.WINK];

function initReport(cid: SymbolicCid, cmd: number, bcnt: number, data: Uint8Array): Step {
  return report(
    cid,
    concat(Uint8Array.of(cmd | 0x80, (bcnt >> 8) & 0xff, bcnt & 0xff), data.subarray(0, 57)),
  );
}
function contReport(cid: SymbolicCid, seq: number, data: Uint8Array): Step {
  return report(cid, concat(Uint8Array.of(seq & 0x7f), data.subarray(0, 59)));
}
/** A whole message on `cid` as the rig's framing cuts it. */
function message(cid: SymbolicCid, cmd: number, payload: Uint8Array): Step[] {
  return hidFragment(0, cmd, payload).map((r) => report(cid, r.subarray(4)));
}

const ctaphid: Production[] = [
  {
    name: 'ctaphid/init-bcnt',
    layer: 'ctaphid',
    variants: ['zero', 'edges', 'over-limit', 'init-cmd', 'any-cmd'],
    make(g, v) {
      const cmd =
        v === 'init-cmd' ? CTAPHID.INIT : v === 'any-cmd' ? g.rng.range(0x80, 0xff) : g.rng.pick(CMDS);
      const bcnt =
        v === 'zero'
          ? 0
          : v === 'over-limit' || (v === 'init-cmd' && g.rng.chance(0.5))
            ? g.rng.pick([
                MAX_MESSAGE + 1,
                7551,
                0x2000,
                0x7fff,
                0xffff,
                g.rng.range(MAX_MESSAGE + 1, 0xffff),
              ])
            : g.rng.edgeLength([8, 57, 58, 59, 116, 117, MAX_MESSAGE], 0xffff);
      const cid = g.rng.pick<SymbolicCid>(['A', 'A', 'A', 'broadcast']);
      return [initReport(cid, cmd, bcnt, g.rng.bytes(57))];
    },
  },
  {
    name: 'ctaphid/cont-seq',
    layer: 'ctaphid',
    variants: ['skip', 'repeat', 'start-at-1', 'other-cid', 'extra', 'unfinished', 'seq-7f'],
    make(g, v) {
      const size = g.rng.range(58, 300);
      const steps = message('A', PING, g.rng.bytes(size));
      const conts = steps.slice(1);
      const first = steps[0]!;
      const data = () => g.rng.bytes(59);
      if (v === 'skip') return [first, contReport('A', 1, data())];
      if (v === 'repeat') return [first, conts[0]!, conts[0]!];
      if (v === 'start-at-1') return [first, contReport('A', 1, data()), contReport('A', 2, data())];
      if (v === 'other-cid') return [first, contReport('B', 0, data())];
      if (v === 'extra') return [...steps, contReport('A', conts.length, data())];
      if (v === 'seq-7f') return [first, contReport('A', 0x7f, data())];
      return steps.slice(0, Math.max(1, steps.length - 1));
    },
  },
  {
    name: 'ctaphid/lone-cont',
    layer: 'ctaphid',
    variants: ['A', 'B', 'broadcast', 'unallocated'],
    make(g, v) {
      const cid: SymbolicCid = v === 'unallocated' ? g.rng.range(1, 0xfffffffe) : (v as SymbolicCid);
      return [contReport(cid, g.rng.int(0x80), g.rng.bytes(59))];
    },
  },
  {
    name: 'ctaphid/channels',
    layer: 'ctaphid',
    variants: ['broadcast-cmd', 'cid-zero', 'unallocated', 'interleave', 'init-while-open', 'b-while-a-open'],
    make(g, v) {
      const payload = g.rng.bytes(g.rng.range(0, 100));
      if (v === 'broadcast-cmd')
        return message('broadcast', g.rng.pick(CMDS.filter((c) => c !== CTAPHID.INIT)), payload);
      if (v === 'cid-zero') return message(0, g.rng.pick(CMDS), g.rng.bytes(8));
      if (v === 'unallocated') return message(g.rng.range(1, 0xfffffffe), g.rng.pick(CMDS), payload);
      const a = message('A', PING, g.rng.bytes(g.rng.range(58, 200)));
      const b = message('B', PING, g.rng.bytes(g.rng.range(1, 200)));
      if (v === 'interleave') return [a[0]!, b[0]!, ...a.slice(1), ...b.slice(1)];
      if (v === 'init-while-open') return [a[0]!, initReport('A', CTAPHID.INIT, 8, g.rng.bytes(8)), a[1]!];
      return [a[0]!, ...b, ...a.slice(1)];
    },
  },
  {
    name: 'ctaphid/lock-wink',
    layer: 'ctaphid',
    variants: ['lock-0', 'lock-edges', 'lock-no-param', 'lock-long', 'lock-broadcast', 'wink', 'wink-data'],
    make(g, v) {
      if (v === 'wink') return message('A', CTAPHID.WINK, new Uint8Array(0));
      if (v === 'wink-data') return message('A', CTAPHID.WINK, g.rng.bytes(g.rng.range(1, 80)));
      if (v === 'lock-no-param') return message('A', CTAPHID.LOCK, new Uint8Array(0));
      if (v === 'lock-long') return message('A', CTAPHID.LOCK, g.rng.bytes(g.rng.range(2, 70)));
      const seconds = v === 'lock-0' ? 0 : g.rng.pick([1, 9, 10, 11, 0x7f, 0x80, 0xff]);
      return message(
        v === 'lock-broadcast' ? 'broadcast' : g.rng.pick<SymbolicCid>(['A', 'B']),
        CTAPHID.LOCK,
        Uint8Array.of(seconds),
      );
    },
  },
  {
    name: 'ctaphid/unknown-cmd',
    layer: 'ctaphid',
    variants: [
      'empty',
      'short',
      'multi-report',
      'sync-bc',
      'vendor-e6',
      'cbor-90',
      'error-bf',
      'keepalive-bb',
    ],
    make(g, v) {
      const fixed: Record<string, number> = {
        'sync-bc': CTAPHID.SYNC,
        'vendor-e6': 0xe6,
        'cbor-90': CTAPHID.CBOR,
        'error-bf': CTAPHID.ERROR,
        'keepalive-bb': CTAPHID.KEEPALIVE,
      };
      const cmd = fixed[v] ?? g.rng.range(0x80, 0xff);
      const size =
        v === 'empty' || v === 'cbor-90'
          ? 0
          : v === 'multi-report'
            ? g.rng.range(58, 300)
            : g.rng.range(1, 57);
      return message('A', cmd, g.rng.bytes(size));
    },
  },
  {
    name: 'ctaphid/ping',
    layer: 'ctaphid',
    variants: ['0', '57', '58', 'random', '1024'],
    make(g, v) {
      const size = v === 'random' ? g.rng.range(0, 1200) : Number(v);
      return message(g.rng.pick<SymbolicCid>(['A', 'B']), PING, g.rng.bytes(size));
    },
  },
  {
    name: 'ctaphid/init-nonce',
    layer: 'ctaphid',
    variants: ['short', 'long', 'broadcast-short', 'broadcast-long'],
    make(g, v) {
      const n = v.endsWith('short') ? g.rng.range(0, 7) : g.rng.range(9, 57);
      return message(v.startsWith('broadcast') ? 'broadcast' : 'A', CTAPHID.INIT, g.rng.bytes(n));
    },
  },
];

// ---------------------------------------------------------------------------------------
// ISO 7816-4 on NFC.

const select = (aid: Uint8Array, p1 = 0x04, p2 = 0x00, le = true) =>
  concat(Uint8Array.of(0x00, 0xa4, p1, p2, aid.length), aid, le ? Uint8Array.of(0) : new Uint8Array(0));

const iso7816: Production[] = [
  {
    name: 'iso7816/select',
    layer: 'iso7816',
    variants: ['fido', 'no-le', 'other-aid', 'partial-aid', 'long-aid', 'p1-p2', 'lc-lies', 'empty'],
    make(g, v) {
      if (v === 'fido') return [apduStep(select(FIDO_AID))];
      if (v === 'no-le') return [apduStep(select(FIDO_AID, 4, 0, false))];
      if (v === 'other-aid') return [apduStep(select(g.rng.bytes(g.rng.range(5, 16))))];
      if (v === 'partial-aid') return [apduStep(select(FIDO_AID.subarray(0, g.rng.range(1, 7))))];
      if (v === 'long-aid') return [apduStep(select(concat(FIDO_AID, g.rng.bytes(g.rng.range(1, 200)))))];
      if (v === 'p1-p2') return [apduStep(select(FIDO_AID, g.rng.int(256), g.rng.int(256)))];
      if (v === 'lc-lies') {
        const apdu = select(FIDO_AID);
        apdu[4] = g.rng.pick([0, 1, 7, 9, 0xff]);
        return [apduStep(apdu)];
      }
      return [apduStep(Uint8Array.of(0x00, 0xa4, 0x04, 0x00))];
    },
  },
  {
    name: 'iso7816/chaining',
    layer: 'iso7816',
    variants: ['good', 'interrupted', 'last-only', 'chained-select', 'odd-blocks', 'chained-version'],
    make(g, v) {
      const data = g.rng.bytes(v === 'chained-version' ? g.rng.range(1, 40) : 64);
      const ins = v === 'chained-select' ? 0xa4 : v === 'chained-version' ? 3 : 1;
      const size = v === 'odd-blocks' ? g.rng.range(1, 63) : g.rng.pick([16, 32, 50]);
      const blocks: Uint8Array[] = [];
      for (let off = 0; off < data.length; off += size) {
        const part = data.subarray(off, off + size);
        const last = off + size >= data.length;
        blocks.push(
          concat(
            Uint8Array.of(last ? 0x00 : 0x10, ins, ins === 0xa4 ? 4 : 0, 0, part.length),
            part,
            last ? Uint8Array.of(0) : new Uint8Array(0),
          ),
        );
      }
      if (v === 'interrupted') return [blocks[0]!, select(FIDO_AID), ...blocks.slice(1)].map(apduStep);
      if (v === 'last-only') return [apduStep(blocks[blocks.length - 1]!)];
      return blocks.map(apduStep);
    },
  },
  {
    name: 'iso7816/get-response',
    layer: 'iso7816',
    variants: ['nothing-pending', 'le-1', 'le-ff', 'after-register', 'p1-p2', 'with-data'],
    make(g, v) {
      const gr = (le: number, p1 = 0, p2 = 0) => Uint8Array.of(0x00, 0xc0, p1, p2, le);
      if (v === 'nothing-pending') return [apduStep(gr(g.rng.pick([0, 0x10, 0xff])))];
      if (v === 'p1-p2') return [apduStep(gr(0, g.rng.int(256), g.rng.int(256)))];
      if (v === 'with-data') return [apduStep(concat(Uint8Array.of(0x00, 0xc0, 0, 0, 2), g.rng.bytes(2)))];
      // A short REGISTER (its answer is longer than 256 bytes: 61xx), then GET RESPONSE.
      const register = concat(Uint8Array.of(0x00, 0x01, 0x03, 0x00, 64), g.rng.bytes(64), Uint8Array.of(0));
      const le = v === 'le-1' ? 1 : v === 'le-ff' ? 0xff : g.rng.pick([0, 0x10, 0x80]);
      return [apduStep(register), apduStep(gr(le)), apduStep(gr(le))];
    },
  },
  {
    name: 'iso7816/other-ins',
    layer: 'iso7816',
    variants: ['read-binary', 'get-data', 'get-challenge', 'manage-channel', 'any'],
    make(g, v) {
      const ins =
        { 'read-binary': 0xb0, 'get-data': 0xca, 'get-challenge': 0x84, 'manage-channel': 0x70 }[v] ??
        g.rng.int(256);
      const cla = g.rng.pick([0x00, 0x00, 0x80, 0x0c, g.rng.int(256)]);
      const data = g.rng.chance(0.5) ? new Uint8Array(0) : g.rng.bytes(g.rng.range(1, 40));
      const apdu = concat(
        Uint8Array.of(cla, ins, g.rng.int(256), g.rng.int(256)),
        data.length ? concat(Uint8Array.of(data.length), data) : new Uint8Array(0),
        g.rng.chance(0.5) ? Uint8Array.of(0) : new Uint8Array(0),
      );
      return [apduStep(apdu)];
    },
  },
];

// ---------------------------------------------------------------------------------------
// FIDO BLE fragments.

const bleInit = (cmd: number, length: number, data: Uint8Array) =>
  fragmentStep(concat(Uint8Array.of(cmd, (length >> 8) & 0xff, length & 0xff), data));
const bleCont = (seq: number, data: Uint8Array) => fragmentStep(concat(Uint8Array.of(seq & 0x7f), data));

const ble: Production[] = [
  {
    name: 'ble/init-length',
    layer: 'ble',
    variants: ['zero', 'over-data', 'under-data', 'max', 'huge'],
    make(g, v) {
      const room = g.controlPointLength - 3;
      const cmd = g.rng.pick([BLE_CMD.PING, BLE_CMD.MSG]);
      const data = g.rng.bytes(g.rng.range(0, room));
      const length =
        v === 'zero'
          ? 0
          : v === 'over-data'
            ? data.length + g.rng.range(1, 40)
            : v === 'under-data'
              ? g.rng.int(Math.max(1, data.length))
              : v === 'max'
                ? 0xffff
                : g.rng.range(1024, 0xfffe);
      return [bleInit(cmd, length, v === 'zero' ? new Uint8Array(0) : data)];
    },
  },
  {
    name: 'ble/seq',
    layer: 'ble',
    variants: ['skip', 'repeat', 'start-at-1', 'second-init', 'lone-cont', 'unfinished'],
    make(g, v) {
      const frags = bleFragment(
        BLE_CMD.PING,
        g.rng.bytes(g.rng.range(g.controlPointLength, 4 * g.controlPointLength)),
        g.controlPointLength,
      ).map(fragmentStep);
      const cont = (seq: number) => bleCont(seq, g.rng.bytes(g.controlPointLength - 1));
      if (v === 'skip') return [frags[0]!, cont(1)];
      if (v === 'repeat') return [frags[0]!, frags[1]!, frags[1]!];
      if (v === 'start-at-1') return [frags[0]!, cont(1), cont(2)];
      if (v === 'second-init') return [frags[0]!, frags[0]!];
      if (v === 'lone-cont') return [cont(g.rng.int(0x80))];
      return frags.slice(0, Math.max(1, frags.length - 1));
    },
  },
  {
    name: 'ble/cmd',
    layer: 'ble',
    variants: ['unknown', 'keepalive', 'cancel', 'error', 'not-a-command'],
    make(g, v) {
      const cmd =
        { keepalive: BLE_CMD.KEEPALIVE, cancel: BLE_CMD.CANCEL, error: BLE_CMD.ERROR }[v] ??
        (v === 'unknown' ? g.rng.range(0x84, 0xbd) : g.rng.range(0x80, 0xff));
      const data = g.rng.bytes(g.rng.range(0, Math.min(8, g.controlPointLength - 3)));
      return [bleInit(cmd, data.length, data)];
    },
  },
  {
    name: 'ble/sizes',
    layer: 'ble',
    variants: ['empty-write', 'one-byte', 'over-cpl', 'ping-edges'],
    make(g, v) {
      if (v === 'empty-write') return [fragmentStep(new Uint8Array(0))];
      if (v === 'one-byte')
        return [fragmentStep(Uint8Array.of(g.rng.pick([BLE_CMD.PING, BLE_CMD.MSG, 0x00, 0x7f])))];
      if (v === 'over-cpl') {
        const data = g.rng.bytes(g.controlPointLength + g.rng.range(1, 40));
        return [bleInit(BLE_CMD.PING, data.length, data)];
      }
      const size = g.rng.edgeLength([g.controlPointLength - 3, g.controlPointLength - 2, 128, 512], 1100);
      return bleFragment(BLE_CMD.PING, g.rng.bytes(size), g.controlPointLength).map(fragmentStep);
    },
  },
];

/** Every production, for every layer. */
export const PRODUCTIONS: readonly Production[] = [...ctaphid, ...u2f, ...iso7816, ...ble];

/** What a campaign over `transport` draws from (optionally only some layers). */
export function productionsFor(
  transport: FuzzTransport,
  layers?: readonly FuzzLayer[],
  only?: readonly string[],
): Production[] {
  const all = layerProductions(transport, layers);
  if (!only?.length) return all;
  // "production" or "production:variant": a campaign focused on part of the grammar.
  const out: Production[] = [];
  for (const p of all) {
    const wanted = only.filter((o) => o === p.name || o.startsWith(`${p.name}:`));
    if (wanted.length === 0) continue;
    const variants = wanted.includes(p.name)
      ? p.variants
      : p.variants.filter((v) => wanted.includes(`${p.name}:${v}`));
    if (variants.length) out.push({ ...p, variants });
  }
  const known = new Set(all.flatMap((p) => [p.name, ...p.variants.map((v) => `${p.name}:${v}`)]));
  const unknown = only.filter((o) => !known.has(o));
  if (unknown.length) {
    throw new RangeError(
      `${unknown.join(', ')}: not a production of the ${transport} grammar (${all.map((p) => `${p.name} [${p.variants.join(' ')}]`).join('; ')})`,
    );
  }
  return out;
}

function layerProductions(transport: FuzzTransport, layers?: readonly FuzzLayer[]): Production[] {
  return PRODUCTIONS.filter(
    (p) =>
      LAYERS_OF[transport].includes(p.layer) &&
      (!layers || layers.includes(p.layer)) &&
      (!p.transports || p.transports.includes(transport)),
  );
}

// ---------------------------------------------------------------------------------------
// Mutation of recorded units (the seed corpus).

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe];

/** One mutated case from a recorded sequence: bit flips, interesting bytes, cuts, splices. */
export function mutate(g: GenContext, seed: readonly Step[]): Step[] {
  const steps = seed.map((s) => ({ ...s }));
  const at = g.rng.int(steps.length);
  const step = steps[at]!;
  const bytes = Uint8Array.from(Buffer.from(step.data, 'hex'));
  const op = g.rng.int(5);
  let out: Uint8Array = bytes;
  if (bytes.length === 0 || op === 0) out = concat(bytes, g.rng.bytes(g.rng.range(1, 16)));
  else if (op === 1) {
    const i = g.rng.int(bytes.length);
    bytes[i] = bytes[i]! ^ (1 << g.rng.int(8));
  } else if (op === 2) bytes[g.rng.int(bytes.length)] = g.rng.pick(INTERESTING);
  else if (op === 3) out = bytes.subarray(0, g.rng.int(bytes.length));
  else {
    const i = g.rng.int(Math.max(1, bytes.length - 1));
    bytes[i] = g.rng.pick(INTERESTING);
    bytes[i + 1] = g.rng.pick(INTERESTING);
  }
  step.data = Buffer.from(step.kind === 'report' ? out.subarray(0, 60) : out).toString('hex');
  if (g.rng.chance(0.2) && steps.length > 1) steps.splice(g.rng.int(steps.length), 1);
  return steps;
}

/** Draws one case. */
export function generate(
  g: GenContext,
  productions: readonly Production[],
): { fuzzCase: FuzzCase; variant: string } {
  if (g.corpus.length > 0 && g.rng.chance(0.25)) {
    const seed = g.rng.pick(g.corpus);
    const kinds = { hid: 'ctaphid', nfc: 'iso7816', ble: 'ble' } as const;
    return {
      fuzzCase: { rule: 'corpus/mutate', layer: kinds[g.transport], steps: mutate(g, seed) },
      variant: 'mutate',
    };
  }
  const p = g.rng.pick(productions);
  const variant = g.rng.pick(p.variants);
  return { fuzzCase: { rule: p.name, layer: p.layer, steps: p.make(g, variant) }, variant };
}
