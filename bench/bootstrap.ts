/**
 * Bootstrap time of real peer processes on loopback.
 *
 *   bun run bench/bootstrap.ts [--sizes 5,20,50] [--losses 0,0.1,0.3] [--runs 3] [--key]
 *
 * For every size and loss, starts that many `bun src/cli/peer.ts` processes
 * (127.0.0.1 only, `--chaos loss=P` on each), in two ways:
 *   last-late: all but one peer first; once they have started and settled
 *              (1.5 s), the last one. Measured from the last peer's `start` log
 *              event (its socket is bound) to the last `ready` event, from the
 *              peers' own log timestamps: the protocol's time, without the CPU
 *              contention of dozens of Bun processes starting on 2 cores.
 *   together:  all at once; from the last spawn to the last READY line on
 *              stderr, start-up contention included (wall clock).
 * Every process is stopped (SIGTERM, then SIGKILL) before the next run.
 *
 * --key: key mode (issue 11) beside plain, in the same run. Every run then
 * measures both, ABBA: last-late plain and key (which first alternates from
 * run to run), then together in the opposite order. The key runs give every
 * peer `--key-file` (one temporary file, mode 600, one random key). Printed:
 * a row per mode and key ÷ plain of the medians, and the median of the
 * per-run ratios.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const sizes = arg("--sizes", "5,20,50").split(",").map(Number);
const losses = arg("--losses", "0,0.1,0.3").split(",").map(Number);
const runs = Number(arg("--runs", "3"));
const compareKey = process.argv.includes("--key");
type Mode = "plain" | "key";
const modes: Mode[] = compareKey ? ["plain", "key"] : ["plain"];
// Below Linux's ephemeral range (32768-60999), where outgoing sockets could already hold a port.
let portBase = 10_000 + Math.floor(Math.random() * 5000);

interface RunResult {
  protocolMs: number;
  wallMs: number;
  datagramsPerPeer: number;
}

async function runOnce(n: number, loss: number, lastLate: boolean, keyFile?: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), "rollcall-bench-"));
  portBase += n + 5;
  const names = Array.from({ length: n }, (_, i) => `127.0.0.1:${portBase + i}`);
  const hosts = join(dir, "hosts");
  writeFileSync(hosts, `${names.join("\n")}\n`);
  const procs: { proc: Bun.Subprocess<"ignore", "pipe", "pipe">; out: string; readyAt?: number }[] = [];
  let lastSpawn = 0;
  try {
    for (const name of names) {
      if (lastLate && name === names.at(-1)) {
        const settle = performance.now() + 1500;
        while (performance.now() < settle || procs.some((p) => !p.out.includes('"event":"start"'))) await Bun.sleep(10);
      }
      const cmd = [process.execPath, join(root, "src/cli/peer.ts"), "-h", hosts, "--name", name, "--log-level", "info"];
      if (loss > 0) cmd.push("--chaos", `loss=${loss}`);
      if (keyFile !== undefined) cmd.push("--key-file", keyFile);
      const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      lastSpawn = performance.now();
      const p = { proc, out: "" as string, readyAt: undefined as number | undefined };
      procs.push(p);
      void (async () => {
        for await (const chunk of proc.stdout) p.out += new TextDecoder().decode(chunk);
      })();
      void (async () => {
        let err = "";
        for await (const chunk of proc.stderr) {
          err += new TextDecoder().decode(chunk);
          if (p.readyAt === undefined && err.includes("READY\n")) p.readyAt = performance.now();
        }
      })();
    }
    const deadline = performance.now() + 60_000;
    while (procs.some((p) => p.readyAt === undefined)) {
      if (performance.now() > deadline) throw new Error(`${n} peers at ${loss} loss: not all READY in 60 s`);
      await Bun.sleep(5);
    }
    const wallMs = Math.max(...procs.map((p) => p.readyAt!)) - lastSpawn;
    await Bun.sleep(100); // let the ready log lines arrive
    const events = procs.map((p) =>
      p.out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)),
    );
    const ts = (e: { ts: string }) => Date.parse(e.ts);
    const lastStart = Math.max(...events.map((ev) => ts(ev.find((e) => e.event === "start"))));
    const readies = events.map((ev) => ev.find((e) => e.event === "ready"));
    const lastReady = Math.max(...readies.map(ts));
    const datagrams = readies.reduce((s, r) => s + r.datagramsSent, 0) / n;
    return { protocolMs: lastReady - lastStart, wallMs, datagramsPerPeer: datagrams };
  } finally {
    for (const p of procs) p.proc.kill("SIGTERM");
    const killer = setTimeout(() => {
      for (const p of procs) p.proc.kill("SIGKILL");
    }, 3000);
    await Promise.all(procs.map((p) => p.proc.exited));
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The key mode's key file: one random key, mode 600, in a private temporary directory. */
let keyDir: string | undefined;
let keyFile: string | undefined;
if (compareKey) {
  keyDir = mkdtempSync(join(tmpdir(), "rollcall-bench-key-"));
  keyFile = join(keyDir, "bench.key");
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      rmSync(keyDir!, { recursive: true, force: true });
      process.exit(130);
    });
}

console.log(
  `bootstrap benchmark: sizes ${sizes}, losses ${losses}, ${runs} runs each${compareKey ? ", plain and key mode in every run" : ""}, bun ${Bun.version}`,
);
console.log(
  ` peers  loss ${compareKey ? " mode " : ""}  last-late: protocol ms (median / max)   together: wall ms (median / max)   datagrams sent per peer (median)`,
);
const rows: unknown[] = [];
const comparisons: string[] = [];
try {
  for (const n of sizes) {
    for (const loss of losses) {
      const late = new Map<Mode, RunResult[]>(modes.map((m) => [m, []]));
      const together = new Map<Mode, RunResult[]>(modes.map((m) => [m, []]));
      for (let r = 0; r < runs; r++) {
        const order = r % 2 === 0 ? modes : [...modes].reverse();
        for (const m of order) late.get(m)!.push(await runOnce(n, loss, true, m === "key" ? keyFile : undefined));
        for (const m of [...order].reverse())
          together.get(m)!.push(await runOnce(n, loss, false, m === "key" ? keyFile : undefined));
      }
      for (const m of modes) {
        const p = late.get(m)!.map((r) => r.protocolMs);
        const w = together.get(m)!.map((r) => r.wallMs);
        const d = together.get(m)!.map((r) => r.datagramsPerPeer);
        console.log(
          `${String(n).padStart(6)} ${`${loss * 100}%`.padStart(5)} ${compareKey ? m.padStart(5) : ""}   ${median(p).toFixed(0).padStart(8)} / ${Math.max(
            ...p,
          )
            .toFixed(0)
            .padStart(6)}                    ${median(w).toFixed(0).padStart(7)} / ${Math.max(...w)
            .toFixed(0)
            .padStart(6)}        ${median(d).toFixed(1)}`,
        );
        rows.push({ peers: n, loss, mode: m, protocolMs: p, wallMs: w, datagramsPerPeer: d });
      }
      if (compareKey) {
        const ratio = (measure: Map<Mode, RunResult[]>, field: "protocolMs" | "wallMs") => {
          const plain = measure.get("plain")!.map((r) => r[field]);
          const key = measure.get("key")!.map((r) => r[field]);
          const perRun = key.map((k, i) => k / plain[i]!);
          return `${(median(key) / median(plain)).toFixed(2)} (per run, median ${median(perRun).toFixed(2)}: ${perRun.map((x) => x.toFixed(2)).join(", ")})`;
        };
        comparisons.push(
          `${String(n).padStart(6)} ${`${loss * 100}%`.padStart(5)}   key ÷ plain, medians: last-late ${ratio(late, "protocolMs")}; together ${ratio(together, "wallMs")}`,
        );
      }
    }
  }
} finally {
  if (keyDir !== undefined) rmSync(keyDir, { recursive: true, force: true });
}
if (compareKey) {
  console.log("key mode against plain (target for N = 20: within 10%, ratio ≤ 1.10):");
  for (const line of comparisons) console.log(line);
}
console.log(JSON.stringify({ bench: "bootstrap", bun: Bun.version, rows }));
