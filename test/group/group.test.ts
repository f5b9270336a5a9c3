/**
 * The group layer (src/group/group.ts, docs/groups.md) on real drive loops
 * over the in-memory network: agreed views, virtual synchrony when the
 * coordinator dies while everyone multicasts, state transfer to a restarted
 * process, the minority side of a partition, and the views workload's
 * checkers over fixed simulator seeds.
 */
import { expect, test } from "bun:test";
import { Group, type GroupEvent, type View } from "../../src/group/group.ts";
import { drawSettings, viewsOptions } from "../../src/sim/cli.ts";
import { runViews } from "../../src/sim/views.ts";
import { TestCluster } from "../support/cluster.ts";

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

/** A cluster whose every process runs a group; each keeps a log of what it delivered, which is its state. */
function groupCluster(n: number) {
  const cluster = new TestCluster(n);
  const groups: Group[] = [];
  const events: GroupEvent[][] = [];
  const logs: string[][] = [];
  const attach = (id: number) => {
    events[id] = [];
    logs[id] = [];
    const g = new Group({
      getState: () => text(logs[id]!.join("\n")),
      setState: (s) => {
        logs[id] = read(s) === "" ? [] : read(s).split("\n");
      },
      onEvent: (e) => {
        events[id]!.push(e);
        if (e.type === "message") logs[id]!.push(read(e.body));
      },
    });
    g.start(cluster.loops[id]!.attach(g));
    groups[id] = g;
  };
  for (let id = 1; id <= n; id++) attach(id);
  const views = (id: number) =>
    events[id]!.filter((e): e is Extract<GroupEvent, { type: "view" }> => e.type === "view").map((e) => e.view);
  const ids = (v: View | undefined) => v?.members.map((m) => m.id);
  /** Messages delivered by `id` while in view `viewId`. */
  const deliveredIn = (id: number, viewId: number) =>
    events[id]!.filter((e) => e.type === "message" && e.viewId === viewId).map((e) =>
      read((e as { body: Uint8Array }).body),
    );
  return { cluster, groups, events, logs, attach, views, ids, deliveredIn };
}

test("five processes agree on views; the coordinator killed mid-multicast: survivors install the same view with the same messages; its restart joins with the state", () => {
  const g = groupCluster(5);
  g.cluster.run(5000);
  const last = (id: number) => g.views(id).at(-1);
  for (let id = 1; id <= 5; id++) {
    expect(g.ids(last(id))).toEqual([1, 2, 3, 4, 5]);
    expect(g.groups[id]!.isMember).toBe(true);
  }
  // Every view id names one membership everywhere.
  const seen = new Map<number, string>();
  for (let id = 1; id <= 5; id++)
    for (const v of g.views(id)) {
      const m = JSON.stringify(v.members);
      expect(seen.get(v.id) ?? m).toBe(m);
      seen.set(v.id, m);
    }
  const stable = last(1)!.id;
  // Everyone multicasts; the coordinator (1) dies after a few of its messages left, some lost on the way.
  for (let round = 0; round < 20; round++)
    for (let id = 1; id <= 5; id++) g.groups[id]!.multicast(text(`${id}:${round}`));
  let n = 0;
  g.cluster.drop = (from) => from === 1 && ++n % 2 === 0;
  g.cluster.run(3);
  g.cluster.loops[1]!.stop();
  g.cluster.drop = () => false;
  g.cluster.run(10_000);
  for (let id = 2; id <= 5; id++) expect(g.ids(last(id))).toEqual([2, 3, 4, 5]);
  // Virtual synchrony: the same messages in the view they all left, FIFO per sender.
  const inStable = g.deliveredIn(2, stable).sort();
  for (let id = 3; id <= 5; id++) expect(g.deliveredIn(id, stable).sort()).toEqual(inStable);
  for (let id = 2; id <= 5; id++) {
    const fromTwo = g.deliveredIn(id, stable).filter((m) => m.startsWith("2:"));
    expect(fromTwo).toEqual(Array.from({ length: fromTwo.length }, (_, i) => `2:${i}`));
  }
  // The survivors' messages all arrive, in this view or the next.
  for (let id = 2; id <= 5; id++) expect(g.logs[id]!.filter((m) => m.startsWith("3:")).length).toBe(20);
  // Restart: the new process joins with the group's state and learns which process it replaced.
  const oldEpoch = g.cluster.peer(1).epoch;
  g.cluster.start(1, { epoch: 9001 });
  g.attach(1);
  g.cluster.run(10_000);
  for (let id = 1; id <= 5; id++) expect(g.ids(last(id))).toEqual([1, 2, 3, 4, 5]);
  expect(g.events[1]!.find((e) => e.type === "restarted")).toEqual({ type: "restarted", replacedEpoch: oldEpoch });
  expect(g.groups[1]!.isMember).toBe(true);
  expect(g.logs[1]!.sort()).toEqual([...g.logs[2]!].sort());
  g.groups[1]!.multicast(text("back"));
  g.cluster.run(2000);
  for (let id = 1; id <= 5; id++) expect(g.logs[id]!.at(-1)).toBe("back");
});

test("the minority side of a partition installs nothing and says so; after the heal everyone is in one view with the state", () => {
  const g = groupCluster(5);
  g.cluster.run(5000);
  const minority = new Set([4, 5]);
  g.cluster.drop = (from, to) => minority.has(from) !== minority.has(to);
  g.cluster.run(15_000);
  for (const id of [1, 2, 3]) expect(g.ids(g.views(id).at(-1))).toEqual([1, 2, 3]);
  for (const id of [4, 5]) {
    expect(g.ids(g.views(id).at(-1))).toEqual([1, 2, 3, 4, 5]);
    expect(g.events[id]!.some((e) => e.type === "blocked")).toBe(true);
  }
  for (const id of [1, 2, 3]) g.groups[id]!.multicast(text(`while apart ${id}`));
  g.cluster.run(2000);
  g.cluster.drop = () => false;
  g.cluster.run(30_000);
  const final = g.views(1).at(-1)!;
  expect(g.ids(final)).toEqual([1, 2, 3, 4, 5]);
  for (let id = 2; id <= 5; id++) expect(g.views(id).at(-1)).toEqual(final);
  for (const id of [4, 5]) {
    expect(g.groups[id]!.isMember).toBe(true);
    expect(g.logs[id]!).toContain("while apart 1");
  }
});

test("the views workload's checkers pass on fixed seeds: crashes, partitions, loss, 2 to 50 processes", () => {
  const failures: string[] = [];
  let views = 0;
  let transfers = 0;
  for (let seed = 1; seed <= 24; seed++) {
    const s = drawSettings({ key: false, adversary: false, workload: "views", messages: 20 }, seed);
    const r = runViews(viewsOptions(s));
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.slice(0, 2).join("; ")}`);
    views += r.views;
    transfers += r.stateTransfers;
  }
  expect(failures).toEqual([]);
  expect(views).toBeGreaterThan(50);
  expect(transfers).toBeGreaterThan(20);
}, 120_000);

test("multicast is bounded behind a member that takes nothing: queue-full, then writable once it drains, nothing lost", () => {
  const g = groupCluster(3);
  g.cluster.run(5000);
  // Member 3 stops answering (its datagrams lost both ways), but not for long enough to be declared failed.
  g.cluster.drop = (from, to) => from === 3 || to === 3;
  let accepted = 0;
  let refused = false;
  for (let i = 0; i < 100_000 && !refused; i++) {
    if (g.groups[1]!.multicast(text(`b${i}`)).ok) accepted++;
    else refused = true;
    if (i % 1000 === 0) g.cluster.run(1);
  }
  expect(refused).toBe(true);
  expect(accepted).toBeLessThan(100_000);
  g.cluster.drop = () => false;
  g.cluster.run(20_000);
  expect(g.events[1]!.some((e) => e.type === "writable")).toBe(true);
  // Member 3 may have been left out and let in again meanwhile; whoever stayed a member has all of them, in order.
  for (const id of [1, 2]) {
    const mine = g.logs[id]!.filter((m) => m.startsWith("b"));
    expect(mine).toEqual(Array.from({ length: accepted }, (_, i) => `b${i}`));
  }
}, 60_000);

test("a member wedged by a change that was given up is unwedged: the views seeds that once left one wedged for the rest of the run", () => {
  // Found by a 2,000-seed run: a coordinator gave up a change (no quorum in a
  // partition) after some members had promised; nothing else changed, so no
  // new change came, and those members stayed wedged, asking to join, until
  // the run ended. The liveness checker now requires no wedged member.
  const failures: string[] = [];
  for (const seed of [1120, 1203]) {
    const s = drawSettings({ workload: "views", messages: 20 }, seed);
    const r = runViews(viewsOptions(s));
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.slice(0, 2).join("; ")}`);
  }
  expect(failures).toEqual([]);
}, 60_000);

test("a view that can never be followed is left: its survivor and the restarted processes found the group again (views seed 968)", () => {
  // Found by a 2,000-seed run: 4 processes, view {1, 2, 3}; 2 and 3 restart.
  // No quorum of that view can ever form again (2 of its 3 members are
  // certainly gone), so 1 waited in it forever, and the restarted processes,
  // deferring to 1's lower id, never founded a group without it. Now 1 leaves
  // the view and founds anew under a new founding id; its old view-1
  // messages, still in flight and buffered elsewhere, are told apart by that
  // id and never delivered in the new founding's view 1.
  const s = drawSettings({ workload: "views", messages: 20 }, 968);
  expect(s.peers).toBe(4);
  const r = runViews(viewsOptions(s));
  expect(r.violations).toEqual([]);
  expect(r.ok).toBe(true);
}, 60_000);

test("a burst of multicasts travels as one message per member (split past 1,200 bytes), the sender's own copies delivered at once", () => {
  const g = groupCluster(3);
  g.cluster.run(5000);
  const dataFrom1: number[] = [];
  const member2 = g.groups[2]!;
  const handle = member2.handleMessage.bind(member2);
  member2.handleMessage = (from, epoch, body) => {
    if (from === 1 && body[0] === 0x52) dataFrom1.push(body.length); // GroupMessage.data
    handle(from, epoch, body);
  };
  const before = g.logs[1]!.length;
  for (let i = 0; i < 100; i++) expect(g.groups[1]!.multicast(text(`burst-${i}`)).ok).toBe(true);
  expect(g.logs[1]!.slice(before)).toEqual(Array.from({ length: 100 }, (_, i) => `burst-${i}`));
  g.cluster.run(1000);
  expect(dataFrom1.length).toBe(1);
  expect(g.logs[2]!.slice(-100)).toEqual(Array.from({ length: 100 }, (_, i) => `burst-${i}`));
  dataFrom1.length = 0;
  const kib = "k".repeat(1023);
  for (let i = 0; i < 40; i++) expect(g.groups[1]!.multicast(text(`${kib}${i % 10}`)).ok).toBe(true);
  g.cluster.run(1000);
  expect(dataFrom1.length).toBe(20); // two 1 KiB bodies reach the bound
  for (const id of [2, 3])
    expect(g.logs[id]!.slice(-40)).toEqual(Array.from({ length: 40 }, (_, i) => `${kib}${i % 10}`));
}, 60_000);

test("a member that missed views learns it: the silent one left out, the one whose Install died with its coordinator, the one whose state was overtaken (views seeds 409, 1629, 1483, 1796 and 1889 with bursts of 4)", () => {
  // Found by a 2,000-seed run with --burst 4. Seeds 409 and 1629: a member
  // left out of a view while unreachable still believed itself in the old
  // one; having nothing more to multicast, nobody told it, and the
  // coordinator had joined later and never knew it as a member. Now the
  // coordinator of a settled view tells every live process outside it.
  // Seed 1483: a member never received the Install of a view it was in (its
  // coordinator crashed first); the others took it as their next
  // coordinator, and it prepared an older view that nobody answered. Now it
  // is told to leave and join again, and is taken in again with the state.
  const failures: string[] = [];
  // Seed 1796: a joiner received the state of its view before an older
  // view's state still in flight from another member, which replaced it.
  // Seed 1889: the same lost Install, but the view could go on only with that
  // member's vote; a member of the view now sends it its Install to catch up.
  for (const seed of [409, 1629, 1483, 1796, 1889]) {
    const s = drawSettings({ workload: "views", messages: 20, burst: 4 }, seed);
    const r = runViews(viewsOptions(s));
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.slice(0, 2).join("; ").slice(0, 400)}`);
  }
  expect(failures).toEqual([]);
}, 60_000);

test("a hosts file of one: the process founds a group of one and multicasts to itself", () => {
  const g = groupCluster(1);
  g.cluster.run(2000);
  expect(g.ids(g.views(1).at(-1))).toEqual([1]);
  expect(g.groups[1]!.isMember).toBe(true);
  expect(g.groups[1]!.multicast(text("alone")).ok).toBe(true);
  expect(g.logs[1]).toEqual(["alone"]);
});

test("multicasts made from the application's own handlers: FIFO in call order, and one made at a view with a joiner reaches it once", () => {
  // Found in review. A handler of my own delivery multicast "c" while "b"
  // still waited: "c" was numbered first. And a multicast made from the view
  // event at the state provider was numbered before the state was taken: the
  // joiner received it in the state and as a message.
  let armed = false;
  const g = groupCluster(3);
  const hook = (id: number, e: GroupEvent) => {
    if (id !== 1) return;
    if (e.type === "message" && read(e.body) === "a") g.groups[1]!.multicast(text("c"));
    if (armed && e.type === "view" && e.joined.length > 0) g.groups[1]!.multicast(text(`hello-view-${e.view.id}`));
  };
  const original = g.events[1]!;
  g.events[1] = new Proxy(original, {
    get(target, prop, receiver) {
      if (prop === "push")
        return (...items: GroupEvent[]) => {
          const n = target.push(...items);
          for (const e of items) hook(1, e);
          return n;
        };
      return Reflect.get(target, prop, receiver);
    },
  });
  g.groups[1]!.multicast(text("a"));
  g.groups[1]!.multicast(text("b"));
  g.cluster.run(5000);
  for (const id of [1, 2, 3]) expect(g.logs[id]!.filter((m) => m.length === 1)).toEqual(["a", "b", "c"]);
  armed = true;
  g.cluster.loops[3]!.stop();
  g.cluster.run(5000);
  g.cluster.start(3, { epoch: 9001 });
  g.attach(3);
  g.cluster.run(10_000);
  expect(g.ids(g.views(3).at(-1))).toEqual([1, 2, 3]);
  const hellos = (id: number) => g.logs[id]!.filter((m) => m.startsWith("hello-view-"));
  expect(hellos(1).length).toBeGreaterThan(0);
  expect(hellos(3)).toEqual(hellos(1).slice(-hellos(3).length));
  expect(new Set(hellos(3)).size).toBe(hellos(3).length);
  expect(g.logs[3]).toEqual(g.logs[1]);
}, 60_000);
