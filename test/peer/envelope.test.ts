import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { EnvelopeSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { appDataBody, encodeAppDataEnvelope } from "../../src/peer/envelope.ts";

const reference = (body: Uint8Array) =>
  toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "data", value: { body } } }));

test("the AppData envelope encoder writes exactly protobuf-es's bytes", () => {
  for (const n of [0, 1, 2, 127, 128, 300, 16_383, 16_384, 70_000]) {
    const body = Uint8Array.from({ length: n }, (_, i) => i * 7);
    expect(Buffer.compare(encodeAppDataEnvelope(body), reference(body))).toBe(0);
  }
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      (body) => Buffer.compare(encodeAppDataEnvelope(body), reference(body)) === 0,
    ),
    { seed: 7, numRuns: 500 },
  );
});

test("the fast decode path agrees with protobuf-es, and declines anything but the canonical layout", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (body) => {
      const bytes = reference(body);
      const fast = appDataBody(bytes);
      return fast !== undefined && Buffer.compare(fast, body) === 0;
    }),
    { seed: 8, numRuns: 500 },
  );
  // Arbitrary bytes: whenever the fast path answers, protobuf-es gives the same body.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const fast = appDataBody(bytes);
      if (fast === undefined) return true;
      const env = fromBinary(EnvelopeSchema, bytes);
      return env.body.case === "data" && Buffer.compare(env.body.value.body, fast) === 0;
    }),
    { seed: 9, numRuns: 20_000 },
  );
  // Other layouts go to protobuf-es: an alive, an AppData with an extra field, trailing bytes.
  const alive = toBinary(EnvelopeSchema, create(EnvelopeSchema, { body: { case: "alive", value: { id: 1 } } }));
  expect(appDataBody(alive)).toBeUndefined();
  expect(appDataBody(Uint8Array.of(0x12, 0x03, 0x0a, 0x01, 0x05, 0x10))).toBeUndefined();
  expect(appDataBody(Uint8Array.of(0x12, 0x02, 0x0a, 0x00))).toBeUndefined();
});
