/**
 * examples/replicated-map.ts: a map replicated by total-order multicast and
 * state transfer. 5 processes on loopback all write; a member (not the
 * sequencer) and then the sequencer (the lowest id) are SIGKILLed and
 * restarted with the same name while the writes go on; once the writes are
 * over and the group is quiet, every replica holds the same map (digest),
 * the same number of writes, and every write of every live writer. With
 * `--order fifo` (the control) the replicas apply concurrent writes in
 * different orders and their maps differ, where total order makes them equal.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Group, type PeerProcess, ROOT } from "../process/group.ts";

const EXAMPLE = join(ROOT, "examples/replicated-map.ts");

let groups: Group[] = [];
afterEach(async () => {
  // Group.stop: SIGTERM every process still running (SIGKILL after 5 s), wait, remove the temp dir.
  await Promise.all(groups.map((g) => g.stop()));
  groups = [];
});

type Rec = Record<string, unknown>;
const records = (p: PeerProcess): Rec[] => Group.records(p);
const ofEvent = (p: PeerProcess, event: string) => records(p).filter((r) => r.event === event);
const lastView = (p: PeerProcess) => ofEvent(p, "view").at(-1)?.members as number[] | undefined;
const lastDigest = (p: PeerProcess) => ofEvent(p, "digest").at(-1);
const startRecord = (p: PeerProcess) => ofEvent(p, "start")[0];
const alive = (p: PeerProcess) => p.proc.exitCode === null && p.proc.signalCode === null;
/** The writer tag the example puts on its writes: `NAME/EPOCH`. */
const tag = (p: PeerProcess) => `${p.name}/${startRecord(p)!.epoch}`;

function start(g: Group, id: number, flags: string[]): PeerProcess {
  const name = g.names[id - 1]!;
  return g.spawnCommand(id, name, [process.execPath, EXAMPLE, "-h", g.hostsFile, "--name", name, ...flags]);
}

async function until(what: string, check: () => boolean, timeoutMs: number, story: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return;
    await Bun.sleep(25);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${story()}`);
}

function storyOf(procs: () => PeerProcess[]): () => string {
  return () =>
    procs()
      .map((p) => {
        const views = ofEvent(p, "view").map((v) => `${v.viewId}:[${v.members}]`);
        const d = lastDigest(p);
        return `${p.name} (id ${p.id}, ${alive(p) ? "alive" : `exit ${p.proc.exitCode ?? p.proc.signalCode}`}): views ${views.join(" ")}; last digest ${JSON.stringify(d)}; stderr ${JSON.stringify(p.stderr.slice(-500))}`;
      })
      .join("\n");
}

/** Asks every process for a digest (SIGUSR2) and waits until each logged a new one. */
async function requestDigests(procs: PeerProcess[], story: () => string): Promise<Rec[]> {
  const before = procs.map((p) => ofEvent(p, "digest").length);
  for (const p of procs) p.proc.kill("SIGUSR2");
  await until("a digest from each", () => procs.every((p, i) => ofEvent(p, "digest").length > before[i]!), 5000, story);
  return procs.map((p) => lastDigest(p)!);
}

/** SIGTERM: each logs its final digest, leaves the group, exits 0. */
async function finalDigests(procs: PeerProcess[]): Promise<Rec[]> {
  for (const p of procs) p.proc.kill("SIGTERM");
  const codes = await Promise.all(procs.map((p) => p.proc.exited));
  await Promise.all(procs.map((p) => p.done));
  expect(codes).toEqual(procs.map(() => 0));
  return procs.map((p) => {
    const d = lastDigest(p)!;
    expect(d.final).toBe(true);
    return d;
  });
}

const sum = (o: Rec) => Object.values(o).reduce<number>((a, b) => a + (b as number), 0);

test("5 replicas writing in total order: a member, then the sequencer, SIGKILLed and restarted; every replica ends with the same map and every write of every live writer", async () => {
  const g = new Group(5);
  groups.push(g);
  const flags = (writes: number) => ["--writes", String(writes), "--interval", "4", "--key-space", "16"];
  for (let id = 1; id <= 5; id++) start(g, id, flags(2500));
  const live = () => g.procs.filter(alive);
  const story = storyOf(() => g.procs);
  const all = "1,2,3,4,5";
  const viewOfAll = () => live().length === 5 && live().every((p) => `${lastView(p)}` === all);
  await until("one view of all 5", viewOfAll, 15_000, story);

  /** SIGKILL the live process of `id`; wait for the others' view without it; start it again with the same name. */
  const killAndRestart = async (id: number) => {
    await Bun.sleep(700); // writes are going on
    const victim = live().find((p) => p.id === id)!;
    const t0 = performance.now();
    victim.proc.kill("SIGKILL");
    await victim.proc.exited;
    const without = [1, 2, 3, 4, 5].filter((i) => i !== id).join(",");
    await until(`the view without ${id}`, () => live().every((p) => `${lastView(p)}` === without), 15_000, story);
    const t1 = performance.now();
    const again = start(g, id, flags(400));
    await until(`a view of all 5 with the new ${id}`, viewOfAll, 15_000, story);
    const ms = (t: number) => `${t.toFixed(0)} ms`;
    console.log(
      `peer ${id}: SIGKILL to the view without it ${ms(t1 - t0)}, restart to the view of all 5 ${ms(performance.now() - t1)}`,
    );
    return { victim, again };
  };
  const member = await killAndRestart(3);
  const sequencer = await killAndRestart(1);
  const restarted = [member.again, sequencer.again];
  const killed = [member.victim, sequencer.victim];
  // The writes went on meanwhile: the writers that never stopped are not done yet.
  const steady = g.procs.filter((p) => p.id === 2 || p.id === 4 || p.id === 5);
  for (const p of steady) expect(ofEvent(p, "writes-done")).toEqual([]);

  await until(
    "every live writer done",
    () => live().every((p) => ofEvent(p, "writes-done").length === 1),
    30_000,
    story,
  );
  // Quiet: every replica holds every write of every live writer.
  const issued = new Map(live().map((p) => [tag(p), ofEvent(p, "writes-done")[0]!.issued as number]));
  const complete = (d: Rec | undefined) =>
    d !== undefined && [...issued].every(([w, n]) => (d.writers as Rec)[w] === n);
  await until(
    "every live writer's writes applied everywhere",
    () => live().every((p) => complete(lastDigest(p))),
    10_000,
    story,
  );
  const asked = await requestDigests(live(), story);
  for (const d of asked) expect(complete(d)).toBe(true);

  const survivors = live();
  expect(survivors.length).toBe(5);
  const finals = await finalDigests(survivors);
  const first = finals[0]!;
  for (const d of finals) {
    expect(d.digest).toBe(first.digest);
    expect(d.history).toBe(first.history); // the same writes, in the same order
    expect(d.applied).toBe(first.applied);
    expect(d.writers).toEqual(first.writers);
    expect(d.viewId).toBe(first.viewId);
  }
  // The count is real: the history is exactly the writes of every writer, all of each live writer's...
  expect(first.applied).toBe(sum(first.writers as Rec));
  for (const [w, n] of issued) expect((first.writers as Rec)[w]).toBe(n);
  expect(issued.size).toBe(5);
  for (const p of steady) expect(issued.get(tag(p))).toBe(2500);
  for (const p of restarted) expect(issued.get(tag(p))).toBe(400);
  // ...and of each killed one, what it got out before it died (some, never more than it was to write).
  for (const p of killed) {
    const n = (first.writers as Rec)[tag(p)] as number;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(2500);
  }
  expect(Object.keys(first.writers as Rec).sort()).toEqual([...issued.keys(), ...killed.map(tag)].sort());
  // The restarted ones started from the state: they missed writes while down, yet hold the same map.
  for (const p of restarted) {
    const state = ofEvent(p, "state");
    expect(state.length).toBe(1);
    expect(state[0]!.applied as number).toBeGreaterThan(0);
    const d = finals[survivors.indexOf(p)]!;
    expect(d.here as number).toBeLessThan(d.applied as number);
    expect(records(p).some((r) => r.event === "restarted")).toBe(true);
  }
  for (const p of survivors) expect(p.stderr).toBe("");
  console.log(`replicated-map: 5 replicas, ${first.applied} writes applied, one digest ${first.digest}`);
}, 60_000);

test("the control: the same concurrent writes in FIFO order leave the replicas' maps different, in total order equal", async () => {
  const run = async (order: "total" | "fifo"): Promise<Rec[]> => {
    const g = new Group(3);
    groups.push(g);
    const flags = ["--order", order, "--writes", "300", "--interval", "0", "--key-space", "4", "--wait-members", "3"];
    for (let id = 1; id <= 3; id++) start(g, id, flags);
    const story = storyOf(() => g.procs);
    await until("every writer done", () => g.procs.every((p) => ofEvent(p, "writes-done").length === 1), 15_000, story);
    const tags = g.procs.map(tag);
    await until(
      "every write applied everywhere",
      () => g.procs.every((p) => tags.every((t) => (lastDigest(p)?.writers as Rec | undefined)?.[t] === 300)),
      10_000,
      story,
    );
    const finals = await finalDigests(g.procs);
    for (const d of finals) {
      expect(d.applied).toBe(900);
      expect(d.writers).toEqual(finals[0]!.writers);
    }
    return finals;
  };
  const [total, fifo] = await Promise.all([run("total"), run("fifo")]);
  expect(new Set(total.map((d) => d.digest)).size).toBe(1);
  expect(new Set(total.map((d) => d.history)).size).toBe(1);
  // FIFO diverging depends on the writes interleaving, which a run may (rarely) not do: up to 3 runs.
  let diverged = new Set(fifo.map((d) => d.history)).size > 1;
  for (let again = 0; again < 2 && !diverged; again++)
    diverged = new Set((await run("fifo")).map((d) => d.history)).size > 1;
  expect(diverged).toBe(true);
}, 60_000);
