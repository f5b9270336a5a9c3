import { expect, test } from "bun:test";
import fc from "fast-check";
import { fromHex } from "../../scripts/lib/hex.ts";
import { decodeFrame, encodeFrame } from "../../src/wire/frame.ts";
import regressions from "../vectors/fuzz-regressions.json";
import { arbitraryDataFrame } from "./generators.ts";
import { CI_SEED, properties } from "./properties.ts";

const SEED = CI_SEED;

for (const [name, { property, ciRuns }] of Object.entries(properties)) {
  test(`fuzz: ${name} (seed ${SEED}, ${ciRuns} runs)`, () => {
    fc.assert(property, { seed: SEED, numRuns: ciRuns });
  });
}

test("every bit of a frame is covered: flipping each one in turn is rejected", () => {
  // The largest of a few, so that the payload's bits are covered as well as the header's.
  const frames = fc.sample(arbitraryDataFrame, { seed: SEED, numRuns: 20 }).map((f) => encodeFrame(f));
  const bytes = frames.reduce((a, b) => (b.length > a.length ? b : a));
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    expect(decodeFrame(copy).ok).toBe(false);
  }
});

test("saved fuzz regressions decode to their recorded outcome without throwing", () => {
  for (const r of regressions.cases) {
    const result = decodeFrame(fromHex(r.hex));
    expect(result.ok ? "ok" : result.reason).toBe(r.expected);
  }
});
