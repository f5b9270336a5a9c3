/**
 * The group layer's cost, side by side with plain broadcast in one run
 * (docs/benchmarks.md, "Process groups"): five processes' worth of peers in
 * this process on loopback; member 1 sends 100-byte messages to the others,
 * once as `RollcallPeer.broadcast` (a reliable stream to each), once as
 * `RollcallGroup.multicast` (the same streams, plus the view's bookkeeping;
 * the multicasts of one burst travel as one message per member). Rounds
 * alternate so that the machine's drift hits both alike, and the ratio
 * reported is the median of each round's own ratio.
 *
 *   bun run bench/groups.ts [--messages N] [--rounds R]
 */
import { parseArgs } from "node:util";
import { type RollcallGroup, startGroup } from "../src/runtime/start-group.ts";
import { portBlock } from "../test/process/group.ts";

const { values } = parseArgs({
  options: { messages: { type: "string" }, rounds: { type: "string" } },
});
const MESSAGES = Number(values.messages ?? 50_000);
const ROUNDS = Number(values.rounds ?? 9);
const N = 5;
const BODY_BYTES = 100;

async function group(): Promise<{ members: RollcallGroup[]; received: number[]; latenciesMs: number[] }> {
  const base = portBlock(N);
  const hosts = Array.from({ length: N }, (_, i) => `127.0.0.1:${base + i}`);
  const received = new Array<number>(N + 1).fill(0);
  const latenciesMs: number[] = [];
  const stamp = (body: Uint8Array) => new DataView(body.buffer, body.byteOffset).getFloat64(0);
  const members = await Promise.all(
    hosts.map((name, i) =>
      startGroup({
        hosts,
        name,
        onEvent: (e) => {
          if (e.type !== "message") return;
          received[i + 1]!++;
          if (e.body[8] === 1) latenciesMs.push(performance.now() - stamp(e.body));
        },
        onGroupEvent: (e) => {
          if (e.type !== "message" || e.from === i + 1) return;
          received[i + 1]!++;
          if (e.body[8] === 1) latenciesMs.push(performance.now() - stamp(e.body));
        },
      }),
    ),
  );
  await Promise.all(members.map((m) => m.ready));
  while (!members.every((m) => m.view?.members.length === N)) await Bun.sleep(10);
  return { members, received, latenciesMs };
}

function body(latency: boolean): Uint8Array {
  const b = new Uint8Array(BODY_BYTES);
  new DataView(b.buffer).setFloat64(0, performance.now());
  b[8] = latency ? 1 : 0;
  return b;
}

/** Sends `count` messages as fast as the API takes them; resolves when every other member received them all. */
async function blast(
  g: Awaited<ReturnType<typeof group>>,
  mode: "broadcast" | "multicast",
  count: number,
): Promise<number> {
  const sender = g.members[0]!;
  const start = g.received.slice();
  const t0 = performance.now();
  let sent = 0;
  while (sent < count) {
    const ok = mode === "broadcast" ? sender.peer.broadcast(body(false)).ok : sender.multicast(body(false)).ok;
    if (ok) sent++;
    else await Bun.sleep(0);
    if (sent % 256 === 0) await Bun.sleep(0);
  }
  while (!g.received.every((r, i) => i <= 1 || r - start[i]! >= count)) await Bun.sleep(1);
  return count / ((performance.now() - t0) / 1000);
}

/** Paced at `rate` messages a second for one second; the one-way latency's median (one clock: same process). */
async function paced(g: Awaited<ReturnType<typeof group>>, mode: "broadcast" | "multicast", rate: number) {
  g.latenciesMs.length = 0;
  const sender = g.members[0]!;
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      if (mode === "broadcast") sender.peer.broadcast(body(true));
      else sender.multicast(body(true));
      sent++;
    }
    await Bun.sleep(1);
  }
  await Bun.sleep(200);
  const sorted = [...g.latenciesMs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const g = await group();
const rates: Record<string, number[]> = { broadcast: [], multicast: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of round % 2 === 0 ? (["broadcast", "multicast"] as const) : (["multicast", "broadcast"] as const))
    rates[mode]!.push(await blast(g, mode, MESSAGES));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b = median(rates.broadcast!);
const m = median(rates.multicast!);
// Each round's two modes ran back to back: their ratio sees the same machine state.
const ratios = rates.multicast!.map((x, i) => x / rates.broadcast![i]!);
console.log(`N = ${N}, ${BODY_BYTES}-byte messages, ${MESSAGES} per round, ${ROUNDS} rounds each (median):`);
console.log(
  `  broadcast ${b.toFixed(0)} msg/s, multicast ${m.toFixed(0)} msg/s, multicast / broadcast = ${median(ratios).toFixed(2)} (median of the rounds' ratios; range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
);
const half = m / 2;
const pb = await paced(g, "broadcast", half);
const pm = await paced(g, "multicast", half);
console.log(`  at ${half.toFixed(0)} msg/s: one-way p50 broadcast ${pb.toFixed(2)} ms, multicast ${pm.toFixed(2)} ms`);
await Promise.all(g.members.map((x) => x.close("bench", 300)));
process.exit(0);
