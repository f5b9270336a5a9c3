/**
 * Long codec fuzzing: `npm run fuzz -- [--seconds N] [--seed S]`.
 *
 * Picks a random seed unless given one, prints it first so that any failure can
 * be replayed with `--seed`, and runs every codec property round after round
 * until the time is up. A counterexample that is a datagram is saved to
 * test/vectors/fuzz-regressions.json; any other (an envelope) is printed as
 * hex. Either way the process exits 1.
 */
import fc from "fast-check";
import { decodeFrame } from "../src/wire/frame.ts";
import { type CodecProperty, properties } from "../test/wire/properties.ts";
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

// Rounds are short so that the deadline is kept and every property gets a turn.
const RUNS_PER_ROUND = 1000;
const started = Date.now();
const deadline = started + seconds * 1000;
const cases = new Map<string, { runs: number; ms: number }>(
  Object.keys(properties).map((n) => [n, { runs: 0, ms: 0 }]),
);
let round = 0;
while (Date.now() < deadline) {
  for (const [name, codecProperty] of Object.entries(properties)) {
    const roundSeed = (seed + round) | 0;
    const t0 = performance.now();
    const details = fc.check(codecProperty.property, { seed: roundSeed, numRuns: RUNS_PER_ROUND });
    const tally = cases.get(name)!;
    tally.runs += details.numRuns;
    tally.ms += performance.now() - t0;
    if (details.failed) {
      console.error(`FAILED ${name} at seed ${roundSeed}: ${details.errorInstance ?? ""}`);
      console.error(`counterexample: ${fc.stringify(details.counterexample)}`);
      await saveRegression(name, codecProperty, details.counterexample ?? []);
      process.exit(1);
    }
  }
  round++;
  if (round % 10 === 0) console.log(`fuzz: ${total()} cases, ${Math.ceil((deadline - Date.now()) / 1000)} s left`);
}
const elapsed = (Date.now() - started) / 1000;
console.log(
  `fuzz: ${total()} cases in ${round} rounds, ${Math.round(total() / elapsed)} cases/s, no failure (seed ${seed})`,
);
for (const [name, { runs, ms }] of cases) {
  console.log(`  ${name}: ${runs} cases, ${Math.round((runs / ms) * 1000)} cases/s`);
}

function total(): number {
  let n = 0;
  for (const { runs } of cases.values()) n += runs;
  return n;
}

async function saveRegression(name: string, codecProperty: CodecProperty, counterexample: unknown[]): Promise<void> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = codecProperty.datagram?.(counterexample);
  } catch (error) {
    console.error(`could not rebuild the datagram: ${(error as Error).message}`);
  }
  if (bytes === undefined) {
    const first = counterexample[0];
    if (first instanceof Uint8Array) console.error(`input (hex): ${toHex(first)}`);
    return;
  }
  console.error(`datagram (hex): ${toHex(bytes)}`);
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
