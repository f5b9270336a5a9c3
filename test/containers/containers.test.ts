/**
 * Real containers: the image built from the real Dockerfile, peers on a
 * user-defined bridge network, packet loss by nft inside each container's
 * network namespace, a SIGKILLed container restarted, the group layer
 * (5 attached containers multicasting their stdin, the coordinator
 * SIGKILLed and started again), and compose.yaml.
 *
 * test/containers/setup.sh installs Docker, Compose and nftables from Debian
 * if missing, starts dockerd, and builds the base image from the Bun binary
 * npm installed (no registry can be pulled from here). It runs in beforeAll,
 * not when the file loads, and afterAll undoes what it did and nothing more:
 * it stops dockerd only if setup.sh started it, and removes the base image
 * only if setup.sh built it. Where no engine can run at all (not root, or no
 * namespaces), these tests are skipped with a loud message; in CI (CI=true)
 * they must run, and fail if the engine cannot be started.
 * Everything else created (containers, networks, images) carries this run's
 * id and is removed afterwards; afterAll fails if any of it is left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_MEMBERSHIP_CONFIG, detectionBoundMs } from "../../src/membership/config.ts";
import { expectFifo, type LineWriter, writeLines } from "../support/lines.ts";

const CI = process.env.CI === "true";
const ROOT = join(import.meta.dir, "../..");
const RUN_ID = `rct${Math.floor(Math.random() * 1e6)}`;
const IMAGE = `rollcall-test/rollcall:${RUN_ID}`;
// The Dockerfile's first stage, tagged: the classic builder keeps that stage's
// layers as untagged images, and removing this tag is what removes them.
const DEPS_IMAGE = `rollcall-test/rollcall-deps:${RUN_ID}`;
const NETWORK = `${RUN_ID}-net`;
const LABEL = `rollcall-test=${RUN_ID}`;
const COMPOSE_PROJECT = `${RUN_ID}compose`;
const COMPOSE_LABEL = `com.docker.compose.project=${COMPOSE_PROJECT}`;

function sh(
  cmd: string[],
  options: { allowFail?: boolean; env?: Record<string, string>; timeoutMs?: number } = {},
): string {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const r = Bun.spawnSync(cmd, {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  // Even where failure is allowed: a command that hangs is never the expected outcome.
  if (r.exitedDueToTimeout) throw new Error(`${cmd.join(" ")} did not finish within ${timeoutMs} ms; killed`);
  if (r.exitCode !== 0 && !options.allowFail) {
    throw new Error(`${cmd.join(" ")} exited ${r.exitCode}: ${r.stderr.toString().slice(-2000)}`);
  }
  return r.stdout.toString();
}

/** Whether `cmd` exits 0 (false also when it cannot be started, or hangs for 30 s). */
function succeeds(cmd: string[]): boolean {
  try {
    return Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore", timeout: 30_000, killSignal: "SIGKILL" }).success;
  } catch {
    return false; // not installed (yet)
  }
}

const dockerAnswers = () => succeeds(["docker", "info"]);

// --- engine ---------------------------------------------------------------
/**
 * Why no Docker engine can run here, or undefined. Starts nothing: the engine
 * is started in beforeAll, but whether to skip must be known when the tests
 * are declared.
 */
function whyNoEngine(): string | undefined {
  if (dockerAnswers()) return undefined;
  if (process.getuid?.() !== 0) return "no Docker engine answers, and only root can install and start one";
  const ns = Bun.spawnSync(["unshare", "--net", "--mount", "true"], {
    stdout: "ignore",
    stderr: "pipe",
    timeout: 10_000,
    killSignal: "SIGKILL",
  });
  if (ns.exitCode !== 0) {
    return `no Docker engine answers, and none can run here: creating namespaces failed (${ns.stderr.toString().trim()})`;
  }
  return undefined;
}

// In CI the engine must start: never skip there, let beforeAll fail instead.
const noEngine = CI ? undefined : whyNoEngine();
if (noEngine !== undefined) console.warn(`\n*** SKIPPING container tests: ${noEngine}\n***\n`);
const containerTest = noEngine !== undefined ? test.skip : test;

/** What beforeAll found and did, for afterAll to undo. */
const state = {
  dir: undefined as string | undefined,
  engineWasUp: false,
  dockerdStarted: undefined as number | undefined,
  baseImage: "",
  baseImageBuilt: false,
};

/** A live process (not a zombie) with this command name. */
function running(pid: number, comm: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ...": comm may contain spaces, the state follows the last ")".
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    return name === comm && stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** Stops the dockerd this run started (SIGTERM, which also stops its containerd), killing it if it hangs. */
async function stopDockerd(pid: number): Promise<string | undefined> {
  // Checked by name: had it died on its own, its PID could belong to another process by now.
  if (!running(pid, "dockerd")) return undefined;
  const containerdPidFile = "/var/run/docker/containerd/containerd.pid";
  let containerd: number | undefined;
  try {
    containerd = Number(readFileSync(containerdPidFile, "utf8").trim());
  } catch {
    // dockerd may be using a system containerd, which is not ours to stop.
  }
  process.kill(pid, "SIGTERM");
  const deadline = performance.now() + 60_000;
  while (running(pid, "dockerd") && performance.now() < deadline) await Bun.sleep(200);
  if (!running(pid, "dockerd")) return undefined;
  process.kill(pid, "SIGKILL");
  if (containerd !== undefined && running(containerd, "containerd")) process.kill(containerd, "SIGKILL");
  return `dockerd ${pid} did not stop within 60 s of SIGTERM; killed it and its containerd`;
}

// --- helpers ----------------------------------------------------------------
function hostsFile(names: string[]): string {
  const file = join(state.dir!, `hosts-${names[0]}`);
  writeFileSync(file, `${names.join("\n")}\n`);
  return file;
}

/**
 * Starts a peer container. `network` is this run's network, or
 * `container:NAME` to join the network namespace of another container.
 */
function runPeer(
  name: string,
  hosts: string,
  options: { network?: string; logLevel?: string; args?: string[] } = {},
): void {
  startContainer(name, options.network ?? NETWORK, peerArgs(hosts, options.logLevel, options.args));
}

/** The `docker run` arguments from the hosts file mount on: the image, then the peer's arguments. */
function peerArgs(hosts: string, logLevel?: string, args: string[] = []): string[] {
  const level = logLevel ?? process.env.ROLLCALL_TEST_LOG_LEVEL ?? "info";
  return ["-v", `${hosts}:/etc/rollcall/hosts:ro`, IMAGE, "--log-level", level, ...args];
}

/** `docker run -d` of a container of this run, named (and host-named) `name`, on `network`; `rest` follows. */
function startContainer(name: string, network: string, rest: string[]): void {
  sh(["docker", "run", "-d", ...containerArgs(name, network), ...rest]);
}

/** Names (and host-names) a container of this run `name`, on `network`, with this run's label. */
function containerArgs(name: string, network: string): string[] {
  // Docker refuses a hostname for a container that joins another's namespace; it gets that one's.
  const hostname = network.startsWith("container:") ? [] : ["--hostname", name];
  return ["--name", name, ...hostname, "--network", network, "--label", LABEL];
}

/** A docker client attached to a container: what the test writes to its stdin is the peer's stdin. */
type Attached = Bun.Subprocess<"pipe", "ignore", "pipe">;

/**
 * Starts a peer container like runPeer, but attached (`docker run -i`, no
 * -d): the image has no shell to run a writer inside the container, so the
 * test writes the peer's stdin through the client. The client's copy of the
 * peer's stdout is dropped (the log is read with `docker logs`, as for every
 * other container; an attached reader that fell behind could hold the
 * container's writes back); its stderr is kept for why it failed, if it does.
 */
function runAttachedPeer(name: string, hosts: string, logLevel: string, args: string[]): Attached {
  return attach(["docker", "run", "-i", ...containerArgs(name, NETWORK), ...peerArgs(hosts, logLevel, args)]);
}

/** `docker start -a -i` of a stopped container that was run attached: a new process, attached again. */
const startAttached = (name: string): Attached => attach(["docker", "start", "-a", "-i", name]);

function attach(cmd: string[]): Attached {
  return Bun.spawn(cmd, { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
}

/**
 * Waits until each of these containers printed its `count`th READY; fails
 * at once, with the client's stderr, if one's client exits first.
 */
async function waitAttachedReady(names: string[], clients: Attached[], count: number, timeoutMs: number) {
  const exited = () => clients.findIndex((c) => c.exitCode !== null);
  const ready = async (n: string) => (await logsAsync(n)).stderr.split("\n").filter((l) => l === "READY").length;
  await waitFor(
    `READY (${count}) at ${names.join(", ")}`,
    async () => exited() >= 0 || (await Promise.all(names.map(ready))).every((c) => c === count),
    timeoutMs,
  );
  const i = exited();
  if (i >= 0) {
    const why = await new Response(clients[i]!.stderr).text();
    throw new Error(`the docker client of ${names[i]} exited ${clients[i]!.exitCode}: ${why}`);
  }
}

/** Waits (at most `timeoutMs`) for an attached client to exit; kills it (by its PID) if it does not. */
async function clientExited(client: Attached, timeoutMs: number): Promise<boolean> {
  const exited = await Promise.race([client.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  if (!exited) client.kill("SIGKILL");
  return exited;
}

function logs(name: string): { stdout: string; stderr: string } {
  const r = Bun.spawnSync(["docker", "logs", name], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function records(name: string): Record<string, unknown>[] {
  return logs(name)
    .stdout.split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/** Polls `check` every 200 ms; on timeout, the error tells `story` (what was seen) if given. */
async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  story?: () => string | Promise<string>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(200);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${story === undefined ? "" : `:\n${await story()}`}`,
  );
}

/**
 * logs() without blocking the event loop: for a test whose own timers must
 * go on while it polls (writers feeding containers' stdin).
 */
async function logsAsync(name: string): Promise<{ stdout: string; stderr: string }> {
  const p = Bun.spawn(["docker", "logs", name], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  return { stdout, stderr };
}

/** The records of `name`'s log with one of these events (only those lines parsed: a group's log is long). */
async function recordsOf(name: string, ...events: string[]): Promise<Record<string, unknown>[]> {
  const marks = events.map((e) => `"event":"${e}"`);
  return (await logsAsync(name)).stdout
    .split("\n")
    .filter((l) => l.startsWith("{") && marks.some((m) => l.includes(m)))
    .map((l) => JSON.parse(l));
}

function readyCount(name: string): number {
  return logs(name)
    .stderr.split("\n")
    .filter((l) => l === "READY").length;
}

function netnsPid(name: string): string {
  return sh(["docker", "inspect", "-f", "{{.State.Pid}}", name]).trim();
}

/**
 * Drops `percent`% of the UDP datagrams sent to rollcall's port (7700) from
 * the network namespace of container `name`. Every peer gets this, so each
 * datagram between two peers crosses one lossy hop. The rule matches only
 * rollcall's traffic: an input-hook rule in the container's namespace also
 * made Docker's embedded DNS time out (lookups took over 20 s), which would
 * measure the resolver instead of rollcall. A first rule counts every such
 * datagram, lost or not.
 */
function dropUdp(name: string, percent: number, allUdp = false): void {
  const pid = netnsPid(name);
  const nft = (...args: string[]) => sh(["nsenter", "-t", pid, "-n", "nft", ...args]);
  // allUdp: every UDP datagram the container sends, DNS queries included.
  const match = allUdp ? ["meta", "l4proto", "udp"] : ["udp", "dport", "7700"];
  nft("add", "table", "inet", "chaos");
  nft("add", "chain", "inet", "chaos", "output", "{ type filter hook output priority 0 ; policy accept ; }");
  nft("add", "rule", "inet", "chaos", "output", ...match, "counter");
  nft(
    "add",
    "rule",
    "inet",
    "chaos",
    "output",
    ...match,
    "numgen",
    "random",
    "mod",
    "100",
    "<",
    String(percent),
    "counter",
    "drop",
  );
}

/** The counters of dropUdp's two rules: datagrams that met the rule, and those it dropped. */
function lossCounters(name: string): { seen: number; dropped: number } {
  const text = sh(["nsenter", "-t", netnsPid(name), "-n", "nft", "list", "table", "inet", "chaos"]);
  const counts = [...text.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
  if (counts.length !== 2) throw new Error(`expected 2 counters in ${name}'s chaos table, got:\n${text}`);
  return { seen: counts[0]!, dropped: counts[1]! };
}

/**
 * Starts a peer whose datagrams cross `percent`% loss from the very first.
 * A container's network namespace exists only once it runs, so a holder
 * container that sends nothing (an idle bun) creates it, under the peer's
 * name and hostname, and the loss rule goes in there; only then does the peer
 * container start, inside that namespace (as a pod's pause container does).
 * Returns the time (ms since the epoch) by which the rule was in place.
 */
function runLossyPeer(name: string, hosts: string, percent: number, allUdp = false): number {
  startContainer(name, NETWORK, ["--entrypoint", "bun", IMAGE, "-e", "setInterval(() => {}, 1 << 30)"]);
  dropUdp(name, percent, allUdp);
  const ruleAt = Date.now();
  // debug: the log then has a "send" record for every datagram, the first one included.
  runPeer(peerOf(name), hosts, { network: `container:${name}`, logLevel: "debug" });
  return ruleAt;
}

const peerOf = (holder: string) => `${holder}-peer`;

// --- the group layer (docs/groups.md) -----------------------------------------
const views = (name: string) => recordsOf(name, "view");
const lastView = async (name: string) => (await views(name)).at(-1);

/** The records of the last process that ran in container `name` (a restarted one's log holds every run's). */
async function lastRun(name: string, ...events: string[]): Promise<Record<string, unknown>[]> {
  const all = await recordsOf(name, "start", ...events);
  return all.slice(all.findLastIndex((r) => r.event === "start") + 1);
}

/** The last view of each of `names` if it is the same one, with these members; else undefined. */
async function agreedView(names: string[], members: number[]): Promise<Record<string, unknown> | undefined> {
  const last = await Promise.all(names.map(lastView));
  const same = last.every((v) => `${v?.members}` === `${members}` && v!.viewId === last[0]!.viewId);
  return same ? last[0] : undefined;
}

/** Views at each container, for a timeout's message. */
const viewStory = (names: string[]) => async () =>
  (
    await Promise.all(
      names.map(async (n) => `${n}: ${(await views(n)).map((v) => `${v.viewId}:[${v.members}]`).join(" ")}`),
    )
  ).join("\n");

/** Lines to an attached peer's stdin (`--multicast-stdin`) while its client runs. */
const clientWriter = (id: number, client: Attached, after = 0): LineWriter =>
  writeLines(id, client.stdin, () => client.exitCode === null && client.signalCode === null, after);

/** Removes what carries `label`; returns what was still there after. */
function removeLabelled(label: string): string[] {
  const containers = () =>
    sh(["docker", "ps", "-aq", "--filter", `label=${label}`])
      .trim()
      .split("\n")
      .filter(Boolean);
  const networks = () =>
    sh(["docker", "network", "ls", "-q", "--filter", `label=${label}`])
      .trim()
      .split("\n")
      .filter(Boolean);
  const c = containers();
  if (c.length > 0) sh(["docker", "rm", "-f", "-v", ...c], { allowFail: true });
  const n = networks();
  if (n.length > 0) sh(["docker", "network", "rm", ...n], { allowFail: true });
  return [...containers().map((id) => `container ${id}`), ...networks().map((id) => `network ${id}`)];
}

beforeAll(async () => {
  if (noEngine !== undefined) return;
  state.dir = mkdtempSync(join(tmpdir(), "rollcall-containers-"));
  state.engineWasUp = dockerAnswers();
  // Installing packages and building the base image can take minutes on a fresh machine.
  const setup = Bun.spawnSync(["bash", join(import.meta.dir, "setup.sh")], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 600_000,
    killSignal: "SIGKILL",
  });
  const lines = setup.stdout.toString().trim().split("\n");
  // Read before checking the exit code: a dockerd that started but never answered must still be stopped.
  for (const line of lines) {
    const [key, value] = line.split(" ");
    if (key === "dockerd-started") state.dockerdStarted = Number(value);
    if (key === "base-image-built") {
      state.baseImageBuilt = true;
      state.baseImage = value ?? "";
    }
  }
  if (setup.exitCode !== 0) {
    const why = setup.exitedDueToTimeout ? "did not finish within 600 s" : `exited ${setup.exitCode}`;
    throw new Error(
      `test/containers/setup.sh ${why}:\n${setup.stderr.toString().trim().split("\n").slice(-10).join("\n")}`,
    );
  }
  state.baseImage = lines.at(-1) ?? "";

  const ca = sh(["bash", join(import.meta.dir, "registry-ca.sh")], { allowFail: true });
  const build = (tag: string, target: string[]) =>
    sh(
      [
        "docker",
        "build",
        "-q",
        ...target,
        "--build-arg",
        `BUN_IMAGE=${state.baseImage}`,
        "--build-arg",
        `EXTRA_CA_PEM=${ca}`,
        "-t",
        tag,
        ROOT,
      ],
      { timeoutMs: 300_000 },
    );
  build(DEPS_IMAGE, ["--target", "deps"]);
  build(IMAGE, []); // reuses the deps stage just built
  sh(["docker", "network", "create", "--label", LABEL, NETWORK]);
}, 1_500_000);

afterAll(async () => {
  if (noEngine !== undefined) return;
  // Every step runs even when one before it failed; what each could not undo is reported at the end.
  const problems: string[] = [];
  const step = async (what: string, undo: () => unknown) => {
    try {
      await undo();
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  if (dockerAnswers()) {
    await step("containers and networks", () => {
      const left = [...removeLabelled(LABEL), ...removeLabelled(COMPOSE_LABEL)];
      if (left.length > 0) throw new Error(`still there: ${left.join(", ")}`);
    });
    // The base image last: it is the parent of the others.
    const images = [IMAGE, DEPS_IMAGE, ...(state.baseImageBuilt ? [state.baseImage] : [])];
    for (const image of images) {
      await step(`image ${image}`, () => {
        if (!succeeds(["docker", "image", "inspect", image])) return; // never built (beforeAll failed first)
        sh(["docker", "rmi", image]);
      });
    }
  }
  const dockerd = state.dockerdStarted;
  if (dockerd !== undefined) {
    await step("dockerd", async () => {
      const problem = await stopDockerd(dockerd);
      if (problem !== undefined) throw new Error(problem);
    });
  }
  if (state.dir !== undefined) rmSync(state.dir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`container tests could not clean up:\n${problems.join("\n")}`);
}, 300_000);

describe("containers", () => {
  containerTest("the engine answers, and was started by this run only if it was not running before", () => {
    expect(dockerAnswers()).toBe(true);
    expect(state.dockerdStarted !== undefined).toBe(!state.engineWasUp);
  });

  containerTest("the image runs as a non-root user and reports its size", () => {
    const user = sh(["docker", "image", "inspect", "-f", "{{.Config.User}}", IMAGE]).trim();
    expect(user).toBe("1000:1000");
    const size = Number(sh(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE]).trim());
    console.log(`image ${IMAGE}: ${(size / 1e6).toFixed(1)} MB`);
    expect(size).toBeLessThan(300e6);
  });

  containerTest(
    "5 containers all print READY, stderr is only READY, and SIGTERM or SIGINT exits 0 after the goodbye",
    async () => {
      const names = [1, 2, 3, 4, 5].map((i) => `${RUN_ID}-a${i}`);
      const hosts = hostsFile(names);
      for (const n of names) runPeer(n, hosts);
      await waitFor("5 READY", () => names.every((n) => readyCount(n) === 1), 60_000);
      // One is stopped with SIGINT (Ctrl-C in `docker run -it`), the others with docker stop's SIGTERM.
      sh(["docker", "kill", "-s", "INT", names[0]!]);
      sh(["docker", "wait", names[0]!], { timeoutMs: 15_000 });
      sh(["docker", "stop", "-t", "10", ...names.slice(1)]);
      for (const n of names) {
        expect(logs(n).stderr).toBe("READY\n");
        expect(sh(["docker", "inspect", "-f", "{{.State.ExitCode}}", n]).trim()).toBe("0");
        expect(records(n).at(-1)).toMatchObject({ event: "stop", reason: n === names[0] ? "SIGINT" : "SIGTERM" });
      }
      sh(["docker", "rm", "-f", ...names]);
    },
    120_000,
  );

  containerTest(
    "10 containers in random order with delays and 30% of UDP dropped by nft in each from the first datagram: all READY",
    async () => {
      const names = Array.from({ length: 10 }, (_, i) => `${RUN_ID}-b${i + 1}`);
      const peers = names.map(peerOf);
      const hosts = hostsFile(names);
      const order = [...names].sort(() => Math.random() - 0.5);
      const ruleAt = new Map<string, number>();
      const started = performance.now();
      let lastStarted = started;
      for (const n of order) {
        ruleAt.set(n, runLossyPeer(n, hosts, 30));
        lastStarted = performance.now();
        await Bun.sleep(Math.floor(Math.random() * 400));
      }
      await waitFor("10 READY", () => peers.every((p) => readyCount(p) === 1), 30_000);
      const now = performance.now();
      console.log(
        `10 containers at 30% loss: all READY ${((now - lastStarted) / 1000).toFixed(1)} s after the last start ` +
          `(${((lastStarted - started) / 1000).toFixed(1)} s to start them all)`,
      );
      // Each peer's first datagram (its first "send" record, logged before
      // the socket is written) came after its loss rule was in place.
      const early = names.flatMap((n) => {
        const first = records(peerOf(n)).find((r) => r.event === "send");
        if (first === undefined) return [`${n}: no "send" record`];
        const rule = new Date(ruleAt.get(n)!).toISOString();
        return Date.parse(String(first.ts)) >= ruleAt.get(n)! ? [] : [`${n}: first datagram ${first.ts}, rule ${rule}`];
      });
      expect(early).toEqual([]);
      const counters = names.map(lossCounters);
      for (const c of counters) expect(c.seen).toBeGreaterThan(0);
      expect(counters.reduce((s, c) => s + c.dropped, 0)).toBeGreaterThan(0);
      for (const p of peers) expect(logs(p).stderr).toBe("READY\n");
      sh(["docker", "rm", "-f", ...peers, ...names]);
    },
    180_000,
  );

  containerTest(
    "8 containers with 40% of all their UDP dropped, DNS lookups included: all READY soon after the last start",
    async () => {
      const names = Array.from({ length: 8 }, (_, i) => `${RUN_ID}-d${i + 1}`);
      const peers = names.map(peerOf);
      // The hosts file has names (the namespace holders', which the peers share), so every peer must
      // resolve every other through the lossy network: Docker's embedded DNS is reached over UDP too.
      const hosts = hostsFile(names);
      let lastStarted = 0;
      for (const n of [...names].sort(() => Math.random() - 0.5)) {
        runLossyPeer(n, hosts, 40, true);
        lastStarted = performance.now();
      }
      await waitFor("8 READY", () => peers.every((p) => readyCount(p) === 1), 60_000);
      const afterMs = performance.now() - lastStarted;
      console.log(
        `8 containers, 40% loss on all UDP (DNS too): all READY ${(afterMs / 1000).toFixed(1)} s after the last start`,
      );
      // The slowest peer's story, for when this is slow: its start, lookups and READY.
      const readyAt = (p: string) => Date.parse(String(records(p).find((r) => r.event === "ready")?.ts));
      const slowest = peers.reduce((a, b) => (readyAt(a) >= readyAt(b) ? a : b));
      const story = records(slowest).filter((r) =>
        ["start", "resolved", "resolve-failed", "ready", "peer-up"].includes(String(r.event)),
      );
      const t0 = Date.parse(String(story[0]?.ts));
      const line = (r: Record<string, unknown>) =>
        `+${Date.parse(String(r.ts)) - t0}ms ${r.event}${r.peer === undefined ? "" : ` ${r.peer}`}${r.code === undefined ? "" : ` ${r.code}`}`;
      console.log(`slowest (${slowest}): ${story.map(line).join(", ")}`);
      const counters = names.map(lossCounters);
      expect(counters.reduce((s, c) => s + c.dropped, 0)).toBeGreaterThan(0);
      for (const p of peers) expect(logs(p).stderr).toBe("READY\n");
      sh(["docker", "rm", "-f", ...peers, ...names]);
    },
    180_000,
  );

  containerTest(
    "docker kill one of 5 containers: the other 4 declare it failed; started again, it is READY and alive again with its new epoch",
    async () => {
      const names = [1, 2, 3, 4, 5].map((i) => `${RUN_ID}-c${i}`);
      const hosts = hostsFile(names);
      for (const n of names) runPeer(n, hosts);
      await waitFor("5 READY", () => names.every((n) => readyCount(n) === 1), 60_000);
      const victim = names[2]!;
      const others = names.filter((n) => n !== victim);
      const epochOf = () =>
        records(victim)
          .filter((r) => r.event === "start")
          .at(-1)?.epoch;
      const oldEpoch = epochOf();
      const killedAt = Date.now();
      sh(["docker", "kill", "-s", "KILL", victim]);
      const failedAt = (n: string) =>
        records(n).find((r) => r.event === "peer-failed" && r.peer === 3 && r.epoch === oldEpoch)?.ts as
          | string
          | undefined;
      await waitFor(
        "peer-failed logged by the other 4",
        () => others.every((n) => failedAt(n) !== undefined),
        detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, 5),
      );
      console.log(
        `docker kill to peer-failed: ${others.map((n) => Date.parse(failedAt(n)!) - killedAt).join(", ")} ms`,
      );
      sh(["docker", "start", victim]);
      await waitFor("READY again", () => readyCount(victim) === 2, 60_000);
      const newEpoch = epochOf();
      expect(newEpoch).not.toBe(oldEpoch);
      const seen = (n: string) =>
        records(n).some(
          (r) => r.event === "peer-restarted" && r.peer === 3 && r.oldEpoch === oldEpoch && r.newEpoch === newEpoch,
        ) &&
        records(n).some(
          (r) => r.event === "peer-alive" && r.peer === 3 && r.epoch === newEpoch && r.reason === "rejoined",
        );
      await waitFor("peer-restarted and peer-alive logged by every other peer", () => others.every(seen), 15_000);
      sh(["docker", "rm", "-f", ...names]);
    },
    120_000,
  );

  containerTest(
    "group layer in 5 containers all multicasting their stdin: docker kill of the coordinator, the survivors install the same view without it having delivered the same set; started again, it joins with the state",
    async () => {
      const names = [1, 2, 3, 4, 5].map((i) => `${RUN_ID}-g${i}`);
      const hosts = hostsFile(names);
      const clients: Attached[] = [];
      const writers: LineWriter[] = []; // every writer started, the killed peer's first one included
      const story = viewStory(names);
      try {
        for (const n of names) clients.push(runAttachedPeer(n, hosts, "info", ["--group", "--multicast-stdin"]));
        await waitAttachedReady(names, clients, 1, 60_000);
        // From here on, what waits must not block the event loop (no spawnSync): the writers run in it.
        const writing = names.map((_, i) => clientWriter(i + 1, clients[i]!));
        writers.push(...writing);
        const all = [1, 2, 3, 4, 5];
        await waitFor("one view of all 5 at every peer", async () => !!(await agreedView(names, all)), 30_000, story);
        const agreed = (await lastView(names[0]!))!.viewId as number;
        // A second of all 5 multicasting in that view: the kill then cuts streams in full flow.
        await Bun.sleep(1_000);

        // The coordinator: the lowest id, the first line of the hosts file.
        const victim = names[0]!;
        const survivors = names.slice(1);
        const oldEpoch = (await recordsOf(victim, "start"))[0]!.epoch as number;
        expect((await logsAsync(victim)).stderr).toBe("READY\n");
        const killedAt = Date.now();
        const kill = Bun.spawn(["docker", "kill", "-s", "KILL", victim], { stdout: "ignore", stderr: "pipe" });
        if ((await kill.exited) !== 0) {
          const state = sh(["docker", "inspect", "-f", "{{json .State}}", victim], { allowFail: true });
          const tail = (await logsAsync(victim)).stderr.slice(-2000);
          throw new Error(
            `docker kill ${victim} failed: ${(await new Response(kill.stderr).text()).trim()}; state ${state}; stderr: ${tail}`,
          );
        }
        expect(await clientExited(clients[0]!, 30_000)).toBe(true);
        await writing[0]!.stop();
        const without = [2, 3, 4, 5];
        await waitFor(
          "the survivors' view without peer 1",
          async () => !!(await agreedView(survivors, without)),
          detectionBoundMs(DEFAULT_MEMBERSHIP_CONFIG, 5) + 10_000,
          story,
        );
        // The view after the one it died in (another, with the same members, may follow it under load).
        const viewAfterAgreed = async (n: string) => {
          const vs = await views(n);
          return vs[vs.findIndex((v) => v.viewId === agreed) + 1]!;
        };
        const next = await viewAfterAgreed(survivors[0]!);
        const viewAt = async (n: string) => Date.parse(String((await viewAfterAgreed(n)).ts)) - killedAt;
        const killToView = await Promise.all(survivors.map(viewAt));
        for (const n of survivors) {
          const now = await viewAfterAgreed(n);
          expect(now.viewId).toBe(next.viewId);
          expect(now.members).toEqual(without);
          expect(now.left).toEqual([1]);
        }
        // Virtual synchrony: the survivors delivered the same set in the view the coordinator died in.
        const deliveredIn = async (n: string, viewId: number) =>
          (await recordsOf(n, "deliver")).filter((r) => r.viewId === viewId).map((r) => r.body as string);
        const before = await deliveredIn(survivors[0]!, agreed);
        const fromVictim = before.filter((b) => b.startsWith("p1-")).length;
        console.log(
          `docker kill of the coordinator to the survivors' new view: ${killToView.join(", ")} ms ` +
            `(in the view it died in, each survivor delivered ${before.length} lines, ${fromVictim} of them from peer 1)`,
        );
        expect(fromVictim).toBeGreaterThan(0);
        for (const n of survivors) {
          const mine = await deliveredIn(n, agreed);
          expectFifo(mine);
          expect([...mine].sort()).toEqual([...before].sort());
        }

        // Started again: a new process in the same container, attached and multicasting again.
        clients[0] = startAttached(victim);
        const firstRunWrote = writing[0]!.written();
        writing[0] = clientWriter(1, clients[0], firstRunWrote);
        writers.push(writing[0]);
        await waitAttachedReady([victim], [clients[0]], 2, 60_000);
        const newEpoch = (await recordsOf(victim, "start")).at(-1)?.epoch;
        expect(newEpoch).toBeDefined();
        expect(newEpoch).not.toBe(oldEpoch);
        await waitFor("a view of all 5 again", async () => !!(await agreedView(names, all)), 30_000, story);
        const rejoined = (await lastView(victim))!.viewId as number;
        // A second of all 5 multicasting in it, then quiet.
        await Bun.sleep(1_000);
        await Promise.all(writing.map((w) => w.stop()));

        // From the agreed view on (the restarted process: from the view it rejoined in), each peer
        // delivered every line each survivor wrote, and every line peer 1 wrote once started again,
        // once and in order.
        const since = (n: string) => (n === victim ? rejoined : agreed);
        /** Per writer (index id - 1): the numbers of its lines `n` delivered, as counted above. */
        const linesAt = async (n: string) => {
          const bodies = (await lastRun(n, "deliver"))
            .filter((r) => (r.viewId as number) >= since(n))
            .map((r) => (r.body as string).split("-"));
          return all.map((id) =>
            bodies
              .filter(([sender]) => sender === `p${id}`)
              .map(([, line]) => Number(line))
              .filter((line) => id !== 1 || line > firstRunWrote),
          );
        };
        const lastWritten = all.map((id) => writing[id - 1]!.written());
        const lastDelivered = async () => Promise.all(names.map(async (n) => (await linesAt(n)).map((l) => l.at(-1))));
        await waitFor(
          "every peer's last line delivered by every peer",
          async () => (await lastDelivered()).every((last) => `${last}` === `${lastWritten}`),
          30_000,
          async () =>
            `written ${lastWritten}; delivered:\n${(await lastDelivered()).map((l, i) => `${names[i]}: ${l}`).join("\n")}`,
        );
        for (const n of names) {
          const lines = await linesAt(n);
          for (const ns of lines) expect(ns).toEqual(ns.map((_, i) => ns[0]! + i));
          // None of what the restarted process wrote before its first view was lost.
          expect(lines[0]![0]).toBe(firstRunWrote + 1);
          // Every delivery of this process, in every view: FIFO per sender, none twice, indexed from 1.
          const delivered = await lastRun(n, "deliver");
          expectFifo(delivered.map((r) => r.body as string));
          expect(delivered.map((r) => r.index)).toEqual(delivered.map((_, i) => i + 1));
        }
        const again = await lastRun(victim, "group-restarted", "group-state");
        expect(again.find((r) => r.event === "group-restarted")).toMatchObject({ replacedEpoch: oldEpoch });
        expect(again.some((r) => r.event === "group-state")).toBe(true);
        // Each process printed its own READY and nothing else: the killed one before the kill, then the new one.
        for (const n of names) expect(logs(n).stderr).toBe(n === victim ? "READY\nREADY\n" : "READY\n");
      } finally {
        await Promise.all(writers.map((w) => w.stop()));
        sh(["docker", "rm", "-f", ...names], { allowFail: true });
        // Removing a container ends its client; one that does not end is killed.
        await Promise.all(clients.map((c) => clientExited(c, 30_000)));
      }
    },
    240_000,
  );

  containerTest(
    "compose.yaml brings the 5-peer group up",
    async () => {
      const compose = Bun.which("docker-compose") ? ["docker-compose"] : ["docker", "compose"];
      const env = { ROLLCALL_IMAGE: IMAGE };
      const run = (...args: string[]) =>
        sh([...compose, "-p", COMPOSE_PROJECT, "-f", join(ROOT, "compose.yaml"), ...args], { env });
      try {
        run("up", "-d", "--no-build");
        const ids = run("ps", "-q").trim().split("\n").filter(Boolean);
        expect(ids.length).toBe(5);
        await waitFor("compose READY", () => ids.every((id) => readyCount(id) === 1), 60_000);
        for (const id of ids) expect(logs(id).stderr).toBe("READY\n");
      } finally {
        // afterAll removes by the project's label whatever this leaves.
        sh([...compose, "-p", COMPOSE_PROJECT, "-f", join(ROOT, "compose.yaml"), "down", "-v", "--remove-orphans"], {
          env,
          allowFail: true,
        });
      }
    },
    120_000,
  );
});
