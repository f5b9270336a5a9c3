/**
 * Total order over virtual synchrony (src/group/ordered.ts, docs/groups.md
 * "Ordered multicast"): the hand-written codec writes protobuf-es's bytes,
 * and the total-order workload's checkers (one order at every process, on
 * top of every views checker) pass over fixed simulator seeds with crashes,
 * partitions, loss and bursts.
 */
import { expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { OrderedMulticastSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { decodeOrdered, encodeAssignment, encodeOrderedBody } from "../../src/group/ordered.ts";
import { drawSettings, viewsOptions } from "../../src/sim/cli.ts";
import { runViews } from "../../src/sim/views.ts";

const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_384, 0xffffffff), fc.nat({ max: 0xffffffff }));

test("ordered bodies and assignments are protobuf-es's bytes, and decode back", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("fifo" as const, "total" as const),
      fc.uint8Array({ maxLength: 200 }),
      (order, body) => {
        const ours = encodeOrderedBody(order, body);
        const theirs = toBinary(
          OrderedMulticastSchema,
          create(OrderedMulticastSchema, { body: { case: order, value: body } }),
        );
        expect(ours).toEqual(theirs);
        expect(decodeOrdered(ours)).toEqual({ kind: order, body });
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

test("the total-order workload passes on fixed seeds (crashes, partitions, loss, 2 to 50 processes; bursts of up to 4)", () => {
  const failures: string[] = [];
  let deliveries = 0;
  let views = 0;
  for (let seed = 1; seed <= 12; seed++) {
    for (const burst of [1, 4]) {
      const s = drawSettings({ workload: "total-order", messages: 20, burst }, seed);
      const r = runViews(viewsOptions(s));
      if (!r.ok) failures.push(`seed ${seed} burst ${burst}: ${r.violations.slice(0, 2).join("; ").slice(0, 400)}`);
      deliveries += r.deliveries;
      views += r.views;
    }
  }
  expect(failures).toEqual([]);
  expect(deliveries).toBeGreaterThan(5_000);
  expect(views).toBeGreaterThan(40);
}, 120_000);
