/**
 * `bun run sim`: run the network simulator from the command line.
 *
 *   bun run sim                       one run, random seed, default faults
 *   bun run sim --seed 42             replay one run
 *   bun run sim --seeds 10000         a swarm of runs (seeds first..first+N-1), random fault mixes
 *
 * Every run prints its seed and fault settings; a failure prints the command
 * that replays it and the process exits 1.
 */
import { parseArgs } from "node:util";
import { Rng } from "./rng.ts";
import { type FaultConfig, runSimulation, type SimOptions, type SimResult } from "./sim.ts";

const USAGE = `usage: bun run sim [options]
  --seed N          run one simulation with this seed (default: random)
  --seeds N         run N simulations with seeds --seed, --seed+1, ...; each draws its own fault mix
  --peers N         peers per run (default 5)
  --loss P          datagram loss probability 0..1 (default 0.1)
  --duplicate P     duplication probability (default 0.05)
  --reorder P       probability a datagram is held back and overtaken (default 0.1)
  --corrupt P       probability one bit is flipped (default 0.02)
  --delay MS        one-way delay (default 5) --jitter MS (default 5)
  --crashes         crash and restart peers during the fault phase
  --partitions      partition the network during the fault phase
  --messages N      application messages per peer (default 200)
  --body-max BYTES  largest message body (default 3000; above ~1300 bytes messages are fragmented)
  --heal-at MS      virtual time when faults stop (default 20000)
  --verbose         print every run's result in a swarm`;

function main(): number {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (error) {
    console.error(`sim: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (name: string, value: string | undefined, fallback: number, max = Number.POSITIVE_INFINITY) => {
    if (value === undefined) return fallback;
    const v = Number(value);
    if (!Number.isFinite(v) || v < 0 || v > max)
      throw new Error(`--${name} must be a number in 0..${max}, got "${value}"`);
    return v;
  };
  let options: SimOptions;
  let seeds: number;
  try {
    const seed = Math.trunc(num("seed", args.seed, Math.floor(Math.random() * 2 ** 31)));
    seeds = Math.trunc(num("seeds", args.seeds, 0));
    const healAtMs = num("heal-at", args["heal-at"], 20_000);
    const faults: FaultConfig = {
      loss: num("loss", args.loss, 0.1, 1),
      duplicate: num("duplicate", args.duplicate, 0.05, 1),
      reorder: num("reorder", args.reorder, 0.1, 1),
      corrupt: num("corrupt", args.corrupt, 0.02, 1),
      delayMs: num("delay", args.delay, 5),
      jitterMs: num("jitter", args.jitter, 5),
      reorderMs: 30,
      partitionEveryMs: args.partitions ? 4000 : 0,
      partitionMs: 1500,
      crashEveryMs: args.crashes ? 3000 : 0,
      downMs: 500,
    };
    options = {
      seed,
      peers: Math.trunc(num("peers", args.peers, 5, 4096)),
      faults,
      workload: {
        messagesPerPeer: Math.trunc(num("messages", args.messages, 200)),
        sendWindowMs: Math.max(1000, healAtMs * 0.75),
        bodyBytesMin: 16,
        bodyBytesMax: Math.trunc(num("body-max", args["body-max"], 3000)),
      },
      healAtMs,
      endMs: healAtMs + 120_000,
      stepsMax: 20_000_000,
      startSpreadMs: 200,
    };
    if (options.peers < 1) throw new Error("--peers must be at least 1");
  } catch (error) {
    console.error(`sim: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  if (seeds === 0) {
    console.log(`sim: seed ${options.seed}, ${options.peers} peers, faults ${JSON.stringify(options.faults)}`);
    const result = timed(() => runSimulation(options));
    report(result.value, result.ms);
    return result.value.ok ? 0 : 1;
  }

  console.log(`sim: swarm of ${seeds} seeds from ${options.seed}; each seed draws its own fault mix`);
  const started = performance.now();
  let failures = 0;
  for (let i = 0; i < seeds; i++) {
    const runOptions = swarmOptions(options, options.seed + i);
    const result = timed(() => runSimulation(runOptions));
    if (!result.value.ok) {
      failures++;
      console.log(`FAIL seed ${runOptions.seed}: ${result.value.violations.join("; ")}`);
      console.log(`  replay: bun run sim ${replayArgs(runOptions)}`);
    } else if (args.verbose) {
      report(result.value, result.ms);
    }
    if ((i + 1) % 100 === 0 || i + 1 === seeds) {
      const elapsed = (performance.now() - started) / 1000;
      console.log(`sim: ${i + 1}/${seeds} seeds, ${failures} failed, ${elapsed.toFixed(0)} s`);
    }
  }
  console.log(`${seeds - failures} passed, ${failures} failed`);
  return failures === 0 ? 0 : 1;
}

/** A swarm seed picks its own mix of faults, so one swarm covers many settings. */
export function swarmOptions(base: SimOptions, seed: number): SimOptions {
  const r = new Rng(seed ^ 0x5a5a5a5a);
  const pick = <T>(values: T[]): T => values[r.int(0, values.length - 1)]!;
  return {
    ...base,
    seed,
    peers: pick([2, 3, 5, 8]),
    faults: {
      ...base.faults,
      loss: pick([0, 0.1, 0.3, 0.5]),
      duplicate: pick([0, 0.05, 0.2]),
      reorder: pick([0, 0.1, 0.3]),
      corrupt: pick([0, 0.02, 0.1]),
      delayMs: pick([1, 5, 20]),
      jitterMs: pick([0, 5, 20]),
      partitionEveryMs: r.chance(0.3) ? 3000 : 0,
      crashEveryMs: r.chance(0.3) ? 3000 : 0,
    },
    workload: { ...base.workload, messagesPerPeer: pick([20, 100]), sendWindowMs: 5000 },
    healAtMs: 8000,
    endMs: 8000 + 120_000,
  };
}

function replayArgs(o: SimOptions): string {
  const f = o.faults;
  return [
    `--seed ${o.seed} --peers ${o.peers} --loss ${f.loss} --duplicate ${f.duplicate} --reorder ${f.reorder}`,
    `--corrupt ${f.corrupt} --delay ${f.delayMs} --jitter ${f.jitterMs}`,
    f.crashEveryMs > 0 ? "--crashes" : "",
    f.partitionEveryMs > 0 ? "--partitions" : "",
    `--messages ${o.workload.messagesPerPeer} --body-max ${o.workload.bodyBytesMax} --heal-at ${o.healAtMs}`,
  ]
    .filter(Boolean)
    .join(" ");
}

function report(r: SimResult, wallMs: number): void {
  console.log(
    [
      `${r.ok ? "ok" : "FAILED"}: seed ${r.seed}`,
      `virtual ${(r.virtualMs / 1000).toFixed(2)} s in ${(wallMs / 1000).toFixed(2)} s wall (${(r.virtualMs / wallMs).toFixed(0)}x)`,
      `all READY at ${r.allReadyMs?.toFixed(1) ?? "never"} ms`,
      `${r.messagesSent} messages sent, ${r.messagesDelivered} delivered, ${r.messagesDroppedByRestart} dropped by restarts`,
      `${r.datagramsSent} datagrams, ${r.dataTransmissions} DATA frames of which ${r.dataRetransmissions} retransmissions`,
      `${r.crashes} crashes, ${r.partitions} partitions, ${r.steps} steps`,
    ].join("\n  "),
  );
  for (const v of r.violations) console.log(`  violation: ${v}`);
}

function timed<T>(f: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = f();
  return { value, ms: performance.now() - start };
}

function parse() {
  return parseArgs({
    options: {
      help: { type: "boolean", short: "h" },
      seed: { type: "string" },
      seeds: { type: "string" },
      peers: { type: "string" },
      loss: { type: "string" },
      duplicate: { type: "string" },
      reorder: { type: "string" },
      corrupt: { type: "string" },
      delay: { type: "string" },
      jitter: { type: "string" },
      crashes: { type: "boolean" },
      partitions: { type: "boolean" },
      messages: { type: "string" },
      "body-max": { type: "string" },
      "heal-at": { type: "string" },
      verbose: { type: "boolean" },
    },
    strict: true,
  }).values;
}

if (import.meta.main) process.exit(main());
