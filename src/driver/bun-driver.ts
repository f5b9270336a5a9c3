/**
 * The Bun driver: the only code that touches the outside world for a peer.
 * It owns the UDP socket, DNS resolution, the one timer armed to
 * `pollTimeout()`, the real clock, and the logs; the protocol is all in
 * `Peer`.
 */
import { lookup } from "node:dns/promises";
import { canonical, type HostEntry, type HostsList } from "../hosts/hosts.ts";
import { Peer, type PeerEvent, type TraceRecord } from "../peer/peer.ts";
import type { SessionConfig } from "../reliability/config.ts";
import { type Chaos, chaosActive, NO_CHAOS } from "./chaos.ts";
import type { Logger } from "./log.ts";

export const AGENT = "rollcall/0.1.0";

/** DNS retry backoff for names that do not resolve yet (a container not started). */
const RESOLVE_RETRY_MS_MIN = 100;
const RESOLVE_RETRY_MS_MAX = 2000;
/**
 * A lookup that has not answered by then is treated as failed and retried.
 * Resolvers can sit on a query for 5 s or more (glibc's timeout, a DNS server
 * forwarding a name it does not know); a container started later would
 * otherwise wait for that. The abandoned lookup still completes on its own;
 * with the retry backoff at most a few are outstanding per name.
 */
const RESOLVE_TIMEOUT_MS = 1000;
/** Datagrams held back by `--chaos delay`; past this, further ones are dropped (and counted). */
const DELAYED_DATAGRAMS_MAX = 10_000;

export interface DriverOptions {
  hosts: HostsList;
  self: HostEntry;
  log: Logger;
  /** Address to bind; default: my entry's IP, or 0.0.0.0 when my entry is a name. */
  bind?: string;
  chaos?: Chaos;
  session?: Partial<SessionConfig>;
  /** Called for every peer event after the driver has logged it. */
  onEvent?: (event: PeerEvent) => void;
  /** Random non-zero epoch; a fresh random one by default. */
  epoch?: number;
}

interface Address {
  address: string;
  port: number;
}

/** Runs one peer on a real UDP socket. */
export class BunDriver {
  readonly peer: Peer;
  readonly epoch: number;
  private socket: Bun.udp.Socket<"uint8array"> | undefined;
  private readonly addresses: (Address | undefined)[];
  private readonly resolving = new Set<number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt: number | undefined;
  private flushQueued = false;
  /**
   * Datagrams of the current flush not yet accepted by the socket. Bounded by
   * what one flush polls (at most a window of frames plus an ack per peer);
   * while it is non-empty nothing more is polled, and `drain` resumes.
   */
  private outQueue: { to: Address; bytes: Uint8Array }[] = [];
  private delayedDatagrams = 0;
  private closed = false;
  readonly driverStats = {
    sendBlocked: 0,
    unresolved: 0,
    chaosDropped: 0,
    chaosDuplicated: 0,
    chaosCorrupted: 0,
    socketErrors: 0,
  };
  private readonly chaos: Chaos;

  constructor(private readonly options: DriverOptions) {
    const { hosts, self, log } = options;
    this.chaos = options.chaos ?? NO_CHAOS;
    this.epoch = options.epoch ?? randomEpoch();
    const trace = log.enabled("debug") ? (r: TraceRecord) => this.logTrace(r) : undefined;
    this.peer = new Peer(performance.now(), {
      selfId: self.id,
      epoch: this.epoch,
      names: hosts.entries.map((e) => e.text),
      hostsDigest: hosts.digest,
      agent: AGENT,
      session: options.session,
      trace,
    });
    this.addresses = new Array(hosts.entries.length + 1).fill(undefined);
  }

  /** Binds the socket and starts announcing. Rejects with a clear message when the address cannot be bound. */
  async start(): Promise<void> {
    const { self, log, hosts } = this.options;
    const hostname = this.options.bind ?? (self.kind === "name" ? "0.0.0.0" : self.host);
    try {
      this.socket = await Bun.udpSocket({
        hostname,
        port: self.port,
        binaryType: "uint8array",
        socket: {
          data: (_socket, data, port, address) => this.onDatagram(data, port, address),
          drain: () => this.flush(),
          // Must be installed: without it an ICMP "port unreachable" (a peer not
          // started yet) kills the process. `this` is the socket, the error may
          // come as first or second argument depending on the Bun version.
          error: (a: unknown, b?: unknown) => {
            this.driverStats.socketErrors++;
            const e = (b ?? a) as Error;
            log.debug("socket-error", { error: e?.message ?? String(e), code: (e as NodeJS.ErrnoException)?.code });
          },
        },
      });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const why = e.code === "EADDRINUSE" ? "the port is in use (another peer or program?)" : e.message;
      throw new Error(`cannot bind UDP ${hostname}:${self.port}: ${why}`);
    }
    log.info("start", {
      name: self.text,
      id: self.id,
      epoch: this.epoch,
      bind: `${hostname}:${self.port}`,
      peers: hosts.entries.length,
      hostsFile: hosts.file,
      hostsDigest: Buffer.from(hosts.digest).toString("hex").slice(0, 16),
      chaos: chaosActive(this.chaos) ? this.chaos : undefined,
      agent: AGENT,
    });
    if (hosts.entries.length === 1) log.info("alone", { note: "the hosts file lists only me: READY at once" });
    for (const entry of hosts.entries) {
      if (entry.id === self.id) continue;
      if (entry.kind === "name") this.resolve(entry, 0);
      else this.addresses[entry.id] = { address: entry.host, port: entry.port };
    }
    this.flush();
  }

  /** Queues an application message; see `Peer.send`. */
  send(to: number, body: Uint8Array) {
    const result = this.peer.send(performance.now(), to, body);
    this.scheduleFlush();
    return result;
  }

  /**
   * Says goodbye, waits up to `timeoutMs` for the goodbyes to be acknowledged,
   * then closes the socket. Resolves with true when every goodbye was delivered.
   */
  async close(reason: string, timeoutMs = 1000): Promise<boolean> {
    if (this.closed) return true;
    this.peer.close(performance.now(), reason);
    this.flush();
    const deadline = performance.now() + timeoutMs;
    while (!this.peer.idle && performance.now() < deadline) await Bun.sleep(5);
    const clean = this.peer.idle;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.socket?.close();
    this.options.log.info("stop", { reason, goodbyesDelivered: clean, ...this.statsFields() });
    this.options.log.flush();
    return clean;
  }

  /** Counters for logs and the demo's summary. */
  statsFields(): Record<string, unknown> {
    const s = this.peer.stats;
    return {
      datagramsSent: s.datagramsSent,
      datagramsReceived: s.datagramsReceived,
      retransmissions: s.retransmissions,
      drops: s.drops,
      ...this.driverStats,
    };
  }

  private onDatagram(data: Uint8Array, port: number, address: string): void {
    if (this.closed) return;
    // Copy: decoded messages reference the buffer, and the socket may reuse it.
    this.peer.handleDatagram(performance.now(), `${address}:${port}`, data.slice());
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Sends what the peer has to send, handles its events, re-arms the timer. */
  private flush(): void {
    if (this.socket === undefined || this.closed) return;
    const now = performance.now();
    if (this.outQueue.length > 0 && !this.sendQueued()) return;
    const batching = !chaosActive(this.chaos);
    for (let out = this.peer.pollTransmit(now); out !== undefined; out = this.peer.pollTransmit(now)) {
      const to = this.addresses[out.to];
      if (to === undefined) {
        this.driverStats.unresolved++; // the session re-sends once the name resolves
        continue;
      }
      if (batching) this.outQueue.push({ to, bytes: out.bytes });
      else this.transmit(to, out.bytes);
    }
    // One sendmmsg for the whole flush: a send() per datagram was half the
    // sender's CPU time on loopback.
    if (this.outQueue.length > 0) this.sendQueued();
    for (let e = this.peer.pollEvent(); e !== undefined; e = this.peer.pollEvent()) this.onEvent(e);
    this.armTimer();
  }

  /** Sends the queued datagrams; false when the socket took only part (the rest waits for `drain`). */
  private sendQueued(): boolean {
    const packets: (Uint8Array | number | string)[] = [];
    for (const d of this.outQueue) packets.push(d.bytes, d.to.port, d.to.address);
    let sent: number;
    try {
      sent = this.socket!.sendMany(packets);
    } catch (error) {
      // An earlier ICMP error reported now (a peer not started yet): count the
      // batch as lost; the sessions re-send what matters.
      this.driverStats.socketErrors++;
      const e = error as NodeJS.ErrnoException;
      this.options.log.debug("send-error", { code: e.code, error: e.message, datagrams: this.outQueue.length });
      sent = this.outQueue.length;
    }
    if (sent >= this.outQueue.length) {
      this.outQueue = [];
      return true;
    }
    this.driverStats.sendBlocked++;
    this.outQueue = this.outQueue.slice(sent);
    return false;
  }

  /**
   * One `send`, never throwing: Linux reports an earlier ICMP error (a peer not
   * started yet) on the next send as ECONNREFUSED. Such a datagram counts as
   * lost; the session re-sends it. Returns false only when the socket buffer is full.
   */
  private sendDatagram(to: Address, bytes: Uint8Array): boolean {
    try {
      return this.socket!.send(bytes, to.port, to.address);
    } catch (error) {
      this.driverStats.socketErrors++;
      const e = error as NodeJS.ErrnoException;
      this.options.log.debug("send-error", { to: `${to.address}:${to.port}`, code: e.code, error: e.message });
      return true;
    }
  }

  private transmit(to: Address, bytes: Uint8Array): boolean {
    if (!chaosActive(this.chaos)) return this.sendDatagram(to, bytes);
    const c = this.chaos;
    if (Math.random() < c.loss) {
      this.driverStats.chaosDropped++;
      return true;
    }
    const copies = Math.random() < c.dup ? 2 : 1;
    if (copies === 2) this.driverStats.chaosDuplicated++;
    for (let i = 0; i < copies; i++) {
      let datagram = bytes;
      if (Math.random() < c.corrupt) {
        datagram = bytes.slice();
        const bit = Math.floor(Math.random() * datagram.length * 8);
        datagram[bit >> 3]! ^= 1 << (bit & 7);
        this.driverStats.chaosCorrupted++;
      }
      const delay = c.delay + Math.random() * c.jitter;
      if (delay <= 0) {
        this.sendDatagram(to, datagram);
      } else if (this.delayedDatagrams < DELAYED_DATAGRAMS_MAX) {
        this.delayedDatagrams++;
        setTimeout(() => {
          this.delayedDatagrams--;
          if (!this.closed) this.sendDatagram(to, datagram);
        }, delay);
      } else {
        this.driverStats.chaosDropped++;
      }
    }
    return true;
  }

  /**
   * Keeps one timer armed no later than `pollTimeout()`. A timer that would
   * fire too early is left alone: it wakes, finds nothing due, and re-arms.
   * Re-arming on every datagram instead (deadlines move with each ack) cost
   * a clearTimeout/setTimeout pair per datagram.
   */
  private armTimer(): void {
    const at = this.peer.pollTimeout();
    if (at === undefined || (this.timerAt !== undefined && this.timerAt <= at)) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        if (this.closed) return;
        this.peer.handleTimeout(performance.now());
        this.flush();
      },
      Math.max(0, at - performance.now()),
    );
  }

  private onEvent(event: PeerEvent): void {
    const { log, hosts } = this.options;
    const name = (id: number) => hosts.entries[id - 1]?.text;
    switch (event.type) {
      case "peerUp":
        log.info("peer-up", {
          peer: event.peer,
          name: name(event.peer),
          epoch: event.epoch,
          up: this.peer.peersUp.length + 1,
          of: hosts.entries.length,
        });
        break;
      case "ready":
        log.info("ready", { peers: event.peers, ...this.statsFields() });
        break;
      case "peerRestarted":
        log.info("peer-restarted", {
          peer: event.peer,
          name: name(event.peer),
          oldEpoch: event.oldEpoch,
          newEpoch: event.newEpoch,
          messagesDropped: event.messagesDropped,
        });
        break;
      case "peerUnresponsive": {
        log.warn("peer-unresponsive", {
          peer: event.peer,
          name: name(event.peer),
          silentMs: Math.round(performance.now() - event.sinceMs),
        });
        const entry = hosts.entries[event.peer - 1];
        // It may have come back elsewhere (a rescheduled container): look its name up again.
        if (entry?.kind === "name") this.resolve(entry, 0);
        break;
      }
      case "peerResponsive":
        log.info("peer-responsive", { peer: event.peer, name: name(event.peer) });
        break;
      case "peerLeft":
        log.info("peer-left", { peer: event.peer, name: name(event.peer), reason: event.reason });
        break;
      case "hostsMismatch":
        log.error("hosts-mismatch", {
          peer: event.peer,
          name: event.name,
          note: "this peer read a different hosts file (or --port); it is ignored until it restarts with the same list",
        });
        break;
      case "message":
        log.debug("message", { peer: event.from, bytes: event.body.length });
        break;
      case "addressChanged": {
        const colon = event.address.lastIndexOf(":");
        const address = event.address.slice(0, colon);
        const port = Number(event.address.slice(colon + 1));
        const known = this.addresses[event.peer];
        if (known?.address !== address || known.port !== port) {
          this.addresses[event.peer] = { address, port };
          log.info("peer-address", { peer: event.peer, name: name(event.peer), address: event.address });
        }
        break;
      }
      case "writable":
        break;
    }
    this.options.onEvent?.(event);
  }

  private logTrace(r: TraceRecord): void {
    const log = this.options.log;
    if (r.kind === "drop") {
      log.warn("drop", { from: r.from, peer: r.peer, reason: r.reason, detail: r.detail });
    } else if (r.kind === "send") {
      log.debug("send", {
        peer: r.peer,
        type: r.frameType,
        seq: r.seq,
        ack: r.ack,
        sack: r.sack,
        bytes: r.bytes,
        retransmission: r.retransmission,
      });
    } else {
      log.debug("recv", {
        peer: r.peer,
        from: r.from,
        type: r.frameType,
        seq: r.seq,
        ack: r.ack,
        sack: r.sack,
        bytes: r.bytes,
        epoch: r.epoch,
      });
    }
  }

  /** Resolves a peer's name, retrying with backoff until it answers (its container may not exist yet). */
  private resolve(entry: HostEntry, attempt: number): void {
    if (this.closed || (attempt === 0 && this.resolving.has(entry.id))) return;
    this.resolving.add(entry.id);
    // An IPv4 socket cannot send to an IPv6 address: ask for what the socket can use.
    const family = this.socket?.hostname.includes(":") ? 0 : 4;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer in ${RESOLVE_TIMEOUT_MS} ms`), { code: "ETIMEOUT" })),
        RESOLVE_TIMEOUT_MS,
      );
    });
    Promise.race([lookup(entry.host, { family }), timeout])
      .finally(() => clearTimeout(timer))
      .then(
        ({ address }) => {
          this.resolving.delete(entry.id);
          const known = this.addresses[entry.id];
          if (known?.address !== address) {
            this.addresses[entry.id] = { address, port: entry.port };
            this.options.log.info("resolved", {
              peer: entry.id,
              name: canonical(entry),
              address,
              attempts: attempt + 1,
            });
            this.peer.handlePathChange(performance.now(), entry.id);
            this.flush();
          }
        },
        (error: NodeJS.ErrnoException) => {
          const delay = Math.min(RESOLVE_RETRY_MS_MIN * 2 ** attempt, RESOLVE_RETRY_MS_MAX);
          this.options.log.debug("resolve-failed", {
            peer: entry.id,
            name: entry.host,
            code: error.code,
            retryInMs: delay,
          });
          setTimeout(() => this.resolve(entry, attempt + 1), delay);
        },
      );
  }
}

function randomEpoch(): number {
  const a = new Uint32Array(1);
  do crypto.getRandomValues(a);
  while (a[0] === 0);
  return a[0]!;
}
