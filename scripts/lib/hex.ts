/** Lowercase hex without separators, as used in logs and golden vectors. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Parses lowercase or uppercase hex; throws on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error(`not a hex string: ${hex.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}
