/**
 * `npm run demo` as a user runs it. Every run gets `--logs` with a directory
 * this file creates and removes, since without it the demo keeps its peers'
 * logs in a new /tmp/rollcall-demo-* that nobody removes; the last test checks
 * that no such directory appeared. Every demo runs in its own process group
 * under a deadline, so a hung demo (or a peer it leaves behind) is killed and
 * the test says so instead of waiting for the runner's timeout.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { portBlock, ROOT } from "./group.ts";

const DEMO = join(ROOT, "src/cli/demo.ts");
/** What the demo names a log directory it creates itself (src/cli/demo.ts). */
const DEMO_TMP_PREFIX = "rollcall-demo-";

const demoTmpDirs = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith(DEMO_TMP_PREFIX)));
const tmpBefore = demoTmpDirs();
// Not named rollcall-demo-*, so that the leak check below never counts these.
const logDirs: string[] = [];
function newLogDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rollcall-test-demo-"));
  logDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of logDirs) rmSync(dir, { recursive: true, force: true });
});

/** True while a process of the group led by `pid` is alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Runs the demo with `args` and waits for it. Past `deadlineMs` its whole
 * process group (the demo and the peers it started) is killed with SIGKILL
 * and this throws, with what the demo printed so far.
 */
async function runDemo(args: string[], deadlineMs: number): Promise<{ code: number; out: string; err: string }> {
  // detached: a session of its own, so that one kill reaches the peers too.
  const proc = Bun.spawn([process.execPath, DEMO, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(proc.pid);
  }, deadlineMs);
  try {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (timedOut) {
      throw new Error(
        `demo ${args.join(" ")} did not exit within ${deadlineMs} ms and was killed with SIGKILL` +
          `\n--- stdout\n${out}\n--- stderr\n${err}`,
      );
    }
    // The demo waits for its peers; any process left in its group is a leak.
    if (groupAlive(proc.pid)) throw new Error(`demo ${args.join(" ")} exited ${code} but left processes running`);
    return { code, out, err };
  } finally {
    clearTimeout(timer);
    killGroup(proc.pid);
  }
}

test("npm run demo starts a local group, shows progress and a summary, and exits 0", async () => {
  const base = portBlock(4);
  const logs = newLogDir();
  // The demo gives up after --timeout 30 s and then waits up to 5 s for its peers.
  const { out, err, code } = await runDemo(
    ["--peers", "4", "--base-port", String(base), "--timeout", "30", "--logs", logs],
    60_000,
  );
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(out).toContain(`peer logs in ${logs}`);
  expect(out).toContain("READY (4/4)");
  expect(out).toMatch(/id\s+peer\s+READY after ms\s+sent\s+received\s+retransmits/);
  expect(out).toContain("demo: all 4 READY");
  // Every peer's row shows datagrams sent and a clean exit.
  const rows = out
    .split("\n")
    .filter(
      (l) => new RegExp(`^\\s*\\d+\\s+127\\.0\\.0\\.1:${base}`).test(l) || /^\s*\d+\s+127\.0\.0\.1:\d+\s+\d/.test(l),
    );
  expect(rows.length).toBe(4);
  for (const row of rows) expect(row.trim().split(/\s+/).at(-1)).toBe("0");
  // The logs went where --logs said, with the timeline drawn from them.
  for (const id of [1, 2, 3, 4]) expect(existsSync(join(logs, `peer-${id}.jsonl`))).toBe(true);
  expect(out).toContain(`demo: timeline of every datagram: ${join(logs, "timeline.html")}`);
  expect(existsSync(join(logs, "timeline.html"))).toBe(true);
}, 90_000);

test("npm run demo rejects bad options with exit 2", async () => {
  const { err, code } = await runDemo(["--peers", "0", "--logs", newLogDir()], 10_000);
  expect(code).toBe(2);
  expect(err).toMatch(/^demo: --peers must be an integer from 1 to 200/);
  // A peer's logging option says where it belongs instead of a bare "Unknown option".
  const logFormat = await runDemo(["--log-format", "pretty"], 10_000);
  expect(logFormat.code).toBe(2);
  expect(logFormat.err).toContain("--log-format and --log-level are options of the peer");
});

// Last in this file: tests run in order.
test(`the demo tests leave no ${join(tmpdir(), `${DEMO_TMP_PREFIX}*`)} behind`, () => {
  const appeared = [...demoTmpDirs()].filter((n) => !tmpBefore.has(n));
  expect(appeared).toEqual([]);
});
