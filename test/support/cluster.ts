/**
 * A group of peers in one test, each in the real drive loop (`PeerLoop`) on
 * an in-memory network and virtual time: tests decide which datagrams are
 * lost and read every event each peer reported.
 */
import type { PeerEvent, PeerOptions } from "../../src/peer/peer.ts";
import type { LoopEvent } from "../../src/runtime/loop.ts";
import { PeerLoop } from "../../src/runtime/loop.ts";
import { addressesById, MemoryNetwork } from "../../src/runtime/memory.ts";
import { Rng } from "../../src/sim/rng.ts";
import { VirtualScheduler } from "../../src/sim/virtual-time.ts";

/** The failure detector's randomness, fixed per peer so every test replays exactly. */
function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

export const DIGEST = new Uint8Array(32).fill(1);

export class TestCluster {
  readonly scheduler = new VirtualScheduler();
  readonly network: MemoryNetwork;
  readonly loops: PeerLoop<number>[] = [];
  readonly events: LoopEvent[][] = [];
  /** Peers whose events are not being taken (their loop pauses, the peer's queue fills). */
  readonly paused = new Set<number>();
  /** Return true to lose a datagram. */
  drop: (from: number, to: number, bytes: Uint8Array) => boolean = () => false;

  constructor(
    readonly count: number,
    private readonly options: (id: number) => Partial<PeerOptions> = () => ({}),
    readonly names: string[] = Array.from({ length: count }, (_, i) => `peer-${i + 1}`),
  ) {
    this.network = new MemoryNetwork(this.scheduler, (from, to, bytes) =>
      this.drop(from, to, bytes) ? [] : [{ bytes, delayMs: 1 }],
    );
    for (let id = 1; id <= count; id++) this.start(id, {});
  }

  /** Starts (or restarts, as a new process) peer `id`. */
  start(id: number, overrides: Partial<PeerOptions>): void {
    this.loops[id]?.stop();
    this.events[id] ??= [];
    const loop = new PeerLoop<number>({
      peer: {
        selfId: id,
        epoch: 100 + id + 1000 * (this.loops[id] === undefined ? 0 : 1),
        names: this.names,
        hostsDigest: DIGEST,
        random: seededRandom(id + 7919 * (this.loops[id] === undefined ? 0 : 1)),
        ...this.options(id),
        ...overrides,
      },
      transport: this.network.bind(id),
      scheduler: this.scheduler,
      addresses: addressesById(this.count),
      onEvent: (event) => {
        // The event handed over is taken either way; false asks for no more.
        this.events[id]!.push(event);
        return !this.paused.has(id);
      },
    });
    this.loops[id] = loop;
    // On the first `run`, so that a test can set `drop` before anything is sent.
    this.scheduler.soon(() => loop.start());
  }

  peer(id: number) {
    return this.loops[id]!.peer;
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Runs until nothing is left to do, or for `forMs` of virtual time (60 s at most by default). */
  run(forMs = 60_000): void {
    this.scheduler.run({ untilMs: this.now() + forMs, stepsMax: this.scheduler.steps + 5_000_000 });
  }

  resume(id: number): void {
    this.paused.delete(id);
    this.loops[id]!.resumeEvents();
  }

  types(id: number): string[] {
    return this.events[id]!.map((e) => e.type);
  }

  messages(id: number): PeerEvent[] {
    return this.events[id]!.filter((e) => e.type === "message");
  }
}
