/**
 * A hand-written encoder for `Bundle`, the DATA payload. It produces exactly
 * the bytes protobuf-es's `toBinary` does (field-number order, default values
 * omitted); a fuzz property checks this. Its fast decoder is in messages.ts.
 *
 * Two callers: the reliability layer encodes each Bundle once with
 * `encodeBundle` and keeps those bytes, because a retransmission re-sends the
 * same payload under fresh acknowledgement fields (`encodeFrameBytes` then
 * copies it behind the header); `encodeFrame` (vectors, tests, other tools)
 * writes a decoded-form frame in one allocation with `writeBundle`.
 *
 * The acknowledgement a DATA frame piggybacks (`Bundle.ack`, field 3) changes
 * with every transmission while the content does not, so the reliability layer
 * encodes the content once and appends `encodeBundleAckField(ack)`
 * (messages.ts) per transmission: field 3 is the last field, so the result is
 * still what protobuf-es writes.
 */
import { type AckFields, ackBytes, writeAck } from "./messages.ts";
import { readVarint, varintBytes, writeVarint } from "./varint.ts";

/** What a Bundle carries; structurally compatible with the generated type. */
export interface BundleFields {
  messages: readonly Uint8Array[];
  fragment?: { totalLength: number; offset: number; data: Uint8Array } | undefined;
  /**
   * Piggybacked acknowledgement ranges and credit (only under the header's Ack
   * flag). When present it is written, even all default (`1a 00`), as
   * protobuf-es writes a present sub-message; leave it undefined to say nothing.
   */
  ack?: AckFields | undefined;
}

const TAG_MESSAGES = 0x0a; // field 1, length-delimited
/** Tag of a Bundle's `messages` field (1, length-delimited): what `bundleOfOne` finds in front of a message. */
export const BUNDLE_TAG_MESSAGE = TAG_MESSAGES;
const TAG_FRAGMENT = 0x12; // field 2, length-delimited
const TAG_TOTAL_LENGTH = 0x08; // Fragment field 1, varint
const TAG_OFFSET = 0x10; // Fragment field 2, varint
const TAG_DATA = 0x1a; // Fragment field 3, length-delimited
const TAG_ACK = 0x1a; // field 3, length-delimited

function fragmentBodyBytes(f: NonNullable<BundleFields["fragment"]>): number {
  return (
    (f.totalLength !== 0 ? 1 + varintBytes(f.totalLength) : 0) +
    (f.offset !== 0 ? 1 + varintBytes(f.offset) : 0) +
    (f.data.length !== 0 ? 1 + varintBytes(f.data.length) + f.data.length : 0)
  );
}

/** Encoded size of a Bundle. */
export function bundleBytes(b: BundleFields): number {
  let n = 0;
  for (const m of b.messages) n += 1 + varintBytes(m.length) + m.length;
  if (b.fragment !== undefined) {
    const body = fragmentBodyBytes(b.fragment);
    n += 1 + varintBytes(body) + body;
  }
  if (b.ack !== undefined) {
    const body = ackBytes(b.ack);
    n += 1 + varintBytes(body) + body;
  }
  return n;
}

/** Writes the Bundle at `at`; returns the offset after it. */
export function writeBundle(out: Uint8Array, at: number, b: BundleFields): number {
  for (const m of b.messages) {
    out[at++] = TAG_MESSAGES;
    at = writeVarint(out, at, m.length);
    out.set(m, at);
    at += m.length;
  }
  const f = b.fragment;
  if (f !== undefined) {
    out[at++] = TAG_FRAGMENT;
    at = writeVarint(out, at, fragmentBodyBytes(f));
    if (f.totalLength !== 0) {
      out[at++] = TAG_TOTAL_LENGTH;
      at = writeVarint(out, at, f.totalLength);
    }
    if (f.offset !== 0) {
      out[at++] = TAG_OFFSET;
      at = writeVarint(out, at, f.offset);
    }
    if (f.data.length !== 0) {
      out[at++] = TAG_DATA;
      at = writeVarint(out, at, f.data.length);
      out.set(f.data, at);
      at += f.data.length;
    }
  }
  if (b.ack !== undefined) {
    out[at++] = TAG_ACK;
    at = writeAck(out, writeVarint(out, at, ackBytes(b.ack)), b.ack);
  }
  return at;
}

/**
 * The Bundle of one message without copying it, when the bytes just before
 * `message` in its buffer are that Bundle's field header (tag 1, length), as
 * `encodeAppDataEnvelope` leaves them; else undefined. The bytes are the same
 * either way: only the copy is saved.
 */
export function bundleOfOne(message: Uint8Array): Uint8Array | undefined {
  const headroom = 1 + varintBytes(message.length);
  if (message.byteOffset < headroom) return undefined;
  const whole = new Uint8Array(message.buffer, message.byteOffset - headroom, headroom + message.length);
  if (whole[0] !== TAG_MESSAGES) return undefined;
  const length = readVarint(whole, 1);
  if (length === undefined || length[0] !== message.length || length[1] !== headroom) return undefined;
  return whole;
}

/** The Bundle as a standalone byte array. */
export function encodeBundle(b: BundleFields): Uint8Array {
  const out = new Uint8Array(bundleBytes(b));
  writeBundle(out, 0, b);
  return out;
}
