/**
 * Card-side short-APDU answer splitting (catalogue §1.3, NFC-REG-01/02, NFC-CHAIN-02): an
 * answer longer than Ne goes out as its first Ne bytes + 61xx, the rest through GET
 * RESPONSE, each time honouring the Le the host asks for.
 */
import { concat } from '../../bytes.ts';
import { SW1_MORE_DATA, statusBytes } from '../../transport/nfc/iso7816.ts';

/** What is still owed after a 61xx: the remaining data and the final SW. */
export interface PendingAnswer {
  readonly rest: Uint8Array;
  readonly sw: number;
}

export interface Chunk {
  /** The R-APDU to send now. */
  readonly rApdu: Uint8Array;
  /** What GET RESPONSE will hand out next; undefined when the answer is complete. */
  readonly pending: PendingAnswer | undefined;
}

/**
 * Sends up to `ne` bytes of `data`; if more remain, SW 61xx (xx = remaining, 00 when 256 or
 * more, catalogue §1.1) and the remainder is pending; otherwise data ‖ `sw`.
 */
export function nextChunk(data: Uint8Array, sw: number, ne: number): Chunk {
  if (data.length <= ne) return { rApdu: concat(data, statusBytes(sw)), pending: undefined };
  const rest = data.subarray(ne);
  const more = Uint8Array.of(SW1_MORE_DATA, rest.length >= 256 ? 0 : rest.length);
  return { rApdu: concat(data.subarray(0, ne), more), pending: { rest, sw } };
}

/** Splits a whole R-APDU (data ‖ SW) for a short request with Ne `ne`. */
export function firstChunk(answer: Uint8Array, ne: number): Chunk {
  if (answer.length < 2) return { rApdu: answer, pending: undefined };
  const sw = (answer[answer.length - 2]! << 8) | answer[answer.length - 1]!;
  return nextChunk(answer.subarray(0, answer.length - 2), sw, ne);
}
