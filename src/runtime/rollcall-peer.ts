/**
 * The runtime API: one rollcall peer on a real UDP socket, started from a
 * hosts list (or file) and my name.
 *
 *   const peer = await startPeer({ hosts: ["127.0.0.1:7001", "127.0.0.1:7002"], name: "127.0.0.1:7001" });
 *   await peer.ready;
 *   peer.send(2, new TextEncoder().encode("hello"));
 *   for await (const event of peer.events()) if (event.type === "message") ...
 *   await peer.close();
 *
 * Backpressure: `send` never waits; when the queue to a peer is full it
 * returns `{ ok: false, reason: "queue-full" }` and a `writable` event
 * follows once it has drained to half. `sendAsync` waits for that instead.
 * Events are buffered up to `eventsMax`; a consumer that falls behind holds
 * back the senders (they retransmit later), and nothing is lost.
 */
import { InputError } from "../errors.ts";
import type { Host, Module } from "../host/host.ts";
import { findSelf, type HostsList, loadHosts, parseHosts } from "../hosts/hosts.ts";
import type { MembershipConfig } from "../membership/config.ts";
import type { MembershipStats, MemberView } from "../membership/membership.ts";
import type { PeerStats } from "../peer/peer.ts";
import type { SessionConfig } from "../reliability/config.ts";
import type { SendResult, SessionStats } from "../reliability/session.ts";
import type * as KeyringModule from "../security/keyring.ts";
import type { Keyring } from "../security/keyring.ts";
import { type ChaosStats, ChaosTransport } from "./chaos.ts";
import { faultsActive, type LinkFaults, parseChaos } from "./faults.ts";
import { type LoopEvent, type LoopStats, type LoopTraceRecord, PeerLoop } from "./loop.ts";
import { Resolver, type ResolverEvent } from "./resolver.ts";
import { realScheduler } from "./scheduler.ts";
import type { Transport } from "./transport.ts";
import { formatUdpAddress, type UdpAddress, UdpTransport } from "./udp.ts";

/** The version this package announces in its Alive messages and prints for `--version`. */
export const AGENT = "rollcall/0.1.0";

/** Events buffered for `events()` by default. */
const EVENTS_MAX_DEFAULT = 65_536;

/** Everything a running peer reports, in order. */
export type RollcallEvent = LoopEvent | ResolverEvent | HostsDuplicateEvent;

/**
 * Two lines of the hosts file turned out to be one address (e.g. `localhost:7201`
 * and `127.0.0.1:7201`): datagrams meant for one peer reach the other. The
 * file is wrong; this is reported once per pair.
 */
export interface HostsDuplicateEvent {
  type: "hostsDuplicate";
  peer: number;
  other: number;
  address: string;
}

export interface StartOptions {
  /** The hosts list, one entry per element as in a hosts file (`name`, `name:port`, `ip:port`, `[ipv6]:port`), or a parsed list. */
  hosts?: readonly string[] | HostsList;
  /** A hosts file to read instead of `hosts`. */
  hostsFile?: string;
  /** Which entry is me: as written, `host:port`, or a host name that matches one entry. */
  name: string;
  /** Port for entries that give none (default 7700). */
  port?: number;
  /** Address to bind; default: my entry's IP, or 0.0.0.0 when my entry is a name. */
  bind?: string;
  /** Faults injected on sent datagrams, as an object or a `--chaos` spec such as `loss=0.1`. */
  chaos?: LinkFaults | string;
  /** Reliability tunables; see `SessionConfig`. */
  session?: Partial<SessionConfig>;
  /** Failure detector tunables (docs/membership.md); `{ enabled: false }` turns it off. */
  membership?: Partial<MembershipConfig>;
  /** Non-zero 32-bit epoch; a fresh random one by default (it must change at every start). */
  epoch?: number;
  /** Events buffered for `events()` before the peer holds senders back (default 65,536). */
  eventsMax?: number;
  /** Every datagram sent, received or dropped, for logs; costs a record per datagram. */
  trace?: (record: LoopTraceRecord) => void;
  /**
   * Key mode (docs/security.md): a key file (one base64 key per line, the
   * first seals, all open; not open to group or others), or a `Keyring` made from
   * keys. Every frame is then authenticated and encrypted; peers without the
   * key can neither read nor forge any. Default: no key.
   */
  keyFile?: string;
  keyring?: Keyring;
  /**
   * Without a key: accept peers whose datagrams come from addresses other
   * than the hosts file's (NAT) after they answer a challenge sent there.
   * Gives up protection against impersonation by anyone who can receive at
   * their own address (docs/security.md). Key mode does not need it.
   */
  allowNat?: boolean;
  /**
   * Takes every event synchronously, in order, instead of `events()`: no
   * buffering and no promise per event, for programs that handle hundreds of
   * thousands of messages a second. With it, `events()` throws.
   */
  onEvent?: (event: RollcallEvent) => void;
}

/** The result of `broadcast`: the peers whose queue refused the message (empty when all took it). */
export interface BroadcastResult {
  ok: boolean;
  refused: { peer: number; reason: "queue-full" | "too-large" }[];
}

export interface RollcallStats extends PeerStats, LoopStats {
  /** Resolver events dropped because `events()` was not consumed. */
  eventsDropped: number;
  /** Faults injected by `chaos`, when set. */
  chaos: ChaosStats | undefined;
  /** The failure detector's counters. */
  membership: MembershipStats;
}

/** The reliable link to one peer, as `RollcallPeer.link` reports it. */
export interface LinkStats extends SessionStats {
  /** Smoothed round-trip time, once measured. */
  rttMs: number | undefined;
  /** Current retransmission timeout, backoff included. */
  rtoMs: number;
  /** Messages waiting for room in the window. */
  queuedMessages: number;
  /** Congestion window and what is in flight against it (every frame counts as a 1400-byte datagram). */
  cwndBytes: number;
  bytesInFlight: number;
}

/** Starts a peer on a UDP socket and begins announcing it. Rejects with `InputError` for bad options, `Error` when the socket cannot be bound. */
export async function startPeer(options: StartOptions): Promise<RollcallPeer> {
  const port = options.port ?? 7700;
  let hosts: HostsList;
  if (options.hostsFile !== undefined) hosts = await loadHosts(options.hostsFile, port);
  else if (options.hosts === undefined) throw new InputError("startPeer: give hosts (a list) or hostsFile");
  else if (isHostsList(options.hosts)) hosts = options.hosts;
  else hosts = parseHosts("hosts option", options.hosts.join("\n"), port);
  const self = findSelf(hosts, options.name);
  if (options.keyFile !== undefined && options.keyring !== undefined)
    throw new InputError("startPeer: give keyFile or keyring, not both");
  if (options.keyring !== undefined && !(options.keyring instanceof keyringModule().Keyring))
    throw new InputError("startPeer: keyring must be a Keyring (new Keyring([key, ...]) with 32-byte keys)");
  const keyring = options.keyFile === undefined ? options.keyring : keyringModule().loadKeyFile(options.keyFile);
  const chaos = typeof options.chaos === "string" ? parseChaos(options.chaos) : options.chaos;
  const eventsMax = options.eventsMax ?? EVENTS_MAX_DEFAULT;
  if (!Number.isInteger(eventsMax) || eventsMax < 16)
    throw new InputError(`startPeer: eventsMax must be an integer of at least 16, got ${eventsMax}`);
  const hostname = options.bind ?? (self.kind === "name" ? "0.0.0.0" : self.host);
  const udp = await UdpTransport.bind(hostname, self.port);
  return new RollcallPeer(hosts, self.id, udp, chaos, { ...options, keyring }, eventsMax);
}

/**
 * Key mode's code, loaded only when a key is given: node:crypto costs a
 * process about 6 ms to load. The CLI reads its key file through it too.
 */
export function keyringModule(): typeof KeyringModule {
  return require("../security/keyring.ts") as typeof KeyringModule;
}

function isHostsList(h: readonly string[] | HostsList): h is HostsList {
  return !Array.isArray(h);
}

/** A running peer. Create it with `startPeer`. */
export class RollcallPeer {
  /** My id: my position in the hosts list (1-based). */
  readonly id: number;
  readonly hosts: HostsList;
  /** Resolves once every other peer has been heard from (READY); rejects if the peer is closed first. */
  readonly ready: Promise<void>;
  private readonly loop: PeerLoop<UdpAddress>;
  private readonly udp: UdpTransport;
  private readonly chaos: ChaosTransport<UdpAddress> | undefined;
  private readonly resolver: Resolver;
  private readonly eventsMax: number;
  private readonly handler: ((event: RollcallEvent) => void) | undefined;
  private buffered: RollcallEvent[] = [];
  private bufferedHead = 0;
  private wakeReader: (() => void) | undefined;
  private iterating = false;
  /**
   * Per peer, `peerRestarted` events buffered for `events()` and not yet
   * read. The peer refuses sends while the loop has not handed such an event
   * over; here the reader has not read it yet, so `send` refuses until it
   * has (docs/reliability.md: the stream splits where the application takes
   * `peerRestarted`), and a `writable` follows the event.
   */
  private readonly restartsUnread = new Map<number, number>();
  private readonly writableOwed = new Set<number>();
  private readonly writableWaiters = new Map<number, (() => void)[]>();
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;
  private ended = false;
  /** Events dropped because no one consumed `events()` (only resolver events can be). */
  private eventsDropped = 0;
  /** Addresses found for names, to notice two lines of the hosts file that are one peer. */
  private readonly resolvedAddresses = new Map<number, UdpAddress>();
  private readonly duplicatesReported = new Set<string>();

  /** @internal Use `startPeer`. */
  constructor(
    hosts: HostsList,
    id: number,
    udp: UdpTransport,
    faults: LinkFaults | undefined,
    options: StartOptions,
    eventsMax: number,
  ) {
    this.hosts = hosts;
    this.id = id;
    this.udp = udp;
    this.eventsMax = eventsMax;
    this.handler = options.onEvent;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Handled here so that a program that never awaits `ready` is not killed
    // by an unhandled rejection when it closes before READY.
    this.ready.catch(() => {});
    let transport: Transport<UdpAddress> = udp;
    if (faults !== undefined && faultsActive(faults)) {
      this.chaos = new ChaosTransport(udp, faults, realScheduler);
      transport = this.chaos;
    }
    const addresses: (UdpAddress | undefined)[] = [undefined];
    for (const e of hosts.entries) addresses.push(e.kind === "name" ? undefined : { address: e.host, port: e.port });
    this.loop = new PeerLoop<UdpAddress>({
      peer: {
        selfId: id,
        epoch: options.epoch ?? randomEpoch(),
        names: hosts.entries.map((e) => e.text),
        hostsDigest: hosts.digest,
        agent: AGENT,
        session: options.session,
        membership: options.membership,
        keyring: options.keyring,
        allowNat: options.allowNat,
      },
      transport,
      scheduler: realScheduler,
      addresses,
      onEvent: (event) => this.onEvent(event),
      onTrace: options.trace,
      onUntrustedAddress: (peer) => this.lookUpAgain(peer),
    });
    this.resolver = new Resolver({
      scheduler: realScheduler,
      family: udp.ipv6 ? 0 : 4,
      onAddress: (peer, address) => {
        this.checkDuplicate(peer, address);
        this.loop.learnAddress(peer, address);
      },
      onEvent: (event) => this.onEvent(event),
    });
    // Announcing starts on the next turn of the event loop, so that the
    // caller can log its own start line (and attach listeners) first.
    setImmediate(() => {
      if (this.ended) return;
      for (const e of hosts.entries) if (e.kind === "name" && e.id !== id) this.resolver.resolve(e.id, e.host, e.port);
      this.loop.start();
    });
  }

  /** Names looked up again after untrusted datagrams, and when; at most once a second per peer. */
  private readonly lookedUpAgainAt = new Map<number, number>();

  /**
   * A datagram in a named peer's name came from another address: its name
   * may resolve there now (a restarted container), which would make that
   * address its own. Looked up at most once a second per peer.
   */
  private lookUpAgain(peer: number): void {
    const entry = this.hosts.entries[peer - 1];
    if (entry?.kind !== "name") return;
    const now = realScheduler.now();
    if (now - (this.lookedUpAgainAt.get(peer) ?? Number.NEGATIVE_INFINITY) < 1000) return;
    this.lookedUpAgainAt.set(peer, now);
    this.resolver.resolve(entry.id, entry.host, entry.port);
  }

  /** My entry as written in the hosts list. */
  get name(): string {
    return this.hosts.entries[this.id - 1]!.text;
  }

  /** My random epoch, new at every start. */
  get epoch(): number {
    return this.loop.peer.epoch;
  }

  /** Number of peers in the group, me included. */
  get peerCount(): number {
    return this.hosts.entries.length;
  }

  /** The UDP address this peer is bound to, `ip:port`. */
  get localAddress(): string {
    return this.udp.localAddress;
  }

  /** True once READY. */
  get isReady(): boolean {
    return this.loop.peer.ready;
  }

  /** True when everything sent has been acknowledged and nothing is queued. */
  get isIdle(): boolean {
    return this.loop.peer.idle;
  }

  /** The reliable link to one peer: its counters, smoothed RTT and current retransmission timeout. */
  link(peer: number): LinkStats {
    const session = this.loop.peer.session(peer);
    if (session === undefined)
      throw new RangeError(`no peer with id ${peer} (ids are 1..${this.peerCount}, mine is ${this.id})`);
    return {
      ...session.stats,
      rttMs: session.rttEstimateMs,
      rtoMs: session.currentRtoMs,
      queuedMessages: session.queuedMessages,
      cwndBytes: session.congestion.cwndBytes,
      bytesInFlight: session.congestion.bytesInFlight,
    };
  }

  /** Ids of the peers heard from so far. */
  get peersUp(): number[] {
    return this.loop.peer.peersUp;
  }

  /** The id of the entry a name or `host:port` refers to; throws `InputError` when there is none. */
  idOf(name: string): number {
    return findSelf(this.hosts, name).id;
  }

  /**
   * Queues a message for reliable, ordered, exactly-once delivery to peer
   * `to`. Never waits: returns `queue-full` when the queue to that peer is
   * full (a `writable` event follows), `too-large` above `messageBytesMax`.
   * Throws `RangeError` for an id that is not another peer's.
   */
  send(to: number, body: Uint8Array): SendResult {
    if (this.ended) throw new Error("send on a closed peer");
    if (this.iterating && (this.restartsUnread.get(to) ?? 0) > 0) {
      this.writableOwed.add(to);
      return { ok: false, reason: "queue-full" };
    }
    return this.loop.send(to, body);
  }

  /** Like `send`, but waits while the queue to `to` is full. Rejects for `too-large` or when the peer closes. */
  async sendAsync(to: number, body: Uint8Array): Promise<void> {
    for (;;) {
      const result = this.send(to, body);
      if (result.ok) return;
      if (result.reason === "too-large") throw new RangeError(`message of ${body.length} bytes is too large`);
      await this.writable(to);
      if (this.ended) throw new Error("peer closed while waiting to send");
    }
  }

  /** Resolves when the queue to `to` has room again (after a `queue-full`), or when the peer closes. */
  writable(to: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.writableWaiters.get(to) ?? [];
      waiters.push(resolve);
      this.writableWaiters.set(to, waiters);
    });
  }

  /** Sends to every other peer; each peer's stream keeps its own order. */
  broadcast(body: Uint8Array): BroadcastResult {
    const refused: BroadcastResult["refused"] = [];
    for (let to = 1; to <= this.peerCount; to++) {
      if (to === this.id) continue;
      const result = this.send(to, body);
      if (!result.ok) refused.push({ peer: to, reason: result.reason });
    }
    return { ok: refused.length === 0, refused };
  }

  /**
   * The peer's events, in order, from its start: `peerUp`, `ready`,
   * `message`, `peerRestarted`, `peerUnresponsive`, `peerLeft`,
   * `hostsMismatch`, `writable`, `peerAddress`, ... One consumer only; the
   * iterator ends when the peer is closed.
   */
  events(): AsyncIterableIterator<RollcallEvent> {
    if (this.handler !== undefined) throw new Error("events() is not available when startPeer was given onEvent");
    if (this.iterating) throw new Error("events() has one consumer; it is already being iterated");
    this.iterating = true;
    const next = async (): Promise<IteratorResult<RollcallEvent>> => {
      for (;;) {
        if (this.bufferedHead < this.buffered.length) {
          const value = this.buffered[this.bufferedHead++]!;
          if (this.bufferedHead === this.buffered.length) {
            this.buffered = [];
            this.bufferedHead = 0;
          }
          if (this.buffered.length - this.bufferedHead <= this.eventsMax / 2) this.loop.resumeEvents();
          if (value.type === "peerRestarted") this.restartRead(value.peer);
          return { value, done: false };
        }
        if (this.ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          this.wakeReader = resolve;
        });
      }
    };
    const iterator: AsyncIterableIterator<RollcallEvent> = {
      next,
      return: async () => {
        this.iterating = false;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Every member of the group as this peer's failure detector sees it, me
   * included: `alive`, `suspect`, `failed`, `left`, or `unknown` before it
   * was first heard from.
   */
  /**
   * Runs a protocol module on this peer (src/host/host.ts): its channel's
   * messages and the peer's events go to it, and the host it gets back is
   * how it sends and keeps time. One module per channel; `startGroup` uses it.
   */
  attach(module: Module): Host {
    return this.loop.attach(module);
  }

  members(): MemberView[] {
    return this.loop.peer.members();
  }

  /** Counters: datagrams, bytes, retransmissions, drops by reason, and the transport's. */
  stats(): RollcallStats {
    const s = this.loop.peer.stats;
    return {
      ...s,
      drops: { ...s.drops },
      ...this.loop.stats,
      eventsDropped: this.eventsDropped,
      chaos: this.chaos ? { ...this.chaos.stats } : undefined,
      membership: { ...this.loop.peer.membershipStats },
    };
  }

  /**
   * Says goodbye to the other peers, waits up to `timeoutMs` for them to
   * acknowledge, and closes the socket. Resolves with true when every goodbye
   * was delivered. The events iterator ends after the events already buffered.
   */
  async close(reason = "close", timeoutMs = 1000): Promise<boolean> {
    const clean = await this.loop.close(reason, timeoutMs);
    this.end();
    return clean;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.resolver.close();
    this.rejectReady(new Error("peer closed before READY"));
    for (const waiters of this.writableWaiters.values()) for (const w of waiters) w();
    this.writableWaiters.clear();
    this.wakeReader?.();
  }

  /** Reports a resolved address that another line of the hosts file (mine included) already has. */
  private checkDuplicate(peer: number, address: UdpAddress): void {
    this.resolvedAddresses.set(peer, address);
    for (const e of this.hosts.entries) {
      if (e.id === peer) continue;
      const other = e.kind === "name" ? this.resolvedAddresses.get(e.id) : { address: e.host, port: e.port };
      if (other === undefined || other.port !== address.port || other.address !== address.address) continue;
      const pair = `${Math.min(peer, e.id)}:${Math.max(peer, e.id)}`;
      if (this.duplicatesReported.has(pair)) continue;
      this.duplicatesReported.add(pair);
      this.onEvent({ type: "hostsDuplicate", peer, other: e.id, address: formatUdpAddress(address) });
    }
  }

  /** The reader took a `peerRestarted`: sends to that peer go to its new process now. */
  private restartRead(peer: number): void {
    const unread = (this.restartsUnread.get(peer) ?? 1) - 1;
    if (unread > 0) {
      this.restartsUnread.set(peer, unread);
      return;
    }
    this.restartsUnread.delete(peer);
    if (this.writableOwed.delete(peer)) this.onEvent({ type: "writable", peer });
  }

  private onEvent(event: RollcallEvent): boolean {
    switch (event.type) {
      case "ready":
        this.resolveReady();
        break;
      case "writable": {
        const waiters = this.writableWaiters.get(event.peer);
        if (waiters !== undefined) {
          this.writableWaiters.delete(event.peer);
          for (const w of waiters) w();
        }
        break;
      }
      case "peerUnresponsive": {
        // It may have come back elsewhere (a rescheduled container): look its name up again.
        const entry = this.hosts.entries[event.peer - 1];
        if (entry?.kind === "name") this.resolver.resolve(entry.id, entry.host, entry.port);
        break;
      }
    }
    if (this.handler !== undefined) {
      this.handler(event);
      return true;
    }
    const backlog = this.buffered.length - this.bufferedHead;
    // Peer events pause at eventsMax (below); the resolver's cannot be held
    // back, so past twice that they are dropped and counted instead.
    if (backlog >= 2 * this.eventsMax) {
      this.eventsDropped++;
      return false;
    }
    this.buffered.push(event);
    if (event.type === "peerRestarted")
      this.restartsUnread.set(event.peer, (this.restartsUnread.get(event.peer) ?? 0) + 1);
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
    return backlog + 1 < this.eventsMax;
  }
}

function randomEpoch(): number {
  const a = new Uint32Array(1);
  do crypto.getRandomValues(a);
  while (a[0] === 0);
  return a[0]!;
}
