/**
 * Codec properties shared by the CI fuzz test (fixed seed, bounded runs) and
 * `npm run fuzz` (random seed, runs for a given time). The generators are in
 * generators.ts; distribution.test.ts checks that they reach what these
 * properties are meant to exercise.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { toHex } from "../../scripts/lib/hex.ts";
import { type Ack, BundleSchema, EnvelopeSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { appDataBody } from "../../src/peer/envelope.ts";
import { encodeBundle } from "../../src/wire/bundle.ts";
import {
  DECODE_FAILURES,
  type DecodeFailure,
  decodeFrame,
  encodeFrame,
  encodeFrameBytes,
  type Frame,
  FrameType,
  HEADER_BYTES,
  PAYLOAD_BYTES_MAX,
} from "../../src/wire/frame.ts";
import { encodeAck, encodeBundleAckField } from "../../src/wire/messages.ts";
import {
  arbitraryBytes,
  arbitraryDataFrame,
  arbitraryFrame,
  corruptedFrame,
  envelopeInput,
  plausibleBytes,
} from "./generators.ts";
import { specVerdict } from "./spec-model.ts";

/** The CI fuzz test's seed, fixed so that CI is deterministic; `npm run fuzz` explores others. */
export const CI_SEED = 20261124;

export interface CodecProperty {
  // biome-ignore lint/suspicious/noExplicitAny: each property has its own argument tuple; callers only run them.
  property: fc.IProperty<any>;
  /** Runs in the CI fuzz test; together they keep test/wire under about 15 s on two cores. */
  ciRuns: number;
  /**
   * The datagram a counterexample stands for, which `npm run fuzz` saves to
   * test/vectors/fuzz-regressions.json; absent when the input is not a frame.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the counterexample tuple of the property above.
  datagram?: (counterexample: any) => Uint8Array;
}

const asBytes = ([bytes]: [Uint8Array]) => bytes;
const encoded = ([frame]: [Frame]) => encodeFrame(frame);
function flipped([frame, position]: [Frame, number]): Uint8Array {
  const bytes = encodeFrame(frame);
  const bit = position % (bytes.length * 8);
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return bytes;
}

const ackValues = (a: Ack) => `ack [${a.ranges.join(",")}] delay ${a.ackDelayUs} credit ${a.messageCredit}`;

/** Everything a decoded frame says, in a form two decodings can be compared by. */
export function frameValues(frame: Frame): string {
  const { type, flags, senderId, receiverId, senderEpoch, receiverEpoch, seq, ack, sack } = frame;
  const head = [type, flags, senderId, receiverId, senderEpoch, receiverEpoch, seq, ack, sack].join(" ");
  if (frame.type === FrameType.Ack) return `${head} ${ackValues(frame.payload)}`;
  if (frame.type !== FrameType.Data) return head;
  const { messages, fragment } = frame.payload;
  const body = fragment
    ? `fragment ${fragment.totalLength} ${fragment.offset} ${toHex(fragment.data)}`
    : `messages ${messages.map(toHex).join(",")}`;
  return `${head} ${body}${frame.payload.ack === undefined ? "" : ` ${ackValues(frame.payload.ack)}`}`;
}

const isFailure = (reason: string): reason is DecodeFailure => (DECODE_FAILURES as readonly string[]).includes(reason);

/**
 * The decoder's contract for any bytes: it does not throw or modify them, it
 * rejects with a listed reason, the same one the spec's validation order gives
 * (spec-model.ts), and what it accepts re-encodes to a frame
 * that decodes to the same values (not necessarily the same bytes: unknown
 * fields and non-canonical varints are accepted and not reproduced).
 */
export function checkDecode(bytes: Uint8Array): void {
  const copy = bytes.slice();
  const result = decodeFrame(bytes);
  if (Buffer.compare(copy, bytes) !== 0) throw new Error("decodeFrame modified its input");
  const verdict = specVerdict(bytes);
  if (!result.ok) {
    if (!isFailure(result.reason)) throw new Error(`unnamed reason ${result.reason}`);
    if (result.reason !== verdict)
      throw new Error(`rejected as ${result.reason} (${result.detail}); the spec's order gives ${verdict}`);
    return;
  }
  if (verdict !== "ok") throw new Error(`accepted; the spec's order rejects it as ${verdict}`);
  let again: Uint8Array;
  try {
    again = encodeFrame(result.frame);
  } catch (error) {
    throw new Error(`accepted frame cannot be re-encoded: ${(error as Error).message}`);
  }
  const second = decodeFrame(again);
  if (!second.ok) throw new Error(`re-encoded frame rejected: ${second.reason} (${second.detail})`);
  if (frameValues(second.frame) !== frameValues(result.frame))
    throw new Error(`re-encoding changed the values: ${frameValues(result.frame)} vs ${frameValues(second.frame)}`);
}

/**
 * Whenever the AppData fast path answers, protobuf-es reads the same bytes as
 * a data envelope with exactly that body; and for protobuf-es's own encoding
 * of a data envelope, the fast path does answer (else it is dead code).
 */
export function checkAppDataFastPath(bytes: Uint8Array): void {
  const fast = appDataBody(bytes);
  let decoded: ReturnType<typeof fromBinary<typeof EnvelopeSchema>> | undefined;
  try {
    decoded = fromBinary(EnvelopeSchema, bytes);
  } catch {
    decoded = undefined;
  }
  if (fast !== undefined) {
    if (decoded === undefined) throw new Error("fast path answered bytes protobuf-es rejects");
    if (decoded.body.case !== "data") throw new Error(`fast path answered a ${decoded.body.case} envelope`);
    if (Buffer.compare(decoded.body.value.body, fast) !== 0)
      throw new Error(`bodies differ: fast ${toHex(fast)}, protobuf-es ${toHex(decoded.body.value.body)}`);
  }
  if (decoded?.body.case === "data") {
    const canonical = toBinary(
      EnvelopeSchema,
      create(EnvelopeSchema, { body: { case: "data", value: { body: decoded.body.value.body } } }),
    );
    if (fast === undefined && Buffer.compare(canonical, bytes) === 0)
      throw new Error("fast path declined a canonical AppData envelope");
  }
}

export const properties: Record<string, CodecProperty> = {
  roundTrip: {
    property: fc.property(arbitraryFrame, (frame) => {
      const bytes = encodeFrame(frame);
      if (bytes.length - HEADER_BYTES > PAYLOAD_BYTES_MAX) throw new Error("frame over the size limit");
      const result = decodeFrame(bytes);
      if (!result.ok) throw new Error(`valid frame rejected: ${result.reason} (${result.detail})`);
      if (frameValues(result.frame) !== frameValues(frame)) throw new Error("decoding changed the values");
      const again = encodeFrame(result.frame);
      if (Buffer.compare(bytes, again) !== 0) throw new Error("re-encoding changed the bytes");
      // The reliability layer's path: the Bundle encoded once, the header written around it.
      const payload = frame.type === FrameType.Data ? encodeBundle(frame.payload) : encodeAck(frame.payload as Ack);
      if (Buffer.compare(bytes, encodeFrameBytes(frame, payload)) !== 0)
        throw new Error("encodeFrameBytes and encodeFrame disagree");
      // And its way with a piggybacked ack: the content encoded once, Bundle.ack appended per transmission.
      if (frame.type === FrameType.Data && frame.payload.ack !== undefined) {
        const ackField = encodeBundleAckField(frame.payload.ack);
        const content = encodeBundle({ messages: frame.payload.messages, fragment: frame.payload.fragment });
        const appended = Uint8Array.from([...content, ...ackField]);
        // An all-default Ack is no field at all there; encodeFrame writes a present one (1a 00), as protobuf-es does.
        const expected = ackField.length === 0 ? content : payload;
        if (Buffer.compare(appended, expected) !== 0) throw new Error("Bundle bytes + encodeBundleAckField differ");
      }
    }),
    ciRuns: 4000,
    datagram: encoded,
  },

  arbitraryBytesNeverThrow: {
    property: fc.property(arbitraryBytes, checkDecode),
    ciRuns: 3000,
    datagram: asBytes,
  },

  /** Bytes that start like a frame reach the length and checksum checks, not just bad-magic. */
  plausibleBytesNeverThrow: {
    property: fc.property(plausibleBytes, checkDecode),
    ciRuns: 3000,
    datagram: asBytes,
  },

  /** Corrupted and resealed: the checks after the checksum decide. */
  resealedCorruptionsHandled: {
    property: fc.property(corruptedFrame, checkDecode),
    ciRuns: 8000,
    datagram: asBytes,
  },

  everySingleBitFlipRejected: {
    property: fc.property(arbitraryFrame, fc.nat(), (frame, position) => {
      const result = decodeFrame(flipped([frame, position]));
      if (result.ok) throw new Error(`bit ${position % (encodeFrame(frame).length * 8)} flipped and still accepted`);
    }),
    ciRuns: 3000,
    datagram: flipped,
  },

  /** The hand-written Bundle encoder produces exactly protobuf-es's bytes. */
  bundleEncoderMatchesProtobufEs: {
    property: fc.property(arbitraryDataFrame, (frame) => {
      const mine = encodeBundle(frame.payload);
      const theirs = toBinary(BundleSchema, frame.payload);
      if (Buffer.compare(mine, theirs) !== 0)
        throw new Error(`bundle encodings differ: ${toHex(mine)} vs ${toHex(theirs)}`);
    }),
    ciRuns: 2000,
    datagram: encoded,
  },

  appDataFastPathAgreesWithProtobufEs: {
    property: fc.property(envelopeInput, checkAppDataFastPath),
    ciRuns: 6000,
  },
};
