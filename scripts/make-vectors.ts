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
  GroupDataSchema,
  type GroupMessage,
  GroupMessageSchema,
  GroupPrepareSchema,
  MemberState,
  type OrderedMulticast,
  OrderedMulticastSchema,
  ProbeKind,
  ProbeSchema,
} from "../src/gen/rollcall/v1/rollcall_pb.ts";
import { deriveFrameKey, Keyring } from "../src/security/keyring.ts";
import { GROUP_CHANNEL } from "../src/wire/channels.ts";
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
/** A group-layer message (channel 1) in its envelope: docs/wire-format.md, "Channels". */
const groupMessage = (body: GroupMessage["body"]): GroupMessage => create(GroupMessageSchema, { body });
const groupEnvelope = (g: GroupMessage): Envelope =>
  create(EnvelopeSchema, {
    body: { case: "module", value: { channel: GROUP_CHANNEL, body: toBinary(GroupMessageSchema, g) } },
  });
const groupPrepare = groupMessage({
  case: "prepare",
  value: create(GroupPrepareSchema, { viewId: 3, ballot: { round: 2, coordinator: 1 } }),
});
/** The bodies of the vector's GroupData: one of each kind of ordered multicast (docs/groups.md). */
const orderedBodies: OrderedMulticast[] = [
  create(OrderedMulticastSchema, { body: { case: "total", value: new TextEncoder().encode("hi") } }),
  create(OrderedMulticastSchema, { body: { case: "order", value: { viewId: 3, sender: [1, 2], index: [7, 1] } } }),
  create(OrderedMulticastSchema, {
    body: { case: "causal", value: { body: new TextEncoder().encode("re"), clock: [2, 5, 0] } },
  }),
  create(OrderedMulticastSchema, { body: { case: "isis", value: new TextEncoder().encode("up") }, safe: true }),
  create(OrderedMulticastSchema, {
    body: { case: "proposals", value: { viewId: 3, sender: [1, 3], index: [4, 2], priority: [9n, 300n] } },
  }),
  create(OrderedMulticastSchema, {
    body: { case: "received", value: { viewId: 3, sender: [1, 2, 3], count: [7, 0, 2] } },
  }),
];
const groupData = groupMessage({
  case: "data",
  value: create(GroupDataSchema, {
    viewId: 3,
    seq: 7,
    body: orderedBodies.map((b) => toBinary(OrderedMulticastSchema, b)),
    group: 4_277_251,
  }),
});

/** The key file of the sealed vectors: key A (primary), key B. KEY_OTHER is in no file. */
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 1) & 0xff);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 5) & 0xff);
const KEY_OTHER = Uint8Array.from({ length: 32 }, (_, i) => (i * 3 + 200) & 0xff);
const KEYS = [KEY_A, KEY_B];
const SEALING = new Keyring([KEY_A]);
const SALT = Uint8Array.of(0x5a, 0x17, 0x5a, 0x17, 0xa5, 0x71, 0xa5, 0x71);

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
/**
 * The worked example of docs/wire-format.md ("Acknowledgement ranges and
 * credit"): with ack = 100, seqs 103, 104, 105 and 110 were received. From 101:
 * skip 2 (101, 102), 3 received (103-105), skip 4 (106-109), 1 received (110).
 * The sack bitmap says the same: bits 1, 2, 3 (103-105) and 8 (110).
 */
const EXAMPLE_ACK = { ack: 100, sack: 0b1_0000_1110 };
const EXAMPLE_RANGES = [2, 3, 4, 1];
const probeHeader = { ...base, seq: 0, receiverEpoch: 0x0badcafe };

interface ValidCase {
  name: string;
  description: string;
  frame: Frame;
  envelopes?: Envelope[];
  /** For each envelope on channel 1, the GroupMessage it carries (others: null). */
  groupMessages?: (GroupMessage | null)[];
  /** The bodies of the GroupData among them, each an OrderedMulticast. */
  orderedMulticasts?: OrderedMulticast[];
}

const bigText = "x".repeat(FRAME_BYTES_MAX - HEADER_BYTES - 9);
const TOKEN = Uint8Array.of(0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef);
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
    name: "data-with-ack-ranges",
    description:
      "A DATA frame piggybacking acknowledgement ranges and credit (Bundle.ack, field 3): ack 100 and 103-105 and 110 received (ranges [2,3,4,1], the same as the sack bits 1-3 and 8), held 1250 us since the highest of them arrived, and messages up to 64 may be sent.",
    frame: {
      ...base,
      ...withAck,
      ...EXAMPLE_ACK,
      type: FrameType.Data,
      seq: 12,
      payload: create(BundleSchema, {
        messages: [env(appData("hi"))],
        ack: { ranges: EXAMPLE_RANGES, ackDelayUs: 1250, messageCredit: 64 },
      }),
    },
    envelopes: [appData("hi")],
  },
  {
    name: "ack-with-ranges",
    description:
      "A standalone ACK frame whose Ack carries ranges beyond the sack bitmap's reach: ack 100, then 103-105, 110, and 200-209 (ranges [2,3,4,1,89,10]); ack delay 25000 us; credit 4000000000 (serial arithmetic: any uint32).",
    frame: {
      ...base,
      ...withAck,
      ...EXAMPLE_ACK,
      type: FrameType.Ack,
      seq: 0,
      payload: create(AckSchema, {
        ranges: [...EXAMPLE_RANGES, 89, 10],
        ackDelayUs: 25_000,
        messageCredit: 4_000_000_000,
      }),
    },
  },
  {
    name: "ack-credit-only",
    description:
      "A standalone ACK frame that only raises the flow-control credit (to message 300): nothing above the cumulative ack was received, no delay stated.",
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Ack,
      seq: 0,
      ack: 41,
      payload: create(AckSchema, { messageCredit: 300 }),
    },
  },
  {
    name: "ack-ranges-at-limits",
    description:
      "The largest ranges allowed: 64 (gap, length) pairs whose values sum to exactly 65535 (63 pairs [1,1], then [1,65408]).",
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Ack,
      seq: 0,
      ack: 5000,
      payload: create(AckSchema, { ranges: [...new Array(126).fill(1), 1, 65535 - 127] }),
    },
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
    name: "path-challenge",
    description:
      "PATH_CHALLENGE: peer 1 asks whoever receives peer 2's traffic to echo the token 0x0123456789abcdef (receiver epoch 0: any process of peer 2).",
    frame: { ...base, type: FrameType.PathChallenge, seq: 0, payload: TOKEN },
  },
  {
    name: "path-response",
    description:
      "PATH_RESPONSE: peer 1 echoes peer 2's token to the address the challenge came from; receiver id and epoch are the challenger's.",
    frame: { ...base, type: FrameType.PathResponse, seq: 0, receiverEpoch: 0x0badcafe, payload: TOKEN },
  },
  {
    name: "max-size",
    description: `A frame of exactly ${FRAME_BYTES_MAX} bytes, the largest allowed.`,
    frame: { ...base, type: FrameType.Data, payload: bundle([env(appData(bigText))]) },
    envelopes: [appData(bigText)],
  },
  {
    name: "group-messages-on-channel-1",
    description:
      'Two messages of the group layer in one DATA frame, each an Envelope whose module field (16, a two-byte tag 0x82 0x01) names channel 1 and carries a GroupMessage: a Prepare for view 3 under ballot (round 2, coordinator 1), and the 7th to 12th multicasts of the sender in view 3 of the founding 4277251, gathered in one GroupData: each body an OrderedMulticast, one of each kind: a total-order message ("hi"); the sequencer\'s order for the 7th total-order message of member 1 and the 1st of member 2 in view 3; a causal message ("re") with the clock [2, 5, 0]; a safe ISIS message ("up"); ISIS proposals (priority 9 for the 4th ISIS message of member 1, 300 for the 2nd of member 3); and a receipt (7, 0 and 2 ordered multicasts received from members 1, 2 and 3).',
    frame: {
      ...base,
      ...withAck,
      type: FrameType.Data,
      seq: 5,
      ack: 4,
      payload: bundle([env(groupEnvelope(groupPrepare)), env(groupEnvelope(groupData))]),
    },
    envelopes: [groupEnvelope(groupPrepare), groupEnvelope(groupData)],
    groupMessages: [groupPrepare, groupData],
    orderedMulticasts: orderedBodies,
  },
];

function validEntry(c: ValidCase, bytes = encodeFrame(c.frame)) {
  const { payload, ...header } = c.frame;
  return {
    name: c.name,
    description: c.description,
    hex: toHex(bytes),
    header: { ...header, flags: bytes[4]!, checksum: new DataView(bytes.buffer).getUint32(CHECKSUM_OFFSET) },
    payload:
      c.frame.type === FrameType.Ack
        ? { ack: toJson(AckSchema, c.frame.payload) }
        : c.frame.type === FrameType.Probe
          ? { probe: toJson(ProbeSchema, c.frame.payload) }
          : c.frame.type !== FrameType.Data
            ? { path: toHex(c.frame.payload) }
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
                  ack: c.frame.payload.ack === undefined ? null : toJson(AckSchema, c.frame.payload.ack),
                },
              },
    envelopes: c.envelopes?.map((e) => toJson(EnvelopeSchema, e)),
    groupMessages: c.groupMessages?.map((g) => (g === null ? null : toJson(GroupMessageSchema, g))),
    orderedMulticasts: c.orderedMulticasts?.map((m) => toJson(OrderedMulticastSchema, m)),
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
/** A standalone ACK frame with this Ack payload (written by hand: the encoder would write it, the decoder rejects it). */
const ackFrame = (ack: Parameters<typeof create<typeof AckSchema>>[1], header: Partial<FrameHeader> = {}) =>
  raw({ ...withAck, type: FrameType.Ack, seq: 0, ack: 100, ...header }, toBinary(AckSchema, create(AckSchema, ack)));
/** A DATA frame with one message and this Bundle.ack. */
const dataWithAck = (ack: Parameters<typeof create<typeof AckSchema>>[1], header: Partial<FrameHeader> = withAck) =>
  raw(header, toBinary(BundleSchema, create(BundleSchema, { messages: [env(appData("x"))], ack })));
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
    description: "Frame type 6, not defined in version 1.",
    bytes: mutate(aliveBytes, (v) => v.setUint8(3, 6)),
    reason: "unknown-type",
  },
  {
    name: "reserved-flag-0x04",
    description: "Flag bit 0x04 is reserved (0x01 is Ack, 0x02 Sealed).",
    bytes: mutate(aliveBytes, (v) => v.setUint8(4, 0x04)),
    reason: "reserved-bits-set",
  },
  {
    name: "path-token-too-long",
    description: "A PATH_CHALLENGE body must be exactly the 8-byte token.",
    bytes: raw({ type: FrameType.PathChallenge, seq: 0 }, new Uint8Array(9)),
    reason: "invalid-field",
  },
  {
    name: "path-response-without-epoch",
    description: "A PATH_RESPONSE names the challenger's process: receiver epoch 0 is invalid.",
    bytes: raw({ type: FrameType.PathResponse, seq: 0 }, TOKEN),
    reason: "invalid-field",
  },
  {
    name: "path-with-seq",
    description: "PATH frames are not part of the reliable stream; seq must be 0.",
    bytes: raw({ type: FrameType.PathChallenge, seq: 3 }, TOKEN),
    reason: "invalid-field",
  },
  {
    name: "sealed-to-keyless-receiver",
    description: "A correctly sealed frame reaching a peer that runs without a key: it cannot be read.",
    bytes: encodeFrame(valid[0]!.frame, SEALING.sealer(1, 0x1234abcd, SALT, 1)),
    reason: "unauthenticated",
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
    name: "bundle-only-ack",
    description:
      "A Bundle with only an ack (field 3) and no message or fragment carries nothing: Ack information alone travels in an ACK frame.",
    bytes: raw(
      { ...withAck, ack: 100 },
      toBinary(BundleSchema, create(BundleSchema, { ack: { ranges: EXAMPLE_RANGES } })),
    ),
    reason: "bad-payload",
  },
  {
    name: "data-ack-without-flag",
    description:
      "A DATA frame whose Bundle carries an ack (ranges [2,3,4,1]) while the header has no Ack flag: acknowledgement information is meaningful only under the flag.",
    bytes: dataWithAck({ ranges: EXAMPLE_RANGES, messageCredit: 5 }, {}),
    reason: "bad-payload",
  },
  {
    name: "data-empty-ack-without-flag",
    description:
      "As data-ack-without-flag with an empty Ack (bytes 1a 00): the field's presence is what counts, not its content.",
    bytes: raw({}, Uint8Array.from([...toBinary(BundleSchema, bundle([env(appData("x"))])), 0x1a, 0x00])),
    reason: "bad-payload",
  },
  {
    name: "data-ack-ranges-zero-gap",
    description: "Bundle.ack follows the same rules as an ACK frame's Ack: here a gap of 0 (ranges [0,3]).",
    bytes: dataWithAck({ ranges: [0, 3] }),
    reason: "bad-payload",
  },
  {
    name: "ack-ranges-odd",
    description: "Ack ranges are (gap, length) pairs: three values ([2,3,4]) is one short of two pairs.",
    bytes: ackFrame({ ranges: [2, 3, 4] }),
    reason: "bad-payload",
  },
  {
    name: "ack-ranges-zero-length",
    description: "Every range value is at least 1: a run of 0 received seqs ([2,0]) says nothing and is invalid.",
    bytes: ackFrame({ ranges: [2, 0] }),
    reason: "bad-payload",
  },
  {
    name: "ack-ranges-too-many-pairs",
    description: "65 (gap, length) pairs, one more than the 64 allowed.",
    bytes: ackFrame({ ranges: new Array(130).fill(1) }),
    reason: "bad-payload",
  },
  {
    name: "ack-ranges-span-too-large",
    description: "Range values summing to 65536 ([1,65535]), one past the 65535 allowed.",
    bytes: ackFrame({ ranges: [1, 65535] }),
    reason: "bad-payload",
  },
  {
    name: "ack-frame-ranges-without-flag",
    description:
      "An ACK frame with ranges and no Ack flag: the header rule (an ACK frame has the Ack flag, step 10) rejects it before the payload is read.",
    bytes: ackFrame({ ranges: EXAMPLE_RANGES }, { flags: 0, ack: 0 }),
    reason: "invalid-field",
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

/** A sealed frame built without the encoder's checks, for frames the encoder refuses to make. */
function rawSealed(header: Partial<FrameHeader>, body: Uint8Array, keyring: Keyring, packetNumber: number): Uint8Array {
  const h = { ...base, ...header, flags: (header.flags ?? 0) | FrameFlag.Sealed };
  const bytes = raw(h, new Uint8Array(36 + body.length));
  bytes.set(body, HEADER_BYTES + 20);
  bytes.fill(0, CHECKSUM_OFFSET, CHECKSUM_OFFSET + 4);
  keyring.sealer(h.senderId, h.senderEpoch, SALT, packetNumber).seal(bytes, HEADER_BYTES);
  return resealed(bytes);
}

const sealedValid: (ValidCase & { keyring: Keyring; packetNumber: number })[] = [
  {
    name: "sealed-alive-first-contact",
    description:
      "The vector alive-first-contact in key mode: sealed with the primary key (the file's first), packet number 1, the first frame of the process.",
    frame: valid[0]!.frame,
    envelopes: valid[0]!.envelopes,
    keyring: SEALING,
    packetNumber: 1,
  },
  {
    name: "sealed-ack",
    description:
      "A standalone ACK in key mode: the empty body is still authenticated (the whole header is associated data).",
    frame: valid[2]!.frame,
    keyring: SEALING,
    packetNumber: 2,
  },
  {
    name: "sealed-ack-ranges",
    description:
      "The vector ack-with-ranges in key mode: the Ack (ranges, delay, credit) is the sealed body, read only after the tag verifies.",
    frame: valid.find((c) => c.name === "ack-with-ranges")!.frame,
    keyring: SEALING,
    packetNumber: 8,
  },
  {
    name: "sealed-path-challenge",
    description: "A PATH_CHALLENGE in key mode: only a holder of the key can read the token and answer.",
    frame: valid.find((c) => c.name === "path-challenge")!.frame,
    keyring: SEALING,
    packetNumber: 3,
  },
  {
    name: "sealed-probe-ping",
    description: "The vector probe-ping in key mode, packet number 0x0102030405 (packet numbers are 8 bytes).",
    frame: valid.find((c) => c.name === "probe-ping")!.frame,
    keyring: SEALING,
    packetNumber: 0x0102030405,
  },
  {
    name: "sealed-with-second-key",
    description:
      "Sealed by a peer whose key file lists the second key first (a rotation under way): the receiver opens it with its second key.",
    frame: valid[1]!.frame,
    envelopes: valid[1]!.envelopes,
    keyring: new Keyring([KEY_B]),
    packetNumber: 7,
  },
];

function sealedEntry(c: (typeof sealedValid)[number]) {
  const bytes = encodeFrame(c.frame, c.keyring.sealer(c.frame.senderId, c.frame.senderEpoch, SALT, c.packetNumber));
  const key = c.keyring.primary;
  const entry = validEntry(c, bytes);
  const body =
    c.frame.type === FrameType.Data
      ? toBinary(BundleSchema, c.frame.payload)
      : c.frame.type === FrameType.Probe
        ? toBinary(ProbeSchema, c.frame.payload)
        : c.frame.type === FrameType.Ack
          ? toBinary(AckSchema, c.frame.payload)
          : c.frame.payload;
  return {
    ...entry,
    keyId: key.id.toString(16).padStart(8, "0"),
    processSalt: toHex(SALT),
    packetNumber: c.packetNumber,
    frameKey: toHex(deriveFrameKey(key.secret, c.frame.senderId, c.frame.senderEpoch, SALT)),
    body: toHex(body),
  };
}

const sealedAlive = encodeFrame(valid[0]!.frame, SEALING.sealer(1, 0x1234abcd, SALT, 1));
const sealedInvalid: typeof invalid = [
  {
    name: "sealed-tag-bit-flip",
    description: "One bit of the tag flipped, checksum recomputed (an attacker can always fix a CRC).",
    bytes: mutate(sealedAlive, (_v, b) => {
      b[b.length - 1]! ^= 0x01;
    }),
    reason: "unauthenticated",
  },
  {
    name: "sealed-ciphertext-bit-flip",
    description: "One bit of the encrypted body flipped, checksum recomputed.",
    bytes: mutate(sealedAlive, (_v, b) => {
      b[HEADER_BYTES + 24]! ^= 0x01;
    }),
    reason: "unauthenticated",
  },
  {
    name: "sealed-header-changed",
    description:
      "The sender id changed from 1 to 3 after sealing (checksum recomputed): the header is associated data.",
    bytes: mutate(sealedAlive, (v) => v.setUint16(8, 3)),
    reason: "unauthenticated",
  },
  {
    name: "sealed-packet-number-changed",
    description: "The packet number changed after sealing: it is the nonce and associated data.",
    bytes: mutate(sealedAlive, (v) => v.setUint32(HEADER_BYTES + 16, 2)),
    reason: "unauthenticated",
  },
  {
    name: "sealed-unknown-key-id",
    description: "Sealed with a key that is not in the receiver's file (a peer with another key).",
    bytes: encodeFrame(valid[0]!.frame, new Keyring([KEY_OTHER]).sealer(1, 0x1234abcd, SALT, 1)),
    reason: "unauthenticated",
  },
  {
    name: "plain-to-key-holder",
    description: "The plain frame alive-first-contact reaching a peer that runs with a key.",
    bytes: aliveBytes,
    reason: "unauthenticated",
  },
  {
    name: "sealed-too-short",
    description: "The Sealed flag with a 20-byte payload: shorter than the 36-byte seal.",
    bytes: raw({ flags: FrameFlag.Sealed }, new Uint8Array(20)),
    reason: "invalid-field",
  },
  {
    name: "sealed-packet-number-zero",
    description: "Packet numbers start at 1.",
    bytes: rawSealed({}, oneMessage, SEALING, 0),
    reason: "invalid-field",
  },
  {
    name: "sealed-empty-data",
    description: "A sealed DATA frame with an empty body (payload length exactly 36).",
    bytes: rawSealed({}, new Uint8Array(0), SEALING, 1),
    reason: "invalid-field",
  },
  {
    name: "sealed-body-not-protobuf",
    description:
      "Authentic, but the body is not a valid protobuf Bundle: authentication comes before the body is read.",
    bytes: rawSealed({}, Uint8Array.from([0xff, 0xff, 0xff]), SEALING, 1),
    reason: "bad-payload",
  },
];

const document = {
  format: "rollcall frame vectors",
  version: 1,
  note: "Generated by scripts/make-vectors.ts. Hex is lowercase, no separators. Header integers are unsigned decimals. Envelopes are in protobuf JSON form (bytes as base64).",
  valid: valid.map((c) => validEntry(c)),
  invalid: invalid.map(invalidEntry),
  sealed: {
    note: "Key mode (docs/wire-format.md, Sealed frames). keys: the key file, primary first. Valid vectors decode with these keys; invalid ones are judged by a receiver holding them.",
    keys: KEYS.map((k) => Buffer.from(k).toString("base64")),
    valid: sealedValid.map(sealedEntry),
    invalid: sealedInvalid.map(invalidEntry),
  },
};

function invalidEntry(c: (typeof invalid)[number]) {
  return { name: c.name, description: c.description, hex: toHex(c.bytes), reason: c.reason };
}

const out = `${JSON.stringify(document, null, 2)}\n`;
if (process.argv.includes("--stdout")) process.stdout.write(out);
else await Bun.write(new URL("../test/vectors/frames.json", import.meta.url), out);
