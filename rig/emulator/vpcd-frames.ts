/**
 * vsmartcard's "vicc" framing between vpcd and a card: every message, both ways, is a
 * uint16 big-endian length and that many payload bytes. TCP splits and merges them at will,
 * so the reader keeps what it has until a frame is whole.
 */
export const MAX_VPCD_PAYLOAD = 0xffff;

/** One frame: length and payload in one buffer (one TCP write, one segment). */
export function vpcdFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_VPCD_PAYLOAD) {
    throw new RangeError(`payload: ${payload.length} bytes exceeds a vpcd frame (${MAX_VPCD_PAYLOAD})`);
  }
  const frame = new Uint8Array(2 + payload.length);
  frame[0] = payload.length >>> 8;
  frame[1] = payload.length & 0xff;
  frame.set(payload, 2);
  return frame;
}

/** Cuts a byte stream into frame payloads. */
export class VpcdFrameReader {
  #pending: Uint8Array = new Uint8Array(0);

  /** Bytes held that are not yet a whole frame. */
  get buffered(): number {
    return this.#pending.length;
  }

  /** Takes the next chunk of the stream; returns the payloads it completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    let pending = this.#pending;
    if (pending.length === 0) pending = chunk;
    else {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending, 0);
      joined.set(chunk, pending.length);
      pending = joined;
    }
    const out: Uint8Array[] = [];
    while (pending.length >= 2) {
      const length = (pending[0]! << 8) | pending[1]!;
      if (pending.length < 2 + length) break;
      out.push(pending.slice(2, 2 + length));
      pending = pending.subarray(2 + length);
    }
    this.#pending = pending;
    return out;
  }
}
