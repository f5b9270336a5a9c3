/**
 * The fault model shared by `--chaos` and the simulator does what it says, at
 * the rates it says: measured over many datagrams with a seeded generator.
 */
import { expect, test } from "bun:test";
import { applyFaults, NO_FAULTS, parseChaos } from "../../src/runtime/faults.ts";
import { Rng } from "../../src/sim/rng.ts";

const DATAGRAMS = 20_000;

function measure(spec: string) {
  const rng = new Rng(7);
  const faults = parseChaos(spec);
  const bytes = new Uint8Array(100).fill(0xaa);
  let arrived = 0;
  let corrupted = 0;
  let delayed = 0;
  let delaySumMs = 0;
  for (let i = 0; i < DATAGRAMS; i++) {
    for (const a of applyFaults(faults, () => rng.float(), bytes)) {
      arrived++;
      if (a.bytes.some((b) => b !== 0xaa)) corrupted++;
      if (a.delayMs > 0) delayed++;
      delaySumMs += a.delayMs;
    }
  }
  return { arrived, corrupted, delayed, meanDelayMs: delaySumMs / Math.max(1, arrived) };
}

test("loss drops that share of datagrams, and nothing else is touched", () => {
  const r = measure("loss=0.3");
  expect(r.arrived / DATAGRAMS).toBeGreaterThan(0.68);
  expect(r.arrived / DATAGRAMS).toBeLessThan(0.72);
  expect(r.corrupted).toBe(0);
  expect(r.delayed).toBe(0);
});

test("duplication adds that share of copies; corruption flips bits in that share; delay and jitter add up", () => {
  expect(measure("dup=0.2").arrived / DATAGRAMS).toBeGreaterThan(1.18);
  expect(measure("dup=0.2").arrived / DATAGRAMS).toBeLessThan(1.22);
  const c = measure("corrupt=0.1");
  expect(c.corrupted / DATAGRAMS).toBeGreaterThan(0.09);
  expect(c.corrupted / DATAGRAMS).toBeLessThan(0.11);
  const d = measure("delay=20,jitter=10");
  expect(d.meanDelayMs).toBeGreaterThan(24.5);
  expect(d.meanDelayMs).toBeLessThan(25.5);
});

test("no faults: every datagram arrives once, untouched, at once", () => {
  const rng = new Rng(1);
  const bytes = Uint8Array.of(1, 2, 3);
  for (let i = 0; i < 1000; i++)
    expect(applyFaults(NO_FAULTS, () => rng.float(), bytes)).toEqual([{ bytes, delayMs: 0 }]);
});
