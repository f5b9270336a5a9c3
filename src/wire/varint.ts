/**
 * Protobuf varints for the hand-written encoders and the AppData fast path:
 * unsigned values up to 32 bits, the only ones rollcall writes by hand.
 */

/** Bytes a uint32 takes as a protobuf varint. */
export function varintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes a uint32 as a protobuf varint at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, n: number): number {
  let v = n >>> 0;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** Reads a varint at `at`; returns [value, next offset], or undefined when truncated or over 32 bits. */
export function readVarint(b: Uint8Array, at: number): [number, number] | undefined {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at >= b.length) return undefined;
    const byte = b[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value <= 0xffffffff ? [value, at] : undefined;
  }
  return undefined;
}
