import { z } from 'zod';
import { fromHex, hex } from '../bytes.ts';

/**
 * What the fuzzer sends: a case is a short list of steps, each one unit of the link's own
 * (a 64-byte HID report, a C-APDU, a FIDO BLE control-point write). HID reports name their
 * channel symbolically (A and B are channels the fuzzer allocated at the start; the device
 * hands out new numbers each time), so a case replays on any run.
 */
export const LAYERS = ['ctaphid', 'u2f', 'iso7816', 'ble'] as const;
export type FuzzLayer = (typeof LAYERS)[number];

/** The link a case runs over. */
export const FUZZ_TRANSPORTS = ['hid', 'nfc', 'ble'] as const;
export type FuzzTransport = (typeof FUZZ_TRANSPORTS)[number];

/** Which layers each link carries (U2F messages go over all three). */
export const LAYERS_OF: Record<FuzzTransport, readonly FuzzLayer[]> = {
  hid: ['ctaphid', 'u2f'],
  nfc: ['iso7816', 'u2f'],
  ble: ['ble', 'u2f'],
};

const HEX = z.string().regex(/^([0-9a-f]{2})*$/, 'lowercase hex');
const CID = z.union([z.enum(['A', 'B', 'broadcast']), z.number().int().min(0).max(0xffffffff)]);
export type SymbolicCid = z.infer<typeof CID>;

/**
 * In a sequence of several cases (what a state corruption came from), the case a step
 * belongs to: the liveness probe runs between cases, as it did in the campaign.
 */
const CASE = z.number().int().min(0).optional();

export const StepSchema = z.discriminatedUnion('kind', [
  /** One HID output report: its channel, then the 60 bytes after the CID (zero-padded). */
  z.strictObject({ kind: z.literal('report'), cid: CID, data: HEX, case: CASE }),
  /** One C-APDU to the card, exactly these bytes. */
  z.strictObject({ kind: z.literal('apdu'), data: HEX, case: CASE }),
  /** One write to the FIDO BLE control point. */
  z.strictObject({ kind: z.literal('fragment'), data: HEX, case: CASE }),
]);
export type Step = z.infer<typeof StepSchema>;

export const FuzzCaseSchema = z.strictObject({
  /** The grammar production that made it (its coverage key), e.g. "ctaphid/init-bcnt". */
  rule: z.string(),
  layer: z.enum(LAYERS),
  steps: z.array(StepSchema).min(1),
});
export type FuzzCase = z.infer<typeof FuzzCaseSchema>;

export const report = (cid: SymbolicCid, data: Uint8Array): Step => ({
  kind: 'report',
  cid,
  data: hex(data.subarray(0, 60)).replace(/ /g, ''),
});
export const apduStep = (data: Uint8Array): Step => ({ kind: 'apdu', data: compactHex(data) });
export const fragmentStep = (data: Uint8Array): Step => ({ kind: 'fragment', data: compactHex(data) });

export function compactHex(bytes: Uint8Array): string {
  return hex(bytes).replace(/ /g, '');
}

export function stepBytes(step: Step): Uint8Array {
  return fromHex(step.data);
}

/** How a step reads in the console and the report: "A: 86 00 08 …", "APDU 00 01 03 00 …". */
export function describeStep(step: Step, max = 24): string {
  const bytes = stepBytes(step);
  const shown = hex(bytes.subarray(0, max)) + (bytes.length > max ? ` … (${bytes.length} bytes)` : '');
  if (step.kind === 'report') {
    const cid = typeof step.cid === 'number' ? step.cid.toString(16).padStart(8, '0') : step.cid;
    return `report ${cid}: ${shown}`;
  }
  return `${step.kind === 'apdu' ? 'C-APDU' : 'fragment'} ${shown}`;
}

/**
 * How many messages a case sends, as the issue counts them: a HID init packet starts one,
 * its continuations belong to it; each C-APDU and each FIDO BLE initial fragment is one.
 */
export function messageCount(steps: readonly Step[]): number {
  let n = 0;
  for (const step of steps) {
    const first = Number.parseInt(step.data.slice(0, 2) || '00', 16);
    if (step.kind === 'apdu') n++;
    else if (first & 0x80) n++;
  }
  return Math.max(n, steps.length > 0 ? 1 : 0);
}
