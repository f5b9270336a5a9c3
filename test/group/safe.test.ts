/**
 * Safe (uniform) delivery (src/group/ordered.ts, docs/groups.md "Ordered
 * multicast"): the safe workload (every multicast in total order and safe)
 * passes its checkers on fixed simulator seeds with crashes, partitions,
 * loss and bursts: uniform agreement (what a process delivered in a view,
 * even one that crashed right after, every process that moved on from it
 * delivered) and uniform total order, on top of every views checker.
 */
import { expect, test } from "bun:test";
import {
  encodeAssignment,
  encodeOrderedBody,
  encodeReceived,
  type OrderedEvent,
  OrderedGroup,
} from "../../src/group/ordered.ts";
import type { Host } from "../../src/host/host.ts";
import { runSeeds } from "../support/ordered-seeds.ts";

/** Member 3 of a view {1, 2, 3}, fed the group's events by hand (its group started on a host that sends nothing). */
function member3() {
  const delivered: string[] = [];
  const o = new OrderedGroup({}, 3, (e: OrderedEvent) => {
    if (e.type === "message") delivered.push(`${new TextDecoder().decode(e.body)}${e.safe ? " (safe)" : ""}`);
  });
  const host: Host = {
    selfId: 3,
    epoch: 103,
    peerCount: 3,
    now: () => 0,
    random: () => 0.5,
    send: () => ({ ok: true }),
    flushSoon: () => {},
    setTimer: () => {},
    epochOf: (id) => 100 + id,
    isAlive: () => true,
  };
  o.group.start(host);
  const members = [1, 2, 3].map((id) => ({ id, epoch: 100 + id }));
  o.handle({ type: "view", view: { group: 7, id: 1, members }, joined: members, left: [], previousViewId: 0 });
  const from = (sender: number, body: Uint8Array) => o.handle({ type: "message", from: sender, viewId: 1, body });
  return { delivered, from };
}

const text = (s: string) => new TextEncoder().encode(s);

test("a safe message waits until every member's receipt covers what this member had received; what comes after it waits behind it", () => {
  const m = member3();
  m.from(2, encodeOrderedBody("fifo", text("a"), true));
  m.from(1, encodeOrderedBody("fifo", text("b")));
  expect(m.delivered).toEqual([]);
  // Member 1 has it; member 2 (its sender) has not said so yet.
  m.from(1, encodeReceived(1, [1, 2], [1, 1]));
  expect(m.delivered).toEqual([]);
  m.from(2, encodeReceived(1, [2], [1]));
  expect(m.delivered).toEqual(["a (safe)", "b"]);
});

test("a safe total-order message waits for every member to have the sequencer's assignment too", () => {
  const m = member3();
  m.from(2, encodeOrderedBody("total", text("t"), true));
  m.from(1, encodeAssignment(1, [2], [1]));
  // Every member has the message, but member 2 has not the assignment that placed it.
  m.from(1, encodeReceived(1, [1, 2], [1, 1]));
  m.from(2, encodeReceived(1, [2], [1]));
  expect(m.delivered).toEqual([]);
  m.from(2, encodeReceived(1, [1, 2], [1, 1]));
  expect(m.delivered).toEqual(["t (safe)"]);
});

test("the safe workload passes on fixed seeds with the sequencer: uniform agreement and uniform total order", () => {
  const r = runSeeds({ workload: "safe" }, 12);
  expect(r.failures).toEqual([]);
  expect(r.deliveries).toBeGreaterThan(5_000);
}, 180_000);

test("the safe workload passes on fixed seeds with ISIS", () => {
  const r = runSeeds({ workload: "safe", totalAlgorithm: "isis" }, 3);
  expect(r.failures).toEqual([]);
  expect(r.deliveries).toBeGreaterThan(500);
}, 180_000);
