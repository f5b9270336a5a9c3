/**
 * Reference point for the bootstrap benchmark: HashiCorp serf (memberlist
 * inside), Debian package `serf`, on loopback.
 *
 *   apt-get install serf && bun run bench/serf.ts [--sizes 5,20,50] [--runs 3]
 *
 * Starts N agents on 127.0.0.1 (distinct gossip and RPC ports), each told
 * every address with -retry-join (retry every 100 ms, profile "local"), and
 * measures the time from the last agent's start until every agent lists all N
 * members alive (`serf members -status alive`, polled). Both the
 * "last-late" way (N-1 agents first, then the last) and "together" are run,
 * as in bench/bootstrap.ts. Every agent is killed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aliveCount, serfAgentArgs } from "./lib/serf.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const sizes = arg("--sizes", "5,20,50").split(",").map(Number);
const runs = Number(arg("--runs", "3"));
if (!Bun.which("serf")) {
  console.error("serf not found: apt-get install serf");
  process.exit(2);
}
// Below Linux's ephemeral range (32768-60999): serf's own RPC and push/pull
// connections take ephemeral ports, and an agent whose port is taken fails to start.
let portBase = 15_000 + Math.floor(Math.random() * 3000);

async function runOnce(n: number, lastLate: boolean): Promise<number> {
  portBase += 2 * n + 10;
  const gossip = Array.from({ length: n }, (_, i) => portBase + i);
  const rpc = Array.from({ length: n }, (_, i) => portBase + n + i);
  const dir = mkdtempSync(join(tmpdir(), "serf-bench-"));
  const agents: Bun.Subprocess[] = [];
  let lastStart = 0;
  try {
    for (let i = 0; i < n; i++) {
      if (lastLate && i === n - 1) {
        // Let the others form their group first.
        const settle = performance.now() + 10_000;
        while (performance.now() < settle && (await aliveCount(rpc[0]!)) < n - 1) await Bun.sleep(100);
      }
      agents.push(
        Bun.spawn(
          serfAgentArgs({
            index: i,
            gossipPort: gossip[i]!,
            rpcPort: rpc[i]!,
            gossipPorts: gossip,
            flags: ["-profile=local"],
            logLevel: "err",
          }),
          { stdout: "ignore", stderr: "ignore", cwd: dir },
        ),
      );
      lastStart = performance.now();
    }
    const deadline = performance.now() + 60_000;
    const done = new Array(n).fill(false);
    // One `serf members` at a time: dozens at once starve the agents of CPU.
    while (performance.now() < deadline) {
      for (let i = 0; i < n; i++) {
        if (!done[i] && (await aliveCount(rpc[i]!)) === n) done[i] = true;
      }
      if (done.every(Boolean)) return performance.now() - lastStart;
      await Bun.sleep(20);
    }
    const missing = done.filter((d) => !d).length;
    console.log(`  serf: ${n} agents, ${missing} did not list all ${n} members within 60 s`);
    return Number.POSITIVE_INFINITY;
  } finally {
    for (const a of agents) a.kill("SIGKILL");
    await Promise.all(agents.map((a) => a.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const version = (await new Response(Bun.spawn(["serf", "version"], { stdout: "pipe" }).stdout).text()).split("\n")[0];
console.log(`serf reference: ${version}, sizes ${sizes}, ${runs} runs, no loss`);
console.log(" agents  last-late: ms until all list all (median / max)   together: ms (median / max)");
const rows: unknown[] = [];
for (const n of sizes) {
  const late: number[] = [];
  const together: number[] = [];
  for (let r = 0; r < runs; r++) {
    late.push(await runOnce(n, true));
    together.push(await runOnce(n, false));
  }
  // Runs that never converged show as Infinity in the maximum and count in the median.
  console.log(
    `${String(n).padStart(7)}  ${median(late).toFixed(0).padStart(20)} / ${Math.max(...late)
      .toFixed(0)
      .padStart(6)}              ${median(together).toFixed(0).padStart(12)} / ${Math.max(...together)
      .toFixed(0)
      .padStart(6)}`,
  );
  rows.push({ agents: n, lastLateMs: late, togetherMs: together });
}
console.log(JSON.stringify({ bench: "serf", version, rows }));
