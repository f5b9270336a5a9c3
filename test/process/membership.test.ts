/**
 * The failure detector with real peer processes on loopback (127.0.0.1 only):
 * a SIGKILLed peer is declared failed by every other peer, its restart
 * makes it alive again, and a SIGTERMed peer leaves without suspicion.
 */
import { afterEach, expect, test } from "bun:test";
import { DEFAULT_MEMBERSHIP_CONFIG, detectionBoundMs } from "../../src/membership/config.ts";
import { Group, type PeerProcess, runPeer } from "./group.ts";

let group: Group | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

const records = (p: PeerProcess) => Group.records(p);
const ms = (r: Record<string, unknown>) => Date.parse(r.ts as string);

/** Waits until `done` holds for every process, or the deadline; returns whether it did. */
async function waitAll(procs: PeerProcess[], done: (p: PeerProcess) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (procs.every(done)) return true;
    await Bun.sleep(20);
  }
  return procs.every(done);
}

test("5 peers: SIGKILL one and every other logs peer-failed for it; restart it and they log peer-alive; SIGTERM one and they log peer-left without suspecting it", async () => {
  const g = new Group(5);
  group = g;
  for (let id = 1; id <= 5; id++) g.start(id, ["--log-level", "info"]);
  await g.waitReady(g.procs, 20_000);
  const survivors = g.procs.filter((p) => p.id !== 3);
  const victim = g.procs[2]!;
  const victimEpoch = records(victim).find((r) => r.event === "start")!.epoch;

  // Crash: no goodbye, so the others must notice by probing.
  const killedAt = Date.now();
  victim.proc.kill("SIGKILL");
  await victim.proc.exited;
  const boundMs = detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, 5);
  const failedRecord = (p: PeerProcess) =>
    records(p).find((r) => r.event === "peer-failed" && r.peer === 3 && r.epoch === victimEpoch);
  if (!(await waitAll(survivors, (p) => failedRecord(p) !== undefined, boundMs))) {
    // What each survivor said about peer 3, to see where detection stopped.
    const story = survivors.map(
      (p) =>
        `peer ${p.id}: ${records(p)
          .filter((r) => r.peer === 3 || r.event === "membership")
          .slice(-12)
          .map(
            (r) =>
              `${String(r.ts).slice(17, 23)} ${r.event} ${JSON.stringify({ ...r, ts: undefined, level: undefined, me: undefined, event: undefined, name: undefined })}`,
          )
          .join("\n    ")}`,
    );
    throw new Error(`not every survivor declared peer 3 failed within ${boundMs} ms:\n  ${story.join("\n  ")}`);
  }
  const detectionMs = survivors.map((p) => ms(failedRecord(p)!) - killedAt);
  console.log(`SIGKILL to peer-failed at each survivor: ${detectionMs.join(", ")} ms (bound ${boundMs.toFixed(0)} ms)`);
  // The bound holds whatever the loss; on quiet loopback detection takes about a second.
  expect(Math.max(...detectionMs)).toBeLessThan(5000);
  for (const p of survivors) {
    const r = failedRecord(p)!;
    expect(r.level).toBe("warn");
    expect(typeof r.incarnation).toBe("number");
    expect(typeof r.reporter).toBe("number");
    // Suspicion came first, and the view logged with it says so.
    const suspect = records(p).find((x) => x.event === "peer-suspect" && x.peer === 3);
    expect(suspect).toBeDefined();
    expect(ms(suspect!)).toBeLessThanOrEqual(ms(r));
    expect(records(p).some((x) => x.event === "membership" && (x.failed as number[] | undefined)?.includes(3))).toBe(
      true,
    );
  }

  // Restart: a new process (epoch) rejoins.
  const again = g.start(3, ["--log-level", "info"]);
  await g.waitReady([again], 20_000);
  const newEpoch = records(again).find((r) => r.event === "start")!.epoch;
  const aliveRecord = (p: PeerProcess) =>
    records(p).find((r) => r.event === "peer-alive" && r.peer === 3 && r.epoch === newEpoch && r.reason === "rejoined");
  expect(await waitAll(survivors, (p) => aliveRecord(p) !== undefined, 10_000)).toBe(true);

  // Leave: SIGTERM says goodbye, so the others log peer-left and never suspect it.
  const leaver = g.procs[4]!;
  const leaverEpoch = records(leaver).find((r) => r.event === "start")!.epoch;
  leaver.proc.kill("SIGTERM");
  expect(await leaver.proc.exited).toBe(0);
  const others = [g.procs[0]!, g.procs[1]!, g.procs[3]!, again];
  const leftRecord = (p: PeerProcess) =>
    records(p).find((r) => r.event === "peer-left" && r.peer === 5 && r.epoch === leaverEpoch);
  expect(await waitAll(others, (p) => leftRecord(p) !== undefined, 5000)).toBe(true);
  // Long enough for a crash to have been suspected (about a second here).
  await Bun.sleep(2000);
  for (const p of others) {
    expect(leftRecord(p)!.reporter).toBe(5);
    expect(records(p).filter((r) => (r.event === "peer-suspect" || r.event === "peer-failed") && r.peer === 5)).toEqual(
      [],
    );
    // Nobody else was ever suspected.
    expect(records(p).filter((r) => r.event === "peer-suspect" && r.peer !== 3)).toEqual([]);
  }
}, 60_000);

test("failure detector flags are validated with clear messages", async () => {
  const g = new Group(2);
  group = g;
  const bad = await runPeer(["-h", g.hostsFile, "--name", g.names[0]!, "--probe-timeout-ms", "300"], 10_000);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--probe-timeout-ms (300) must be below --protocol-period-ms (200)");
  const notNumber = await runPeer(["-h", g.hostsFile, "--name", g.names[0]!, "--indirect-probes", "three"], 10_000);
  expect(notNumber.code).toBe(2);
  expect(notNumber.stderr).toContain('--indirect-probes must be a number, got "three"');
  const fraction = await runPeer(["-h", g.hostsFile, "--name", g.names[0]!, "--indirect-probes", "1.5"], 10_000);
  expect(fraction.code).toBe(2);
  expect(fraction.stderr).toContain("--indirect-probes must be an integer in 0..16, got 1.5");
});
