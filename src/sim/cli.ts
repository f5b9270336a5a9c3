/**
 * `bun run sim`: run the network simulator from the command line.
 *
 *   bun run sim                       one run, random seed, default faults
 *   bun run sim --seed 42             replay one run
 *   bun run sim --seeds 10000         a swarm of runs (seeds first..first+N-1)
 *
 * In a swarm every setting given on the command line holds for every run;
 * each seed draws only the others (group size, fault mix, workload). Every
 * run's settings are printed in full for a failure, as a command that
 * replays it exactly; a failure makes the process exit 1.
 */
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import type { TotalAlgorithm } from "../group/ordered.ts";
import { DEFAULT_MEMBERSHIP_CONFIG, detectionBoundMs, type MembershipConfig } from "../membership/config.ts";
import { type ExactlyOnceOptions, type ExactlyOnceResult, runExactlyOnce } from "./exactly-once.ts";
import { Rng } from "./rng.ts";
import { runViews, type ViewsOptions, type ViewsResult } from "./views.ts";

const USAGE = `usage: bun run sim [options]
  --seed N          run one simulation with this seed (default: random)
  --seeds N         run N simulations with seeds --seed, --seed+1, ...; each draws the settings not given
  --peers N         peers per run (default 5; a swarm draws 2..50)
  --loss P          datagram loss probability 0..1 (default 0.1)
  --duplicate P     duplication probability (default 0.05)
  --reorder P       probability a datagram is held back and overtaken (default 0.1)
  --corrupt P       probability one bit is flipped (default 0.02)
  --delay MS        one-way delay (default 5) --jitter MS (default 5)
  --crashes         crash and restart peers during the fault phase (--no-crashes: never)
  --partitions      partition the network during the fault phase (--no-partitions: never)
  --key             key mode: every frame sealed (docs/security.md) (--no-key: plain)
  --adversary       an adversary forges and replays frames during the fault phase (--no-adversary: none)
  --messages N      application messages per peer (default 200)
  --body-max BYTES  largest message body (default 3000; above ~1300 bytes messages are fragmented)
  --send-window MS  virtual time over which each peer's messages are spread (default: 3/4 of --heal-at)
  --heal-at MS      virtual time when faults stop (default 20000)
  --jobs N          run a swarm in N processes at once (default: the number of CPUs, at most 8)
  --workload NAME   exactly-once (default: messages between pairs of peers) or views (the group layer:
                    views, virtual synchrony, state transfer; docs/groups.md) or total-order (the same,
                    every multicast in total order, checked for one order) or causal (every multicast
                    in causal order, checked against the happened-before of the sends) or safe (every
                    multicast in total order and safe, checked for uniform agreement and order)
  --total-algorithm A  total-order and safe: sequencer (default) or isis
  --burst N         views: each send is a burst of 1 to N multicasts in one go, gathered into one
                    message per member (default 1)
  --verbose         print every run's result in a swarm`;

/** Every setting of one run: what the replay line prints and the run is built from. */
export interface RunSettings {
  seed: number;
  peers: number;
  loss: number;
  duplicate: number;
  reorder: number;
  corrupt: number;
  delay: number;
  jitter: number;
  crashes: boolean;
  partitions: boolean;
  key: boolean;
  adversary: boolean;
  messages: number;
  bodyMax: number;
  sendWindow: number;
  healAt: number;
  workload: "exactly-once" | "views" | "total-order" | "causal" | "safe";
  /** total-order and safe: who orders (no draw, so older seeds replay). */
  totalAlgorithm: TotalAlgorithm;
  /** Views: multicasts per send, drawn from 1..burst (1: one, and no draw, so older seeds replay). */
  burst: number;
}

/**
 * The failure detector's settings for a simulated network: the defaults
 * (made for a LAN) with the probe timeout stretched to cover the slowest
 * round trip the fault model produces, as an operator would configure it.
 */
export function simMembership(s: RunSettings): Partial<MembershipConfig> {
  const oneWayMaxMs = s.delay + s.jitter + REORDER_MS;
  const probeTimeoutMs = Math.max(DEFAULT_MEMBERSHIP_CONFIG.probeTimeoutMs, 2 * oneWayMaxMs);
  return {
    probeTimeoutMs,
    protocolPeriodMs: Math.max(DEFAULT_MEMBERSHIP_CONFIG.protocolPeriodMs, 2 * probeTimeoutMs),
  };
}

/** How long a reordered datagram is held back. */
const REORDER_MS = 30;

/** Builds the simulator options from settings: the one path both single runs and swarms take. */
export function runOptions(s: RunSettings): ExactlyOnceOptions {
  const membership = simMembership(s);
  const longDownMs = detectionBoundMs({ ...DEFAULT_MEMBERSHIP_CONFIG, ...membership }, s.peers) + 1000;
  return {
    seed: s.seed,
    peers: s.peers,
    faults: {
      loss: s.loss,
      duplicate: s.duplicate,
      reorder: s.reorder,
      corrupt: s.corrupt,
      delayMs: s.delay,
      jitterMs: s.jitter,
      reorderMs: REORDER_MS,
      partitionEveryMs: s.partitions ? 4000 : 0,
      partitionMs: 1500,
      crashEveryMs: s.crashes ? 3000 : 0,
      downMs: 500,
      // One crash in four stays down until every other peer must have declared it failed.
      longDownChance: 0.25,
      longDownMs,
      // Old datagrams of restarted peers arrive again now and then; they must change nothing.
      replayRetired: s.crashes ? 0.02 : 0,
      adversaryEveryMs: s.adversary ? 20 : 0,
    },
    keyMode: s.key,
    membership,
    workload: { messagesPerPeer: s.messages, sendWindowMs: s.sendWindow, bodyBytesMin: 16, bodyBytesMax: s.bodyMax },
    healAtMs: s.healAt,
    // A long crash just before the heal restarts up to longDownMs later.
    endMs: s.healAt + longDownMs + 120_000,
    stepsMax: 50_000_000,
    startSpreadMs: 200,
  };
}

/** The settings a swarm seed draws for what the command line left open. */
export function drawSettings(given: Partial<RunSettings>, seed: number): RunSettings {
  const r = new Rng(seed ^ 0x5a5a5a5a);
  const pick = <T>(values: T[]): T => values[r.int(0, values.length - 1)]!;
  // Large groups in a fair share of seeds, small ones (where races are
  // likeliest) in most; a large group sends fewer messages per peer so a
  // 10,000-seed swarm stays within minutes.
  const size = r.float();
  const peers = given.peers ?? (size < 0.6 ? r.int(2, 8) : size < 0.8 ? r.int(9, 19) : r.int(20, 50));
  const healAt = given.healAt ?? 8000;
  return {
    seed,
    peers,
    loss: given.loss ?? pick([0, 0.1, 0.3, 0.5]),
    duplicate: given.duplicate ?? pick([0, 0.05, 0.2]),
    reorder: given.reorder ?? pick([0, 0.1, 0.3]),
    corrupt: given.corrupt ?? pick([0, 0.02, 0.1]),
    delay: given.delay ?? pick([1, 5, 20]),
    jitter: given.jitter ?? pick([0, 5, 20]),
    crashes: given.crashes ?? r.chance(0.3),
    partitions: given.partitions ?? r.chance(0.3),
    messages: given.messages ?? (peers >= 20 ? pick([5, 20]) : pick([20, 100])),
    // Drawn last, so that the settings drawn above stay what they were for every seed.
    key: given.key ?? r.chance(0.3),
    adversary: given.adversary ?? r.chance(0.3),
    bodyMax: given.bodyMax ?? 3000,
    sendWindow: given.sendWindow ?? 5000,
    healAt,
    workload: given.workload ?? "exactly-once",
    totalAlgorithm: given.totalAlgorithm ?? "sequencer",
    burst: given.burst ?? 1,
  };
}

function replayArgs(s: RunSettings): string {
  return [
    `--seed ${s.seed} --peers ${s.peers} --loss ${s.loss} --duplicate ${s.duplicate} --reorder ${s.reorder}`,
    `--corrupt ${s.corrupt} --delay ${s.delay} --jitter ${s.jitter}`,
    s.crashes ? "--crashes" : "--no-crashes",
    s.partitions ? "--partitions" : "--no-partitions",
    s.key ? "--key" : "--no-key",
    s.adversary ? "--adversary" : "--no-adversary",
    `--messages ${s.messages} --body-max ${s.bodyMax} --send-window ${s.sendWindow} --heal-at ${s.healAt}`,
    s.workload !== "exactly-once" ? `--workload ${s.workload}` : "",
    s.totalAlgorithm !== "sequencer" ? `--total-algorithm ${s.totalAlgorithm}` : "",
    s.burst > 1 ? `--burst ${s.burst}` : "",
  ]
    .filter((part) => part !== "")
    .join(" ");
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  let given: Partial<RunSettings>;
  let seed: number;
  let seeds: number;
  let jobs: number;
  try {
    args = parse();
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    const num = (name: string, max = Number.POSITIVE_INFINITY, integer = false) => {
      const value = args[name as keyof typeof args] as string | undefined;
      if (value === undefined) return undefined;
      const v = Number(value);
      if (!Number.isFinite(v) || v < 0 || v > max || (integer && !Number.isInteger(v)))
        throw new Error(`--${name} must be ${integer ? "an integer" : "a number"} in 0..${max}, got "${value}"`);
      return v;
    };
    const flag = (name: "crashes" | "partitions" | "key" | "adversary") => {
      if (args[name] && args[`no-${name}`]) throw new Error(`--${name} and --no-${name} contradict each other`);
      return args[name] ? true : args[`no-${name}`] ? false : undefined;
    };
    seed = num("seed", 2 ** 32 - 1, true) ?? Math.floor(Math.random() * 2 ** 31);
    seeds = num("seeds", 10_000_000, true) ?? 0;
    jobs = num("jobs", 64, true) ?? Math.min(8, availableParallelism());
    if (jobs < 1) throw new Error("--jobs must be at least 1");
    given = {
      peers: num("peers", 4096, true),
      loss: num("loss", 1),
      duplicate: num("duplicate", 1),
      reorder: num("reorder", 1),
      corrupt: num("corrupt", 1),
      delay: num("delay", 60_000),
      jitter: num("jitter", 60_000),
      crashes: flag("crashes"),
      partitions: flag("partitions"),
      key: flag("key"),
      adversary: flag("adversary"),
      messages: num("messages", 10_000_000, true),
      bodyMax: num("body-max", 1024 * 1024, true),
      sendWindow: num("send-window", 10_000_000),
      healAt: num("heal-at", 10_000_000),
      workload: workloadOf(args.workload as string | undefined),
      totalAlgorithm: algorithmOf(args["total-algorithm"] as string | undefined),
      burst: num("burst", 64, true),
    };
    if (given.peers !== undefined && given.peers < 1) throw new Error("--peers must be at least 1");
    if (given.bodyMax !== undefined && given.bodyMax < 16) throw new Error("--body-max must be at least 16");
  } catch (error) {
    console.error(`sim: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  if (seeds === 0) {
    const healAt = given.healAt ?? 20_000;
    const settings: RunSettings = {
      seed,
      peers: given.peers ?? 5,
      loss: given.loss ?? 0.1,
      duplicate: given.duplicate ?? 0.05,
      reorder: given.reorder ?? 0.1,
      corrupt: given.corrupt ?? 0.02,
      delay: given.delay ?? 5,
      jitter: given.jitter ?? 5,
      crashes: given.crashes ?? false,
      partitions: given.partitions ?? false,
      key: given.key ?? false,
      adversary: given.adversary ?? false,
      messages: given.messages ?? 200,
      bodyMax: given.bodyMax ?? 3000,
      sendWindow: given.sendWindow ?? Math.max(1000, healAt * 0.75),
      healAt,
      workload: given.workload ?? "exactly-once",
      totalAlgorithm: given.totalAlgorithm ?? "sequencer",
      burst: given.burst ?? 1,
    };
    console.log(`sim: ${replayArgs(settings)}`);
    if (settings.workload !== "exactly-once") {
      const result = timed(() => runViews(viewsOptions(settings)));
      reportViews(result.value, result.ms, settings);
      return result.value.ok ? 0 : 1;
    }
    const result = timed(() => runExactlyOnce(runOptions(settings)));
    report(result.value, result.ms, settings);
    return result.value.ok ? 0 : 1;
  }

  if (jobs > 1 && seeds >= 2 * jobs) return runInProcesses(seed, seeds, jobs);

  const fixed = Object.entries(given)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  console.log(
    `sim: swarm of ${seeds} seeds from ${seed}; fixed: ${fixed.length > 0 ? fixed.join(" ") : "nothing"}; each seed draws the rest`,
  );
  const started = performance.now();
  let failures = 0;
  const sizes = { small: 0, medium: 0, large: 0 };
  let largest = 0;
  for (let i = 0; i < seeds; i++) {
    const settings = drawSettings(given, seed + i);
    if (settings.peers >= 20) sizes.large++;
    else if (settings.peers >= 9) sizes.medium++;
    else sizes.small++;
    largest = Math.max(largest, settings.peers);
    if (settings.workload !== "exactly-once") {
      const result = timed(() => runViews(viewsOptions(settings)));
      if (!result.value.ok) {
        failures++;
        console.log(`FAIL seed ${settings.seed}: ${result.value.violations.join("; ")}`);
        console.log(`  replay: bun run sim ${replayArgs(settings)}`);
      } else if (args.verbose) reportViews(result.value, result.ms, settings);
    } else {
      const result = timed(() => runExactlyOnce(runOptions(settings)));
      if (!result.value.ok) {
        failures++;
        console.log(`FAIL seed ${settings.seed}: ${result.value.violations.join("; ")}`);
        console.log(`  replay: bun run sim ${replayArgs(settings)}`);
      } else if (args.verbose) {
        report(result.value, result.ms, settings);
      }
    }
    if ((i + 1) % 100 === 0 || i + 1 === seeds) {
      const elapsed = (performance.now() - started) / 1000;
      console.log(`sim: ${i + 1}/${seeds} seeds, ${failures} failed, ${elapsed.toFixed(0)} s`);
    }
  }
  console.log(
    `sim: group sizes: ${sizes.small} runs of 2-8 peers, ${sizes.medium} of 9-19, ${sizes.large} of 20 or more (largest ${largest})`,
  );
  console.log(`${seeds - failures} passed, ${failures} failed`);
  return failures === 0 ? 0 : 1;
}

/**
 * A swarm split across `jobs` processes, each running a contiguous range of
 * seeds with the same flags; their failures are printed as they come and
 * their totals added up.
 */
async function runInProcesses(first: number, seeds: number, jobs: number): Promise<number> {
  const passThrough: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--seed" || a === "--seeds" || a === "--jobs") i++;
    else if (!a.startsWith("--seed=") && !a.startsWith("--seeds=") && !a.startsWith("--jobs=")) passThrough.push(a);
  }
  console.log(
    `sim: swarm of ${seeds} seeds from ${first} in ${jobs} processes; ${passThrough.join(" ") || "nothing fixed"}`,
  );
  const started = performance.now();
  const done = new Array<number>(jobs).fill(0);
  const totals = { passed: 0, failed: 0, small: 0, medium: 0, large: 0, largest: 0 };
  let reported = 0;
  const chunk = Math.ceil(seeds / jobs);
  const children = Array.from({ length: jobs }, (_, j) => {
    const start = first + j * chunk;
    const count = Math.max(0, Math.min(chunk, seeds - j * chunk));
    return { start, count };
  }).filter((c) => c.count > 0);
  const runs = children.map(async ({ start, count }, j) => {
    const child = Bun.spawn(
      [
        process.execPath,
        import.meta.path,
        ...passThrough,
        "--seed",
        String(start),
        "--seeds",
        String(count),
        "--jobs",
        "1",
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    let buffered = "";
    for await (const chunkBytes of child.stdout) {
      buffered += new TextDecoder().decode(chunkBytes);
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const progress = /^sim: (\d+)\/\d+ seeds/.exec(line);
        const sizes =
          /^sim: group sizes: (\d+) runs of 2-8 peers, (\d+) of 9-19, (\d+) of 20 or more \(largest (\d+)\)/.exec(line);
        const result = /^(\d+) passed, (\d+) failed$/.exec(line);
        if (progress) {
          done[j] = Number(progress[1]);
          const total = done.reduce((a, b) => a + b, 0);
          if (total - reported >= 500 || total === seeds) {
            reported = total;
            const elapsed = (performance.now() - started) / 1000;
            console.log(`sim: ${total}/${seeds} seeds, ${totals.failed} failed so far, ${elapsed.toFixed(0)} s`);
          }
        } else if (sizes) {
          totals.small += Number(sizes[1]);
          totals.medium += Number(sizes[2]);
          totals.large += Number(sizes[3]);
          totals.largest = Math.max(totals.largest, Number(sizes[4]));
        } else if (result) {
          totals.passed += Number(result[1]);
        } else if (line.startsWith("FAIL ")) {
          totals.failed++;
          console.log(line);
        } else if (!line.startsWith("sim: swarm of")) {
          console.log(line);
        }
      }
    }
    return child.exited;
  });
  const codes = await Promise.all(runs);
  console.log(
    `sim: group sizes: ${totals.small} runs of 2-8 peers, ${totals.medium} of 9-19, ${totals.large} of 20 or more (largest ${totals.largest})`,
  );
  const crashed = codes.filter((c) => c !== 0 && c !== 1).length;
  if (crashed > 0) console.log(`sim: ${crashed} of ${children.length} processes failed to run`);
  console.log(`${totals.passed} passed, ${seeds - totals.passed} failed`);
  console.log(`sim: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return totals.passed === seeds ? 0 : 1;
}

function workloadOf(value: string | undefined): RunSettings["workload"] | undefined {
  if (value === undefined) return undefined;
  if (
    value === "exactly-once" ||
    value === "views" ||
    value === "total-order" ||
    value === "causal" ||
    value === "safe"
  )
    return value;
  throw new Error(`--workload must be exactly-once, views, total-order, causal or safe, got "${value}"`);
}

function algorithmOf(value: string | undefined): TotalAlgorithm | undefined {
  if (value === undefined) return undefined;
  if (value === "sequencer" || value === "isis") return value;
  throw new Error(`--total-algorithm must be sequencer or isis, got "${value}"`);
}

/** The views workload's options: the same network and faults as any run, multicasts in place of pair messages. */
export function viewsOptions(s: RunSettings): ViewsOptions {
  const { workload: _, ...rest } = runOptions(s);
  return {
    ...rest,
    workload: {
      messagesPerPeer: s.messages,
      sendWindowMs: s.sendWindow,
      burstMax: s.burst,
      order:
        s.workload === "total-order" || s.workload === "safe" ? "total" : s.workload === "causal" ? "causal" : "fifo",
      algorithm: s.totalAlgorithm,
      safe: s.workload === "safe",
    },
  };
}

function reportViews(r: ViewsResult, wallMs: number, s: RunSettings): void {
  console.log(
    [
      `${r.ok ? "ok" : "FAILED"}: seed ${r.seed}, ${s.peers} peers, views workload`,
      `virtual ${(r.virtualMs / 1000).toFixed(2)} s in ${(wallMs / 1000).toFixed(2)} s wall`,
      `${r.views} views installed, ${r.multicasts} multicasts, ${r.deliveries} deliveries, ${r.stateTransfers} state transfers`,
      `${r.crashes} crashes, ${r.partitions} partitions; one view with every live process ${r.convergedAfterHealMs === undefined ? "never reached" : `${r.convergedAfterHealMs.toFixed(0)} ms after the faults stopped`}`,
    ].join("\n  "),
  );
  for (const v of r.violations) console.log(`  violation: ${v}`);
  if (!r.ok) console.log(`  replay: bun run sim ${replayArgs(s)}`);
}

function report(r: ExactlyOnceResult, wallMs: number, s: RunSettings): void {
  console.log(
    [
      `${r.ok ? "ok" : "FAILED"}: seed ${r.seed}, ${s.peers} peers`,
      `virtual ${(r.virtualMs / 1000).toFixed(2)} s in ${(wallMs / 1000).toFixed(2)} s wall (${(r.virtualMs / wallMs).toFixed(0)}x)`,
      `all READY at ${r.allReadyMs?.toFixed(1) ?? "never"} ms`,
      accountingSummary(r),
      `${r.datagramsSent} datagrams, ${r.dataTransmissions} DATA frames of which ${r.dataRetransmissions} retransmissions`,
      `${r.crashes} crashes, ${r.partitions} partitions, ${r.retiredReplays} replayed datagrams of retired processes, ${r.adversaryActions} adversary actions${s.key ? " (key mode)" : ""}${r.adversaryActions > 0 ? ` (${r.adversaryChallengeReplays} challenges replayed, ${r.adversaryDownGoodbyes} goodbyes from down members' addresses)` : ""}, ${r.steps} steps`,
      membershipSummary(r),
    ].join("\n  "),
  );
  for (const v of r.violations) console.log(`  violation: ${v}`);
  if (!r.ok) console.log(`  replay: bun run sim ${replayArgs(s)}`);
}

/** Where every accepted message went; the parts add up to the total. */
function accountingSummary(r: ExactlyOnceResult): string {
  const a = r.accounting;
  return [
    `${a.accepted} messages accepted by send() = ${a.delivered} delivered + ${a.droppedByRestart} dropped by receiver restarts`,
    `+ ${a.lostWithCrashedSender} lost with crashed senders + ${a.unaccounted} unaccounted`,
    `(also: ${a.deliveredButReportedDropped} delivered though reported dropped, unacknowledged when the restart was seen;`,
    `${a.withdrawn} refused with queue-full and withdrawn at a restart)`,
  ].join(" ");
}

function membershipSummary(r: ExactlyOnceResult): string {
  const m = r.membership;
  if (m === undefined) return "failure detector off";
  const sorted = [...m.detectionsMs].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? "-" : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(0);
  return [
    `failure detector: ${m.falseFailures} false failures (${m.accuracyEnforced ? "not allowed here" : "allowed: partitions or loss over 10%"})`,
    `${m.detectionsMs.length} detections of crashed peers, median ${at(0.5)} ms, max ${at(1)} ms; ${m.obligationsChecked} checked against the bound`,
  ].join(", ");
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
      "no-crashes": { type: "boolean" },
      partitions: { type: "boolean" },
      "no-partitions": { type: "boolean" },
      key: { type: "boolean" },
      "no-key": { type: "boolean" },
      adversary: { type: "boolean" },
      "no-adversary": { type: "boolean" },
      messages: { type: "string" },
      "body-max": { type: "string" },
      "send-window": { type: "string" },
      "heal-at": { type: "string" },
      verbose: { type: "boolean" },
      jobs: { type: "string" },
      workload: { type: "string" },
      burst: { type: "string" },
      "total-algorithm": { type: "string" },
    },
    strict: true,
  }).values;
}

if (import.meta.main) process.exit(await main());
