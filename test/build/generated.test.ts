import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "../..");

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

test("src/gen is exactly what `npm run generate` produces from proto/", () => {
  const out = mkdtempSync(join(tmpdir(), "rollcall-gen-"));
  try {
    const bin = join(root, "node_modules/.bin");
    const run = Bun.spawnSync(["buf", "generate", "--output", out], {
      cwd: root,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stderr: "pipe",
    });
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    const fresh = join(out, "src/gen");
    const committed = join(root, "src/gen");
    expect(listFiles(fresh)).toEqual(listFiles(committed));
    for (const file of listFiles(fresh)) {
      expect(`${file}:\n${readFileSync(join(committed, file), "utf8")}`).toBe(
        `${file}:\n${readFileSync(join(fresh, file), "utf8")}`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("proto/ passes buf lint", () => {
  const run = Bun.spawnSync([join(root, "node_modules/.bin/buf"), "lint"], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(run.stdout.toString() + run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
});
