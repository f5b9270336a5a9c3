/**
 * The rollcall frame: a fixed 36-byte header in network byte order followed by
 * a protobuf payload. `docs/wire-format.md` is the normative description; this
 * file implements it.
 *
 * `decodeFrame` never throws on bytes from the network: every malformed input
 * maps to a named {@link DecodeFailure}. `encodeFrame` throws
 * {@link FrameEncodeError} for values out of range, which is a programming
 * error on the local side.
 */
import type { Ack, Bundle, Probe } from "../gen/rollcall/v1/rollcall_pb.ts";
import type { FrameSealer, Keyring } from "../security/keyring.ts";
import {
  KEY_ID_BYTES,
  PACKET_NUMBER_MAX,
  PROCESS_SALT_BYTES,
  readPacketNumber,
  SEAL_BYTES,
  TAG_BYTES,
} from "../security/seal-format.ts";
import { bundleBytes, writeBundle } from "./bundle.ts";
import { ackBytes, decodeAckFast, decodeBundleFast, decodeProbeFast, encodeProbe, pb, writeAck } from "./messages.ts";

/** The empty Ack of an ACK frame with an empty payload; shared, since nothing modifies a decoded payload. */
const ACK = decodeAckFast(new Uint8Array(0));
Object.freeze(ACK.ranges);
Object.freeze(ACK);

/** "RC" in ASCII. */
export const MAGIC = 0x5243;
/** The only version this implementation reads and writes. */
export const VERSION = 1;
/** Bytes in the fixed header, checksum included. */
export const HEADER_BYTES = 36;
/** No datagram is ever larger: container networks and tunnels drop larger ones. */
export const FRAME_BYTES_MAX = 1400;
/** Largest payload that fits in one frame: the body of a plain frame. */
export const PAYLOAD_BYTES_MAX = FRAME_BYTES_MAX - HEADER_BYTES;
/** Largest body of a sealed frame (key mode): the seal takes 36 bytes of the payload. */
export const SEALED_BODY_BYTES_MAX = PAYLOAD_BYTES_MAX - SEAL_BYTES;
/** Bytes of a PATH_CHALLENGE or PATH_RESPONSE body: the token. */
export const PATH_TOKEN_BYTES = 8;
/** Offset of the CRC-32 field; the checksum covers the whole frame with these four bytes zero. */
export const CHECKSUM_OFFSET = 32;

/** Frame types. Codes are append-only; a reader rejects codes it does not know. */
export const FrameType = {
  /** Reliable: carries a sequence number and a {@link Bundle}. */
  Data: 1,
  /** Standalone acknowledgement: sequence number 0, Ack flag, payload an {@link Ack} (empty when it says nothing more). */
  Ack: 2,
  /**
   * Failure detector (docs/membership.md): unreliable, never re-sent,
   * sequence number 0, no Ack flag, receiver id and epoch known; payload a {@link Probe}.
   */
  Probe: 3,
  /** Address or process validation (docs/security.md): seq 0, body an 8-byte token; answered by PathResponse. */
  PathChallenge: 4,
  /** Echoes a PathChallenge's token to where the challenge came from. */
  PathResponse: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flag bits. Every bit not named here is reserved and must be zero. */
export const FrameFlag = {
  /** The `ack` and `sack` fields are meaningful. */
  Ack: 0x01,
  /** The payload is sealed with AES-256-GCM (key mode; docs/wire-format.md, "Sealed frames"). */
  Sealed: 0x02,
} as const;
const FLAGS_KNOWN = FrameFlag.Ack | FrameFlag.Sealed;

/** Header fields common to every frame. All integers are unsigned. */
export interface FrameHeader {
  type: FrameType;
  /** Bit set of {@link FrameFlag}. */
  flags: number;
  /** Sender's 1-based position in the hosts file (1..65535). */
  senderId: number;
  /** Intended receiver's id, 0 when sent to an address not yet known by id. */
  receiverId: number;
  /** Random non-zero value chosen at each process start. */
  senderEpoch: number;
  /** The receiver's epoch as the sender knows it, 0 when not known yet. */
  receiverEpoch: number;
  /** DATA: sequence number in the sender's stream. ACK: always 0. */
  seq: number;
  /** With the Ack flag: every seq up to and including this one was received. */
  ack: number;
  /** With the Ack flag: bit i set means seq `ack + 2 + i` was received. */
  sack: number;
}

export type DataFrame = FrameHeader & { type: typeof FrameType.Data; payload: Bundle };
export type AckFrame = FrameHeader & { type: typeof FrameType.Ack; payload: Ack };
export type ProbeFrame = FrameHeader & { type: typeof FrameType.Probe; payload: Probe };
export type PathFrame = FrameHeader & {
  type: typeof FrameType.PathChallenge | typeof FrameType.PathResponse;
  /** The 8-byte token. */
  payload: Uint8Array;
};
/** A decoded, validated frame. */
export type Frame = DataFrame | AckFrame | ProbeFrame | PathFrame;

/** What the seal of an authenticated frame said about its sender. */
export interface SealInfo {
  keyId: number;
  /** The sending process's 8 random bytes, as two big-endian uint32s (compared per frame, so not as bytes). */
  saltHi: number;
  saltLo: number;
  packetNumber: number;
}

/** A decoded frame, and its seal when it was sealed. */
export type DecodedFrame = Frame & { seal?: SealInfo };

/** Most membership updates one probe carries; more is `bad-payload`. */
export const PROBE_UPDATES_MAX = 64;
/** Most (gap, length) pairs in `Ack.ranges`; more is `bad-payload`. */
export const ACK_RANGE_PAIRS_MAX = 64;
/** Largest sum of the `Ack.ranges` values (how far past the cumulative ack they reach); more is `bad-payload`. */
export const ACK_RANGES_SPAN_MAX = 65535;

/** Every reason a datagram can be rejected, as used in logs and counters. */
export const DECODE_FAILURES = [
  "truncated",
  "too-large",
  "bad-magic",
  "unsupported-version",
  "length-mismatch",
  "trailing-bytes",
  "checksum-mismatch",
  "unknown-type",
  "reserved-bits-set",
  "invalid-field",
  "unauthenticated",
  "bad-payload",
] as const;
export type DecodeFailure = (typeof DECODE_FAILURES)[number];

export type DecodeResult = { ok: true; frame: DecodedFrame } | { ok: false; reason: DecodeFailure; detail: string };

/** Thrown by the encoder for values a valid frame cannot hold. */
export class FrameEncodeError extends Error {
  override name = "FrameEncodeError";
}

function fail(reason: DecodeFailure, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

/**
 * CRC-32 (IEEE 802.3, zlib's) of the whole frame with the checksum field read
 * as zero. One pass over contiguous bytes: the field is zeroed for the
 * computation and restored, so the caller's bytes come back unchanged.
 */
export function frameChecksum(bytes: Uint8Array): number {
  const b0 = bytes[CHECKSUM_OFFSET]!;
  const b1 = bytes[CHECKSUM_OFFSET + 1]!;
  const b2 = bytes[CHECKSUM_OFFSET + 2]!;
  const b3 = bytes[CHECKSUM_OFFSET + 3]!;
  bytes[CHECKSUM_OFFSET] = 0;
  bytes[CHECKSUM_OFFSET + 1] = 0;
  bytes[CHECKSUM_OFFSET + 2] = 0;
  bytes[CHECKSUM_OFFSET + 3] = 0;
  const crc = Bun.hash.crc32(bytes) >>> 0;
  bytes[CHECKSUM_OFFSET] = b0;
  bytes[CHECKSUM_OFFSET + 1] = b1;
  bytes[CHECKSUM_OFFSET + 2] = b2;
  bytes[CHECKSUM_OFFSET + 3] = b3;
  return crc;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}
function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FrameEncodeError(`${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/**
 * Rules a well-formed header obeys beyond field widths. Shared by the encoder
 * (which throws) and the decoder (which rejects with `invalid-field`), so the
 * two can never disagree. Returns a description of the first broken rule.
 */
function headerRuleBroken(h: FrameHeader, payloadLength: number): string | undefined {
  let bodyLength = payloadLength;
  if ((h.flags & FrameFlag.Sealed) !== 0) {
    if (payloadLength < SEAL_BYTES) return `sealed payload of ${payloadLength} bytes, the seal alone is ${SEAL_BYTES}`;
    bodyLength -= SEAL_BYTES;
  }
  if (h.senderId === 0) return "sender id is 0";
  if (h.senderEpoch === 0) return "sender epoch is 0";
  const hasAck = (h.flags & FrameFlag.Ack) !== 0;
  if (!hasAck && (h.ack !== 0 || h.sack !== 0)) return "ack or sack set without the Ack flag";
  if (hasAck && h.receiverEpoch === 0) return "Ack flag set but receiver epoch is 0";
  if (h.type === FrameType.Ack) {
    if (h.seq !== 0) return "ACK frame with non-zero seq";
    if (!hasAck) return "ACK frame without the Ack flag";
  }
  if (h.type === FrameType.Data && bodyLength === 0) return "DATA frame with empty payload";
  if (h.type === FrameType.Probe) {
    if (h.seq !== 0) return "PROBE frame with non-zero seq";
    if (hasAck) return "PROBE frame with the Ack flag";
    if (h.receiverId === 0 || h.receiverEpoch === 0) return "PROBE frame without receiver id and epoch";
  }
  if (h.type === FrameType.PathChallenge || h.type === FrameType.PathResponse) {
    if (h.seq !== 0) return "PATH frame with non-zero seq";
    if (hasAck) return "PATH frame with the Ack flag";
    if (h.receiverId === 0) return "PATH frame without receiver id";
    if (bodyLength !== PATH_TOKEN_BYTES)
      return `PATH frame body of ${bodyLength} bytes, the token is ${PATH_TOKEN_BYTES}`;
    if (h.type === FrameType.PathResponse && h.receiverEpoch === 0) return "PATH_RESPONSE without receiver epoch";
  }
  return undefined;
}

/**
 * Encodes a frame whose payload is already protobuf-encoded. The reliability
 * layer uses this to re-send the same payload with fresh acknowledgement
 * fields without encoding the payload again; `tail`, when given, follows the
 * body (a DATA frame's piggybacked Bundle.ack), so that neither is copied twice.
 */
export function encodeFrameBytes(
  header: FrameHeader,
  body: Uint8Array,
  sealer?: FrameSealer,
  tail?: Uint8Array,
): Uint8Array {
  const bodyLength = tail === undefined ? body.length : body.length + tail.length;
  const bytes = frameBuffer(header, bodyLength, sealer);
  const at = bodyOffset(sealer);
  bytes.set(body, at);
  if (tail !== undefined) bytes.set(tail, at + body.length);
  return finish(bytes, header, bodyLength, sealer);
}

/** Where the body starts in a frame: after the header, and after the seal's key id, salt and packet number. */
function bodyOffset(sealer: FrameSealer | undefined): number {
  return sealer === undefined ? HEADER_BYTES : HEADER_BYTES + SEAL_BYTES - TAG_BYTES;
}

/** Checks the header and allocates the frame for a body of `bodyLength` bytes. */
function frameBuffer(header: FrameHeader, bodyLength: number, sealer: FrameSealer | undefined): Uint8Array {
  if ((header.flags & FrameFlag.Sealed) !== 0)
    throw new FrameEncodeError("the Sealed flag is set by sealing, not by the caller");
  if (sealer === undefined) {
    checkHeader(header, bodyLength);
    return new Uint8Array(HEADER_BYTES + bodyLength);
  }
  if (bodyLength > SEALED_BODY_BYTES_MAX)
    throw new FrameEncodeError(`body is ${bodyLength} bytes; at most ${SEALED_BODY_BYTES_MAX} fit in a sealed frame`);
  checkHeader({ ...header, flags: header.flags | FrameFlag.Sealed }, bodyLength + SEAL_BYTES);
  return new Uint8Array(HEADER_BYTES + SEAL_BYTES + bodyLength);
}

/** Writes the header, seals the body when a sealer is given, and writes the checksum. */
function finish(
  bytes: Uint8Array,
  header: FrameHeader,
  bodyLength: number,
  sealer: FrameSealer | undefined,
): Uint8Array {
  if (sealer === undefined) return writeHeader(bytes, header, header.flags, bodyLength);
  writeHeader(bytes, header, header.flags | FrameFlag.Sealed, bodyLength + SEAL_BYTES, false);
  sealer.seal(bytes, HEADER_BYTES);
  put32(bytes, CHECKSUM_OFFSET, Bun.hash.crc32(bytes) >>> 0);
  return bytes;
}

/** Checks a header for encoding; throws FrameEncodeError. */
function checkHeader(header: FrameHeader, payloadLength: number): void {
  if (!isFrameType(header.type)) {
    throw new FrameEncodeError(`unknown frame type ${header.type}`);
  }
  checkUint("flags", header.flags, 0xff);
  if ((header.flags & ~FLAGS_KNOWN) !== 0)
    throw new FrameEncodeError(`reserved flag bits set: 0x${header.flags.toString(16)}`);
  checkUint("senderId", header.senderId, 0xffff);
  checkUint("receiverId", header.receiverId, 0xffff);
  checkUint("senderEpoch", header.senderEpoch, 0xffff_ffff);
  checkUint("receiverEpoch", header.receiverEpoch, 0xffff_ffff);
  checkUint("seq", header.seq, 0xffff_ffff);
  checkUint("ack", header.ack, 0xffff_ffff);
  checkUint("sack", header.sack, 0xffff_ffff);
  if (payloadLength > PAYLOAD_BYTES_MAX) {
    throw new FrameEncodeError(
      `payload is ${payloadLength} bytes; at most ${PAYLOAD_BYTES_MAX} fit in a ${FRAME_BYTES_MAX}-byte frame`,
    );
  }
  const broken = headerRuleBroken(header, payloadLength);
  if (broken !== undefined) throw new FrameEncodeError(broken);
}

/** Writes the header into a buffer whose payload is already in place, then (unless told not to) the checksum. */
function writeHeader(
  bytes: Uint8Array,
  header: FrameHeader,
  flags: number,
  payloadLength: number,
  withChecksum = true,
): Uint8Array {
  put16(bytes, 0, MAGIC);
  bytes[2] = VERSION;
  bytes[3] = header.type;
  bytes[4] = flags;
  bytes[5] = 0;
  put16(bytes, 6, payloadLength);
  put16(bytes, 8, header.senderId);
  put16(bytes, 10, header.receiverId);
  put32(bytes, 12, header.senderEpoch);
  put32(bytes, 16, header.receiverEpoch);
  put32(bytes, 20, header.seq);
  put32(bytes, 24, header.ack);
  put32(bytes, 28, header.sack);
  put32(bytes, CHECKSUM_OFFSET, 0);
  if (withChecksum) put32(bytes, CHECKSUM_OFFSET, Bun.hash.crc32(bytes) >>> 0);
  return bytes;
}

/**
 * Encodes a decoded-form frame: header plus payload message. A DATA frame's
 * Bundle is written straight into the frame buffer (src/wire/bundle.ts).
 */
export function encodeFrame(frame: Frame, sealer?: FrameSealer): Uint8Array {
  if (frame.type === FrameType.Probe) return encodeFrameBytes(frame, encodeProbe(frame.payload), sealer);
  if (frame.type === FrameType.Ack) {
    const bodyLength = ackBytes(frame.payload);
    const bytes = frameBuffer(frame, bodyLength, sealer);
    writeAck(bytes, bodyOffset(sealer), frame.payload);
    return finish(bytes, frame, bodyLength, sealer);
  }
  if (frame.type !== FrameType.Data) return encodeFrameBytes(frame, frame.payload, sealer);
  const bodyLength = bundleBytes(frame.payload);
  const bytes = frameBuffer(frame, bodyLength, sealer);
  writeBundle(bytes, bodyOffset(sealer), frame.payload);
  return finish(bytes, frame, bodyLength, sealer);
}

/**
 * Decodes and validates one datagram. Never throws: anything malformed yields
 * `{ ok: false, reason, detail }`. Checks run in the order of
 * docs/wire-format.md ("Validation order"), so every implementation reports the
 * same reason for the same bytes.
 */
export function decodeFrame(bytes: Uint8Array, keyring?: Keyring): DecodeResult {
  if (bytes.length < HEADER_BYTES) return fail("truncated", `${bytes.length} bytes, header needs ${HEADER_BYTES}`);
  if (bytes.length > FRAME_BYTES_MAX) return fail("too-large", `${bytes.length} bytes, limit ${FRAME_BYTES_MAX}`);
  const magic = get16(bytes, 0);
  if (magic !== MAGIC) return fail("bad-magic", `magic 0x${magic.toString(16).padStart(4, "0")}`);
  const version = bytes[2]!;
  if (version !== VERSION) return fail("unsupported-version", `version ${version}, this peer speaks ${VERSION}`);
  const payloadLength = get16(bytes, 6);
  const available = bytes.length - HEADER_BYTES;
  if (payloadLength > available)
    return fail("length-mismatch", `payload length ${payloadLength}, only ${available} bytes follow the header`);
  if (payloadLength < available) return fail("trailing-bytes", `${available - payloadLength} bytes after the payload`);
  const stored = get32(bytes, CHECKSUM_OFFSET);
  const computed = frameChecksum(bytes);
  if (stored !== computed) return fail("checksum-mismatch", `stored 0x${hex32(stored)}, computed 0x${hex32(computed)}`);
  const type = bytes[3]!;
  if (!isFrameType(type)) return fail("unknown-type", `frame type ${type}`);
  const flags = bytes[4]!;
  if ((flags & ~FLAGS_KNOWN) !== 0 || bytes[5] !== 0) {
    return fail("reserved-bits-set", `flags 0x${flags.toString(16)}, reserved byte ${bytes[5]}`);
  }
  const header: FrameHeader = {
    type,
    flags,
    senderId: get16(bytes, 8),
    receiverId: get16(bytes, 10),
    senderEpoch: get32(bytes, 12),
    receiverEpoch: get32(bytes, 16),
    seq: get32(bytes, 20),
    ack: get32(bytes, 24),
    sack: get32(bytes, 28),
  };
  const broken = headerRuleBroken(header, payloadLength);
  if (broken !== undefined) return fail("invalid-field", broken);
  const sealed = (flags & FrameFlag.Sealed) !== 0;
  let seal: SealInfo | undefined;
  if (sealed) {
    const packetNumber = readPacketNumber(bytes, HEADER_BYTES + KEY_ID_BYTES + PROCESS_SALT_BYTES);
    if (packetNumber === 0 || packetNumber > PACKET_NUMBER_MAX)
      return fail("invalid-field", `packet number ${packetNumber} outside 1..2^53-1`);
    seal = {
      keyId: get32(bytes, HEADER_BYTES),
      saltHi: get32(bytes, HEADER_BYTES + KEY_ID_BYTES),
      saltLo: get32(bytes, HEADER_BYTES + KEY_ID_BYTES + 4),
      packetNumber,
    };
  }
  // Step 11: nothing in the frame is believed before this.
  let body = bytes;
  let bodyStart = HEADER_BYTES;
  if (keyring === undefined) {
    if (sealed) return fail("unauthenticated", "sealed frame, and this peer runs without a key");
  } else {
    if (seal === undefined) return fail("unauthenticated", "frame not sealed, and this peer runs with a key");
    if (!keyring.has(seal.keyId))
      return fail("unauthenticated", `sealed with key id ${hex32(seal.keyId)}, which is not in my key file`);
    const plain = keyring.open(bytes, HEADER_BYTES, header.senderId, header.senderEpoch);
    if (plain === undefined)
      return fail("unauthenticated", "the tag does not verify: forged, altered, or sealed with another key of that id");
    body = plain;
    bodyStart = 0;
  }
  const bodyLength = body.length - bodyStart;
  // A view of the body only where a decoder needs one: creating it costs more than decoding an ACK.
  const payloadBytes = () => body.subarray(bodyStart);
  try {
    if (type === FrameType.Data) {
      // Hand-written, and reads exactly what protobuf-es would (messages.ts); throws where it would.
      const payload = decodeBundleFast(body, bodyStart);
      const bundleBroken = bundleRuleBroken(payload, (flags & FrameFlag.Ack) !== 0);
      if (bundleBroken !== undefined) return fail("bad-payload", bundleBroken);
      const frame = header as DataFrame & { seal?: SealInfo };
      frame.payload = payload;
      if (seal !== undefined) frame.seal = seal;
      return { ok: true, frame };
    }
    if (type === FrameType.Probe) {
      const payload = decodeProbeFast(body, bodyStart) ?? pb().runtime.fromBinary(pb().gen.ProbeSchema, payloadBytes());
      if (payload.updates.length > PROBE_UPDATES_MAX)
        return fail("bad-payload", `${payload.updates.length} updates, at most ${PROBE_UPDATES_MAX}`);
      const frame = header as ProbeFrame & { seal?: SealInfo };
      frame.payload = payload;
      if (seal !== undefined) frame.seal = seal;
      return { ok: true, frame };
    }
    if (type === FrameType.PathChallenge || type === FrameType.PathResponse) {
      const frame = header as PathFrame & { seal?: SealInfo };
      frame.payload = body.slice(bodyStart);
      if (seal !== undefined) frame.seal = seal;
      return { ok: true, frame };
    }
    // An ACK frame has the Ack flag (step 10), so its Ack is always under it.
    const payload = bodyLength === 0 ? ACK : decodeAckFast(body, bodyStart);
    const ackBroken = ackRuleBroken(payload, "ack");
    if (ackBroken !== undefined) return fail("bad-payload", ackBroken);
    const frame = header as AckFrame & { seal?: SealInfo };
    frame.payload = payload;
    if (seal !== undefined) frame.seal = seal;
    return { ok: true, frame };
  } catch (error) {
    return fail("bad-payload", `payload is not a valid protobuf message: ${(error as Error).message}`);
  }
}

/**
 * A Bundle holds whole messages or one fragment, and is never empty (an `ack`
 * alone is nothing); an `ack` needs the header's Ack flag and follows the Ack rules.
 */
function bundleRuleBroken(bundle: Bundle, hasAck: boolean): string | undefined {
  const fragment = bundle.fragment;
  if (fragment === undefined) {
    if (bundle.messages.length === 0)
      return bundle.ack === undefined ? "bundle carries nothing" : "bundle carries nothing but an ack";
  } else {
    if (bundle.messages.length > 0) return "bundle carries both messages and a fragment";
    if (fragment.data.length === 0) return "empty fragment";
    if (fragment.offset + fragment.data.length > fragment.totalLength)
      return "fragment extends past its message's length";
  }
  if (bundle.ack === undefined) return undefined;
  if (!hasAck) return "bundle carries an ack without the Ack flag in the header";
  return ackRuleBroken(bundle.ack, "bundle ack");
}

/**
 * The rules of `Ack.ranges` (docs/wire-format.md, "Acknowledgement ranges and
 * credit"): (gap, length) pairs, at most 64, every value at least 1, summing
 * to at most 65535. `what` names the Ack in the detail. (That an Ack needs the
 * Ack flag is step 10's for an ACK frame, bundleRuleBroken's for a Bundle.)
 */
function ackRuleBroken(ack: Ack, what: string): string | undefined {
  const ranges = ack.ranges;
  if (ranges.length % 2 !== 0) return `${what} ranges hold ${ranges.length} values, not (gap, length) pairs`;
  if (ranges.length > 2 * ACK_RANGE_PAIRS_MAX)
    return `${what} ranges hold ${ranges.length / 2} pairs, at most ${ACK_RANGE_PAIRS_MAX}`;
  let span = 0;
  for (let i = 0; i < ranges.length; i++) {
    const v = ranges[i]!;
    if (v === 0) return `${what} ranges[${i}] is 0: a ${i % 2 === 0 ? "gap" : "length"} is at least 1`;
    span += v;
  }
  if (span > ACK_RANGES_SPAN_MAX)
    return `${what} ranges reach ${span} seqs past the cumulative ack, at most ${ACK_RANGES_SPAN_MAX}`;
  return undefined;
}

function isFrameType(type: number): type is FrameType {
  return type >= FrameType.Data && type <= FrameType.PathResponse;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
