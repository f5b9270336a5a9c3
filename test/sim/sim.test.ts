import { describe, expect, test } from "bun:test";
import { runExactlyOnce as runSimulation, type ExactlyOnceOptions as SimOptions } from "../../src/sim/exactly-once.ts";
import { type SimFaults as FaultConfig, NO_SIM_FAULTS } from "../../src/sim/simulate.ts";

const faulty: FaultConfig = {
  ...NO_SIM_FAULTS,
  duplicate: 0.05,
  reorder: 0.1,
  corrupt: 0.02,
  delayMs: 5,
  jitterMs: 5,
  reorderMs: 30,
};

function options(seed: number, faults: Partial<FaultConfig>, extra: Partial<SimOptions> = {}): SimOptions {
  return {
    seed,
    peers: 5,
    faults: { ...faulty, ...faults },
    workload: { messagesPerPeer: 100, sendWindowMs: 5000, bodyBytesMin: 16, bodyBytesMax: 3000 },
    healAtMs: 10_000,
    endMs: 130_000,
    stepsMax: 5_000_000,
    startSpreadMs: 200,
    ...extra,
  };
}

function expectOk(o: SimOptions) {
  const r = runSimulation(o);
  if (!r.ok) throw new Error(`seed ${o.seed}: ${r.violations.join("; ")}`);
  expect(r.messagesDelivered).toBeGreaterThan(0);
  return r;
}

// The fixed seed set CI runs; `bun run sim --seeds 10000` runs a larger swarm.
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe("safety and liveness under loss, duplication, reordering and corruption", () => {
  for (const loss of [0, 0.1, 0.3, 0.5]) {
    test(`${loss * 100}% loss, ${SEEDS.length} seeds: everything delivered once, in order, intact`, () => {
      for (const seed of SEEDS) {
        // Liveness is checked while the faults go on: healAtMs is past the end.
        const r = expectOk(options(seed, { loss }, { healAtMs: Number.POSITIVE_INFINITY, endMs: 200_000 }));
        expect(r.messagesDelivered).toBe(r.messagesSent);
        if (loss > 0) expect(r.dataRetransmissions).toBeGreaterThan(0);
      }
    });
  }
});

test("crash and restart mid-stream: new epochs are accepted, nothing old is delivered after the new one", () => {
  let crashes = 0;
  let dropped = 0;
  for (const seed of SEEDS) {
    const r = expectOk(options(seed, { loss: 0.1, crashEveryMs: 1500, downMs: 300 }));
    crashes += r.crashes;
    dropped += r.messagesDroppedByRestart;
  }
  expect(crashes).toBeGreaterThan(SEEDS.length);
  expect(dropped).toBeGreaterThan(0);
});

test("partitions that heal: every peer READY and every message delivered afterwards", () => {
  let partitions = 0;
  for (const seed of SEEDS) {
    const r = expectOk(options(seed, { loss: 0.1, partitionEveryMs: 2000, partitionMs: 1500 }));
    partitions += r.partitions;
  }
  expect(partitions).toBeGreaterThan(SEEDS.length);
});

test("queue-full backpressure: a burst larger than the send queue is delivered completely via writable events", () => {
  const r = expectOk(
    options(
      11,
      { loss: 0.1 },
      {
        peers: 3,
        workload: { messagesPerPeer: 3000, sendWindowMs: 10, bodyBytesMin: 16, bodyBytesMax: 200 },
        session: { sendQueueMessagesMax: 64, windowFrames: 8 },
      },
    ),
  );
  expect(r.messagesDelivered).toBe(r.messagesSent);
});

test("a long burst: 3,000 small messages each way between two peers at 20% loss, in one go, all delivered in order", () => {
  for (const seed of [12, 13]) {
    const r = expectOk(
      options(
        seed,
        { loss: 0.2 },
        { peers: 2, workload: { messagesPerPeer: 3000, sendWindowMs: 50, bodyBytesMin: 16, bodyBytesMax: 64 } },
      ),
    );
    expect(r.messagesSent).toBe(6000);
    expect(r.accounting.delivered).toBe(6000);
    expect(r.dataRetransmissions).toBeGreaterThan(0);
  }
});

test("50 peers bootstrap at 30% loss and exchange messages", () => {
  const r = expectOk(
    options(
      21,
      { loss: 0.3 },
      { peers: 50, workload: { messagesPerPeer: 20, sendWindowMs: 2000, bodyBytesMin: 16, bodyBytesMax: 500 } },
    ),
  );
  expect(r.allReadyMs).toBeDefined();
});

test("the same seed replays the same run exactly", () => {
  const a = runSimulation(options(99, { loss: 0.3, crashEveryMs: 1500, downMs: 300 }));
  const b = runSimulation(options(99, { loss: 0.3, crashEveryMs: 1500, downMs: 300 }));
  expect(b).toEqual(a);
  const c = runSimulation(options(100, { loss: 0.3, crashEveryMs: 1500, downMs: 300 }));
  expect(c.datagramsSent).not.toBe(a.datagramsSent);
});

test("the checker notices corruption that slips past the checksum", () => {
  const r = runSimulation(options(5, { forge: 0.2 }));
  expect(r.ok).toBe(false);
  expect(r.violations.join("\n")).toMatch(/corrupted|never sent|claiming|no one sent/);
});
