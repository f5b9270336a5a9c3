/**
 * `startGroup` on real sockets (loopback): three processes become members
 * of one view with the state, multicast to each other in order, see a
 * member leave as a view change, and a newcomer receives the state.
 */
import { afterEach, expect, test } from "bun:test";
import { type GroupAppEvent, type RollcallGroup, startGroup } from "../../src/runtime/start-group.ts";
import { portBlock } from "../process/group.ts";

let groups: RollcallGroup[] = [];
afterEach(async () => {
  await Promise.all(groups.map((g) => g.close("test", 200)));
  groups = [];
});

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

test("three processes: one view, multicasts delivered in order everywhere, a leaver's view change, a newcomer gets the state", async () => {
  const base = portBlock(4);
  const hosts = [0, 1, 2, 3].map((i) => `127.0.0.1:${base + i}`);
  const logs: string[][] = [[], [], [], []];
  const events: GroupAppEvent[][] = [[], [], [], []];
  const start = (i: number) =>
    startGroup({
      hosts,
      name: hosts[i]!,
      getState: () => text(logs[i]!.join("\n")),
      setState: (s) => {
        logs[i] = read(s) === "" ? [] : read(s).split("\n");
      },
      onGroupEvent: (e) => {
        events[i]!.push(e);
        if (e.type === "message") logs[i]!.push(read(e.body));
      },
    });
  groups = await Promise.all([0, 1, 2].map(start));
  await Promise.all(groups.map((g) => g.ready));
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(10);
    }
  };
  await until(() => groups.every((g) => g.view?.members.length === 3), "a view of three");
  for (let i = 0; i < 50; i++) groups[i % 3]!.multicast(text(`m${i}`));
  await until(() => logs.slice(0, 3).every((l) => l.length === 50), "50 deliveries at each");
  for (const l of logs.slice(0, 3))
    expect(l.filter((m) => Number(m.slice(1)) % 3 === 0)).toEqual(Array.from({ length: 17 }, (_, k) => `m${k * 3}`));
  const viewEvent = events[0]!.filter((e) => e.type === "view").at(-1) as Extract<GroupAppEvent, { type: "view" }>;
  expect(viewEvent.members.map((m) => m.id)).toEqual([1, 2, 3]);
  // A fourth process joins and starts from the same state.
  const fourth = await start(3);
  groups.push(fourth);
  await fourth.ready;
  await until(() => groups.every((g) => g.view?.members.length === 4), "a view of four");
  expect([...logs[3]!].sort()).toEqual([...logs[0]!].sort());
  // One leaves: the others install a view without it.
  await groups[2]!.close("bye", 500);
  await until(
    () => [0, 1, 3].every((i) => `${groups[i]!.view?.members.map((m) => m.id)}` === "1,2,4"),
    "a view without the leaver",
  );
  const last = events[0]!.filter((e) => e.type === "view").at(-1) as Extract<GroupAppEvent, { type: "view" }>;
  expect(last.left.map((m) => m.id)).toEqual([3]);
}, 30_000);

test("a 64 MiB state reaches a newcomer intact (chunked, flow-controlled, SHA-256 checked), before any message of its view", async () => {
  const base = portBlock(2);
  const hosts = [0, 1].map((i) => `127.0.0.1:${base + i}`);
  const big = new Uint8Array(64 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
  big[big.length - 1] = 0x5a;
  const first = await startGroup({ hosts, name: hosts[0]!, getState: () => big });
  groups.push(first);
  // The two found the group with the empty state; then the second restarts and joins as a new process.
  const second = await startGroup({ hosts, name: hosts[1]! });
  await Promise.all([first.ready, second.ready]);
  await second.close("restart", 500);
  let received: Uint8Array | undefined;
  const order: string[] = [];
  const joinedAt = performance.now();
  const third = await startGroup({
    hosts,
    name: hosts[1]!,
    setState: (s) => {
      received = s;
      order.push("state");
    },
    onGroupEvent: (e) => {
      if (e.type === "message") order.push("message");
    },
  });
  groups.push(third);
  await third.ready;
  console.log(
    `64 MiB state: the restarted process a member with it ${(performance.now() - joinedAt).toFixed(0)} ms after its start`,
  );
  expect(received?.length).toBe(big.length);
  expect(Buffer.compare(Buffer.from(received!), Buffer.from(big))).toBe(0);
  first.multicast(new TextEncoder().encode("after the state"));
  const deadline = Date.now() + 10_000;
  while (!order.includes("message") && Date.now() < deadline) await Bun.sleep(10);
  expect(order).toEqual(["state", "message"]);
}, 60_000);
