import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { portBlock, ROOT, runCommand } from "../process/group.ts";

const dir = mkdtempSync(join(tmpdir(), "rollcall-examples-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string[], stdin: string | undefined, timeoutMs: number) => runCommand(cmd, { stdin, timeoutMs });

test("examples/ping-pong.ts measures round trips through the package face", async () => {
  const port = portBlock(2);
  const r = await run(
    [process.execPath, "examples/ping-pong.ts", "--count", "300", "--port", String(port)],
    undefined,
    30_000,
  );
  expect(r.killed).toBe(false);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("ping-pong: 300 round trips");
  expect(r.stdout).toMatch(/rtt ms: p50 \d+\.\d{3} {2}p90 \d+\.\d{3} {2}p99 \d+\.\d{3} {2}max \d+\.\d{3}/);
});

test("examples/chat.ts: three members, each prints every other member's lines in their order", async () => {
  const base = portBlock(3);
  const names = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
  const hostsFile = join(dir, "chat-hosts.txt");
  writeFileSync(hostsFile, `${names.join("\n")}\n`);
  const lines = (who: number) => Array.from({ length: 20 }, (_, i) => `line ${i} from member ${who}`);
  const results = await Promise.all(
    names.map((name, i) =>
      run(
        [process.execPath, "examples/chat.ts", "-h", hostsFile, "--name", name, "--exit-after", "40"],
        `${lines(i + 1).join("\n")}\n`,
        30_000,
      ),
    ),
  );
  for (const [i, r] of results.entries()) {
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const got = r.stdout.split("\n").filter((l) => l.startsWith("127.0.0.1:"));
    expect(got.length).toBe(40);
    for (const [j, other] of names.entries()) {
      if (j === i) continue;
      const fromOther = got.filter((l) => l.startsWith(`${other}: `)).map((l) => l.slice(other.length + 2));
      expect(fromOther).toEqual(lines(j + 1));
    }
  }
});

test("examples import nothing of rollcall but the package face", async () => {
  for (const file of ["examples/chat.ts", "examples/ping-pong.ts"]) {
    const text = await Bun.file(join(ROOT, file)).text();
    const imports = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    expect(imports.filter((i) => i !== "rollcall" && !i?.startsWith("node:"))).toEqual([]);
  }
});
