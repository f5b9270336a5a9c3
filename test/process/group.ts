/**
 * Real peer processes on loopback for tests: spawn, watch stderr for READY,
 * keep stdout (JSON log lines), stop, and always clean up.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const PEER_MAIN = join(ROOT, "src/cli/peer.ts");

export interface PeerProcess {
  id: number;
  name: string;
  proc: Bun.Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  stdout: string;
  stderr: string;
  readyAt: number | undefined;
  /** Resolves when stdout and stderr have both ended. */
  done: Promise<void>;
}

// Below Linux's ephemeral range (32768-60999), where outgoing sockets could already hold a port.
let nextPortBase = 20_000 + Math.floor(Math.random() * 10_000);

/** A fresh block of loopback ports so tests never collide with each other or a leftover process. */
export function portBlock(count: number): number {
  const base = nextPortBase;
  nextPortBase += count + 10;
  if (nextPortBase > 32_000) nextPortBase = 20_000;
  return base;
}

export class Group {
  readonly dir = mkdtempSync(join(tmpdir(), "rollcall-test-"));
  readonly hostsFile: string;
  readonly names: string[];
  readonly procs: PeerProcess[] = [];

  constructor(
    readonly size: number,
    hostsText?: string,
  ) {
    const base = portBlock(size);
    this.names = Array.from({ length: size }, (_, i) => `127.0.0.1:${base + i}`);
    this.hostsFile = join(this.dir, "hosts.txt");
    writeFileSync(this.hostsFile, hostsText ?? `${this.names.join("\n")}\n`);
  }

  /** Starts peer `id` (1-based) with extra flags; `stdin: "pipe"` to write to it (`proc.stdin`). */
  start(id: number, extra: string[] = [], stdin: "ignore" | "pipe" = "ignore"): PeerProcess {
    return this.spawn(id, this.names[id - 1]!, ["-h", this.hostsFile, "--name", this.names[id - 1]!, ...extra], stdin);
  }

  /** Starts the peer CLI with arbitrary arguments. */
  spawn(id: number, name: string, args: string[], stdin: "ignore" | "pipe" = "ignore"): PeerProcess {
    return this.spawnCommand(id, name, [process.execPath, PEER_MAIN, ...args], stdin);
  }

  /** Starts any command that behaves like a peer (READY on stderr, JSON lines on stdout). */
  spawnCommand(id: number, name: string, command: string[], stdin: "ignore" | "pipe" = "ignore"): PeerProcess {
    const proc = Bun.spawn(command, { stdin, stdout: "pipe", stderr: "pipe" });
    const p: PeerProcess = { id, name, proc, stdout: "", stderr: "", readyAt: undefined, done: Promise.resolve() };
    const read = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        p[key] += decoder.decode(chunk, { stream: true });
        if (key === "stderr" && p.readyAt === undefined && p.stderr.includes("READY\n")) p.readyAt = performance.now();
      }
    };
    p.done = Promise.all([read(proc.stdout, "stdout"), read(proc.stderr, "stderr")]).then(() => undefined);
    this.procs.push(p);
    return p;
  }

  /** Waits until every given process printed READY; throws with their stderr and log tails otherwise. */
  async waitReady(procs: PeerProcess[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (procs.every((p) => p.readyAt !== undefined)) return;
      const dead = procs.find((p) => p.proc.exitCode !== null && p.readyAt === undefined);
      if (dead) throw new Error(`peer ${dead.name} exited with ${dead.proc.exitCode}: ${dead.stderr}`);
      await Bun.sleep(10);
    }
    const missing = procs.filter((p) => p.readyAt === undefined).map((p) => p.name);
    throw new Error(`not READY within ${timeoutMs} ms: ${missing.join(", ")}`);
  }

  /** Log records of a process, parsed. */
  static records(p: PeerProcess): Record<string, unknown>[] {
    return p.stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** SIGTERM everything still running, wait for exit, remove the temp dir. */
  async stop(): Promise<void> {
    for (const p of this.procs) if (p.proc.exitCode === null) p.proc.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const p of this.procs) p.proc.kill("SIGKILL");
    }, 5000);
    await Promise.all(this.procs.map((p) => p.proc.exited));
    await Promise.all(this.procs.map((p) => p.done));
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs the peer CLI to completion (for flag and hosts-file errors). */
export async function runPeer(
  args: string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand([process.execPath, PEER_MAIN, ...args], { timeoutMs });
}

/** Runs a command to completion, feeding it `stdin`; past `timeoutMs` it is killed (`killed` says so). */
export async function runCommand(
  cmd: string[],
  options: { cwd?: string; stdin?: string; timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string; killed: boolean }> {
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd ?? ROOT,
    stdin: options.stdin === undefined ? "ignore" : "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (options.stdin !== undefined && proc.stdin) {
    proc.stdin.write(options.stdin);
    await proc.stdin.end();
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr, killed: proc.signalCode === "SIGKILL" };
}
