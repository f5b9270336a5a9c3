/**
 * Codec properties shared by the CI fuzz test (fixed seed, bounded runs) and
 * `npm run fuzz` (random seed, runs for a given time).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { toHex } from "../../scripts/lib/hex.ts";
import { AckSchema, BundleSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { encodeBundle } from "../../src/wire/bundle.ts";
import {
  DECODE_FAILURES,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameFlag,
  FrameType,
  PAYLOAD_BYTES_MAX,
} from "../../src/wire/frame.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const nonZeroU32 = fc.integer({ min: 1, max: 0xffffffff });
const id = fc.integer({ min: 1, max: 0xffff });

const header = fc
  .record({
    hasAck: fc.boolean(),
    senderId: id,
    receiverId: fc.integer({ min: 0, max: 0xffff }),
    senderEpoch: nonZeroU32,
    receiverEpoch: u32,
    seq: u32,
    ack: u32,
    sack: u32,
  })
  .map(({ hasAck, ...h }) => {
    const ackValid = hasAck && h.receiverEpoch !== 0;
    return {
      ...h,
      flags: ackValid ? FrameFlag.Ack : 0,
      ack: ackValid ? h.ack : 0,
      sack: ackValid ? h.sack : 0,
    };
  });

// Payload sizes stay well inside one frame; the boundary is covered by vectors.
const bundle = fc.oneof(
  fc
    .array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { minLength: 1, maxLength: 6 })
    .map((messages) => create(BundleSchema, { messages })),
  fc
    .record({
      data: fc.uint8Array({ minLength: 1, maxLength: 600 }),
      offset: fc.integer({ min: 0, max: 1 << 20 }),
      extra: fc.integer({ min: 0, max: 1 << 20 }),
    })
    .map(({ data, offset, extra }) =>
      create(BundleSchema, { fragment: { data, offset, totalLength: offset + data.length + extra } }),
    ),
);

/** Any frame the encoder accepts. */
export const arbitraryFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(header, bundle).map(([h, payload]): Frame => ({ ...h, type: FrameType.Data, payload })),
  header
    .filter((h) => h.receiverEpoch !== 0)
    .map((h): Frame => ({ ...h, type: FrameType.Ack, flags: FrameFlag.Ack, seq: 0, payload: create(AckSchema) })),
);

// biome-ignore lint/suspicious/noExplicitAny: each property has its own argument tuple; callers only run them.
export const properties: Record<string, fc.IProperty<any>> = {
  roundTrip: fc.property(arbitraryFrame, (frame) => {
    const bytes = encodeFrame(frame);
    const result = decodeFrame(bytes);
    if (!result.ok) throw new Error(`valid frame rejected: ${result.reason} (${result.detail})`);
    const again = encodeFrame(result.frame);
    if (Buffer.compare(bytes, again) !== 0) throw new Error("re-encoding changed the bytes");
    if (bytes.length - 36 > PAYLOAD_BYTES_MAX) throw new Error("frame over the size limit");
  }),

  arbitraryBytesNeverThrow: fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (bytes) => {
    const result = decodeFrame(bytes);
    if (!result.ok && !DECODE_FAILURES.includes(result.reason)) throw new Error(`unnamed reason ${result.reason}`);
  }),

  /** Bytes that start like a frame reach the deeper checks, not just bad-magic. */
  plausibleBytesNeverThrow: fc.property(
    fc.uint8Array({ minLength: 0, maxLength: 400 }),
    fc.integer({ min: 0, max: 3 }),
    (tail, type) => {
      const bytes = new Uint8Array(4 + tail.length);
      bytes.set([0x52, 0x43, 1, type]);
      bytes.set(tail, 4);
      const result = decodeFrame(bytes);
      if (!result.ok && !DECODE_FAILURES.includes(result.reason)) throw new Error(`unnamed reason ${result.reason}`);
    },
  ),

  everySingleBitFlipRejected: fc.property(arbitraryFrame, fc.nat(), (frame, position) => {
    const bytes = encodeFrame(frame);
    const bit = position % (bytes.length * 8);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    const result = decodeFrame(bytes);
    if (result.ok) throw new Error(`bit ${bit} flipped and the frame was still accepted`);
  }),
};

/** The hand-written Bundle encoder produces exactly protobuf-es's bytes. */
properties.bundleEncoderMatchesProtobufEs = fc.property(arbitraryFrame, (frame) => {
  if (frame.type !== FrameType.Data) return;
  const mine = encodeBundle(frame.payload);
  const theirs = toBinary(BundleSchema, frame.payload);
  if (Buffer.compare(mine, theirs) !== 0)
    throw new Error(`bundle encodings differ: ${toHex(mine)} vs ${toHex(theirs)}`);
});
