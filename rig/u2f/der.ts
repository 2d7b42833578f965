/**
 * Minimal DER (X.690) header reading for the few places the U2F layer must find element
 * boundaries itself: the certificate inside a REGISTER response has no length prefix of its
 * own (U2F raw message formats §4.3), and the TBS bytes of a certificate must be signed as
 * sent, not as re-encoded by a library.
 */

export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  offset: number;
  headerLength: number;
  /** Content length from the header. */
  length: number;
  /** Offset just past the content (may exceed the input when the element is truncated). */
  end: number;
  /** True when the length used the long form (0x81.. 0x84). */
  longForm: boolean;
}

/**
 * Reads one tag-length header at `offset`. Returns undefined when the header itself is
 * missing, indefinite (0x80), longer than 4 length bytes or not minimally encoded. The
 * content may still run past the end of `bytes`; callers compare `end` with the length.
 */
export function readDerHeader(bytes: Uint8Array, offset = 0): DerElement | undefined {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) return undefined;
  if (first < 0x80) {
    return { tag, offset, headerLength: 2, length: first, end: offset + 2 + first, longForm: false };
  }
  const count = first & 0x7f;
  if (count === 0 || count > 4 || offset + 2 + count > bytes.length) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
  // X.690 §10.1: DER uses the fewest length octets; 0x81 is only for lengths >= 128.
  if (length < 0x80 || (bytes[offset + 2] ?? 0) === 0) return undefined;
  const headerLength = 2 + count;
  return { tag, offset, headerLength, length, end: offset + headerLength + length, longForm: true };
}

/** The content bytes of an element read by readDerHeader. */
export function derContent(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.offset + element.headerLength, element.end);
}

/** Dotted form of an OBJECT IDENTIFIER's content bytes (X.690 §8.19). */
export function oidToString(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        arcs.push(first, value - first * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}
