/**
 * The package face as a user outside this repository gets it: `npm pack`,
 * install the tarball into a new project, and run a program that imports
 * only "rollcall".
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { portBlock, ROOT, runCommand } from "../process/group.ts";

const dir = mkdtempSync(join(tmpdir(), "rollcall-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(cmd: string[], cwd: string, timeoutMs: number): Promise<string> {
  const r = await runCommand(cmd, { cwd, timeoutMs });
  if (r.code !== 0)
    throw new Error(`${cmd.join(" ")} exited ${r.code}${r.killed ? " (killed)" : ""}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The user's program: a 3-peer group in one process, through the public API only. */
const PROGRAM = (base: number) => `
import { TypedChannel, startPeer } from "rollcall";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";

const hosts = [0, 1, 2].map((i) => "127.0.0.1:" + (${base} + i));
const peers = await Promise.all(hosts.map((name) => startPeer({ hosts, name })));
await Promise.all(peers.map((p) => p.ready));
const COUNT = 300;
const got = peers.map(() => new Map());
const typed = [];
const readers = peers.map(async (peer, i) => {
  const clock = new TypedChannel(peer, TimestampSchema);
  for await (const e of peer.events()) {
    if (e.type !== "message") continue;
    if (e.body.length === 4) {
      const list = got[i].get(e.from) ?? [];
      list.push(new DataView(e.body.buffer, e.body.byteOffset).getUint32(0));
      got[i].set(e.from, list);
    } else {
      const r = clock.receive(e);
      if (r.ok) typed.push(Number(r.message.seconds));
    }
  }
});
for (const peer of peers) {
  for (let n = 0; n < COUNT; n++) {
    const body = new Uint8Array(4);
    new DataView(body.buffer).setUint32(0, n);
    for (let to = 1; to <= 3; to++) if (to !== peer.id) await peer.sendAsync(to, body);
  }
  new TypedChannel(peer, TimestampSchema).broadcast({ seconds: BigInt(peer.id), nanos: 0 });
}
const deadline = Date.now() + 20000;
while (Date.now() < deadline && (peers.some((p) => !p.isIdle) || typed.length < 6)) await Bun.sleep(10);
const inOrder = got.every((m, i) => [1, 2, 3].filter((id) => id !== i + 1).every((from) => {
  const list = m.get(from) ?? [];
  return list.length === COUNT && list.every((v, k) => v === k);
}));
const clean = await Promise.all(peers.map((p) => p.close("done")));
await Promise.all(readers);
console.log(JSON.stringify({ ready: true, inOrder, typed: typed.sort(), clean }));
`;

test("npm pack → install into a new project → a 3-peer group runs through the public API", async () => {
  const packed = JSON.parse(await run(["npm", "pack", "--json", "--pack-destination", dir], ROOT, 60_000));
  const tarball = join(dir, packed[0].filename);
  const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
  expect(files).toContain("src/index.ts");
  expect(files.some((f) => f.startsWith("test/") || f.startsWith("bench/"))).toBe(false);

  const project = join(dir, "user-project");
  await run(["mkdir", "-p", project], dir, 5000);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({
      name: "user-project",
      private: true,
      type: "module",
      dependencies: { rollcall: `file:${tarball}` },
    }),
  );
  await run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund"], project, 120_000);
  writeFileSync(join(project, "main.ts"), PROGRAM(portBlock(3)));
  const out = await run([process.execPath, "main.ts"], project, 60_000);
  expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual({
    ready: true,
    inOrder: true,
    typed: [1, 1, 2, 2, 3, 3],
    clean: [true, true, true],
  });
}, 240_000);
