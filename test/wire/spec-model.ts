/**
 * "Validation order" in docs/wire-format.md, transcribed from the spec and
 * sharing no code with src/wire: a second implementation for the fuzz
 * properties to compare the codec's verdicts against. For step 12 it uses
 * protobuf-es as the protobuf parser, as the spec's "valid protobuf" means.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { AckSchema, BundleSchema, ProbeSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** zlib's CRC-32 with bytes 32–35 read as zero. */
function specChecksum(b: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < b.length; i++) {
    const byte = i >= 32 && i < 36 ? 0 : b[i]!;
    crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const u16 = (b: Uint8Array, at: number) => b[at]! * 0x100 + b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => u16(b, at) * 0x10000 + u16(b, at + 2);

/** "ok", or the reason the spec's validation order gives a receiver without a key for rejecting `b`. */
export function specVerdict(b: Uint8Array): string {
  const header = headerVerdict(b);
  if (header !== "payload") return header;
  // Step 11: a receiver without a key reads no sealed frame.
  if ((b[4]! & 0x02) !== 0) return "unauthenticated";
  const payload = b.subarray(36);
  if (b[3] === 4 || b[3] === 5) return "ok";
  if (b[3] === 2) {
    try {
      return ackRangesBroken(fromBinary(AckSchema, payload).ranges) === undefined ? "ok" : "bad-payload";
    } catch {
      return "bad-payload";
    }
  }
  if (b[3] === 3) {
    try {
      return fromBinary(ProbeSchema, payload).updates.length <= 64 ? "ok" : "bad-payload";
    } catch {
      return "bad-payload";
    }
  }
  return bundleRuleBroken(payload, (b[4]! & 0x01) !== 0) === undefined ? "ok" : "bad-payload";
}

/**
 * The Bundle rule a DATA payload breaks (step 12), or undefined when it is a
 * valid Bundle; `ackFlag`: the header's Ack flag.
 */
export function bundleRuleBroken(payload: Uint8Array, ackFlag: boolean): string | undefined {
  let bundle: ReturnType<typeof fromBinary<typeof BundleSchema>>;
  try {
    bundle = fromBinary(BundleSchema, payload);
  } catch {
    return "not protobuf";
  }
  const f = bundle.fragment;
  if (f === undefined && bundle.messages.length === 0) return "carries nothing";
  if (f !== undefined && bundle.messages.length > 0) return "messages and fragment";
  if (f !== undefined && f.data.length === 0) return "empty fragment";
  if (f !== undefined && f.offset + f.data.length > f.totalLength) return "fragment past end";
  // "has ack" is field presence: an empty Ack (1a 00) counts.
  if (bundle.ack !== undefined && !ackFlag) return "ack without flag";
  return bundle.ack === undefined ? undefined : ackRangesBroken(bundle.ack.ranges);
}

/** The `Ack.ranges` rule broken, or undefined: pairs, at most 64 of them, no 0, summing to at most 65535. */
export function ackRangesBroken(ranges: readonly number[]): string | undefined {
  if (ranges.length % 2 === 1) return "odd ranges";
  if (ranges.length / 2 > 64) return "too many pairs";
  if (ranges.includes(0)) return "zero range";
  return ranges.reduce((a, b) => a + b, 0) > 65535 ? "ranges span" : undefined;
}

/**
 * The reason the spec gives for rejecting `b` before its payload is parsed, or
 * "payload" when the header is valid and only steps 11 and 12 can still reject it.
 */
function headerVerdict(b: Uint8Array): string {
  if (b.length < 36) return "truncated";
  if (b.length > 1400) return "too-large";
  if (u16(b, 0) !== 0x5243) return "bad-magic";
  if (b[2] !== 1) return "unsupported-version";
  const payloadLength = u16(b, 6);
  if (payloadLength > b.length - 36) return "length-mismatch";
  if (payloadLength < b.length - 36) return "trailing-bytes";
  if (u32(b, 32) !== specChecksum(b)) return "checksum-mismatch";
  const type = b[3]!;
  if (type < 1 || type > 5) return "unknown-type";
  const flags = b[4]!;
  if ((flags & ~0x03) !== 0 || b[5] !== 0) return "reserved-bits-set";
  const ackFlag = (flags & 0x01) !== 0;
  const sealed = (flags & 0x02) !== 0;
  if (sealed && payloadLength < 36) return "invalid-field";
  const bodyLength = sealed ? payloadLength - 36 : payloadLength;
  const senderId = u16(b, 8);
  const senderEpoch = u32(b, 12);
  const receiverEpoch = u32(b, 16);
  const seq = u32(b, 20);
  const ack = u32(b, 24);
  const sack = u32(b, 28);
  if (senderId === 0 || senderEpoch === 0) return "invalid-field";
  if (!ackFlag && (ack !== 0 || sack !== 0)) return "invalid-field";
  if (ackFlag && receiverEpoch === 0) return "invalid-field";
  if (type === 2 && (seq !== 0 || !ackFlag)) return "invalid-field";
  if (type === 1 && bodyLength === 0) return "invalid-field";
  if (type === 3 && (seq !== 0 || ackFlag || u16(b, 10) === 0 || receiverEpoch === 0)) return "invalid-field";
  if (type === 4 || type === 5) {
    if (seq !== 0 || ackFlag || u16(b, 10) === 0 || bodyLength !== 8) return "invalid-field";
    if (type === 5 && receiverEpoch === 0) return "invalid-field";
  }
  if (sealed) {
    const packetNumber = u32(b, 48) * 0x1_0000_0000 + u32(b, 52);
    if (packetNumber === 0 || packetNumber > Number.MAX_SAFE_INTEGER) return "invalid-field";
  }
  return "payload";
}
