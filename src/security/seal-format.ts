/**
 * The layout of a sealed frame's seal (docs/wire-format.md, "Sealed
 * frames"), apart from the cryptography: the codec reads it without loading
 * node:crypto, which a peer without a key never needs (it costs a process
 * about 6 ms to load).
 */

/** Bytes the seal adds to a frame's payload: key id, process salt, packet number, tag. */
export const SEAL_BYTES = 36;
export const KEY_ID_BYTES = 4;
export const PROCESS_SALT_BYTES = 8;
export const TAG_BYTES = 16;
/** Packet numbers stay below 2^53 so that every implementation can hold one in a double. */
export const PACKET_NUMBER_MAX = Number.MAX_SAFE_INTEGER;

/** Reads the 8-byte big-endian packet number; exact below 2^53. */
export function readPacketNumber(b: Uint8Array, at: number): number {
  return readUint32(b, at) * 0x1_0000_0000 + readUint32(b, at + 4);
}

export function writePacketNumber(b: Uint8Array, at: number, n: number): void {
  writeUint32(b, at, Math.floor(n / 0x1_0000_0000));
  writeUint32(b, at + 4, n >>> 0);
}

export function readUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function writeUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
