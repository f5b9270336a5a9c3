/**
 * How long a view change takes with real peer processes on loopback
 * (`bun src/cli/peer.ts --group`, docs/groups.md "Liveness"): N peers agree
 * on one view; the coordinator (peer 1) is SIGKILLed, and we time until every
 * survivor logged the view without it, next to the failure detector's own
 * detection (each survivor's `peer-failed` record for peer 1); then peer 1 is
 * started again (same name, a new process) and we time from its READY to its
 * `view` record that includes itself and its `group-state` record. Every time
 * is taken from the peers' log timestamps (`ts`, ms; one machine clock), the
 * kill and the spawn from `Date.now()` here; READY is the peer's `ready`
 * record, which it flushes just before writing READY to stderr. A fresh group
 * per trial, trials one after another; every process is stopped at the end.
 *
 *   bun run bench/group-changes.ts [--peers N] [--trials T]
 *
 * Without --peers it runs N = 5, then N = 20. Targets: the survivors' view no
 * later than the detector's first detection + 100 ms; the restarted peer's
 * view (and state) within 500 ms of its READY.
 */
import { parseArgs } from "node:util";
import { DEFAULT_MEMBERSHIP_CONFIG, detectionBoundMs } from "../src/membership/config.ts";
import { Group, type PeerProcess } from "../test/process/group.ts";

const { values } = parseArgs({
  options: { peers: { type: "string" }, trials: { type: "string" } },
});
const SIZES = values.peers === undefined ? [5, 20] : [Number(values.peers)];
const TRIALS = Number(values.trials ?? 5);
const FLAGS = ["--group", "--log-level", "info"];
/** Group-change target: view at the last survivor − first detection. */
const GROUP_COST_TARGET_MS = 100;
/** Restart target: READY → view including itself (and the state). */
const RESTART_TARGET_MS = 500;

type LogRecord = Record<string, unknown> & { ts: string; event: string };

const records = (p: PeerProcess) => Group.records(p) as LogRecord[];
const ms = (r: LogRecord | undefined) => (r === undefined ? undefined : Date.parse(r.ts));
const views = (p: PeerProcess) => records(p).filter((r) => r.event === "view");
const has = (r: LogRecord, id: number) => (r.members as number[]).includes(id);
const isAll = (r: LogRecord | undefined, n: number) => (r?.members as number[] | undefined)?.length === n;

/** First record of `p` at or after `sinceMs` matching `pick`. */
function first(p: PeerProcess, sinceMs: number, pick: (r: LogRecord) => boolean): LogRecord | undefined {
  return records(p).find((r) => Date.parse(r.ts) >= sinceMs && pick(r));
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
const min = (xs: (number | undefined)[]) => (defined(xs).length === 0 ? undefined : Math.min(...defined(xs)));
const max = (xs: (number | undefined)[]) => (defined(xs).length === 0 ? undefined : Math.max(...defined(xs)));
const minus = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : a - b;
function median(xs: (number | undefined)[]): number | undefined {
  const s = defined(xs).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
const fmt = (x: number | undefined) => (x === undefined ? "-" : `${Math.round(x)}`);

interface Trial {
  /** Kill → first `peer-suspect` / `peer-failed` of peer 1 at any survivor, → `peer-failed` at the last survivor. */
  suspectFirst?: number;
  failedFirst?: number;
  failedLast?: number;
  /** Kill → view without peer 1 at the first and the last survivor. */
  viewFirst?: number;
  viewLast?: number;
  /** View at the last survivor − first detection at any survivor; − the new coordinator's (peer 2's) detection. */
  groupCost?: number;
  coordinatorCost?: number;
  /** Spawn → READY; READY → the restarted peer's view with itself, its state. */
  spawnToReady?: number;
  readyToView?: number;
  readyToState?: number;
  /** READY → first survivor / coordinator (peer 2) logging the new process; → last survivor's view with it. */
  readyToSeenFirst?: number;
  readyToSeenCoordinator?: number;
  readyToViewLastSurvivor?: number;
  error?: string;
}

async function trial(n: number): Promise<Trial> {
  const t: Trial = {};
  const g = new Group(n);
  try {
    for (let id = 1; id <= n; id++) g.start(id, FLAGS);
    await g.waitReady(g.procs, 20_000 + n * 2000);
    await until(`one view of all ${n}`, () => g.procs.every((p) => isAll(views(p).at(-1), n)), 20_000 + n * 1000);
    await Bun.sleep(1000 + n * 50); // let startup's CPU burst and gossip die down

    // (a) SIGKILL of the coordinator.
    const survivors = g.procs.slice(1);
    const coordinator = g.procs[0]!;
    const killedAt = Date.now();
    coordinator.proc.kill("SIGKILL");
    await coordinator.proc.exited;
    const boundMs = detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, n);
    const withoutOne = (p: PeerProcess) => first(p, killedAt, (r) => r.event === "view" && !has(r, 1));
    await until(
      "every survivor's view without peer 1",
      () => survivors.every((p) => withoutOne(p) !== undefined),
      boundMs + 10_000,
    );
    const failed = survivors.map((p) => ms(first(p, killedAt, (r) => r.event === "peer-failed" && r.peer === 1)));
    const suspected = survivors.map((p) =>
      ms(first(p, killedAt, (r) => (r.event === "peer-suspect" || r.event === "peer-failed") && r.peer === 1)),
    );
    const viewed = survivors.map((p) => ms(withoutOne(p)));
    t.suspectFirst = minus(min(suspected), killedAt);
    t.failedFirst = minus(min(failed), killedAt);
    t.failedLast = minus(max(failed), killedAt);
    t.viewFirst = minus(min(viewed), killedAt);
    t.viewLast = minus(max(viewed), killedAt);
    t.groupCost = minus(max(viewed), min(failed));
    t.coordinatorCost = minus(max(viewed), failed[0]);

    // (b) Peer 1 again: a new process of the same name.
    const spawnedAt = Date.now();
    const again = g.start(1, FLAGS);
    await g.waitReady([again], 20_000 + n * 1000);
    const selfView = () => first(again, spawnedAt, (r) => r.event === "view" && has(r, 1));
    const state = () => first(again, spawnedAt, (r) => r.event === "group-state");
    const withOne = (p: PeerProcess) => first(p, spawnedAt, (r) => r.event === "view" && has(r, 1));
    await until(
      "the restarted peer's view and state, and every survivor's view with it",
      () => selfView() !== undefined && state() !== undefined && survivors.every((p) => withOne(p) !== undefined),
      20_000 + n * 1000,
    );
    const readyAt = ms(first(again, spawnedAt, (r) => r.event === "ready"));
    const seen = (p: PeerProcess) =>
      ms(
        first(
          p,
          spawnedAt,
          (r) => r.peer === 1 && (r.event === "peer-restarted" || r.event === "peer-up" || r.event === "peer-alive"),
        ),
      );
    t.spawnToReady = minus(readyAt, spawnedAt);
    t.readyToView = minus(ms(selfView()), readyAt);
    t.readyToState = minus(ms(state()), readyAt);
    t.readyToSeenFirst = minus(min(survivors.map(seen)), readyAt);
    t.readyToSeenCoordinator = minus(seen(survivors[0]!), readyAt);
    t.readyToViewLastSurvivor = minus(max(survivors.map((p) => ms(withOne(p)))), readyAt);
  } catch (error) {
    t.error = (error as Error).message;
  } finally {
    await g.stop();
  }
  return t;
}

for (const n of SIZES) {
  const boundMs = detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, n);
  console.log(
    `N = ${n}, ${TRIALS} trials; detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, ${n}) = ${Math.round(boundMs)} ms`,
  );
  const trials: Trial[] = [];
  for (let i = 1; i <= TRIALS; i++) {
    const t = await trial(n);
    trials.push(t);
    console.log(
      `  #${i} kill: suspect ${fmt(t.suspectFirst)}, failed first ${fmt(t.failedFirst)} last ${fmt(t.failedLast)}, ` +
        `view first ${fmt(t.viewFirst)} last ${fmt(t.viewLast)}, group cost ${fmt(t.groupCost)} (from peer 2's detection ${fmt(t.coordinatorCost)}) ms | ` +
        `restart: spawn→READY ${fmt(t.spawnToReady)}, READY→view ${fmt(t.readyToView)}, ` +
        `→state ${fmt(t.readyToState)} (others see it ${fmt(t.readyToSeenFirst)}, coordinator ${fmt(t.readyToSeenCoordinator)}, ` +
        `last survivor's view ${fmt(t.readyToViewLastSurvivor)}) ms` +
        (t.error === undefined ? "" : `  FAILED: ${t.error}`),
    );
  }
  const m = (k: keyof Omit<Trial, "error">) => median(trials.map((t) => t[k]));
  const failedTrials = trials.filter((t) => t.error !== undefined).length;
  const cost = m("groupCost");
  const restart = max([m("readyToView"), m("readyToState")]);
  console.log(
    `  median: kill→failed first ${fmt(m("failedFirst"))} last ${fmt(m("failedLast"))}, kill→view at last survivor ${fmt(m("viewLast"))}, ` +
      `group's own cost ${fmt(cost)} (from peer 2's detection ${fmt(m("coordinatorCost"))}) ms; READY→view ${fmt(m("readyToView"))}, READY→state ${fmt(m("readyToState"))} ms`,
  );
  const verdict = (ok: boolean | undefined) => (ok === undefined ? "n/a" : ok ? "PASS" : "MISS");
  console.log(
    `  targets: view ≤ first detection + ${GROUP_COST_TARGET_MS} ms: ${verdict(cost === undefined ? undefined : cost <= GROUP_COST_TARGET_MS)}` +
      ` (and ≤ bound + 100: ${verdict(m("viewLast") === undefined ? undefined : m("viewLast")! <= boundMs + 100)});` +
      ` restart view+state ≤ ${RESTART_TARGET_MS} ms after READY: ${verdict(restart === undefined ? undefined : restart <= RESTART_TARGET_MS)}` +
      (failedTrials > 0 ? `; ${failedTrials} trial(s) failed` : ""),
  );
}
process.exit(0);
