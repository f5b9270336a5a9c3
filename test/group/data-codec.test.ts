/**
 * The hand-written codec of the group's multicast message writes exactly
 * protobuf-es's bytes, and decodes exactly what protobuf-es decodes, or
 * declines (undefined) so that protobuf-es decides.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { GroupMessageSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { decodeGroupData, encodeGroupData } from "../../src/group/data-codec.ts";

const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 0xffffffff), fc.nat({ max: 0xffffffff }));

test("encodeGroupData writes protobuf-es's bytes and decodes back", () => {
  fc.assert(
    fc.property(
      u32,
      u32,
      u32,
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
      (viewId, group, seq, body) => {
        const ours = encodeGroupData(viewId, group, seq, body);
        const theirs = toBinary(
          GroupMessageSchema,
          create(GroupMessageSchema, { body: { case: "data", value: { viewId, group, seq, body } } }),
        );
        expect(ours).toEqual(theirs);
        const back = decodeGroupData(ours);
        // Zero fields are omitted; the decoder declines nothing it wrote.
        expect(back).toEqual({ viewId, group, seq, bodies: body });
      },
    ),
    { numRuns: 2000, seed: 20261207 },
  );
});

test("on any bytes, decodeGroupData either declines or agrees with protobuf-es", () => {
  const valid = fc
    .tuple(u32, u32, u32, fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }))
    .map(([v, g, s, b]) => encodeGroupData(v, g, s, b));
  const mutated = fc.tuple(valid, fc.nat(), fc.nat({ max: 255 })).map(([b, at, x]) => {
    const c = b.slice();
    if (c.length > 0) c[at % c.length] = x;
    return c;
  });
  fc.assert(
    fc.property(fc.oneof(valid, mutated, fc.uint8Array({ maxLength: 20 })), (bytes) => {
      const ours = decodeGroupData(bytes);
      if (ours === undefined) return;
      const theirs = fromBinary(GroupMessageSchema, bytes);
      expect(theirs.body.case).toBe("data");
      const d = theirs.body.value as { viewId: number; group: number; seq: number; body: Uint8Array[] };
      expect({ viewId: d.viewId, group: d.group, seq: d.seq, bodies: d.body }).toEqual(ours);
    }),
    { numRuns: 5000, seed: 20261207 },
  );
});
