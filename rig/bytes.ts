/** Byte helpers. Uint8Array at every boundary (architecture.md, style 1). */

/** "00" … "ff": a table lookup per byte (the traffic log hex-encodes every unit the rig sends). */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The ASCII codes of each byte's two hex digits, for hex() into a scratch buffer. */
const HEX_HIGH = Uint8Array.from({ length: 256 }, (_, i) => HEX_BYTE[i]!.charCodeAt(0));
const HEX_LOW = Uint8Array.from({ length: 256 }, (_, i) => HEX_BYTE[i]!.charCodeAt(1));
let hexScratch = Buffer.allocUnsafe(1024);

export function hex(bytes: Uint8Array): string {
  const n = bytes.length;
  // Indexed, not for…of: a typed array iterates through its iterator, several times slower.
  if (n <= 6) {
    let out = '';
    for (let i = 0; i < n; i++) out += HEX_BYTE[bytes[i]!]!;
    return out;
  }
  // Longer: the digits into one scratch buffer, decoded once. Appending per byte built a
  // rope of one string object per byte, which the log kept and the garbage collector had
  // to walk: ~60 us an exchange for a 138-byte AUTHENTICATE and its answer.
  if (hexScratch.length < 2 * n) hexScratch = Buffer.allocUnsafe(Math.max(2 * n, 2 * hexScratch.length));
  const out = hexScratch;
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    const b = bytes[i]!;
    out[j] = HEX_HIGH[b]!;
    out[j + 1] = HEX_LOW[b]!;
  }
  return out.toString('latin1', 0, 2 * n);
}

/** Parses hex, ignoring whitespace. Throws on odd length or a non-hex digit. */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new TypeError(`fromHex: not a hex string: "${text.slice(0, 40)}"`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Fresh zero-filled bytes, carved from a shared 16 KB slab for small sizes (as Node's
 * Buffer pool does). Why: V8 keeps typed arrays of up to 64 bytes inside the JS heap, but
 * anything larger, and the first `.buffer` or `subarray()` of a small one, allocates a
 * separate backing store that the garbage collector frees on a helper thread. That costs
 * 0.3 to over 1 us per array (far more than the array itself), which added up to about a
 * third of an emulated HID round trip. A view into an existing slab costs ~40 ns.
 *
 * The result is a plain Uint8Array like `new Uint8Array(length)`; only its `.buffer` is
 * shared with other results, so code that reads `.buffer` must honour byteOffset/length
 * (the rule anyway for any view). A region is never handed out twice, so it starts zeroed.
 */
export function allocBytes(length: number): Uint8Array {
  if (length > SLAB_MAX_ALLOCATION) return new Uint8Array(length);
  if (slabUsed + length > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const bytes = new Uint8Array(slab, slabUsed, length);
  slabUsed = (slabUsed + length + 7) & ~7; // 8-byte aligned, as a fresh ArrayBuffer would be
  return bytes;
}

const SLAB_SIZE = 16 * 1024;
/** Larger arrays get their own buffer, so one long-lived slab view pins at most 16 KB. */
const SLAB_MAX_ALLOCATION = 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = allocBytes(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Byte equality that ignores the Buffer/Uint8Array distinction (deepStrictEqual does not). */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function u16be(value: number): Uint8Array {
  return Uint8Array.of((value >>> 8) & 0xff, value & 0xff);
}

export function u32be(value: number): Uint8Array {
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** Writes `value` as 4 big-endian bytes at `offset` (no intermediate array). */
export function writeU32be(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

export function readU16be(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

export function readU32be(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] ?? 0) << 24) |
      ((bytes[offset + 1] ?? 0) << 16) |
      ((bytes[offset + 2] ?? 0) << 8) |
      (bytes[offset + 3] ?? 0)) >>>
    0
  );
}

/** Copy into a plain Uint8Array (drops Buffer identity; the caller's bytes are not aliased). */
export function toBytes(data: ArrayLike<number>): Uint8Array {
  const out = allocBytes(data.length);
  // set() from a typed array copies with memcpy; from an array-like it iterates.
  out.set(data);
  return out;
}
