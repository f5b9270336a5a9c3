/**
 * Name resolution under loss: a lookup lost to the network is retried at
 * once, a name that does not exist yet backs off, the fastest of the raced
 * lookups wins, and a lookup that never answers is abandoned.
 */
import { expect, test } from "bun:test";
import { type LookupFunction, Resolver, type ResolverEvent } from "../../src/runtime/resolver.ts";
import { realScheduler } from "../../src/runtime/scheduler.ts";
import type { UdpAddress } from "../../src/runtime/udp.ts";

const fail = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));

function run(lookups: LookupFunction[], untilMs: number) {
  const events: ResolverEvent[] = [];
  const addresses: UdpAddress[] = [];
  const resolver = new Resolver({
    scheduler: realScheduler,
    family: 4,
    onAddress: (_peer, a) => addresses.push(a),
    onEvent: (e) => events.push(e),
    lookups,
  });
  resolver.resolve(2, "peer-2", 7700);
  return new Promise<{ events: ResolverEvent[]; addresses: UdpAddress[] }>((resolve) =>
    setTimeout(() => {
      resolver.close();
      resolve({ events, addresses });
    }, untilMs),
  );
}

test("a lookup lost to the network is retried at once, not after a growing backoff", async () => {
  let calls = 0;
  const lossy: LookupFunction = () => (++calls <= 3 ? fail("ETIMEOUT") : Promise.resolve("10.0.0.2"));
  const { events, addresses } = await run([lossy], 400);
  expect(addresses).toEqual([{ address: "10.0.0.2", port: 7700 }]);
  const failures = events.filter((e) => e.type === "resolveFailed");
  expect(failures.map((e) => (e.type === "resolveFailed" ? e.retryInMs : 0))).toEqual([20, 20, 20]);
  expect(events.at(-1)).toMatchObject({ type: "resolved", attempts: 4 });
});

test("a name that does not exist yet backs off: 100, 200, 400 ms", async () => {
  const missing: LookupFunction = () => fail("ENOTFOUND");
  const { events } = await run([missing], 750);
  const delays = events.flatMap((e) => (e.type === "resolveFailed" ? [e.retryInMs] : []));
  expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
});

test("the raced lookups: the first success wins, and a fast 'not found' from one does not fail the attempt", async () => {
  const systemSaysNo: LookupFunction = () => fail("ENOTFOUND");
  const dnsSaysYes: LookupFunction = () => new Promise((r) => setTimeout(() => r("10.0.0.9"), 50));
  const { events, addresses } = await run([systemSaysNo, dnsSaysYes], 200);
  expect(addresses).toEqual([{ address: "10.0.0.9", port: 7700 }]);
  expect(events).toEqual([{ type: "resolved", peer: 2, name: "peer-2", address: "10.0.0.9", attempts: 1 }]);
});

test("a lookup that never answers is abandoned as lost and retried", async () => {
  let calls = 0;
  const hangsOnce: LookupFunction = () => (++calls === 1 ? new Promise(() => {}) : Promise.resolve("10.0.0.3"));
  const { events, addresses } = await run([hangsOnce], 1500);
  expect(addresses).toEqual([{ address: "10.0.0.3", port: 7700 }]);
  expect(events[0]).toMatchObject({ type: "resolveFailed", code: "ETIMEOUT", retryInMs: 20 });
});
