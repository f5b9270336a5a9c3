/**
 * The group layer's hot message, `GroupMessage{data: GroupData{view_id,
 * seq, body (repeated), group}}`, encoded and decoded by hand: protobuf-es's create, toBinary
 * and fromBinary per multicast were most of the group's cost over plain
 * broadcast. Bytes are exactly protobuf-es's (fields in number order,
 * defaults omitted); the decoder takes only that canonical layout and
 * answers undefined for anything else, which then goes to protobuf-es.
 */
import { readVarint, varintBytes, writeVarint } from "../wire/varint.ts";

/** GroupMessage field 10 (data), length-delimited. */
const TAG_DATA = 0x52;
const TAG_VIEW_ID = 0x08;
const TAG_SEQ = 0x10;
const TAG_BODY = 0x1a;
const TAG_GROUP = 0x20;

export interface GroupDataFields {
  viewId: number;
  group: number;
  /** The first body's seq; the others follow it. */
  seq: number;
  bodies: Uint8Array[];
}

/** `GroupMessage{data: {viewId, seq, body: bodies, group}}` in one allocation. */
export function encodeGroupData(viewId: number, group: number, seq: number, bodies: readonly Uint8Array[]): Uint8Array {
  let inner = (viewId === 0 ? 0 : 1 + varintBytes(viewId)) + (seq === 0 ? 0 : 1 + varintBytes(seq));
  // Repeated bytes: every element written, an empty one too.
  for (const body of bodies) inner += 1 + varintBytes(body.length) + body.length;
  inner += group === 0 ? 0 : 1 + varintBytes(group);
  const out = new Uint8Array(1 + varintBytes(inner) + inner);
  let at = 0;
  out[at++] = TAG_DATA;
  at = writeVarint(out, at, inner);
  if (viewId !== 0) {
    out[at++] = TAG_VIEW_ID;
    at = writeVarint(out, at, viewId);
  }
  if (seq !== 0) {
    out[at++] = TAG_SEQ;
    at = writeVarint(out, at, seq);
  }
  for (const body of bodies) {
    out[at++] = TAG_BODY;
    at = writeVarint(out, at, body.length);
    out.set(body, at);
    at += body.length;
  }
  if (group !== 0) {
    out[at++] = TAG_GROUP;
    writeVarint(out, at, group);
  }
  return out;
}

/** The fields of a canonical GroupData message, or undefined for any other bytes (decode those with protobuf-es). */
export function decodeGroupData(b: Uint8Array): GroupDataFields | undefined {
  if (b.length < 2 || b[0] !== TAG_DATA) return undefined;
  const outer = readVarint(b, 1);
  if (outer === undefined || outer[1] + outer[0] !== b.length) return undefined;
  let at = outer[1];
  let viewId = 0;
  let group = 0;
  let seq = 0;
  const bodies: Uint8Array[] = [];
  if (b[at] === TAG_VIEW_ID) {
    const v = readVarint(b, at + 1);
    if (v === undefined || v[0] === 0) return undefined;
    viewId = v[0];
    at = v[1];
  }
  if (at < b.length && b[at] === TAG_SEQ) {
    const v = readVarint(b, at + 1);
    if (v === undefined || v[0] === 0) return undefined;
    seq = v[0];
    at = v[1];
  }
  while (at < b.length && b[at] === TAG_BODY) {
    const v = readVarint(b, at + 1);
    if (v === undefined || v[1] + v[0] > b.length) return undefined;
    bodies.push(b.subarray(v[1], v[1] + v[0]));
    at = v[1] + v[0];
  }
  if (at < b.length && b[at] === TAG_GROUP) {
    const v = readVarint(b, at + 1);
    if (v === undefined || v[0] === 0) return undefined;
    group = v[0];
    at = v[1];
  }
  return at === b.length ? { viewId, group, seq, bodies } : undefined;
}
