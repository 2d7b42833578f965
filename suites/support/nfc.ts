import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import { parseResponse, type ResponseApdu, SW } from '../../rig/transport/nfc/apdu.ts';
import { getResponse, selectFido } from '../../rig/transport/nfc/iso7816.ts';
import type { NfcTransport } from '../../rig/transport/nfc/nfc-transport.ts';

export const U2F_V2_HEX = '5532465f5632';

/** One C-APDU exactly as given, the answer split into data and SW. */
export async function send(nfc: NfcTransport, apdu: Uint8Array): Promise<ResponseApdu> {
  return parseResponse(await nfc.transmitRaw(apdu));
}

/** SELECT the FIDO applet with raw APDUs and check the answer (NFC-SEL-01). */
export async function selectU2f(nfc: NfcTransport): Promise<void> {
  const r = await send(nfc, selectFido());
  assert.equal(hex(r.raw), `${U2F_V2_HEX}9000`, `SELECT of the FIDO AID answered ${hex(r.raw)}`);
}

export interface Collected {
  data: Uint8Array;
  sw: number;
  /** Data bytes of each R-APDU: the first answer, then each GET RESPONSE. */
  chunks: number[];
  getResponses: number;
}

/**
 * Follows 61xx with GET RESPONSE until a final status word (NFC-REG-01/02, NFC-CHAIN-02).
 * `le`: 'sw2' asks for what SW2 announced (python-fido2), a number asks for that much (GN).
 */
export async function collect(
  nfc: NfcTransport,
  first: ResponseApdu,
  le: 'sw2' | number,
): Promise<Collected> {
  const parts = [first.data];
  const chunks = [first.data.length];
  let r = first;
  let getResponses = 0;
  while (r.sw >> 8 === 0x61) {
    assert.ok(getResponses < 300, 'the card keeps answering 61xx');
    const ne = le === 'sw2' ? r.sw & 0xff || 256 : le;
    r = await send(nfc, getResponse(ne));
    getResponses++;
    parts.push(r.data);
    chunks.push(r.data.length);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, sw: r.sw, chunks, getResponses };
}

export function isOk(r: { sw: number }): boolean {
  return r.sw === SW.NO_ERROR;
}
