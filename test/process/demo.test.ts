import { expect, test } from "bun:test";
import { join } from "node:path";
import { portBlock, ROOT } from "./group.ts";

test("npm run demo starts a local group, shows progress and a summary, and exits 0", async () => {
  const base = portBlock(4);
  const proc = Bun.spawn(
    [process.execPath, join(ROOT, "src/cli/demo.ts"), "--peers", "4", "--base-port", String(base)],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(out).toContain("READY (4/4)");
  expect(out).toMatch(/id\s+peer\s+READY after ms\s+sent\s+received\s+retransmits/);
  expect(out).toContain("demo: all 4 READY");
  // Every peer's row shows datagrams sent and a clean exit.
  const rows = out
    .split("\n")
    .filter(
      (l) => new RegExp(`^\\s*\\d+\\s+127\\.0\\.0\\.1:${base}`).test(l) || /^\s*\d+\s+127\.0\.0\.1:\d+\s+\d/.test(l),
    );
  expect(rows.length).toBe(4);
  for (const row of rows) expect(row.trim().split(/\s+/).at(-1)).toBe("0");
});

test("npm run demo rejects bad options with exit 2", async () => {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/demo.ts"), "--peers", "0"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(2);
  expect(err).toMatch(/^demo: --peers must be an integer from 1 to 200/);
});
