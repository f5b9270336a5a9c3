/**
 * The group layer with real peer processes on loopback (`--group`,
 * docs/groups.md): 5 peers agree on one view, SIGKILL the coordinator and
 * every survivor logs the same next view without it, restart it and it
 * joins with the state and learns which process it replaced; stderr stays
 * exactly READY.
 */
import { afterEach, expect, test } from "bun:test";
import { Group, type PeerProcess } from "./group.ts";

let group: Group | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

const views = (p: PeerProcess) => Group.records(p).filter((r) => r.event === "view");
const lastView = (p: PeerProcess) => views(p).at(-1);

async function until(what: string, check: () => boolean, timeoutMs: number, story: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}:\n${story()}`);
}

test("5 peers with --group: one view of all; the coordinator SIGKILLed, the survivors install the same view without it; its restart joins with the state", async () => {
  const g = new Group(5);
  group = g;
  const flags = ["--group", "--log-level", "info"];
  for (let id = 1; id <= 5; id++) g.start(id, flags);
  await g.waitReady(g.procs, 20_000);
  const story = () =>
    g.procs
      .map(
        (p) =>
          `peer ${p.id}: ${views(p)
            .map((v) => `${v.viewId}:[${v.members}]`)
            .join(" ")}`,
      )
      .join("\n");
  const all = [1, 2, 3, 4, 5];
  await until("one view of all 5", () => g.procs.every((p) => `${lastView(p)?.members}` === `${all}`), 15_000, story);
  const agreed = lastView(g.procs[0]!)!.viewId;
  for (const p of g.procs) expect(lastView(p)!.viewId).toBe(agreed);

  const coordinator = g.procs[0]!;
  const oldEpoch = Group.records(coordinator).find((r) => r.event === "start")!.epoch as number;
  const killedAt = performance.now();
  coordinator.proc.kill("SIGKILL");
  await coordinator.proc.exited;
  const survivors = g.procs.slice(1, 5);
  await until(
    "the survivors' view without peer 1",
    () => survivors.every((p) => `${lastView(p)?.members}` === "2,3,4,5"),
    15_000,
    story,
  );
  console.log(`SIGKILL of the coordinator to the survivors' new view: ${(performance.now() - killedAt).toFixed(0)} ms`);
  const next = lastView(survivors[0]!)!;
  for (const p of survivors) {
    expect(lastView(p)!.viewId).toBe(next.viewId);
    expect(lastView(p)!.left).toEqual([1]);
  }

  const again = g.start(1, flags);
  await g.waitReady([again], 20_000);
  await until(
    "a view of all 5 again",
    () => [again, ...survivors].every((p) => `${lastView(p)?.members}` === `${all}`),
    15_000,
    story,
  );
  const records = Group.records(again);
  expect(records.find((r) => r.event === "group-restarted")).toMatchObject({ replacedEpoch: oldEpoch });
  expect(records.some((r) => r.event === "group-state")).toBe(true);
  for (const p of [again, ...survivors]) expect(p.stderr).toBe("READY\n");
}, 90_000);
