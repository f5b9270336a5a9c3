/**
 * Writes test/vectors/frames.json, the golden vectors of the frame format.
 *
 * Run `bun run scripts/make-vectors.ts` after a deliberate change to the wire
 * format (and bump VERSION). The test suite fails if this script's output
 * differs from the committed file, so vectors cannot drift from the code.
 */
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import {
  AckSchema,
  type Bundle,
  BundleSchema,
  type Envelope,
  EnvelopeSchema,
  FragmentSchema,
  MemberState,
  ProbeKind,
  ProbeSchema,
} from "../src/gen/rollcall/v1/rollcall_pb.ts";
import {
  CHECKSUM_OFFSET,
  encodeFrame,
  FRAME_BYTES_MAX,
  type Frame,
  FrameFlag,
  type FrameHeader,
  FrameType,
  frameChecksum,
  HEADER_BYTES,
} from "../src/wire/frame.ts";
import { toHex } from "./lib/hex.ts";

const digest = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const alive: Envelope = create(EnvelopeSchema, {
  body: {
    case: "alive",
    value: { name: "alpha", id: 1, epoch: 0x1234abcd, hostsDigest: digest, peerCount: 3, agent: "rollcall/0.1.0" },
  },
});
const appData = (text: string) =>
  create(EnvelopeSchema, { body: { case: "data", value: { body: new TextEncoder().encode(text) } } });
const goodbye = create(EnvelopeSchema, { body: { case: "goodbye", value: { reason: "SIGTERM" } } });
const env = (e: Envelope) => toBinary(EnvelopeSchema, e);

const base: FrameHeader = {
  type: FrameType.Data,
  flags: 0,
  senderId: 1,
  receiverId: 2,
  senderEpoch: 0x1234abcd,
  receiverEpoch: 0,
  seq: 1,
  ack: 0,
  sack: 0,
};
const withAck = { flags: FrameFlag.Ack, receiverEpoch: 0x0badcafe };
const bundle = (messages: Uint8Array[]): Bundle => create(BundleSchema, { messages });
const probeHeader = { ...base, seq: 0, receiverEpoch: 0x0badcafe };

interface ValidCase {
  name: string;
  description: string;
  frame: Frame;
  envelopes?: Envelope[];
}

const bigText = "x".repeat(FRAME_BYTES_MAX - HEADER_BYTES - 9);
const valid: ValidCase[] = [
  {
    name: "alive-first-contact",
    description:
      "Peer 1 announces itself to peer 2 whose epoch it does not know yet: no Ack flag, receiver epoch 0, seq 1 (the first of the epoch).",
    frame: { ...base, type: FrameType.Data, payload: bundle([env(alive)]) },
    envelopes: [alive],
  },
  {
    name: "data-coalesced-with-ack",
    description:
      "Two application messages coalesced into one DATA frame, with an acknowledgement riding on it: seqs up to 41 received, and 43 and 45 (sack bits 0 and 2).",
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Data,
      seq: 42,
      ack: 41,
      sack: 0b101,
      payload: bundle([env(appData("hello")), env(appData("world"))]),
    },
    envelopes: [appData("hello"), appData("world")],
  },
  {
    name: "ack-standalone",
    description:
      "A standalone ACK frame: seq 0, Ack flag set, empty payload (an empty Ack message encodes to zero bytes).",
    frame: { ...base, ...withAck, type: FrameType.Ack, seq: 0, ack: 7, sack: 0, payload: create(AckSchema) },
  },
  {
    name: "fragment",
    description: "The second fragment (offset 1000) of a 3000-byte message; fragments travel in consecutive seqs.",
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Data,
      seq: 9,
      ack: 3,
      payload: create(BundleSchema, {
        fragment: create(FragmentSchema, {
          totalLength: 3000,
          offset: 1000,
          data: Uint8Array.from({ length: 16 }, (_, i) => i),
        }),
      }),
    },
  },
  {
    name: "seq-wraparound",
    description:
      "Sequence numbers wrap: seq 0 follows 0xffffffff. Here seq 0 is sent while everything up to 0xfffffffe is acknowledged and 0 (ack+2) is in the sack.",
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Data,
      seq: 0,
      ack: 0xfffffffe,
      sack: 1,
      payload: bundle([env(appData("wrap"))]),
    },
    envelopes: [appData("wrap")],
  },
  {
    name: "goodbye",
    description: "A peer leaving on SIGTERM says goodbye reliably.",
    frame: { ...base, ...withAck, type: FrameType.Data, seq: 5, ack: 2, payload: bundle([env(goodbye)]) },
    envelopes: [goodbye],
  },
  {
    name: "max-fields",
    description: "Largest ids and epochs, every sack bit set.",
    frame: {
      ...base,
      type: FrameType.Data,
      flags: FrameFlag.Ack,
      senderId: 0xffff,
      receiverId: 0xffff,
      senderEpoch: 0xffffffff,
      receiverEpoch: 0xffffffff,
      seq: 0xffffffff,
      ack: 0xfffffffd,
      sack: 0xffffffff,
      payload: bundle([env(appData("max"))]),
    },
    envelopes: [appData("max")],
  },
  {
    name: "probe-ping",
    description:
      "PROBE frame: peer 1 pings peer 2 (probe id 41), telling it that peer 3 (epoch 0x0c0ffee0, incarnation 2) is suspected by peer 1.",
    frame: {
      ...probeHeader,
      type: FrameType.Probe,
      payload: create(ProbeSchema, {
        kind: ProbeKind.PING,
        probeId: 41,
        updates: [{ id: 3, epoch: 0x0c0ffee0, incarnation: 2, state: MemberState.SUSPECT, reporter: 1 }],
      }),
    },
  },
  {
    name: "probe-ping-req",
    description:
      "PROBE frame: peer 1 asks peer 2 to probe peer 3 (epoch 0x0c0ffee0) on its behalf, probe id 42; no updates.",
    frame: {
      ...probeHeader,
      type: FrameType.Probe,
      payload: create(ProbeSchema, { kind: ProbeKind.PING_REQ, probeId: 42, targetId: 3, targetEpoch: 0x0c0ffee0 }),
    },
  },
  {
    name: "max-size",
    description: `A frame of exactly ${FRAME_BYTES_MAX} bytes, the largest allowed.`,
    frame: { ...base, type: FrameType.Data, payload: bundle([env(appData(bigText))]) },
    envelopes: [appData(bigText)],
  },
];

function validEntry(c: ValidCase) {
  const bytes = encodeFrame(c.frame);
  const { payload, ...header } = c.frame;
  return {
    name: c.name,
    description: c.description,
    hex: toHex(bytes),
    header: { ...header, checksum: new DataView(bytes.buffer).getUint32(CHECKSUM_OFFSET) },
    payload:
      c.frame.type === FrameType.Ack
        ? { ack: {} }
        : c.frame.type === FrameType.Probe
          ? { probe: toJson(ProbeSchema, c.frame.payload) }
          : {
              bundle: {
                messages: c.frame.payload.messages.map(toHex),
                fragment:
                  c.frame.payload.fragment === undefined
                    ? null
                    : {
                        totalLength: c.frame.payload.fragment.totalLength,
                        offset: c.frame.payload.fragment.offset,
                        data: toHex(c.frame.payload.fragment.data),
                      },
              },
            },
    envelopes: c.envelopes?.map((e) => toJson(EnvelopeSchema, e)),
  };
}

/** Recomputes the checksum so that a frame reaches the check the vector is about. */
function resealed(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(CHECKSUM_OFFSET, frameChecksum(bytes));
  return bytes;
}
function mutate(source: Uint8Array, change: (view: DataView, bytes: Uint8Array) => void, reseal = true): Uint8Array {
  const bytes = source.slice();
  change(new DataView(bytes.buffer), bytes);
  return reseal ? resealed(bytes) : bytes;
}
/** A frame with the given header and raw payload bytes, checksum correct. */
function raw(header: Partial<FrameHeader>, payload: Uint8Array, extra?: (view: DataView) => void): Uint8Array {
  const h = { ...base, ...header };
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  const v = new DataView(bytes.buffer);
  v.setUint16(0, 0x5243);
  v.setUint8(2, 1);
  v.setUint8(3, h.type);
  v.setUint8(4, h.flags);
  v.setUint16(6, payload.length);
  v.setUint16(8, h.senderId);
  v.setUint16(10, h.receiverId);
  v.setUint32(12, h.senderEpoch);
  v.setUint32(16, h.receiverEpoch);
  v.setUint32(20, h.seq);
  v.setUint32(24, h.ack);
  v.setUint32(28, h.sack);
  bytes.set(payload, HEADER_BYTES);
  extra?.(v);
  return resealed(bytes);
}

const aliveBytes = encodeFrame(valid[0]!.frame);
const ackBytes = encodeFrame(valid[2]!.frame);
const probeBytes = encodeFrame(valid.find((c) => c.name === "probe-ping")!.frame);
const oneMessage = toBinary(BundleSchema, bundle([env(appData("x"))]));

const invalid: { name: string; description: string; bytes: Uint8Array; reason: string }[] = [
  { name: "empty", description: "A zero-length datagram.", bytes: new Uint8Array(0), reason: "truncated" },
  {
    name: "short-header",
    description: "35 bytes: one short of a header.",
    bytes: aliveBytes.slice(0, 35),
    reason: "truncated",
  },
  {
    name: "too-large",
    description: `${FRAME_BYTES_MAX + 1} bytes, over the limit, whatever they hold.`,
    bytes: new Uint8Array(FRAME_BYTES_MAX + 1),
    reason: "too-large",
  },
  {
    name: "bad-magic",
    description: "Magic 0x5244 instead of 0x5243.",
    bytes: mutate(aliveBytes, (v) => v.setUint16(0, 0x5244)),
    reason: "bad-magic",
  },
  {
    name: "future-version",
    description: "Version 2 with a correct checksum: a version-1 reader rejects it before reading further.",
    bytes: mutate(aliveBytes, (v) => v.setUint8(2, 2)),
    reason: "unsupported-version",
  },
  {
    name: "length-longer-than-datagram",
    description: "The payload length field says one byte more than follows the header.",
    bytes: mutate(aliveBytes, (v) => v.setUint16(6, v.getUint16(6) + 1)),
    reason: "length-mismatch",
  },
  {
    name: "trailing-byte",
    description: "One extra byte after the payload.",
    bytes: Uint8Array.from([...aliveBytes, 0]),
    reason: "trailing-bytes",
  },
  {
    name: "payload-bit-flip",
    description: "One payload bit flipped in transit; the checksum is left as sent.",
    bytes: mutate(
      aliveBytes,
      (_v, b) => {
        b[HEADER_BYTES + 3]! ^= 0x10;
      },
      false,
    ),
    reason: "checksum-mismatch",
  },
  {
    name: "checksum-bit-flip",
    description: "One bit of the checksum field flipped.",
    bytes: mutate(
      aliveBytes,
      (_v, b) => {
        b[CHECKSUM_OFFSET]! ^= 0x01;
      },
      false,
    ),
    reason: "checksum-mismatch",
  },
  {
    name: "unknown-type",
    description: "Frame type 4, not defined in version 1.",
    bytes: mutate(aliveBytes, (v) => v.setUint8(3, 4)),
    reason: "unknown-type",
  },
  {
    name: "reserved-flag",
    description: "Flag bit 0x80 is reserved.",
    bytes: mutate(aliveBytes, (v) => v.setUint8(4, 0x80)),
    reason: "reserved-bits-set",
  },
  {
    name: "reserved-byte",
    description: "Byte 5 is reserved and must be zero.",
    bytes: mutate(aliveBytes, (v) => v.setUint8(5, 1)),
    reason: "reserved-bits-set",
  },
  {
    name: "sender-id-zero",
    description: "Ids are 1-based; 0 is never a sender.",
    bytes: mutate(aliveBytes, (v) => v.setUint16(8, 0)),
    reason: "invalid-field",
  },
  {
    name: "sender-epoch-zero",
    description: "Epoch 0 is reserved for 'unknown'.",
    bytes: mutate(aliveBytes, (v) => v.setUint32(12, 0)),
    reason: "invalid-field",
  },
  {
    name: "ack-without-flag",
    description: "ack is non-zero but the Ack flag is clear.",
    bytes: mutate(aliveBytes, (v) => v.setUint32(24, 5)),
    reason: "invalid-field",
  },
  {
    name: "ack-flag-unknown-receiver",
    description: "The Ack flag is set but the receiver epoch is 0: an ack must name the stream it acknowledges.",
    bytes: mutate(ackBytes, (v) => v.setUint32(16, 0)),
    reason: "invalid-field",
  },
  {
    name: "ack-frame-with-seq",
    description: "ACK frames do not consume sequence numbers; seq must be 0.",
    bytes: mutate(ackBytes, (v) => v.setUint32(20, 1)),
    reason: "invalid-field",
  },
  {
    name: "ack-frame-without-flag",
    description: "An ACK frame must have the Ack flag.",
    bytes: raw({ type: FrameType.Ack, seq: 0, flags: 0, receiverEpoch: 9 }, new Uint8Array(0)),
    reason: "invalid-field",
  },
  {
    name: "probe-with-seq",
    description: "PROBE frames are not part of the reliable stream; seq must be 0.",
    bytes: mutate(probeBytes, (v) => v.setUint32(20, 1)),
    reason: "invalid-field",
  },
  {
    name: "probe-with-ack-flag",
    description: "PROBE frames carry no stream acknowledgement; the Ack flag must be clear.",
    bytes: mutate(probeBytes, (v) => v.setUint8(4, FrameFlag.Ack)),
    reason: "invalid-field",
  },
  {
    name: "probe-unknown-receiver",
    description: "A probe is sent only to a known process: receiver epoch 0 is invalid.",
    bytes: mutate(probeBytes, (v) => v.setUint32(16, 0)),
    reason: "invalid-field",
  },
  {
    name: "probe-too-many-updates",
    description: "A Probe with 65 updates, one more than allowed.",
    bytes: raw(
      { type: FrameType.Probe, seq: 0, receiverEpoch: 0x0badcafe },
      toBinary(
        ProbeSchema,
        create(ProbeSchema, {
          kind: ProbeKind.GOSSIP,
          updates: Array.from({ length: 65 }, (_, i) => ({ id: i + 1, epoch: 1, state: MemberState.ALIVE })),
        }),
      ),
    ),
    reason: "bad-payload",
  },
  {
    name: "data-empty-payload",
    description: "A DATA frame must carry something.",
    bytes: raw({}, new Uint8Array(0)),
    reason: "invalid-field",
  },
  {
    name: "payload-not-protobuf",
    description: "The payload is not a valid protobuf encoding (field 0, invalid wire type).",
    bytes: raw({}, Uint8Array.from([0xff, 0xff, 0xff])),
    reason: "bad-payload",
  },
  {
    name: "payload-truncated-field",
    description: "A length-delimited field claims more bytes than the payload has.",
    bytes: raw({}, oneMessage.subarray(0, oneMessage.length - 1)),
    reason: "bad-payload",
  },
  {
    name: "bundle-empty",
    description: "Valid protobuf (one unknown varint field) but the Bundle carries no message and no fragment.",
    bytes: raw({}, Uint8Array.from([0x18, 0x01])),
    reason: "bad-payload",
  },
  {
    name: "bundle-messages-and-fragment",
    description: "A Bundle must not carry whole messages and a fragment together.",
    bytes: raw(
      {},
      toBinary(
        BundleSchema,
        create(BundleSchema, {
          messages: [Uint8Array.of(1)],
          fragment: { totalLength: 2, offset: 0, data: Uint8Array.of(1) },
        }),
      ),
    ),
    reason: "bad-payload",
  },
  {
    name: "fragment-past-end",
    description: "A fragment whose offset + length exceeds its message's total length.",
    bytes: raw(
      {},
      toBinary(
        BundleSchema,
        create(BundleSchema, { fragment: { totalLength: 4, offset: 2, data: Uint8Array.of(1, 2, 3) } }),
      ),
    ),
    reason: "bad-payload",
  },
];

const document = {
  format: "rollcall frame vectors",
  version: 1,
  note: "Generated by scripts/make-vectors.ts. Hex is lowercase, no separators. Header integers are unsigned decimals. Envelopes are in protobuf JSON form (bytes as base64).",
  valid: valid.map(validEntry),
  invalid: invalid.map((c) => ({ name: c.name, description: c.description, hex: toHex(c.bytes), reason: c.reason })),
};

const out = `${JSON.stringify(document, null, 2)}\n`;
if (process.argv.includes("--stdout")) process.stdout.write(out);
else await Bun.write(new URL("../test/vectors/frames.json", import.meta.url), out);
