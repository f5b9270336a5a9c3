/**
 * Ordered multicast's cost, side by side with plain broadcast and FIFO group
 * multicast in one run (docs/groups.md, "Ordered multicast"; issue 21): N
 * group members (3, 5 and 9) in this process on loopback, EVERY member
 * sending 100-byte messages at once, in six variants: `peer.broadcast` (a
 * reliable stream to each other member), and `multicast(body, options)` with
 * `{ order: "fifo" }`, `{ order: "causal" }`, `{ order: "total" }` (the
 * view's sequencer, its lowest-id member, multicasts the assignments),
 * `{ order: "total", algorithm: "isis" }` ("isis": every member multicasts
 * its proposals) and `{ order: "total", safe: true }` ("safe": the
 * sequencer's order, and every member multicasts its receipts).
 *
 * Saturated rate: each member sends its share of `--messages` as fast as the
 * API takes them (yielding every 256, retrying a refusal after a sleep(0); a
 * broadcast that some streams refused is retried to those streams only, so
 * every member gets each message once). What is counted: messages from the
 * OTHER members delivered at a member, per second, from the first send until
 * every member has delivered all of them (group variants: and its own, which
 * a total-order sender holds until it is ordered too). The same count for
 * every variant, so the ratios compare like with like.
 *
 * Latency: every member paces, in 1 ms ticks, at its share of half the
 * variant's saturated rate (the median) for one second; each body carries
 * `performance.now()` (one process, one clock); p50 and p99 of the one-way
 * latency of every delivery from another member; "drain" is how long the
 * last deliveries came after the last send (long: the pace was too much).
 *
 * Rounds (default 5 of 60,000 messages) run every variant once, in an order
 * that rotates from round to round, so that the machine's drift hits all
 * alike: first the saturated rounds, then the paced ones. Reported: medians,
 * for ratios the median of each round's own ratio (with the rounds' range),
 * and "views", new views installed while a variant ran (a member suspected
 * under load: that variant's numbers are then not a clean run). A round not
 * done in 30 s aborts the bench, naming the variant and N.
 *
 *   bun run bench/multicast.ts [--sizes 3,5,9] [--messages N] [--rounds R]
 */
import { parseArgs } from "node:util";
import type { MulticastOptions } from "../src/group/ordered.ts";
import { type RollcallGroup, startGroup } from "../src/runtime/start-group.ts";
import { portBlock } from "../test/process/group.ts";

const { values } = parseArgs({
  options: { sizes: { type: "string" }, messages: { type: "string" }, rounds: { type: "string" } },
});
const SIZES = (values.sizes ?? "3,5,9").split(",").map(Number);
/** Messages sent per saturated round, all members together (each sends its share). */
const MESSAGES = Number(values.messages ?? 60_000);
const ROUNDS = Number(values.rounds ?? 5);
if (!SIZES.every((n) => Number.isInteger(n) && n >= 2) || !(MESSAGES >= 1) || !(ROUNDS >= 1)) {
  console.error("usage: bun run bench/multicast.ts [--sizes 3,5,9] [--messages N] [--rounds R]");
  process.exit(2);
}
const BODY_BYTES = 100;
const PACED_MS = 1000;
/** A round (or the group's start) that takes longer aborts the bench. */
const ROUND_TIMEOUT_MS = 30_000;

const VARIANTS = ["broadcast", "fifo", "causal", "total", "isis", "safe"] as const;
type Variant = (typeof VARIANTS)[number];
/** Each group variant's multicast options. */
const HOW: Record<Exclude<Variant, "broadcast">, MulticastOptions> = {
  fifo: { order: "fifo" },
  causal: { order: "causal" },
  total: { order: "total" },
  isis: { order: "total", algorithm: "isis" },
  safe: { order: "total", safe: true },
};
const perVariant = <T>(f: (v: Variant) => T) =>
  Object.fromEntries(VARIANTS.map((v) => [v, f(v)])) as Record<Variant, T>;

interface Bench {
  n: number;
  members: RollcallGroup[];
  /** Per member (index = id - 1): messages delivered from the other members, and its own (group variants). */
  fromOthers: number[];
  own: number[];
  /** One-way latencies (ms) of deliveries from other members of latency-flagged bodies. */
  latenciesMs: number[];
  /** Views installed after the group formed (each counted once): a failure detector firing under load shows here. */
  views: Set<number>;
}

const stamp = (body: Uint8Array) => new DataView(body.buffer, body.byteOffset).getFloat64(0);

function body(latency: boolean): Uint8Array {
  const b = new Uint8Array(BODY_BYTES);
  new DataView(b.buffer).setFloat64(0, performance.now());
  b[8] = latency ? 1 : 0;
  return b;
}

const timedOut = (what: string) => new Error(`${what}: not done in ${ROUND_TIMEOUT_MS / 1000} s`);

async function until(done: () => boolean, deadline: number, what: string): Promise<void> {
  while (!done()) {
    if (performance.now() > deadline) throw timedOut(what);
    await Bun.sleep(1);
  }
}

async function group(n: number, opened: RollcallGroup[]): Promise<Bench> {
  const base = portBlock(n);
  const hosts = Array.from({ length: n }, (_, i) => `127.0.0.1:${base + i}`);
  const b: Bench = {
    n,
    members: [],
    fromOthers: new Array<number>(n).fill(0),
    own: new Array<number>(n).fill(0),
    latenciesMs: [],
    views: new Set<number>(),
  };
  let formed = false;
  const fromOther = (i: number, body: Uint8Array) => {
    b.fromOthers[i]!++;
    if (body[8] === 1) b.latenciesMs.push(performance.now() - stamp(body));
  };
  for (const [i, name] of hosts.entries()) {
    const m = await startGroup({
      hosts,
      name,
      onEvent: (e) => {
        if (e.type === "message") fromOther(i, e.body);
      },
      onGroupEvent: (e) => {
        if (e.type === "view" && formed) b.views.add(e.viewId);
        if (e.type !== "message") return;
        if (e.from === i + 1) b.own[i]!++;
        else fromOther(i, e.body);
      },
    });
    opened.push(m);
    b.members.push(m);
  }
  const deadline = performance.now() + ROUND_TIMEOUT_MS;
  await until(
    () => b.members.every((m) => m.isMember && m.view?.members.length === n),
    deadline,
    `forming the group of N = ${n}`,
  );
  formed = true;
  return b;
}

/**
 * Sends one message from `m` in `variant` without waiting: true when every
 * member took it, false when a group multicast was refused (nothing sent:
 * try again later), or the peers whose stream refused a broadcast (owed to
 * them only: `sendOwed`).
 */
function trySend(m: RollcallGroup, variant: Variant, b: Uint8Array): boolean | { peer: number }[] {
  if (variant !== "broadcast") return m.multicast(b, HOW[variant]).ok;
  const r = m.peer.broadcast(b);
  return r.ok || r.refused;
}

/** Every member sends `perMember` as fast as the API takes them; messages from others delivered per second per member. */
async function saturated(g: Bench, variant: Variant, perMember: number): Promise<number> {
  const what = `${variant} at N = ${g.n}`;
  const others0 = g.fromOthers.slice();
  const own0 = g.own.slice();
  const t0 = performance.now();
  const deadline = t0 + ROUND_TIMEOUT_MS;
  await Promise.all(
    g.members.map(async (m) => {
      let sent = 0;
      while (sent < perMember) {
        const b = body(false);
        const r = trySend(m, variant, b);
        if (r === false) {
          if (performance.now() > deadline) throw timedOut(what);
          await Bun.sleep(0);
          continue;
        }
        if (r !== true) await sendOwed(m, b, r, deadline, what);
        if (++sent % 256 === 0) await Bun.sleep(0);
      }
    }),
  );
  const expected = (g.n - 1) * perMember;
  await until(
    () =>
      g.fromOthers.every((r, i) => r - others0[i]! >= expected) &&
      (variant === "broadcast" || g.own.every((r, i) => r - own0[i]! >= perMember)),
    deadline,
    what,
  );
  return expected / ((performance.now() - t0) / 1000);
}

/** A broadcast that some streams refused is owed to those only: each member gets every message once. */
async function sendOwed(
  m: RollcallGroup,
  b: Uint8Array,
  refused: { peer: number }[],
  deadline: number,
  what: string,
): Promise<void> {
  let owed = refused.map((x) => x.peer);
  while (owed.length > 0) {
    if (performance.now() > deadline) throw timedOut(what);
    await Bun.sleep(0);
    owed = owed.filter((to) => !m.peer.send(to, b).ok);
  }
}

/**
 * Every member paced at `perMemberRate` sends a second, in 1 ms ticks, for
 * PACED_MS: p50 and p99 one-way latency (ms), and how long after the last
 * send everything was delivered (long when the pace was more than it takes).
 */
async function paced(
  g: Bench,
  variant: Variant,
  perMemberRate: number,
): Promise<{ p50: number; p99: number; drainMs: number }> {
  const what = `${variant} at N = ${g.n}, paced`;
  g.latenciesMs.length = 0;
  const others0 = g.fromOthers.slice();
  const own0 = g.own.slice();
  const sent = new Array<number>(g.n).fill(0);
  const t0 = performance.now();
  const deadline = t0 + ROUND_TIMEOUT_MS;
  while (performance.now() - t0 < PACED_MS) {
    const due = Math.floor(((performance.now() - t0) / 1000) * perMemberRate);
    for (const [i, m] of g.members.entries())
      while (sent[i]! < due) {
        const b = body(true);
        const r = trySend(m, variant, b);
        if (r === false) break; // refused: tried again at the next tick
        if (r !== true) await sendOwed(m, b, r, deadline, what);
        sent[i]!++;
      }
    await Bun.sleep(1);
  }
  const total = sent.reduce((a, x) => a + x, 0);
  const tEnd = performance.now();
  await until(
    () =>
      g.fromOthers.every((r, i) => r - others0[i]! >= total - sent[i]!) &&
      (variant === "broadcast" || g.own.every((r, i) => r - own0[i]! >= sent[i]!)),
    deadline,
    what,
  );
  const drainMs = performance.now() - tEnd;
  const sorted = Float64Array.from(g.latenciesMs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), drainMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rotated = (round: number) => VARIANTS.map((_, k) => VARIANTS[(round + k) % VARIANTS.length]!);
const int = (x: number) => Math.round(x).toLocaleString("en-US");
const ratioText = (xs: number[]) =>
  `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;

interface Result {
  n: number;
  rate: Record<Variant, number>;
  /** Median of the rounds' ratios: fifo over broadcast, each other group variant over fifo. */
  ratio: Record<Variant, number>;
  p50: Record<Variant, number>;
  p99: Record<Variant, number>;
}

async function run(n: number, opened: RollcallGroup[]): Promise<Result> {
  const g = await group(n, opened);
  const perMember = Math.max(1, Math.floor(MESSAGES / n));
  // New views installed while a variant ran (a member suspected under load): the run is then not a clean one.
  const views = perVariant(() => 0);
  const watched = async <T>(v: Variant, f: () => Promise<T>): Promise<T> => {
    const before = g.views.size;
    const result = await f();
    views[v] += g.views.size - before;
    return result;
  };
  // Warm-up, not counted: the JIT and the streams' windows.
  for (const v of VARIANTS) await watched(v, () => saturated(g, v, Math.max(1, Math.floor(perMember / 5))));
  const rates = perVariant((): number[] => []);
  for (let round = 0; round < ROUNDS; round++)
    for (const v of rotated(round)) rates[v].push(await watched(v, () => saturated(g, v, perMember)));
  const rate = perVariant((v) => median(rates[v]));
  // Each round's variants ran back to back: their ratio sees the same machine state.
  const base = (v: Variant): Variant => (v === "fifo" ? "broadcast" : "fifo");
  const ratios = perVariant((v) => rates[v].map((x, i) => x / rates[base(v)][i]!));
  // Half the variant's saturated rate, per member delivered from the N - 1 others: each sends its share.
  const share = (v: Variant) => rate[v] / 2 / (n - 1);
  const lat = perVariant(() => ({ p50: [] as number[], p99: [] as number[], drainMs: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++)
    for (const v of rotated(round)) {
      const r = await watched(v, () => paced(g, v, share(v)));
      lat[v].p50.push(r.p50);
      lat[v].p99.push(r.p99);
      lat[v].drainMs.push(r.drainMs);
    }
  const of = (k: "p50" | "p99" | "drainMs") => perVariant((v) => median(lat[v][k]));
  const p50 = of("p50");
  const p99 = of("p99");
  const drainMs = of("drainMs");
  console.log(
    `N = ${n}: ${int(perMember * n)} messages a round (${int(perMember)} from each member), ${ROUNDS} rounds, medians`,
  );
  console.log(
    "  variant    saturated msg/s/member  ratio (rounds' range)       half: msg/s/member  p50 ms  p99 ms  drain ms  views",
  );
  for (const v of VARIANTS)
    console.log(
      `  ${v.padEnd(9)}  ${int(rate[v]).padStart(22)}  ${(v === "broadcast" ? "" : `${v}/${base(v) === "broadcast" ? "bcast" : "fifo"} ${ratioText(ratios[v])}`).padEnd(26)}  ${int(rate[v] / 2).padStart(18)}  ${p50[v].toFixed(2).padStart(6)}  ${p99[v].toFixed(2).padStart(6)}  ${drainMs[v].toFixed(0).padStart(8)}  ${String(views[v]).padStart(5)}`,
    );
  await Promise.all(g.members.map((m) => m.close("bench", 300)));
  return { n, rate, ratio: perVariant((v) => (v === "broadcast" ? 1 : median(ratios[v]))), p50, p99 };
}

const opened: RollcallGroup[] = [];
let code = 0;
try {
  console.log(
    `${BODY_BYTES}-byte messages, every member sending; msg/s/member: messages from the other members delivered at each; drain: ms from the last paced send to the last delivery; views: new views during the variant's rounds`,
  );
  const results: Result[] = [];
  for (const n of SIZES) results.push(await run(n, opened));
  const five = results.find((r) => r.n === 5);
  if (five !== undefined)
    console.log(
      `target total/fifo >= 0.5 at N = 5: ${five.ratio.total.toFixed(2)} ${five.ratio.total >= 0.5 ? "PASS" : "MISS"}`,
    );
  for (const r of results)
    console.log(
      `target p50 <= 2 ms at half load, N = ${r.n}: total ${r.p50.total.toFixed(2)} ms ${r.p50.total <= 2 ? "PASS" : "MISS"}, fifo ${r.p50.fifo.toFixed(2)} ms, broadcast ${r.p50.broadcast.toFixed(2)} ms`,
    );
} catch (e) {
  console.error(`bench/multicast.ts: ${e instanceof Error ? e.message : String(e)}`);
  code = 1;
} finally {
  await Promise.all(opened.map((m) => m.close("bench", 300)));
}
process.exit(code);
