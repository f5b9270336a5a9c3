/**
 * The group layer's core (docs/groups.md): agreed views, virtual synchrony
 * and state transfer, as a sans-I/O protocol module on the host interface
 * (src/host/host.ts). Every input is a host callback (a message on channel
 * 1, a peer event, the timer) or a call of the application (`multicast`);
 * every output goes through the host (sends, the timer) or to `onEvent`.
 *
 * A view change is one instance of single-decree Paxos per view id, run by
 * the lowest-id live member of the current view (its coordinator), over
 * that view's members as acceptors, so that a new view needs a majority of
 * the previous one (Isis's primary partition) and a coordinator that fails
 * mid-change is finished by the next (Ricciardi & Birman 1991):
 *
 * 1. Prepare(view k+1, ballot): members promise the ballot, stop sending
 *    multicasts and stop delivering them (the wedge), and report how many
 *    messages of each member of view k they hold, and any value they
 *    accepted for view k+1 under an earlier ballot.
 * 2. With promises from a majority of view k (and every member it believes
 *    alive, or a timeout), the coordinator adopts the highest accepted value
 *    or makes its own: the promisers and the processes asking to join, and
 *    the cut (per sender, the most messages any promiser holds). It fetches
 *    what it lacks up to the cut from promisers that hold it.
 * 3. Accept(ballot, value): a member fetches what it lacks up to the cut
 *    from the coordinator, then accepts. An acceptor therefore holds every
 *    message up to the cut, so a later coordinator can always finish.
 * 4. Install(value): members deliver up to the cut, then install view k+1;
 *    joiners receive the state as of that point, before any message of it.
 */
import { createHash } from "node:crypto";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type GroupBallot,
  type GroupMessage,
  GroupMessageSchema,
  type GroupPromise,
  GroupPromiseSchema,
  type GroupViewValue,
  GroupViewValueSchema,
} from "../gen/rollcall/v1/rollcall_pb.ts";
import type { Host, HostPeerEvent, Module } from "../host/host.ts";
import { equalBytes } from "../util/bytes.ts";
import { GROUP_CHANNEL } from "../wire/channels.ts";
import { decodeGroupData, encodeGroupData } from "./data-codec.ts";
import { MessageLog } from "./message-log.ts";

/** A process: a peer id and its epoch. */
export interface GroupProcess {
  id: number;
  epoch: number;
}

/** An installed view. */
export interface View {
  /** Counts from 1 within one founding of the group (`group`). */
  id: number;
  /** The epoch of the process that formed the first view of this founding. */
  group: number;
  /** In id order. */
  members: GroupProcess[];
}

export type GroupEvent =
  /**
   * A view installed: every member of it installs the same views in the
   * same order. `joined`: members new to the group's history since my
   * previous view (new processes, restarts); `left`: members of my previous
   * view that are not in this one.
   */
  | { type: "view"; view: View; joined: GroupProcess[]; left: GroupProcess[]; previousViewId: number }
  /** A multicast, delivered in the view it was sent in, FIFO per sender. */
  | { type: "message"; from: number; viewId: number; body: Uint8Array }
  /** No new view can be made: a majority of the view is unreachable (the minority side of a partition). */
  | { type: "blocked"; viewId: number; reachable: number; needed: number }
  /**
   * I joined a view after a restart: the group knew an earlier process of
   * my id (`replacedEpoch`), so the state I receive continues its work.
   */
  | { type: "restarted"; replacedEpoch: number }
  /** Room again after `multicast` returned `queue-full`: every bound it met is below half. */
  | { type: "writable" }
  /**
   * The group went on without me (it installed `groupViewId`), or my view can
   * never be followed (`groupViewId` 0: fewer than half of its members remain,
   * the others replaced by restarts): I left my view `viewId` and ask to join
   * again, as a new member.
   */
  | { type: "excluded"; viewId: number; groupViewId: number }
  /** The state to start from arrived (as of the installation of `viewId`): `setState` was called with it. */
  | { type: "state"; viewId: number; bytes: number };

export interface GroupOptions {
  /** The group's state as bytes, as of now (called at an installation, for each joiner). */
  getState?: () => Uint8Array;
  /** Replaces the application's state (a joiner, before any message of its first view). */
  setState?: (state: Uint8Array) => void;
  onEvent: (event: GroupEvent) => void;
  /** Override the timing constants (tests, the simulator's slow networks). */
  timing?: Partial<GroupTiming>;
}

export interface GroupTiming {
  /** How long a coordinator waits for promises or accepts from members it believes alive before going on without them. */
  phaseTimeoutMs: number;
  /** A process outside any view asks to join this often. */
  joinIntervalMs: number;
  /** A member wedged this long without a new view reports `blocked` and asks the group whether it went on without it. */
  wedgedTooLongMs: number;
  /** Members tell each other what they hold this often, so that messages all hold are forgotten. */
  stableIntervalMs: number;
}

export const DEFAULT_GROUP_TIMING: GroupTiming = {
  phaseTimeoutMs: 1000,
  joinIntervalMs: 250,
  wedgedTooLongMs: 3000,
  stableIntervalMs: 200,
};

/** Multicasts waiting while the group changes view (or before the first); past it `multicast` returns `queue-full`. */
const OUTBOX_MAX = 4096;
/** Messages of a view held per sender, delivered or not, until every member holds them; past it `multicast` returns `queue-full`. */
const STORE_PER_SENDER_MAX = 65_536;
/** Bytes waiting per peer for room in its stream before `multicast` returns `queue-full` (multicasts travel in batches). */
const BACKLOG_BYTES_MAX = 1024 * 1024;
/**
 * A batch of multicasts is sent once its bodies reach this many bytes (about
 * one datagram). Larger batches (16 KiB) queued ahead of a view change's own
 * messages on the same streams held a change up by 3 s in the container test.
 */
const BATCH_BYTES_MAX = 1200;
/** Messages of a later view buffered until its Install arrives; past it they are dropped (their sender re-sends them only in a flush). */
const EARLY_MAX = 65_536;
/** Foundings whose ids I keep from reuse (`foundedGroups`); past it the oldest is forgotten. */
const FOUNDINGS_REMEMBERED = 1024;
/** Foundings whose left view is remembered (`leftViews`); past it the oldest is forgotten. */
const LEFT_FOUNDINGS_MAX = 16;
/** States received at once (for different views); past it the oldest view's is dropped. */
const INCOMING_STATES_MAX = 2;
/** State is sent in chunks of this many bytes. */
const STATE_CHUNK_BYTES = 256 * 1024;
/** Largest state a member takes (1 GiB); a larger one is refused and the member stays without state. */
const STATE_BYTES_MAX = 1024 * 1024 * 1024;

type Ballot = { round: number; coordinator: number };

/** A process as a map key. */
const processKey = (id: number, epoch: number) => `${id}@${epoch}`;

function compareBallots(a: Ballot | undefined, b: Ballot | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return a.round !== b.round ? a.round - b.round : a.coordinator - b.coordinator;
}

interface Value {
  viewId: number;
  group: number;
  members: GroupProcess[];
  previousViewId: number;
  cut: number[];
  stateProvider: number;
  needsState: number[];
}

const toValue = (v: GroupViewValue): Value => ({
  viewId: v.viewId,
  group: v.group,
  members: v.members.map((m) => ({ id: m.id, epoch: m.epoch })),
  previousViewId: v.previousViewId,
  cut: [...v.cut],
  stateProvider: v.stateProvider,
  needsState: [...v.needsState],
});

/** Per sender of the current view: what I hold and what I delivered. */
interface Stream {
  /** Messages held, until every member holds them (`log.base`: seqs forgotten). */
  log: MessageLog;
  /** Contiguous messages held from seq 1. */
  count: number;
  delivered: number;
  /** Out-of-order messages (forwarded ones) by seq. */
  waiting: Map<number, Uint8Array>;
}

interface Change {
  ballot: Ballot;
  viewId: number;
  phase: "prepare" | "gather" | "accept";
  promises: Map<number, GroupPromise>;
  accepted: Set<number>;
  value: Value | undefined;
  deadlineMs: number;
  /** First-view founding: acceptors are the universe's ids. */
  founding: boolean;
  /** The value was already installed by someone: gather, then install without a vote. */
  chosen: boolean;
}

export class Group implements Module {
  readonly channel = GROUP_CHANNEL;
  private host!: Host;
  private readonly options: GroupOptions;
  private readonly timing: GroupTiming;

  private view: View | undefined;
  /** The value that installed my view (to tell a coordinator that missed it). */
  private installedValue: Value | undefined;
  private streams: Stream[] = [];
  /** The previous view's streams, kept to serve fetches of a coordinator finishing it. */
  private previous: { viewId: number; group: number; members: GroupProcess[]; streams: Stream[] } | undefined;
  /** Every member's last epoch seen in a view of mine, by id: a joiner with another epoch is a restart. */
  private readonly epochsSeen = new Map<number, number>();
  /** Per member, the counts it last said it holds (GroupStable). */
  private readonly stableCounts = new Map<number, number[]>();
  private sent = 0;
  private hasState = false;
  /** Set while wedged: when the wedge counts as too long (one float, compared the same way everywhere). */
  private wedgedUntilMs: number | undefined;
  private blockedReported = false;
  private outbox: (Uint8Array | (() => Uint8Array))[] = [];
  /** My multicasts numbered and delivered in this burst, not sent yet (`flush`); bounded by BATCH_BYTES_MAX and the outbox. */
  private batch = { firstSeq: 0, bodies: [] as Uint8Array[], bytes: 0 };
  private early: { from: number; viewId: number; group: number; seq: number; body: Uint8Array }[] = [];
  /** Acceptor: the ballot promised and the value accepted, for view `promisedViewId`. */
  private promisedViewId = 0;
  private promised: Ballot | undefined;
  private accepted: { ballot: Ballot; value: Value } | undefined;
  /** An Accept waiting for fetched messages before it is accepted. */
  private accepting: { ballot: Ballot; value: Value; from: number } | undefined;
  /** An Install waiting for fetched messages before it is installed. */
  private installing: { value: Value; from: number } | undefined;
  private roundSeen = 0;
  private change: Change | undefined;
  /** Processes outside my view asking to join, by id. */
  private readonly joiners = new Map<number, { epoch: number; needsState: boolean }>();
  /**
   * States being received, by `group/viewId`: chunks in order. More than one:
   * a later view's state may arrive before an older one still in flight from
   * another member, and replacing it lost the one that mattered (swarm seed
   * 1796 with --burst 4). At INCOMING_STATES_MAX the oldest view's is dropped.
   */
  private readonly incoming = new Map<
    string,
    {
      viewId: number;
      group: number;
      total: number;
      chunks: Uint8Array[];
      bytes: number;
      replacedEpoch: number;
      sha256?: Uint8Array;
    }
  >();
  /**
   * Per peer, sends refused for a full queue, re-sent in order on its
   * `writable`. Multicasts are refused while one holds BACKLOG_BYTES_MAX; the
   * protocol's own messages (a few per view change) and state chunks (the
   * state's size) pass, so it stays bounded by those.
   */
  private readonly backlog = new Map<
    number,
    { items: { body: Uint8Array; control: boolean }[]; head: number; bytes: number }
  >();
  /** A multicast was refused (`queue-full`): `writable` follows once every bound it met is below half. */
  private writableOwed = false;
  /** Highest seq asked of each (holder, view, sender); cleared with each new ballot or view. */
  private readonly fetched = new Map<string, number>();
  /** The counts of my last Stable: sent again only when they changed. */
  private lastStable = "";
  private nextJoinMs = 0;
  /** A member of my view is wedged with no change under way: run one (I coordinate). */
  private unwedgeRequested = false;
  /** After a change that could not make a view, the next waits until then. */
  private retryAtMs = 0;
  private nextStableMs = 0;
  private closed = false;
  /** `drainOutbox` is running, or an installation is (see `tryInstall`): a multicast waits in the outbox. */
  private draining = false;
  private installingNow = false;
  /** `wakeAt`: the layer above's one wake-up. */
  private upperWake: { atMs: number; hook: () => void } | undefined;
  /** `onFlush`: the layer above's end-of-burst hook, and whether it was asked for. */
  private flushHook: (() => void) | undefined;
  private flushHookWanted = false;
  /** Members of my view (`id@epoch`) that asked to join from an older view: they never installed mine (`onJoin`). */
  private readonly behind = new Set<string>();
  /** Per founding, the last view I left (`leaveView`): no Install of it or an older one is taken again. */
  private readonly leftViews = new Map<number, number>();
  /** Processes outside my view told so (`tellOutside`), by id: the epoch told; cleared at every installation. */
  private readonly toldOutside = new Map<number, number>();
  /**
   * Foundings I was a member of: a founding of mine never reuses one's id.
   * One per founding joined (a founding happens only when a group lost its
   * majority); past FOUNDINGS_REMEMBERED the oldest is forgotten, and an id
   * drawn afresh could then repeat it with odds of 1 in 2^32.
   */
  private readonly foundedGroups = new Set<number>();
  /** The id of my next founding when my epoch is taken (0: none drawn yet). */
  private nextFoundingId = 0;
  /** States received whole whose SHA-256 did not match (not taken). */
  stateRejected = 0;

  constructor(options: GroupOptions) {
    this.options = options;
    this.timing = { ...DEFAULT_GROUP_TIMING, ...options.timing };
  }

  /** Binds the core to its host; call once, before any input. */
  start(host: Host): void {
    this.host = host;
    this.nextJoinMs = host.now();
    this.armTimer();
  }

  /** The installed view, if any. */
  get currentView(): View | undefined {
    return this.view;
  }

  /** True while a view change holds my multicasts back (I promised a ballot and no view was installed since). */
  get isWedged(): boolean {
    return this.wedgedUntilMs !== undefined;
  }

  /** True once a view is installed and its state received: multicasts are delivered. */
  get isMember(): boolean {
    return this.view !== undefined && this.hasState;
  }

  /**
   * Multicasts `body` to every member of the current view, FIFO from me;
   * my own copy is delivered at once, and the multicasts of one burst go out
   * together at its end (`flush`). During a view change (or before the
   * first view) it waits in a bounded outbox and goes out in the next view.
   * `queue-full` past OUTBOX_MAX, BACKLOG_BYTES_MAX or STORE_PER_SENDER_MAX;
   * `writable` follows. `body` must not change afterwards; given as a
   * function, it is called when the message is numbered in a view (just
   * before my own copy is delivered), for a body that depends on the view it
   * goes out in (a causal message's vector clock).
   */
  multicast(body: Uint8Array | (() => Uint8Array)): { ok: true } | { ok: false; reason: "queue-full" } {
    if (this.multicastBlocked(1)) {
      this.writableOwed = true;
      return { ok: false, reason: "queue-full" };
    }
    this.outbox.push(body);
    this.drainOutbox();
    return { ok: true };
  }

  /** Stops taking input (the process is closing). */
  close(): void {
    this.closed = true;
    this.host?.setTimer(undefined);
  }

  // --- inputs ------------------------------------------------------------------------

  handleMessage(from: number, fromEpoch: number, body: Uint8Array): void {
    if (this.closed) return;
    // The hot path, a multicast, without protobuf-es.
    // (A multicast changes no membership: no step, whose liveness checks cost more than the delivery.)
    const data = decodeGroupData(body);
    if (data !== undefined) {
      this.onData(from, data.viewId, data.group, data.seq, data.bodies);
      return;
    }
    let message: GroupMessage;
    try {
      message = fromBinary(GroupMessageSchema, body);
    } catch {
      return; // not counted by the peer; a malformed group message changes nothing
    }
    const m = message.body;
    switch (m.case) {
      case "join":
        this.onJoin(from, fromEpoch, m.value.viewId);
        break;
      case "prepare":
        this.onPrepare(from, m.value.viewId, ballotOf(m.value.ballot), m.value.group);
        break;
      case "promise":
        this.onPromise(from, m.value);
        break;
      case "fetch":
        this.onFetch(from, m.value.viewId, m.value.group, m.value.sender, m.value.fromSeq, m.value.toSeq);
        break;
      case "forward":
        this.onForward(m.value.viewId, m.value.group, m.value.sender, m.value.seq, m.value.body);
        break;
      case "accept":
        if (m.value.value !== undefined) this.onAccept(from, ballotOf(m.value.ballot), toValue(m.value.value));
        break;
      case "accepted":
        this.onAccepted(from, m.value.viewId, ballotOf(m.value.ballot));
        break;
      case "install":
        if (m.value.value !== undefined) this.onInstall(from, toValue(m.value.value));
        break;
      case "data":
        this.onData(from, m.value.viewId, m.value.group, m.value.seq, m.value.body);
        break;
      case "stable":
        this.onStable(from, m.value.viewId, m.value.group, m.value.counts);
        break;
      case "state":
        this.onState(
          m.value.viewId,
          m.value.group,
          Number(m.value.totalBytes),
          Number(m.value.offset),
          m.value.data,
          m.value.replacedEpoch,
          m.value.sha256,
        );
        break;
      case "excluded":
        this.onExcluded(m.value.viewId, m.value.group);
        break;
    }
    this.step();
  }

  handlePeerEvent(event: HostPeerEvent): void {
    if (this.closed) return;
    if (event.type === "writable") {
      this.flushBacklog(event.peer);
      return;
    }
    if (event.type === "peerRestarted") {
      // What was queued for the old process was dropped with it.
      this.backlog.delete(event.peer);
      this.joiners.delete(event.peer);
    }
    if (event.type === "peerUp" || event.type === "peerAlive" || event.type === "peerRestarted") this.tellOutside();
    this.step();
  }

  handleTimeout(): void {
    if (this.closed) return;
    const now = this.host.now();
    const wake = this.upperWake;
    if (wake !== undefined && now >= wake.atMs) {
      this.upperWake = undefined;
      wake.hook();
    }
    if (this.change !== undefined && now >= this.change.deadlineMs) this.phaseTimedOut();

    if (this.view === undefined || this.wedgedTooLong(now)) {
      if (now >= this.nextJoinMs) {
        this.nextJoinMs = now + this.timing.joinIntervalMs;
        this.askToJoin();
      }
    }
    if (this.view !== undefined && this.hasState && now >= this.nextStableMs) {
      this.nextStableMs = now + this.timing.stableIntervalMs;
      this.sendStable();
      // (A process may count as alive only some time after its peerUp.)
      this.tellOutside();
    }
    this.step();
  }

  // --- the view change: coordinator ------------------------------------------------------

  /** Starts or moves on a view change where one is due; re-arms the timer. */
  private step(): void {
    if (this.closed) return;
    if (this.view !== undefined && this.viewCanNeverBeFollowed(this.view)) this.leaveView(0);
    if (this.change === undefined && this.shouldCoordinate()) this.maybeStartChange();
    this.armTimer();
  }

  private alive(p: GroupProcess): boolean {
    if (p.id === this.host.selfId) return p.epoch === this.host.epoch;
    return this.host.epochOf(p.id) === p.epoch && this.host.isAlive(p.id);
  }

  /** The coordinator of my view: its lowest-id member I believe alive. */
  private coordinatorOf(view: View): number | undefined {
    for (const m of view.members) if (this.alive(m) && !this.behind.has(processKey(m.id, m.epoch))) return m.id;
    return undefined;
  }

  private shouldCoordinate(): boolean {
    if (this.view === undefined) {
      // No view yet: the lowest id among the processes without one that I know of founds the group.
      // Alone in the hosts file: a group of one, founded by me.
      if (this.joiners.size === 0) return this.host.peerCount === 1;
      for (const id of this.joiners.keys()) if (id < this.host.selfId) return false;
      return true;
    }
    return this.coordinatorOf(this.view) === this.host.selfId;
  }

  /**
   * Processes to let in: those asking to join, and live processes that were
   * members of an earlier view of mine and are not in this one (left out
   * while unreachable or slow, they may still believe themselves in that
   * view and would not ask).
   */
  private liveJoiners(): GroupProcess[] {
    const out: GroupProcess[] = [];
    const consider = (p: GroupProcess) => {
      if (out.some((o) => o.id === p.id)) return;
      if (this.alive(p) && !this.view?.members.some((m) => m.id === p.id && m.epoch === p.epoch)) out.push(p);
    };
    for (const [id, j] of this.joiners) consider({ id, epoch: j.epoch });
    for (const [id, epoch] of this.epochsSeen) if (this.host.epochOf(id) === epoch) consider({ id, epoch });
    return out;
  }

  private maybeStartChange(): void {
    if (this.host.now() < this.retryAtMs) return;
    const view = this.view;
    if (view === undefined) {
      // Founding: more than half the hosts file must be running the group layer and reachable.
      if (this.joiners.size + 1 <= this.host.peerCount / 2) return;
      this.startChange(1, true);
      return;
    }
    const gone = view.members.some((m) => !this.alive(m) || this.behind.has(processKey(m.id, m.epoch)));
    const joining = this.liveJoiners().length > 0;
    if (gone || joining || this.unwedgeRequested) {
      this.unwedgeRequested = false;
      this.startChange(view.id + 1, false);
    }
  }

  private startChange(viewId: number, founding: boolean): void {
    const ballot = { round: this.roundSeen + 1, coordinator: this.host.selfId };
    this.roundSeen = ballot.round;
    this.fetched.clear();
    this.change = {
      ballot,
      viewId,
      phase: "prepare",
      promises: new Map(),
      accepted: new Set(),
      value: undefined,
      deadlineMs: this.host.now() + this.timing.phaseTimeoutMs,
      founding,
      chosen: false,
    };
    const group = founding ? 0 : this.view!.group;
    const prepare = this.encode({ case: "prepare", value: { viewId, ballot, group } });
    for (const id of this.acceptorIds(founding)) {
      if (id === this.host.selfId) this.onPrepare(id, viewId, ballot, group);
      else this.send(id, prepare, true);
    }
  }

  /** Who votes on the next view: the members of mine, or for the first view every process asking to join. */
  private acceptorIds(founding: boolean): number[] {
    if (founding || this.view === undefined) return [this.host.selfId, ...this.joiners.keys()];
    return this.view.members.map((m) => m.id);
  }

  /** More than half the hosts file: every view holds at least this many members, so that two groups never both go on. */
  private majorityOfHosts(): number {
    return Math.floor(this.host.peerCount / 2) + 1;
  }

  /** The peer knows a newer process of this member's id: the member is certainly gone (not merely unreachable). */
  private superseded(m: GroupProcess): boolean {
    const epoch = m.id === this.host.selfId ? this.host.epoch : this.host.epochOf(m.id);
    return epoch !== 0 && epoch !== m.epoch;
  }

  /**
   * Votes enough to decide the next view: a majority of my view (of the
   * hosts file, for the first), or every member of my view not certainly
   * gone, if they are at least half of it. The second still meets every
   * majority that may have decided before (n - floor(n/2) members do), and
   * any other quorum, so a group of two outlives the restart of one member.
   */
  private isQuorum(founding: boolean, voters: { has(id: number): boolean; size: number }): boolean {
    if (voters.size >= this.quorum(founding)) return true;
    if (founding || this.view === undefined) return false;
    const members = this.view.members;
    const remaining = members.filter((m) => !this.superseded(m));
    return remaining.length >= Math.ceil(members.length / 2) && remaining.every((m) => voters.has(m.id));
  }

  /** Votes needed: a majority of my view, or of the hosts file for the first view. */
  private quorum(founding: boolean): number {
    const size = founding || this.view === undefined ? this.host.peerCount : this.view.members.length;
    return Math.floor(size / 2) + 1;
  }

  private onPromise(from: number, p: GroupPromise): void {
    const c = this.change;
    if (c === undefined || c.phase !== "prepare" || p.viewId !== c.viewId) return;
    if (compareBallots(ballotOf(p.ballot), c.ballot) !== 0) return;
    c.promises.set(from, p);
    if (p.chosen && p.accepted !== undefined) {
      // The view was installed somewhere already: it is chosen, so no vote is
      // needed (its installers would not vote on it again): finish exactly it.
      c.chosen = true;
      this.adopt(toValue(p.accepted));
      return;
    }
    if (this.allAnswered(c, c.promises)) this.decide();
  }

  /** Every acceptor I believe alive answered, and they are a quorum. */
  private allAnswered(c: Change, answered: { has(id: number): boolean; size: number }): boolean {
    if (!this.isQuorum(c.founding, answered)) return false;
    if (c.founding) {
      for (const [id, j] of this.joiners) if (!answered.has(id) && this.alive({ id, epoch: j.epoch })) return false;
      return true;
    }
    for (const m of this.view!.members) if (!answered.has(m.id) && this.alive(m)) return false;
    return true;
  }

  private phaseTimedOut(): void {
    const c = this.change!;
    const answered = c.phase === "prepare" ? c.promises : c.accepted;
    if (this.isQuorum(c.founding, answered)) {
      if (c.phase === "prepare") this.decide();
      else if (c.phase === "accept") this.install();
      else c.deadlineMs = this.host.now() + this.timing.phaseTimeoutMs; // still gathering: a holder is slow
      return;
    }
    // No majority answered: try again later with a new ballot.
    this.giveUp(c.founding ? 1 + this.joiners.size : this.view!.members.filter((m) => this.alive(m)).length);
  }

  /**
   * Ends a change that cannot make a view; the next waits a phase timeout.
   * With too few members reachable the minority side stops and says so.
   */
  private giveUp(reachable: number): void {
    this.change = undefined;
    this.retryAtMs = this.host.now() + this.timing.phaseTimeoutMs;
    const needed = Math.max(this.quorum(false), this.majorityOfHosts());
    if (!this.blockedReported && this.view !== undefined && reachable < needed) {
      this.blockedReported = true;
      this.options.onEvent({ type: "blocked", viewId: this.view.id, reachable, needed });
    }
  }

  /** Phase 1 done: adopt the highest accepted value, or make one. */
  private decide(): void {
    const c = this.change!;
    let best: { ballot: Ballot; value: Value } | undefined;
    for (const p of c.promises.values()) {
      if (p.accepted === undefined) continue;
      // The first view of a founding I had a view of was chosen and installed: it is finished, and I left that
      // group (its view could never be followed); an acceptor that never learned so still reports it.
      if (c.founding && this.foundedGroups.has(p.accepted.group)) continue;
      const b = ballotOf(p.acceptedBallot);
      if (best === undefined || compareBallots(b, best.ballot) > 0) best = { ballot: b, value: toValue(p.accepted) };
    }
    if (best !== undefined) {
      this.adopt(best.value);
      return;
    }
    const members = new Map<number, GroupProcess>();
    if (c.founding) {
      members.set(this.host.selfId, { id: this.host.selfId, epoch: this.host.epoch });
      for (const id of c.promises.keys()) {
        const j = this.joiners.get(id);
        if (j !== undefined) members.set(id, { id, epoch: j.epoch });
      }
    } else {
      // Every promiser, even one that died since: the new view then holds the quorum that chose it, and the next change removes the dead.
      for (const m of this.view!.members) if (c.promises.has(m.id)) members.set(m.id, m);
      for (const j of this.liveJoiners()) if (!members.has(j.id)) members.set(j.id, j);
    }
    const cut = c.founding ? [] : this.view!.members.map((_, i) => this.maxCount(c.promises, i));
    const sorted = [...members.values()].sort((a, b) => a.id - b.id);
    if (sorted.length < this.majorityOfHosts()) {
      // Too few for a view: say so, and try again later with a new ballot.
      this.giveUp(sorted.length);
      return;
    }
    // Who needs the state: new members, and members that reported lacking it; who sends it: the lowest-id member holding it.
    const needsState = c.founding
      ? []
      : sorted
          .filter(
            (m) =>
              !this.view!.members.some((v) => v.id === m.id && v.epoch === m.epoch) || c.promises.get(m.id)?.needsState,
          )
          .map((m) => m.id);
    const provider = c.founding
      ? 0
      : (sorted.find((m) => c.promises.has(m.id) && !c.promises.get(m.id)!.needsState)?.id ?? 0);
    this.adopt({
      viewId: c.viewId,
      group: c.founding ? this.foundingId() : this.view!.group,
      members: sorted,
      previousViewId: c.founding ? 0 : this.view!.id,
      cut,
      stateProvider: needsState.length === 0 ? 0 : provider,
      needsState,
    });
  }

  /**
   * The id of a founding I make: my epoch, unless a founding of that id
   * already had a view of mine (I left a group I founded, which can happen
   * only when its view could never be followed); then a random one, kept
   * until a view of it is installed, so that retries of one founding are
   * one Paxos instance and two foundings never share an id.
   */
  private foundingId(): number {
    if (!this.foundedGroups.has(this.host.epoch)) return this.host.epoch;
    while (this.nextFoundingId === 0 || this.foundedGroups.has(this.nextFoundingId))
      this.nextFoundingId = 1 + Math.floor(this.host.random() * 0xffff_fffe);
    return this.nextFoundingId;
  }

  private maxCount(promises: Map<number, GroupPromise>, index: number): number {
    let max = 0;
    for (const p of promises.values()) max = Math.max(max, p.counts[index] ?? 0);
    return max;
  }

  /** Phase 2 with this value: first gather every message up to its cut here. */
  private adopt(value: Value): void {
    const c = this.change!;
    c.value = value;
    c.phase = "gather";
    c.deadlineMs = this.host.now() + this.timing.phaseTimeoutMs;
    this.gather();
  }

  /** Fetches what I lack up to the cut from promisers that hold it; goes on to Accept once I hold it all. */
  private gather(): void {
    const c = this.change!;
    const value = c.value!;
    // A holder: a promiser that reported at least the cut (or any promiser, for an adopted value).
    const holderOf = (i: number, want: number) => {
      let holder: number | undefined;
      for (const [id, p] of c.promises) if ((p.counts[i] ?? 0) >= want && id !== this.host.selfId) holder = id;
      return holder ?? [...c.promises.keys()].find((id) => id !== this.host.selfId);
    };
    if (!this.holdsCut(value, holderOf)) return;
    if (c.chosen) {
      this.install();
      return;
    }
    c.phase = "accept";
    c.deadlineMs = this.host.now() + this.timing.phaseTimeoutMs;
    const accept = this.encode({
      case: "accept",
      value: { ballot: c.ballot, value: create(GroupViewValueSchema, value) },
    });
    for (const id of this.acceptorIds(c.founding)) {
      if (id === this.host.selfId) this.onAccept(id, c.ballot, value);
      else if (c.promises.has(id)) this.send(id, accept, true);
    }
  }

  private onAccepted(from: number, viewId: number, ballot: Ballot): void {
    const c = this.change;
    if (c === undefined || c.phase !== "accept" || viewId !== c.viewId || compareBallots(ballot, c.ballot) !== 0)
      return;
    c.accepted.add(from);
    // Every member of the new value that came from my view and that I believe alive, and a quorum.
    if (!this.isQuorum(c.founding, c.accepted)) return;
    for (const m of c.value!.members) {
      const fromMyView = c.founding || this.view?.members.some((v) => v.id === m.id && v.epoch === m.epoch);
      if (fromMyView && c.promises.has(m.id) && !c.accepted.has(m.id) && this.alive(m)) return;
    }
    this.install();
  }

  /** Chosen: tell every member of the new view, me first. */
  private install(): void {
    const c = this.change!;
    const value = c.value!;
    this.change = undefined;
    const install = this.encode({ case: "install", value: { value: create(GroupViewValueSchema, value) } });
    for (const m of value.members) if (m.id !== this.host.selfId) this.send(m.id, install, true);
    this.onInstall(this.host.selfId, value);
  }

  // --- the view change: every member -------------------------------------------------------

  private onJoin(from: number, fromEpoch: number, lastViewId: number): void {
    // A member of my view asking has been wedged long: by a change that was
    // given up (no quorum then), or its Install is on its way. Its coordinator
    // runs a change anyway, with the same members if nothing else changed:
    // that ends every wedge (a member stayed wedged, asking, for 190 s).
    if (this.view?.members.some((m) => m.id === from && m.epoch === fromEpoch)) {
      if (lastViewId === this.view.id) {
        this.unwedgeRequested = true;
        this.step();
        return;
      }
      // A member of my view that never installed it (it asks from an older view), or one ahead of me: either way
      // it is not a coordinator I can wait for; behind, it holds neither this view's messages nor its state. It coordinates nothing, and the next change takes it in again, with the state.
      this.behind.add(processKey(from, fromEpoch));
      // Its Install may have died with the coordinator that sent it: mine lets it catch up (as a member that
      // lacks the state if it comes from no view), so that it can vote in the next change (swarm seed 1889).
      if (this.installedValue !== undefined && lastViewId < this.view.id)
        this.send(
          from,
          this.encode({ case: "install", value: { value: create(GroupViewValueSchema, this.installedValue) } }),
          true,
        );
    }
    // A member of an earlier view of mine, not in it: tell it the group went on.
    if (this.view !== undefined && lastViewId !== 0 && lastViewId < this.view.id) {
      this.send(from, this.encode({ case: "excluded", value: { viewId: this.view.id, group: this.view.group } }), true);
    }
    const known = this.joiners.get(from);
    this.joiners.set(from, { epoch: fromEpoch, needsState: true });
    if (known === undefined || known.epoch !== fromEpoch) this.step();
  }

  private onPrepare(from: number, viewId: number, ballot: Ballot, group: number): void {
    this.roundSeen = Math.max(this.roundSeen, ballot.round);
    if (this.view !== undefined && group !== this.view.group) {
      // Another founding (or a founder who does not know the group): tell it mine.
      this.send(from, this.encode({ case: "excluded", value: { viewId: this.view.id, group: this.view.group } }), true);
      return;
    }
    const myViewId = this.view?.id ?? 0;
    if (viewId <= myViewId) {
      // A coordinator behind me: tell it what was chosen, or that it was left out.
      const inView = this.view!.members.some((m) => m.id === from && m.epoch === this.host.epochOf(from));
      if (viewId === myViewId && inView && this.installedValue !== undefined) {
        this.send(
          from,
          this.encode({
            case: "promise",
            value: {
              viewId,
              ballot,
              counts: [],
              chosen: true,
              accepted: create(GroupViewValueSchema, this.installedValue),
            },
          }),
          true,
        );
      } else if (!inView) {
        this.send(from, this.encode({ case: "excluded", value: { viewId: myViewId, group: this.view!.group } }), true);
      }
      return;
    }
    if (viewId !== myViewId + 1) return; // I missed views: I will be told I was left out
    if (this.promisedViewId === viewId && compareBallots(ballot, this.promised) < 0) return;
    if (this.promisedViewId !== viewId) {
      this.promisedViewId = viewId;
      this.accepted = undefined;
    }
    this.promised = ballot;
    this.wedge();
    const promise = {
      viewId,
      ballot,
      counts: this.streams.map((s) => s.count),
      acceptedBallot: this.accepted?.ballot,
      accepted: this.accepted === undefined ? undefined : create(GroupViewValueSchema, this.accepted.value),
      needsState: this.view !== undefined && !this.hasState,
      chosen: false,
    };
    if (from === this.host.selfId) this.onPromise(from, create(GroupPromiseSchema, promise));
    else this.send(from, this.encode({ case: "promise", value: promise }), true);
  }

  private wedge(): void {
    this.wedgedUntilMs ??= this.host.now() + this.timing.wedgedTooLongMs;
  }

  private wedgedTooLong(now: number): boolean {
    if (this.wedgedUntilMs === undefined || now < this.wedgedUntilMs) return false;
    if (!this.blockedReported && this.view !== undefined) {
      this.blockedReported = true;
      this.options.onEvent({
        type: "blocked",
        viewId: this.view.id,
        reachable: this.view.members.filter((m) => this.alive(m)).length,
        needed: this.quorum(false),
      });
    }
    return true;
  }

  private onAccept(from: number, ballot: Ballot, value: Value): void {
    this.roundSeen = Math.max(this.roundSeen, ballot.round);
    const myViewId = this.view?.id ?? 0;
    if (value.viewId !== myViewId + 1 || value.previousViewId !== myViewId) return;
    if (this.promisedViewId === value.viewId && compareBallots(ballot, this.promised) < 0) return;
    this.promisedViewId = value.viewId;
    this.promised = ballot;
    this.wedge();
    if (this.accepting?.from !== from) this.fetched.clear();
    this.accepting = { ballot, value, from };
    this.tryAccept();
  }

  /** Accepts once I hold every message up to the cut (fetched from the coordinator, who holds them all). */
  private tryAccept(): void {
    const a = this.accepting;
    if (a === undefined) return;
    if (!this.holdsCut(a.value, () => a.from)) return;
    this.accepting = undefined;
    this.accepted = { ballot: a.ballot, value: a.value };
    if (a.from === this.host.selfId) this.onAccepted(a.from, a.value.viewId, a.ballot);
    else
      this.send(a.from, this.encode({ case: "accepted", value: { viewId: a.value.viewId, ballot: a.ballot } }), true);
  }

  /**
   * True when I hold every message of my view up to `value`'s cut (a value
   * continuing another view asks nothing of me); otherwise asks the holder
   * `holderOf` names for the rest of each sender's messages.
   */
  private holdsCut(value: Value, holderOf: (index: number, want: number) => number | undefined): boolean {
    if (this.view === undefined || value.previousViewId !== this.view.id) return true;
    let complete = true;
    for (const [i, member] of this.view.members.entries()) {
      const have = this.streams[i]!.count;
      const want = value.cut[i] ?? 0;
      if (have >= want) continue;
      complete = false;
      const holder = holderOf(i, want);
      if (holder !== undefined && holder !== this.host.selfId) this.fetch(holder, this.view, member.id, have + 1, want);
    }
    return complete;
  }

  private onInstall(from: number, value: Value): void {
    const myViewId = this.view?.id ?? 0;
    const sameGroup = this.view === undefined || value.group === this.view.group;
    if (sameGroup && value.viewId <= myViewId) return;
    // A view I left, or an older one of that founding: over for me (what I delivered there must not come again).
    if (value.viewId <= (this.leftViews.get(value.group) ?? 0)) return;
    if (!value.members.some((m) => m.id === this.host.selfId && m.epoch === this.host.epoch)) return;
    this.installing = { value, from };
    this.tryInstall();
  }

  private tryInstall(): void {
    const i = this.installing;
    if (i === undefined) return;
    const continuing =
      this.view !== undefined && i.value.group === this.view.group && i.value.previousViewId === this.view.id;
    if (continuing && !this.holdsCut(i.value, () => i.from)) return;
    this.installing = undefined;
    // Multicasts the application makes from its handlers during the installation (the cut's deliveries, the
    // view event) wait until the state for joiners is taken: numbered before it, one would be in the state and
    // sent to the joiner as a message too.
    this.installingNow = true;
    // My multicasts of the old view still gathered: the cut covers them (they were numbered before I promised),
    // and members that lack them fetch them; sent anyway, they spare those fetches.
    this.sendBatch();
    const previous = this.view;
    if (continuing) {
      // Deliver up to the cut: what every member coming from this view delivers in it.
      for (const [index, member] of this.view!.members.entries())
        this.deliverUpTo(member.id, index, i.value.cut[index] ?? 0);
    }
    const view: View = { id: i.value.viewId, group: i.value.group, members: i.value.members };
    this.foundedGroups.add(view.group);
    if (this.foundedGroups.size > FOUNDINGS_REMEMBERED)
      this.foundedGroups.delete(this.foundedGroups.values().next().value!);
    this.previous =
      previous === undefined
        ? undefined
        : { viewId: previous.id, group: previous.group, members: previous.members, streams: this.streams };
    this.stableCounts.clear();
    this.fetched.clear();
    this.lastStable = "";
    if (this.change !== undefined && this.change.viewId <= i.value.viewId) this.change = undefined;
    this.view = view;
    this.installedValue = i.value;
    this.streams = view.members.map(() => ({ log: new MessageLog(), count: 0, delivered: 0, waiting: new Map() }));
    this.sent = 0;
    this.wedgedUntilMs = undefined;
    this.blockedReported = false;
    this.accepted = undefined;
    this.accepting = undefined;
    this.promised = undefined;
    this.promisedViewId = 0;
    // A founder of the first view starts from the empty state; anyone else joining waits for the state.
    if (!continuing) {
      this.hasState = i.value.previousViewId === 0;
      if (this.hasState) this.options.setState?.(new Uint8Array(0));
    }
    for (const m of view.members) this.joiners.delete(m.id);
    const prevMembers = previous?.members ?? [];
    const joined = view.members.filter((m) => !prevMembers.some((p) => p.id === m.id && p.epoch === m.epoch));
    const left = prevMembers.filter((p) => !view.members.some((m) => m.id === p.id && m.epoch === p.epoch));
    this.options.onEvent({ type: "view", view, joined, left, previousViewId: previous?.id ?? 0 });
    // The state as of this installation, to those who need it.
    if (i.value.stateProvider === this.host.selfId && this.hasState) this.sendState(view, i.value.needsState);
    for (const m of view.members) this.epochsSeen.set(m.id, m.epoch);
    // A state that overtook this Install.
    this.applyState();
    // Messages of this view that arrived before its Install.
    // (Those of another founding, or an earlier view, are over: I am in this one.)
    const early = this.early;
    this.early = [];
    for (const e of early) if (e.group === view.group) this.onData(e.from, e.viewId, e.group, e.seq, [e.body]);
    this.installingNow = false;
    this.drainOutbox();
    this.toldOutside.clear();
    this.behind.clear();
    this.tellOutside();
  }

  /**
   * As coordinator of a settled view, tells every live process outside it
   * (and not asking to join) that the group went on, once per view and
   * process. A member left out of a view while it was unreachable believes
   * itself in the old one; if it is silent (nothing to multicast) nothing
   * else would tell it, and a coordinator that joined later does not know it
   * was ever a member (swarm seed 409 with --burst 4). A process without a
   * view, or a peer without the group layer, ignores it.
   */
  private tellOutside(): void {
    const view = this.view;
    if (view === undefined || this.change !== undefined || this.coordinatorOf(view) !== this.host.selfId) return;
    for (let id = 1; id <= this.host.peerCount; id++) {
      if (id === this.host.selfId || this.joiners.has(id)) continue;
      const epoch = this.host.epochOf(id);
      if (
        epoch === 0 ||
        this.toldOutside.get(id) === epoch ||
        view.members.some((m) => m.id === id && m.epoch === epoch)
      )
        continue;
      if (!this.host.isAlive(id)) continue;
      this.toldOutside.set(id, epoch);
      this.send(id, this.encode({ case: "excluded", value: { viewId: view.id, group: view.group } }), true);
    }
  }

  private onExcluded(viewId: number, group: number): void {
    if (this.view === undefined) {
      // Founding while a group runs: join it instead, and found nothing for a while (answered at once, a
      // founder retrying at once kept two processes busy with Prepare and Excluded at one instant).
      if (this.change?.founding) this.change = undefined;
      this.retryAtMs = this.host.now() + this.timing.phaseTimeoutMs;
      return;
    }
    if (group !== this.view.group) {
      // Another founding goes on: mine can only if a majority of the hosts file is alive in it.
      if (this.view.members.filter((m) => this.alive(m)).length >= this.majorityOfHosts()) return;
    } else if (viewId <= this.view.id) return;
    // The group went on without me: leave the view and ask to join, as a process without state.
    this.leaveView(viewId);
  }

  /**
   * True when so many members of my view were replaced by new processes of
   * their ids (certainly gone, not merely unreachable) that no quorum of it
   * can ever form: fewer than half of it remain. Its survivors would wait
   * forever; and since every view holds a majority of the hosts file, the
   * live processes that could form a new group may need them.
   */
  private viewCanNeverBeFollowed(view: View): boolean {
    return view.members.filter((m) => !this.superseded(m)).length < Math.ceil(view.members.length / 2);
  }

  /**
   * Leaves my view, as a process without state that asks to join (the group
   * installed `groupViewId` without me, or 0: my view can never be followed).
   * From the group's side this is the crash of the old member; it takes part
   * in views and foundings as any new process would.
   */
  private leaveView(groupViewId: number): void {
    this.options.onEvent({ type: "excluded", viewId: this.view!.id, groupViewId });
    // Bounded: one entry per founding, and the oldest forgotten past LEFT_FOUNDINGS_MAX.
    this.leftViews.delete(this.view!.group);
    this.leftViews.set(this.view!.group, this.view!.id);
    if (this.leftViews.size > LEFT_FOUNDINGS_MAX) this.leftViews.delete(this.leftViews.keys().next().value!);
    this.batch = { firstSeq: 0, bodies: [], bytes: 0 };
    // A change of the view I leave, half done here, must never complete here later.
    this.installing = undefined;
    this.accepting = undefined;
    this.change = undefined;
    this.retryAtMs = this.host.now() + this.timing.phaseTimeoutMs;
    this.view = undefined;
    this.streams = [];
    this.hasState = false;
    this.wedgedUntilMs = undefined;
    this.nextJoinMs = this.host.now();
    this.askToJoin();
  }

  private askToJoin(): void {
    const join = this.encode({ case: "join", value: { viewId: this.view?.id ?? 0 } });
    for (let id = 1; id <= this.host.peerCount; id++) {
      if (id === this.host.selfId || this.host.epochOf(id) === 0 || !this.host.isAlive(id)) continue;
      this.send(id, join, true);
    }
  }

  // --- multicast ----------------------------------------------------------------------------

  private indexOf(id: number): number {
    return this.view === undefined ? -1 : this.view.members.findIndex((m) => m.id === id);
  }

  /**
   * Numbers the waiting multicasts in my view, delivers my own copies and
   * gathers them into the batch that `flush` sends (one GroupData per
   * member for the whole burst; a full batch goes at once).
   */
  private drainOutbox(): void {
    const view = this.view;
    if (view === undefined || !this.hasState || this.wedgedUntilMs !== undefined || this.outbox.length === 0) return;
    // A multicast made from a handler of my own delivery below joins this loop, behind those already waiting.
    if (this.draining || this.installingNow) return;
    this.draining = true;
    const me = this.indexOf(this.host.selfId);
    const outbox = this.outbox;
    let at = 0;
    try {
      for (; at < outbox.length; at++) {
        const entry = outbox[at]!;
        const body = typeof entry === "function" ? entry() : entry;
        const seq = ++this.sent;
        if (this.batch.bodies.length === 0) this.batch.firstSeq = seq;
        this.batch.bodies.push(body);
        this.batch.bytes += body.length;
        // My own copy: held for the flush, delivered at once.
        this.receive(me, seq, body);
        if (this.batch.bytes >= BATCH_BYTES_MAX) this.sendBatch();
      }
    } finally {
      // (A handler that threw leaves the rest waiting, in order, for the next drain.)
      this.outbox = outbox.slice(at + 1);
      this.draining = false;
    }
    if (this.batch.bodies.length > 0) this.host.flushSoon();
    this.maybeWritable();
  }

  /** The end of a burst (`Host.flushSoon`): the gathered multicasts go out. */
  flush(): void {
    if (this.flushHookWanted) {
      this.flushHookWanted = false;
      this.flushHook?.();
    }
    this.sendBatch();
  }

  /**
   * A layer above (ordered multicast) that gathers work over a burst of
   * deliveries: `hook` runs at the end of the burst, before the burst's
   * multicasts are sent, once asked with `flushSoon`.
   */
  onFlush(hook: () => void): void {
    this.flushHook = hook;
  }

  /**
   * Asks for `hook` once the host's clock reaches `atMs` (one wake-up at a
   * time: a later call replaces it), for a layer above that gathers work
   * over time (ordered multicast's receipts).
   */
  wakeAt(atMs: number, hook: () => void): void {
    this.upperWake = { atMs, hook };
    if (this.host !== undefined) this.armTimer();
  }

  /** The host's clock (ms). */
  now(): number {
    return this.host.now();
  }

  /** Asks for the `onFlush` hook at the end of this burst. */
  flushSoon(): void {
    this.flushHookWanted = true;
    this.host.flushSoon();
  }

  /** Sends the gathered multicasts of my view to every other member, as one message. */
  private sendBatch(): void {
    const batch = this.batch;
    const view = this.view;
    if (batch.bodies.length === 0 || view === undefined) return;
    const data = encodeGroupData(view.id, view.group, batch.firstSeq, batch.bodies);
    batch.bodies = [];
    batch.bytes = 0;
    for (const m of view.members) if (m.id !== this.host.selfId) this.send(m.id, data, false);
  }

  private onData(from: number, viewId: number, group: number, seq: number, bodies: readonly Uint8Array[]): void {
    const view = this.view;
    if (view === undefined || (group === view.group && viewId > view.id)) {
      for (const [i, body] of bodies.entries())
        if (this.early.length < EARLY_MAX) this.early.push({ from, viewId, group, seq: seq + i, body });
      return;
    }
    // Another founding's: I am not in it (a process moves to another founding only through having no view).
    if (group !== view.group) return;
    if (viewId < view.id) {
      // An earlier view's message: over. A sender outside my view learns the group went on.
      if (this.indexOf(from) < 0)
        this.send(from, this.encode({ case: "excluded", value: { viewId: view.id, group: view.group } }), true);
      return;
    }
    const index = this.indexOf(from);
    if (index < 0) return;
    for (let i = 0; i < bodies.length; i++) this.receive(index, seq + i, bodies[i]!);
  }

  private onForward(viewId: number, group: number, sender: number, seq: number, body: Uint8Array): void {
    if (this.view === undefined || viewId !== this.view.id || group !== this.view.group) return;
    const index = this.indexOf(sender);
    if (index >= 0) this.receive(index, seq, body);
    this.tryAccept();
    this.tryInstall();
    if (this.change?.phase === "gather") this.gather();
  }

  /** Holds message `seq` of member `index`, in order; delivers it at once unless wedged. */
  private receive(index: number, seq: number, body: Uint8Array): void {
    const s = this.streams[index]!;
    if (seq <= s.count) return; // a duplicate (a forward of what I hold)
    if (seq > s.count + 1) {
      s.waiting.set(seq, body);
      return;
    }
    s.log.push(body);
    s.count++;
    for (let next = s.waiting.get(s.count + 1); next !== undefined; next = s.waiting.get(s.count + 1)) {
      s.waiting.delete(s.count + 1);
      s.log.push(next);
      s.count++;
    }
    if (this.wedgedUntilMs === undefined && this.hasState)
      this.deliverUpTo(this.view!.members[index]!.id, index, s.count);
  }

  private deliverUpTo(from: number, index: number, upTo: number): void {
    const s = this.streams[index]!;
    const viewId = this.view!.id;
    while (s.delivered < Math.min(upTo, s.count)) {
      const seq = s.delivered + 1;
      const body = s.log.get(seq);
      s.delivered = seq;
      if (body !== undefined && this.hasState) this.options.onEvent({ type: "message", from, viewId, body });
    }
  }

  /**
   * Asks `holder` for messages of `sender` up to `toSeq`, beyond what I asked
   * it before: every forward that arrives re-checks what is missing, and
   * asking again for what is on its way multiplied the traffic.
   */
  private fetch(holder: number, view: View, sender: number, fromSeq: number, toSeq: number): void {
    const asked = `${holder}/${view.id}/${sender}`;
    const from = Math.max(fromSeq, (this.fetched.get(asked) ?? 0) + 1);
    if (from > toSeq) return;
    this.fetched.set(asked, toSeq);
    this.send(
      holder,
      this.encode({ case: "fetch", value: { viewId: view.id, group: view.group, sender, fromSeq: from, toSeq } }),
      true,
    );
  }

  private onFetch(from: number, viewId: number, group: number, sender: number, fromSeq: number, toSeq: number): void {
    let held: { members: GroupProcess[]; streams: Stream[] } | undefined;
    if (this.view !== undefined && viewId === this.view.id && group === this.view.group)
      held = { members: this.view.members, streams: this.streams };
    else if (this.previous !== undefined && viewId === this.previous.viewId && group === this.previous.group)
      held = this.previous;
    if (held === undefined) return;
    const s = held.streams[held.members.findIndex((m) => m.id === sender)];
    if (s === undefined) return;
    for (let seq = Math.max(fromSeq, s.log.base + 1); seq <= Math.min(toSeq, s.count); seq++) {
      const body = s.log.get(seq)!;
      this.send(from, this.encode({ case: "forward", value: { viewId, group, sender, seq, body } }), true);
    }
  }

  // --- stability --------------------------------------------------------------------------------

  private sendStable(): void {
    const view = this.view!;
    const counts = this.streams.map((s) => s.count);
    // Quiet when nothing changed: a settled group sends nothing.
    const text = counts.join(",");
    if (text === this.lastStable) return;
    this.lastStable = text;
    const stable = this.encode({ case: "stable", value: { viewId: view.id, group: view.group, counts } });
    for (const m of view.members) if (m.id !== this.host.selfId) this.send(m.id, stable, true);
    this.onStable(this.host.selfId, view.id, view.group, counts);
  }

  private onStable(from: number, viewId: number, group: number, counts: number[]): void {
    if (this.view === undefined || viewId !== this.view.id || group !== this.view.group) return;
    this.stableCounts.set(from, counts);
    if (this.stableCounts.size < this.view.members.length) return;
    // Forget what every member holds and I delivered: no flush can need it again.
    this.streams.forEach((s, i) => {
      let min = s.delivered;
      for (const m of this.view!.members) min = Math.min(min, this.stableCounts.get(m.id)?.[i] ?? 0);
      s.log.forgetThrough(min);
    });
    this.maybeWritable();
  }

  // --- state transfer -----------------------------------------------------------------------------

  private sendState(view: View, recipients: number[]): void {
    if (recipients.length === 0) return;
    const state = this.options.getState?.() ?? new Uint8Array(0);
    const sha256 = new Uint8Array(createHash("sha256").update(state).digest());
    // Every chunk for every recipient is encoded now and queued on its stream
    // (paced by flow control through the backlog): memory is bounded by the
    // state's size times the recipients.
    for (const id of recipients) {
      if (id === this.host.selfId) continue;
      const member = view.members.find((m) => m.id === id);
      if (member === undefined) continue;
      const seen = this.epochsSeen.get(id);
      const replacedEpoch = seen !== undefined && seen !== member.epoch ? seen : 0;
      for (let offset = 0; offset < state.length || offset === 0; offset += STATE_CHUNK_BYTES) {
        const end = Math.min(state.length, offset + STATE_CHUNK_BYTES);
        const data = state.subarray(offset, end);
        const chunk = this.encode({
          case: "state",
          value: {
            viewId: view.id,
            group: view.group,
            totalBytes: BigInt(state.length),
            offset: BigInt(offset),
            data,
            replacedEpoch,
            // In the last chunk: the receiver checks the whole.
            sha256: end === state.length ? sha256 : new Uint8Array(0),
          },
        });
        this.send(id, chunk, false);
        if (state.length === 0) break;
      }
    }
  }

  private onState(
    viewId: number,
    group: number,
    total: number,
    offset: number,
    data: Uint8Array,
    replacedEpoch: number,
    sha256: Uint8Array,
  ): void {
    // The state may overtake the Install it belongs to (they come from different members): kept until then.
    const view = this.view;
    if (view !== undefined && group === view.group && (viewId < view.id || (this.hasState && viewId === view.id)))
      return;
    // Refused whole past STATE_BYTES_MAX: the member stays without the state.
    if (total > STATE_BYTES_MAX) return;
    const key = `${group}/${viewId}`;
    if (offset === 0) {
      this.incoming.delete(key);
      if (this.incoming.size >= INCOMING_STATES_MAX) {
        const oldest = [...this.incoming.entries()].sort(([, a], [, b]) => a.viewId - b.viewId)[0]!;
        this.incoming.delete(oldest[0]);
      }
      this.incoming.set(key, { viewId, group, total, chunks: [], bytes: 0, replacedEpoch });
    }
    const incoming = this.incoming.get(key);
    if (incoming === undefined || offset !== incoming.bytes) return;
    incoming.chunks.push(data);
    incoming.bytes += data.length;
    if (sha256.length > 0) incoming.sha256 = sha256;
    this.applyState();
  }

  /** Takes a complete state for my view, then delivers what this view held back. */
  private applyState(): void {
    const view = this.view;
    if (view === undefined || this.hasState) return;
    const incoming = this.incoming.get(`${view.group}/${view.id}`);
    if (incoming === undefined || incoming.bytes < incoming.total) return;
    const state = new Uint8Array(incoming.total);
    let at = 0;
    for (const c of incoming.chunks) {
      state.set(c, at);
      at += c.length;
    }
    // This view's and every earlier one's are over.
    for (const [key, other] of this.incoming)
      if (other.group !== view.group || other.viewId <= view.id) this.incoming.delete(key);
    const digest = new Uint8Array(createHash("sha256").update(state).digest());
    if (incoming.sha256 === undefined || !equalBytes(digest, incoming.sha256)) {
      // Damaged or incomplete: not taken. I stay without the state, so my next promise asks for it again.
      this.stateRejected++;
      return;
    }
    this.options.setState?.(state);
    this.hasState = true;
    if (incoming.replacedEpoch !== 0)
      this.options.onEvent({ type: "restarted", replacedEpoch: incoming.replacedEpoch });
    this.options.onEvent({ type: "state", viewId: incoming.viewId, bytes: incoming.total });
    // Messages of this view held until now are delivered now, in order; wedged, only up to the cut, at the install.
    if (this.wedgedUntilMs === undefined)
      for (const [i, m] of view.members.entries()) this.deliverUpTo(m.id, i, this.streams[i]!.count);
    this.drainOutbox();
  }

  // --- plumbing ----------------------------------------------------------------------------------

  private encode(body: MessageInitShape<typeof GroupMessageSchema>["body"]): Uint8Array {
    return toBinary(GroupMessageSchema, create(GroupMessageSchema, { body }));
  }

  private send(to: number, body: Uint8Array, control: boolean): void {
    if (to === this.host.selfId) return;
    const waiting = this.backlog.get(to);
    if (waiting !== undefined) {
      waiting.items.push({ body, control });
      waiting.bytes += body.length;
      return;
    }
    const result = this.host.send(to, body, control);
    if (!result.ok && result.reason === "queue-full")
      this.backlog.set(to, { items: [{ body, control }], head: 0, bytes: body.length });
  }

  private flushBacklog(to: number): void {
    const waiting = this.backlog.get(to);
    if (waiting === undefined) return;
    while (waiting.head < waiting.items.length) {
      const { body, control } = waiting.items[waiting.head]!;
      const result = this.host.send(to, body, control);
      if (!result.ok && result.reason === "queue-full") break;
      waiting.bytes -= body.length;
      waiting.items[waiting.head++] = undefined as never;
    }
    if (waiting.head >= waiting.items.length) this.backlog.delete(to);
    else if (waiting.head > 1024 && waiting.head * 2 > waiting.items.length) {
      waiting.items = waiting.items.slice(waiting.head);
      waiting.head = 0;
    }
    this.maybeWritable();
  }

  /**
   * True when a multicast must wait, at `share` of the bounds: the outbox
   * full, a member's backlog full (its stream takes nothing), or my own
   * messages of this view that not every member holds yet at their bound.
   */
  private multicastBlocked(share: number): boolean {
    if (this.outbox.length >= OUTBOX_MAX * share) return true;
    for (const b of this.backlog.values()) if (b.bytes >= BACKLOG_BYTES_MAX * share) return true;
    const own = this.view === undefined ? undefined : this.streams[this.indexOf(this.host.selfId)];
    return own !== undefined && own.log.length >= STORE_PER_SENDER_MAX * share;
  }

  /** Room again for the application's multicasts once every bound is below half. */
  private maybeWritable(): void {
    if (!this.writableOwed || this.multicastBlocked(0.5)) return;
    this.writableOwed = false;
    this.options.onEvent({ type: "writable" });
  }

  private armTimer(): void {
    const now = this.host.now();
    let at: number | undefined = this.change?.deadlineMs;
    if (this.change === undefined && this.retryAtMs > now) at = this.retryAtMs;
    const consider = (t: number) => {
      at = at === undefined ? t : Math.min(at, t);
    };
    // Asking to join: outside any view, or wedged too long (then the wedge's end is due first).
    const wedgedUntilMs = this.wedgedUntilMs;
    if (this.view === undefined || (wedgedUntilMs !== undefined && now >= wedgedUntilMs))
      consider(Math.max(now, this.nextJoinMs));
    else if (wedgedUntilMs !== undefined) consider(wedgedUntilMs);
    if (this.view !== undefined && this.hasState) consider(Math.max(now, this.nextStableMs));
    if (this.upperWake !== undefined) consider(Math.max(now, this.upperWake.atMs));
    this.host.setTimer(at);
  }
}

function ballotOf(b: GroupBallot | undefined): Ballot {
  return { round: b?.round ?? 0, coordinator: b?.coordinator ?? 0 };
}
