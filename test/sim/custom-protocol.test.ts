import { expect, test } from "bun:test";
import type { Checker, SimApp, SimNode, SimWorld } from "../../src/index.ts";
import { bootstrapChecker, NO_SIM_FAULTS, simulate } from "../../src/index.ts";

/**
 * A token ring as a user's own protocol: once READY, peer 1 sends token 1 to
 * peer 2, and every peer forwards the token it receives, plus one, to the
 * next. `skip` makes one peer forward a wrong value, so the checker has
 * something to catch.
 */
function tokenRing(hops: number, skip?: { peer: number; at: number }) {
  const seen: number[] = [];
  const app = (node: SimNode, world: SimWorld): SimApp => {
    const n = world.options.peers;
    const next = (node.id % n) + 1;
    const forward = (token: number) => {
      const value = skip !== undefined && skip.peer === node.id && token === skip.at ? token + 2 : token + 1;
      node.send(next, Uint8Array.of(value >> 8, value & 0xff));
    };
    return {
      onEvent(event) {
        if (event.type === "ready" && node.id === 1) forward(0);
        if (event.type === "message") {
          const token = (event.body[0]! << 8) | event.body[1]!;
          if (token < hops) forward(token);
        }
      },
      done: () => seen.length >= hops,
    };
  };
  const checker = (world: SimWorld): Checker => ({
    name: "token-ring",
    onEvent(node, event) {
      if (event.type !== "message") return;
      const token = (event.body[0]! << 8) | event.body[1]!;
      const expected = seen.length + 1;
      if (token !== expected) world.violate("token-ring", `peer ${node.id} got token ${token}, expected ${expected}`);
      if (event.from !== ((node.id + world.options.peers - 2) % world.options.peers) + 1)
        world.violate("token-ring", `peer ${node.id} got the token from ${event.from}`);
      seen.push(token);
    },
    finish() {
      if (seen.length < hops) world.violate("token-ring", `the token made ${seen.length} of ${hops} hops`);
    },
  });
  return { app, checker, seen };
}

const options = (seed: number) => ({
  seed,
  peers: 4,
  faults: { ...NO_SIM_FAULTS, loss: 0.3, duplicate: 0.1, reorder: 0.2, reorderMs: 20, delayMs: 2, jitterMs: 3 },
  healAtMs: Number.POSITIVE_INFINITY,
  endMs: 120_000,
  stepsMax: 2_000_000,
  startSpreadMs: 100,
});

test("the simulator runs a user's own protocol on seeded faults, judged by the user's checker", () => {
  for (const seed of [1, 2, 3]) {
    const ring = tokenRing(200);
    const result = simulate({
      ...options(seed),
      app: ring.app,
      checkers: (world) => [bootstrapChecker(world), ring.checker(world)],
    });
    expect(result.violations).toEqual([]);
    expect(ring.seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(result.dataRetransmissions).toBeGreaterThan(0);
  }
});

test("a user's checker catches a broken protocol, and the seed replays it exactly", () => {
  const run = () => {
    const ring = tokenRing(50, { peer: 3, at: 22 });
    return simulate({ ...options(7), app: ring.app, checkers: (world) => [ring.checker(world)] });
  };
  const first = run();
  expect(first.ok).toBe(false);
  expect(first.violations[0]).toBe("token-ring: peer 4 got token 24, expected 23");
  expect(run()).toEqual(first);
});
