/**
 * `npm run timeline -- DIR`: the pairing of sends and receipts, the command's
 * errors, and the page rendered in a real browser (Debian's headless
 * Chromium): a lane per peer, an arrow per datagram in the logs, the peer
 * filter in the URL; a screenshot is kept in test-artifacts/.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTimeline } from "../../src/cli/timeline.ts";
import { Group, ROOT, runCommand } from "../process/group.ts";

const TIMELINE = join(ROOT, "src/cli/timeline.ts");
const browser = Bun.which("chromium-headless-shell") ?? Bun.which("chromium");
// Skipped loudly on a developer machine without the browser; CI installs it
// (scripts/install-system-deps.sh), and there a missing browser fails.
const skipBrowser = browser === null && process.env.CI !== "true";
if (skipBrowser)
  console.warn(
    "\n*** SKIPPING the timeline browser test: no chromium-headless-shell. Run scripts/install-system-deps.sh (CI does). ***\n",
  );

let group: Group | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await group?.stop();
  group = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rollcall-timeline-"));
  dirs.push(d);
  return d;
}

const rec = (ms: number, me: number, event: string, fields: Record<string, unknown>) => ({
  ts: new Date(1_700_000_000_000 + ms).toISOString(),
  me,
  event,
  ...fields,
});

test("sends are paired with their receipts first come first served; unmatched sends are lost; READY and drops are marked", () => {
  const data = buildTimeline([
    rec(0, 1, "start", { name: "a" }),
    rec(1, 1, "send", { peer: 2, type: "DATA", seq: 1, sack: 0, bytes: 90, retransmission: false }),
    rec(5, 1, "send", { peer: 2, type: "DATA", seq: 1, sack: 0, bytes: 90, retransmission: true }),
    rec(7, 2, "recv", { peer: 1, type: "DATA", seq: 1, sack: 0, bytes: 90 }),
    rec(8, 2, "send", { peer: 1, type: "ACK", seq: 0, ack: 1, sack: 0, bytes: 36, retransmission: false }),
    rec(9, 1, "recv", { peer: 2, type: "ACK", seq: 0, ack: 1, sack: 0, bytes: 36 }),
    rec(10, 1, "ready", { peers: 2 }),
    rec(11, 2, "drop", { reason: "checksum-mismatch", detail: "x" }),
  ]);
  expect(data.peers.map((p) => p.name)).toEqual(["a", "#2"]);
  expect(data.datagrams.map((d) => [d.from, d.to, d.type, d.sentMs, d.receivedMs, d.retransmission])).toEqual([
    [1, 2, "DATA", 1, 7, false],
    [1, 2, "DATA", 5, undefined, true],
    [2, 1, "ACK", 8, 9, false],
  ]);
  expect(data.marks.map((m) => [m.peer, m.event, m.at])).toEqual([[1, "ready", 10]]);
  expect(data.drops.map((d) => [d.peer, d.reason])).toEqual([[2, "checksum-mismatch"]]);
});

test("bad input: a missing directory, a directory without logs, logs without datagrams: exit 2 with what to do", async () => {
  const missing = await runCommand([process.execPath, TIMELINE, "/nonexistent-rollcall-dir"], { timeoutMs: 10_000 });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("no such directory");
  const empty = tempDir();
  const none = await runCommand([process.execPath, TIMELINE, empty], { timeoutMs: 10_000 });
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("no .jsonl logs here");
  writeFileSync(join(empty, "peer-1.jsonl"), `${JSON.stringify(rec(0, 1, "start", { name: "a" }))}\nnot json\n`);
  const quiet = await runCommand([process.execPath, TIMELINE, empty], { timeoutMs: 10_000 });
  expect(quiet.code).toBe(2);
  expect(quiet.stderr).toContain("--log-level debug");
});

(skipBrowser ? test.skip : test)(
  "a real run at 20% loss, rendered in headless Chromium: a lane per peer, an arrow per datagram, the peer filter from the URL",
  async () => {
    const g = new Group(3);
    group = g;
    for (let id = 1; id <= 3; id++) g.start(id, ["--chaos", "loss=0.2"]);
    await g.waitReady(g.procs, 20_000);
    await Bun.sleep(500); // some probes too
    await g.stop();
    group = undefined;
    const dir = tempDir();
    let sends = 0;
    let sendsBetween1And2 = 0;
    for (const p of g.procs) {
      writeFileSync(join(dir, `peer-${p.id}.jsonl`), p.stdout);
      for (const r of Group.records(p)) {
        if (r.event !== "send") continue;
        sends++;
        if ((p.id === 1 && r.peer === 2) || (p.id === 2 && r.peer === 1)) sendsBetween1And2++;
      }
    }
    expect(sends).toBeGreaterThan(10);
    const made = await runCommand([process.execPath, TIMELINE, dir], { timeoutMs: 30_000 });
    expect(made.code).toBe(0);
    const page = join(dir, "timeline.html");
    expect(made.stdout).toContain(page);

    const render = async (hash: string) => {
      const r = await runCommand(
        [browser!, "--no-sandbox", "--disable-gpu", "--headless", "--dump-dom", `file://${page}${hash}`],
        { timeoutMs: 60_000 },
      );
      expect(r.code).toBe(0);
      const count = (attr: string) => r.stdout.split(attr).length - 1;
      return { lanes: count('data-kind="lane"'), arrows: count('data-kind="arrow"'), dom: r.stdout };
    };
    const all = await render("");
    expect(all.lanes).toBe(3);
    expect(all.arrows).toBe(sends);
    expect(all.dom).toContain(`${sends} datagrams shown`);
    const two = await render("#peers=1,2");
    expect(two.lanes).toBe(2);
    expect(two.arrows).toBe(sendsBetween1And2);

    const artifacts = join(ROOT, "test-artifacts");
    mkdirSync(artifacts, { recursive: true });
    const shot = await runCommand(
      [
        browser!,
        "--no-sandbox",
        "--disable-gpu",
        "--headless",
        "--window-size=1000,1000",
        `--screenshot=${join(artifacts, "timeline.png")}`,
        `file://${page}`,
      ],
      { timeoutMs: 60_000 },
    );
    expect(shot.code).toBe(0);
    expect(Bun.file(join(artifacts, "timeline.png")).size).toBeGreaterThan(5000);
  },
  120_000,
);
