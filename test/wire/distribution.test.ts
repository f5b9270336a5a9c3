/**
 * The fuzz generators reach what the properties are meant to exercise. Without
 * this, a generator can silently shrink to trivial inputs (fast-check 4 keeps
 * arrays to about 10 elements unless told otherwise) and the properties keep
 * passing while checking nothing. Samples are drawn at the CI fuzz test's seed.
 */
import { describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { AckSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { appDataBody } from "../../src/peer/envelope.ts";
import { decodeFrame, encodeFrame, FrameType, HEADER_BYTES, PAYLOAD_BYTES_MAX } from "../../src/wire/frame.ts";
import { arbitraryBytes, arbitraryFrame, corruptedFrame, envelopeInput, plausibleBytes } from "./generators.ts";
import { CI_SEED } from "./properties.ts";
import { ackRangesBroken, bundleRuleBroken } from "./spec-model.ts";

const SAMPLES = 1000;
const sample = <T>(arb: fc.Arbitrary<T>): T[] => fc.sample(arb, { seed: CI_SEED, numRuns: SAMPLES });
const share = <T>(xs: readonly T[], pred: (x: T) => boolean): number => xs.filter(pred).length / xs.length;

function outcome(bytes: Uint8Array): string {
  const r = decodeFrame(bytes);
  return r.ok ? "ok" : r.reason;
}
const outcomes = (inputs: readonly Uint8Array[]) => new Set(inputs.map(outcome));

const PAST_CHECKSUM = ["unknown-type", "reserved-bits-set", "invalid-field", "bad-payload", "ok"];

describe(`fuzz generators at seed ${CI_SEED}`, () => {
  test("arbitrary bytes: mostly longer than the header, some over the frame limit", () => {
    const inputs = sample(arbitraryBytes);
    expect(share(inputs, (b) => b.length > HEADER_BYTES)).toBeGreaterThan(0.8);
    expect(outcomes(inputs)).toContain("too-large");
  });

  test("plausible bytes: reach the length and checksum checks and get past them", () => {
    const inputs = sample(plausibleBytes);
    expect(share(inputs, (b) => b.length > 256)).toBeGreaterThan(0.5);
    const reasons = outcomes(inputs);
    for (const r of ["length-mismatch", "trailing-bytes", "checksum-mismatch"]) expect(reasons).toContain(r);
    for (const r of ["invalid-field", "bad-payload"]) expect(reasons).toContain(r);
  });

  test("valid frames: payloads of hundreds of bytes, full frames, many messages, large fragments", () => {
    const frames = sample(arbitraryFrame);
    const payloads = frames.map((f) => encodeFrame(f).length - HEADER_BYTES);
    const data = frames.flatMap((f) => (f.type === FrameType.Data ? [f.payload] : []));
    expect(Math.max(...payloads)).toBe(PAYLOAD_BYTES_MAX);
    expect(share(payloads, (n) => n >= 256)).toBeGreaterThan(0.3);
    expect(Math.max(...data.map((b) => b.messages.length))).toBeGreaterThanOrEqual(20);
    expect(Math.max(...data.map((b) => b.fragment?.data.length ?? 0))).toBeGreaterThan(1000);
    // Acks: piggybacked on messages and on fragments, standalone, up to the 64-pair limit.
    expect(share(data, (b) => b.ack !== undefined && b.messages.length > 0)).toBeGreaterThan(0.1);
    expect(share(data, (b) => b.ack !== undefined && b.fragment !== undefined)).toBeGreaterThan(0.1);
    const acks = frames.flatMap((f) => (f.type === FrameType.Ack ? [f.payload] : []));
    expect(share(acks, (a) => a.ranges.length > 0)).toBeGreaterThan(0.3);
    const pairs = [...data.flatMap((b) => (b.ack ? [b.ack] : [])), ...acks].map((a) => a.ranges.length / 2);
    expect(Math.max(...pairs)).toBe(64);
  });

  test("corrupted, resealed frames: reach every check after the checksum, and every Bundle rule", () => {
    const inputs = sample(corruptedFrame).map((bytes) => ({ bytes, outcome: outcome(bytes) }));
    const reasons = new Set(inputs.map((i) => i.outcome));
    for (const r of PAST_CHECKSUM) expect(reasons).toContain(r);
    expect(share(inputs, (i) => PAST_CHECKSUM.includes(i.outcome))).toBeGreaterThan(0.7);
    expect(share(inputs, (i) => i.bytes.length > 256)).toBeGreaterThan(0.3);
    const rules = new Set(
      inputs
        .filter((i) => i.outcome === "bad-payload" && i.bytes[3] === FrameType.Data)
        .map((i) => bundleRuleBroken(i.bytes.subarray(HEADER_BYTES), (i.bytes[4]! & 0x01) !== 0)),
    );
    for (const rule of [
      "not protobuf",
      "carries nothing",
      "messages and fragment",
      "empty fragment",
      "fragment past end",
      "ack without flag",
      "odd ranges",
      "too many pairs",
      "zero range",
      "ranges span",
    ])
      expect(rules).toContain(rule);
    // ACK frames reach every ranges rule too.
    const ackRules = new Set(
      inputs
        .filter((i) => i.outcome === "bad-payload" && i.bytes[3] === FrameType.Ack)
        .map((i) => {
          try {
            return ackRangesBroken(fromBinary(AckSchema, i.bytes.subarray(HEADER_BYTES)).ranges);
          } catch {
            return "not protobuf";
          }
        }),
    );
    for (const rule of ["not protobuf", "odd ranges", "too many pairs", "zero range", "ranges span"])
      expect(ackRules).toContain(rule);
  });

  test("envelopes: the AppData fast path answers for a good share and declines a good share", () => {
    const bodies = sample(envelopeInput).map(appDataBody);
    const answered = bodies.filter((b) => b !== undefined);
    expect(answered.length / SAMPLES).toBeGreaterThan(0.25);
    expect(answered.length / SAMPLES).toBeLessThan(0.75);
    // Bodies behind one-, two- and three-byte length prefixes; mostly frame-sized ones.
    expect(answered.some((b) => b.length < 128)).toBe(true);
    expect(share(answered, (b) => b.length >= 128 && b.length <= PAYLOAD_BYTES_MAX)).toBeGreaterThan(0.5);
    expect(answered.some((b) => b.length >= 16_384)).toBe(true);
  });
});
