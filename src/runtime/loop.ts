/**
 * The drive loop: the one piece of code that runs a sans-I/O `Peer` on a
 * `Transport` with a `Scheduler`. The CLI, the runtime API, the simulator and
 * the tests all drive peers through it, so a fix to batching, timers,
 * backpressure or address learning lands once.
 *
 * After every input (a datagram, a timer, a send) the loop flushes: it
 * sends everything the peer has to send as one batch, hands the peer's events
 * to its owner, and keeps one timer armed no later than `pollTimeout()`.
 */
import type { Host, HostPeerEvent, Module } from "../host/host.ts";
import { type PathAction, Peer, type PeerEvent, type PeerOptions, type TraceRecord } from "../peer/peer.ts";
import type { SendResult } from "../reliability/session.ts";
import type { Cancel, Scheduler } from "./scheduler.ts";
import type { Datagram, Transport, TransportError } from "./transport.ts";

/** Events the loop reports besides the peer's own. */
export type LoopEvent =
  | PeerEvent
  /** A peer's address became known or changed: from name resolution, or validated by a challenge it answered there. */
  | { type: "peerAddress"; peer: number; address: string; source: "validated" | "resolver" }
  /**
   * Datagrams from this address fail authentication (at most one event per
   * address every 10 s): another key, no key where one is expected, or an
   * attacker. `hint` says which and what to do.
   */
  | { type: "unauthenticated"; address: string; claimedPeer: number; hint: string }
  /** A non-fatal network error; the datagrams it cost count as lost and are re-sent. */
  | { type: "transportError"; error: TransportError };

/** A datagram record for logs: the peer's record plus the address it went to or came from. */
export type LoopTraceRecord = TraceRecord & { address: string | undefined };

export interface LoopOptions<A> {
  peer: PeerOptions;
  transport: Transport<A>;
  scheduler: Scheduler;
  /**
   * Addresses from the hosts file by peer id (index 0 unused); undefined for
   * names not resolved yet. Datagrams are believed only from these, or from
   * addresses validated since (docs/security.md).
   */
  addresses: readonly (A | undefined)[];
  /**
   * Receives every event in order. The event passed is taken either way;
   * returning false pauses delivery after it: further events stay in the
   * peer's bounded queue (which then refuses new DATA as `receiver-busy`, so
   * senders hold back) until `resumeEvents()`.
   */
  onEvent: (event: LoopEvent) => boolean | undefined;
  /** Every datagram sent, received or dropped; set it only when it is used (it costs a record per datagram). */
  onTrace?: (record: LoopTraceRecord) => void;
  /**
   * A datagram claiming to be `peer` came from an address not trusted for it
   * (it was dropped and the peer challenged). The owner may look the peer's
   * name up again: a restarted container often comes back at a new address.
   */
  onUntrustedAddress?: (peer: number, from: A) => void;
}

/** Counters the loop keeps beside the peer's own. */
export interface LoopStats {
  /** Flushes the transport could not take whole (the rest waited for `drain`). */
  sendBlocked: number;
  /** Datagrams not sent because the peer's address is not known yet (its name does not resolve yet); the session re-sends them. */
  unresolved: number;
  /** Non-fatal network errors reported by the transport. */
  transportErrors: number;
}

/** Addresses remembered for the unauthenticated hint; at the limit the memory is cleared (the hint repeats). */
const HINTED_ADDRESSES_MAX = 256;
const HINT_INTERVAL_MS = 10_000;
/** Unauthenticated hints per HINT_INTERVAL_MS, all addresses together; beyond it they are not reported (the drops are still counted). */
const HINTS_MAX = 16;
/** A module attached to the loop: its timer, and whether it asked for a flush (`Host.flushSoon`). */
interface ModuleBinding {
  module: Module;
  cancelTimer: Cancel | undefined;
  flushWanted: boolean;
}

/** Datagrams held per peer while its address or process is validated (about a round trip's worth at bootstrap). */
const HELD_PER_PEER_MAX = 8;

export class PeerLoop<A> {
  readonly peer: Peer;
  readonly stats: LoopStats = { sendBlocked: 0, unresolved: 0, transportErrors: 0 };
  private readonly transport: Transport<A>;
  private readonly scheduler: Scheduler;
  /** Where each peer is sent to: its hosts-file address, or the one validated last. */
  private readonly addresses: (A | undefined)[];
  /** Each peer's address from the hosts file (resolved): always trusted, and where challenges go without a key. */
  private readonly home: (A | undefined)[];
  /** Where each outstanding challenge went, by token; at most a few per peer (the peer bounds its tokens), pruned as answered. */
  private readonly challenged = new Map<string, { peer: number; to: A; strict: boolean }>();
  /**
   * Per peer, the last datagrams dropped pending validation, handed in again
   * once the address they came from is validated. At most
   * `HELD_PER_PEER_MAX`; at the limit the oldest is forgotten (its sender
   * retransmits it).
   */
  private readonly held: { bytes: Uint8Array; from: A }[][];
  private readonly hinted = new Map<string, number>();
  private hintWindowStart = Number.NEGATIVE_INFINITY;
  private hintsInWindow = 0;
  private readonly onEvent: LoopOptions<A>["onEvent"];
  private readonly onTrace: LoopOptions<A>["onTrace"];
  private readonly onUntrustedAddress: LoopOptions<A>["onUntrustedAddress"];
  /**
   * Datagrams of the current flush not yet taken by the transport. Bounded by
   * what one flush polls (at most a window of frames plus an ack per peer);
   * while it is non-empty nothing more is polled, and `drain` resumes.
   */
  private outQueue: Datagram<A>[] = [];
  private flushQueued = false;
  private timerCancel: Cancel | undefined;
  private timerAt: number | undefined;
  private eventsPaused = false;
  /** The address of the datagram being handled, for trace records. */
  private receivingFrom: A | undefined;
  /** While `close` is under way: its deadline, and every caller waiting for it. */
  private closing: { cancelDeadline: Cancel; waiters: ((clean: boolean) => void)[] } | undefined;
  private closed = false;
  /** Protocol modules by channel, each with its one timer. */
  private readonly modules = new Map<number, ModuleBinding>();
  /** Uniform in [0, 1) for modules: the peer's own source (seeded in the simulator). */
  private readonly random: () => number;

  constructor(options: LoopOptions<A>) {
    this.transport = options.transport;
    this.scheduler = options.scheduler;
    this.addresses = [...options.addresses];
    this.home = [...options.addresses];
    this.held = Array.from({ length: options.addresses.length }, () => []);
    this.onEvent = options.onEvent;
    this.onTrace = options.onTrace;
    this.onUntrustedAddress = options.onUntrustedAddress;
    this.random = options.peer.random ?? Math.random;
    const trace = options.onTrace === undefined ? undefined : (r: TraceRecord) => this.trace(r);
    this.peer = new Peer(this.scheduler.now(), { ...options.peer, trace: trace ?? options.peer.trace });
    this.transport.listen({
      datagram: (bytes, from) => this.handleDatagram(bytes, from),
      drain: () => this.flush(),
      error: (error) => {
        this.stats.transportErrors++;
        this.onEvent({ type: "transportError", error });
      },
    });
  }

  /** Sends what the peer has queued since it was created (its announcements, and in key mode its challenges). Call once the owner is ready for events. */
  start(): void {
    const now = this.scheduler.now();
    for (const action of this.peer.takePathActions()) this.onPathAction(now, action, undefined, undefined);
    this.flush();
  }

  /** True once `close` has finished (or the loop was stopped). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The address a peer is known by, or undefined. */
  addressOf(id: number): A | undefined {
    return this.addresses[id];
  }

  /** Queues a message for reliable, ordered, exactly-once delivery; see `Peer.send`. */
  send(to: number, body: Uint8Array): SendResult {
    // Sends of one synchronous burst share a clock reading, taken by the
    // first and dropped when the flush it queued runs: a clock read per
    // message was 9% of a small-message sender's CPU.
    this.burstNowMs ??= this.scheduler.now();
    const result = this.peer.send(this.burstNowMs, to, body);
    this.scheduleFlush();
    return result;
  }

  /**
   * Runs a protocol module on this peer (src/host/host.ts): its channel's
   * messages and the peer's events go to it, and the returned host is how it
   * sends, sets its timer and reads the clock. One module per channel.
   */
  attach(module: Module): Host {
    if (this.modules.has(module.channel)) throw new Error(`channel ${module.channel} already has a module`);
    this.peer.serve(module.channel);
    const binding: ModuleBinding = { module, cancelTimer: undefined, flushWanted: false };
    this.modules.set(module.channel, binding);
    const peer = this.peer;
    return {
      selfId: peer.selfId,
      epoch: peer.epoch,
      peerCount: peer.peerCount,
      now: () => this.scheduler.now(),
      random: this.random,
      send: (to, body, control) => {
        // One clock reading per synchronous burst, as `send` does (a multicast is a send per member).
        this.burstNowMs ??= this.scheduler.now();
        const result = peer.sendModule(this.burstNowMs, to, module.channel, body, control);
        this.scheduleFlush();
        return result;
      },
      flushSoon: () => {
        binding.flushWanted = true;
        this.scheduleFlush();
      },
      setTimer: (atMs) => {
        binding.cancelTimer?.();
        binding.cancelTimer = undefined;
        if (atMs === undefined || this.closed) return;
        binding.cancelTimer = this.scheduler.at(atMs, () => {
          binding.cancelTimer = undefined;
          if (this.closed) return;
          module.handleTimeout();
          this.flush();
        });
      },
      epochOf: (id) => peer.session(id)?.remoteEpoch ?? 0,
      isAlive: (id) => {
        const view = peer.members()[id - 1];
        return (
          view !== undefined &&
          (view.state === "alive" || view.state === "suspect") &&
          view.epoch === (peer.session(id)?.remoteEpoch ?? -1)
        );
      },
    };
  }

  /** Hands a peer event to the modules; true when it was a module's message (not the application's business). */
  private toModules(e: PeerEvent): boolean {
    if (this.modules.size === 0) return false;
    if (e.type === "module") {
      this.modules.get(e.channel)?.module.handleMessage(e.from, e.epoch, e.body);
      return true;
    }
    const event = hostEvent(e);
    if (event !== undefined) for (const { module } of this.modules.values()) module.handlePeerEvent(event);
    return false;
  }

  /** The clock reading shared by the sends since the last flush was queued (see `send`). */
  private burstNowMs: number | undefined;

  /**
   * A resolver (or the owner) learned where a peer is: use it, and re-send
   * what is outstanding to it now rather than after a backed-off timer.
   */
  learnAddress(id: number, address: A): void {
    if (this.closed) return;
    this.home[id] = address;
    if (!this.setAddress(id, address, "resolver")) return;
    this.peer.handlePathChange(this.scheduler.now(), id);
    // Datagrams held back from this address are now from the peer's own.
    this.releaseHeld(id, address);
    this.flush();
  }

  /** Resumes event delivery paused by `onEvent` returning false. */
  resumeEvents(): void {
    if (!this.eventsPaused) return;
    this.eventsPaused = false;
    this.scheduleFlush();
  }

  /**
   * Says goodbye to every peer that may still listen, waits up to
   * `timeoutMs` for the goodbyes to be acknowledged, then closes the
   * transport. Resolves with true when every goodbye was delivered.
   */
  close(reason: string, timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    const closing = this.closing;
    if (closing !== undefined) return new Promise((resolve) => closing.waiters.push(resolve));
    return new Promise((resolve) => {
      this.peer.close(this.scheduler.now(), reason);
      const cancelDeadline = this.scheduler.at(this.scheduler.now() + timeoutMs, () => this.finishClose(false));
      this.closing = { cancelDeadline, waiters: [resolve] };
      this.flush();
    });
  }

  /** Stops at once: no goodbye, the transport closed, timers cancelled (a crash, or a second signal). */
  stop(): void {
    this.finishClose(false);
  }

  private finishClose(clean: boolean): void {
    if (this.closed) return;
    this.closed = true;
    for (const binding of this.modules.values()) binding.cancelTimer?.();
    this.timerCancel?.();
    this.timerCancel = undefined;
    this.transport.close();
    const closing = this.closing;
    this.closing = undefined;
    closing?.cancelDeadline();
    for (const waiter of closing?.waiters ?? []) waiter(clean);
  }

  private handleDatagram(bytes: Uint8Array, from: A): void {
    if (this.closed) return;
    const now = this.scheduler.now();
    // The sender id a frame claims sits at bytes 8-9; a frame too short to have one is dropped by the peer anyway.
    const claimed = bytes.length >= 10 ? (bytes[8]! << 8) | bytes[9]! : 0;
    this.receivingFrom = from;
    const accepted = this.peer.handleDatagram(now, bytes, this.isTrusted(claimed, from));
    this.receivingFrom = undefined;
    // A frame read from the peer's hosts-file address while it is sent to
    // elsewhere: back home (RFC 9000 §9.3). A validated address is kept only
    // while home is silent, so one taken over by an on-path relay is left as
    // soon as the peer's own frames arrive again.
    if (accepted !== undefined) {
      const home = this.home[accepted];
      const current = this.addresses[accepted];
      if (home !== undefined && current !== undefined && !this.transport.sameAddress(home, current)) {
        if (this.transport.sameAddress(home, from)) this.setAddress(accepted, home, "validated");
      }
    }
    const note = this.peer.takeUnauthenticated();
    if (note !== undefined) this.hintUnauthenticated(now, from, note.claimedId, note.detail);
    for (const action of this.peer.takePathActions()) this.onPathAction(now, action, bytes, from);
    this.scheduleFlush();
  }

  /** True when `from` is the claimed peer's hosts-file address or the one validated for it. */
  private isTrusted(id: number, from: A): boolean {
    const home = this.home[id];
    if (home !== undefined && this.transport.sameAddress(home, from)) return true;
    const current = this.addresses[id];
    return current !== undefined && this.transport.sameAddress(current, from);
  }

  private onPathAction(now: number, action: PathAction, bytes: Uint8Array | undefined, from: A | undefined): void {
    if (action.kind === "hold") {
      if (bytes !== undefined && from !== undefined) this.hold(action.peer, bytes, from);
      return;
    }
    if (action.kind === "resend") {
      const challenge = this.challenged.get(action.token);
      if (challenge === undefined) {
        this.peer.notSent(action.bytes.length);
        return;
      }
      this.outQueue.push({ to: challenge.to, bytes: action.bytes });
      this.sendQueued();
      return;
    }
    if (action.kind === "send") {
      const to = action.to === "source" ? from : this.home[action.peer];
      if (to === undefined) {
        this.peer.notSent(action.bytes.length);
        return;
      }
      if (action.token !== undefined) {
        // Each peer keeps at most a few tokens; entries it has forgotten are pruned here by count.
        if (this.challenged.size >= 4 * this.home.length) this.challenged.delete(this.challenged.keys().next().value!);
        this.challenged.set(action.token, { peer: action.peer, to, strict: action.strict === true });
      }
      if (action.held && bytes !== undefined && from !== undefined) {
        this.hold(action.peer, bytes, from);
        this.onUntrustedAddress?.(action.peer, from);
      }
      this.outQueue.push({ to, bytes: action.bytes });
      this.sendQueued();
      return;
    }
    const challenge = this.challenged.get(action.token);
    this.challenged.delete(action.token);
    if (from === undefined) return;
    // A challenge sent to the source must be answered from there; one sent
    // to the hosts-file address proves that whoever answers receives the
    // peer's traffic, wherever the answer comes from.
    if (challenge === undefined || (challenge.strict && !this.transport.sameAddress(challenge.to, from))) return;
    this.setAddress(action.peer, from, "validated");
    this.peer.handlePathChange(now, action.peer);
    this.releaseHeld(action.peer, from);
  }

  /**
   * A peer sent to a validated address stopped answering: go back to its
   * hosts-file address (RFC 9000 §9.3.2). An address an on-path relay had
   * validated for itself is thus dropped once the relay stops.
   */
  private revertToHome(peer: number): void {
    const home = this.home[peer];
    const current = this.addresses[peer];
    if (home === undefined || current === undefined || this.transport.sameAddress(home, current)) return;
    this.setAddress(peer, home, "validated");
    this.peer.handlePathChange(this.scheduler.now(), peer);
  }

  private hold(peer: number, bytes: Uint8Array, from: A): void {
    const held = this.held[peer];
    if (held === undefined) return;
    if (held.length >= HELD_PER_PEER_MAX) held.shift();
    held.push({ bytes, from });
  }

  /** Hands in again, in order, the held datagrams of `peer` that came from `from`; forgets the rest. */
  private releaseHeld(peer: number, from: A): void {
    const held = this.held[peer];
    if (held === undefined || held.length === 0) return;
    this.held[peer] = [];
    for (const h of held) if (this.transport.sameAddress(h.from, from)) this.handleDatagram(h.bytes, h.from);
  }

  private hintUnauthenticated(now: number, from: A, claimedPeer: number, detail: string): void {
    const address = this.transport.formatAddress(from);
    const last = this.hinted.get(address);
    if (last !== undefined && now - last < HINT_INTERVAL_MS) return;
    // At most HINTS_MAX per interval in all: a flood from many ports must not flood the log.
    if (now - this.hintWindowStart >= HINT_INTERVAL_MS) {
      this.hintWindowStart = now;
      this.hintsInWindow = 0;
    }
    if (this.hintsInWindow >= HINTS_MAX) return;
    this.hintsInWindow++;
    if (this.hinted.size >= HINTED_ADDRESSES_MAX) this.hinted.clear();
    this.hinted.set(address, now);
    this.onEvent({ type: "unauthenticated", address, claimedPeer, hint: unauthenticatedHint(detail) });
  }

  /** Records a peer's address; reports it and returns true when it is new or changed. */
  private setAddress(id: number, address: A, source: "validated" | "resolver"): boolean {
    const known = this.addresses[id];
    if (known !== undefined && this.transport.sameAddress(known, address)) return false;
    this.addresses[id] = address;
    this.onEvent({ type: "peerAddress", peer: id, address: this.transport.formatAddress(address), source });
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.scheduler.soon(() => {
      this.flushQueued = false;
      this.burstNowMs = undefined;
      this.flush();
    });
  }

  /** Sends what the peer has to send, hands over its events, re-arms the timer. */
  private flush(): void {
    if (this.closed) return;
    // Modules first: what they gathered in this burst goes out in this flush's datagrams.
    for (const binding of this.modules.values()) {
      if (!binding.flushWanted) continue;
      binding.flushWanted = false;
      binding.module.flush?.();
    }
    const now = this.scheduler.now();
    if (this.outQueue.length === 0 || this.sendQueued()) {
      for (let out = this.peer.pollTransmit(now); out !== undefined; out = this.peer.pollTransmit(now)) {
        const to = this.addresses[out.to];
        if (to === undefined) {
          this.stats.unresolved++; // the session re-sends once the address is learned
          this.peer.notSent(out.bytes.length);
          continue;
        }
        this.outQueue.push({ to, bytes: out.bytes });
      }
      // One batch for the whole flush: a send() per datagram was half the
      // sender's CPU time on loopback.
      if (this.outQueue.length > 0) this.sendQueued();
    }
    if (!this.eventsPaused) {
      for (let e = this.peer.pollEvent(); e !== undefined; e = this.peer.pollEvent()) {
        if (e.type === "peerSuspect" || e.type === "peerUnresponsive") this.revertToHome(e.peer);
        if (this.toModules(e)) {
          if (this.closed) return;
          continue;
        }
        if (this.onEvent(e) === false) {
          this.eventsPaused = true;
          break;
        }
        if (this.closed) return;
      }
    }
    if (this.closing !== undefined && this.peer.goodbyesSettled) {
      this.finishClose(true);
      return;
    }
    this.armTimer();
  }

  /** Hands the queued datagrams to the transport; false when it took only part (the rest waits for `drain`). */
  private sendQueued(): boolean {
    const taken = this.transport.send(this.outQueue);
    if (taken >= this.outQueue.length) {
      this.outQueue = [];
      return true;
    }
    this.stats.sendBlocked++;
    this.outQueue = this.outQueue.slice(taken);
    return false;
  }

  /**
   * Keeps one timer armed no later than `pollTimeout()`. A timer that would
   * fire too early is left alone: it wakes, finds nothing due, and re-arms.
   * Re-arming on every datagram instead (deadlines move with each ack) cost
   * a timer cancel and set per datagram.
   */
  private armTimer(): void {
    const at = this.peer.pollTimeout();
    if (at === undefined || (this.timerAt !== undefined && this.timerAt <= at)) return;
    this.timerCancel?.();
    this.timerAt = at;
    this.timerCancel = this.scheduler.at(at, () => {
      this.timerCancel = undefined;
      this.timerAt = undefined;
      if (this.closed) return;
      const now = this.scheduler.now();
      this.peer.handleTimeout(now);
      for (const action of this.peer.takePathActions()) this.onPathAction(now, action, undefined, undefined);
      this.flush();
    });
  }

  private trace(record: TraceRecord): void {
    let address: A | undefined;
    if (record.kind === "send") address = this.addresses[record.peer];
    else address = this.receivingFrom;
    this.onTrace!({ ...record, address: address === undefined ? undefined : this.transport.formatAddress(address) });
  }
}

/** What an authentication failure most likely means, in words a user can act on. */
function unauthenticatedHint(detail: string): string {
  if (detail.startsWith("frame not sealed"))
    return "this peer runs with a key and the sender does not: give every peer the same --key-file";
  if (detail.startsWith("sealed frame"))
    return "the sender runs with a key and this peer does not: give every peer the same --key-file";
  if (detail.startsWith("sealed with key id"))
    return `the key files differ: ${detail}; every peer needs the sender's primary key in its file`;
  return `frames fail authentication (${detail}): a key file that differs, or forged datagrams`;
}

/** The modules' view of a peer event, or undefined for events they do not take. */
function hostEvent(e: PeerEvent): HostPeerEvent | undefined {
  switch (e.type) {
    case "peerUp":
      return { type: "peerUp", peer: e.peer, epoch: e.epoch };
    case "ready":
      return { type: "ready" };
    case "peerRestarted":
      return { type: "peerRestarted", peer: e.peer, oldEpoch: e.oldEpoch, newEpoch: e.newEpoch };
    case "peerSuspect":
    case "peerFailed":
    case "peerLeft":
    case "peerAlive":
      return { type: e.type, peer: e.peer, epoch: e.epoch };
    case "writable":
      return { type: "writable", peer: e.peer };
    default:
      return undefined;
  }
}
