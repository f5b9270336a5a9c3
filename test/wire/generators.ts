/**
 * Input generators for the codec fuzz properties (properties.ts) and the test
 * that pins their size distribution (distribution.test.ts).
 *
 * fast-check 4 sizes every array it generates from its `baseSize` ("small":
 * about 10 elements) whatever `maxLength` says, so an unsized
 * `uint8Array({ maxLength: 1500 })` never reaches the 36-byte header. Every
 * length that matters here is therefore generated with `size: "max"`, which
 * spreads it over its whole range.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import {
  type Ack,
  AckSchema,
  type Bundle,
  BundleSchema,
  EnvelopeSchema,
} from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { encodeAppDataEnvelope } from "../../src/peer/envelope.ts";
import {
  CHECKSUM_OFFSET,
  type DataFrame,
  encodeFrame,
  type Frame,
  FrameFlag,
  FrameType,
  frameChecksum,
  HEADER_BYTES,
  PAYLOAD_BYTES_MAX,
} from "../../src/wire/frame.ts";

const MAX = "max" as const;
const U32_MAX = 0xffff_ffff;

const u32 = fc.integer({ min: 0, max: U32_MAX });
const nonZeroU32 = fc.integer({ min: 1, max: U32_MAX });
const id = fc.integer({ min: 1, max: 0xffff });

function put(b: Uint8Array, at: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    b[at + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}

/** Writes the checksum the sender would have written, so corruption gets past step 7. */
function reseal(frame: Uint8Array): void {
  put(frame, CHECKSUM_OFFSET, 4, frameChecksum(frame));
}

/** Protobuf building blocks for hand-made, possibly malformed, payloads. */
export const pb = {
  varint(n: number): number[] {
    const out: number[] = [];
    let v = n;
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
    return out;
  },
  /** A varint padded with continuation bytes: valid protobuf, not canonical. */
  overlong(n: number, pad: number): number[] {
    const out = pb.varint(n);
    out[out.length - 1]! |= 0x80;
    for (let i = 1; i < pad; i++) out.push(0x80);
    out.push(0);
    return out;
  },
  tag(field: number, wireType: number): number[] {
    return pb.varint(field * 8 + wireType);
  },
  len(field: number, body: ArrayLike<number>): number[] {
    return [...pb.tag(field, 2), ...pb.varint(body.length), ...Array.from(body)];
  },
  uint(field: number, n: number): number[] {
    return [...pb.tag(field, 0), ...pb.varint(n)];
  },
};

/** Bytes of any length up to `maxLength`, spread over the whole range. */
function bytes(maxLength: number, minLength = 0): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength, maxLength, size: MAX });
}

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

/**
 * Keeps messages while the Bundle fits in `room` bytes (one frame's payload
 * unless an ack takes some) and cuts the first one that does not to the room
 * left, so that full frames (the reliability layer packs them full) are common
 * rather than rejected by the encoder.
 */
function fitMessages(messages: readonly Uint8Array[], room = PAYLOAD_BYTES_MAX): Uint8Array[] {
  const kept: Uint8Array[] = [];
  for (const m of messages) {
    const need = 1 + pb.varint(m.length).length + m.length;
    if (need <= room) {
      kept.push(m);
      room -= need;
      continue;
    }
    // A length prefix shrinks with the body, so try the larger prefix first.
    for (const prefix of [2, 1]) {
      const fit = room - 1 - prefix;
      if (fit >= 0 && pb.varint(fit).length === prefix) {
        kept.push(m.subarray(0, fit));
        break;
      }
    }
    break;
  }
  return kept;
}

/**
 * Valid `Ack.ranges`: up to 64 (gap, length) pairs, every value at least 1,
 * summing to at most 65535: mostly short runs, sometimes long ones, and the
 * limits themselves (64 pairs; a sum of exactly 65535).
 */
export const arbitraryRanges: fc.Arbitrary<number[]> = fc
  .oneof(
    { weight: 6, arbitrary: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 128, size: MAX }) },
    { weight: 3, arbitrary: fc.array(fc.integer({ min: 1, max: 511 }), { maxLength: 128, size: MAX }) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 128 }, (_, i) => (i % 2 === 0 ? 1 : 2))) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 65534 }).map((gap) => [gap, 65535 - gap]),
    },
  )
  .map((values) => (values.length % 2 === 0 ? values : values.slice(1)));

const creditOrDelay = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1000 }) },
  { weight: 1, arbitrary: u32 },
);

/** Any valid Ack, the all-default one included. */
export const arbitraryAck: fc.Arbitrary<Ack> = fc
  .record({ ranges: arbitraryRanges, ackDelayUs: creditOrDelay, messageCredit: creditOrDelay })
  .map((a) => create(AckSchema, a));

/** Bytes Bundle field 3 takes for `ack`: present even when empty. */
function ackFieldBytes(ack: Ack | undefined): number {
  if (ack === undefined) return 0;
  const n = toBinary(AckSchema, ack).length;
  return 1 + pb.varint(n).length + n;
}

// Two shapes: a few messages of any size (up to one that fills the frame) and
// many small ones, as when the sender coalesces chatter.
const messagesBundle = (ack: Ack | undefined) =>
  fc
    .oneof(
      fc.array(bytes(PAYLOAD_BYTES_MAX), { minLength: 1, maxLength: 4, size: MAX }),
      fc.array(bytes(48), { minLength: 1, maxLength: 64, size: MAX }),
    )
    .map((messages) =>
      create(BundleSchema, { messages: fitMessages(messages, PAYLOAD_BYTES_MAX - ackFieldBytes(ack)), ack }),
    );

/** Fragment data that fits even when offset and total length take 5-byte varints. */
const FRAGMENT_DATA_MAX = PAYLOAD_BYTES_MAX - 18;

const fragmentBundle = (ack: Ack | undefined) =>
  fc.record({ data: bytes(FRAGMENT_DATA_MAX, 1), offset: u32, extra: u32 }).map((f) => {
    // Room for the ack, keeping at least one byte of data.
    const data = f.data.subarray(0, Math.max(1, f.data.length - ackFieldBytes(ack)));
    // Offsets anywhere in the uint32 range, clamped so that the fragment ends inside its message.
    const offset = Math.min(f.offset, U32_MAX - data.length);
    const totalLength = offset + data.length + Math.min(f.extra, U32_MAX - offset - data.length);
    return create(BundleSchema, { fragment: { data, offset, totalLength }, ack });
  });

const bundle = (ack?: Ack): fc.Arbitrary<Bundle> => fc.oneof(messagesBundle(ack), fragmentBundle(ack));

/** DATA frames; under the Ack flag, half of them piggyback an Ack (`Bundle.ack`). */
export const arbitraryDataFrame: fc.Arbitrary<DataFrame> = fc
  .tuple(header, fc.boolean(), arbitraryAck)
  .chain(([h, withAck, ack]) =>
    bundle((h.flags & FrameFlag.Ack) !== 0 && withAck ? ack : undefined).map(
      (payload): DataFrame => ({ ...h, type: FrameType.Data, payload }),
    ),
  );

const arbitraryAckFrame: fc.Arbitrary<Frame> = fc
  .tuple(
    header.filter((h) => h.receiverEpoch !== 0),
    fc.oneof(fc.constant(create(AckSchema)), arbitraryAck),
  )
  .map(([h, payload]): Frame => ({ ...h, type: FrameType.Ack, flags: FrameFlag.Ack, seq: 0, payload }));

/** Any frame the encoder accepts. */
export const arbitraryFrame: fc.Arbitrary<Frame> = fc.oneof(arbitraryDataFrame, arbitraryAckFrame);

/** Up to past the frame limit, so that `too-large` is reached too. */
export const arbitraryBytes = bytes(1500);

/**
 * Starts like a frame (magic, version, a type around the valid ones), with a
 * length field that is right half the time and a checksum that is right a
 * third of the time, so the length and checksum checks both see either case.
 * Half the time the reserved bits are clear too, so that random header fields
 * and random payloads get to the last two checks.
 */
export const plausibleBytes = fc
  .record({
    header: bytes(HEADER_BYTES, HEADER_BYTES),
    payload: bytes(PAYLOAD_BYTES_MAX + 8),
    type: fc.integer({ min: 0, max: 3 }),
    lengthRight: fc.boolean(),
    checksumRight: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
    reservedClear: fc.boolean(),
  })
  .map((p) => {
    const frame = new Uint8Array(HEADER_BYTES + p.payload.length);
    frame.set(p.header);
    frame.set(p.payload, HEADER_BYTES);
    frame.set([0x52, 0x43, 1, p.type]);
    if (p.lengthRight) put(frame, 6, 2, p.payload.length);
    if (p.reservedClear) frame.set([frame[4]! & FrameFlag.Ack, 0], 4);
    if (p.checksumRight) reseal(frame);
    return frame;
  });

// --- Corrupted frames, resealed --------------------------------------------

interface FragmentParts {
  totalLength: number;
  offset: number;
  data: Uint8Array;
}

/** A Fragment's fields in any order, explicit zeros kept: decoders must not care. */
function fragmentBody(f: FragmentParts, order: number): number[] {
  const fields = [pb.uint(1, f.totalLength), pb.uint(2, f.offset), pb.len(3, f.data)];
  const rotated = [...fields.slice(order % 3), ...fields.slice(0, order % 3)];
  return order >= 3 ? rotated.reverse().flat() : rotated.flat();
}

// Fields a later version might add: readers skip them. (Bundle and Ack know 1 to 3.)
const unknownField = fc
  .record({ field: fc.integer({ min: 4, max: 2000 }), wireType: fc.constantFrom(0, 1, 2, 5), value: bytes(16), n: u32 })
  .map(({ field, wireType, value, n }) => {
    const tag = pb.tag(field, wireType);
    if (wireType === 0) return [...tag, ...pb.varint(n)];
    if (wireType === 1 || wireType === 5) {
      const fixed = new Uint8Array(wireType === 1 ? 8 : 4);
      fixed.set(value.subarray(0, fixed.length));
      return [...tag, ...fixed];
    }
    return [...tag, ...pb.varint(value.length), ...value];
  });

const fragmentParts: fc.Arbitrary<FragmentParts> = fc.record({
  totalLength: fc.oneof(u32, fc.integer({ min: 0, max: 2000 })),
  offset: fc.oneof(u32, fc.integer({ min: 0, max: 2000 })),
  data: bytes(FRAGMENT_DATA_MAX),
});

/**
 * Ack bodies as a sender might write them or should not: ranges valid or
 * breaking one rule (odd count, a 0, more than 64 pairs, a sum over 65535),
 * packed, unpacked or split over several fields, with delay, credit and
 * unknown fields in any order.
 */
const ackBody: fc.Arbitrary<number[]> = fc
  .record({
    ranges: fc.oneof(
      { weight: 3, arbitrary: arbitraryRanges },
      { weight: 1, arbitrary: arbitraryRanges.map((r) => [...r, 1]) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(arbitraryRanges, fc.nat())
          .map(([r, at]) => (r.length === 0 ? [0, 1] : r.map((v, i) => (i === at % r.length ? 0 : v)))),
      },
      {
        weight: 1,
        arbitrary: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 65, maxLength: 70 }).map((p) => [...p, ...p]),
      },
      { weight: 1, arbitrary: fc.integer({ min: 65536, max: 200_000 }).map((sum) => [sum - 1000, 1000]) },
    ),
    encoding: fc.constantFrom("packed", "unpacked", "split"),
    delay: creditOrDelay,
    credit: creditOrDelay,
    unknown: fc.option(unknownField),
    scalarsFirst: fc.boolean(),
  })
  .map(({ ranges, encoding, delay, credit, unknown, scalarsFirst }) => {
    const packed = (rs: number[]) =>
      rs.length === 0
        ? []
        : pb.len(
            1,
            rs.flatMap((r) => pb.varint(r)),
          );
    const half = ranges.length >> 1;
    const rangeBytes =
      encoding === "packed"
        ? packed(ranges)
        : encoding === "unpacked"
          ? ranges.flatMap((r) => pb.uint(1, r))
          : [...packed(ranges.slice(0, half)), ...ranges.slice(half).flatMap((r) => pb.uint(1, r))];
    const scalars = [...(delay === 0 ? [] : pb.uint(2, delay)), ...(credit === 0 ? [] : pb.uint(3, credit))];
    const parts = scalarsFirst ? [...scalars, ...rangeBytes] : [...rangeBytes, ...scalars];
    return [...parts, ...(unknown ?? [])];
  });

/**
 * DATA payloads a sender should not write: each breaks one Bundle rule or is
 * not a Bundle at all, plus valid but non-canonical encodings that a decoder
 * must accept and read the same values from. Some are Ack bodies, for ACK frames.
 */
const payloadVariant: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    // Only unknown fields: parses, carries nothing.
    fc.array(unknownField, { minLength: 1, maxLength: 3 }).map((fs) => fs.flat()),
    // Messages or a fragment with an ack (valid or not), once or split in two
    // fields (protobuf merges them); or an ack alone, which carries nothing.
    // (Weighted up: the Ack rules are several, and the Ack flag decides first.)
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.oneof(
            {
              weight: 3,
              arbitrary: fc
                .array(bytes(100), { minLength: 1, maxLength: 4, size: MAX })
                .map((ms) => ms.flatMap((m) => pb.len(1, m))),
            },
            fc.tuple(fragmentParts, fc.nat(5)).map(([f, order]) => pb.len(2, fragmentBody(f, order))),
            fc.constant([] as number[]),
          ),
          ackBody,
          fc.option(ackBody, { freq: 4 }),
        )
        .map(([content, ack, second]) => [
          ...content,
          ...pb.len(3, ack),
          ...(second === null ? [] : pb.len(3, second)),
        ]),
    },
    // An Ack body (an ACK frame's payload).
    { weight: 3, arbitrary: ackBody },
    // Messages and a fragment in one Bundle.
    fc
      .tuple(fc.array(bytes(200), { minLength: 1, maxLength: 4, size: MAX }), fragmentParts, fc.nat(5), fc.boolean())
      .map(([messages, f, order, fragmentFirst]) => {
        const ms = messages.flatMap((m) => pb.len(1, m));
        const frag = pb.len(2, fragmentBody(f, order));
        return fragmentFirst ? [...frag, ...ms] : [...ms, ...frag];
      }),
    // A fragment with no data, or with data past its message's end.
    fc.tuple(fragmentParts, fc.nat(5)).map(([f, order]) => pb.len(2, fragmentBody(f, order))),
    fc
      .tuple(fragmentParts, fc.nat(5))
      .map(([f, order]) => pb.len(2, fragmentBody({ ...f, data: new Uint8Array(0) }, order))),
    fc.constant(pb.len(2, [])),
    // A fragment split in two fields: protobuf merges them, the last data wins.
    fc
      .tuple(fragmentParts, fragmentParts, fc.nat(5))
      .map(([a, b, order]) => [...pb.len(2, fragmentBody(a, order)), ...pb.len(2, fragmentBody(b, 5 - order))]),
    // Valid but not canonical: overlong lengths, unknown fields around messages.
    fc
      .tuple(fc.array(bytes(300), { minLength: 1, maxLength: 4, size: MAX }), fc.nat(3), fc.option(unknownField))
      .map(([messages, pad, unknown]) => [
        ...messages.flatMap((m) => [...pb.tag(1, 2), ...pb.overlong(m.length, pad + 1), ...m]),
        ...(unknown ?? []),
      ]),
    // Known fields with the wrong wire type; a length running past the end;
    // a uint32 written with more than 32 bits.
    fc
      .tuple(fc.constantFrom(1, 2, 3), fc.constantFrom(0, 1, 3, 4, 5), bytes(12))
      .map(([field, wt, rest]) => [...pb.tag(field, wt), ...rest]),
    fc
      .tuple(fc.constantFrom(1, 2, 3), fc.integer({ min: 1, max: 5000 }), bytes(64))
      .map(([field, claim, rest]) => [...pb.tag(field, 2), ...pb.varint(rest.length + claim), ...rest]),
    fc
      .tuple(
        fc.constantFrom(1, 2),
        // 35 bits; 64 bits (a negative int64); 11 bytes, longer than any varint.
        fc.constantFrom(
          [0xff, 0xff, 0xff, 0xff, 0x7f],
          [...new Array(9).fill(0xff), 0x01],
          [...new Array(10).fill(0xff), 0x01],
        ),
        bytes(8, 1),
      )
      .map(([field, wide, data]) => pb.len(2, [...pb.tag(field, 0), ...wide, ...pb.len(3, data)])),
    // Garbage of any size, and a valid Bundle cut short.
    bytes(PAYLOAD_BYTES_MAX),
    fc.tuple(bundle(), fc.nat()).map(([b, cut]) => {
      const enc = toBinary(BundleSchema, b);
      return enc.subarray(0, cut % Math.max(1, enc.length));
    }),
  )
  .map((p) => Uint8Array.from(p));

const HEADER_FIELDS = {
  magic: [0, 2],
  version: [2, 1],
  type: [3, 1],
  flags: [4, 1],
  reserved: [5, 1],
  senderId: [8, 2],
  receiverId: [10, 2],
  senderEpoch: [12, 4],
  receiverEpoch: [16, 4],
  seq: [20, 4],
  ack: [24, 4],
  sack: [28, 4],
} as const;
type HeaderField = keyof typeof HEADER_FIELDS;

type Mutation =
  | { kind: "field"; field: HeaderField; value: number }
  | { kind: "reserved-flag"; bit: number }
  | { kind: "flip"; bit: number }
  | { kind: "payload-byte"; at: number; value: number }
  | { kind: "payload"; payload: Uint8Array }
  | { kind: "truncate"; keep: number }
  | { kind: "append"; bytes: Uint8Array };

// Values at the edges of each rule (0, the flag bit, other type codes) and anything else.
const fieldMutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record({
        field: fc.constantFrom<HeaderField>(
          "type",
          "flags",
          "reserved",
          "senderId",
          "receiverId",
          "senderEpoch",
          "receiverEpoch",
          "seq",
          "ack",
          "sack",
        ),
        value: fc.oneof(
          { weight: 2, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 0xff) },
          { weight: 1, arbitrary: u32 },
        ),
      })
      .map((m) => ({ kind: "field" as const, ...m })),
  },
  // Rarely: the checks before the checksum would hide everything else.
  {
    weight: 1,
    arbitrary: fc
      .record({ field: fc.constantFrom<HeaderField>("magic", "version"), value: fc.integer({ min: 0, max: 0xffff }) })
      .map((m) => ({ kind: "field" as const, ...m })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }).map((bit) => ({ kind: "reserved-flag" as const, bit })) },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fieldMutation },
  { weight: 2, arbitrary: fc.nat().map((bit) => ({ kind: "flip" as const, bit })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ at: fc.nat(), value: fc.integer({ min: 0, max: 0xff }) })
      .map((m) => ({ kind: "payload-byte" as const, ...m })),
  },
  { weight: 4, arbitrary: payloadVariant.map((payload) => ({ kind: "payload" as const, payload })) },
  { weight: 1, arbitrary: fc.nat().map((keep) => ({ kind: "truncate" as const, keep })) },
  { weight: 1, arbitrary: bytes(64, 1).map((b) => ({ kind: "append" as const, bytes: b })) },
);

function applyMutation(frame: Uint8Array, m: Mutation): Uint8Array {
  const payloadLength = frame.length - HEADER_BYTES;
  switch (m.kind) {
    case "field": {
      const [at, width] = HEADER_FIELDS[m.field];
      put(frame, at, width, m.value % 2 ** (8 * width));
      return frame;
    }
    case "reserved-flag":
      frame[4]! |= 1 << m.bit;
      return frame;
    case "flip": {
      // Not the checksum or the length field: both are rewritten afterwards.
      const bits = frame.length * 8 - 48;
      let bit = m.bit % bits;
      if (bit >= 6 * 8) bit += 16;
      if (bit >= CHECKSUM_OFFSET * 8) bit += 32;
      frame[bit >> 3]! ^= 1 << (bit & 7);
      return frame;
    }
    case "payload-byte":
      if (payloadLength > 0) frame[HEADER_BYTES + (m.at % payloadLength)] = m.value;
      return frame;
    case "payload":
      return withPayload(frame, m.payload);
    case "truncate":
      return frame.slice(0, HEADER_BYTES + (m.keep % (payloadLength + 1)));
    case "append":
      return withPayload(frame, Uint8Array.from([...frame.subarray(HEADER_BYTES), ...m.bytes]));
  }
}

function withPayload(frame: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out.set(frame.subarray(0, HEADER_BYTES));
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Valid frames with one to three corruptions, the length field made to match
 * and the checksum recomputed: what a buggy or hostile sender could send, so
 * the checks after the checksum (type, reserved bits, header rules, Bundle
 * rules) are what decides. Rarely the length field is left wrong on purpose.
 */
export const corruptedFrame: fc.Arbitrary<Uint8Array> = fc
  .record({
    frame: fc.oneof({ weight: 4, arbitrary: arbitraryDataFrame }, { weight: 1, arbitrary: arbitraryAckFrame }),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3, size: MAX }),
    lengthOff: fc.oneof(
      { weight: 19, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
    ),
  })
  .map(({ frame, mutations, lengthOff }) => {
    let bytes = encodeFrame(frame);
    for (const m of mutations) bytes = applyMutation(bytes, m);
    put(bytes, 6, 2, (bytes.length - HEADER_BYTES + lengthOff) & 0xffff);
    reseal(bytes);
    return bytes;
  });

// --- Envelopes -------------------------------------------------------------

type EnvelopeBody = NonNullable<Parameters<typeof create<typeof EnvelopeSchema>>[1]>["body"];

const text = fc.string({ maxLength: 40, unit: "binary", size: MAX });

const otherBody: fc.Arbitrary<EnvelopeBody> = fc.oneof(
  fc
    .record({
      name: text,
      id: u32,
      epoch: u32,
      hostsDigest: bytes(32),
      peerCount: u32,
      agent: text,
    })
    .map((value) => ({ case: "alive" as const, value })),
  fc
    .record({ id: u32, epoch: u32, hostsDigest: bytes(32), accepted: fc.boolean() })
    .map((value) => ({ case: "aliveReply" as const, value })),
  text.map((reason) => ({ case: "goodbye" as const, value: { reason } })),
  fc.record({ channel: u32, body: bytes(300) }).map((value) => ({ case: "module" as const, value })),
  fc.constant(undefined),
);

// Bodies of every length-prefix width: 1 byte (<128), 2 bytes (<16384), and
// just around the 2-to-3-byte boundary (filled, not generated byte by byte).
const appBody = fc.oneof(
  { weight: 4, arbitrary: bytes(PAYLOAD_BYTES_MAX) },
  {
    weight: 1,
    arbitrary: fc
      .record({ length: fc.integer({ min: 16_370, max: 16_400 }), fill: fc.integer({ min: 0, max: 0xff }) })
      .map(({ length, fill }) => new Uint8Array(length).fill(fill)),
  },
);

/** Real envelope encodings: the fast encoder's AppData ones and protobuf-es's for every body case. */
const envelopeEncoding: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: appBody.map(encodeAppDataEnvelope) },
  {
    weight: 2,
    arbitrary: otherBody.map((body) => toBinary(EnvelopeSchema, create(EnvelopeSchema, { body }))),
  },
);

type EnvelopeMutation =
  | { kind: "set"; at: number; value: number; near: boolean }
  | { kind: "truncate"; keep: number }
  | { kind: "append"; bytes: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "concat"; other: Uint8Array }
  | { kind: "overlong"; which: number; pad: number };

const envelopeMutation: fc.Arbitrary<EnvelopeMutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        at: fc.nat(),
        value: fc.constantFrom(0x00, 0x02, 0x0a, 0x12, 0x1a, 0x22, 0x7f, 0x80, 0xff),
        near: fc.boolean(),
      })
      .map((m) => ({ kind: "set" as const, ...m })),
  },
  { weight: 1, arbitrary: fc.nat().map((keep) => ({ kind: "truncate" as const, keep })) },
  { weight: 1, arbitrary: bytes(8, 1).map((b) => ({ kind: "append" as const, bytes: b })) },
  {
    weight: 1,
    arbitrary: fc.record({ at: fc.nat(6), bytes: bytes(3, 1) }).map((m) => ({ kind: "insert" as const, ...m })),
  },
  { weight: 1, arbitrary: envelopeEncoding.map((other) => ({ kind: "concat" as const, other })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ which: fc.nat(1), pad: fc.integer({ min: 1, max: 6 }) })
      .map((m) => ({ kind: "overlong" as const, ...m })),
  },
);

/** Reads a varint at `at`, or undefined past the end. */
function varintAt(b: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  for (let i = 0; at + i < b.length && i < 10; i++) {
    value += (b[at + i]! & 0x7f) * 2 ** (7 * i);
    if (b[at + i]! < 0x80) return { value, end: at + i + 1 };
  }
  return undefined;
}

function applyEnvelopeMutation(b: Uint8Array, m: EnvelopeMutation): Uint8Array {
  switch (m.kind) {
    case "set": {
      if (b.length === 0) return b;
      // Half the time in the tags and lengths at the front, where the fast path looks.
      const at = m.near ? m.at % Math.min(b.length, 6) : m.at % b.length;
      const out = b.slice();
      out[at] = m.value;
      return out;
    }
    case "truncate":
      return b.slice(0, m.keep % (b.length + 1));
    case "append":
      return Uint8Array.from([...b, ...m.bytes]);
    case "insert": {
      const at = Math.min(m.at, b.length);
      return Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    }
    case "concat":
      return Uint8Array.from([...b, ...m.other]);
    case "overlong": {
      // Rewrites the outer (which 0) or inner (which 1) length prefix with padding.
      const at = m.which === 0 ? 1 : (varintAt(b, 1)?.end ?? b.length) + 1;
      const v = varintAt(b, at);
      if (v === undefined) return b;
      return Uint8Array.from([...b.subarray(0, at), ...pb.overlong(v.value, m.pad), ...b.subarray(v.end)]);
    }
  }
}

/**
 * Real envelope encodings, half of them untouched (the fast path must answer
 * for every canonical AppData one) and half with one or two mutations aimed at
 * the tags and length prefixes the fast path parses.
 */
export const envelopeInput: fc.Arbitrary<Uint8Array> = fc
  .record({
    encoding: envelopeEncoding,
    mutations: fc.oneof(
      fc.constant([] as EnvelopeMutation[]),
      fc.array(envelopeMutation, { minLength: 1, maxLength: 2, size: MAX }),
    ),
  })
  .map(({ encoding, mutations }) => mutations.reduce(applyEnvelopeMutation, encoding));
