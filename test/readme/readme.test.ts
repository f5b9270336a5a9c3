/**
 * Every command README.md documents works as written after `npm ci`: each is
 * found in the README (its sh blocks and the Development table), run briefly
 * from the repository with the PATH the README tells users to set, and must
 * not fail: it exits 0, or is still running when its few seconds are up (a
 * peer, a benchmark), and is then stopped with its whole process group.
 * Commands that cannot run here say which test covers them instead; a
 * command added to the README without an entry below fails this test.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { portBlock, ROOT } from "../process/group.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

/** Commands in ```sh blocks (comments and shell plumbing lines dropped) and the Development table's first column. */
function documentedCommands(): string[] {
  const out: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split("\n")) {
      const line = raw.replace(/\s+#.*$/, "").trim();
      if (line !== "") out.push(line);
    }
  }
  for (const row of readme.matchAll(/^\| `((?:npm|bun|npx) [^`]*)`/gm)) out.push(row[1]!);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "rollcall-readme-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const port = portBlock(4);
const hostsFile = join(dir, "hosts.txt");
const namedHosts = join(dir, "named-hosts.txt");
writeFileSync(hostsFile, `127.0.0.1:${port}\n`);
writeFileSync(namedHosts, `${hostname()}:${port + 1}\n`);

type Plan = { run: string; seconds: number } | { coveredBy: string };

/** How to run each documented command briefly; the README's own text is matched exactly. */
const PLANS: Record<string, Plan> = {
  "npm ci && npm run demo": {
    run: `npm run -s demo -- --peers 2 --base-port ${port + 2} --logs ${dir}/demo`,
    seconds: 60,
  },
  "npm ci && npm test": { coveredBy: "this very run (npm test is bun test)" },
  "bun run peer -h hosts.txt": { run: `bun run peer -h ${namedHosts} --log-level info`, seconds: 3 },
  "bun run peer -h hosts.txt --name 10.0.0.3": {
    run: `bun run peer -h ${hostsFile} --name 127.0.0.1:${port} --log-level info`,
    seconds: 3,
  },
  "npm run -s peer -- -h hosts.txt --name web-2": {
    run: `npm run -s peer -- -h ${hostsFile} --name 127.0.0.1:${port} --log-level info`,
    seconds: 3,
  },
  "umask 077; head -c 32 /dev/urandom | base64 > rollcall.key": {
    run: `cd ${dir} && umask 077 && head -c 32 /dev/urandom | base64 > rollcall.key && test "$(stat -c %a rollcall.key)" = 600`,
    seconds: 10,
  },
  "bun run peer -h hosts.txt --name 10.0.0.3 --key-file rollcall.key": {
    run: `(umask 077; head -c 32 /dev/urandom | base64 > ${dir}/peer.key) && bun run peer -h ${hostsFile} --name 127.0.0.1:${port} --key-file ${dir}/peer.key --log-level info`,
    seconds: 3,
  },
  "node_modules/.bin/bun examples/replicated-map.ts -h hosts.txt --name 127.0.0.1:7201 --writes 1000": {
    // A hosts file of one: a group of one, which writes, logs its digest and keeps running.
    run: `node_modules/.bin/bun examples/replicated-map.ts -h ${hostsFile} --name 127.0.0.1:${port} --writes 100`,
    seconds: 4,
  },
  "docker build -t rollcall .": { coveredBy: "test/containers (builds the image from this Dockerfile)" },
  "docker network create rollcall": { coveredBy: "test/containers" },
  "printf 'peer-1\\npeer-2\\npeer-3\\n' > hosts": { coveredBy: "test/containers" },
  "for p in peer-1 peer-2 peer-3; do": { coveredBy: "test/containers (5 containers print READY)" },
  "docker run -d --name $p --hostname $p --network rollcall \\": { coveredBy: "test/containers" },
  '-v "$PWD/hosts:/etc/rollcall/hosts:ro" rollcall --log-level info': { coveredBy: "test/containers" },
  done: { coveredBy: "test/containers" },
  "docker logs peer-2 2>&1 >/dev/null": { coveredBy: "test/containers" },
  "npm test": { coveredBy: "this very run" },
  "npm run lint": { run: "npm run -s lint", seconds: 60 },
  "npm run generate": { coveredBy: ".ci/run (regenerates and checks that nothing changed)" },
  "npm run vectors": { run: "bun run scripts/make-vectors.ts --stdout", seconds: 30 },
  "npm run fuzz -- --seconds 300": { run: "npm run -s fuzz -- --seconds 1", seconds: 60 },
  "bun run sim": { run: "bun run sim --seed 1 --peers 3 --messages 10", seconds: 60 },
  "bun run sim --seeds 10000": { run: "bun run sim --seeds 4 --peers 3 --messages 5", seconds: 60 },
  "npm run build": { run: "npm run -s build && bun dist/peer.js --version", seconds: 60 },
  "npm run timeline -- DIR": { run: `npm run -s timeline -- ${dir}/demo`, seconds: 30 },
  "npm run mutants": { run: "npm run -s mutants -- --list", seconds: 30 },
  "npm run bench:codec": { run: "npm run -s bench:codec", seconds: 4 },
  "bun run bench/udp.ts": { run: "bun run bench/udp.ts", seconds: 4 },
  "bun run bench/bootstrap.ts": { run: "bun run bench/bootstrap.ts", seconds: 4 },
  "bun run bench/sim.ts": { run: "bun run bench/sim.ts", seconds: 4 },
};

/** The README's PATH: node_modules/.bin first (where npm ci puts bun), then the system's. */
const env = { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` };

async function runBriefly(command: string, seconds: number): Promise<{ ok: boolean; why: string }> {
  // A session of its own, so that everything it starts is stopped with it.
  const proc = Bun.spawn(["setsid", "sh", "-c", command], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  void new Response(proc.stdout).text();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-proc.pid, "SIGTERM");
    } catch {}
    setTimeout(() => {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {}
    }, 3000);
  }, seconds * 1000);
  const code = await proc.exited;
  clearTimeout(timer);
  if (timedOut) return { ok: true, why: `still running after ${seconds} s` };
  return { ok: code === 0, why: `exited ${code}: ${(await stderr).trim().split("\n").slice(-3).join(" | ")}` };
}

test("every command in README.md has a plan here", () => {
  const missing = documentedCommands().filter((c) => PLANS[c] === undefined);
  expect(missing).toEqual([]);
});

for (const command of documentedCommands()) {
  const plan = PLANS[command];
  if (plan === undefined || "coveredBy" in plan) continue;
  test(`README: ${command}`, async () => {
    const r = await runBriefly(plan.run, plan.seconds);
    if (!r.ok) throw new Error(`${plan.run}: ${r.why}`);
  }, 120_000);
}
