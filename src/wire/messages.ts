/**
 * Hand-written codecs for the messages a peer handles on every datagram, so
 * that protobuf-es (whose start-up decodes the schema descriptors: about 20 ms
 * of CPU, half of a peer's start) is loaded only when something unusual
 * arrives: `pb()` loads it on first use.
 *
 * - Encoders write exactly what protobuf-es's `toBinary` writes (fields in
 *   number order, defaults omitted); tests compare byte for byte.
 * - Decoders are fast paths: they answer only for inputs whose protobuf-es
 *   decoding they are sure to reproduce (known fields, each at most once, the
 *   expected wire types, values within 32 bits, ASCII strings) and return
 *   undefined for anything else, which the caller then hands to protobuf-es.
 *   So what is accepted, and how, stays protobuf-es's; tests compare the
 *   results on random and on real encodings.
 */
import type * as Gen from "../gen/rollcall/v1/rollcall_pb.ts";
import { readVarint, varintBytes, writeVarint } from "./varint.ts";

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

// --- reading -----------------------------------------------------------------

/** A cursor over one message's bytes; every read returns undefined when the fast path must give up. */
class Reader {
  constructor(
    readonly b: Uint8Array,
    public at = 0,
  ) {}

  get done(): boolean {
    return this.at >= this.b.length;
  }

  /** A uint32 varint in at most 5 bytes. */
  varint(): number | undefined {
    const read = readVarint(this.b, this.at);
    if (read === undefined) return undefined;
    this.at = read[1];
    return read[0];
  }

  /** The next field's number, if its wire type is `wireType`. */
  tag(): { field: number; wireType: number } | undefined {
    const t = this.varint();
    if (t === undefined) return undefined;
    return { field: t >>> 3, wireType: t & 7 };
  }

  bytes(): Uint8Array | undefined {
    const n = this.varint();
    if (n === undefined || this.at + n > this.b.length) return undefined;
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** A string field whose bytes are printable ASCII (where UTF-8 decoding cannot differ). */
  ascii(): string | undefined {
    const raw = this.bytes();
    // Long strings go to protobuf-es (spreading a huge array into fromCharCode can overflow the stack).
    if (raw === undefined || raw.length > 4096) return undefined;
    for (let i = 0; i < raw.length; i++) if (raw[i]! < 0x20 || raw[i]! > 0x7e) return undefined;
    return String.fromCharCode(...raw);
  }
}

const VARINT = 0;
const LEN = 2;

/**
 * Reads a message whose fields are all uint32 varints, strings or bytes, each
 * at most once, from a table of field number -> [kind, key]. Missing fields
 * keep the defaults in `into`. Gives up on anything else.
 */
function readFlat<T extends Record<string, unknown>>(
  r: Reader,
  fields: Record<number, ["u32" | "ascii" | "bytes" | "bool", keyof T & string]>,
  into: T,
): T | undefined {
  const seen = new Set<number>();
  while (!r.done) {
    const tag = r.tag();
    if (tag === undefined || seen.has(tag.field)) return undefined;
    const spec = fields[tag.field];
    if (spec === undefined) return undefined;
    seen.add(tag.field);
    const [kind, key] = spec;
    let value: unknown;
    if (kind === "u32" || kind === "bool") {
      if (tag.wireType !== VARINT) return undefined;
      const v = r.varint();
      if (v === undefined || (kind === "bool" && v > 1)) return undefined;
      value = kind === "bool" ? v === 1 : v;
    } else {
      if (tag.wireType !== LEN) return undefined;
      value = kind === "ascii" ? r.ascii() : r.bytes();
      if (value === undefined) return undefined;
    }
    (into as Record<string, unknown>)[key] = value;
  }
  return into;
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

/** A DATA payload, when the fast path can read it exactly as protobuf-es would. */
/** `start`: where the Bundle begins in `bytes` (it runs to the end). */
export function decodeBundleFast(bytes: Uint8Array, start = 0): Gen.Bundle | undefined {
  const r = new Reader(bytes, start);
  const messages: Uint8Array[] = [];
  let fragment: Gen.Fragment | undefined;
  while (!r.done) {
    const tag = r.tag();
    if (tag === undefined || tag.wireType !== LEN || fragment !== undefined) return undefined;
    if (tag.field === 1) {
      const m = r.bytes();
      if (m === undefined) return undefined;
      messages.push(m);
    } else if (tag.field === 2) {
      const body = r.bytes();
      if (body === undefined) return undefined;
      const f = readFlat(
        new Reader(body),
        { 1: ["u32", "totalLength"], 2: ["u32", "offset"], 3: ["bytes", "data"] },
        { $typeName: "rollcall.v1.Fragment", totalLength: 0, offset: 0, data: new Uint8Array(0) },
      );
      if (f === undefined) return undefined;
      fragment = f as Gen.Fragment;
    } else return undefined;
  }
  const bundle = { $typeName: "rollcall.v1.Bundle", messages } as Gen.Bundle;
  if (fragment !== undefined) bundle.fragment = fragment;
  return bundle;
}

/** An ACK payload: `Ack` is empty, so only the empty payload is certain. */
export function decodeAckFast(bytes: Uint8Array): Gen.Ack | undefined {
  return bytes.length === 0 ? ({ $typeName: "rollcall.v1.Ack" } as Gen.Ack) : undefined;
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

/** An Envelope with an Alive, AliveReply or Goodbye (AppData has its own fast path in src/peer/envelope.ts). */
export function decodeEnvelopeFast(bytes: Uint8Array): Gen.Envelope | undefined {
  const r = new Reader(bytes);
  const tag = r.tag();
  if (tag === undefined || tag.wireType !== LEN) return undefined;
  const body = r.bytes();
  if (body === undefined || !r.done) return undefined;
  const inner = new Reader(body);
  switch (tag.field) {
    case 1: {
      const value = readFlat(
        inner,
        {
          1: ["ascii", "name"],
          2: ["u32", "id"],
          3: ["u32", "epoch"],
          4: ["bytes", "hostsDigest"],
          5: ["u32", "peerCount"],
          6: ["ascii", "agent"],
        },
        {
          $typeName: "rollcall.v1.Alive",
          name: "",
          id: 0,
          epoch: 0,
          hostsDigest: new Uint8Array(0),
          peerCount: 0,
          agent: "",
        },
      );
      return value && ({ $typeName: "rollcall.v1.Envelope", body: { case: "alive", value } } as Gen.Envelope);
    }
    case 3: {
      const value = readFlat(inner, { 1: ["ascii", "reason"] }, { $typeName: "rollcall.v1.Goodbye", reason: "" });
      return value && ({ $typeName: "rollcall.v1.Envelope", body: { case: "goodbye", value } } as Gen.Envelope);
    }
    case 4: {
      const value = readFlat(
        inner,
        { 1: ["u32", "id"], 2: ["u32", "epoch"], 3: ["bytes", "hostsDigest"], 4: ["bool", "accepted"] },
        { $typeName: "rollcall.v1.AliveReply", id: 0, epoch: 0, hostsDigest: new Uint8Array(0), accepted: false },
      );
      return value && ({ $typeName: "rollcall.v1.Envelope", body: { case: "aliveReply", value } } as Gen.Envelope);
    }
    default:
      return undefined;
  }
}
