/**
 * Total order by ISIS's agreed priorities (src/group/ordered.ts,
 * docs/groups.md "Ordered multicast"): the total-order checker passes on
 * fixed simulator seeds with crashes, partitions, loss and bursts, on top
 * of every views checker, view changes with undecided messages included.
 */
import { expect, test } from "bun:test";
import { runSeeds } from "../support/ordered-seeds.ts";

test("the total-order workload passes with ISIS's agreed priorities on fixed seeds", () => {
  const r = runSeeds({ workload: "total-order", totalAlgorithm: "isis" }, 8);
  expect(r.failures).toEqual([]);
  expect(r.deliveries).toBeGreaterThan(3_000);
  expect(r.views).toBeGreaterThan(25);
}, 240_000);
