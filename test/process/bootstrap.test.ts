/**
 * Real peer processes on loopback (127.0.0.1 only): the bootstrap end to end.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Group, type PeerProcess } from "./group.ts";

let group: Group | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

/** After SIGTERM: every process exits 0 and wrote exactly READY to stderr. */
async function stopAndCheck(g: Group, procs: PeerProcess[] = g.procs): Promise<void> {
  await g.stop();
  for (const p of procs) {
    expect({ name: p.name, code: p.proc.exitCode, stderr: p.stderr }).toEqual({
      name: p.name,
      code: 0,
      stderr: "READY\n",
    });
    const records = Group.records(p);
    expect(records.at(-1)?.event).toBe("stop");
  }
  group = undefined;
}

describe("all peers READY", () => {
  for (const size of [2, 5, 20]) {
    test(`${size} peers started together`, async () => {
      group = new Group(size);
      for (let id = 1; id <= size; id++) group.start(id);
      await group.waitReady(group.procs, 20_000);
      await stopAndCheck(group);
    });
  }

  test("single-entry hosts file: READY at once, and the log says why", async () => {
    group = new Group(1);
    const p = group.start(1);
    await group.waitReady([p], 10_000);
    expect(Group.records(p).some((r) => r.event === "alone")).toBe(true);
    await stopAndCheck(group);
  });

  test("staggered start in random order", async () => {
    group = new Group(6);
    const order = [4, 1, 6, 2, 5, 3];
    for (const id of order) {
      group.start(id);
      await Bun.sleep(Math.floor(Math.random() * 300));
    }
    await group.waitReady(group.procs, 20_000);
    await stopAndCheck(group);
  });

  test("reversed start order", async () => {
    group = new Group(5);
    for (let id = 5; id >= 1; id--) {
      group.start(id);
      await Bun.sleep(150);
    }
    await group.waitReady(group.procs, 20_000);
    await stopAndCheck(group);
  });

  test("30% of datagrams lost on every peer", async () => {
    group = new Group(8);
    for (let id = 1; id <= 8; id++) group.start(id, ["--chaos", "loss=0.3"]);
    await group.waitReady(group.procs, 30_000);
    const lost = group.procs.map((p) => {
      const ready = Group.records(p).find((r) => r.event === "ready");
      return (ready?.chaosDropped as number) ?? 0;
    });
    await stopAndCheck(group);
    expect(lost.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  test("loss, duplication, corruption, delay and reordering together: all READY, corrupted datagrams dropped by checksum", async () => {
    group = new Group(5);
    const chaos = "loss=0.2,dup=0.2,corrupt=0.2,delay=5,jitter=20";
    for (let id = 1; id <= 5; id++) group.start(id, ["--chaos", chaos]);
    await group.waitReady(group.procs, 30_000);
    // Let some traffic settle, then stop: the stop records carry the final counters.
    await Bun.sleep(300);
    const g = group;
    await stopAndCheck(g);
    const stops = g.procs.map((p) => Group.records(p).find((r) => r.event === "stop")!);
    const corrupted = stops.reduce((n, r) => n + (r.chaosCorrupted as number), 0);
    const rejected = stops.reduce((n, r) => {
      const drops = r.drops as Record<string, number>;
      return (
        n +
        Object.entries(drops)
          .filter(([k]) => k !== "stale-epoch")
          .reduce((m, [, v]) => m + v, 0)
      );
    }, 0);
    expect(corrupted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  test("one peer started 3 s late: the others wait for it, then all are READY", async () => {
    group = new Group(4);
    const early = [1, 2, 3].map((id) => group!.start(id));
    await Bun.sleep(3000);
    expect(early.every((p) => p.readyAt === undefined)).toBe(true);
    const late = group.start(4);
    const lateStart = performance.now();
    await group.waitReady(group.procs, 15_000);
    // Once it is up, the early peers hear from it within their backed-off retry interval (at most 1 s) plus start-up.
    expect(Math.max(...early.map((p) => p.readyAt!)) - lateStart).toBeLessThan(3000);
    expect(late.readyAt).toBeDefined();
    await stopAndCheck(group);
  });
});

test("a peer killed with SIGKILL after READY and restarted is accepted with its new epoch and becomes READY again", async () => {
  group = new Group(4);
  for (let id = 1; id <= 4; id++) group.start(id);
  await group.waitReady(group.procs, 20_000);
  const victim = group.procs[2]!;
  const oldEpoch = Group.records(victim).find((r) => r.event === "start")?.epoch as number;
  victim.proc.kill("SIGKILL");
  await victim.proc.exited;
  const reborn = group.start(3);
  await group.waitReady([reborn], 15_000);
  const newEpoch = Group.records(reborn).find((r) => r.event === "start")?.epoch as number;
  expect(newEpoch).not.toBe(oldEpoch);
  // Every survivor logs the restart with both epochs.
  const survivors = group.procs.filter((p) => p !== victim && p !== reborn);
  const deadline = performance.now() + 5000;
  const restartSeen = (p: PeerProcess) =>
    Group.records(p).some(
      (r) => r.event === "peer-restarted" && r.peer === 3 && r.oldEpoch === oldEpoch && r.newEpoch === newEpoch,
    );
  while (!survivors.every(restartSeen) && performance.now() < deadline) await Bun.sleep(20);
  expect(survivors.map(restartSeen)).toEqual([true, true, true]);
  await group.stop();
  for (const p of [...survivors, reborn]) {
    expect(p.stderr).toBe("READY\n");
    expect(p.proc.exitCode).toBe(0);
  }
  group = undefined;
});

test("goodbye on SIGTERM: the others log that the peer left on purpose", async () => {
  group = new Group(3);
  for (let id = 1; id <= 3; id++) group.start(id);
  await group.waitReady(group.procs, 20_000);
  const leaving = group.procs[0]!;
  leaving.proc.kill("SIGTERM");
  expect(await leaving.proc.exited).toBe(0);
  const stop = Group.records(leaving).find((r) => r.event === "stop");
  expect(stop?.goodbyesDelivered).toBe(true);
  const deadline = performance.now() + 3000;
  const left = (p: PeerProcess) =>
    Group.records(p).some((r) => r.event === "peer-left" && r.peer === 1 && r.reason === "SIGTERM");
  while (!(left(group.procs[1]!) && left(group.procs[2]!)) && performance.now() < deadline) await Bun.sleep(20);
  expect(left(group.procs[1]!) && left(group.procs[2]!)).toBe(true);
});

test("the log records every datagram sent and received, with frame type, seq and ack", async () => {
  group = new Group(2);
  group.start(1);
  group.start(2);
  await group.waitReady(group.procs, 10_000);
  await group.stop();
  const records = Group.records(group.procs[0]!);
  const sends = records.filter((r) => r.event === "send");
  const recvs = records.filter((r) => r.event === "recv");
  const stop = records.find((r) => r.event === "stop")!;
  expect(sends.length).toBe(stop.datagramsSent as number);
  expect(recvs.length).toBe(stop.datagramsReceived as number);
  expect(sends[0]).toMatchObject({ level: "debug", me: 1, peer: 2, type: "DATA", seq: 1 });
  for (const r of records) expect(typeof r.ts).toBe("string");
  group = undefined;
});

test("names in the hosts file are resolved with DNS (localhost), and --log-format pretty is readable text", async () => {
  const base = (await import("./group.ts")).portBlock(3);
  group = new Group(3, `localhost:${base}\nlocalhost:${base + 1}\nlocalhost:${base + 2}\n`);
  const procs = [0, 1, 2].map((i) =>
    group!.spawn(i + 1, `localhost:${base + i}`, [
      "-h",
      group!.hostsFile,
      "--name",
      `localhost:${base + i}`,
      "--log-format",
      "pretty",
    ]),
  );
  await group.waitReady(procs, 20_000);
  const text = procs[0]!.stdout;
  expect(text).toMatch(/INFO +\[1\] resolved peer=2 name=localhost:\d+ address=127\.0\.0\.1/);
  expect(text).toMatch(/INFO +\[1\] ready peers=3/);
  expect(text.startsWith("{")).toBe(false);
});

test("two lines of the hosts file that are one address (localhost:P and 127.0.0.1:P) are reported as hosts-duplicate", async () => {
  const base = (await import("./group.ts")).portBlock(3);
  group = new Group(3, `127.0.0.1:${base}\nlocalhost:${base + 1}\n127.0.0.1:${base + 1}\n`);
  const p = group.spawn(1, `127.0.0.1:${base}`, [
    "-h",
    group.hostsFile,
    "--name",
    `127.0.0.1:${base}`,
    "--log-level",
    "info",
  ]);
  const deadline = performance.now() + 10_000;
  const duplicate = () => Group.records(p).find((r) => r.event === "hosts-duplicate");
  while (duplicate() === undefined && performance.now() < deadline) await Bun.sleep(20);
  expect(duplicate()).toMatchObject({ level: "error", peer: 2, other: 3, address: `127.0.0.1:${base + 1}` });
  expect(String(duplicate()!.note)).toContain("fix the file");
});
