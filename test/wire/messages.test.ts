/**
 * The hand-written codecs of src/wire/messages.ts against protobuf-es: the
 * encoders write the same bytes; the fast decoders, whenever they answer,
 * give the same message protobuf-es gives (on real encodings they always
 * answer); and the enum codes match the generated ones.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import {
  AckSchema,
  BundleSchema,
  EnvelopeSchema,
  MemberState,
  ProbeKind,
  ProbeSchema,
} from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import {
  decodeAckFast,
  decodeBundleFast,
  decodeEnvelopeFast,
  decodeProbeFast,
  encodeAliveEnvelope,
  encodeAliveReplyEnvelope,
  encodeGoodbyeEnvelope,
  encodeProbe,
  MemberStateCode,
  ProbeKindCode,
} from "../../src/wire/messages.ts";

const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 0xffffffff), fc.nat({ max: 0xffffffff }));
const small = fc.nat({ max: 0x7fffffff });
const ascii = fc.string({ unit: fc.constantFrom(..."abcXYZ019.:-_[] "), maxLength: 40 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const update = fc.record({ id: u32, epoch: u32, incarnation: u32, state: small, reporter: u32 });
const probe = fc.record({
  kind: small,
  probeId: u32,
  targetId: u32,
  targetEpoch: u32,
  updates: fc.array(update, { maxLength: 20 }),
});
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const RUNS = { seed: 11, numRuns: 1000 };

test("enum codes are the generated ones", () => {
  expect(ProbeKindCode).toEqual({
    PING: ProbeKind.PING,
    ACK: ProbeKind.ACK,
    PING_REQ: ProbeKind.PING_REQ,
    NACK: ProbeKind.NACK,
    GOSSIP: ProbeKind.GOSSIP,
  });
  expect(MemberStateCode).toEqual({
    ALIVE: MemberState.ALIVE,
    SUSPECT: MemberState.SUSPECT,
    FAILED: MemberState.FAILED,
    LEFT: MemberState.LEFT,
  });
});

test("encoders write exactly protobuf-es's bytes: Probe, Alive, AliveReply, Goodbye", () => {
  fc.assert(
    fc.property(probe, (p) => same(encodeProbe(p), toBinary(ProbeSchema, create(ProbeSchema, p)))),
    RUNS,
  );
  const alive = fc.record({ name: ascii, id: u32, epoch: u32, hostsDigest: bytes(40), peerCount: u32, agent: ascii });
  fc.assert(
    fc.property(alive, (a) =>
      same(
        encodeAliveEnvelope(a),
        toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "alive", value: a } })),
      ),
    ),
    RUNS,
  );
  const reply = fc.record({ id: u32, epoch: u32, hostsDigest: bytes(40), accepted: fc.boolean() });
  fc.assert(
    fc.property(reply, (r) =>
      same(
        encodeAliveReplyEnvelope(r),
        toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "aliveReply", value: r } })),
      ),
    ),
    RUNS,
  );
  fc.assert(
    fc.property(ascii, (reason) =>
      same(
        encodeGoodbyeEnvelope(reason),
        toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "goodbye", value: { reason } } })),
      ),
    ),
    RUNS,
  );
});

test("on real encodings the fast decoders always answer, with protobuf-es's message", () => {
  fc.assert(
    fc.property(probe, (p) => {
      const encoded = toBinary(ProbeSchema, create(ProbeSchema, p));
      const fast = decodeProbeFast(encoded);
      expect(fast).toEqual(fromBinary(ProbeSchema, encoded));
      return fast !== undefined;
    }),
    RUNS,
  );
  const bundle = fc.oneof(
    fc.record({ messages: fc.array(bytes(50), { minLength: 1, maxLength: 10 }) }),
    fc.record({ fragment: fc.record({ totalLength: u32, offset: u32, data: bytes(200) }) }),
  );
  fc.assert(
    fc.property(bundle, (b) => {
      const encoded = toBinary(BundleSchema, create(BundleSchema, b));
      const fast = decodeBundleFast(encoded);
      expect(fast).toEqual(fromBinary(BundleSchema, encoded));
      return fast !== undefined;
    }),
    RUNS,
  );
  const envelope = fc.oneof(
    fc.record({
      case: fc.constant("alive" as const),
      value: fc.record({ name: ascii, id: u32, epoch: u32, hostsDigest: bytes(40), peerCount: u32, agent: ascii }),
    }),
    fc.record({
      case: fc.constant("aliveReply" as const),
      value: fc.record({ id: u32, epoch: u32, hostsDigest: bytes(40), accepted: fc.boolean() }),
    }),
    fc.record({ case: fc.constant("goodbye" as const), value: fc.record({ reason: ascii }) }),
  );
  fc.assert(
    fc.property(envelope, (body) => {
      const encoded = toBinary(EnvelopeSchema, create(EnvelopeSchema, { body }));
      const fast = decodeEnvelopeFast(encoded);
      expect(fast).toEqual(fromBinary(EnvelopeSchema, encoded));
      return fast !== undefined;
    }),
    RUNS,
  );
  expect(decodeAckFast(new Uint8Array(0))).toEqual(fromBinary(AckSchema, new Uint8Array(0)));
});

test("on arbitrary and mutated bytes, whenever a fast decoder answers, protobuf-es decodes the same message", () => {
  const schemas = [
    [decodeProbeFast, ProbeSchema],
    [decodeBundleFast, BundleSchema],
    [decodeEnvelopeFast, EnvelopeSchema],
    [decodeAckFast, AckSchema],
  ] as const;
  // Real encodings with a few bytes changed reach deeper than random bytes.
  const mutated = fc
    .tuple(probe, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }))
    .map(([p, edits]) => {
      const b = toBinary(ProbeSchema, create(ProbeSchema, p));
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      return b;
    });
  let answered = 0;
  fc.assert(
    fc.property(fc.oneof(bytes(64), mutated), (input) => {
      for (const [fast, schema] of schemas) {
        const mine = fast(input);
        if (mine === undefined) continue;
        answered++;
        expect(mine).toEqual(fromBinary(schema as typeof ProbeSchema, input) as never);
      }
      return true;
    }),
    { seed: 12, numRuns: 4000 },
  );
  expect(answered).toBeGreaterThan(500);
});

test("long strings go to protobuf-es, and decode the same", () => {
  const name = "n".repeat(100_000);
  const encoded = encodeAliveEnvelope({
    name,
    id: 1,
    epoch: 2,
    hostsDigest: new Uint8Array(32),
    peerCount: 3,
    agent: "a",
  });
  expect(decodeEnvelopeFast(encoded)).toBeUndefined();
  const env = fromBinary(EnvelopeSchema, encoded);
  expect(env.body.case === "alive" && env.body.value.name.length).toBe(100_000);
});

test("the encoders refuse values that are not uint32 (a programming error, never a corrupt frame)", () => {
  expect(() => encodeProbe({ kind: 1, probeId: 2 ** 32, targetId: 0, targetEpoch: 0, updates: [] })).toThrow(
    RangeError,
  );
});

test("fast decoders read from an offset as from the start (the frame decoder's way)", () => {
  fc.assert(
    fc.property(probe, fc.uint8Array({ maxLength: 40 }), (p, prefix) => {
      const encoded = toBinary(ProbeSchema, create(ProbeSchema, p));
      const framed = new Uint8Array(prefix.length + encoded.length);
      framed.set(prefix);
      framed.set(encoded, prefix.length);
      expect(decodeProbeFast(framed, prefix.length)).toEqual(decodeProbeFast(encoded));
      return true;
    }),
    { seed: 13, numRuns: 500 },
  );
});
