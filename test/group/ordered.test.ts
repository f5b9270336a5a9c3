/**
 * Ordered multicast over virtual synchrony (src/group/ordered.ts,
 * docs/groups.md "Ordered multicast"): the codec writes protobuf-es's bytes,
 * and each ordered workload's checkers (on top of every views checker) pass
 * over fixed simulator seeds with crashes, partitions, loss and bursts
 * (here total order by the sequencer; causal.test.ts, isis.test.ts and
 * safe.test.ts the others, one file each so that a planted bug runs only its own).
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { OrderedMulticastSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import {
  decodeOrdered,
  encodeAssignment,
  encodeCausal,
  encodeOrderedBody,
  encodeProposals,
  encodeReceived,
} from "../../src/group/ordered.ts";
import { runSeeds } from "../support/ordered-seeds.ts";

const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_384, 0xffffffff), fc.nat({ max: 0xffffffff }));

test("ordered bodies and assignments are protobuf-es's bytes, and decode back", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("fifo" as const, "total" as const, "isis" as const),
      fc.uint8Array({ maxLength: 200 }),
      fc.boolean(),
      (order, body, safe) => {
        const ours = encodeOrderedBody(order, body, safe);
        const theirs = toBinary(
          OrderedMulticastSchema,
          create(OrderedMulticastSchema, { body: { case: order, value: body }, safe }),
        );
        expect(ours).toEqual(theirs);
        expect(decodeOrdered(ours)).toEqual({ kind: order, body, safe });
      },
    ),
    { numRuns: 1000, seed: 20261207 },
  );
  fc.assert(
    fc.property(u32, fc.array(fc.tuple(u32, u32), { maxLength: 20 }), (viewId, pairs) => {
      const senders = pairs.map(([s]) => s);
      const indexes = pairs.map(([, i]) => i);
      const ours = encodeAssignment(viewId, senders, indexes);
      const theirs = toBinary(
        OrderedMulticastSchema,
        create(OrderedMulticastSchema, { body: { case: "order", value: { viewId, sender: senders, index: indexes } } }),
      );
      expect(ours).toEqual(theirs);
      const back = fromBinary(OrderedMulticastSchema, ours);
      expect(back.body.case).toBe("order");
      expect(decodeOrdered(ours)).toEqual({ kind: "order", viewId, senders, indexes });
    }),
    { numRuns: 1000, seed: 20261207 },
  );
  // Not an ordered multicast: declined, not thrown.
  expect(decodeOrdered(new Uint8Array([0xff, 0xff, 0xff]))).toBeUndefined();
});

test("the causal message is written as protobuf-es writes it; it, ISIS proposals and receipts decode as protobuf-es encodes them", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.array(u32, { maxLength: 12 }),
      fc.boolean(),
      (body, clock, safe) => {
        const ours = encodeCausal(body, clock, safe);
        const theirs = toBinary(
          OrderedMulticastSchema,
          create(OrderedMulticastSchema, { body: { case: "causal", value: { body, clock } }, safe }),
        );
        expect(ours).toEqual(theirs);
        expect(decodeOrdered(ours)).toEqual({ kind: "causal", body, clock, safe });
      },
    ),
    { numRuns: 500, seed: 20261208 },
  );
  fc.assert(
    fc.property(
      u32,
      fc.array(fc.tuple(u32, u32, fc.nat({ max: 2 ** 37 - 1 })), { maxLength: 20 }),
      (viewId, entries) => {
        const [senders, indexes, priorities] = [0, 1, 2].map((i) => entries.map((e) => e[i]!)) as [
          number[],
          number[],
          number[],
        ];
        expect(decodeOrdered(encodeProposals(viewId, senders, indexes, priorities))).toEqual({
          kind: "proposals",
          viewId,
          senders,
          indexes,
          priorities,
        });
        expect(decodeOrdered(encodeReceived(viewId, senders, indexes))).toEqual({
          kind: "received",
          viewId,
          senders,
          counts: indexes,
        });
      },
    ),
    { numRuns: 500, seed: 20261208 },
  );
  // A priority past any a view can reach is a broken sender's: declined.
  expect(decodeOrdered(encodeProposals(1, [1], [1], [2 ** 40]))).toBeUndefined();
});

test("the total-order workload passes on fixed seeds (crashes, partitions, loss, 2 to 50 processes; bursts of up to 4)", () => {
  const r = runSeeds({ workload: "total-order" }, 12);
  expect(r.failures).toEqual([]);
  expect(r.deliveries).toBeGreaterThan(5_000);
  expect(r.views).toBeGreaterThan(40);
}, 120_000);
