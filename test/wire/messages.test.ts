/**
 * The hand-written codecs of src/wire/messages.ts against protobuf-es: the
 * encoders write the same bytes; the decoders give the same message
 * protobuf-es gives (the Probe fast path whenever it answers, and on real
 * encodings it always does; the Bundle, Ack and Envelope decoders always,
 * which differential.test.ts checks on malformed input too); and the enum
 * codes match the generated ones.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { toHex } from "../../scripts/lib/hex.ts";
import {
  AckSchema,
  BundleSchema,
  EnvelopeSchema,
  MemberState,
  ProbeKind,
  ProbeSchema,
} from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { encodeModuleEnvelope, moduleEnvelopeFields } from "../../src/peer/envelope.ts";
import { bundleBytes, encodeBundle, writeBundle } from "../../src/wire/bundle.ts";
import {
  decodeAckFast,
  decodeBundleFast,
  decodeEnvelopeFast,
  decodeProbeFast,
  encodeAck,
  encodeAliveEnvelope,
  encodeAliveReplyEnvelope,
  encodeBundleAckField,
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
// Any uint32 values, not only valid ranges: encoding is not validation (decodeFrame judges ranges).
const ack = fc.record({ ranges: fc.array(u32, { maxLength: 130 }), ackDelayUs: u32, messageCredit: u32 });
const defaultAck = { ranges: [], ackDelayUs: 0, messageCredit: 0 };
const fragment = fc.record({ totalLength: u32, offset: u32, data: bytes(200) });
const bundleWithAck = fc.record(
  {
    messages: fc.array(bytes(50), { maxLength: 10 }),
    fragment,
    ack: fc.oneof(ack, fc.constant(defaultAck)),
  },
  { requiredKeys: ["messages"] },
);

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

test("module envelopes (field 16, channel and body) are exactly protobuf-es's bytes, and decode back", () => {
  fc.assert(
    fc.property(u32, bytes(300), (channel, body) => {
      const ours = encodeModuleEnvelope(channel, body);
      same(
        ours,
        toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "module", value: { channel, body } } })),
      );
      const back = decodeEnvelopeFast(ours);
      expect(back.body.case).toBe("module");
      expect(back.body.value).toMatchObject({ channel, body });
    }),
    RUNS,
  );
});

test("the module envelope's hot path (src/peer/envelope.ts) writes protobuf-es's bytes, and reads only what decodeEnvelope reads the same", () => {
  fc.assert(
    fc.property(u32, bytes(300), (channel, body) => {
      const theirs = toBinary(
        EnvelopeSchema,
        create(EnvelopeSchema, { body: { case: "module", value: { channel, body } } }),
      );
      same(encodeModuleEnvelope(channel, body), theirs);
      const fast = moduleEnvelopeFields(theirs);
      if (channel !== 0 && body.length > 0) expect(fast).toEqual({ channel, body });
      else expect(fast).toBeUndefined();
    }),
    RUNS,
  );
  const mutated = fc.tuple(u32, bytes(30), fc.nat(), fc.nat({ max: 255 })).map(([channel, body, at, x]) => {
    const b = encodeModuleEnvelope(channel, body).slice();
    b[at % b.length] = x;
    return b;
  });
  fc.assert(
    fc.property(mutated, (input) => {
      const fast = moduleEnvelopeFields(input);
      if (fast === undefined) return;
      const full = decodeEnvelopeFast(input);
      expect(full.body.case).toBe("module");
      expect(full.body.value).toMatchObject(fast);
    }),
    RUNS,
  );
});

test("Ack encoders write exactly protobuf-es's bytes: the Ack, Bundle field 3, and Bundles carrying an ack", () => {
  fc.assert(
    fc.property(ack, (a) => {
      const theirs = toBinary(AckSchema, create(AckSchema, a));
      expect(toHex(encodeAck(a))).toBe(toHex(theirs));
      // Bundle field 3 is what a Bundle with only that ack encodes to; nothing for an all-default Ack.
      const field = encodeBundleAckField(a);
      const allDefault = theirs.length === 0;
      expect(toHex(field)).toBe(allDefault ? "" : toHex(toBinary(BundleSchema, create(BundleSchema, { ack: a }))));
      return true;
    }),
    RUNS,
  );
  expect(encodeAck(defaultAck).length).toBe(0);
  expect(encodeBundleAckField(defaultAck).length).toBe(0);
  fc.assert(
    fc.property(bundleWithAck, (b) => {
      const theirs = toBinary(BundleSchema, create(BundleSchema, b));
      expect(toHex(encodeBundle(b))).toBe(toHex(theirs));
      expect(bundleBytes(b)).toBe(theirs.length);
      // The reliability layer's way: the content once, then field 3 appended.
      if (b.ack !== undefined && encodeAck(b.ack).length > 0) {
        const content = encodeBundle({ messages: b.messages, fragment: b.fragment });
        expect(toHex(content) + toHex(encodeBundleAckField(b.ack))).toBe(toHex(theirs));
      }
      // writeBundle at an offset, as encodeFrame writes it behind the header.
      const out = new Uint8Array(7 + theirs.length);
      expect(writeBundle(out, 7, b)).toBe(out.length);
      expect(toHex(out.subarray(7))).toBe(toHex(theirs));
      return true;
    }),
    RUNS,
  );
});

test("on real encodings the decoders always answer, with protobuf-es's message", () => {
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
    fc.record({
      messages: fc.array(bytes(50), { minLength: 1, maxLength: 10 }),
      ack: fc.option(ack, { nil: undefined }),
    }),
    fc.record({ fragment, ack: fc.option(ack, { nil: undefined }) }),
  );
  fc.assert(
    fc.property(bundle, (b) => {
      const encoded = toBinary(BundleSchema, create(BundleSchema, b));
      const fast = decodeBundleFast(encoded);
      expect(fast).toStrictEqual(fromBinary(BundleSchema, encoded));
      return fast !== undefined;
    }),
    RUNS,
  );
  fc.assert(
    fc.property(ack, (a) => {
      const encoded = toBinary(AckSchema, create(AckSchema, a));
      expect(decodeAckFast(encoded)).toStrictEqual(fromBinary(AckSchema, encoded));
      return true;
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
      expect(fast).toStrictEqual(fromBinary(EnvelopeSchema, encoded));
      return fast !== undefined;
    }),
    RUNS,
  );
  expect(decodeAckFast(new Uint8Array(0))).toStrictEqual(fromBinary(AckSchema, new Uint8Array(0)));
});

test("on arbitrary and mutated bytes, whenever the Probe fast path answers, protobuf-es decodes the same message", () => {
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
      const mine = decodeProbeFast(input);
      if (mine === undefined) return true;
      answered++;
      expect(mine).toEqual(fromBinary(ProbeSchema, input));
      return true;
    }),
    { seed: 12, numRuns: 4000 },
  );
  expect(answered).toBeGreaterThan(500);
});

test("long and non-ASCII strings are decoded by hand, as protobuf-es decodes them", () => {
  const name = "n".repeat(100_000);
  const encoded = encodeAliveEnvelope({
    name,
    id: 1,
    epoch: 2,
    hostsDigest: new Uint8Array(32),
    peerCount: 3,
    agent: "a",
  });
  const env = decodeEnvelopeFast(encoded);
  expect(env).toStrictEqual(fromBinary(EnvelopeSchema, encoded));
  expect(env?.body.case === "alive" && env.body.value.name.length).toBe(100_000);
  const goodbye = encodeGoodbyeEnvelope("adiós \u{1f44b} \ufeff");
  expect(decodeEnvelopeFast(goodbye)).toStrictEqual(fromBinary(EnvelopeSchema, goodbye));
  // Invalid UTF-8 is rejected, as protobuf-es rejects it.
  const invalid = Uint8Array.of(0x1a, 0x03, 0x0a, 0x01, 0xff);
  expect(() => fromBinary(EnvelopeSchema, invalid)).toThrow();
  expect(() => decodeEnvelopeFast(invalid)).toThrow();
});

test("the encoders refuse values that are not uint32 (a programming error, never a corrupt frame)", () => {
  expect(() => encodeProbe({ kind: 1, probeId: 2 ** 32, targetId: 0, targetEpoch: 0, updates: [] })).toThrow(
    RangeError,
  );
  for (const bad of [-1, 2 ** 32, 1.5]) {
    expect(() => encodeAck({ ranges: [1, bad], ackDelayUs: 0, messageCredit: 0 })).toThrow(RangeError);
    expect(() => encodeBundleAckField({ ranges: [], ackDelayUs: bad, messageCredit: 0 })).toThrow(RangeError);
    expect(() => encodeAck({ ranges: [], ackDelayUs: 0, messageCredit: bad })).toThrow(RangeError);
  }
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
  fc.assert(
    fc.property(bundleWithAck, fc.uint8Array({ maxLength: 40 }), (b, prefix) => {
      const bundle = encodeBundle(b);
      const ackBody = encodeAck(b.ack ?? defaultAck);
      const at = (body: Uint8Array) => Uint8Array.from([...prefix, ...body]);
      expect(decodeBundleFast(at(bundle), prefix.length)).toStrictEqual(decodeBundleFast(bundle));
      expect(decodeAckFast(at(ackBody), prefix.length)).toStrictEqual(decodeAckFast(ackBody));
      return true;
    }),
    { seed: 13, numRuns: 500 },
  );
});
