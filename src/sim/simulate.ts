/**
 * The seeded simulator: N peers, each the same `Peer` in the same drive loop
 * (`PeerLoop`) as on real sockets, on virtual time over an in-memory network
 * that loses, duplicates, reorders, delays and corrupts datagrams (the fault
 * model `--chaos` uses), partitions the group and crashes and restarts peers.
 * One seed derives every fault and every choice of the workload, so every
 * run replays exactly.
 *
 * It runs any protocol: the caller gives an application (a state machine on
 * top of each peer: it sees the peer's events and sends, and may set timers)
 * and the invariant checkers that judge the run. The bootstrap and
 * exactly-once workload of `exactly-once.ts` is one such application.
 */

import type { Host, Module } from "../host/host.ts";
import type { MembershipConfig } from "../membership/config.ts";
import type { Peer } from "../peer/peer.ts";
import type { SessionConfig } from "../reliability/config.ts";
import type { SendResult } from "../reliability/session.ts";
import { applyFaults, type LinkFaults, NO_FAULTS } from "../runtime/faults.ts";
import { type LoopEvent, PeerLoop } from "../runtime/loop.ts";
import { addressesById, MemoryNetwork } from "../runtime/memory.ts";
import { Keyring } from "../security/keyring.ts";
import { Adversary, adversaryChecker } from "./adversary.ts";
import { Rng } from "./rng.ts";
import { VirtualScheduler } from "./virtual-time.ts";

/** Link faults plus the group-level ones: partitions and crashes. */
export interface SimFaults extends LinkFaults {
  /** Mean time between partitions (0: none). A partition splits the peers in two and lasts `partitionMs`. */
  partitionEveryMs: number;
  partitionMs: number;
  /** Mean time between crashes (0: none). A crashed peer restarts with a new epoch after `downMs`. */
  crashEveryMs: number;
  downMs: number;
  /** Share of crashes that last `longDownMs` instead, long enough for the others to declare the peer failed. */
  longDownChance?: number;
  longDownMs?: number;
  /**
   * Chance, per datagram from a restarted peer to a peer that has seen the
   * restart, that a datagram of one of the sender's earlier processes (one
   * the receiver knew, among the last 16) arrives too: an attacker's or a
   * very late network's replay, which must change nothing.
   */
  replayRetired?: number;
  /**
   * Mean time between the adversary's actions (0 or unset: no adversary;
   * src/sim/adversary.ts): forgeries and replays from an address outside the
   * group, until the faults heal. Its checker requires them to change nothing.
   */
  adversaryEveryMs?: number;
}

export const NO_SIM_FAULTS: Readonly<SimFaults> = {
  ...NO_FAULTS,
  delayMs: 1,
  partitionEveryMs: 0,
  partitionMs: 0,
  crashEveryMs: 0,
  downMs: 0,
};

/** One simulated peer, across its incarnations: what applications and checkers see. */
export interface SimNode {
  readonly id: number;
  /** 1 for the first process, +1 at every restart. */
  readonly incarnation: number;
  /** The current process's peer; undefined while crashed or before its start. */
  readonly peer: Peer | undefined;
  readonly up: boolean;
  /** Sends through the drive loop; throws when the node is down. */
  send(to: number, body: Uint8Array): SendResult;
  /** Calls `fn` after `afterMs` of virtual time, unless this incarnation has crashed by then. */
  setTimer(afterMs: number, fn: () => void): void;
  /** Runs a protocol module on the current process (src/host/host.ts); throws when the node is down. */
  attach(module: Module): Host;
}

/** The application on top of one incarnation of a peer. */
export interface SimApp {
  /** Every event of the peer and its drive loop, in order. */
  onEvent?(event: LoopEvent): void;
  /** False while the application still has work to do; the run ends early only when every app is done. */
  done?(): boolean;
}

/** Judges a run: sees every start, event, crash and delivered datagram, and reports violations. */
export interface Checker {
  readonly name: string;
  onStart?(node: SimNode): void;
  /** Called before the application sees the event. */
  onEvent?(node: SimNode, event: LoopEvent): void;
  onCrash?(node: SimNode): void;
  /** A datagram from node `from` reached the current process of `to`. */
  onDeliver?(to: SimNode, from: number, bytes: Uint8Array): void;
  /** False while the checker still waits for something (e.g. convergence); the run ends early only when all are settled. */
  settled?(): boolean;
  /** After the run: liveness and end-state checks. */
  finish?(): void;
}

/** What applications and checkers can ask of the whole run. */
export interface SimWorld {
  readonly options: SimOptions;
  /** Index 1..peers (0 unused). */
  readonly nodes: readonly SimNode[];
  now(): number;
  /** True once the faults have stopped (`healAtMs`). */
  readonly healed: boolean;
  /** Randomness for workloads, derived from the seed. */
  readonly rng: Rng;
  /** Reports a violation; the run fails. */
  violate(checker: string, message: string): void;
}

export interface SimOptions {
  seed: number;
  peers: number;
  faults: SimFaults;
  /** Faults (loss, duplication, reordering, corruption, partitions, crashes) stop at this virtual time. */
  healAtMs: number;
  /** The run ends by this virtual time at the latest. */
  endMs: number;
  /** Bound on processed events, so a bug cannot hang the simulator. */
  stepsMax: number;
  /** Start times are spread uniformly over this many ms (0: all at once). */
  startSpreadMs: number;
  session?: Partial<SessionConfig>;
  /** Failure detector settings for every peer. */
  membership?: Partial<MembershipConfig>;
  /** Key mode (docs/security.md): every peer seals its frames with one key drawn from the seed. */
  keyMode?: boolean;
  /** Builds the application of each incarnation of each node; none by default (bootstrap only). */
  app?: (node: SimNode, world: SimWorld) => SimApp;
  /** Builds the run's checkers. */
  checkers?: (world: SimWorld) => Checker[];
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** Violations reported by the checkers (the first 20); empty when ok. */
  violations: string[];
  virtualMs: number;
  steps: number;
  datagramsSent: number;
  dataTransmissions: number;
  dataRetransmissions: number;
  crashes: number;
  partitions: number;
  /** Datagrams of retired processes replayed (`replayRetired`). */
  retiredReplays: number;
  /** Forgeries and replays the adversary sent (`adversaryEveryMs`). */
  adversaryActions: number;
  /** Of those: delivered PATH_CHALLENGEs replayed, and goodbyes gossiped from a down member's address. */
  adversaryChallengeReplays: number;
  adversaryDownGoodbyes: number;
}

/** Most violations kept; a broken run reports the first ones. */
const VIOLATIONS_MAX = 20;

class Node implements SimNode {
  incarnation = 0;
  loop: PeerLoop<number> | undefined;
  app: SimApp = {};

  constructor(
    readonly id: number,
    private readonly scheduler: VirtualScheduler,
  ) {}

  get peer(): Peer | undefined {
    return this.loop?.peer;
  }

  get up(): boolean {
    return this.loop !== undefined;
  }

  send(to: number, body: Uint8Array): SendResult {
    if (this.loop === undefined) throw new Error(`node ${this.id} is down`);
    return this.loop.send(to, body);
  }

  attach(module: Module): Host {
    if (this.loop === undefined) throw new Error(`node ${this.id} is down`);
    return this.loop.attach(module);
  }

  setTimer(afterMs: number, fn: () => void): void {
    const incarnation = this.incarnation;
    this.scheduler.at(this.scheduler.now() + afterMs, () => {
      if (this.loop !== undefined && this.incarnation === incarnation) fn();
    });
  }
}

/** Runs one simulation; the same options (seed included) always give the same result. */
export function simulate(options: SimOptions): SimResult {
  const rng = new Rng(options.seed);
  const faultRng = rng.fork();
  const epochRng = rng.fork();
  const workRng = rng.fork();
  const detectorRng = rng.fork();
  // Forked after the others, so that seeds without these features replay as before.
  const secretRng = rng.fork();
  const adversaryRng = rng.fork();
  const keyring = options.keyMode
    ? new Keyring([Uint8Array.from({ length: 32 }, () => secretRng.int(0, 255))])
    : undefined;
  const random = () => faultRng.float();
  const f = options.faults;
  const n = options.peers;
  const names = Array.from({ length: n }, (_, i) => `peer-${i + 1}`);
  const digest = new Uint8Array(32).fill(7);
  const scheduler = new VirtualScheduler();
  const violations: string[] = [];
  const nodes: Node[] = [];
  const stats = { crashes: 0, partitions: 0, replays: 0 };
  let partition: Set<number> | undefined;
  let dataTransmissions = 0;
  let dataRetransmissions = 0;

  const world: SimWorld = {
    options,
    nodes,
    now: () => scheduler.now(),
    get healed() {
      return scheduler.now() >= options.healAtMs;
    },
    rng: workRng,
    violate(checker, message) {
      if (violations.length < VIOLATIONS_MAX) violations.push(`${checker}: ${message}`);
    },
  };
  const healedFaults: LinkFaults = { ...NO_FAULTS, delayMs: f.delayMs, jitterMs: f.jitterMs };
  const replays = new RetiredReplay(nodes, random);
  let adversary: Adversary | undefined;
  const network = new MemoryNetwork(scheduler, (from, to, bytes) => {
    adversary?.overhear(from, to, bytes);
    replays.record(from, bytes);
    if (world.healed) return applyFaults(healedFaults, random, bytes);
    if (partition !== undefined && partition.has(from) !== partition.has(to)) return [];
    const arrivals = applyFaults(f, random, bytes);
    const replayChance = f.replayRetired ?? 0;
    const old = replayChance > 0 && random() < replayChance ? replays.pick(from, to) : undefined;
    if (old === undefined) return arrivals;
    stats.replays++;
    return [...arrivals, { bytes: old, delayMs: f.delayMs }];
  });
  const checkers = options.checkers?.(world) ?? [];
  if ((f.adversaryEveryMs ?? 0) > 0) {
    adversary = new Adversary(n, network, scheduler, adversaryRng, f.adversaryEveryMs!, () => !world.healed, {
      epochOf: (id) => nodes[id]?.peer?.epoch ?? 0,
      violate: (message) => world.violate("adversary", message),
    });
    checkers.push(adversaryChecker(world, adversary.address));
  }
  network.onDeliver = (from, to, bytes) => {
    // What reaches the adversary, and what it sends, is not a member's datagram.
    if (to > n || from > n) return;
    adversary?.delivered(from, to, bytes);
    for (const c of checkers) c.onDeliver?.(nodes[to]!, from, bytes);
  };

  for (let id = 1; id <= n; id++) nodes[id] = new Node(id, scheduler);

  const countTransmissions = (node: Node) => {
    const peer = node.peer;
    if (peer === undefined) return;
    for (let other = 1; other <= n; other++) {
      const s = peer.session(other);
      if (s === undefined) continue;
      dataTransmissions += s.stats.framesSent;
      dataRetransmissions += s.stats.retransmissions;
    }
  };

  const start = (node: Node) => {
    node.incarnation++;
    const transport = network.bind(node.id);
    node.app = {};
    node.loop = new PeerLoop<number>({
      peer: {
        selfId: node.id,
        epoch: epochRng.nonZeroU32(),
        names,
        hostsDigest: digest,
        session: options.session,
        membership: options.membership,
        random: (
          (r) => () =>
            r.float()
        )(detectorRng.fork()),
        keyring,
        secureRandom: ((r) => (bytes: Uint8Array) => {
          for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(0, 255);
        })(secretRng.fork()),
      },
      transport,
      scheduler,
      addresses: addressesById(n),
      onEvent: (event) => {
        replays.onEvent(node, event);
        for (const c of checkers) c.onEvent?.(node, event);
        node.app.onEvent?.(event);
        return undefined;
      },
    });
    for (const c of checkers) c.onStart?.(node);
    node.app = options.app?.(node, world) ?? {};
    node.loop.start();
  };

  for (const node of nodes.slice(1)) {
    const at = options.startSpreadMs > 0 ? workRng.int(0, options.startSpreadMs) : 0;
    scheduler.at(at, () => start(node));
  }

  const scheduleCrash = (at: number) =>
    scheduler.at(at, () => {
      if (world.healed) return;
      const node = nodes[faultRng.int(1, n)]!;
      if (node.loop !== undefined) {
        stats.crashes++;
        countTransmissions(node);
        replays.retire(node);
        node.loop.stop();
        node.loop = undefined;
        for (const c of checkers) c.onCrash?.(node);
        // Restart only after every datagram of the old process has left the
        // network (TCP's "quiet time"); docs/reliability.md explains why.
        const quietMs = f.delayMs + f.jitterMs + f.reorderMs + 1;
        const downMs = faultRng.chance(f.longDownChance ?? 0) ? (f.longDownMs ?? f.downMs) : f.downMs;
        scheduler.at(scheduler.now() + Math.max(downMs, quietMs), () => start(node));
      }
      scheduleCrash(scheduler.now() + faultRng.int(f.crashEveryMs / 2, 2 * f.crashEveryMs));
    });
  if (f.crashEveryMs > 0) scheduleCrash(faultRng.int(f.crashEveryMs / 2, 2 * f.crashEveryMs));

  const schedulePartition = (at: number) =>
    scheduler.at(at, () => {
      if (world.healed) return;
      stats.partitions++;
      partition = new Set();
      for (let id = 1; id <= n; id++) if (faultRng.chance(0.5)) partition.add(id);
      scheduler.at(scheduler.now() + f.partitionMs, () => {
        partition = undefined;
        schedulePartition(scheduler.now() + faultRng.int(f.partitionEveryMs / 2, 2 * f.partitionEveryMs));
      });
    });
  if (f.partitionEveryMs > 0) schedulePartition(faultRng.int(0, 2 * f.partitionEveryMs));

  // Done early when the faults are over and every peer is up, READY, idle
  // and out of work. Asked every 256 events: the check walks every node.
  const quiet = () => {
    if (!world.healed || scheduler.steps % 256 !== 0) return false;
    for (const node of nodes.slice(1)) {
      const peer = node.peer;
      if (peer === undefined || !peer.ready || !peer.idle || node.app.done?.() === false) return false;
    }
    return checkers.every((c) => c.settled?.() !== false);
  };
  const outcome = scheduler.run({ untilMs: options.endMs, stepsMax: options.stepsMax, stop: quiet });
  if (outcome === "steps") {
    world.violate("simulator", `step limit ${options.stepsMax} reached at ${scheduler.now().toFixed(1)} ms virtual`);
  }
  for (const c of checkers) c.finish?.();
  for (const node of nodes.slice(1)) countTransmissions(node);
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    virtualMs: scheduler.now(),
    steps: scheduler.steps,
    datagramsSent: network.stats.sent,
    dataTransmissions,
    dataRetransmissions,
    crashes: stats.crashes,
    partitions: stats.partitions,
    retiredReplays: stats.replays,
    adversaryActions: adversary?.actions ?? 0,
    adversaryChallengeReplays: adversary?.challengeReplays ?? 0,
    adversaryDownGoodbyes: adversary?.downGoodbyes ?? 0,
  };
}

/**
 * Datagrams of retired processes, replayed only to processes that knew that
 * epoch and have seen the newer one: within the contract (docs/reliability.md,
 * "quiet time" covers only epochs a receiver never saw), so they must change
 * nothing.
 */
class RetiredReplay {
  /** Per node: recent datagrams of its current process (the last 32). */
  private readonly recent = new Map<number, Uint8Array[]>();
  /** Per node: datagrams of its retired processes, with their epochs (the last 64). */
  private readonly retired = new Map<number, { epoch: number; bytes: Uint8Array }[]>();
  /** `observer:observerEpoch:peer` -> epochs of `peer` that process has seen, oldest first. */
  private readonly seen = new Map<string, number[]>();

  constructor(
    private readonly nodes: readonly SimNode[],
    private readonly random: () => number,
  ) {}

  record(from: number, bytes: Uint8Array): void {
    const list = this.recent.get(from) ?? [];
    list.push(bytes);
    if (list.length > 32) list.shift();
    this.recent.set(from, list);
  }

  retire(node: SimNode): void {
    const epoch = node.peer?.epoch;
    const list = this.recent.get(node.id) ?? [];
    this.recent.delete(node.id);
    if (epoch === undefined) return;
    const old = this.retired.get(node.id) ?? [];
    for (const bytes of list) old.push({ epoch, bytes });
    while (old.length > 64) old.shift();
    this.retired.set(node.id, old);
  }

  onEvent(node: SimNode, event: LoopEvent): void {
    const me = node.peer?.epoch ?? 0;
    const note = (peer: number, epoch: number) => {
      const key = `${node.id}:${me}:${peer}`;
      const list = this.seen.get(key) ?? [];
      if (!list.includes(epoch)) list.push(epoch);
      this.seen.set(key, list);
    };
    if (event.type === "peerUp") note(event.peer, event.epoch);
    else if (event.type === "peerRestarted") {
      note(event.peer, event.oldEpoch);
      note(event.peer, event.newEpoch);
    }
  }

  /** An old datagram of `from` that `to` may receive now, if any. */
  pick(from: number, to: number): Uint8Array | undefined {
    const receiver = this.nodes[to]?.peer;
    const sender = this.nodes[from]?.peer;
    const old = this.retired.get(from);
    if (receiver === undefined || sender === undefined || old === undefined || old.length === 0) return undefined;
    // Only once the receiver knows the sender's current process: before that, an old datagram is a restart.
    if (receiver.session(from)?.remoteEpoch !== sender.epoch) return undefined;
    const seen = this.seen.get(`${to}:${receiver.epoch}:${from}`) ?? [];
    const remembered = seen.filter((e) => e !== sender.epoch).slice(-16);
    const candidates = old.filter((d) => remembered.includes(d.epoch));
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.random() * candidates.length)]!.bytes;
  }
}

/**
 * The bootstrap contract as a checker: READY exactly once per process and
 * only after a datagram from every other peer reached that process; at the
 * end every peer is up, READY, idle, and knows every other peer by its
 * current epoch.
 */
export function bootstrapChecker(world: SimWorld): Checker & { readonly allReadyMs: number | undefined } {
  const name = "bootstrap";
  const n = world.options.peers;
  /** Per node: ids that have reached its current process. */
  const heard: Set<number>[] = [];
  const readyCount: number[] = [];
  const firstReady = new Map<number, number>();
  return {
    name,
    get allReadyMs() {
      return firstReady.size === n ? Math.max(...firstReady.values()) : undefined;
    },
    onStart(node) {
      heard[node.id] = new Set();
      readyCount[node.id] = 0;
    },
    onDeliver(to, from) {
      heard[to.id]?.add(from);
    },
    onEvent(node, event) {
      if (event.type !== "ready") return;
      if (++readyCount[node.id]! > 1) world.violate(name, `peer ${node.id} printed READY twice in one process`);
      const missing = [];
      for (let id = 1; id <= n; id++) if (id !== node.id && !heard[node.id]!.has(id)) missing.push(id);
      if (missing.length > 0)
        world.violate(name, `peer ${node.id} READY before any datagram from ${missing.join(", ")} reached it`);
      if (!firstReady.has(node.id)) firstReady.set(node.id, world.now());
    },
    finish() {
      for (const node of world.nodes.slice(1)) {
        const peer = node.peer;
        if (peer === undefined) {
          world.violate(name, `peer ${node.id} is down at the end`);
          continue;
        }
        if (!firstReady.has(node.id)) world.violate(name, `peer ${node.id} never became READY`);
        if (!peer.ready) world.violate(name, `peer ${node.id} (epoch ${peer.epoch}) is not READY at the end`);
        if (!peer.idle) world.violate(name, `peer ${node.id} still has undelivered messages at the end`);
        for (const other of world.nodes.slice(1)) {
          if (other === node || other.peer === undefined) continue;
          const known = peer.session(other.id)!.remoteEpoch;
          if (known !== other.peer.epoch)
            world.violate(
              name,
              `peer ${node.id} still knows peer ${other.id} by epoch ${known}, not ${other.peer.epoch}`,
            );
        }
      }
    },
  };
}
