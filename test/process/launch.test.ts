/**
 * Every documented way to start a peer keeps the output contract: stderr is
 * exactly `READY\n`, stdout only JSON lines, and SIGTERM to what the user
 * started stops the peer itself, with its goodbye, leaving no process behind.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePeerCommand } from "../../scripts/lib/bundle.ts";
import { Group, PEER_MAIN, type PeerProcess, runCommand } from "./group.ts";

let group: Group | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

// The bundled peer, built as `npm run build` builds it (the image runs the same file).
const bundleDir = mkdtempSync(join(tmpdir(), "rollcall-bundle-"));
const BUNDLE = join(bundleDir, "peer.js");
beforeAll(async () => {
  const built = await runCommand(bundlePeerCommand(bundleDir), { timeoutMs: 60_000 });
  if (built.code !== 0) throw new Error(`bun build failed: ${built.stderr}`);
});
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

/** Live processes whose command line mentions `text` (the peer's unique host:port). */
function processesWith(text: string): string[] {
  const r = Bun.spawnSync(["pgrep", "-af", text], { stdout: "pipe" });
  return new TextDecoder()
    .decode(r.stdout)
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.includes("pgrep"));
}

const LAUNCHERS: Record<string, (args: string[]) => string[]> = {
  "bun run peer": (args) => [process.execPath, "run", "peer", ...args],
  "npm run -s peer --": (args) => ["npm", "run", "-s", "peer", "--", ...args],
  "bun src/cli/peer.ts": (args) => [process.execPath, PEER_MAIN, ...args],
  "bun dist/peer.js (npm run build)": (args) => [process.execPath, BUNDLE, ...args],
};

for (const [how, command] of Object.entries(LAUNCHERS)) {
  for (const signal of ["SIGTERM", "SIGINT"] as const)
    test(`${how}: stderr is exactly READY, stdout only JSON lines, ${signal} stops the peer with its goodbye`, async () => {
      const g = new Group(2);
      group = g;
      const other = g.start(2, ["--log-level", "info"]);
      const p: PeerProcess = g.spawnCommand(
        1,
        g.names[0]!,
        command(["-h", g.hostsFile, "--name", g.names[0]!, "--log-level", "info"]),
      );
      await g.waitReady([p, other], 20_000);
      p.proc.kill(signal);
      expect(await p.proc.exited).toBe(0);
      await p.done;
      expect(p.stderr).toBe("READY\n");
      const lines = p.stdout.split("\n").filter((l) => l !== "");
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      const last = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
      expect(last.event).toBe("stop");
      expect(last.reason).toBe(signal);
      expect(last.goodbyesDelivered).toBe(true);
      // The launcher did not leave the peer running on its own.
      await Bun.sleep(200);
      expect(processesWith(g.names[0]!)).toEqual([]);
      // And the other peer heard the goodbye.
      const deadline = performance.now() + 3000;
      while (!Group.records(other).some((r) => r.event === "peer-left") && performance.now() < deadline)
        await Bun.sleep(20);
      expect(Group.records(other).some((r) => r.event === "peer-left" && r.peer === 1)).toBe(true);
    }, 60_000);
}
