/**
 * Long codec fuzzing: `npm run fuzz -- [--seconds N] [--seed S]`.
 *
 * Picks a random seed unless given one, prints it first so that any failure can
 * be replayed with `--seed`, and runs every codec property round after round
 * until the time is up. A counterexample is saved to
 * test/vectors/fuzz-regressions.json (as bytes, when it is a byte input) and the
 * process exits 1.
 */
import fc from "fast-check";
import { decodeFrame, encodeFrame, type Frame } from "../src/wire/frame.ts";
import { properties } from "../test/wire/properties.ts";
import { toHex } from "./lib/hex.ts";

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const seconds = Number(argValue("--seconds") ?? 60);
const seed = Number(argValue("--seed") ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed)) {
  console.error("usage: npm run fuzz -- [--seconds N>0] [--seed INTEGER]");
  process.exit(2);
}
console.log(`fuzz: seed ${seed}, ${seconds} s (replay with: npm run fuzz -- --seed ${seed} --seconds ${seconds})`);

const deadline = Date.now() + seconds * 1000;
let round = 0;
let runs = 0;
while (Date.now() < deadline) {
  for (const [name, property] of Object.entries(properties)) {
    const roundSeed = (seed + round) | 0;
    const details = fc.check(property, { seed: roundSeed, numRuns: 2000 });
    runs += details.numRuns;
    if (details.failed) {
      console.error(`FAILED ${name} at seed ${roundSeed}: ${details.errorInstance ?? ""}`);
      console.error(`counterexample: ${fc.stringify(details.counterexample)}`);
      await saveRegression(name, details.counterexample ?? []);
      process.exit(1);
    }
  }
  round++;
  if (round % 10 === 0) console.log(`fuzz: ${runs} cases, ${Math.ceil((deadline - Date.now()) / 1000)} s left`);
}
console.log(`fuzz: ${runs} cases in ${round} rounds, no failure (seed ${seed})`);

async function saveRegression(name: string, counterexample: unknown[]): Promise<void> {
  const first = counterexample[0];
  let bytes: Uint8Array | undefined;
  if (first instanceof Uint8Array) bytes = first;
  else if (first && typeof first === "object" && "payload" in first) {
    try {
      bytes = encodeFrame(first as Frame);
    } catch {
      bytes = undefined;
    }
  }
  if (bytes === undefined) return;
  let expected: string;
  try {
    const result = decodeFrame(bytes);
    expected = result.ok ? "ok" : result.reason;
  } catch (error) {
    expected = `threw: ${(error as Error).message}; set the expected outcome by hand`;
  }
  const file = new URL("../test/vectors/fuzz-regressions.json", import.meta.url);
  const doc = await Bun.file(file).json();
  doc.cases.push({ name: `${name}-seed-${seed}`, hex: toHex(bytes), expected });
  await Bun.write(file, `${JSON.stringify(doc, null, 2)}\n`);
  console.error(`saved to test/vectors/fuzz-regressions.json; fix the codec, then check the expected outcome`);
}
