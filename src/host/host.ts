/**
 * The host interface of protocol modules (the group layer now; ordered
 * multicast, consensus and snapshots later). A module is a sans-I/O core:
 * it takes its own messages, peer events and timer expiries as inputs, and
 * acts only through its `Host`: sends on its channel, one timer, the clock,
 * randomness. `PeerLoop.attach` implements the host over a real or
 * simulated peer, so the same core runs on sockets and in the swarm.
 *
 * Nothing here imports the peer, the runtime or the simulator: a module's
 * core sees only this file.
 */

/** Why a send was refused: the queue to that peer is full (a `writable` event follows), or the body is above the peer's message limit. */
export type HostSendResult = { ok: true } | { ok: false; reason: "queue-full" | "too-large" };

/** What the peer tells its modules, in the order it happened (a subset of the peer's events, same fields). */
export type HostPeerEvent =
  /** A peer's process was heard from (once per process). */
  | { type: "peerUp"; peer: number; epoch: number }
  /** Every peer of the hosts file heard from. */
  | { type: "ready" }
  /** A peer came back as a new process; what was queued for the old one was dropped. */
  | { type: "peerRestarted"; peer: number; oldEpoch: number; newEpoch: number }
  /** The failure detector: suspicion, failure, goodbye, and the process refuting or rejoining. */
  | { type: "peerSuspect"; peer: number; epoch: number }
  | { type: "peerFailed"; peer: number; epoch: number }
  | { type: "peerLeft"; peer: number; epoch: number }
  | { type: "peerAlive"; peer: number; epoch: number }
  /** The queue to `peer` has room again after a refused send. */
  | { type: "writable"; peer: number };

export interface Host {
  /** My position in the hosts file (1..peerCount) and my process's epoch. */
  readonly selfId: number;
  readonly epoch: number;
  /** Peers in the hosts file, me included. */
  readonly peerCount: number;
  /** Milliseconds on the host's monotonic (or virtual) clock. */
  now(): number;
  /** Uniform in [0, 1): the host's (seeded, in the simulator) randomness. */
  random(): number;
  /**
   * Sends `body` on the module's channel to the current process of peer
   * `to`: reliable, in order, exactly once per pair of processes (a message
   * queued for a process that restarts is dropped with it). `control`
   * passes a full queue (for the few messages a protocol cannot do without;
   * never for application data). `body` must not change afterwards: a
   * multicast passes one body to every member, and the host may keep it and
   * reuse its encoding.
   */
  send(to: number, body: Uint8Array, control?: boolean): HostSendResult;
  /**
   * Asks for one call of the module's `flush` once the work at hand is done
   * (the application's synchronous burst, the datagrams just read), before
   * the host transmits: a module gathers what that burst produced into
   * fewer, larger messages.
   */
  flushSoon(): void;
  /** Arms the module's one timer (`undefined`: none); an earlier setting is replaced. */
  setTimer(atMs: number | undefined): void;
  /** The current epoch of each peer as the peer knows it (0: not heard from, or restarted and not heard from since), by id. */
  epochOf(peer: number): number;
  /** True when the failure detector holds the peer's current process alive or only suspect (not failed, left, or not known both ways yet). */
  isAlive(peer: number): boolean;
}

export interface Module {
  /** The module's channel (src/wire/channels.ts). */
  readonly channel: number;
  /** A message on my channel from process (`from`, `fromEpoch`). */
  handleMessage(from: number, fromEpoch: number, body: Uint8Array): void;
  handlePeerEvent(event: HostPeerEvent): void;
  /** The timer set with `Host.setTimer` is due. */
  handleTimeout(): void;
  /** Asked for with `Host.flushSoon`: send what was gathered. */
  flush?(): void;
}
