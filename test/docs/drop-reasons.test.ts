/**
 * docs/reliability.md lists every drop reason a peer counts and logs. The
 * reasons are read from the code that produces them (the codec's list, each
 * `drop(…, "reason")` in the peer, the session's refusals and protocol
 * violations), so a reason added without its line in the docs fails here.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DECODE_FAILURES } from "../../src/wire/frame.ts";

const root = join(import.meta.dir, "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

function reasonsInCode(): Set<string> {
  const reasons = new Set<string>(DECODE_FAILURES);
  for (const m of read("src/peer/peer.ts").matchAll(/this\.drop\(\s*[\w.]+,\s*"([a-z-]+)"/g)) reasons.add(m[1]!);
  const session = read("src/reliability/session.ts");
  // Refusals returned by handleFrame (quoted reasons after `return`), and violations.
  for (const m of session.matchAll(/return "([a-z]+(?:-[a-z]+)+)"/g)) reasons.add(m[1]!);
  for (const m of session.matchAll(/type: "violation", reason: "([a-z-]+)"/g)) reasons.add(m[1]!);
  return reasons;
}

test("every drop reason the code counts is named in docs/reliability.md's list", () => {
  const doc = read("docs/reliability.md");
  const section = doc.slice(doc.indexOf("## Drop reasons"), doc.indexOf("\n## ", doc.indexOf("## Drop reasons") + 3));
  const reasons = reasonsInCode();
  // The extraction itself must see the kinds it reads: a regex gone blind would pass vacuously.
  for (const known of ["unknown-sender", "replayed", "beyond-credit", "ack-beyond-sent", "bad-magic"])
    expect(reasons.has(known)).toBe(true);
  const missing = [...reasons].filter((r) => !section.includes(`\`${r}\``));
  expect(missing).toEqual([]);
});
