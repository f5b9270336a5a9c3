import { expect, test } from "bun:test";
import fc from "fast-check";
import { fromHex } from "../../scripts/lib/hex.ts";
import { decodeFrame, encodeFrame } from "../../src/wire/frame.ts";
import regressions from "../vectors/fuzz-regressions.json";
import { arbitraryFrame, properties } from "./properties.ts";

// A fixed seed keeps CI deterministic; `npm run fuzz` explores other seeds.
const SEED = 20261124;

for (const [name, property] of Object.entries(properties)) {
  test(`fuzz: ${name} (seed ${SEED})`, () => {
    fc.assert(property, { seed: SEED, numRuns: 3000 });
  });
}

test("every bit of a frame is covered: flipping each one in turn is rejected", () => {
  const [frame] = fc.sample(arbitraryFrame, { seed: SEED, numRuns: 1 });
  const bytes = encodeFrame(frame!);
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
