/**
 * Envelopes: protobuf-es to encode any message type, plus a fast path for
 * the one on the hot path, `Envelope{data: AppData{body}}`. Its canonical
 * encoding is two nested length-delimited fields:
 *
 *   0x12 len(inner)  0x0a len(body) body      (inner omitted entirely when body is empty)
 *
 * Encoding writes exactly what protobuf-es writes (tests compare). Decoding
 * takes the fast path only for that exact layout; anything else goes to the
 * complete hand-written decoder (src/wire/messages.ts), whose acceptance is
 * protobuf-es's (test/wire/differential.test.ts).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Envelope, EnvelopeSchema } from "../gen/rollcall/v1/rollcall_pb.ts";
import { BUNDLE_TAG_MESSAGE } from "../wire/bundle.ts";
import { decodeEnvelopeFast, pb } from "../wire/messages.ts";
import { readVarint, varintBytes, writeVarint } from "../wire/varint.ts";

const TAG_DATA = 0x12; // Envelope field 2 (data), length-delimited
const TAG_BODY = 0x0a; // AppData field 1 (body), length-delimited
/**
 * Smallest body given headroom for its Bundle header. A view into a larger
 * buffer costs about 145 ns in Bun (the buffer is materialised), more than
 * copying a small body: with headroom for every message, 32-byte messages
 * went 18% slower while 1300-byte ones went 15% faster.
 */
const HEADROOM_BODY_BYTES_MIN = 512;

/** Any Envelope, with protobuf-es (the peer's own messages use the hand-written encoders of src/wire/messages.ts). */
export function encodeEnvelope(body: MessageInitShape<typeof EnvelopeSchema>["body"]): Uint8Array {
  const { runtime, gen } = pb();
  return runtime.toBinary(gen.EnvelopeSchema, runtime.create(gen.EnvelopeSchema, { body }));
}

/**
 * `Envelope{data: {body}}`, byte-identical to protobuf-es's encoding. A body
 * of HEADROOM_BODY_BYTES_MIN or more is returned as a view preceded in its
 * buffer by the Bundle field header that carries it (tag 1, length), so a
 * frame holding only this message uses the bytes as they are
 * (src/wire/bundle.ts, `bundleOfOne`) instead of copying the body again.
 */
export function encodeAppDataEnvelope(body: Uint8Array): Uint8Array {
  const inner = body.length === 0 ? 0 : 1 + varintBytes(body.length) + body.length;
  const length = 1 + varintBytes(inner) + inner;
  let out: Uint8Array;
  if (body.length >= HEADROOM_BODY_BYTES_MIN) {
    const headroom = 1 + varintBytes(length);
    const buffer = new Uint8Array(headroom + length);
    buffer[0] = BUNDLE_TAG_MESSAGE;
    writeVarint(buffer, 1, length);
    out = buffer.subarray(headroom);
  } else {
    out = new Uint8Array(length);
  }
  let at = 0;
  out[at++] = TAG_DATA;
  at = writeVarint(out, at, inner);
  if (body.length > 0) {
    out[at++] = TAG_BODY;
    at = writeVarint(out, at, body.length);
    out.set(body, at);
  }
  return out;
}

/**
 * The body when `bytes` is exactly a canonical AppData envelope, else
 * undefined (then `decodeEnvelope`, which decides what is valid).
 */
export function appDataBody(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 2 || bytes[0] !== TAG_DATA) return undefined;
  const outer = readVarint(bytes, 1);
  if (outer === undefined || outer[1] + outer[0] !== bytes.length) return undefined;
  if (outer[0] === 0) return new Uint8Array(0);
  if (bytes[outer[1]] !== TAG_BODY) return undefined;
  const inner = readVarint(bytes, outer[1] + 1);
  if (inner === undefined || inner[1] + inner[0] !== bytes.length || inner[0] === 0) return undefined;
  return bytes.subarray(inner[1]);
}

/** Decodes any Envelope as protobuf-es would, without loading it; throws on malformed bytes. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  return decodeEnvelopeFast(bytes);
}

/** Envelope field 16 (module), length-delimited: a two-byte tag. */
const TAG_MODULE = [0x82, 0x01] as const;
const TAG_CHANNEL = 0x08; // ModuleMessage field 1, varint
const TAG_MODULE_BODY = 0x12; // ModuleMessage field 2, length-delimited

/**
 * `Envelope{module: {channel, body}}` in one allocation, byte-identical to
 * protobuf-es's encoding (a zero channel and an empty body omitted), for
 * the module traffic on the hot path (a group's multicasts).
 */
export function encodeModuleEnvelope(channel: number, body: Uint8Array): Uint8Array {
  const inner =
    (channel === 0 ? 0 : 1 + varintBytes(channel)) +
    (body.length === 0 ? 0 : 1 + varintBytes(body.length) + body.length);
  const out = new Uint8Array(2 + varintBytes(inner) + inner);
  out[0] = TAG_MODULE[0];
  out[1] = TAG_MODULE[1];
  let at = writeVarint(out, 2, inner);
  if (channel !== 0) {
    out[at++] = TAG_CHANNEL;
    at = writeVarint(out, at, channel);
  }
  if (body.length > 0) {
    out[at++] = TAG_MODULE_BODY;
    at = writeVarint(out, at, body.length);
    out.set(body, at);
  }
  return out;
}

/**
 * Channel and body when `bytes` is exactly a canonical module envelope with
 * both fields set, else undefined (then `decodeEnvelope` decides).
 */
export function moduleEnvelopeFields(bytes: Uint8Array): { channel: number; body: Uint8Array } | undefined {
  if (bytes.length < 4 || bytes[0] !== TAG_MODULE[0] || bytes[1] !== TAG_MODULE[1]) return undefined;
  const outer = readVarint(bytes, 2);
  if (outer === undefined || outer[1] + outer[0] !== bytes.length || bytes[outer[1]] !== TAG_CHANNEL) return undefined;
  const channel = readVarint(bytes, outer[1] + 1);
  if (channel === undefined || channel[0] === 0 || bytes[channel[1]] !== TAG_MODULE_BODY) return undefined;
  const length = readVarint(bytes, channel[1] + 1);
  if (length === undefined || length[0] === 0 || length[1] + length[0] !== bytes.length) return undefined;
  return { channel: channel[0], body: bytes.subarray(length[1]) };
}
