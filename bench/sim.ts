/**
 * Simulator benchmarks: bootstrap of large groups, retransmission overhead,
 * and how much faster than real time the simulator runs.
 *
 *   bun run bench/sim.ts [--sizes 200,1000]
 *
 * - Bootstrap at 30% loss (1 ms ± 1 ms one-way delay, all peers start within
 *   100 ms, no application messages): virtual time until every peer is READY,
 *   datagrams sent per peer.
 * - Retransmission overhead: 5 peers × 2,000 messages of 100 bytes each, the
 *   same seed and workload at 0%, 10% and 30% loss; the 0% run is the minimum
 *   needed. Reported: datagrams ÷ datagrams at 0%, and DATA transmissions ÷
 *   distinct DATA frames. Targets ≤ 1.3× at 10%, ≤ 1.8× at 30%.
 * - Speed-up: 50 peers exchanging 200 messages each with 10% loss; virtual
 *   time ÷ wall time.
 *
 * The failure detector is off in all three: they measure the bootstrap and
 * the reliable streams (a datagram count with probes in it would not compare
 * with the earlier figures), and with faults that never heal a run would
 * otherwise go on probing to its end time. bench/membership.ts measures the
 * detector.
 */
import { runExactlyOnce as runSimulation, type ExactlyOnceOptions as SimOptions } from "../src/sim/exactly-once.ts";
import { type SimFaults as FaultConfig, NO_SIM_FAULTS as NO_FAULTS } from "../src/sim/simulate.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const sizes = arg("--sizes", "200,1000").split(",").map(Number);

function options(peers: number, faults: Partial<FaultConfig>, extra: Partial<SimOptions> = {}): SimOptions {
  return {
    seed: 1,
    peers,
    faults: { ...NO_FAULTS, delayMs: 1, jitterMs: 1, ...faults },
    workload: { messagesPerPeer: 0, sendWindowMs: 1000, bodyBytesMin: 100, bodyBytesMax: 100 },
    healAtMs: Number.POSITIVE_INFINITY,
    endMs: 600_000,
    stepsMax: 200_000_000,
    startSpreadMs: 100,
    membership: { enabled: false },
    ...extra,
  };
}

function timed<T>(f: () => T): [T, number] {
  const t = performance.now();
  const v = f();
  return [v, performance.now() - t];
}

console.log(`simulator benchmarks, bun ${Bun.version}`);
const out: Record<string, unknown> = {};

console.log("\nbootstrap at 30% loss (virtual time; start spread 100 ms; delay 1 ms ± 1 ms)");
console.log("  peers  all READY at (virtual ms)  after the last start  datagrams per peer  wall s");
const boot: unknown[] = [];
for (const n of sizes) {
  const [r, wall] = timed(() => runSimulation(options(n, { loss: 0.3 })));
  if (!r.ok) console.log(`  ${n}: FAILED ${r.violations.slice(0, 3).join("; ")}`);
  console.log(
    `  ${String(n).padStart(5)}  ${r.allReadyMs?.toFixed(1).padStart(24)}  ${(r.allReadyMs! - 100).toFixed(1).padStart(20)}  ${(r.datagramsSent / n).toFixed(0).padStart(18)}  ${(wall / 1000).toFixed(1).padStart(6)}`,
  );
  boot.push({ peers: n, allReadyMs: r.allReadyMs, datagramsPerPeer: r.datagramsSent / n, wallMs: wall, ok: r.ok });
}
out.bootstrap = boot;

console.log("\nretransmission overhead: 5 peers x 2000 messages of 100 bytes, 1 ms ± 1 ms delay, same seed");
const work = { messagesPerPeer: 2000, sendWindowMs: 2000, bodyBytesMin: 100, bodyBytesMax: 100 };
const base = runSimulation(options(5, { loss: 0 }, { workload: work }));
console.log("  loss  datagrams  ÷ at 0%  DATA transmissions ÷ distinct DATA frames  target");
const overhead: unknown[] = [];
for (const [loss, target] of [
  [0, 1],
  [0.1, 1.3],
  [0.3, 1.8],
] as const) {
  const r = loss === 0 ? base : runSimulation(options(5, { loss }, { workload: work }));
  const ratio = r.datagramsSent / base.datagramsSent;
  const dataRatio = r.dataTransmissions / (r.dataTransmissions - r.dataRetransmissions);
  const verdict = loss === 0 ? "" : ratio <= target ? `≤ ${target}: PASS` : `≤ ${target}: MISS`;
  console.log(
    `  ${`${loss * 100}%`.padStart(4)}  ${String(r.datagramsSent).padStart(9)}  ${ratio.toFixed(2).padStart(7)}  ${dataRatio.toFixed(2).padStart(40)}  ${verdict}${r.ok ? "" : "  (run FAILED)"}`,
  );
  overhead.push({ loss, datagrams: r.datagramsSent, ratio, dataRatio, ok: r.ok });
}
out.overhead = overhead;

console.log("\nspeed-up: 50 peers, 200 messages each, 10% loss");
const [r50, wall50] = timed(() =>
  runSimulation(
    options(
      50,
      { loss: 0.1 },
      { workload: { messagesPerPeer: 200, sendWindowMs: 10_000, bodyBytesMin: 16, bodyBytesMax: 2000 } },
    ),
  ),
);
console.log(
  `  ${(r50.virtualMs / 1000).toFixed(1)} s virtual in ${(wall50 / 1000).toFixed(2)} s wall: ${(r50.virtualMs / wall50).toFixed(0)}x real time, ${r50.messagesDelivered} messages, ${r50.steps} events${r50.ok ? "" : " (FAILED)"}`,
);
out.speedup = { virtualMs: r50.virtualMs, wallMs: wall50, factor: r50.virtualMs / wall50, ok: r50.ok };
console.log(JSON.stringify({ bench: "sim", bun: Bun.version, ...out }));
