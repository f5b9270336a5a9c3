/**
 * Causal order over virtual synchrony (src/group/ordered.ts, docs/groups.md
 * "Ordered multicast"): the causal workload's checker (a process delivers a
 * message only after every message its sender had delivered in that view)
 * passes on fixed simulator seeds with crashes, partitions, loss and bursts,
 * on top of every views checker.
 */
import { expect, test } from "bun:test";
import { runSeeds } from "../support/ordered-seeds.ts";

test("the causal workload passes on fixed seeds: no process delivers a message before one its sender had delivered", () => {
  const r = runSeeds({ workload: "causal" }, 12);
  expect(r.failures).toEqual([]);
  expect(r.deliveries).toBeGreaterThan(5_000);
  expect(r.views).toBeGreaterThan(40);
}, 120_000);
