/**
 * Bootstrap time of real peer processes on loopback.
 *
 *   bun run bench/bootstrap.ts [--sizes 5,20,50] [--losses 0,0.1,0.3] [--runs 3]
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
// Below Linux's ephemeral range (32768-60999), where outgoing sockets could already hold a port.
let portBase = 10_000 + Math.floor(Math.random() * 5000);

interface RunResult {
  protocolMs: number;
  wallMs: number;
  datagramsPerPeer: number;
}

async function runOnce(n: number, loss: number, lastLate: boolean): Promise<RunResult> {
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
console.log(`bootstrap benchmark: sizes ${sizes}, losses ${losses}, ${runs} runs each, bun ${Bun.version}`);
console.log(
  " peers  loss   last-late: protocol ms (median / max)   together: wall ms (median / max)   datagrams sent per peer (median)",
);
const rows: unknown[] = [];
for (const n of sizes) {
  for (const loss of losses) {
    const late: RunResult[] = [];
    const together: RunResult[] = [];
    for (let r = 0; r < runs; r++) {
      late.push(await runOnce(n, loss, true));
      together.push(await runOnce(n, loss, false));
    }
    const p = late.map((r) => r.protocolMs);
    const w = together.map((r) => r.wallMs);
    const d = together.map((r) => r.datagramsPerPeer);
    console.log(
      `${String(n).padStart(6)} ${`${loss * 100}%`.padStart(5)}   ${median(p).toFixed(0).padStart(8)} / ${Math.max(...p)
        .toFixed(0)
        .padStart(6)}                    ${median(w).toFixed(0).padStart(7)} / ${Math.max(...w)
        .toFixed(0)
        .padStart(6)}        ${median(d).toFixed(1)}`,
    );
    rows.push({ peers: n, loss, protocolMs: p, wallMs: w, datagramsPerPeer: d });
  }
}
console.log(JSON.stringify({ bench: "bootstrap", bun: Bun.version, rows }));
