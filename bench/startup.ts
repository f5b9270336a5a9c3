/**
 * Start-up, side by side in one run: rollcall from its TypeScript sources,
 * rollcall bundled (`npm run build`, what the image runs), and serf (Debian's
 * `serf`, memberlist inside), interleaved run by run so that machine noise
 * hits all three alike. 127.0.0.1 only.
 *
 *   apt-get install serf && bun run bench/startup.ts [--runs 5] [--peers 20]
 *
 * 1. CPU to start: one process alone (a one-line hosts file, READY at once;
 *    serf: until it prints that its agent is running), then SIGTERM; the CPU
 *    time (user + system) the kernel charged the process over its whole life.
 * 2. Together: N processes spawned at once; wall time from the last spawn
 *    until all are READY (rollcall: `READY` on every stderr; serf: every agent
 *    lists N members alive, asked in turn with `serf members`, which is how
 *    bench/serf.ts measures it).
 * Every process is killed before the next run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePeerCommand } from "../scripts/lib/bundle.ts";
import { aliveCount, serfAgentArgs } from "./lib/serf.ts";

const root = join(import.meta.dir, "..");
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const runs = Number(arg("--runs", "5"));
const peers = Number(arg("--peers", "20"));
const haveSerf = Bun.which("serf") !== null;
if (!haveSerf) console.log("serf not found (apt-get install serf): rollcall only");
// Below Linux's ephemeral range (32768-60999): serf also opens TCP connections.
let portBase = 12_000 + Math.floor(Math.random() * 3000);

const dir = mkdtempSync(join(tmpdir(), "rollcall-startup-"));
const bundle = join(dir, "peer.js");
// As `npm run build` builds it.
const built = Bun.spawnSync(bundlePeerCommand(dir));
if (built.exitCode !== 0) throw new Error(`bun build failed: ${built.stderr}`);

type Kind = "source" | "bundled" | "serf";
const kinds: Kind[] = haveSerf ? ["source", "bundled", "serf"] : ["source", "bundled"];

function peerCommand(kind: "source" | "bundled", hosts: string, name: string): string[] {
  const main = kind === "source" ? join(root, "src/cli/peer.ts") : bundle;
  return [process.execPath, main, "-h", hosts, "--name", name, "--log-level", "off"];
}

/** As bench/serf.ts runs it. */
function serfCommand(i: number, gossip: number[], rpc: number[]): string[] {
  return serfAgentArgs({
    index: i,
    gossipPort: gossip[i]!,
    rpcPort: rpc[i]!,
    gossipPorts: gossip,
    flags: ["-profile=local"],
    logLevel: "err",
  });
}

/** Waits until `text()` contains `needle` (or 30 s pass). */
async function waitFor(text: () => string, needle: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!text().includes(needle)) {
    if (performance.now() > deadline) throw new Error(`no "${needle}" within 30 s`);
    await Bun.sleep(1);
  }
}

function collect(stream: ReadableStream<Uint8Array>): { text: () => string } {
  let buffer = "";
  void (async () => {
    for await (const chunk of stream) buffer += new TextDecoder().decode(chunk);
  })();
  return { text: () => buffer };
}

/** CPU milliseconds (user + system) of one process started alone until it is up, then stopped. */
async function startupCpuMs(kind: Kind): Promise<number> {
  portBase += 4;
  let cmd: string[];
  let up: string;
  let stream: "stdout" | "stderr";
  if (kind === "serf") {
    cmd = serfCommand(0, [portBase], [portBase + 1]);
    up = "Serf agent running";
    stream = "stdout";
  } else {
    const hosts = join(dir, `alone-${portBase}`);
    writeFileSync(hosts, `127.0.0.1:${portBase}\n`);
    cmd = peerCommand(kind, hosts, `127.0.0.1:${portBase}`);
    up = "READY";
    stream = "stderr";
  }
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: dir });
  const out = collect(stream === "stdout" ? proc.stdout : proc.stderr);
  if (stream === "stdout") collect(proc.stderr);
  else collect(proc.stdout);
  await waitFor(out.text, up);
  proc.kill("SIGTERM");
  await proc.exited;
  const usage = proc.resourceUsage();
  if (usage === undefined) throw new Error("no resource usage");
  return Number(usage.cpuTime.user + usage.cpuTime.system) / 1000;
}

/** Wall ms from the last spawn until all `n` are up, started together. */
async function togetherMs(kind: Kind, n: number): Promise<number> {
  portBase += 2 * n + 4;
  const procs: Bun.Subprocess<"ignore", "pipe", "pipe">[] = [];
  const ready: (() => boolean)[] = [];
  try {
    let lastSpawn = 0;
    if (kind === "serf") {
      const gossip = Array.from({ length: n }, (_, i) => portBase + i);
      const rpc = Array.from({ length: n }, (_, i) => portBase + n + i);
      for (let i = 0; i < n; i++) {
        const proc = Bun.spawn(serfCommand(i, gossip, rpc), {
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          cwd: dir,
        });
        collect(proc.stdout);
        collect(proc.stderr);
        procs.push(proc);
        lastSpawn = performance.now();
      }
      const done = new Array(n).fill(false);
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline) {
        for (let i = 0; i < n; i++) if (!done[i] && (await aliveCount(rpc[i]!)) === n) done[i] = true;
        if (done.every(Boolean)) return performance.now() - lastSpawn;
        await Bun.sleep(10);
      }
      throw new Error(`serf: ${n} agents did not all list ${n} members within 60 s`);
    }
    const names = Array.from({ length: n }, (_, i) => `127.0.0.1:${portBase + i}`);
    const hosts = join(dir, `hosts-${portBase}`);
    writeFileSync(hosts, `${names.join("\n")}\n`);
    for (const name of names) {
      const proc = Bun.spawn(peerCommand(kind, hosts, name), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const err = collect(proc.stderr);
      collect(proc.stdout);
      ready.push(() => err.text().includes("READY\n"));
      procs.push(proc);
      lastSpawn = performance.now();
    }
    let readyAt = 0;
    const deadline = performance.now() + 60_000;
    while (!ready.every((r) => r())) {
      if (performance.now() > deadline) throw new Error(`${kind}: ${n} peers not all READY within 60 s`);
      await Bun.sleep(1);
    }
    readyAt = performance.now();
    return readyAt - lastSpawn;
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const cpu: Record<string, number[]> = {};
const together: Record<string, number[]> = {};
try {
  for (const k of kinds) {
    cpu[k] = [];
    together[k] = [];
  }
  // Warm the page cache once for each, outside the measurements.
  for (const k of kinds) await startupCpuMs(k);
  for (let r = 0; r < runs; r++) {
    // Alternate the order run by run (ABC, CBA, ...) so that drift hits all alike.
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    for (const k of order) cpu[k]!.push(await startupCpuMs(k));
    for (const k of order) together[k]!.push(await togetherMs(k, peers));
    console.log(`run ${r + 1}/${runs} done`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nstart-up, ${runs} runs, interleaved; bun ${Bun.version}`);
console.log(`            CPU to start one (ms, median / max)   together, N = ${peers} (ms, median / max)`);
for (const k of kinds) {
  console.log(
    `${k.padEnd(10)}  ${median(cpu[k]!).toFixed(1).padStart(10)} / ${Math.max(...cpu[k]!)
      .toFixed(1)
      .padStart(6)}` +
      `                 ${median(together[k]!).toFixed(0).padStart(8)} / ${Math.max(...together[k]!)
        .toFixed(0)
        .padStart(6)}`,
  );
}
if (haveSerf) {
  console.log(
    `ratios (median): bundled/serf CPU ${(median(cpu.bundled!) / median(cpu.serf!)).toFixed(2)}, together ${(median(together.bundled!) / median(together.serf!)).toFixed(2)}; ` +
      `bundled/source CPU ${(median(cpu.bundled!) / median(cpu.source!)).toFixed(2)}, together ${(median(together.bundled!) / median(together.source!)).toFixed(2)}`,
  );
}
console.log(JSON.stringify({ bench: "startup", bun: Bun.version, peers, runs, cpuMs: cpu, togetherMs: together }));
