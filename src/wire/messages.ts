/**
 * Hand-written codecs for the messages a peer handles on every datagram, so
 * that protobuf-es (whose start-up decodes the schema descriptors: about 20 ms
 * of CPU, half of a peer's start) is loaded only when something unusual
 * arrives: `pb()` loads it on first use.
 *
 * - Encoders write exactly what protobuf-es's `toBinary` writes (fields in
 *   number order, defaults omitted, repeated scalars packed); tests compare
 *   byte for byte.
 * - The Bundle, Ack and Envelope decoders are complete: for every input they
 *   return what protobuf-es's `fromBinary` returns (unknown fields in
 *   `$unknown` included) or throw where it throws, so protobuf-es is never
 *   needed for them. They reproduce its leniencies on purpose: a known field
 *   is read by its declared type whatever its wire type says; a repeated
 *   uint32 is packed when length-delimited, else one value; a varint has up to
 *   10 bytes and a uint32 keeps its low 32 bits; a sub-message or packed run
 *   ends at the first field that reaches its stated end, even one that runs
 *   past it; a repeated singular sub-message merges; groups in unknown fields
 *   nest at most 99 levels deep (98 inside a sub-message); strings must be
 *   valid UTF-8. test/wire/differential.test.ts checks all of it against
 *   protobuf-es at a fixed seed.
 * - The Probe decoder is a fast path: it answers only for inputs whose
 *   protobuf-es decoding it is sure to reproduce and returns undefined for
 *   anything else, which the caller then hands to protobuf-es.
 */
import type { UnknownField } from "@bufbuild/protobuf";
import type * as Gen from "../gen/rollcall/v1/rollcall_pb.ts";
import { varintBytes, writeVarint } from "./varint.ts";

type Runtime = typeof import("@bufbuild/protobuf");
let loaded: { gen: typeof Gen; runtime: Runtime } | undefined;

/** protobuf-es and the generated schemas, loaded on first use. */
export function pb(): { gen: typeof Gen; runtime: Runtime } {
  loaded ??= {
    gen: require("../gen/rollcall/v1/rollcall_pb.ts") as typeof Gen,
    runtime: require("@bufbuild/protobuf") as Runtime,
  };
  return loaded;
}

/** `ProbeKind` values (proto/rollcall/v1/rollcall.proto); a test checks them against the generated enum. */
export const ProbeKindCode = { PING: 1, ACK: 2, PING_REQ: 3, NACK: 4, GOSSIP: 5 } as const;
/** `MemberState` values; a test checks them against the generated enum. */
export const MemberStateCode = { ALIVE: 1, SUSPECT: 2, FAILED: 3, LEFT: 4 } as const;

const VARINT = 0;
const LEN = 2;

// --- exact reading (protobuf-es's BinaryReader, transcribed) -------------------

/**
 * The message being read and the read position. Module state rather than an
 * object keeps the hot path allocation-free; nothing here re-enters.
 */
let src: Uint8Array = new Uint8Array(0);
let cursor = 0;

/** Wire types (protobuf-es's `WireType`). */
const START_GROUP = 3;
const END_GROUP = 4;
/** protobuf-es's default recursion limit, less the depth of the message being read (1 for the top level). */
const SKIP_LIMIT_TOP = 99;
const SKIP_LIMIT_NESTED = 98;

function eof(): never {
  throw new RangeError("premature EOF");
}

/** A varint of at most 10 bytes, as a uint32 (its low 32 bits), as protobuf-es's `uint32()`. */
function u32(): number {
  const b = src;
  const n = b.length;
  if (cursor >= n) eof();
  let x = b[cursor++]!;
  if (x < 0x80) return x;
  let v = x & 0x7f;
  if (cursor >= n) eof();
  x = b[cursor++]!;
  v |= (x & 0x7f) << 7;
  if (x < 0x80) return v;
  if (cursor >= n) eof();
  x = b[cursor++]!;
  v |= (x & 0x7f) << 14;
  if (x < 0x80) return v;
  if (cursor >= n) eof();
  x = b[cursor++]!;
  v |= (x & 0x7f) << 21;
  if (x < 0x80) return v;
  if (cursor >= n) eof();
  x = b[cursor++]!;
  v |= (x & 0x0f) << 28;
  // Bits past 32 are read and dropped; a tenth byte must end the varint.
  for (let read = 5; x >= 0x80 && read < 10; read++) {
    if (cursor >= n) eof();
    x = b[cursor++]!;
  }
  if (x >= 0x80) throw new Error("invalid varint");
  return v >>> 0;
}

/** A field's tag as `field << 3 | wireType` (unsigned), checked as protobuf-es's `tag()` checks it. */
function tag(): number {
  if (cursor < src.length) {
    const b = src[cursor]!;
    if (b < 0x80) {
      cursor++;
      if (b < 8 || (b & 7) > 5) throw new Error(`illegal tag: field no ${b >>> 3} wire type ${b & 7}`);
      return b;
    }
  }
  const start = cursor;
  const t = u32();
  if (cursor - start > 5 || (cursor - start === 5 && src[cursor - 1]! > 0x0f))
    throw new Error("illegal tag: varint overflows uint32");
  if (t >>> 3 === 0 || (t & 7) > 5) throw new Error(`illegal tag: field no ${t >>> 3} wire type ${t & 7}`);
  return t;
}

/** A length-delimited value: a view of the input. */
function lenBytes(): Uint8Array {
  const len = u32();
  const start = cursor;
  cursor += len;
  if (cursor > src.length) eof();
  return src.subarray(start, cursor);
}

/** A bool: any of the varint's 64 bits set (protobuf-es's `bool()`). */
function bool(): boolean {
  if (cursor >= src.length) eof();
  const first = src[cursor]!;
  if (first < 0x80) {
    cursor++;
    return first !== 0;
  }
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    if (cursor >= src.length) eof();
    const x = src[cursor++]!;
    // The tenth byte holds bit 63 only.
    bits |= i < 9 ? x & 0x7f : x & 0x01;
    if (x < 0x80) return bits !== 0;
  }
  throw new Error("invalid varint");
}

/** protobuf-es's strict decoder: invalid UTF-8 throws, a leading U+FEFF is text, not a byte-order mark. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A string field (proto3: valid UTF-8 or the message is rejected). TextDecoder beats any JS loop here, ASCII included. */
function str(): string {
  const raw = lenBytes();
  return raw.length === 0 ? "" : UTF8.decode(raw);
}

/** Skips one value of wire type `wireType` (protobuf-es's `skip()`); groups nest at most `limit` deep. */
function skip(wireType: number, field: number, limit: number): void {
  switch (wireType) {
    case VARINT:
      // Any length: protobuf-es skips continuation bytes without counting them.
      for (;;) {
        if (cursor >= src.length) eof();
        if (src[cursor++]! < 0x80) break;
      }
      return;
    case 1:
      cursor += 8;
      break;
    case 5:
      cursor += 4;
      break;
    case LEN: {
      const length = u32(); // not `cursor += u32()`: that adds to the position before the length
      cursor += length;
      break;
    }
    case START_GROUP:
      if (limit <= 0) throw new Error("maximum recursion depth reached");
      for (;;) {
        const t = tag();
        if ((t & 7) === END_GROUP) {
          if (t >>> 3 !== field) throw new Error("invalid end group tag");
          break;
        }
        skip(t & 7, t >>> 3, limit - 1);
      }
      return;
    default:
      throw new Error(`cant skip wire type ${wireType}`);
  }
  if (cursor > src.length) eof();
}

/** Skips an unknown field and keeps it in `$unknown`, as protobuf-es does. */
function unknown(message: { $unknown?: UnknownField[] | undefined }, t: number, limit: number): void {
  const start = cursor;
  skip(t & 7, t >>> 3, limit);
  const field = { no: t >>> 3, wireType: t & 7, data: src.subarray(start, cursor) } as UnknownField;
  if (message.$unknown === undefined) message.$unknown = [field];
  else message.$unknown.push(field);
}

// --- writing -----------------------------------------------------------------

/** Fields to write, in field-number order; defaults (0, "", false, empty) are skipped as protobuf-es does. */
type Field =
  | [number, "u32", number]
  | [number, "bool", boolean]
  | [number, "bytes", Uint8Array]
  | [number, "msg", Uint8Array];

const ENCODER = new TextEncoder();

function fieldBytes(f: Field): number {
  const [num, kind, v] = f;
  const tag = varintBytes((num << 3) | (kind === "u32" || kind === "bool" ? VARINT : LEN));
  if (kind === "u32") return v === 0 ? 0 : tag + varintBytes(v as number);
  if (kind === "bool") return v ? tag + 1 : 0;
  const len = (v as Uint8Array).length;
  // An empty embedded message is still written (its presence matters); empty bytes are not.
  return kind === "bytes" && len === 0 ? 0 : tag + varintBytes(len) + len;
}

function writeFields(fields: Field[]): Uint8Array {
  let n = 0;
  for (const f of fields) n += fieldBytes(f);
  const out = new Uint8Array(n);
  let at = 0;
  for (const f of fields) {
    if (fieldBytes(f) === 0) continue;
    const [num, kind, v] = f;
    at = writeVarint(out, at, (num << 3) | (kind === "u32" || kind === "bool" ? VARINT : LEN));
    if (kind === "u32") at = writeVarint(out, at, v as number);
    else if (kind === "bool") out[at++] = 1;
    else {
      const bytes = v as Uint8Array;
      at = writeVarint(out, at, bytes.length);
      out.set(bytes, at);
      at += bytes.length;
    }
  }
  return out;
}

const text = (s: string) => ENCODER.encode(s);

// --- Bundle and Ack (frame payloads) -----------------------------------------

/** What an Ack carries (proto `Ack`); structurally compatible with the generated type. */
export interface AckFields {
  /** (gap, length) pairs above the header's cumulative ack (docs/wire-format.md, "Acknowledgement ranges and credit"). */
  ranges: readonly number[];
  ackDelayUs: number;
  messageCredit: number;
}

const TAG_RANGES = 0x0a; // Ack field 1, packed (length-delimited)
const TAG_ACK_DELAY = 0x10; // Ack field 2, varint
const TAG_CREDIT = 0x18; // Ack field 3, varint
const TAG_BUNDLE_ACK = 0x1a; // Bundle field 3, length-delimited

function checkU32(v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`not a uint32: ${v}`);
}

/** Bytes of the packed `ranges` values (without tag and length). */
function rangesBytes(ranges: readonly number[]): number {
  let n = 0;
  for (const r of ranges) {
    checkU32(r);
    n += varintBytes(r);
  }
  return n;
}

/** Encoded size of an Ack (0 when every field is at its default). */
export function ackBytes(a: AckFields): number {
  const packed = rangesBytes(a.ranges);
  return (
    (a.ranges.length > 0 ? 1 + varintBytes(packed) + packed : 0) + u32Field(a.ackDelayUs) + u32Field(a.messageCredit)
  );
}

/** Writes the Ack at `at` as protobuf-es does (ranges packed, defaults omitted); returns the offset after it. */
export function writeAck(out: Uint8Array, at: number, a: AckFields): number {
  if (a.ranges.length > 0) {
    out[at++] = TAG_RANGES;
    at = writeVarint(out, at, rangesBytes(a.ranges));
    for (const r of a.ranges) at = writeVarint(out, at, r);
  }
  at = putU32(out, at, TAG_ACK_DELAY, a.ackDelayUs);
  return putU32(out, at, TAG_CREDIT, a.messageCredit);
}

/** An Ack message, byte-identical to protobuf-es's `toBinary`; empty when every field is at its default. */
export function encodeAck(a: AckFields): Uint8Array {
  const out = new Uint8Array(ackBytes(a));
  writeAck(out, 0, a);
  return out;
}

/**
 * Bundle field 3 (`ack`): tag 0x1a, the Ack's length, the Ack. Appended to an
 * encoded Bundle (fields 1 and 2) it gives the Bundle protobuf-es would write
 * with that ack. Empty when the Ack is all default: nothing to say, no field.
 */
export function encodeBundleAckField(a: AckFields): Uint8Array {
  const body = ackBytes(a);
  if (body === 0) return new Uint8Array(0);
  const out = new Uint8Array(1 + varintBytes(body) + body);
  out[0] = TAG_BUNDLE_ACK;
  writeAck(out, writeVarint(out, 1, body), a);
  return out;
}

const newFragment = (): Gen.Fragment =>
  ({ $typeName: "rollcall.v1.Fragment", totalLength: 0, offset: 0, data: new Uint8Array(0) }) as Gen.Fragment;
const newAck = (): Gen.Ack =>
  ({ $typeName: "rollcall.v1.Ack", ranges: [], ackDelayUs: 0, messageCredit: 0 }) as Gen.Ack;

/** Reads Fragment fields into `f` until `end`. */
function readFragment(f: Gen.Fragment, end: number): Gen.Fragment {
  while (cursor < end) {
    const t = tag();
    const field = t >>> 3;
    if (field === 1) f.totalLength = u32();
    else if (field === 2) f.offset = u32();
    else if (field === 3) f.data = lenBytes();
    else unknown(f, t, SKIP_LIMIT_NESTED);
  }
  return f;
}

/** Reads Ack fields into `a` until `end`. */
function readAck(a: Gen.Ack, end: number, limit: number): Gen.Ack {
  while (cursor < end) {
    const t = tag();
    const field = t >>> 3;
    if (field === 1) {
      if ((t & 7) === LEN) {
        const stop = u32() + cursor;
        while (cursor < stop) a.ranges.push(u32());
      } else a.ranges.push(u32());
    } else if (field === 2) a.ackDelayUs = u32();
    else if (field === 3) a.messageCredit = u32();
    else unknown(a, t, limit);
  }
  return a;
}

/**
 * A DATA payload (the Bundle from `start` to the end of `bytes`): exactly what
 * protobuf-es's `fromBinary(BundleSchema, ...)` returns, or throws where it throws.
 */
export function decodeBundleFast(bytes: Uint8Array, start = 0): Gen.Bundle {
  src = bytes;
  cursor = start;
  const end = bytes.length;
  const bundle = { $typeName: "rollcall.v1.Bundle", messages: [] as Uint8Array[] } as Gen.Bundle;
  while (cursor < end) {
    const t = tag();
    const field = t >>> 3;
    if (field === 1) bundle.messages.push(lenBytes());
    else if (field === 2) {
      const length = u32();
      bundle.fragment = readFragment(bundle.fragment ?? newFragment(), cursor + length);
    } else if (field === 3) {
      const length = u32();
      bundle.ack = readAck(bundle.ack ?? newAck(), cursor + length, SKIP_LIMIT_NESTED);
    } else unknown(bundle, t, SKIP_LIMIT_TOP);
  }
  return bundle;
}

/**
 * An ACK payload (the Ack from `start` to the end of `bytes`): exactly what
 * protobuf-es's `fromBinary(AckSchema, ...)` returns, or throws where it throws.
 */
export function decodeAckFast(bytes: Uint8Array, start = 0): Gen.Ack {
  src = bytes;
  cursor = start;
  return readAck(newAck(), bytes.length, SKIP_LIMIT_TOP);
}

// --- Probe ---------------------------------------------------------------------

export interface UpdateFields {
  id: number;
  epoch: number;
  incarnation: number;
  state: number;
  reporter: number;
}

export interface ProbeFields {
  kind: number;
  probeId: number;
  targetId: number;
  targetEpoch: number;
  updates: readonly UpdateFields[];
}

/** Bytes of a uint32 field (1-byte tag) when non-zero, as protobuf-es writes it; 0 for a default. */
const u32Field = (v: number) => (v === 0 ? 0 : 1 + varintBytes(v));

function updateBytes(u: UpdateFields): number {
  return u32Field(u.id) + u32Field(u.epoch) + u32Field(u.incarnation) + u32Field(u.state) + u32Field(u.reporter);
}

function putU32(out: Uint8Array, at: number, tag: number, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`not a uint32: ${v}`);
  if (v === 0) return at;
  out[at] = tag;
  return writeVarint(out, at + 1, v);
}

/** A Probe, byte-identical to protobuf-es's encoding. Written directly: it is on every probe's path. */
export function encodeProbe(p: ProbeFields): Uint8Array {
  let n = u32Field(p.kind) + u32Field(p.probeId) + u32Field(p.targetId) + u32Field(p.targetEpoch);
  for (const u of p.updates) {
    const size = updateBytes(u);
    n += 1 + varintBytes(size) + size;
  }
  const out = new Uint8Array(n);
  let at = putU32(out, 0, 0x08, p.kind);
  at = putU32(out, at, 0x10, p.probeId);
  at = putU32(out, at, 0x18, p.targetId);
  at = putU32(out, at, 0x20, p.targetEpoch);
  for (const u of p.updates) {
    out[at++] = 0x2a;
    at = writeVarint(out, at, updateBytes(u));
    at = putU32(out, at, 0x08, u.id);
    at = putU32(out, at, 0x10, u.epoch);
    at = putU32(out, at, 0x18, u.incarnation);
    at = putU32(out, at, 0x20, u.state);
    at = putU32(out, at, 0x28, u.reporter);
  }
  return out;
}

/** Read position of `varintAt`; module state instead of a returned pair keeps the hot path allocation-free. */
let pos = 0;

/** A uint32 varint (at most 5 bytes) at `pos`, before `end`; -1 when the fast path must give up. */
function varintAt(b: Uint8Array, end: number): number {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) return -1;
    const byte = b[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value <= 0xffffffff ? value : -1;
  }
  return -1;
}

/** `start`: where the Probe begins in `bytes` (it runs to the end). */
export function decodeProbeFast(bytes: Uint8Array, start = 0): Gen.Probe | undefined {
  const probe = {
    $typeName: "rollcall.v1.Probe",
    kind: 0,
    probeId: 0,
    targetId: 0,
    targetEpoch: 0,
    updates: [] as Gen.MemberUpdate[],
  };
  const end = bytes.length;
  let seen = 0;
  pos = start;
  while (pos < end) {
    // Every field here has a one-byte tag; a longer one is a field this fast path does not know.
    const tag = bytes[pos++]!;
    if (tag === 0x2a) {
      const len = varintAt(bytes, end);
      if (len < 0 || pos + len > end) return undefined;
      const stop = pos + len;
      const u = { $typeName: "rollcall.v1.MemberUpdate", id: 0, epoch: 0, incarnation: 0, state: 0, reporter: 0 };
      let seenInner = 0;
      while (pos < stop) {
        const t = bytes[pos++]!;
        const field = t >>> 3;
        if ((t & 7) !== VARINT || field < 1 || field > 5 || (seenInner & (1 << field)) !== 0) return undefined;
        seenInner |= 1 << field;
        const v = varintAt(bytes, stop);
        if (v < 0) return undefined;
        if (field === 1) u.id = v;
        else if (field === 2) u.epoch = v;
        else if (field === 3) u.incarnation = v;
        else if (field === 4) {
          // An enum: values past int32 decode as negative numbers in protobuf-es.
          if (v > 0x7fffffff) return undefined;
          u.state = v;
        } else u.reporter = v;
      }
      if (pos !== stop) return undefined;
      probe.updates.push(u as Gen.MemberUpdate);
      continue;
    }
    const field = tag >>> 3;
    if ((tag & 7) !== VARINT || field < 1 || field > 4 || (seen & (1 << field)) !== 0) return undefined;
    seen |= 1 << field;
    const v = varintAt(bytes, end);
    if (v < 0) return undefined;
    if (field === 1) {
      if (v > 0x7fffffff) return undefined;
      probe.kind = v;
    } else if (field === 2) probe.probeId = v;
    else if (field === 3) probe.targetId = v;
    else probe.targetEpoch = v;
  }
  return probe as Gen.Probe;
}

// --- Envelope -------------------------------------------------------------------

export interface AliveFields {
  name: string;
  id: number;
  epoch: number;
  hostsDigest: Uint8Array;
  peerCount: number;
  agent: string;
}

export function encodeAliveEnvelope(a: AliveFields): Uint8Array {
  const alive = writeFields([
    [1, "bytes", text(a.name)],
    [2, "u32", a.id],
    [3, "u32", a.epoch],
    [4, "bytes", a.hostsDigest],
    [5, "u32", a.peerCount],
    [6, "bytes", text(a.agent)],
  ]);
  return writeFields([[1, "msg", alive]]);
}

export function encodeAliveReplyEnvelope(r: {
  id: number;
  epoch: number;
  hostsDigest: Uint8Array;
  accepted: boolean;
}): Uint8Array {
  const reply = writeFields([
    [1, "u32", r.id],
    [2, "u32", r.epoch],
    [3, "bytes", r.hostsDigest],
    [4, "bool", r.accepted],
  ]);
  return writeFields([[4, "msg", reply]]);
}

export function encodeGoodbyeEnvelope(reason: string): Uint8Array {
  return writeFields([[3, "msg", writeFields([[1, "bytes", text(reason)]])]]);
}

/** Envelope's oneof case for protocol modules' messages. */
const ENVELOPE_FIELD_MODULE = 16;

function readModule(m: Gen.ModuleMessage, end: number): Gen.ModuleMessage {
  while (cursor < end) {
    const t = tag();
    switch (t >>> 3) {
      case 1:
        m.channel = u32();
        break;
      case 2:
        m.body = lenBytes();
        break;
      default:
        unknown(m, t, SKIP_LIMIT_NESTED);
    }
  }
  return m;
}

function readAlive(a: Gen.Alive, end: number): Gen.Alive {
  while (cursor < end) {
    const t = tag();
    switch (t >>> 3) {
      case 1:
        a.name = str();
        break;
      case 2:
        a.id = u32();
        break;
      case 3:
        a.epoch = u32();
        break;
      case 4:
        a.hostsDigest = lenBytes();
        break;
      case 5:
        a.peerCount = u32();
        break;
      case 6:
        a.agent = str();
        break;
      default:
        unknown(a, t, SKIP_LIMIT_NESTED);
    }
  }
  return a;
}

function readAppData(d: Gen.AppData, end: number): Gen.AppData {
  while (cursor < end) {
    const t = tag();
    if (t >>> 3 === 1) d.body = lenBytes();
    else unknown(d, t, SKIP_LIMIT_NESTED);
  }
  return d;
}

function readGoodbye(g: Gen.Goodbye, end: number): Gen.Goodbye {
  while (cursor < end) {
    const t = tag();
    if (t >>> 3 === 1) g.reason = str();
    else unknown(g, t, SKIP_LIMIT_NESTED);
  }
  return g;
}

function readAliveReply(r: Gen.AliveReply, end: number): Gen.AliveReply {
  while (cursor < end) {
    const t = tag();
    switch (t >>> 3) {
      case 1:
        r.id = u32();
        break;
      case 2:
        r.epoch = u32();
        break;
      case 3:
        r.hostsDigest = lenBytes();
        break;
      case 4:
        r.accepted = bool();
        break;
      default:
        unknown(r, t, SKIP_LIMIT_NESTED);
    }
  }
  return r;
}

/**
 * Any Envelope: exactly what protobuf-es's `fromBinary(EnvelopeSchema, ...)`
 * returns, or throws where it throws. A `body` case seen again merges into
 * the value so far, as protobuf-es merges; another case replaces it.
 */
export function decodeEnvelopeFast(bytes: Uint8Array): Gen.Envelope {
  src = bytes;
  cursor = 0;
  const end = bytes.length;
  const envelope = { $typeName: "rollcall.v1.Envelope", body: { case: undefined } } as Gen.Envelope;
  while (cursor < end) {
    const t = tag();
    const field = t >>> 3;
    if ((field < 1 || field > 4) && field !== ENVELOPE_FIELD_MODULE) {
      unknown(envelope, t, SKIP_LIMIT_TOP);
      continue;
    }
    const stop = u32() + cursor;
    const body = envelope.body;
    if (field === ENVELOPE_FIELD_MODULE) {
      const prev = body.case === "module" ? body.value : undefined;
      const value = readModule(
        prev ?? ({ $typeName: "rollcall.v1.ModuleMessage", channel: 0, body: new Uint8Array(0) } as Gen.ModuleMessage),
        stop,
      );
      envelope.body = { case: "module", value };
    } else if (field === 1) {
      const prev = body.case === "alive" ? body.value : undefined;
      const value = readAlive(
        prev ??
          ({
            $typeName: "rollcall.v1.Alive",
            name: "",
            id: 0,
            epoch: 0,
            hostsDigest: new Uint8Array(0),
            peerCount: 0,
            agent: "",
          } as Gen.Alive),
        stop,
      );
      envelope.body = { case: "alive", value };
    } else if (field === 2) {
      const prev = body.case === "data" ? body.value : undefined;
      const value = readAppData(
        prev ?? ({ $typeName: "rollcall.v1.AppData", body: new Uint8Array(0) } as Gen.AppData),
        stop,
      );
      envelope.body = { case: "data", value };
    } else if (field === 3) {
      const prev = body.case === "goodbye" ? body.value : undefined;
      const value = readGoodbye(prev ?? ({ $typeName: "rollcall.v1.Goodbye", reason: "" } as Gen.Goodbye), stop);
      envelope.body = { case: "goodbye", value };
    } else {
      const prev = body.case === "aliveReply" ? body.value : undefined;
      const value = readAliveReply(
        prev ??
          ({
            $typeName: "rollcall.v1.AliveReply",
            id: 0,
            epoch: 0,
            hostsDigest: new Uint8Array(0),
            accepted: false,
          } as Gen.AliveReply),
        stop,
      );
      envelope.body = { case: "aliveReply", value };
    }
  }
  return envelope;
}
