/**
 * One rollcall peer as a sans-I/O state machine: the frame codec, one reliable
 * session per remote peer, and the bootstrap protocol (announce, hear from
 * everyone, READY), behind the handle/poll API of quinn-proto and etcd raft.
 *
 * Inputs:  `handleDatagram(now, bytes)`, `handleTimeout(now)`, `send(now, to, body)`, `close(now, reason)`.
 * Outputs: `pollTransmit(now)`, `pollEvent()`, `pollTimeout()`.
 *
 * After READY the failure detector (src/membership) runs beside the sessions:
 * its probes travel in unreliable PROBE frames, and it learns members' epochs,
 * restarts and goodbyes from the sessions.
 *
 * Peers are named by id, their 1-based position in the hosts file. Addresses
 * are the driver's business: `handleDatagram` returns the id of the peer a
 * datagram was accepted from, so the driver can learn where that peer is.
 * Sessions queue their events and the peer drains them after each input;
 * nothing calls back into the peer in the middle of an input.
 */
import type { Envelope } from "../gen/rollcall/v1/rollcall_pb.ts";
import { PEERS_MAX } from "../limits.ts";
import type { MembershipConfig } from "../membership/config.ts";
import { Membership, type MembershipEvent, type MemberView } from "../membership/membership.ts";
import { checkSessionConfig, DEFAULT_SESSION_CONFIG, type SessionConfig } from "../reliability/config.ts";
import { type SendResult, Session, type SessionEvent } from "../reliability/session.ts";
import { decodeFrame, encodeFrameBytes, FrameFlag, FrameType, type ProbeFrame } from "../wire/frame.ts";
import { encodeAliveEnvelope, encodeAliveReplyEnvelope, encodeGoodbyeEnvelope } from "../wire/messages.ts";
import { appDataBody, decodeEnvelope, encodeAppDataEnvelope } from "./envelope.ts";
import { TimerHeap } from "./timer-heap.ts";

export interface PeerOptions {
  /** My 1-based position in the hosts list. */
  selfId: number;
  /** Random non-zero 32-bit value, new at every process start. */
  epoch: number;
  /** Every entry of the hosts list, in order: `names[id - 1]`. */
  names: readonly string[];
  /** SHA-256 of the canonical hosts list (see src/hosts). */
  hostsDigest: Uint8Array;
  /** Software and version announced in Alive, for logs. */
  agent?: string;
  session?: Partial<SessionConfig>;
  /** Failure detector settings (docs/membership.md); `{ enabled: false }` turns it off. */
  membership?: Partial<MembershipConfig>;
  /** Uniform in [0, 1), for the failure detector's random choices; Math.random by default. Seed it to replay. */
  random?: () => number;
  /**
   * Most events waiting in `pollEvent`. At the limit incoming DATA frames are
   * dropped unacknowledged (reason `receiver-busy`) so senders retry later and
   * nothing is lost.
   */
  eventsMax?: number;
  /** Called for every datagram sent, received or dropped; for logs. */
  trace?: (record: TraceRecord) => void;
}

export type PeerEvent =
  /** `up`: peers heard from so far, me included. */
  | { type: "peerUp"; peer: number; epoch: number; up: number }
  | { type: "ready"; peers: number }
  | { type: "peerRestarted"; peer: number; oldEpoch: number; newEpoch: number; messagesDropped: number }
  | { type: "peerUnresponsive"; peer: number; sinceMs: number }
  | { type: "peerResponsive"; peer: number }
  | MembershipEvent
  | { type: "hostsMismatch"; peer: number; name: string }
  | { type: "message"; from: number; body: Uint8Array }
  | { type: "writable"; peer: number };

export type FrameTypeName = "DATA" | "ACK" | "PROBE";
const FRAME_TYPE_NAMES: Record<FrameType, FrameTypeName> = {
  [FrameType.Data]: "DATA",
  [FrameType.Ack]: "ACK",
  [FrameType.Probe]: "PROBE",
};

/** One line of the datagram record, for logs. */
export type TraceRecord =
  | {
      kind: "send";
      peer: number;
      frameType: FrameTypeName;
      seq: number;
      ack: number | undefined;
      sack: number;
      bytes: number;
      retransmission: boolean;
    }
  | {
      kind: "recv";
      peer: number;
      frameType: FrameTypeName;
      seq: number;
      ack: number | undefined;
      sack: number;
      bytes: number;
      epoch: number;
    }
  | { kind: "drop"; peer: number | undefined; reason: string; detail: string };

export interface PeerStats {
  datagramsSent: number;
  datagramsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmissions: number;
  /** Datagrams or messages dropped, by reason. */
  drops: Record<string, number>;
}

const DEFAULT_EVENTS_MAX = 65_536;
/** Timer key of the failure detector; sessions use their peer ids (1..). */
const MEMBERSHIP_TIMER = 0;

export class Peer {
  readonly selfId: number;
  readonly epoch: number;
  readonly peerCount: number;
  readonly stats: PeerStats = {
    datagramsSent: 0,
    datagramsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmissions: 0,
    drops: {},
  };

  private readonly names: readonly string[];
  private readonly hostsDigest: Uint8Array;
  private readonly agent: string;
  private readonly sessionConfig: SessionConfig;
  private readonly sessions: (Session | undefined)[];
  private readonly heard = new Set<number>();
  private readonly mismatched = new Set<number>();
  private readonly events: PeerEvent[] = [];
  private eventsHead = 0;
  private readonly eventsMax: number;
  /** Sessions that may have a frame to send right now. */
  private readonly pending = new Set<number>();
  private readonly timers = new TimerHeap();
  private readyEmitted = false;
  private closing = false;
  /** Peers whose current process said goodbye. */
  private readonly left = new Set<number>();
  /** Peers `close` said goodbye to. */
  private readonly goodbyeTo: number[] = [];
  private readonly trace: ((record: TraceRecord) => void) | undefined;
  private readonly membership: Membership;

  constructor(now: number, options: PeerOptions) {
    const { selfId, epoch, names } = options;
    if (names.length < 1 || names.length > PEERS_MAX) {
      throw new RangeError(`a group has 1..${PEERS_MAX} peers, got ${names.length}`);
    }
    if (!Number.isInteger(selfId) || selfId < 1 || selfId > names.length) {
      throw new RangeError(`selfId must be in 1..${names.length}, got ${selfId}`);
    }
    if (!Number.isInteger(epoch) || epoch < 1 || epoch > 0xffffffff) {
      throw new RangeError(`epoch must be a non-zero 32-bit integer, got ${epoch}`);
    }
    this.selfId = selfId;
    this.epoch = epoch;
    this.names = names;
    this.peerCount = names.length;
    this.hostsDigest = options.hostsDigest;
    this.agent = options.agent ?? "rollcall";
    this.sessionConfig = { ...DEFAULT_SESSION_CONFIG, ...options.session };
    checkSessionConfig(this.sessionConfig);
    this.eventsMax = options.eventsMax ?? DEFAULT_EVENTS_MAX;
    this.trace = options.trace;
    this.membership = new Membership(now, {
      selfId,
      epoch,
      members: names.length,
      config: options.membership,
      random: options.random ?? Math.random,
    });
    this.timers.set(MEMBERSHIP_TIMER, this.membership.pollTimeout());
    this.sessions = new Array(names.length + 1).fill(undefined);
    for (let id = 1; id <= names.length; id++) {
      if (id === selfId) continue;
      this.sessions[id] = new Session(this.sessionConfig, epoch);
      this.announce(now, id);
    }
    this.checkReady();
  }

  /** Name of a peer as written in the hosts file. */
  nameOf(id: number): string {
    return this.names[id - 1] ?? `#${id}`;
  }

  /** True once every other peer has been heard from (the READY condition). */
  get ready(): boolean {
    return this.readyEmitted;
  }

  /** Ids of peers heard from so far. */
  get peersUp(): number[] {
    return [...this.heard].sort((a, b) => a - b);
  }

  /** True when nothing is queued or unacknowledged to any peer. */
  get idle(): boolean {
    return this.sessions.every((s) => s === undefined || s.idle);
  }

  /** Every member as the failure detector sees it, me included. */
  members(): MemberView[] {
    return this.membership.view();
  }

  /** The failure detector's counters. */
  get membershipStats(): Membership["stats"] {
    return this.membership.stats;
  }

  /** The session with a peer, for statistics. */
  session(id: number): Session | undefined {
    return this.sessions[id];
  }

  /** Queues an application message for reliable, ordered, exactly-once delivery to peer `to`. */
  send(now: number, to: number, body: Uint8Array): SendResult {
    const session = this.sessions[to];
    if (session === undefined)
      throw new RangeError(`no peer with id ${to} (ids are 1..${this.peerCount}, mine is ${this.selfId})`);
    const result = session.send(now, encodeAppDataEnvelope(body));
    this.afterInput(now, to);
    return result;
  }

  /**
   * Says goodbye to every peer that may still listen: those heard from and
   * not gone. Keep driving the peer until `goodbyesSettled` (or a deadline)
   * so the goodbyes are delivered.
   */
  close(now: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.membership.leave();
    for (let id = 1; id <= this.peerCount; id++) {
      const session = this.sessions[id];
      // A peer never heard from does not know us, and one that said goodbye
      // is gone: a goodbye to either would only be retransmitted until the deadline.
      if (session === undefined || session.remoteEpoch === 0 || this.left.has(id)) continue;
      this.goodbyeTo.push(id);
      session.send(now, encodeGoodbyeEnvelope(reason), true);
      this.afterInput(now, id);
    }
  }

  /** After `close`: true once every goodbye (and everything queued before it) was acknowledged. */
  get goodbyesSettled(): boolean {
    return this.closing && this.goodbyeTo.every((id) => this.sessions[id]!.idle);
  }

  /** The driver learned a (new) address for a peer: re-send what is outstanding to it now. */
  handlePathChange(now: number, id: number): void {
    const session = this.sessions[id];
    if (session === undefined) return;
    session.retransmitNow();
    this.afterInput(now, id);
  }

  /**
   * Takes one datagram from the network. Returns the id of the peer it came
   * from when its session accepted it (the driver may learn that peer's
   * address from it), or undefined when it was dropped.
   */
  handleDatagram(now: number, bytes: Uint8Array): number | undefined {
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += bytes.length;
    const result = decodeFrame(bytes);
    if (!result.ok) {
      this.drop(undefined, result.reason, result.detail);
      return undefined;
    }
    const frame = result.frame;
    const peer = frame.senderId;
    const session = this.sessions[peer];
    if (session === undefined) {
      const why = peer === this.selfId ? "carries my own id" : `not in my hosts list of ${this.peerCount}`;
      this.drop(undefined, "unknown-sender", `sender id ${peer} ${why}`);
      return undefined;
    }
    if (frame.receiverId !== 0 && frame.receiverId !== this.selfId) {
      this.drop(peer, "wrong-receiver", `addressed to id ${frame.receiverId}, I am ${this.selfId}`);
      return undefined;
    }
    if (frame.type === FrameType.Probe) return this.handleProbe(now, peer, frame, bytes.length);
    if (frame.type === FrameType.Data && this.events.length - this.eventsHead >= this.eventsMax) {
      this.drop(peer, "receiver-busy", `${this.eventsMax} events not yet polled`);
      return undefined;
    }
    this.trace?.({
      kind: "recv",
      peer,
      frameType: FRAME_TYPE_NAMES[frame.type],
      seq: frame.seq,
      ack: (frame.flags & FrameFlag.Ack) !== 0 ? frame.ack : undefined,
      sack: frame.sack,
      bytes: bytes.length,
      epoch: frame.senderEpoch,
    });
    const refusal = session.handleFrame(now, frame, frame.type === FrameType.Data ? frame.payload : undefined);
    if (refusal !== undefined) {
      this.drop(
        peer,
        refusal,
        `sender epoch ${frame.senderEpoch}, receiver epoch ${frame.receiverEpoch}, seq ${frame.seq}`,
      );
      this.afterInput(now, peer);
      return undefined;
    }
    // The frame's own messages first: its Alive may reveal a hosts mismatch,
    // and such a peer must never count towards READY.
    this.afterInput(now, peer);
    // Addressed to my process: it knows me, so the failure detector may probe it.
    if (
      frame.receiverEpoch === this.epoch &&
      !this.mismatched.has(peer) &&
      this.membership.memberUp(now, peer, frame.senderEpoch)
    )
      this.afterMembership(now);
    if (!this.heard.has(peer) && !this.mismatched.has(peer)) {
      this.heard.add(peer);
      this.pushEvent({ type: "peerUp", peer, epoch: frame.senderEpoch, up: this.heard.size + 1 });
      this.checkReady();
    }
    return peer;
  }

  handleTimeout(now: number): void {
    for (const id of this.timers.popDue(now)) {
      if (id === MEMBERSHIP_TIMER) {
        this.membership.handleTimeout(now);
        this.afterMembership(now);
        continue;
      }
      this.sessions[id]!.handleTimeout(now);
      this.afterInput(now, id);
    }
  }

  /** Earliest time `handleTimeout` should be called, or undefined when nothing is scheduled. */
  pollTimeout(): number | undefined {
    return this.timers.peek();
  }

  /** Next datagram to send, or undefined when there is nothing to send now. */
  pollTransmit(now: number): { to: number; bytes: Uint8Array } | undefined {
    // Probes first: their timing is what they measure.
    const probe = this.membership.pollTransmit();
    if (probe !== undefined) {
      const header = { type: FrameType.Probe, flags: 0, receiverEpoch: probe.toEpoch, seq: 0, ack: 0, sack: 0 };
      return this.transmit(probe.to, header, probe.payload, false);
    }
    for (const id of this.pending) {
      const session = this.sessions[id]!;
      const out = session.pollTransmit(now);
      if (out === undefined) {
        this.pending.delete(id);
        this.timers.set(id, session.pollTimeout());
        continue;
      }
      return this.transmit(id, out, out.payload, out.retransmission);
    }
    return undefined;
  }

  /** Encodes one outgoing frame to peer `to`, and counts and traces it. */
  private transmit(
    to: number,
    h: { type: FrameType; flags: number; receiverEpoch: number; seq: number; ack: number; sack: number },
    payload: Uint8Array,
    retransmission: boolean,
  ): { to: number; bytes: Uint8Array } {
    const bytes = encodeFrameBytes(
      {
        type: h.type,
        flags: h.flags,
        senderId: this.selfId,
        receiverId: to,
        senderEpoch: this.epoch,
        receiverEpoch: h.receiverEpoch,
        seq: h.seq,
        ack: h.ack,
        sack: h.sack,
      },
      payload,
    );
    this.stats.datagramsSent++;
    this.stats.bytesSent += bytes.length;
    if (retransmission) this.stats.retransmissions++;
    this.trace?.({
      kind: "send",
      peer: to,
      frameType: FRAME_TYPE_NAMES[h.type],
      seq: h.seq,
      ack: (h.flags & FrameFlag.Ack) !== 0 ? h.ack : undefined,
      sack: h.sack,
      bytes: bytes.length,
      retransmission,
    });
    return { to, bytes };
  }

  /** The driver could not send a datagram `pollTransmit` gave it (no address yet): it does not count as sent. */
  notSent(bytes: number): void {
    this.stats.datagramsSent--;
    this.stats.bytesSent -= bytes;
  }

  pollEvent(): PeerEvent | undefined {
    if (this.eventsHead >= this.events.length) return undefined;
    const event = this.events[this.eventsHead++];
    if (this.eventsHead === this.events.length) {
      this.events.length = 0;
      this.eventsHead = 0;
    }
    return event;
  }

  /** Counts and reports a dropped datagram or message. */
  private drop(peer: number | undefined, reason: string, detail: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    this.trace?.({ kind: "drop", peer, reason, detail });
  }

  private pushEvent(event: PeerEvent): void {
    // Only DATA frames add events in bulk and they are refused at eventsMax
    // (see handleDatagram); the few control events may overshoot it slightly.
    this.events.push(event);
  }

  /** A PROBE frame: only from the process of a member the bootstrap knows, to my current process. */
  private handleProbe(now: number, peer: number, frame: ProbeFrame, bytes: number): number | undefined {
    const session = this.sessions[peer]!;
    if (this.mismatched.has(peer)) {
      this.drop(peer, "hosts-mismatch", "probe ignored");
      return undefined;
    }
    if (frame.senderEpoch !== session.remoteEpoch) {
      // A new process whose Alive has not arrived yet, or an old one: the bootstrap decides first.
      this.drop(peer, "unknown-epoch", `probe from epoch ${frame.senderEpoch}, I know ${session.remoteEpoch}`);
      return undefined;
    }
    if (frame.receiverEpoch !== this.epoch) {
      this.drop(peer, "stale-epoch", `probe for epoch ${frame.receiverEpoch}, mine is ${this.epoch}`);
      return undefined;
    }
    this.trace?.({
      kind: "recv",
      peer,
      frameType: "PROBE",
      seq: 0,
      ack: undefined,
      sack: 0,
      bytes,
      epoch: frame.senderEpoch,
    });
    // At eventsMax the owner is not taking events: probes are answered, but no news is taken in.
    const busy = this.events.length - this.eventsHead >= this.eventsMax;
    this.membership.handleProbe(now, peer, frame.senderEpoch, frame.payload, busy);
    this.afterMembership(now);
    return peer;
  }

  /** After any input to the failure detector: take its events and re-arm its timer. */
  private afterMembership(now: number): void {
    for (let e = this.membership.pollEvent(); e !== undefined; e = this.membership.pollEvent()) this.pushEvent(e);
    const at = this.membership.pollTimeout();
    // Due now (news to gossip): handled at the next timer turn, which the driver runs at once.
    this.timers.set(MEMBERSHIP_TIMER, at === undefined ? undefined : Math.max(at, now));
  }

  /** After any input to a session: handle what it reported, then note that it may have something to send. */
  private afterInput(now: number, id: number): void {
    const session = this.sessions[id]!;
    for (let e = session.pollEvent(); e !== undefined; e = session.pollEvent()) this.onSessionEvent(now, id, e);
    this.pending.add(id);
    this.timers.set(id, session.pollTimeout());
  }

  private announce(now: number, id: number): void {
    this.sessions[id]!.send(
      now,
      encodeAliveEnvelope({
        name: this.nameOf(this.selfId),
        id: this.selfId,
        epoch: this.epoch,
        hostsDigest: this.hostsDigest,
        peerCount: this.peerCount,
        agent: this.agent,
      }),
      true,
    );
    this.afterInput(now, id);
  }

  private checkReady(): void {
    if (this.readyEmitted || this.heard.size < this.peerCount - 1) return;
    this.readyEmitted = true;
    this.pushEvent({ type: "ready", peers: this.peerCount });
  }

  private onSessionEvent(now: number, peer: number, event: SessionEvent): void {
    switch (event.type) {
      case "delivered":
        this.onMessage(now, peer, event.message);
        return;
      case "restarted":
        this.pushEvent({ ...event, type: "peerRestarted", peer });
        this.membership.memberRestarted(now, peer);
        this.afterMembership(now);
        // A new process may have read the right file this time; its Alive decides again.
        this.mismatched.delete(peer);
        this.left.delete(peer);
        // The new process knows nothing of us: announce ourselves again.
        if (!this.closing) this.announce(now, peer);
        return;
      case "unresponsive":
        this.pushEvent({ type: "peerUnresponsive", peer, sinceMs: event.sinceMs });
        return;
      case "responsive":
        this.pushEvent({ type: "peerResponsive", peer });
        return;
      case "writable":
        this.pushEvent({ type: "writable", peer });
        return;
      case "violation":
        this.drop(peer, event.reason, "protocol violation by the peer");
        return;
    }
  }

  private onMessage(now: number, peer: number, bytes: Uint8Array): void {
    const fastBody = this.mismatched.has(peer) ? undefined : appDataBody(bytes);
    if (fastBody !== undefined) {
      this.pushEvent({ type: "message", from: peer, body: fastBody });
      return;
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(bytes);
    } catch (error) {
      this.drop(peer, "bad-envelope", (error as Error).message);
      return;
    }
    const body = envelope.body;
    if (this.mismatched.has(peer) && body.case !== "alive" && body.case !== "aliveReply") {
      this.drop(peer, "hosts-mismatch", `${body.case ?? "empty"} message ignored`);
      return;
    }
    switch (body.case) {
      case "alive":
        this.onAlive(now, peer, body.value);
        return;
      case "aliveReply":
        if (!body.value.accepted) this.markMismatched(peer);
        return;
      case "data":
        this.pushEvent({ type: "message", from: peer, body: body.value.body });
        return;
      case "goodbye":
        this.left.add(peer);
        this.membership.memberLeft(now, peer, this.sessions[peer]!.remoteEpoch, body.value.reason);
        this.afterMembership(now);
        return;
      default:
        // A message type from a newer version: skipping it keeps us compatible.
        this.drop(peer, "unknown-message", "envelope with no body this version knows");
    }
  }

  private onAlive(
    now: number,
    peer: number,
    alive: { id: number; epoch: number; hostsDigest: Uint8Array; name: string },
  ): void {
    const session = this.sessions[peer]!;
    if (alive.id !== peer || alive.epoch !== session.remoteEpoch) {
      this.drop(peer, "alive-inconsistent", `alive says id ${alive.id} epoch ${alive.epoch}`);
      return;
    }
    if (equalBytes(alive.hostsDigest, this.hostsDigest)) return;
    // Queued only: the caller (afterInput) is draining this session and marks it pending.
    session.send(
      now,
      encodeAliveReplyEnvelope({ id: this.selfId, epoch: this.epoch, hostsDigest: this.hostsDigest, accepted: false }),
      true,
    );
    this.markMismatched(peer);
  }

  private markMismatched(peer: number): void {
    if (this.mismatched.has(peer)) return;
    this.mismatched.add(peer);
    this.heard.delete(peer);
    this.membership.forget(peer);
    this.pushEvent({ type: "hostsMismatch", peer, name: this.nameOf(peer) });
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
