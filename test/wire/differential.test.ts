/**
 * Differential fuzzing of the hand-written Bundle, Ack and Envelope decoders
 * (src/wire/messages.ts) against protobuf-es's `fromBinary`, at a fixed seed:
 * for every input both must make the same accept/reject decision and, when
 * they accept, return the same message (`toStrictEqual`, `$unknown` included).
 *
 * Each decoder is called the way the peer calls it: the Bundle and the Ack
 * from an offset inside a larger buffer (decodeFrame's way) and inside a real
 * DATA or ACK frame through decodeFrame; the Envelope through
 * src/peer/envelope.ts (the AppData fast path, then decodeEnvelope).
 *
 * Inputs: random bytes; protobuf-es's encodings of random messages (and
 * hand-written non-canonical ones: unpacked or split `ranges`); and those
 * encodings mutated, both as a parsed field tree (duplicated, removed, moved
 * fields; unknown fields of every wire type, nested groups included; wrong
 * wire types; overlong varints; over-wide values; wrong lengths; packed runs
 * unpacked) and as bytes (bit flips, truncation, splices, insertions). A list
 * of hand-picked corner cases (varint and tag limits, group nesting limits,
 * bool and UTF-8 edges) runs first.
 *
 * The decoders are complete (no protobuf-es fallback), so the test also
 * asserts that every input was answered by the hand-written code, and that the
 * inputs are a real mix of accepted and rejected ones.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { toHex } from "../../scripts/lib/hex.ts";
import {
  type Ack,
  AckSchema,
  type Bundle,
  BundleSchema,
  EnvelopeSchema,
} from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { appDataBody, decodeEnvelope } from "../../src/peer/envelope.ts";
import {
  decodeFrame,
  encodeFrameBytes,
  FrameFlag,
  type FrameHeader,
  FrameType,
  PAYLOAD_BYTES_MAX,
} from "../../src/wire/frame.ts";
import { decodeAckFast, decodeBundleFast, decodeEnvelopeFast } from "../../src/wire/messages.ts";
import { pb } from "./generators.ts";

/** Fixed for CI; `DIFFERENTIAL_SEED=n DIFFERENTIAL_SCALE=k bun test test/wire/differential.test.ts` explores further. */
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 20261125);
const SCALE = Number(process.env.DIFFERENTIAL_SCALE ?? 1);
const RUNS = { bundle: 5000 * SCALE, ack: 4000 * SCALE, envelope: 5000 * SCALE };

// --- a protobuf wire-format tree, written for this test ---------------------

/** A varint; with `pad`, overlong: the same value in `pad` more bytes (continuation bits, zero payload). */
const varint = (n: number, pad = 0): number[] => (pad > 0 ? pb.overlong(n, pad) : pb.varint(n));

/** One field: its value as raw bytes (after the tag) or, when length-delimited and parsable, as child fields. */
interface Node {
  field: number;
  wireType: number;
  tagPad: number;
  /** Raw value bytes (for LEN: the content, without the length). */
  value?: number[];
  children?: Node[];
  lenPad: number;
  /** Added to the written length (for LEN): a length that lies. */
  lenDelta: number;
}

function readVarintAt(b: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  for (let i = 0; i < 10 && at + i < b.length; i++) {
    value += (b[at + i]! & 0x7f) * 2 ** (7 * i);
    if (b[at + i]! < 0x80) return { value, end: at + i + 1 };
  }
  return undefined;
}

/** Parses canonical-looking encodings (no groups); undefined when the bytes are not a sequence of fields. */
function parseTree(b: Uint8Array, depth = 0): Node[] | undefined {
  const nodes: Node[] = [];
  let at = 0;
  while (at < b.length) {
    const t = readVarintAt(b, at);
    if (t === undefined || t.value >= 2 ** 32) return undefined;
    const field = Math.floor(t.value / 8);
    const wireType = t.value % 8;
    if (field === 0) return undefined;
    at = t.end;
    const node: Node = { field, wireType, tagPad: 0, lenPad: 0, lenDelta: 0 };
    if (wireType === 0) {
      const v = readVarintAt(b, at);
      if (v === undefined) return undefined;
      node.value = Array.from(b.subarray(at, v.end));
      at = v.end;
    } else if (wireType === 1 || wireType === 5) {
      const n = wireType === 1 ? 8 : 4;
      if (at + n > b.length) return undefined;
      node.value = Array.from(b.subarray(at, at + n));
      at += n;
    } else if (wireType === 2) {
      const len = readVarintAt(b, at);
      if (len === undefined || len.end + len.value > b.length) return undefined;
      const content = b.subarray(len.end, len.end + len.value);
      at = len.end + len.value;
      const children = depth < 3 && content.length > 0 ? parseTree(content, depth + 1) : undefined;
      if (children !== undefined) node.children = children;
      else node.value = Array.from(content);
    } else return undefined;
    nodes.push(node);
  }
  return nodes;
}

function writeTree(nodes: readonly Node[]): number[] {
  const out: number[] = [];
  for (const n of nodes) {
    out.push(...varint(n.field * 8 + n.wireType, n.tagPad));
    if (n.wireType === 2) {
      const content = n.children !== undefined ? writeTree(n.children) : (n.value ?? []);
      out.push(...varint(Math.max(0, content.length + n.lenDelta), n.lenPad), ...content);
    } else out.push(...(n.value ?? []));
  }
  return out;
}

/** Every node with the array that holds it, depth first. */
function allNodes(nodes: Node[], into: { node: Node; parent: Node[]; index: number }[] = []) {
  nodes.forEach((node, index) => {
    into.push({ node, parent: nodes, index });
    if (node.children !== undefined) allNodes(node.children, into);
  });
  return into;
}

// --- mutations -----------------------------------------------------------------

const KINDS = [
  "duplicate",
  "remove",
  "move",
  "unknown",
  "group",
  "deep-group",
  "wire-type",
  "overlong",
  "wide-varint",
  "length-lies",
  "unpack",
  "replace",
  "flip",
  "set-byte",
  "truncate",
  "insert",
  "splice",
] as const;
type Kind = (typeof KINDS)[number];
interface Mutation {
  kind: Kind;
  a: number;
  b: number;
  c: number;
  bytes: Uint8Array;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom(...KINDS),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  bytes: fc.uint8Array({ maxLength: 12 }),
});

const INTERESTING_BYTES = [0x00, 0x01, 0x08, 0x0a, 0x10, 0x12, 0x18, 0x1a, 0x20, 0x22, 0x0b, 0x0c, 0x7f, 0x80, 0xff];
const UNKNOWN_FIELDS = [4, 5, 7, 15, 16, 100, 2047, 2048, 536_870_911];

function unknownNode(m: Mutation): Node {
  const field = UNKNOWN_FIELDS[m.b % UNKNOWN_FIELDS.length]!;
  const wireType = [0, 1, 2, 5][m.c % 4]!;
  const raw = Array.from(m.bytes);
  const value =
    wireType === 0
      ? varint(m.c % 2 ** 20)
      : wireType === 1
        ? [...raw, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8)
        : wireType === 5
          ? [...raw, 0, 0, 0, 0].slice(0, 4)
          : raw;
  return { field, wireType, tagPad: 0, lenPad: 0, lenDelta: 0, value };
}

/** A group of `depth` nested groups (start tag, contents, end tag); `wrongEnd` closes the innermost with another field. */
function groupNode(field: number, depth: number, wrongEnd: boolean): Node {
  let inner: number[] = varint(1 * 8 + 0).concat(varint(7));
  for (let d = depth - 1; d >= 1; d--) {
    const f = 5 + (d % 3);
    const end = wrongEnd && d === depth - 1 ? f + 1 : f;
    inner = [...varint(f * 8 + 3), ...inner, ...varint(end * 8 + 4)];
  }
  return {
    field,
    wireType: 3,
    tagPad: 0,
    lenPad: 0,
    lenDelta: 0,
    value: [...inner, ...varint(field * 8 + 4)],
  };
}

function applyMutation(input: number[], m: Mutation, other: Uint8Array): number[] {
  const tree = parseTree(Uint8Array.from(input));
  const treeKind = KINDS.indexOf(m.kind) < KINDS.indexOf("flip");
  if (treeKind && tree !== undefined) {
    const nodes = allNodes(tree);
    if (nodes.length === 0 && m.kind !== "unknown" && m.kind !== "group" && m.kind !== "deep-group") return input;
    const pick = nodes[m.a % Math.max(1, nodes.length)];
    const parent = pick?.parent ?? tree;
    const index = pick?.index ?? 0;
    const node = pick?.node;
    switch (m.kind) {
      case "duplicate":
        parent.splice(m.b % 2 === 0 ? index + 1 : parent.length, 0, structuredClone(node!));
        break;
      case "remove":
        parent.splice(index, 1);
        break;
      case "move":
        parent.splice(index, 1);
        parent.splice(m.b % (parent.length + 1), 0, node!);
        break;
      case "unknown":
        parent.splice(m.b % (parent.length + 1), 0, unknownNode(m));
        break;
      case "group":
        parent.splice(m.b % (parent.length + 1), 0, groupNode(UNKNOWN_FIELDS[m.c % 4]!, 1 + (m.c % 4), m.b % 5 === 0));
        break;
      case "deep-group":
        // Around protobuf-es's nesting limits (99 levels at the top, 98 inside a sub-message).
        parent.splice(m.b % (parent.length + 1), 0, groupNode(5, 96 + (m.c % 6), false));
        break;
      case "wire-type": {
        // The tag says another wire type; the bytes after it stay as they were.
        const after = writeTree([{ ...node!, field: 1, tagPad: 0 }]).slice(1);
        const wireType = (node!.wireType + 1 + (m.b % 5)) % 6;
        parent[index] = { field: node!.field, wireType, tagPad: 0, lenPad: 0, lenDelta: 0, value: after };
        if (wireType === 2) parent[index]!.value = after.slice(readVarintAt(Uint8Array.from(after), 0)?.end ?? 0);
        break;
      }
      case "overlong":
        if (m.b % 3 === 0) node!.tagPad = 1 + (m.c % 5);
        else if (node!.wireType === 2) node!.lenPad = 1 + (m.c % 9);
        else if (node!.wireType === 0) {
          const v = readVarintAt(Uint8Array.from(node!.value!), 0);
          // Up to 10 bytes is a varint protobuf-es reads; 11 is not.
          if (v !== undefined) node!.value = varint(v.value, 1 + (m.c % 10));
        }
        break;
      case "wide-varint":
        if (node!.wireType === 0) {
          const bits = 32 + (m.c % 33);
          const hi = m.b % 2 ** Math.min(21, bits - 32);
          node!.value = varint(hi * 2 ** 32 + (m.c % 2 ** 32));
        }
        break;
      case "length-lies":
        if (node!.wireType === 2) node!.lenDelta = [-3, -2, -1, 1, 2, 3, 200][m.b % 7]!;
        break;
      case "unpack": {
        // A length-delimited run of varints becomes one varint field per value (a packed run, unpacked).
        if (node!.wireType !== 2) break;
        const content = Uint8Array.from(writeTree([{ ...node!, tagPad: 0, lenPad: 0, lenDelta: 0 }]));
        const len = readVarintAt(content, 1);
        const values: Node[] = [];
        let at = len?.end ?? content.length;
        while (at < content.length) {
          const v = readVarintAt(content, at);
          if (v === undefined) break;
          values.push({
            field: node!.field,
            wireType: 0,
            tagPad: 0,
            lenPad: 0,
            lenDelta: 0,
            value: Array.from(content.subarray(at, v.end)),
          });
          at = v.end;
        }
        if (values.length > 0) parent.splice(index, 1, ...values);
        break;
      }
      case "replace":
        node!.children = undefined;
        node!.value = Array.from(m.bytes);
        break;
    }
    return writeTree(tree);
  }
  const out = input.slice();
  switch (m.kind) {
    case "set-byte":
      if (out.length > 0) out[m.a % out.length] = INTERESTING_BYTES[m.b % INTERESTING_BYTES.length]!;
      return out;
    case "truncate":
      return out.slice(0, m.a % (out.length + 1));
    case "insert":
      out.splice(m.a % (out.length + 1), 0, ...m.bytes);
      return out;
    case "splice":
      // Part of another valid encoding, anywhere.
      out.splice(m.a % (out.length + 1), m.c % 3, ...other.subarray(m.b % (other.length + 1)));
      return out;
    default:
      // "flip", and tree mutations of bytes that do not parse as a tree.
      if (out.length > 0) out[(m.a >> 3) % out.length]! ^= 1 << (m.a & 7);
      return out;
  }
}

// --- inputs --------------------------------------------------------------------

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 2 ** 28, 2 ** 31, 0xffffffff),
  fc.nat({ max: 0xffffffff }),
);
const small = fc.oneof(fc.integer({ min: 0, max: 10 }), u32);
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", minLength: 30, maxLength: 60 }),
);

const ackInit = fc.record({ ranges: fc.array(small, { maxLength: 24 }), ackDelayUs: u32, messageCredit: u32 });

/** An Ack, canonical or with `ranges` unpacked or split (both of which protobuf-es accepts). */
const ackEncoding: fc.Arbitrary<number[]> = fc
  .tuple(ackInit, fc.constantFrom("canonical", "unpacked", "split"))
  .map(([a, how]) => {
    if (how === "canonical") return Array.from(toBinary(AckSchema, create(AckSchema, a)));
    const half = how === "unpacked" ? 0 : a.ranges.length >> 1;
    const packed = a.ranges.slice(0, half).flatMap((r) => varint(r));
    const out = packed.length > 0 ? [0x0a, ...varint(packed.length), ...packed] : [];
    for (const r of a.ranges.slice(half)) out.push(0x08, ...varint(r));
    if (a.ackDelayUs !== 0) out.push(0x10, ...varint(a.ackDelayUs));
    if (a.messageCredit !== 0) out.push(0x18, ...varint(a.messageCredit));
    return out;
  });

const envelopeBody = fc.oneof(
  fc
    .record({ name: text, id: u32, epoch: u32, hostsDigest: bytes(33), peerCount: u32, agent: text })
    .map((value) => ({ case: "alive" as const, value })),
  bytes(60).map((body) => ({ case: "data" as const, value: { body } })),
  text.map((reason) => ({ case: "goodbye" as const, value: { reason } })),
  fc
    .record({ id: u32, epoch: u32, hostsDigest: bytes(33), accepted: fc.boolean() })
    .map((value) => ({ case: "aliveReply" as const, value })),
  fc.record({ channel: u32, body: bytes(60) }).map((value) => ({ case: "module" as const, value })),
  fc.constant({ case: undefined }),
);
const envelopeEncoding = envelopeBody.map((body) =>
  Array.from(toBinary(EnvelopeSchema, create(EnvelopeSchema, { body } as never))),
);

const bundleEncoding: fc.Arbitrary<number[]> = fc
  .record({
    messages: fc.array(
      fc.oneof(
        bytes(30),
        envelopeEncoding.map((e) => Uint8Array.from(e)),
      ),
      { maxLength: 4 },
    ),
    fragment: fc.option(fc.record({ totalLength: u32, offset: u32, data: bytes(40) }), { nil: undefined }),
    ack: fc.option(ackEncoding, { nil: undefined }),
  })
  .map(({ messages, fragment, ack }) => {
    const out = Array.from(toBinary(BundleSchema, create(BundleSchema, { messages, fragment })));
    // Bundle.ack appended by hand, so that its non-canonical forms are covered too.
    if (ack !== undefined) out.push(0x1a, ...varint(ack.length), ...ack);
    return out;
  });

/** Random bytes, valid encodings, and valid encodings mutated 1 to 4 times. */
function inputs(encoding: fc.Arbitrary<number[]>): fc.Arbitrary<Uint8Array> {
  return fc
    .oneof(
      { weight: 2, arbitrary: bytes(80).map((b) => Array.from(b)) },
      { weight: 2, arbitrary: encoding },
      {
        weight: 8,
        arbitrary: fc
          .tuple(encoding, fc.array(mutation, { minLength: 1, maxLength: 4 }), encoding)
          .map(([base, ms, other]) => ms.reduce((b, m) => applyMutation(b, m, Uint8Array.from(other)), base)),
      },
    )
    .map((b) => Uint8Array.from(b));
}

// --- the comparison --------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };
function outcome<T>(run: () => T): Outcome<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

function agree<T>(what: string, input: Uint8Array, mine: Outcome<T>, theirs: Outcome<T>): void {
  if (mine.ok !== theirs.ok) {
    const say = (o: Outcome<T>) => (o.ok ? "accepts" : `rejects (${o.error})`);
    throw new Error(`${what}: hand-written ${say(mine)}, protobuf-es ${say(theirs)}; input ${toHex(input)}`);
  }
  if (mine.ok && theirs.ok) expect(mine.value).toStrictEqual(theirs.value);
}

/** `input` behind `prefix` random bytes, as decodeFrame hands a payload over (an offset into the frame). */
function framed(input: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(prefix + input.length).fill(0xa5);
  out.set(input, prefix);
  return out;
}

const HEADER: FrameHeader = {
  type: FrameType.Data,
  flags: FrameFlag.Ack,
  senderId: 1,
  receiverId: 2,
  senderEpoch: 7,
  receiverEpoch: 9,
  seq: 1,
  ack: 0,
  sack: 0,
};

interface Tally {
  inputs: number;
  handWritten: number;
  accepted: number;
  rejected: number;
  framed: number;
}
const tally = (): Tally => ({ inputs: 0, handWritten: 0, accepted: 0, rejected: 0, framed: 0 });

function checkBundle(input: Uint8Array, t: Tally): void {
  const theirs = outcome(() => fromBinary(BundleSchema, input));
  const prefix = input.length % 3 === 0 ? 0 : 36;
  const mine = outcome(() => decodeBundleFast(framed(input, prefix), prefix));
  t.inputs++;
  // No fallback: the hand-written decoder answers (a Bundle or a throw) for everything.
  if (!mine.ok || mine.value !== undefined) t.handWritten++;
  if (theirs.ok) t.accepted++;
  else t.rejected++;
  agree("Bundle", input, mine, theirs);
  // The peer's call: decodeFrame on a DATA frame carrying it.
  if (input.length === 0 || input.length > PAYLOAD_BYTES_MAX) return;
  t.framed++;
  agreeFramed(decodeFrame(encodeFrameBytes(HEADER, input)), theirs);
}

/**
 * decodeFrame on a frame carrying the payload: refused as not protobuf
 * exactly when protobuf-es refuses it, and when accepted, with its value
 * (a frame rule, such as Ack ranges, may still refuse it for another reason).
 */
function agreeFramed(r: ReturnType<typeof decodeFrame>, theirs: Outcome<Bundle | Ack>): void {
  if (!theirs.ok) expect(r.ok ? "ok" : r.detail).toStartWith("payload is not a valid protobuf message");
  else if (r.ok) expect(r.frame.payload).toStrictEqual(theirs.value);
  else expect(r.detail).not.toStartWith("payload is not a valid protobuf message");
}

function checkAck(input: Uint8Array, t: Tally): void {
  const theirs = outcome(() => fromBinary(AckSchema, input));
  const prefix = input.length % 3 === 0 ? 0 : 36;
  const mine = outcome(() => decodeAckFast(framed(input, prefix), prefix));
  t.inputs++;
  if (!mine.ok || mine.value !== undefined) t.handWritten++;
  if (theirs.ok) t.accepted++;
  else t.rejected++;
  agree("Ack", input, mine, theirs);
  if (input.length > PAYLOAD_BYTES_MAX) return;
  t.framed++;
  agreeFramed(decodeFrame(encodeFrameBytes({ ...HEADER, type: FrameType.Ack, seq: 0 }, input)), theirs);
}

function checkEnvelope(input: Uint8Array, t: Tally): void {
  const theirs = outcome(() => fromBinary(EnvelopeSchema, input));
  t.inputs++;
  const fast = outcome(() => decodeEnvelopeFast(input));
  if (!fast.ok || fast.value !== undefined) t.handWritten++;
  if (theirs.ok) t.accepted++;
  else t.rejected++;
  // The peer's calls (src/peer/envelope.ts): the AppData fast path first, then decodeEnvelope.
  const body = appDataBody(input);
  if (body !== undefined) {
    if (!theirs.ok || theirs.value.body.case !== "data")
      throw new Error(`appDataBody answered what protobuf-es reads otherwise: ${toHex(input)}`);
    expect(body).toStrictEqual(theirs.value.body.value.body);
  }
  agree(
    "Envelope",
    input,
    outcome(() => decodeEnvelope(input)),
    theirs,
  );
}

// --- corner cases ----------------------------------------------------------------

const group = (field: number, depth: number) => {
  let inner: number[] = [];
  for (let d = 0; d < depth; d++) inner = [...varint(field * 8 + 3), ...inner, ...varint(field * 8 + 4)];
  return inner;
};
const len = (field: number, content: number[]) => [...varint(field * 8 + 2), ...varint(content.length), ...content];
const CORNERS: Record<"bundle" | "ack" | "envelope", number[][]> = {
  bundle: [
    [],
    group(5, 99), // the deepest group protobuf-es skips at the top level
    group(5, 100),
    len(3, group(5, 98)), // inside a sub-message: one level less
    len(3, group(5, 99)),
    [0x2b, 0x2c], // empty group
    [0x2b, 0x34], // closed by another field's end tag
    [0x2c], // an end-group tag alone
    [0x0e],
    [0x0f], // wire types 6 and 7
    [0x00],
    [0x80, 0x00], // field 0, overlong
    [0x8a, 0x80, 0x80, 0x80, 0x00, 0x00], // tag 0x0a in 5 bytes
    [0x8a, 0x80, 0x80, 0x80, 0x10, 0x00], // 5-byte tag with a too-high last byte
    [0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00], // field 2^29-1
    [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // a length of 2^32-1
    [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // length in 11 bytes
    [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // length 0 in 10 bytes
    [0x12, 0x01, 0x08, 0x05], // a sub-message whose field runs past its end
    [0x12, 0x02, 0x08], // a sub-message longer than the input
    [0x1a, 0x02, 0x0a, 0x03, 0x01, 0x02, 0x03], // a packed run past its end
    [0x1a, 0x00, 0x1a, 0x02, 0x10, 0x01, 0x1a, 0x02, 0x08, 0x02], // ack three times: merged
    [0x12, 0x02, 0x28, 0x01, 0x12, 0x02, 0x30, 0x02], // fragment twice with unknown fields: merged $unknown
    [0x09, 0x01, 0x41, 0x0d, 0x01, 0x42], // known field 1 with wire types 1 and 5: read as bytes anyway
    [0x29, 1, 2, 3, 4, 5, 6, 7], // fixed64 cut short
    [0x2d, 1, 2, 3], // fixed32 cut short
    [0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // an unknown varint of 12 bytes
  ],
  ack: [
    [],
    group(4, 99),
    group(4, 100),
    [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 10-byte varint: low 32 bits
    [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00], // 11 bytes
    [0x08, 0x80, 0x80, 0x80, 0x80, 0x10], // bit 32 only: 0
    [0x0a, 0x00], // an empty packed run
    [0x0a, 0x01, 0x81, 0x01], // a packed varint past the run's end
    [0x09, 0x05, 0x0b, 0x06, 0x0c, 0x07, 0x0d, 0x08], // ranges with wire types 1, 3, 4, 5: one varint each
    [0x10, 0x01, 0x10, 0x02, 0x18, 0x03, 0x18, 0x00], // last value wins, a 0 included
    [0x12, 0x01, 0x05], // a scalar field written length-delimited: the length is the value
  ],
  envelope: [
    [],
    [0x0a, 0x00, 0x1a, 0x00], // alive, then goodbye: the last case wins
    [0x0a, 0x02, 0x10, 0x01, 0x0a, 0x02, 0x18, 0x02], // alive twice: merged
    [0x22, 0x02, 0x20, 0x02], // accepted = 2
    [0x22, 0x0b, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // bool: bit 63 only
    [0x22, 0x0b, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02], // bool: bit 64, dropped
    [0x22, 0x0c, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // bool in 11 bytes
    [0x22, 0x01, 0x20], // bool cut short
    [0x1a, 0x03, 0x0a, 0x01, 0xff], // invalid UTF-8
    [0x1a, 0x04, 0x0a, 0x02, 0xc3, 0xa9], // é
    [0x1a, 0x05, 0x0a, 0x03, 0xef, 0xbb, 0xbf], // a leading U+FEFF is kept
    [0x1a, 0x05, 0x0a, 0x03, 0xed, 0xa0, 0x80], // a UTF-16 surrogate in UTF-8
    len(
      3,
      len(
        1,
        Array.from({ length: 40 }, () => 0x61),
      ),
    ), // a string over 32 bytes, ASCII
    len(3, len(1, [...Array.from({ length: 40 }, () => 0x61), 0xff])), // over 32 bytes, invalid
    [0x2a, 0x00], // field 5: an unknown case
    [0x12, 0x00], // AppData with no body
    [0x82, 0x01, 0x00], // module (field 16, a two-byte tag), empty
    [0x82, 0x01, 0x04, 0x08, 0x01, 0x12, 0x00], // channel 1, an empty body written
    [0x82, 0x01, 0x02, 0x08, 0x01, 0x82, 0x01, 0x02, 0x12, 0x00], // module twice: merged
    [0x82, 0x01, 0x02, 0x08, 0x01, 0x0a, 0x00], // module, then alive: the last case wins
    [0x82, 0x01, 0x03, 0x12, 0x05, 0x01], // body cut short
    [0x8a, 0x01, 0x00], // field 17: an unknown case
  ],
};

// --- the tests -------------------------------------------------------------------

const SUITES = [
  { name: "bundle" as const, encoding: bundleEncoding, check: checkBundle, runs: RUNS.bundle },
  { name: "ack" as const, encoding: ackEncoding, check: checkAck, runs: RUNS.ack },
  { name: "envelope" as const, encoding: envelopeEncoding, check: checkEnvelope, runs: RUNS.envelope },
];

for (const suite of SUITES) {
  test(`${suite.name}: the hand-written decoder agrees with protobuf-es (seed ${SEED}, ${suite.runs} inputs + corner cases)`, () => {
    const t = tally();
    for (const corner of CORNERS[suite.name]) suite.check(Uint8Array.from(corner), t);
    fc.assert(
      fc.property(inputs(suite.encoding), (input) => suite.check(input, t)),
      { seed: SEED, numRuns: suite.runs },
    );
    // Every input took the hand-written path: nothing was left to protobuf-es.
    expect(t.handWritten).toBe(t.inputs);
    expect(t.inputs).toBeGreaterThanOrEqual(suite.runs);
    // A real mix of valid and invalid inputs, most of them also through decodeFrame.
    expect(t.accepted / t.inputs).toBeGreaterThan(0.3);
    expect(t.rejected / t.inputs).toBeGreaterThan(0.15);
    if (suite.name !== "envelope") expect(t.framed / t.inputs).toBeGreaterThan(0.8);
    if (process.env.DIFFERENTIAL_STATS) console.log(suite.name, JSON.stringify(t));
  });
}
