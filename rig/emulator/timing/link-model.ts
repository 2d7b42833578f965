/**
 * Link timing models of the emulated chip: what each exchange costs on the wire, plus the
 * chip's processing time per operation. They make ground truth for the rig's latency
 * figures: the emulated links (timing/pacers.ts) hold every report, frame or PDU back by
 * what these models say, and the analytic functions below predict a whole exchange, so a
 * test can check that what the rig measures is what the model put there.
 *
 * Facts used (and their sources):
 * - USB full speed: 1 ms frames; an interrupt endpoint is polled every bInterval frames
 *   (USB 2.0 §9.6.6), one 64-byte report per poll (catalogue §1.2: 64-byte reports).
 *   CTAPHID packs 57 message bytes in the init packet and 59 in each continuation.
 * - NFC (ISO/IEC 14443-2/-3/-4, Type A): carrier fc = 13.56 MHz; one bit lasts 128/fc at
 *   106 kbit/s, 64/fc at 212, 32/fc at 424; a standard frame is a start bit, 9 bits per byte
 *   (8 data + odd parity) and an end bit; a block is PCB + INF + CRC_A (2 bytes); the frame
 *   delay time between frames is at least 1172/fc; FWT = 256·16/fc · 2^FWI (302.1 µs at
 *   FWI 0, 4949 ms at FWI 14); a card that needs longer asks for S(WTX); a block carries at
 *   most FSC (card) or FSD (reader) bytes and longer ones are chained, each chained block
 *   acknowledged by an R(ACK).
 * - BLE (Core 4.0): connection events every connection interval (7.5 ms to 4 s in 1.25 ms
 *   steps); an ATT notification carries ATT_MTU − 3 bytes; FIDO fragments are at most the
 *   control point length (FIDO BLE §8.1).
 *
 * Simplifications, stated so nobody mistakes them for more: each report, block or PDU
 * takes its own slot from the moment it is offered (no phase alignment with a frame clock or
 * anchor point), and the BLE link carries one PDU per connection event in each direction.
 * A Write Request costs one event to reach the chip and its Write Response one more event
 * back, so a fragment written with response costs two intervals.
 */

/** The operations with a processing time of their own. */
export const OPERATIONS = ['version', 'register', 'authenticate', 'check-only', 'ping', 'select'] as const;
export type Operation = (typeof OPERATIONS)[number] | 'other';

/** Processing time of the chip per operation, in milliseconds (absent: 0). */
export type ProcessingTimes = Partial<Record<(typeof OPERATIONS)[number], number>>;

export interface HidTiming {
  /** Interrupt endpoint polling interval in 1 ms full-speed frames (1..255). */
  bInterval: number;
}

export interface NfcTiming {
  bitRateKbps: 106 | 212 | 424;
  /** Frame waiting integer (0..14): FWT = 302.1 µs · 2^FWI. */
  fwi: number;
  /** Largest block the card accepts and the reader accepts, in bytes (FSC = FSD here). */
  frameSize: number;
}

export interface BleTiming {
  connectionIntervalMs: number;
  /** ATT MTU the chip offers (23..517). */
  mtu: number;
}

export interface LinkTiming {
  processingMs: ProcessingTimes;
  hid?: HidTiming;
  nfc?: NfcTiming;
  ble?: BleTiming;
}

export function processingMs(timing: LinkTiming | undefined, op: Operation): number {
  if (!timing || op === 'other') return 0;
  return timing.processingMs[op] ?? 0;
}

// ---- what a request is ----

const INS = { REGISTER: 0x01, AUTHENTICATE: 0x02, VERSION: 0x03, SELECT: 0xa4 } as const;
const CHECK_ONLY = 0x07;

/** The operation a U2F raw message or ISO 7816-4 command asks for (from CLA INS P1). */
export function classifyApdu(apdu: Uint8Array, offset = 0): Operation {
  const cla = apdu[offset] ?? 0;
  const ins = apdu[offset + 1];
  // A command-chaining block (CLA bit 5) only buffers: the work comes with the last block.
  if ((cla & 0x10) !== 0) return 'other';
  if (ins === INS.SELECT) return 'select';
  if (cla !== 0x00) return 'other';
  if (ins === INS.VERSION) return 'version';
  if (ins === INS.REGISTER) return 'register';
  if (ins === INS.AUTHENTICATE) return apdu[offset + 2] === CHECK_ONLY ? 'check-only' : 'authenticate';
  return 'other';
}

const CTAPHID_PING = 0x81;
const CTAPHID_MSG = 0x83;
/** FIDO BLE commands share the CTAPHID values for PING and MSG. */
const BLE_PING = 0x81;
const BLE_MSG = 0x83;

/** The operation of a CTAPHID init packet (CID 4, CMD 1, BCNT 2, data). */
export function classifyHidInit(report: Uint8Array): Operation {
  const cmd = report[4];
  if (cmd === CTAPHID_PING) return 'ping';
  if (cmd === CTAPHID_MSG) return classifyApdu(report, 7);
  return 'other';
}

/** The operation of a FIDO BLE init fragment (CMD 1, HLEN LLEN, data). */
export function classifyBleInit(frame: Uint8Array): Operation {
  const cmd = frame[0];
  if (cmd === BLE_PING) return 'ping';
  if (cmd === BLE_MSG) return classifyApdu(frame, 3);
  return 'other';
}

// ---- USB HID ----

const HID_INIT_DATA = 57;
const HID_CONT_DATA = 59;

/** 64-byte reports a CTAPHID message of `length` bytes takes. */
export function hidReports(length: number): number {
  return length <= HID_INIT_DATA ? 1 : 1 + Math.ceil((length - HID_INIT_DATA) / HID_CONT_DATA);
}

/** Modelled time of one CTAPHID transaction: every report one polling interval, plus processing. */
export function hidExchangeMs(
  hid: HidTiming,
  requestBytes: number,
  responseBytes: number,
  procMs: number,
): number {
  return (hidReports(requestBytes) + hidReports(responseBytes)) * hid.bInterval + procMs;
}

// ---- NFC ----

/** Carrier frequency, Hz (ISO/IEC 14443-2). */
export const NFC_FC = 13_560_000;
/** Frame delay time between two frames, 1172/fc (ISO/IEC 14443-3). */
export const NFC_FDT_MS = (1172 / NFC_FC) * 1000;
/** PCB + CRC_A around each block's INF. */
const BLOCK_OVERHEAD = 3;
/** S(WTX) request and response: PCB, WTXM, CRC_A. */
const WTX_BLOCK = 4;
/** R(ACK): PCB, CRC_A. */
const ACK_BLOCK = 3;

export function nfcBitMs(nfc: NfcTiming): number {
  return (128 / NFC_FC) * (106 / nfc.bitRateKbps) * 1000;
}

/** Air time of one standard frame of `bytes` bytes: start bit, 9 bits a byte, end bit. */
export function nfcFrameMs(nfc: NfcTiming, bytes: number): number {
  return (2 + 9 * bytes) * nfcBitMs(nfc);
}

export function nfcFwtMs(nfc: NfcTiming): number {
  return ((256 * 16) / NFC_FC) * 2 ** nfc.fwi * 1000;
}

/** Air time of a message of `bytes` bytes in I-blocks of at most frameSize, with R(ACK)s between. */
function nfcMessageMs(nfc: NfcTiming, bytes: number): number {
  const perBlock = nfc.frameSize - BLOCK_OVERHEAD;
  const blocks = Math.max(1, Math.ceil(bytes / perBlock));
  let t = 0;
  for (let i = 0; i < blocks; i++) {
    const inf = i < blocks - 1 ? perBlock : bytes - perBlock * (blocks - 1);
    t += nfcFrameMs(nfc, inf + BLOCK_OVERHEAD);
    if (i < blocks - 1) t += NFC_FDT_MS + nfcFrameMs(nfc, ACK_BLOCK) + NFC_FDT_MS;
  }
  return t;
}

/** S(WTX) round trips a card needs to work `procMs` within the frame waiting time. */
export function nfcWtxCount(nfc: NfcTiming, procMs: number): number {
  return procMs > nfcFwtMs(nfc) ? Math.ceil(procMs / nfcFwtMs(nfc)) - 1 : 0;
}

/**
 * Modelled time of one C-APDU → R-APDU: the command's blocks, the frame delay, processing
 * (interrupted by an S(WTX) round trip each time it would outlast FWT), the response's blocks.
 */
export function nfcExchangeMs(
  nfc: NfcTiming,
  commandBytes: number,
  responseBytes: number,
  procMs: number,
): number {
  const wtx = nfcWtxCount(nfc, procMs) * (2 * nfcFrameMs(nfc, WTX_BLOCK) + 2 * NFC_FDT_MS);
  return nfcMessageMs(nfc, commandBytes) + NFC_FDT_MS + procMs + wtx + nfcMessageMs(nfc, responseBytes);
}

// ---- BLE ----

const BLE_INIT_HEADER = 3;
const BLE_CONT_HEADER = 1;

/** FIDO BLE fragments a message of `length` bytes takes at `fragmentSize`. */
export function bleFragments(length: number, fragmentSize: number): number {
  const first = fragmentSize - BLE_INIT_HEADER;
  return length <= first ? 1 : 1 + Math.ceil((length - first) / (fragmentSize - BLE_CONT_HEADER));
}

/**
 * Modelled time of one FIDO BLE request → response, the request written with response: each
 * fragment one event out and one event back (its Write Response), processing from the last
 * fragment's arrival, then one event per notification.
 */
export function bleExchangeMs(
  ble: BleTiming,
  fragmentSize: number,
  requestBytes: number,
  responseBytes: number,
  procMs: number,
): number {
  const i = ble.connectionIntervalMs;
  const n = bleFragments(requestBytes, fragmentSize);
  const m = bleFragments(responseBytes, fragmentSize);
  return Math.max((2 * n - 1) * i + procMs, 2 * n * i) + m * i;
}
