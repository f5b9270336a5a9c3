/**
 * A replicated map (string → string) on the group layer: every write is a
 * total-order multicast, applied on delivery, so every replica applies the
 * same writes in the same order (docs/groups.md, "Ordered multicast"); a
 * member that joins or restarts starts from the map handed over by state
 * transfer (`getState` / `setState`). One process per member, all with the
 * same hosts file.
 *
 *   bun examples/replicated-map.ts -h hosts.txt --name 127.0.0.1:7201 --writes 1000
 *
 * - `--writes N`: issue N random writes `{ key, value }` once a member
 *   (keys from `--key-space K`, default 16; values `NAME/EPOCH-i`, unique),
 *   one every `--interval MS` (default 5; 0: all in one burst), after
 *   `--wait-members M` members are in the view (default: at once).
 * - stdin: each line `put KEY VALUE` is one more write.
 * - `--order fifo` multicasts the writes in FIFO order instead: replicas
 *   then apply concurrent writes in different orders and their maps differ
 *   (a demonstration of why total order is needed).
 * - `--seed S`: the seed of the random writes (logged at start).
 *
 * Logs JSON lines on stdout: `start`, `view` at each view, `ready`,
 * `state` (the map arrived by state transfer), `writes-done`, and `digest`
 * every 500 ms, on SIGUSR2, and on SIGTERM/SIGINT (`final: true`, then it
 * leaves the group and exits 0):
 *
 *   {"event":"digest","viewId":4,"applied":5000,"here":3120,"keys":16,"digest":"<sha256 of the map>","history":"…","writers":{…}}
 *
 * `applied` counts the writes in the map's history (carried by state
 * transfer), `here` the ones this process applied itself, `writers` how
 * many writes of each writer (`NAME/EPOCH`) are in the history, and
 * `history` is a SHA-256 chain over the writes in the order applied.
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { type GroupAppEvent, InputError, type RollcallGroup, startGroup } from "rollcall";

const USAGE =
  "usage: bun examples/replicated-map.ts -h HOSTS_FILE --name MY_ENTRY [--writes N] [--key-space K] [--interval MS] [--wait-members M] [--order total|fifo] [--seed S]";

function fail(message: string): never {
  console.error(`replicated-map: ${message}`);
  console.error(USAGE);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      hosts: { type: "string", short: "h" },
      name: { type: "string" },
      writes: { type: "string" },
      "key-space": { type: "string" },
      interval: { type: "string" },
      "wait-members": { type: "string" },
      order: { type: "string" },
      seed: { type: "string" },
    },
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.hosts === undefined || values.name === undefined) fail("-h HOSTS_FILE and --name MY_ENTRY are required");

/** A non-negative integer flag, from `min` to `max`. */
function intFlag(flag: string, fallback: number, min: number, max: number): number {
  const text = values[flag];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    fail(`--${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}
const writes = intFlag("writes", 0, 0, 10_000_000);
const keySpace = intFlag("key-space", 16, 1, 1_000_000);
const intervalMs = intFlag("interval", 5, 0, 60_000);
const waitMembers = intFlag("wait-members", 1, 1, 1024);
const seed = intFlag("seed", Math.floor(Math.random() * 2 ** 32), 0, 2 ** 32 - 1);
const orderFlag = values.order ?? "total";
if (orderFlag !== "total" && orderFlag !== "fifo") fail(`--order must be "total" or "fifo", got "${orderFlag}"`);
const order: "total" | "fifo" = orderFlag;

// The application state: the map, and how many writes (of whom) made it.
let map = new Map<string, string>();
let applied = 0;
let writers = new Map<string, number>();
/** A hash chain over the writes in the order applied: equal only if the same writes were applied in the same order. */
let history = "";
let here = 0; // writes this process applied itself (not received by state transfer)

const sorted = <V>(m: Map<string, V>): [string, V][] =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const serialiseMap = () => JSON.stringify(sorted(map));
const digest = () => createHash("sha256").update(serialiseMap()).digest("hex");

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Deterministic: the same map and history give the same bytes at every replica. */
const getState = () =>
  encoder.encode(JSON.stringify({ applied, history, writers: sorted(writers), map: JSON.parse(serialiseMap()) }));
const setState = (bytes: Uint8Array) => {
  // The founders of a group start from the empty state: zero bytes.
  if (bytes.length === 0) {
    applied = 0;
    history = "";
    writers = new Map();
    map = new Map();
    return;
  }
  const s = JSON.parse(decoder.decode(bytes)) as {
    applied: number;
    history: string;
    writers: [string, number][];
    map: [string, string][];
  };
  applied = s.applied;
  history = s.history;
  writers = new Map(s.writers);
  map = new Map(s.map);
};

interface Write {
  k: string;
  v: string;
  w: string;
}
function apply(body: Uint8Array): void {
  const { k, v, w } = JSON.parse(decoder.decode(body)) as Write;
  map.set(k, v);
  applied++;
  history = createHash("sha256").update(history).update(body).digest("hex");
  here++;
  writers.set(w, (writers.get(w) ?? 0) + 1);
}

const log = (record: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(record)}\n`);

let view: { viewId: number; size: number } | undefined;
let viewWaiters: (() => void)[] = [];
let writableWaiters: (() => void)[] = [];
const wakeAll = (list: (() => void)[]) => {
  for (const w of list) w();
};

const onGroupEvent = (e: GroupAppEvent) => {
  switch (e.type) {
    case "message":
      apply(e.body);
      break;
    case "view": {
      const ids = (ms: { id: number }[]) => ms.map((m) => m.id);
      log({
        event: "view",
        viewId: e.viewId,
        members: ids(e.members),
        joined: ids(e.joined),
        left: ids(e.left),
        failed: ids(e.failed),
      });
      view = { viewId: e.viewId, size: e.members.length };
      const waiting = viewWaiters;
      viewWaiters = [];
      wakeAll(waiting);
      break;
    }
    case "writable": {
      const waiting = writableWaiters;
      writableWaiters = [];
      wakeAll(waiting);
      break;
    }
    case "state":
      log({ event: "state", viewId: e.viewId, bytes: e.bytes, applied, keys: map.size });
      break;
    default:
      log({ event: e.type, ...e, type: undefined });
  }
};

let group: RollcallGroup;
try {
  group = await startGroup({ hostsFile: values.hosts, name: values.name, getState, setState, onGroupEvent });
} catch (error) {
  console.error(`replicated-map: ${(error as Error).message}`);
  process.exit(error instanceof InputError ? 2 : 1);
}
const me = `${values.name}/${group.peer.epoch}`;
log({ event: "start", name: values.name, id: group.peer.id, epoch: group.peer.epoch, seed, order, writes });
// The peer's own events (peerUp, peerFailed...) are not needed here; take them so they never pile up.
void (async () => {
  for await (const _ of group.peer.events());
})();

let stopping = false;
const logDigest = (final = false) =>
  log({
    event: "digest",
    viewId: group.view?.viewId,
    applied,
    here,
    keys: map.size,
    digest: digest(),
    history,
    writers: Object.fromEntries(sorted(writers)),
    ...(final ? { final: true } : {}),
  });
const ticker = setInterval(() => logDigest(), 500);
process.on("SIGUSR2", () => logDigest());
const stop = async (signal: string) => {
  if (stopping) process.exit(0);
  stopping = true;
  clearInterval(ticker);
  await group.close(signal);
  logDigest(true);
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

/** One write: multicast, retried on `queue-full` once the group is writable again (or 50 ms passed). */
let written = 0;
async function put(k: string, v: string): Promise<void> {
  const body = encoder.encode(JSON.stringify({ k, v, w: me } satisfies Write));
  while (!stopping) {
    if (group.multicast(body, { order }).ok) {
      written++;
      return;
    }
    await Promise.race([new Promise<void>((resolve) => writableWaiters.push(resolve)), Bun.sleep(50)]);
  }
}

// mulberry32: a small seeded generator, so that a run's writes can be replayed.
let rngState = seed >>> 0;
function random(): number {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
}

await group.ready;
log({ event: "ready", viewId: group.view?.viewId, applied, keys: map.size });

const writer = (async () => {
  if (writes === 0) return;
  while (!stopping && (view?.size ?? 0) < waitMembers) await new Promise<void>((resolve) => viewWaiters.push(resolve));
  for (let i = 1; i <= writes && !stopping; i++) {
    await put(`k${Math.floor(random() * keySpace)}`, `${me}-${i}`);
    if (intervalMs > 0) await Bun.sleep(intervalMs);
  }
  if (!stopping) log({ event: "writes-done", issued: written });
})();

// stdin: `put KEY VALUE` lines (the value is the rest of the line).
for await (const line of console) {
  if (stopping) break;
  const m = /^put\s+(\S+)\s+(.*)$/.exec(line.trim());
  if (m === null) {
    if (line.trim() !== "") console.error(`replicated-map: expected "put KEY VALUE", got ${JSON.stringify(line)}`);
    continue;
  }
  await put(m[1]!, m[2]!);
}
await writer;
