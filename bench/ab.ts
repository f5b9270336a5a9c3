/**
 * A/B benchmark: run one benchmark from two checkouts (before and after a
 * change) side by side in one run, and tell whether any ratio got worse by
 * more than 5%.
 *
 *   bun run bench/ab.ts --before DIR --after DIR --bench udp|codec [--pairs N] [--timeout S] [-- BENCH ARGS...]
 *
 *   --before DIR   checkout of the baseline (e.g. a `git worktree` of the commit before the change)
 *   --after DIR    checkout with the change
 *   --bench NAME   `udp` (bench/udp.ts) or `codec` (bench/codec.ts)
 *   --pairs N      number of before/after pairs (default 3): each side runs N times
 *   --timeout S    seconds before a child run is killed (default: generous, from the bench arguments)
 *   -- ARGS        passed unchanged to the benchmark, e.g. `-- --rounds 1 --seconds 1`
 *
 * Each run is a child process `bun run DIR/bench/NAME.ts ARGS` with cwd DIR,
 * started with the same Bun binary as this script, so only the code differs.
 * Runs alternate ABBA (before, after, after, before, ...) so that drift in
 * machine load hits both sides alike. The last stdout line of each run is the
 * benchmark's JSON result. Compared, as the median over the runs of a side:
 *   udp    every key of `ratios` (rollcall rate ÷ raw UDP rate): higher is better
 *   codec  every row's `ratio` by case and op (frame time ÷ protobuf time): lower is better
 * A ratio is "WORSE" when it moved in the bad direction by more than 5%
 * (after ÷ before < 0.95 when higher is better, > 1.05 when lower is better).
 * The benchmarks' own output goes to stderr (prefixed with the run); stdout has
 * the command line, the table and, last, one JSON line with everything.
 *
 * Exit status: 0 all ratios ok; 1 a ratio is WORSE, missing or not a number;
 * 2 bad arguments; 3 a child failed (non-zero exit, timeout, no JSON result).
 * Every child runs in its own process group, which is SIGKILLed after the run,
 * on timeout and on SIGINT/SIGTERM, so no benchmark process outlives this one.
 */
import { existsSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";

const TOLERANCE = 0.05;
const BENCHES = ["udp", "codec"] as const;
type BenchName = (typeof BENCHES)[number];
type Side = "before" | "after";

const USAGE = `usage: bun run bench/ab.ts --before DIR --after DIR --bench udp|codec [--pairs N] [--timeout S] [-- BENCH ARGS...]

  --before DIR   baseline checkout (must contain bench/<bench>.ts and node_modules)
  --after DIR    checkout with the change
  --bench NAME   udp | codec
  --pairs N      before/after pairs, alternating ABBA (default 3)
  --timeout S    seconds before a child run is killed (default: derived from the bench arguments)
  -- ARGS        passed to the benchmark, e.g. -- --rounds 1 --seconds 1

exit status: 0 ok, 1 a ratio got worse by more than ${TOLERANCE * 100}%, 2 usage, 3 a child failed`;

class UsageError extends Error {}

interface Options {
  before: string;
  after: string;
  bench: BenchName;
  pairs: number;
  timeoutS: number;
  benchArgs: string[];
}

/** Value of `--name N` in the benchmark's own arguments, or the benchmark's default. */
function benchNumber(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** A generous bound for one run, from the benchmark's arguments (at least 10 min for udp, 5 for codec). */
function defaultTimeoutS(bench: BenchName, args: string[]): number {
  if (bench === "udp") {
    // 7 variants per round; each takes its seconds plus start-up, with udp.ts's own
    // per-variant limits of 10 s + seconds + 20 s as the worst case.
    const rounds = benchNumber(args, "--rounds", 3);
    const seconds = benchNumber(args, "--seconds", 2);
    return Math.max(600, Math.ceil(7 * rounds * (seconds + 30) + 60));
  }
  // 2 cases × 2 ops × rounds × 2 measurements of ms each.
  const rounds = benchNumber(args, "--rounds", 9);
  const ms = benchNumber(args, "--ms", 150);
  return Math.max(300, Math.ceil((8 * rounds * ms * 10) / 1000 + 60));
}

function parseArgs(argv: string[]): Options {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const benchArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  const values = new Map<string, string>();
  for (let i = 0; i < own.length; i++) {
    const flag = own[i]!;
    if (!["--before", "--after", "--bench", "--pairs", "--timeout"].includes(flag)) {
      throw new UsageError(`unknown argument: ${flag}`);
    }
    const value = own[i + 1];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    values.set(flag, value);
    i++;
  }
  const bench = values.get("--bench");
  if (bench === undefined) throw new UsageError("--bench is required");
  if (!(BENCHES as readonly string[]).includes(bench)) {
    throw new UsageError(`--bench must be one of ${BENCHES.join(", ")}, not ${bench}`);
  }
  const benchName = bench as BenchName;
  const dirs: Record<Side, string> = { before: "", after: "" };
  for (const side of ["before", "after"] as const) {
    const given = values.get(`--${side}`);
    if (given === undefined) throw new UsageError(`--${side} is required`);
    const dir = resolve(given);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--${side}: no directory ${dir}`);
    if (!existsSync(`${dir}/bench/${benchName}.ts`)) {
      throw new UsageError(`--${side}: ${dir}/bench/${benchName}.ts does not exist`);
    }
    if (!existsSync(`${dir}/node_modules`)) {
      throw new UsageError(`--${side}: ${dir} has no node_modules (run npm ci there)`);
    }
    dirs[side] = dir;
  }
  const pairsText = values.get("--pairs") ?? "3";
  if (!/^[1-9][0-9]*$/.test(pairsText)) throw new UsageError(`--pairs must be a positive integer, not ${pairsText}`);
  const timeoutText = values.get("--timeout");
  let timeoutS = defaultTimeoutS(benchName, benchArgs);
  if (timeoutText !== undefined) {
    timeoutS = Number(timeoutText);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(timeoutText) || timeoutS <= 0) {
      throw new UsageError(`--timeout must be a positive number of seconds, not ${timeoutText}`);
    }
  }
  return { before: dirs.before, after: dirs.after, bench: benchName, pairs: Number(pairsText), timeoutS, benchArgs };
}

// ---------------------------------------------------------------- helpers

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
const commandLine = (args: string[]) => args.map(shellQuote).join(" ");

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** `git rev-parse --short HEAD` and whether tracked files differ from it; read-only, no index refresh. */
function gitDescribe(dir: string): { commit: string | null; dirty: boolean | null } {
  const run = (args: string[]) => {
    const r = Bun.spawnSync(["git", "--no-optional-locks", "-C", dir, ...args], { stdout: "pipe", stderr: "ignore" });
    return r.exitCode === 0 ? r.stdout.toString().trim() : null;
  };
  const commit = run(["rev-parse", "--short", "HEAD"]);
  const status = commit === null ? null : run(["status", "--porcelain", "--untracked-files=no"]);
  return { commit, dirty: status === null ? null : status.length > 0 };
}

class ChildFailure extends Error {}

/** Process group of the running child, to kill on our own exit. */
let activeGroup: number | undefined;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the whole group has already exited.
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (activeGroup !== undefined) killGroup(activeGroup);
    console.error(`ab: ${signal}, child killed`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

interface Run {
  side: Side;
  pair: number;
  durationMs: number;
  result: Record<string, unknown>;
}

/** Runs the benchmark once in `dir`; returns its last stdout line parsed as JSON. */
async function runOnce(opts: Options, side: Side, pair: number): Promise<Run> {
  const dir = opts[side];
  const cmd = [process.execPath, "run", `${dir}/bench/${opts.bench}.ts`, ...opts.benchArgs];
  const tag = `[${side} ${pair}]`;
  console.error(`${tag} cd ${shellQuote(dir)} && ${commandLine(cmd)}`);
  const start = performance.now();
  const proc = Bun.spawn(cmd, {
    cwd: dir,
    env: process.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
    detached: true, // own process group: the bench's own children die with it
  });
  activeGroup = proc.pid;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(proc.pid);
  }, opts.timeoutS * 1000);
  const lines: string[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    const emit = (line: string) => {
      lines.push(line);
      console.error(`${tag} ${line}`);
    };
    for await (const chunk of proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      let i = buffer.indexOf("\n");
      while (i >= 0) {
        emit(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        i = buffer.indexOf("\n");
      }
    }
    buffer += decoder.decode();
    if (buffer.length > 0) emit(buffer);
  })();
  const exitCode = await proc.exited;
  clearTimeout(timer);
  killGroup(proc.pid); // anything the bench left behind
  activeGroup = undefined;
  await reading;
  const durationMs = performance.now() - start;
  const seconds = (durationMs / 1000).toFixed(1);
  if (timedOut) throw new ChildFailure(`${tag} killed after the ${opts.timeoutS} s timeout`);
  if (exitCode !== 0) throw new ChildFailure(`${tag} exited with status ${exitCode} after ${seconds} s`);
  const last = lines.filter((l) => l.trim().length > 0).at(-1);
  let result: unknown;
  try {
    result = last === undefined ? undefined : JSON.parse(last);
  } catch {
    result = undefined;
  }
  if (typeof result !== "object" || result === null || Array.isArray(result)) {
    throw new ChildFailure(`${tag} last stdout line is not a JSON object: ${last ?? "(no output)"}`);
  }
  const record = result as Record<string, unknown>;
  if (record.bench !== opts.bench) {
    throw new ChildFailure(`${tag} result is for bench ${JSON.stringify(record.bench)}, expected ${opts.bench}`);
  }
  console.error(`${tag} done in ${seconds} s`);
  return { side, pair, durationMs, result: record };
}

// ---------------------------------------------------------------- comparison

/** Named ratios of one result; `label` keeps the full codec case name (it includes the frame size). */
function ratiosOf(bench: BenchName, result: Record<string, unknown>): Map<string, { value: number; label: string }> {
  const out = new Map<string, { value: number; label: string }>();
  const num = (v: unknown) => (typeof v === "number" ? v : Number.NaN); // JSON turns NaN/Infinity into null
  if (bench === "udp") {
    const ratios = result.ratios;
    if (typeof ratios !== "object" || ratios === null) throw new ChildFailure("udp result has no ratios object");
    for (const [name, v] of Object.entries(ratios)) out.set(name, { value: num(v), label: name });
  } else {
    const rows = result.rows;
    if (!Array.isArray(rows)) throw new ChildFailure("codec result has no rows array");
    for (const row of rows as Record<string, unknown>[]) {
      const fullCase = String(row.case);
      // "alive (96 B frame)" → "alive": the frame size may legitimately change between checkouts.
      const key = `${fullCase.replace(/\s*\(\d+ B frame\)$/, "")} ${String(row.op)}`;
      out.set(key, { value: num(row.ratio), label: `${fullCase} ${String(row.op)}` });
    }
  }
  return out;
}

interface Comparison {
  name: string;
  better: "higher" | "lower";
  before: { median: number; runs: number[]; labels: string[] };
  after: { median: number; runs: number[]; labels: string[] };
  afterOverBefore: number;
  verdict: "ok" | "WORSE" | "MISSING" | "INVALID";
}

function compare(bench: BenchName, runs: Run[]): Comparison[] {
  const better = bench === "udp" ? "higher" : "lower";
  const names: string[] = [];
  const values = new Map<string, Record<Side, { runs: number[]; labels: Set<string> }>>();
  for (const run of runs) {
    for (const [name, { value, label }] of ratiosOf(bench, run.result)) {
      if (!values.has(name)) {
        names.push(name);
        values.set(name, {
          before: { runs: [], labels: new Set() },
          after: { runs: [], labels: new Set() },
        });
      }
      const side = values.get(name)![run.side];
      side.runs.push(value);
      side.labels.add(label);
    }
  }
  const perSide = runs.filter((r) => r.side === "before").length;
  return names.map((name) => {
    const v = values.get(name)!;
    const b = median(v.before.runs);
    const a = median(v.after.runs);
    const q = a / b;
    let verdict: Comparison["verdict"];
    if (v.before.runs.length !== perSide || v.after.runs.length !== perSide) verdict = "MISSING";
    else if (![...v.before.runs, ...v.after.runs].every(Number.isFinite) || !Number.isFinite(q)) verdict = "INVALID";
    else if (better === "higher" ? q < 1 - TOLERANCE : q > 1 + TOLERANCE) verdict = "WORSE";
    else verdict = "ok";
    return {
      name,
      better,
      before: { median: b, runs: v.before.runs, labels: [...v.before.labels] },
      after: { median: a, runs: v.after.runs, labels: [...v.after.labels] },
      afterOverBefore: q,
      verdict,
    };
  });
}

function printTable(rows: Comparison[]): void {
  const f = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
  const list = (xs: number[]) => xs.map((x) => f(x)).join(" ");
  const header = ["ratio", "better", "before", "after", "after÷before", "verdict", "runs before | after"];
  const body = rows.map((r) => [
    r.name,
    r.better,
    f(r.before.median),
    f(r.after.median),
    f(r.afterOverBefore),
    r.verdict,
    `${list(r.before.runs)} | ${list(r.after.runs)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4]);
  const format = (row: string[]) =>
    row
      .map((cell, i) =>
        i === row.length - 1 ? cell : numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
      )
      .join("  ");
  console.log(format(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of body) console.log(format(row));
  for (const r of rows) {
    const both = r.before.labels.length > 0 && r.after.labels.length > 0;
    if (both && r.before.labels.join() !== r.after.labels.join()) {
      console.log(`note: ${r.name}: before measured ${r.before.labels.join(", ")}; after ${r.after.labels.join(", ")}`);
    }
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  if (own.includes("--help") || own.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let opts: Options;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`ab: ${e.message}\n\n${USAGE}`);
    return 2;
  }

  const script = relative(process.cwd(), process.argv[1]!);
  const invocation = `cd ${shellQuote(process.cwd())} && bun run ${commandLine([script.startsWith("..") ? process.argv[1]! : script, ...argv])}`;
  const git = { before: gitDescribe(opts.before), after: gitDescribe(opts.after) };
  const describe = (side: Side) => {
    const g = git[side];
    const rev = g.commit === null ? "not a git checkout" : `git ${g.commit}${g.dirty ? " + uncommitted changes" : ""}`;
    return `${opts[side]} (${rev})`;
  };
  const order: Side[] = [];
  for (let p = 0; p < opts.pairs; p++)
    order.push(...(p % 2 === 0 ? (["before", "after"] as const) : (["after", "before"] as const)));
  console.log(`command: ${invocation}`);
  console.log(`bun:     ${process.execPath} ${Bun.version} (used for both sides)`);
  console.log(`before:  ${describe("before")}`);
  console.log(`after:   ${describe("after")}`);
  console.log(`child:   cd DIR && bun run DIR/bench/${opts.bench}.ts ${commandLine(opts.benchArgs)}`.trimEnd());
  console.log(`runs:    ${opts.pairs} pairs, order ${order.join(", ")}; timeout ${opts.timeoutS} s per run`);

  const started = performance.now();
  const runs: Run[] = [];
  const pairOf = new Map<Side, number>([
    ["before", 0],
    ["after", 0],
  ]);
  try {
    for (const side of order) {
      const pair = pairOf.get(side)! + 1;
      pairOf.set(side, pair);
      runs.push(await runOnce(opts, side, pair));
    }
  } catch (e) {
    if (!(e instanceof ChildFailure)) throw e;
    console.error(`ab: ${e.message}`);
    console.log(`FAILED: ${e.message}`);
    return 3;
  }
  let rows: Comparison[];
  try {
    rows = compare(opts.bench, runs);
  } catch (e) {
    if (!(e instanceof ChildFailure)) throw e;
    console.log(`FAILED: ${e.message}`);
    return 3;
  }
  const durationMs = performance.now() - started;

  console.log(
    `\n${opts.bench}: median of ${opts.pairs} run(s) per side; verdict WORSE when a ratio moved the wrong way by more than ${TOLERANCE * 100}%`,
  );
  printTable(rows);
  if (opts.bench === "udp") {
    const lat = (side: Side, key: string) =>
      median(
        runs
          .filter((r) => r.side === side)
          .map((r) => Number((r.result.latencyMs as Record<string, unknown> | undefined)?.[key])),
      );
    console.log(
      `latency at 10,000 msgs/s (information, not judged): p50 ${lat("before", "p50").toFixed(2)} → ${lat("after", "p50").toFixed(2)} ms, p99 ${lat("before", "p99").toFixed(2)} → ${lat("after", "p99").toFixed(2)} ms`,
    );
  }
  const ok = rows.length > 0 && rows.every((r) => r.verdict === "ok");
  const runSeconds = runs.map((r) => `${r.side} ${(r.durationMs / 1000).toFixed(1)}`).join(", ");
  console.log(`run times (s): ${runSeconds}; total ${(durationMs / 1000).toFixed(1)} s`);
  console.log(ok ? "RESULT: ok, no ratio got worse by more than 5%" : "RESULT: WORSE (see verdict column)");
  console.log(
    JSON.stringify({
      tool: "ab",
      bench: opts.bench,
      command: invocation,
      bun: { path: process.execPath, version: Bun.version },
      before: { dir: opts.before, ...git.before },
      after: { dir: opts.after, ...git.after },
      pairs: opts.pairs,
      order,
      benchArgs: opts.benchArgs,
      timeoutS: opts.timeoutS,
      tolerance: TOLERANCE,
      ok,
      durationMs: Math.round(durationMs),
      ratios: rows,
      runs,
    }),
  );
  return ok ? 0 : 1;
}

process.exit(await main());
