import { expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { BundleSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import {
  encodeFrame,
  encodeFrameBytes,
  FRAME_BYTES_MAX,
  type Frame,
  FrameEncodeError,
  FrameFlag,
  FrameType,
  HEADER_BYTES,
} from "../../src/wire/frame.ts";
import { seqAdd, seqDiff, seqLe, seqLt } from "../../src/wire/seq.ts";

const good: Frame = {
  type: FrameType.Data,
  flags: 0,
  senderId: 1,
  receiverId: 2,
  senderEpoch: 7,
  receiverEpoch: 0,
  seq: 1,
  ack: 0,
  sack: 0,
  payload: create(BundleSchema, { messages: [Uint8Array.of(1, 2, 3)] }),
};

test.each([
  ["senderId", 0x10000, /senderId must be an integer in 0..65535/],
  ["senderId", 0, /sender id is 0/],
  ["senderEpoch", 0, /sender epoch is 0/],
  ["seq", -1, /seq must be an integer/],
  ["seq", 2 ** 32, /seq must be an integer/],
  ["ack", 1.5, /ack must be an integer/],
  ["flags", 0x02, /the Sealed flag is set by sealing/],
  ["flags", 0x04, /reserved flag bits/],
  ["ack", 3, /without the Ack flag/],
  ["type", 9, /unknown frame type 9/],
] as const)("encodeFrame rejects %s = %p with a clear error", (field, value, message) => {
  expect(() => encodeFrame({ ...good, [field]: value } as Frame)).toThrow(message);
  expect(() => encodeFrame({ ...good, [field]: value } as Frame)).toThrow(FrameEncodeError);
});

test("encodeFrame rejects an Ack flag with an unknown receiver epoch", () => {
  expect(() => encodeFrame({ ...good, flags: FrameFlag.Ack, ack: 1 })).toThrow(/receiver epoch is 0/);
});

test("encodeFrameBytes rejects a payload that would make the frame exceed 1400 bytes", () => {
  const ok = encodeFrameBytes(good, new Uint8Array(FRAME_BYTES_MAX - HEADER_BYTES));
  expect(ok.length).toBe(FRAME_BYTES_MAX);
  expect(() => encodeFrameBytes(good, new Uint8Array(FRAME_BYTES_MAX - HEADER_BYTES + 1))).toThrow(/at most 1364/);
});

test("serial-number arithmetic wraps at 2^32", () => {
  expect(seqLt(0xffffffff, 0)).toBe(true);
  expect(seqLt(0, 0xffffffff)).toBe(false);
  expect(seqDiff(2, 0xfffffffe)).toBe(4);
  expect(seqAdd(0xffffffff, 1)).toBe(0);
  expect(seqLe(5, 5)).toBe(true);
  expect(seqLt(5, 5)).toBe(false);
  expect(seqLt(1, 0x80000000)).toBe(true);
});

test("a frame of one application message uses the envelope's bytes as its Bundle, byte-identical to encoding it", async () => {
  const { bundleOfOne, encodeBundle } = await import("../../src/wire/bundle.ts");
  const { encodeAppDataEnvelope } = await import("../../src/peer/envelope.ts");
  for (const size of [512, 1300, 20_000]) {
    const envelope = encodeAppDataEnvelope(new Uint8Array(size).map((_, i) => i * 7));
    const inPlace = bundleOfOne(envelope);
    expect(inPlace).toBeDefined();
    expect(Buffer.compare(inPlace!, encodeBundle({ messages: [envelope] }))).toBe(0);
    expect(inPlace!.buffer).toBe(envelope.buffer); // no copy
  }
  // Small bodies get no headroom (a view costs more than their copy), nor does a foreign message.
  expect(bundleOfOne(encodeAppDataEnvelope(new Uint8Array(100)))).toBeUndefined();
  expect(bundleOfOne(new Uint8Array(10))).toBeUndefined();
  const foreign = new Uint8Array(20).subarray(5);
  expect(bundleOfOne(foreign)).toBeUndefined();
});
