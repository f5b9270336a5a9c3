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
import { Peer, type PeerEvent, type PeerOptions, type TraceRecord } from "../peer/peer.ts";
import type { SendResult } from "../reliability/session.ts";
import type { Cancel, Scheduler } from "./scheduler.ts";
import type { Datagram, Transport, TransportError } from "./transport.ts";

/** Events the loop reports besides the peer's own. */
export type LoopEvent =
  | PeerEvent
  /** A peer's address became known or changed: from a datagram it sent, or from name resolution. */
  | { type: "peerAddress"; peer: number; address: string; source: "datagram" | "resolver" }
  /** A non-fatal network error; the datagrams it cost count as lost and are re-sent. */
  | { type: "transportError"; error: TransportError };

/** A datagram record for logs: the peer's record plus the address it went to or came from. */
export type LoopTraceRecord = TraceRecord & { address: string | undefined };

export interface LoopOptions<A> {
  peer: PeerOptions;
  transport: Transport<A>;
  scheduler: Scheduler;
  /** Known addresses by peer id (index 0 unused); undefined for peers not resolved yet. */
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

export class PeerLoop<A> {
  readonly peer: Peer;
  readonly stats: LoopStats = { sendBlocked: 0, unresolved: 0, transportErrors: 0 };
  private readonly transport: Transport<A>;
  private readonly scheduler: Scheduler;
  private readonly addresses: (A | undefined)[];
  private readonly onEvent: LoopOptions<A>["onEvent"];
  private readonly onTrace: LoopOptions<A>["onTrace"];
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

  constructor(options: LoopOptions<A>) {
    this.transport = options.transport;
    this.scheduler = options.scheduler;
    this.addresses = [...options.addresses];
    this.onEvent = options.onEvent;
    this.onTrace = options.onTrace;
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

  /** Sends what the peer has queued since it was created (its announcements). Call once the owner is ready for events. */
  start(): void {
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
    const result = this.peer.send(this.scheduler.now(), to, body);
    this.scheduleFlush();
    return result;
  }

  /**
   * A resolver (or the owner) learned where a peer is: use it, and re-send
   * what is outstanding to it now rather than after a backed-off timer.
   */
  learnAddress(id: number, address: A): void {
    if (this.closed || !this.setAddress(id, address, "resolver")) return;
    this.peer.handlePathChange(this.scheduler.now(), id);
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
    this.receivingFrom = from;
    const sender = this.peer.handleDatagram(this.scheduler.now(), bytes);
    this.receivingFrom = undefined;
    if (sender !== undefined) this.setAddress(sender, from, "datagram");
    this.scheduleFlush();
  }

  /** Records a peer's address; reports it and returns true when it is new or changed. */
  private setAddress(id: number, address: A, source: "datagram" | "resolver"): boolean {
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
      this.flush();
    });
  }

  /** Sends what the peer has to send, hands over its events, re-arms the timer. */
  private flush(): void {
    if (this.closed) return;
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
      this.peer.handleTimeout(this.scheduler.now());
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
