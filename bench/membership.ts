/**
 * Failure detection side by side: rollcall's detector against HashiCorp serf
 * (memberlist inside, Debian package `serf`), on loopback, in the same run.
 *
 *   apt-get install serf
 *   bun run bench/membership.ts [--part detect,false,bytes] [--runs 5] [--detect-sizes 5,20]
 *       [--false-size 20] [--losses 0.1,0.3] [--false-seconds 60] [--bytes-sizes 5,20,50] [--bytes-seconds 30]
 *       [--systems rollcall,rollcall@lan,serf] [--settle-ms 3000] [--detect-timeout 45] [--loss-tcp]
 *
 * Needs root (nft). Three groups of N members run at once, so the machine's
 * noise hits all of them alike:
 *   rollcall       rollcall's defaults (`bun src/cli/peer.ts`, one process per peer)
 *   rollcall@lan   rollcall at serf's timings: --protocol-period-ms 1000 --probe-timeout-ms 500
 *                  --indirect-probes 3 --suspicion-mult 4
 *   serf           `serf agent -profile=lan` (its default): memberlist's DefaultLANConfig, the same
 *                  four values (probe interval 1 s, probe timeout 500 ms, 3 indirect checks, suspicion
 *                  multiplier 4). serf's agent has no flag or config key for them (only the three
 *                  profiles lan, wan, local), so "equal periods" is rollcall at serf's.
 * Each agent is told every address (-retry-join, retry every 100 ms), as in bench/serf.ts.
 *
 * Parts:
 *   detect  after convergence and --settle-ms, SIGKILL the member with the same (random) index in
 *           every group at once; time until every survivor reports it failed: rollcall's
 *           `peer-failed` line (its own `ts`), serf's `serf: EventMemberFailed` log line (stamped
 *           when it arrives here: serf's log times have 1 s resolution; its event handlers are
 *           coalesced for 1-3 s, so they are not used). --runs runs per size.
 *   false   after convergence, drop a share of every UDP datagram of all groups for --false-seconds;
 *           count the failure reports in that window (every member is alive). TCP is not dropped
 *           (memberlist's TCP fallback ping and push/pull are part of its design) unless --loss-tcp.
 *   bytes   steady state (after convergence and 5 s), --bytes-seconds: UDP bytes and datagrams sent
 *           per member per second, IP packet length (payload + 28 bytes of headers); serf's TCP
 *           (push/pull, fallback pings, both directions) separately; CPU time per member (/proc).
 *
 * Loss and counters live in an nft table of this script's own (`inet rcbench`), matching each
 * group by its source-port range on lo: rollcall 18000-18499, rollcall@lan 18500-18999, serf
 * 19000-19499 (serf's RPC ports 19500-19999). Below Linux's ephemeral range (32768-60999) and
 * the tests' 20000-32000. Loss is dropped at the input hook, so senders see no error (an
 * output-hook drop returns EPERM to the sender). The table is deleted at the end and on SIGINT;
 * every process is SIGKILLed after each run.
 *
 * Output: progress lines, the tables, and last one JSON line with every run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serfAgentArgs } from "./lib/serf.ts";

const root = join(import.meta.dir, "..");
const PEER_MAIN = join(root, "src/cli/peer.ts");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const numbers = (text: string) => text.split(",").map(Number);
const PARTS = ["detect", "false", "bytes"] as const;
type Part = (typeof PARTS)[number];
const parts = arg("--part", PARTS.join(",")).split(",") as Part[];
for (const p of parts) {
  if (!PARTS.includes(p)) {
    console.error(`--part takes ${PARTS.join(", ")} (comma-separated), got "${p}"`);
    process.exit(2);
  }
}
const runs = Number(arg("--runs", "5"));
const detectSizes = numbers(arg("--detect-sizes", "5,20"));
const falseSize = Number(arg("--false-size", "20"));
const losses = numbers(arg("--losses", "0.1,0.3"));
const falseSeconds = Number(arg("--false-seconds", "60"));
const bytesSizes = numbers(arg("--bytes-sizes", "5,20,50"));
const bytesSeconds = Number(arg("--bytes-seconds", "30"));
const settleMs = Number(arg("--settle-ms", "3000"));
const detectTimeoutMs = Number(arg("--detect-timeout", "45")) * 1000;
/** Also drop serf's TCP (both directions of its gossip port) at the same rate: no free fallback. */
const lossTcp = process.argv.includes("--loss-tcp");
const BYTES_SETTLE_MS = 5000;
const CONVERGE_TIMEOUT_MS = 90_000;
const CLOCK_TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString()) || 100;

if (!Bun.which("serf") || !Bun.which("nft")) {
  console.error("needs serf and nft (apt-get install serf nftables) and root");
  process.exit(2);
}

// ---------------------------------------------------------------------------
// The three groups

type SystemKey = "rollcall" | "rollcall@lan" | "serf";
interface System {
  key: SystemKey;
  /** First of 500 ports; serf's RPC ports are 500 above its gossip ports. */
  portLo: number;
  /** Name of its nft counters. */
  tag: string;
  flags: string[];
}
const PORT_SPAN = 500;
const ALL_SYSTEMS: System[] = [
  { key: "rollcall", portLo: 18_000, tag: "rc", flags: [] },
  {
    key: "rollcall@lan",
    portLo: 18_500,
    tag: "rclan",
    flags: [
      "--protocol-period-ms",
      "1000",
      "--probe-timeout-ms",
      "500",
      "--indirect-probes",
      "3",
      "--suspicion-mult",
      "4",
    ],
  },
  { key: "serf", portLo: 19_000, tag: "serf", flags: ["-profile=lan"] },
];

const help = Bun.spawnSync([process.execPath, PEER_MAIN, "--help"], { cwd: root }).stdout.toString();
const detectorFlags = help.includes("--protocol-period-ms");
const only = arg("--systems", ALL_SYSTEMS.map((s) => s.key).join(",")).split(",");
const systems = ALL_SYSTEMS.filter((s) => only.includes(s.key) && (detectorFlags || s.key !== "rollcall@lan"));

interface Report {
  kind: "failed" | "suspect" | "alive" | "left";
  /** Indices from 0 (rollcall id - 1, serf node n<index>). */
  observer: number;
  victim: number;
  /** Rollcall: the id that reported it (-1 when unknown; serf's "suspect" is always the prober's own). */
  reporter: number;
  /** Epoch ms: rollcall's own `ts`; for serf, when the line arrived here. */
  at: number;
  /** Epoch ms when the line arrived here. */
  arrived: number;
  line: string;
}

/** Every process started and not yet reaped, and every group's directory, for SIGINT. */
const live = new Set<Bun.Subprocess>();
const dirs = new Set<string>();
const cursor = new Map<SystemKey, number>();

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string, at: number) => void) {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    const at = Date.now();
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line, at);
  }
}

const RC_EVENTS: Record<string, Report["kind"]> = {
  "peer-failed": "failed",
  "peer-suspect": "suspect",
  "peer-alive": "alive",
  "peer-left": "left",
};
const SERF_LINES: [RegExp, Report["kind"]][] = [
  [/serf: EventMemberFailed: n(\d+) /, "failed"],
  [/memberlist: Suspect n(\d+) has failed/, "suspect"],
  [/serf: EventMemberLeave: n(\d+) /, "left"],
];

class Group {
  readonly reports: Report[] = [];
  readonly procs: Bun.Subprocess<"ignore", "pipe", "pipe">[] = [];
  readonly ready: boolean[];
  readonly stderr: string[];
  /** serf: node names each agent has seen join. */
  private readonly joined: Set<string>[];
  private readonly dir = mkdtempSync(join(tmpdir(), "rcbench-"));

  constructor(
    readonly system: System,
    readonly n: number,
  ) {
    if (n > PORT_SPAN - 10) throw new Error(`at most ${PORT_SPAN - 10} members`);
    const offset = cursor.get(system.key) ?? Math.floor(Math.random() * PORT_SPAN);
    const start = offset + n > PORT_SPAN ? 0 : offset;
    cursor.set(system.key, start + n + 3);
    const ports = Array.from({ length: n }, (_, i) => system.portLo + start + i);
    this.ready = new Array(n).fill(false);
    this.stderr = new Array(n).fill("");
    this.joined = Array.from({ length: n }, () => new Set<string>());
    dirs.add(this.dir);
    const hosts = join(this.dir, "hosts");
    writeFileSync(hosts, `${ports.map((p) => `127.0.0.1:${p}`).join("\n")}\n`);
    for (let i = 0; i < n; i++) {
      const cmd =
        system.key === "serf"
          ? serfAgentArgs({
              index: i,
              gossipPort: ports[i]!,
              rpcPort: ports[i]! + PORT_SPAN,
              gossipPorts: ports,
              flags: system.flags,
              logLevel: "info",
            })
          : [
              process.execPath,
              PEER_MAIN,
              "-h",
              hosts,
              "--name",
              `127.0.0.1:${ports[i]}`,
              "--log-level",
              "info",
              ...system.flags,
            ];
      const proc = Bun.spawn(cmd, {
        cwd: system.key === "serf" ? this.dir : root,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      live.add(proc);
      void proc.exited.then(() => live.delete(proc));
      this.procs.push(proc);
      const onLine =
        system.key === "serf"
          ? (l: string, at: number) => this.serfLine(i, l, at)
          : (l: string, at: number) => this.rcLine(i, l, at);
      void readLines(proc.stdout, onLine);
      void readLines(proc.stderr, (l, at) => {
        if (system.key !== "serf" && l === "READY") this.ready[i] = true;
        else if (this.stderr[i]!.length < 4000) this.stderr[i] += `${l}\n`;
        if (system.key === "serf") onLine(l, at);
      });
    }
  }

  private rcLine(i: number, line: string, arrived: number): void {
    if (!line.includes('"event":"peer-')) return;
    const e = JSON.parse(line) as { ts: string; event: string; peer: number; reporter?: number };
    const kind = RC_EVENTS[e.event];
    if (kind === undefined) return;
    this.reports.push({
      kind,
      observer: i,
      victim: e.peer - 1,
      reporter: (e.reporter ?? 0) - 1,
      at: Date.parse(e.ts),
      arrived,
      line,
    });
  }

  private serfLine(i: number, line: string, at: number): void {
    const join = /serf: EventMemberJoin: (\S+) /.exec(line);
    if (join) {
      if (this.joined[i]!.has(join[1]!)) {
        const victim = Number(join[1]!.slice(1));
        this.reports.push({ kind: "alive", observer: i, victim, reporter: -1, at, arrived: at, line });
      }
      this.joined[i]!.add(join[1]!);
      if (this.joined[i]!.size === this.n) this.ready[i] = true;
      return;
    }
    for (const [re, kind] of SERF_LINES) {
      const m = re.exec(line);
      if (m) {
        const victim = Number(m[1]);
        this.reports.push({ kind, observer: i, victim, reporter: kind === "suspect" ? i : -1, at, arrived: at, line });
        return;
      }
    }
  }

  /** user + system clock ticks of all members so far (/proc/PID/stat fields 14 and 15). */
  cpuTicks(): number {
    let ticks = 0;
    for (const p of this.procs) {
      const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks;
  }

  converged(): boolean {
    return this.ready.every(Boolean);
  }

  /** Why a member that should be running is not. */
  exited(except: Set<number>): string | undefined {
    const i = this.procs.findIndex((p, j) => !except.has(j) && p.exitCode !== null);
    if (i < 0) return undefined;
    return `${this.system.key} member ${i} exited with ${this.procs[i]!.exitCode}: ${this.stderr[i]!.trim().slice(0, 600)}`;
  }

  /** Epoch ms at which each survivor first reported `victim` failed, at or after `since`. */
  failedTimes(victim: number, since: number): (number | undefined)[] {
    const first: (number | undefined)[] = new Array(this.n).fill(undefined);
    for (const r of this.reports) {
      if (r.kind === "failed" && r.victim === victim && r.at >= since && first[r.observer] === undefined)
        first[r.observer] = r.at;
    }
    return first.filter((_, i) => i !== victim);
  }

  within(from: number, to: number): Report[] {
    return this.reports.filter((r) => r.at >= from && r.at <= to);
  }

  async stop(): Promise<void> {
    for (const p of this.procs) p.kill("SIGKILL");
    await Promise.all(this.procs.map((p) => p.exited));
    rmSync(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}

async function startGroups(n: number): Promise<Group[]> {
  const groups: Group[] = [];
  try {
    for (const s of systems) groups.push(new Group(s, n));
    const deadline = performance.now() + CONVERGE_TIMEOUT_MS;
    while (!groups.every((g) => g.converged())) {
      for (const g of groups) {
        const why = g.exited(new Set());
        if (why) throw new Error(why);
      }
      if (performance.now() > deadline) {
        const missing = groups.map((g) => `${g.system.key}: ${g.ready.filter((r) => !r).length} of ${n} not converged`);
        throw new Error(`not converged in ${CONVERGE_TIMEOUT_MS / 1000} s (${missing.join("; ")})`);
      }
      await Bun.sleep(20);
    }
    return groups;
  } catch (error) {
    await stopAll(groups);
    throw error;
  }
}

const stopAll = (groups: Group[]) => Promise.all(groups.map((g) => g.stop()));

// ---------------------------------------------------------------------------
// nft: loss and counters

const TABLE = "rcbench";
const nftDir = mkdtempSync(join(tmpdir(), "rcbench-nft-"));
const nftFile = join(nftDir, "rules.nft");

function nft(script: string): void {
  writeFileSync(nftFile, script);
  const p = Bun.spawnSync(["nft", "-f", nftFile]);
  if (p.exitCode !== 0) throw new Error(`nft -f failed: ${p.stderr.toString()}\n${script}`);
}

const serf = () => ALL_SYSTEMS.find((s) => s.key === "serf")!;
function range(s: System): string {
  return `${s.portLo}-${s.portLo + PORT_SPAN - 1}`;
}

function createTable(): void {
  deleteTable();
  const counters = ALL_SYSTEMS.flatMap((s) => [`udp_${s.tag}`, `in_${s.tag}`, `drop_${s.tag}`]).concat(
    "tcp_serf",
    "droptcp_serf",
  );
  const serfRange = range(serf());
  nft(`table inet ${TABLE} {
  ${counters.map((c) => `counter ${c} { }`).join("\n  ")}
  chain out {
    type filter hook output priority 0; policy accept;
    ${ALL_SYSTEMS.map((s) => `oifname "lo" udp sport ${range(s)} counter name "udp_${s.tag}"`).join("\n    ")}
    oifname "lo" tcp sport ${serfRange} counter name "tcp_serf"
    oifname "lo" tcp dport ${serfRange} counter name "tcp_serf"
  }
  chain in {
    type filter hook input priority 0; policy accept;
    ${ALL_SYSTEMS.map((s) => `iifname "lo" udp sport ${range(s)} counter name "in_${s.tag}"`).join("\n    ")}
  }
  chain loss {
    type filter hook input priority 10; policy accept;
  }
}
`);
}

function setLoss(share: number): void {
  const percent = Math.round(share * 100);
  nft(
    `flush chain inet ${TABLE} loss\n` +
      ALL_SYSTEMS.map(
        (s) =>
          `add rule inet ${TABLE} loss iifname "lo" udp sport ${range(s)} numgen random mod 100 < ${percent} counter name "drop_${s.tag}" drop\n`,
      ).join("") +
      (lossTcp
        ? ["sport", "dport"]
            .map(
              (dir) =>
                `add rule inet ${TABLE} loss iifname "lo" tcp ${dir} ${range(serf())} numgen random mod 100 < ${percent} counter name "droptcp_serf" drop\n`,
            )
            .join("")
        : ""),
  );
}

function clearLoss(): void {
  nft(`flush chain inet ${TABLE} loss\n`);
}

function deleteTable(): void {
  Bun.spawnSync(["nft", "delete", "table", "inet", TABLE], { stderr: "ignore" });
}

type Counters = Record<string, { packets: number; bytes: number }>;
function readCounters(): Counters {
  const p = Bun.spawnSync(["nft", "-j", "list", "counters", "table", "inet", TABLE]);
  const out: Counters = {};
  for (const item of JSON.parse(p.stdout.toString()).nftables as {
    counter?: { name: string; packets: number; bytes: number };
  }[]) {
    if (item.counter) out[item.counter.name] = { packets: item.counter.packets, bytes: item.counter.bytes };
  }
  return out;
}
function diff(a: Counters, b: Counters, name: string): { packets: number; bytes: number } {
  return { packets: b[name]!.packets - a[name]!.packets, bytes: b[name]!.bytes - a[name]!.bytes };
}

let cleaning = false;
async function cleanupAndExit(code: number): Promise<never> {
  if (!cleaning) {
    cleaning = true;
    for (const p of live) p.kill("SIGKILL");
    deleteTable();
    for (const d of [nftDir, ...dirs]) rmSync(d, { recursive: true, force: true });
  }
  process.exit(code);
}
process.on("SIGINT", () => void cleanupAndExit(130));
process.on("SIGTERM", () => void cleanupAndExit(143));

// ---------------------------------------------------------------------------
// Statistics and tables

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "timeout");

function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  for (const r of cells)
    console.log(r.map((v, c) => (c === 0 ? v.padEnd(width[c]!) : v.padStart(width[c]!))).join("  "));
}

function failureSummary(reports: Report[]) {
  const failed = reports.filter((r) => r.kind === "failed");
  return {
    failedReports: failed.length,
    membersReportedFailed: new Set(failed.map((r) => r.victim)).size,
    suspicionsRaised: reports.filter((r) => r.kind === "suspect" && r.reporter === r.observer).length,
    aliveAgain: reports.filter((r) => r.kind === "alive").length,
  };
}

/**
 * For the record, the first few failure reports of `reports` that should not have been made, each
 * with what its observer logged about the same member from 10 s before to 5 s after.
 */
function excerpt(group: Group, reports: Report[]): string[][] {
  return reports
    .filter((r) => r.kind === "failed")
    .slice(0, 3)
    .map((f) =>
      group.reports
        .filter(
          (r) => r.observer === f.observer && r.victim === f.victim && r.at >= f.at - 10_000 && r.at <= f.at + 5000,
        )
        .map((r) => r.line.slice(0, 300)),
    );
}

// ---------------------------------------------------------------------------
// Parts

interface DetectRun {
  victim: number;
  /** Until every survivor reported it failed (Infinity: not all within the timeout). */
  allMs: number;
  firstMs: number;
  /** Until the first suspicion of it (rollcall: any member's peer-suspect; serf: a prober's "Suspect ... has failed"). */
  suspectMs: number;
  missing: number;
  /** rollcall: the longest delay from a failure report's own `ts` to its arrival here (serf's lines carry only arrival). */
  logLagMs: number;
  /** Failure reports about members that were not killed, from convergence to the end of the run. */
  otherFailures: number;
  otherExcerpt: string[][];
}

async function detect(n: number, run: number): Promise<Map<SystemKey, DetectRun>> {
  const groups = await startGroups(n);
  try {
    const convergedAt = Date.now();
    await Bun.sleep(settleMs);
    const victim = Math.floor(Math.random() * n);
    const killedAt = groups.map((g) => {
      const at = Date.now();
      g.procs[victim]!.kill("SIGKILL");
      return at;
    });
    const deadline = performance.now() + detectTimeoutMs;
    while (performance.now() < deadline) {
      if (groups.every((g, k) => g.failedTimes(victim, killedAt[k]!).every((t) => t !== undefined))) break;
      for (const g of groups) {
        const why = g.exited(new Set([victim]));
        if (why) throw new Error(why);
      }
      await Bun.sleep(20);
    }
    const end = Date.now();
    const result = new Map<SystemKey, DetectRun>();
    const parts: string[] = [];
    groups.forEach((g, k) => {
      const times = g
        .failedTimes(victim, killedAt[k]!)
        .map((t) => (t === undefined ? Number.POSITIVE_INFINITY : t - killedAt[k]!));
      const others = g.within(convergedAt, end).filter((r) => r.victim !== victim);
      const failed = g.reports.filter((x) => x.kind === "failed" && x.victim === victim && x.at >= killedAt[k]!);
      const suspected = g.reports.filter((x) => x.kind === "suspect" && x.victim === victim && x.at >= killedAt[k]!);
      const r: DetectRun = {
        victim,
        allMs: Math.max(...times),
        firstMs: Math.min(...times),
        suspectMs: Math.min(...suspected.map((x) => x.at - killedAt[k]!)),
        missing: times.filter((t) => !Number.isFinite(t)).length,
        logLagMs: Math.max(0, ...failed.map((x) => x.arrived - x.at)),
        otherFailures: others.filter((x) => x.kind === "failed").length,
        otherExcerpt: excerpt(g, others),
      };
      result.set(g.system.key, r);
      parts.push(
        `${g.system.key} ${ms(r.allMs)} ms (suspected ${ms(r.suspectMs)}, first failed ${ms(r.firstMs)}${r.missing ? `, ${r.missing} never` : ""}${r.otherFailures ? `, ${r.otherFailures} other failure reports` : ""})`,
      );
    });
    console.log(`  detect N=${n} run ${run + 1}/${runs}, victim index ${victim}: ${parts.join("; ")}`);
    return result;
  } finally {
    await stopAll(groups);
  }
}

interface FalseRun {
  loss: number;
  measuredLoss: number;
  beforeLoss: ReturnType<typeof failureSummary>;
  window: ReturnType<typeof failureSummary>;
  excerpt: string[][];
}

async function falseFailures(loss: number): Promise<Map<SystemKey, FalseRun>> {
  const groups = await startGroups(falseSize);
  try {
    const convergedAt = Date.now();
    await Bun.sleep(settleMs);
    const c0 = readCounters();
    const from = Date.now();
    setLoss(loss);
    try {
      await Bun.sleep(falseSeconds * 1000);
    } finally {
      clearLoss();
    }
    const to = Date.now();
    const c1 = readCounters();
    // Lines still in the pipes; and after a failure report, 5 s more of what followed it (for the excerpts).
    const reported = groups.some((g) => g.within(from, to).some((r) => r.kind === "failed"));
    await Bun.sleep(reported ? 5000 : 200);
    const result = new Map<SystemKey, FalseRun>();
    for (const g of groups) {
      const dropped = diff(c0, c1, `drop_${g.system.tag}`).packets;
      const arrived = diff(c0, c1, `in_${g.system.tag}`).packets;
      const window = g.within(from, to);
      result.set(g.system.key, {
        loss,
        measuredLoss: arrived > 0 ? dropped / arrived : 0,
        beforeLoss: failureSummary(g.within(convergedAt, from - 1)),
        window: failureSummary(window),
        excerpt: excerpt(g, window),
      });
    }
    const line = [...result].map(([k, r]) => `${k} ${r.window.failedReports} failure reports`).join("; ");
    console.log(`  false N=${falseSize} loss ${loss * 100}% for ${falseSeconds} s: ${line}`);
    return result;
  } finally {
    await stopAll(groups);
  }
}

interface BytesRun {
  n: number;
  udpBytesPerMemberPerS: number;
  udpDatagramsPerMemberPerS: number;
  tcpBytesPerMemberPerS?: number;
  /** CPU time (user + system) of the members over the window, % of one core, per member. */
  cpuPercentPerMember: number;
  failures: ReturnType<typeof failureSummary>;
}

async function bytes(n: number): Promise<Map<SystemKey, BytesRun>> {
  const groups = await startGroups(n);
  try {
    await Bun.sleep(BYTES_SETTLE_MS);
    const c0 = readCounters();
    const cpu0 = groups.map((g) => g.cpuTicks());
    const from = Date.now();
    await Bun.sleep(bytesSeconds * 1000);
    const c1 = readCounters();
    const cpu1 = groups.map((g) => g.cpuTicks());
    const to = Date.now();
    const seconds = (to - from) / 1000;
    const result = new Map<SystemKey, BytesRun>();
    for (const [k, g] of groups.entries()) {
      const udp = diff(c0, c1, `udp_${g.system.tag}`);
      result.set(g.system.key, {
        n,
        udpBytesPerMemberPerS: udp.bytes / n / seconds,
        udpDatagramsPerMemberPerS: udp.packets / n / seconds,
        tcpBytesPerMemberPerS: g.system.key === "serf" ? diff(c0, c1, "tcp_serf").bytes / n / seconds : undefined,
        cpuPercentPerMember: ((cpu1[k]! - cpu0[k]!) / CLOCK_TICKS / n / seconds) * 100,
        failures: failureSummary(g.within(from, to)),
      });
    }
    const line = [...result].map(([k, r]) => `${k} ${r.udpBytesPerMemberPerS.toFixed(0)} B/s`).join("; ");
    console.log(`  bytes N=${n}, ${seconds.toFixed(1)} s: ${line} (UDP per member)`);
    return result;
  } finally {
    await stopAll(groups);
  }
}

// ---------------------------------------------------------------------------
// Main

const serfVersion = Bun.spawnSync(["serf", "version"]).stdout.toString().split("\n")[0];
const serfPackage = Bun.spawnSync(["dpkg-query", "-W", "serf"]).stdout.toString().trim().split("\t")[1];
const git = (...args: string[]) =>
  Bun.spawnSync(["git", ...args], { cwd: root })
    .stdout.toString()
    .trim();
const commit = `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--", "src") ? " + uncommitted src changes" : ""}`;
console.log(
  `membership benchmark: rollcall ${commit}, parts ${parts}, bun ${Bun.version}, serf ${serfVersion} (Debian ${serfPackage}), ${navigator.hardwareConcurrency} cores`,
);
if (!detectorFlags) {
  console.log(
    "  (rollcall's peer has no --protocol-period-ms yet: rollcall@lan skipped, rollcall at its defaults only)",
  );
}
const started = performance.now();
const out: Record<string, unknown> = {
  bench: "membership",
  commit,
  bun: Bun.version,
  serf: serfVersion,
  serfPackage,
  systems: systems.map((s) => ({ key: s.key, flags: s.flags })),
};
createTable();
try {
  if (parts.includes("detect")) {
    const rows: { n: number; system: SystemKey; runs: DetectRun[] }[] = [];
    for (const n of detectSizes) {
      const byKey = new Map<SystemKey, DetectRun[]>(systems.map((s) => [s.key, []]));
      for (let r = 0; r < runs; r++) {
        for (const [k, v] of await detect(n, r)) byKey.get(k)!.push(v);
      }
      for (const [system, rs] of byKey) rows.push({ n, system, runs: rs });
    }
    console.log(`\nDetection: SIGKILL one member; ms until every survivor reports it failed (${runs} runs)`);
    table(
      [
        "N",
        "system",
        "all: median",
        "all: max",
        "suspected: median",
        "first: median",
        "runs not all",
        "other failure reports",
      ],
      rows.map((row) => [
        row.n,
        row.system,
        ms(median(row.runs.map((r) => r.allMs))),
        ms(Math.max(...row.runs.map((r) => r.allMs))),
        ms(median(row.runs.map((r) => r.suspectMs))),
        ms(median(row.runs.map((r) => r.firstMs))),
        row.runs.filter((r) => r.missing > 0).length,
        row.runs.reduce((s, r) => s + r.otherFailures, 0),
      ]),
    );
    out.detect = rows;
  }
  if (parts.includes("false")) {
    const rows: ({ system: SystemKey } & FalseRun)[] = [];
    for (const loss of losses) for (const [system, r] of await falseFailures(loss)) rows.push({ system, ...r });
    const what = lossTcp ? "UDP loss (and serf's TCP)" : "UDP loss";
    console.log(`\nFalse failures: N=${falseSize}, ${falseSeconds} s of ${what}, nobody killed`);
    table(
      [
        "loss",
        "system",
        "measured loss",
        "failure reports",
        "members reported failed",
        "suspicions raised",
        "alive again",
        "failure reports before loss",
      ],
      rows.map((r) => [
        `${r.loss * 100}%`,
        r.system,
        `${(r.measuredLoss * 100).toFixed(1)}%`,
        r.window.failedReports,
        r.window.membersReportedFailed,
        r.window.suspicionsRaised,
        r.window.aliveAgain,
        r.beforeLoss.failedReports,
      ]),
    );
    out.false = { n: falseSize, seconds: falseSeconds, lossTcp, rows };
  }
  if (parts.includes("bytes")) {
    const rows: ({ system: SystemKey } & BytesRun)[] = [];
    for (const n of bytesSizes) for (const [system, r] of await bytes(n)) rows.push({ system, ...r });
    console.log(`\nSteady state, no loss, ${bytesSeconds} s: sent per member per second (IP length)`);
    table(
      ["N", "system", "UDP B/s", "UDP datagrams/s", "serf TCP B/s", "CPU % of a core", "failure reports"],
      rows.map((r) => [
        r.n,
        r.system,
        r.udpBytesPerMemberPerS.toFixed(0),
        r.udpDatagramsPerMemberPerS.toFixed(1),
        r.tcpBytesPerMemberPerS === undefined ? "" : r.tcpBytesPerMemberPerS.toFixed(0),
        r.cpuPercentPerMember.toFixed(2),
        r.failures.failedReports,
      ]),
    );
    out.bytes = { seconds: bytesSeconds, rows };
  }
} finally {
  for (const p of live) p.kill("SIGKILL");
  deleteTable();
  rmSync(nftDir, { recursive: true, force: true });
}
console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
console.log(JSON.stringify(out));
