/**
 * Interop with the Python reference peer (interop/python), which is written
 * from docs/wire-format.md and the .proto only. Needs Debian's protoc and
 * python3-protobuf (.ci/run installs them); without them these tests fail.
 */
import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Group, type PeerProcess, ROOT } from "../process/group.ts";

const RUN = join(ROOT, "interop/python/run.sh");

// Where Debian's protoc or python3-protobuf is missing, these tests are skipped
// loudly on a developer machine (scripts/install-system-deps.sh installs them)
// and fail in CI, which installs them first.
const missing = [
  Bun.which("protoc") ? undefined : "protoc (Debian protobuf-compiler)",
  Bun.spawnSync(["/usr/bin/python3", "-c", "import google.protobuf"]).exitCode === 0 ? undefined : "python3-protobuf",
].filter((m) => m !== undefined);
const skip = missing.length > 0 && process.env.CI !== "true";
if (skip) {
  console.warn(
    `\n*** SKIPPING Python interop tests: missing ${missing.join(", ")}. Run scripts/install-system-deps.sh (CI does). ***\n`,
  );
}
const interopTest = skip ? test.skip : test;
let group: Group | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

function startPython(g: Group, id: number, extra: string[] = []): PeerProcess {
  const name = g.names[id - 1]!;
  return g.spawnCommand(id, name, [RUN, "peer.py", "-h", g.hostsFile, "--name", name, ...extra]);
}

/**
 * 3 TypeScript peers (20% loss on their side) and 2 Python peers with the
 * extra flags `flags` gives them, READY, then 4 s of probing: long enough for
 * about 20 probes from each TypeScript peer (5 a second), some to each Python
 * peer (more than 10 are asked for, allowing for a loaded CI machine). Stops
 * the group and checks that every peer printed only READY and exited 0.
 */
async function runMixedGroup(flags: (g: Group) => { ts: string[]; py: string[] }): Promise<Group> {
  group = new Group(5);
  const { ts, py } = flags(group);
  for (const id of [1, 2, 3]) group.start(id, [...ts, "--chaos", "loss=0.2", "--log-level", "info"]);
  for (const id of [4, 5]) startPython(group, id, py);
  await group.waitReady(group.procs, 30_000);
  await Bun.sleep(4000);
  const g = group;
  await g.stop();
  group = undefined;
  for (const p of g.procs) {
    expect({ name: p.name, stderr: p.stderr, code: p.proc.exitCode }).toEqual({
      name: p.name,
      stderr: "READY\n",
      code: 0,
    });
  }
  return g;
}

/** A key file with one fresh key (base64 of 32 random bytes), mode 600, in the group's temp dir. */
function writeKeyFile(g: Group): string {
  const path = join(g.dir, "rollcall.key");
  writeFileSync(path, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

interopTest("the Python codec passes every golden vector and fuzz regression", async () => {
  const proc = Bun.spawn(
    [RUN, "check_vectors.py", join(ROOT, "test/vectors/frames.json"), join(ROOT, "test/vectors/fuzz-regressions.json")],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(err).toBe("");
  expect(out).toMatch(/^(\d+) passed, 0 failed\n$/);
  expect(Number(out.split(" ")[0])).toBeGreaterThan(1000);
  expect(code).toBe(0);
});

interopTest(
  "3 TypeScript + 2 Python peers, 20% loss on the TypeScript side: all READY, and the Python peers are never declared failed",
  async () => {
    const g = await runMixedGroup(() => ({ ts: [], py: [] }));
    // The TypeScript peers counted the Python peers up, and nothing they sent was rejected.
    for (const p of g.procs.slice(0, 3)) {
      const ready = Group.records(p).find((r) => r.event === "ready")!;
      expect(ready.peers).toBe(5);
      const stop = Group.records(p).find((r) => r.event === "stop")!;
      expect(stop.drops).toEqual({});
      // The Python peers answer probes (and relay them), so the failure detector sees them alive.
      expect(stop.probesSent as number).toBeGreaterThan(10);
      expect(Group.records(p).filter((r) => r.event === "peer-failed")).toEqual([]);
    }
    for (const p of g.procs.slice(3)) {
      const stop = Group.records(p).find((r) => r.event === "stop")!;
      expect(stop.drops).toEqual({});
    }
  },
  60_000,
);

interopTest(
  "key mode: 3 TypeScript + 2 Python peers sharing a key file, 20% loss on the TypeScript side: all READY, every frame authenticates, and the Python peers are never declared failed",
  async () => {
    const g = await runMixedGroup((group) => {
      const keyFile = writeKeyFile(group);
      return { ts: ["--key-file", keyFile], py: ["--key-file", keyFile] };
    });
    // Everyone ran sealed, and each TypeScript peer accepted each Python process only after it
    // answered that peer's PATH_CHALLENGE.
    for (const p of g.procs.slice(0, 3))
      expect(Group.records(p).find((r) => r.event === "start")!.keyMode).toBeDefined();
    for (const p of g.procs.slice(3)) {
      const records = Group.records(p);
      expect(records.find((r) => r.event === "start")!.sealed).toBe(true);
      const challengers = new Set(records.filter((r) => r.event === "path-response").map((r) => r.peer));
      expect({ name: p.name, challengers: [...challengers].sort() }).toEqual({ name: p.name, challengers: [1, 2, 3] });
    }
    for (const p of g.procs.slice(0, 3)) {
      const ready = Group.records(p).find((r) => r.event === "ready")!;
      expect(ready.peers).toBe(5);
      // Every frame from the Python peers opened under the shared key. (Other drops are expected
      // here: a process's frames are dropped until it answers a PATH_CHALLENGE.)
      const stop = Group.records(p).find((r) => r.event === "stop")!;
      expect({ name: p.name, unauthenticated: (stop.drops as Record<string, number>).unauthenticated ?? 0 }).toEqual({
        name: p.name,
        unauthenticated: 0,
      });
      expect(stop.probesSent as number).toBeGreaterThan(10);
      expect(Group.records(p).filter((r) => r.event === "peer-failed")).toEqual([]);
    }
    for (const p of g.procs.slice(3)) {
      const stop = Group.records(p).find((r) => r.event === "stop")!;
      expect({ name: p.name, drops: stop.drops }).toEqual({ name: p.name, drops: {} });
    }
  },
  60_000,
);

interopTest("a Python peer restarted mid-run is accepted with its new epoch and becomes READY again", async () => {
  group = new Group(4);
  for (const id of [1, 2]) group.start(id, ["--log-level", "info"]);
  for (const id of [3, 4]) startPython(group, id);
  await group.waitReady(group.procs, 30_000);
  const victim = group.procs[2]!;
  const oldEpoch = Group.records(victim).find((r) => r.event === "start")!.epoch;
  victim.proc.kill("SIGKILL");
  await victim.proc.exited;
  const reborn = startPython(group, 3);
  await group.waitReady([reborn], 15_000);
  const newEpoch = Group.records(reborn).find((r) => r.event === "start")!.epoch;
  expect(newEpoch).not.toBe(oldEpoch);
  const others = [group.procs[0]!, group.procs[1]!, group.procs[3]!];
  const seen = (p: PeerProcess) =>
    Group.records(p).some(
      (r) => r.event === "peer-restarted" && r.peer === 3 && r.oldEpoch === oldEpoch && r.newEpoch === newEpoch,
    );
  const deadline = performance.now() + 5000;
  while (!others.every(seen) && performance.now() < deadline) await Bun.sleep(20);
  expect(others.map(seen)).toEqual([true, true, true]);
});
