/**
 * Failure detection and membership as a sans-I/O state machine: SWIM (Das,
 * Gupta, Motivala 2002) with Lifeguard's local health, NACKs, buddy system
 * and dynamic suspicion (Dadgar et al. 2018), shaped after HashiCorp
 * memberlist. docs/membership.md explains the protocol and its guarantees.
 *
 * The member universe is the hosts file: member ids are hosts-file ids. A
 * member's process is known by its epoch, which only the reliable bootstrap
 * (`memberUp`, `memberRestarted`) reveals, and is probed only once it has
 * shown it knows mine; gossip about an epoch other than
 * the one known is ignored, so random epochs never need ordering.
 *
 * Inputs: `memberUp`, `memberRestarted`, `memberLeft` (from the sessions),
 * `handleProbe` (a PROBE frame), `handleTimeout`, `leave`.
 * Outputs: `pollTransmit`, `pollEvent`, `pollTimeout`, `view`.
 */
import type { MemberUpdate, Probe } from "../gen/rollcall/v1/rollcall_pb.ts";
import { encodeProbe, MemberStateCode, ProbeKindCode as ProbeKind, type UpdateFields } from "../wire/messages.ts";
import {
  checkMembershipConfig,
  DEFAULT_MEMBERSHIP_CONFIG,
  type MembershipConfig,
  suspicionTimeoutsMs,
} from "./config.ts";

export type MemberState = "unknown" | "alive" | "suspect" | "failed" | "left";

/** One member as this peer sees it. */
export interface MemberView {
  id: number;
  state: MemberState;
  /** Epoch of the process the state is about; 0 while unknown. */
  epoch: number;
  incarnation: number;
}

/** Who reported a change: the member that observed it (for a refutation, the member itself). */
export type MembershipEvent =
  | { type: "peerSuspect"; peer: number; epoch: number; incarnation: number; reporter: number }
  | { type: "peerFailed"; peer: number; epoch: number; incarnation: number; reporter: number }
  | {
      type: "peerAlive";
      peer: number;
      epoch: number;
      incarnation: number;
      reporter: number;
      /** `refuted`: it answered a suspicion or failure; `rejoined`: a new process (epoch). */
      reason: "refuted" | "rejoined";
    }
  | {
      type: "peerLeft";
      peer: number;
      epoch: number;
      incarnation: number;
      reporter: number;
      reason: string;
      /** True when gossip relayed the goodbye and the member did not refute it; such a `left` is undone by its `alive` (docs/membership.md). */
      relayed: boolean;
    };

export interface MembershipStats {
  probesSent: number;
  /** Direct or indirect probes answered in time. */
  probesAcked: number;
  /** Probes that ended without any ACK. */
  probesFailed: number;
  indirectRequests: number;
  /** Refutations of suspicions about me. */
  refutations: number;
  /** Updates ignored: about an epoch other than the one known, an unknown id, or stale. */
  updatesIgnored: number;
  /** PING_REQs refused because `RELAYS_MAX` were in progress. */
  relaysRefused: number;
  /** Stale news answered with what I know, to its sender. */
  corrections: number;
  /** Current local health multiplier (0: healthy). */
  health: number;
}

interface Suspicion {
  startMs: number;
  /** Distinct members that reported it, the first included. */
  reporters: Set<number>;
  /** Confirmations after which the timeout reaches its minimum (Lifeguard's K). */
  confirmationsWanted: number;
  minMs: number;
  maxMs: number;
  deadlineMs: number;
  /**
   * Raised by a relayed goodbye (`left` gossip) rather than by probes: a
   * member's own goodbye reaches me on its session, so news of one from
   * anyone else is only a claim, refutable like a suspicion. Unrefuted, it
   * ends in `left` instead of `failed`.
   */
  goodbye: boolean;
}

interface Member {
  epoch: number;
  incarnation: number;
  state: MemberState;
  suspicion: Suspicion | undefined;
  /** Its previous process was known: the next one is reported `rejoined`. */
  rejoining: boolean;
  /**
   * `left` on the member's own goodbye (its session delivered it): final for
   * the process. A `left` from an unrefuted relayed goodbye is not: like
   * `failed`, it is pinged and an `alive` at a higher incarnation undoes it.
   */
  goodbyeHeard: boolean;
}

/** Probed in the round: live members, and those that may come back (failed, or left by an unrefuted relayed goodbye). */
function isProbed(m: Member): boolean {
  return (
    m.state === "alive" || m.state === "suspect" || m.state === "failed" || (m.state === "left" && !m.goodbyeHeard)
  );
}

interface ProbeRound {
  target: number;
  targetEpoch: number;
  probeId: number;
  directDeadlineMs: number;
  endMs: number;
  acked: boolean;
  helpers: number[];
  nacks: Set<number>;
  indirectSent: boolean;
}

interface Relay {
  requester: number;
  requesterEpoch: number;
  requesterProbeId: number;
  target: number;
  nackAtMs: number;
  expiresAtMs: number;
  answered: boolean;
}

interface Outgoing {
  to: number;
  toEpoch: number;
  kind: number;
  probeId: number;
  targetId: number;
  targetEpoch: number;
  /** Updates meant for this receiver alone, sent before the piggybacked news (corrections of its stale news). */
  extra?: UpdateInit[];
}

type UpdateInit = UpdateFields;

interface Broadcast {
  update: UpdateInit;
  transmits: number;
}

/** Most PING_REQs served at once; more are refused (the requester counts a missing NACK). */
export const RELAYS_MAX = 256;
/** Most probe frames waiting to be polled; the peer drains after each input, so only a burst can reach it. More are dropped. */
const OUTBOX_MAX = 4096;
/** Wire codes of the states a member's news can carry (`unknown` is never sent). */
const STATE_CODES: Record<Exclude<MemberState, "unknown">, number> = {
  alive: MemberStateCode.ALIVE,
  suspect: MemberStateCode.SUSPECT,
  failed: MemberStateCode.FAILED,
  left: MemberStateCode.LEFT,
};

/** Highest incarnation taken from the network: a refutation adds one, and must stay a uint32. */
const INCARNATION_MAX = 0xffffffff;
/** Most updates piggybacked on one probe (the wire allows 64); each is about 15-25 bytes. */
export const UPDATES_PER_PROBE = 16;

export interface MembershipOptions {
  selfId: number;
  epoch: number;
  /** Members in the hosts file, me included. */
  members: number;
  config?: Partial<MembershipConfig>;
  /** Uniform in [0, 1): an input, so the simulator replays exactly. */
  random: () => number;
}

export class Membership {
  readonly config: MembershipConfig;
  readonly stats: MembershipStats = {
    probesSent: 0,
    probesAcked: 0,
    probesFailed: 0,
    indirectRequests: 0,
    refutations: 0,
    updatesIgnored: 0,
    relaysRefused: 0,
    corrections: 0,
    health: 0,
  };
  private readonly selfId: number;
  private readonly epoch: number;
  private incarnation = 0;
  private readonly members: Member[];
  private readonly random: () => number;
  /** The shuffled round of probe targets and the next index into it. */
  private order: number[] = [];
  /** Ids in `order`, so a member heard from is added once, in O(1). */
  private inOrder = new Set<number>();
  /** Members with a suspicion timer running: timers are looked up here, not by scanning every member. */
  private readonly suspected = new Set<number>();
  private orderNext = 0;
  private probe: ProbeRound | undefined;
  private nextProbeMs: number;
  private nextGossipMs: number | undefined;
  private probeIdNext = 1;
  private readonly relays = new Map<number, Relay>();
  /** Pending updates, one per member (a newer one replaces the older): bounded by the group size. */
  private readonly broadcasts = new Map<number, Broadcast>();
  private outbox: Outgoing[] = [];
  private readonly events: MembershipEvent[] = [];
  private leaving = false;

  constructor(now: number, options: MembershipOptions) {
    this.config = { ...DEFAULT_MEMBERSHIP_CONFIG, ...options.config };
    checkMembershipConfig(this.config);
    this.selfId = options.selfId;
    this.epoch = options.epoch;
    this.random = options.random;
    this.members = Array.from({ length: options.members + 1 }, () => ({
      epoch: 0,
      incarnation: 0,
      state: "unknown" as MemberState,
      suspicion: undefined,
      rejoining: false,
      goodbyeHeard: false,
    }));
    // A random phase, so that peers started together do not probe in lockstep.
    this.nextProbeMs = now + this.random() * this.config.protocolPeriodMs;
    // Off: restarts and goodbyes are still reported, but nothing is probed or gossiped.
    if (!this.config.enabled) this.leaving = true;
  }

  /** Every member, me included (my state is alive with my incarnation). */
  view(): MemberView[] {
    const out: MemberView[] = [];
    for (let id = 1; id < this.members.length; id++) {
      if (id === this.selfId) {
        out.push({ id, state: "alive", epoch: this.epoch, incarnation: this.incarnation });
        continue;
      }
      const m = this.members[id]!;
      out.push({ id, state: m.state, epoch: m.epoch, incarnation: m.incarnation });
    }
    return out;
  }

  /** State of one member. */
  stateOf(id: number): MemberState {
    return id === this.selfId ? "alive" : (this.members[id]?.state ?? "unknown");
  }

  /**
   * Contact with a member's process goes both ways: it sent me a frame
   * addressed to my current process, so it knows me and will take my probes.
   * Cheap when nothing changes (the peer calls it for every such frame).
   * Returns true when it changed something.
   */
  memberUp(_now: number, id: number, epoch: number): boolean {
    const m = this.members[id]!;
    if (m.epoch === epoch) return false;
    const wasKnown = m.epoch !== 0 || m.rejoining;
    m.epoch = epoch;
    m.incarnation = 0;
    m.state = "alive";
    m.goodbyeHeard = false;
    this.clearSuspicion(id, m);
    m.rejoining = false;
    // News of another process of this member means nothing now.
    this.broadcasts.delete(id);
    if (!this.inOrder.has(id)) {
      // SWIM: a new member joins the round at a random place among those not probed yet
      // (appended, then swapped with one of them: O(1), where a splice costs O(N) per member).
      this.inOrder.add(id);
      this.order.push(id);
      const last = this.order.length - 1;
      const at = this.orderNext + Math.floor(this.random() * (last - this.orderNext + 1));
      this.order[last] = this.order[at]!;
      this.order[at] = id;
    }
    if (wasKnown)
      this.events.push({ type: "peerAlive", peer: id, epoch, incarnation: 0, reporter: id, reason: "rejoined" });
    return true;
  }

  /**
   * The member's process restarted: the old one is gone. The new one is not
   * probed until it knows me (`memberUp`), which reports it `rejoined`.
   */
  memberRestarted(_now: number, id: number): void {
    const m = this.members[id]!;
    m.epoch = 0;
    m.incarnation = 0;
    m.state = "unknown";
    m.goodbyeHeard = false;
    this.clearSuspicion(id, m);
    m.rejoining = true;
    this.broadcasts.delete(id);
  }

  /** The member said goodbye itself (reliably): left, with no suspicion first. */
  memberLeft(now: number, id: number, epoch: number, reason: string): void {
    const m = this.members[id]!;
    if (m.epoch !== epoch) {
      m.epoch = epoch;
      m.incarnation = 0;
      m.rejoining = false;
    }
    const relayedLeft = m.state === "left" && !m.goodbyeHeard;
    m.goodbyeHeard = true;
    if (!relayedLeft) {
      this.setLeft(now, id, m.incarnation, id, reason);
      return;
    }
    // Already left on a relayed goodbye, which the application was told its alive may undo: now it is final.
    this.events.push({
      type: "peerLeft",
      peer: id,
      epoch: m.epoch,
      incarnation: m.incarnation,
      reporter: id,
      reason,
      relayed: false,
    });
  }

  /** A member turned out to have read another hosts file: not a member until its process changes. */
  forget(id: number): void {
    const m = this.members[id]!;
    m.rejoining = false;
    m.epoch = 0;
    m.incarnation = 0;
    m.state = "unknown";
    m.goodbyeHeard = false;
    this.clearSuspicion(id, m);
    this.broadcasts.delete(id);
  }

  /** I am leaving: stop probing. Goodbyes travel reliably (`Peer.close`); answers to probes continue. */
  leave(): void {
    this.leaving = true;
    this.probe = undefined;
  }

  /**
   * A PROBE frame from member `from`, whose current process (`fromEpoch`)
   * the bootstrap knows. `busy`: the owner is not taking events; updates are
   * not applied (they would add events without bound), probes are still
   * answered, and anti-entropy repairs what was missed later.
   */
  handleProbe(now: number, from: number, fromEpoch: number, probe: Probe, busy = false): void {
    // News older than mine is answered at once, to its sender alone, with what I know: best-effort
    // gossip may have stopped spreading a refutation before this member heard it, and its stale
    // suspicion would otherwise time out into a false failure (anti-entropy, as memberlist's
    // push-pull does periodically).
    const corrections: UpdateInit[] = [];
    // Disabled: answer probes (others may run the detector), but keep no membership of my own.
    const updates = busy || !this.config.enabled ? [] : probe.updates;
    for (const u of updates) {
      const correction = this.applyUpdate(now, u);
      if (correction !== undefined && corrections.length < UPDATES_PER_PROBE) corrections.push(correction);
    }
    if (corrections.length > 0)
      this.queue({
        to: from,
        toEpoch: fromEpoch,
        kind: ProbeKind.GOSSIP,
        probeId: 0,
        targetId: 0,
        targetEpoch: 0,
        extra: corrections,
      });
    switch (probe.kind) {
      case ProbeKind.PING:
        this.queue({
          to: from,
          toEpoch: fromEpoch,
          kind: ProbeKind.ACK,
          probeId: probe.probeId,
          targetId: 0,
          targetEpoch: 0,
        });
        return;
      case ProbeKind.ACK:
        this.onAck(from, fromEpoch, probe.probeId);
        return;
      case ProbeKind.NACK: {
        const p = this.probe;
        // A Set: a duplicated NACK datagram must not count twice.
        if (p !== undefined && p.probeId === probe.probeId && p.helpers.includes(from)) p.nacks.add(from);
        return;
      }
      case ProbeKind.PING_REQ:
        this.onPingReq(now, from, fromEpoch, probe);
        return;
      default:
        // GOSSIP carries updates only; an unknown kind from a newer version likewise.
        return;
    }
  }

  /** Earliest time `handleTimeout` is due. */
  pollTimeout(): number | undefined {
    let t = this.leaving ? Number.POSITIVE_INFINITY : this.nextProbeMs;
    const p = this.probe;
    if (p !== undefined && !p.acked && !p.indirectSent) t = Math.min(t, p.directDeadlineMs);
    if (this.nextGossipMs !== undefined) t = Math.min(t, this.nextGossipMs);
    for (const r of this.relays.values()) t = Math.min(t, r.answered ? r.expiresAtMs : r.nackAtMs);
    for (const id of this.suspected) t = Math.min(t, this.members[id]!.suspicion!.deadlineMs);
    return Number.isFinite(t) ? t : undefined;
  }

  handleTimeout(now: number): void {
    for (const [probeId, r] of this.relays) {
      if (!r.answered && now >= r.nackAtMs) {
        r.answered = true;
        this.queue({
          to: r.requester,
          toEpoch: r.requesterEpoch,
          kind: ProbeKind.NACK,
          probeId: r.requesterProbeId,
          targetId: r.target,
          targetEpoch: 0,
        });
      }
      if (now >= r.expiresAtMs) this.relays.delete(probeId);
    }
    for (const id of [...this.suspected]) {
      const m = this.members[id]!;
      const s = m.suspicion!;
      if (now >= s.deadlineMs) {
        this.clearSuspicion(id, m);
        if (s.goodbye) this.setLeft(now, id, m.incarnation, id, "goodbye relayed by gossip and not refuted");
        else this.setFailed(now, id, m.incarnation, this.selfId);
      }
    }
    const p = this.probe;
    if (p !== undefined && !p.acked && !p.indirectSent && now >= p.directDeadlineMs) this.sendIndirect(p);
    if (!this.leaving && now >= this.nextProbeMs) this.nextRound(now);
    if (this.nextGossipMs !== undefined && now >= this.nextGossipMs) this.gossip(now);
  }

  /** Next probe frame: receiver, its epoch, and the encoded Probe payload with piggybacked updates. */
  pollTransmit(): { to: number; toEpoch: number; payload: Uint8Array } | undefined {
    const out = this.outbox.shift();
    if (out === undefined) return undefined;
    if (out.kind === ProbeKind.PING || out.kind === ProbeKind.PING_REQ) this.stats.probesSent++;
    const payload = encodeProbe({
      kind: out.kind,
      probeId: out.probeId,
      targetId: out.kind === ProbeKind.PING_REQ ? out.targetId : 0,
      targetEpoch: out.kind === ProbeKind.PING_REQ ? out.targetEpoch : 0,
      updates:
        out.extra === undefined
          ? this.piggyback(out.to, UPDATES_PER_PROBE)
          : [...out.extra, ...this.piggyback(out.to, UPDATES_PER_PROBE - out.extra.length)],
    });
    return { to: out.to, toEpoch: out.toEpoch, payload };
  }

  pollEvent(): MembershipEvent | undefined {
    return this.events.shift();
  }

  private queue(out: Outgoing): void {
    // Only a burst of PING_REQs or PINGs between polls could fill it; a dropped probe is a lost datagram.
    if (this.outbox.length < OUTBOX_MAX) this.outbox.push(out);
  }

  private periodMs(): number {
    return this.config.protocolPeriodMs * (this.stats.health + 1);
  }

  private changeHealth(delta: number): void {
    this.stats.health = Math.max(0, Math.min(this.config.healthMax, this.stats.health + delta));
  }

  /** Ends the current probe (suspecting its target if nobody answered) and starts the next. */
  private nextRound(now: number): void {
    const p = this.probe;
    if (p !== undefined) {
      this.probe = undefined;
      const m = this.members[p.target]!;
      if (p.acked) {
        this.stats.probesAcked++;
        this.changeHealth(-1);
      } else if (m.epoch === p.targetEpoch && (m.state === "alive" || m.state === "suspect")) {
        this.stats.probesFailed++;
        // Lifeguard: helpers that answered NACK prove my own links work;
        // every NACK missing counts against my health, as does a probe
        // nobody could help with.
        this.changeHealth(p.helpers.length > 0 ? p.helpers.length - p.nacks.size : 1);
        this.suspect(now, p.target, m.incarnation, this.selfId, false);
      }
    }
    this.nextProbeMs = now + this.periodMs();
    const target = this.nextTarget();
    if (target === undefined) return;
    const m = this.members[target]!;
    const probeId = this.newProbeId();
    this.probe = {
      target,
      targetEpoch: m.epoch,
      probeId,
      directDeadlineMs: now + this.config.probeTimeoutMs * (this.stats.health + 1),
      endMs: this.nextProbeMs,
      acked: false,
      helpers: [],
      nacks: new Set(),
      // A failed member (or one a relayed goodbye made left) is only pinged, to notice it is back; nobody is asked to help.
      indirectSent: m.state !== "alive" && m.state !== "suspect",
    };
    this.queue({ to: target, toEpoch: m.epoch, kind: ProbeKind.PING, probeId, targetId: 0, targetEpoch: 0 });
  }

  /** Randomised round-robin (SWIM 4.3): every member once per round, the order reshuffled each round. */
  private nextTarget(): number | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.orderNext < this.order.length) {
        const id = this.order[this.orderNext++]!;
        if (isProbed(this.members[id]!)) return id;
      }
      const eligible: number[] = [];
      for (let id = 1; id < this.members.length; id++) {
        if (id !== this.selfId && isProbed(this.members[id]!)) eligible.push(id);
      }
      this.shuffle(eligible);
      this.order = eligible;
      this.inOrder = new Set(eligible);
      this.orderNext = 0;
    }
    return undefined;
  }

  private sendIndirect(p: ProbeRound): void {
    p.indirectSent = true;
    const candidates: number[] = [];
    for (let id = 1; id < this.members.length; id++) {
      if (id !== this.selfId && id !== p.target && this.members[id]!.state === "alive") candidates.push(id);
    }
    this.shuffle(candidates);
    p.helpers = candidates.slice(0, this.config.indirectProbes);
    for (const helper of p.helpers) {
      this.stats.indirectRequests++;
      this.queue({
        to: helper,
        toEpoch: this.members[helper]!.epoch,
        kind: ProbeKind.PING_REQ,
        probeId: p.probeId,
        targetId: p.target,
        targetEpoch: p.targetEpoch,
      });
    }
  }

  private onAck(from: number, fromEpoch: number, probeId: number): void {
    const p = this.probe;
    if (p !== undefined && p.probeId === probeId) {
      if ((from === p.target && fromEpoch === p.targetEpoch) || p.helpers.includes(from)) p.acked = true;
      return;
    }
    const relay = this.relays.get(probeId);
    if (relay !== undefined && relay.target === from) {
      this.relays.delete(probeId);
      this.queue({
        to: relay.requester,
        toEpoch: relay.requesterEpoch,
        kind: ProbeKind.ACK,
        probeId: relay.requesterProbeId,
        targetId: 0,
        targetEpoch: 0,
      });
    }
    // Otherwise an answer to a probe already over: late means failed, and it was counted so.
  }

  private onPingReq(now: number, from: number, fromEpoch: number, probe: Probe): void {
    const target = probe.targetId;
    const m = this.members[target];
    if (m === undefined || target === this.selfId || m.epoch !== probe.targetEpoch || m.epoch === 0) {
      // I know another process there (or none): my ping could not answer for the one asked about.
      this.stats.updatesIgnored++;
      return;
    }
    if (this.relays.size >= RELAYS_MAX) {
      this.stats.relaysRefused++;
      return;
    }
    const probeId = this.newProbeId();
    this.relays.set(probeId, {
      requester: from,
      requesterEpoch: fromEpoch,
      requesterProbeId: probe.probeId,
      target,
      // Lifeguard: NACK before the requester's probe ends, so it can still count it.
      nackAtMs: now + 0.8 * this.config.probeTimeoutMs,
      expiresAtMs: now + this.config.protocolPeriodMs,
      answered: false,
    });
    this.queue({ to: target, toEpoch: m.epoch, kind: ProbeKind.PING, probeId, targetId: 0, targetEpoch: 0 });
  }

  private newProbeId(): number {
    const id = this.probeIdNext;
    this.probeIdNext = this.probeIdNext === 0xffffffff ? 1 : this.probeIdNext + 1;
    return id;
  }

  /** Gossip round: push pending news to a few random members that may listen. */
  private gossip(now: number): void {
    if (this.broadcasts.size === 0) {
      this.nextGossipMs = undefined;
      return;
    }
    this.nextGossipMs = now + this.config.gossipIntervalMs;
    const candidates: number[] = [];
    for (let id = 1; id < this.members.length; id++) {
      const s = this.members[id]!.state;
      if (id !== this.selfId && (s === "alive" || s === "suspect")) candidates.push(id);
    }
    if (candidates.length === 0) {
      // Nobody to tell (everyone else gone or unknown): the news is moot; stop waking up for it.
      this.broadcasts.clear();
      this.nextGossipMs = undefined;
      return;
    }
    this.shuffle(candidates);
    for (const to of candidates.slice(0, this.config.gossipFanout)) {
      this.queue({
        to,
        toEpoch: this.members[to]!.epoch,
        kind: ProbeKind.GOSSIP,
        probeId: 0,
        targetId: 0,
        targetEpoch: 0,
      });
    }
  }

  /**
   * Updates for one probe frame to `to`: first, when I believe `to` suspect
   * or failed, that belief, so it can refute at once (Lifeguard's buddy
   * system; sent whether or not it is still being gossiped); then the
   * pending news sent least often so far.
   */
  private piggyback(to: number, room: number): UpdateInit[] {
    const updates: UpdateInit[] = [];
    if (room <= 0) return updates;
    const m = this.members[to]!;
    if (m.state === "suspect" || m.state === "failed" || (m.state === "left" && !m.goodbyeHeard)) {
      updates.push({
        id: to,
        epoch: m.epoch,
        incarnation: m.incarnation,
        state: STATE_CODES[m.state],
        reporter: this.selfId,
      });
    }
    if (this.broadcasts.size === 0) return updates;
    const buddy = updates.length > 0;
    const limit = this.config.retransmitMult * Math.max(1, Math.ceil(Math.log10(this.members.length)));
    const pending = [...this.broadcasts];
    pending.sort((a, b) => a[1].transmits - b[1].transmits);
    for (const [id, b] of pending) {
      // Counted as sent only when it goes into this frame.
      if (updates.length >= room) break;
      if (id === to && buddy) continue;
      updates.push(b.update);
      if (++b.transmits >= limit) this.broadcasts.delete(id);
    }
    return updates;
  }

  private broadcast(
    now: number,
    id: number,
    epoch: number,
    incarnation: number,
    state: number,
    reporter: number,
  ): void {
    if (!this.config.enabled) return;
    this.broadcasts.set(id, { update: { id, epoch, incarnation, state, reporter }, transmits: 0 });
    // News goes out at once, then every gossip interval until it has been sent enough.
    if (this.nextGossipMs === undefined) this.nextGossipMs = now;
  }

  /** Applies one update; returns what I know instead when the update is older than that. */
  private applyUpdate(now: number, u: MemberUpdate): UpdateInit | undefined {
    const id = u.id;
    if (id === this.selfId) return this.updateAboutMe(now, u);
    const m = this.members[id];
    if (m === undefined || id === 0 || m.epoch === 0 || u.epoch !== m.epoch || (m.state === "left" && m.goodbyeHeard)) {
      this.stats.updatesIgnored++;
      return undefined;
    }
    // Incarnations are raised by one per refutation; the top value would leave no room to refute.
    if (u.incarnation >= INCARNATION_MAX) {
      this.stats.updatesIgnored++;
      return undefined;
    }
    // A goodbye is the member's own word: news of one reported by anyone else is not taken.
    if (u.state === MemberStateCode.LEFT && u.reporter !== id) {
      this.stats.updatesIgnored++;
      return undefined;
    }
    // Older than what I know (a relayed goodbye included: taken at a newer
    // incarnation, one stale copy would raise a suspicion that each refutation
    // makes current again, round after round): answered with what I know.
    if (u.incarnation < m.incarnation && m.state !== "unknown") {
      this.stats.updatesIgnored++;
      this.stats.corrections++;
      const state = STATE_CODES[m.state];
      // Alive at a higher incarnation is the member's own refutation; suspect and failed are my view.
      return {
        id,
        epoch: m.epoch,
        incarnation: m.incarnation,
        state,
        // Alive and left are the member's own word (a refutation, a goodbye).
        reporter: m.state === "alive" || m.state === "left" ? id : this.selfId,
      };
    }
    switch (u.state) {
      case MemberStateCode.ALIVE:
        if (u.incarnation > m.incarnation) {
          const was = m.state;
          m.incarnation = u.incarnation;
          m.state = "alive";
          this.clearSuspicion(id, m);
          this.broadcast(now, id, m.epoch, u.incarnation, MemberStateCode.ALIVE, u.reporter);
          if (was !== "alive")
            this.events.push({
              type: "peerAlive",
              peer: id,
              epoch: m.epoch,
              incarnation: u.incarnation,
              reporter: u.reporter,
              reason: "refuted",
            });
        } else this.stats.updatesIgnored++;
        return undefined;
      case MemberStateCode.SUSPECT:
        this.suspect(now, id, u.incarnation, u.reporter, false);
        return undefined;
      case MemberStateCode.LEFT:
        // Relayed: a suspicion the member can refute, not an eviction (docs/membership.md).
        this.suspect(now, id, u.incarnation, id, true);
        return undefined;
      case MemberStateCode.FAILED:
        if (m.state !== "failed" && m.state !== "left" && u.incarnation >= m.incarnation)
          this.setFailed(now, id, u.incarnation, u.reporter);
        else this.stats.updatesIgnored++;
        return undefined;
      default:
        this.stats.updatesIgnored++;
        return undefined;
    }
  }

  /** Someone believes my process is suspect, failed or gone: say otherwise, louder (SWIM 4.2). */
  private updateAboutMe(now: number, u: MemberUpdate): UpdateInit | undefined {
    if (u.epoch !== this.epoch || this.leaving || u.incarnation >= INCARNATION_MAX) return undefined;
    if (u.state !== MemberStateCode.SUSPECT && u.state !== MemberStateCode.FAILED && u.state !== MemberStateCode.LEFT)
      return undefined;
    const alive = { id: this.selfId, epoch: this.epoch, state: MemberStateCode.ALIVE, reporter: this.selfId };
    if (u.incarnation < this.incarnation) {
      // Already refuted, but this member missed it (gossip is best effort): tell it, and everyone, again.
      if (!this.broadcasts.has(this.selfId))
        this.broadcast(now, this.selfId, this.epoch, this.incarnation, MemberStateCode.ALIVE, this.selfId);
      this.stats.corrections++;
      return { ...alive, incarnation: this.incarnation };
    }
    this.incarnation = u.incarnation + 1;
    this.stats.refutations++;
    // Lifeguard: being suspected hints that I am the slow one.
    this.changeHealth(1);
    this.broadcast(now, this.selfId, this.epoch, this.incarnation, MemberStateCode.ALIVE, this.selfId);
    return { ...alive, incarnation: this.incarnation };
  }

  private suspect(now: number, id: number, incarnation: number, reporter: number, goodbye: boolean): void {
    const m = this.members[id]!;
    if (m.state === "suspect" && incarnation === m.incarnation) {
      const s = m.suspicion!;
      if (goodbye) {
        // The member's own word relayed, not another observer: no confirmation, but it travels on as a goodbye.
        if (!s.goodbye) {
          s.goodbye = true;
          this.broadcast(now, id, m.epoch, incarnation, MemberStateCode.LEFT, id);
        }
        return;
      }
      if (s.reporters.has(reporter)) return;
      s.reporters.add(reporter);
      // Lifeguard: each independent confirmation shortens the timeout, logarithmically, down to the minimum.
      const confirmations = s.reporters.size - 1;
      if (s.confirmationsWanted > 0) {
        const fraction = Math.log(confirmations + 1) / Math.log(s.confirmationsWanted + 1);
        s.deadlineMs = s.startMs + Math.max(s.minMs, s.maxMs - (s.maxMs - s.minMs) * fraction);
      }
      if (s.goodbye) this.broadcast(now, id, m.epoch, incarnation, MemberStateCode.LEFT, id);
      else this.broadcast(now, id, m.epoch, incarnation, MemberStateCode.SUSPECT, reporter);
      return;
    }
    const newer =
      m.state === "alive" ? incarnation >= m.incarnation : m.state === "suspect" && incarnation > m.incarnation;
    if (!newer) {
      this.stats.updatesIgnored++;
      return;
    }
    const members = this.liveMembers();
    const { minMs, maxMs } = suspicionTimeoutsMs(this.config, members);
    let confirmationsWanted = Math.max(0, Math.round(this.config.suspicionMult) - 2);
    // Too few others to ever confirm: wait the minimum.
    if (members - 2 < confirmationsWanted) confirmationsWanted = 0;
    m.state = "suspect";
    m.incarnation = incarnation;
    this.suspected.add(id);
    m.suspicion = {
      startMs: now,
      reporters: new Set([reporter]),
      confirmationsWanted,
      minMs,
      maxMs,
      deadlineMs: now + (confirmationsWanted === 0 ? minMs : maxMs),
      goodbye,
    };
    // A relayed goodbye travels on as what it is, so that the others learn of the goodbye too.
    this.broadcast(now, id, m.epoch, incarnation, goodbye ? MemberStateCode.LEFT : MemberStateCode.SUSPECT, reporter);
    this.events.push({ type: "peerSuspect", peer: id, epoch: m.epoch, incarnation, reporter });
  }

  private setFailed(now: number, id: number, incarnation: number, reporter: number): void {
    const m = this.members[id]!;
    m.state = "failed";
    m.incarnation = incarnation;
    this.clearSuspicion(id, m);
    this.broadcast(now, id, m.epoch, incarnation, MemberStateCode.FAILED, reporter);
    this.events.push({ type: "peerFailed", peer: id, epoch: m.epoch, incarnation, reporter });
  }

  private setLeft(now: number, id: number, incarnation: number, reporter: number, reason: string): void {
    const m = this.members[id]!;
    if (m.state === "left") return;
    m.state = "left";
    m.incarnation = Math.max(m.incarnation, incarnation);
    this.clearSuspicion(id, m);
    this.broadcast(now, id, m.epoch, m.incarnation, MemberStateCode.LEFT, reporter);
    this.events.push({
      type: "peerLeft",
      peer: id,
      epoch: m.epoch,
      incarnation: m.incarnation,
      reporter,
      reason,
      relayed: !m.goodbyeHeard,
    });
  }

  private clearSuspicion(id: number, m: Member): void {
    m.suspicion = undefined;
    this.suspected.delete(id);
  }

  /** Members believed alive or suspect, me included: the N of the timeouts. */
  private liveMembers(): number {
    let n = 1;
    for (let id = 1; id < this.members.length; id++) {
      const s = this.members[id]!.state;
      if (id !== this.selfId && (s === "alive" || s === "suspect")) n++;
    }
    return n;
  }

  private shuffle(a: number[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }
}
