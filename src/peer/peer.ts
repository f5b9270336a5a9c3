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
import type { FrameSealer, Keyring } from "../security/keyring.ts";
import { ReplayWindow } from "../security/replay.ts";
import { PROCESS_SALT_BYTES, SEAL_BYTES } from "../security/seal-format.ts";
import { equalBytes } from "../util/bytes.ts";
import { CHANNEL_MAX } from "../wire/channels.ts";
import {
  type DecodedFrame,
  decodeFrame,
  encodeFrameBytes,
  FrameFlag,
  FrameType,
  PAYLOAD_BYTES_MAX,
  type PathFrame,
  type ProbeFrame,
  type SealInfo,
} from "../wire/frame.ts";
import { encodeAliveEnvelope, encodeAliveReplyEnvelope, encodeGoodbyeEnvelope } from "../wire/messages.ts";
import {
  appDataBody,
  decodeEnvelope,
  encodeAppDataEnvelope,
  encodeModuleEnvelope,
  moduleEnvelopeFields,
} from "./envelope.ts";
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
  /**
   * Key mode (docs/security.md): every frame is sealed with the keyring's
   * primary key and only sealed frames that open with one of its keys are
   * read; a new process of a peer is believed only after it answers a challenge.
   */
  keyring?: Keyring;
  /**
   * Without a key: validate a frame from an unexpected address by
   * challenging that address itself rather than the peer's address in the
   * hosts file, so peers behind NAT can join. It gives up protection against
   * anyone who can receive at the address they send from (docs/security.md).
   */
  allowNat?: boolean;
  /** Fills a buffer with unguessable random bytes (process salt, challenge tokens); crypto.getRandomValues by default. Seed it only in simulations. */
  secureRandom?: (bytes: Uint8Array) => void;
}

/**
 * A datagram the driver must send right away to an address the peer cannot
 * name (path validation, docs/security.md), or a validation it must check
 * against the addresses it knows.
 */
export type PathAction =
  | {
      kind: "send";
      peer: number;
      bytes: Uint8Array;
      /** `source`: to the address of the datagram being handled; `home`: to the peer's address in the hosts file. */
      to: "source" | "home";
      /** For a challenge: its token, to tie the answer to where the challenge went. */
      token?: string;
      /**
       * For a challenge: the answer counts only from the address it went to.
       * Not so for a plain-mode challenge to the hosts-file address, whose
       * answer proves its sender receives the peer's traffic wherever it sends from.
       */
      strict?: boolean;
      /** The datagram being handled was dropped pending this challenge; the driver may hold it and hand it in again once validated. */
      held: boolean;
    }
  /** A challenge with this token was answered by the datagram being handled; the driver decides whether its address is now the peer's. */
  | { kind: "validated"; peer: number; token: string }
  /** The datagram being handled was dropped while a challenge to its sender is under way: hold it as for `send` with `held`. */
  | { kind: "hold"; peer: number }
  /** An unanswered challenge, to send again where the one with this token went. */
  | { kind: "resend"; token: string; bytes: Uint8Array };

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
  /** A protocol module's message on a channel this peer serves (`serve`), from process (`from`, `epoch`). */
  | { type: "module"; from: number; epoch: number; channel: number; body: Uint8Array }
  | { type: "writable"; peer: number };

export type FrameTypeName = "DATA" | "ACK" | "PROBE" | "PATH_CHALLENGE" | "PATH_RESPONSE";
const FRAME_TYPE_NAMES: Record<FrameType, FrameTypeName> = {
  [FrameType.Data]: "DATA",
  [FrameType.Ack]: "ACK",
  [FrameType.Probe]: "PROBE",
  [FrameType.PathChallenge]: "PATH_CHALLENGE",
  [FrameType.PathResponse]: "PATH_RESPONSE",
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
  /** PATH_CHALLENGEs sent: to a peer's address or process not validated yet (docs/security.md). */
  pathChallenges: number;
  /** Challenges answered by the peer challenged. */
  pathValidations: number;
}

/** Why the last frame failed authentication, for the driver's hint to the user (see `takeUnauthenticated`). */
export interface UnauthenticatedNote {
  /** Sender id the frame claimed (0 when unreadable). */
  claimedId: number;
  detail: string;
}

const NO_PATH_ACTIONS: readonly PathAction[] = Object.freeze([]);
/** Outstanding challenge tokens per peer; at the limit the oldest is forgotten (its answer is then ignored). */
const TOKENS_PER_PEER_MAX = 4;
/** A peer is challenged at most this often; its retransmissions trigger the next challenge if one is lost. */
const CHALLENGE_INTERVAL_MS = 20;
/** A challenge token expires after this long. */
const TOKEN_LIFETIME_MS = 10_000;
/**
 * Challenges answered per second, burst included. A challenge's answer is no
 * larger than the challenge, so a forged source gains an attacker nothing,
 * and this caps what a flood of challenges can make a peer send.
 */
const RESPONSES_PER_SECOND = 500;

/** A peer's process as key mode tells processes apart (epoch and salt), with its replay window. */
interface SeenProcess {
  epoch: number;
  saltHi: number;
  saltLo: number;
  replay: ReplayWindow;
}

/** What a peer's process must prove in key mode before its frames are read. */
interface KnownProcess extends SeenProcess {
  /**
   * Packet number of its answer to my challenge. A frame numbered below it
   * that does not carry my epoch was sent before that process heard of mine:
   * possibly to an earlier process of mine, so possibly a replay.
   */
  floor: number;
}

/** True when a sealed frame comes from this process. */
function isProcess<P extends SeenProcess>(known: P | undefined, epoch: number, seal: SealInfo): known is P {
  return known !== undefined && known.epoch === epoch && known.saltHi === seal.saltHi && known.saltLo === seal.saltLo;
}

/**
 * Key mode: replay windows of a peer's processes other than the validated
 * one (those that challenged me before answering mine, and those replaced
 * since), so that a recorded challenge of theirs is not answered again. At
 * the limit the oldest is forgotten, and a challenge of its that was
 * recorded could be answered once more (sealed, to an address of the
 * recorder's choosing, from the shared budget) unless the session saw that
 * process replaced (`stale-epoch`).
 */
const UNVALIDATED_PROCESSES_PER_PEER_MAX = 8;

interface Challenge {
  token: string;
  tokenBytes: Uint8Array;
  /** The epoch of the process challenged: its answer must come from it. */
  epoch: number;
  issuedAt: number;
  /**
   * The datagram, sent again (to the same address) while unanswered. In key
   * mode each retry is sealed anew: a new packet number, so that the
   * receiver's replay window takes it, where an identical copy is a replay.
   */
  bytes: Uint8Array;
  retries: number;
  retryAt: number | undefined;
}

const DEFAULT_EVENTS_MAX = 65_536;
/** Least credit a sender gets, however many peers share the event queue. */
const CREDIT_SHARE_MIN = 256;
/** Timer key of the failure detector; sessions use their peer ids (1..). */
const MEMBERSHIP_TIMER = 0;
/** Timer key of unanswered path challenges (ids are at most PEERS_MAX). */
const PATH_TIMER = PEERS_MAX + 1;
/** An unanswered challenge is sent again after this, doubling, at most CHALLENGE_RETRIES times; then the peer's own retransmissions trigger new ones. */
const CHALLENGE_RETRY_MS = 40;
const CHALLENGE_RETRIES = 5;

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
    pathChallenges: 0,
    pathValidations: 0,
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
  /** Per peer, peerRestarted events not yet taken by pollEvent: until then `send` to it is refused. */
  private readonly restartsUntaken: number[];
  /** Peers whose sends were refused for that: a writable follows their peerRestarted. */
  private readonly writableOwed = new Set<number>();
  /** Channels of the protocol modules running above me (`serve`); messages on others are dropped. */
  private readonly channels = new Set<number>();
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
  private readonly keyring: Keyring | undefined;
  private readonly sealer: FrameSealer | undefined;
  private readonly allowNat: boolean;
  private readonly secureRandom: (bytes: Uint8Array) => void;
  /** Key mode: the process of each peer whose frames are read (it answered a challenge). */
  private readonly processes: (KnownProcess | undefined)[];
  /** Key mode: per peer, the replay windows of its processes other than the validated one (UNVALIDATED_PROCESSES_PER_PEER_MAX). */
  private readonly unvalidated: SeenProcess[][];
  private readonly challenges: Challenge[][];
  private readonly lastChallengeAt: number[];
  /** The process of each peer whose challenge last made me re-send its session (once per process). */
  private readonly resentFor: number[];
  /** Token bucket shared by challenges and answers (RESPONSES_PER_SECOND). */
  private pathCredit = RESPONSES_PER_SECOND;
  private pathCreditAt = 0;
  private pathActions: PathAction[] = [];
  private unauthenticated: UnauthenticatedNote | undefined;

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
    this.keyring = options.keyring;
    this.allowNat = options.allowNat ?? false;
    this.secureRandom = options.secureRandom ?? ((bytes) => crypto.getRandomValues(bytes));
    if (this.keyring !== undefined) {
      const salt = new Uint8Array(PROCESS_SALT_BYTES);
      this.secureRandom(salt);
      this.sealer = this.keyring.sealer(selfId, epoch, salt);
    }
    this.eventsMax = options.eventsMax ?? DEFAULT_EVENTS_MAX;
    this.sessionConfig = {
      ...DEFAULT_SESSION_CONFIG,
      // The seal takes its bytes from the body.
      payloadBytesMax: this.keyring === undefined ? PAYLOAD_BYTES_MAX : PAYLOAD_BYTES_MAX - SEAL_BYTES,
      // Each sender's share of the event queue, so that senders are held back
      // by credit rather than by `receiver-busy` drops. The floor overcommits
      // large groups: all of them sending at once still meets the drops.
      receiveCreditMessages: Math.min(
        DEFAULT_SESSION_CONFIG.receiveCreditMessages,
        Math.max(CREDIT_SHARE_MIN, Math.floor(this.eventsMax / Math.max(1, names.length - 1))),
      ),
      ...options.session,
    };
    checkSessionConfig(this.sessionConfig);
    this.processes = new Array(names.length + 1).fill(undefined);
    this.unvalidated = Array.from({ length: names.length + 1 }, () => []);
    this.challenges = Array.from({ length: names.length + 1 }, () => []);
    this.lastChallengeAt = new Array(names.length + 1).fill(Number.NEGATIVE_INFINITY);
    this.resentFor = new Array(names.length + 1).fill(0);
    this.restartsUntaken = new Array(names.length + 1).fill(0);
    this.pathCreditAt = now;
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
      // Key mode reads no frame of a process before it answers a challenge:
      // ask every peer at once, beside the Alive, rather than when its first
      // frame arrives. Bootstrap then takes two one-way trips, not four.
      if (this.keyring !== undefined) this.challenge(now, id, 0, false, false, "home");
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
    if (this.restartsUntaken[to]! > 0) {
      // The session already talks to the peer's new process, but the
      // application has not taken the peerRestarted that says so: it may be
      // acting on an older event (a writable about the old queue). Accepted,
      // this message would be the new stream's first while messagesDropped,
      // counting only the newest messages sent before the event, named
      // another one dropped (swarm seed 93). Refused, everything accepted
      // before the event was for the old process and everything after it
      // for the new; the writable owed follows the peerRestarted.
      this.writableOwed.add(to);
      return { ok: false, reason: "queue-full" };
    }
    const result = session.send(now, encodeAppDataEnvelope(body));
    // Queuing reports no event and moves no deadline earlier: the flush polls
    // the session (pending) and re-arms its timer. (afterInput here, polling
    // events and the timeout on every send, was 5% of a small-message sender.)
    this.pending.add(to);
    return result;
  }

  /** A protocol module serves `channel` here: its messages become `module` events instead of `unknown-channel` drops. */
  serve(channel: number): void {
    if (!Number.isInteger(channel) || channel < 1 || channel > CHANNEL_MAX)
      throw new RangeError(`a channel is 1..${CHANNEL_MAX}, got ${channel}`);
    this.channels.add(channel);
  }

  /**
   * Queues a protocol module's message on `channel` for the current process
   * of peer `to`: reliable, ordered, exactly once, in the same stream as the
   * application's messages (so in order with them). `control` passes a full
   * queue; keep it for the few messages a protocol cannot do without.
   */
  sendModule(now: number, to: number, channel: number, body: Uint8Array, control = false): SendResult {
    const session = this.sessions[to];
    if (session === undefined)
      throw new RangeError(`no peer with id ${to} (ids are 1..${this.peerCount}, mine is ${this.selfId})`);
    // A multicast sends one body to every member: encoded once, the same bytes queued on each stream.
    let last = this.lastModuleEnvelope;
    if (last === undefined || last.body !== body || last.channel !== channel) {
      last = { channel, body, envelope: encodeModuleEnvelope(channel, body) };
      this.lastModuleEnvelope = last;
    }
    const result = session.send(now, last.envelope, control);
    this.pending.add(to);
    return result;
  }

  /** The module envelope last encoded, for the next send of the same body (its bytes are never changed once queued). */
  private lastModuleEnvelope: { channel: number; body: Uint8Array; envelope: Uint8Array } | undefined;

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

  /**
   * After `close`: true once every goodbye (and everything queued before it)
   * was acknowledged, or its peer said goodbye too (peers closing together
   * stop acknowledging once they are done, and one leaving needs no goodbye).
   */
  get goodbyesSettled(): boolean {
    return this.closing && this.goodbyeTo.every((id) => this.sessions[id]!.idle || this.left.has(id));
  }

  /** The driver learned a (new) address for a peer: re-send what is outstanding to it now. */
  handlePathChange(now: number, id: number): void {
    const session = this.sessions[id];
    if (session === undefined) return;
    session.retransmitNow();
    this.afterInput(now, id);
  }

  /**
   * Takes one datagram from the network. `trusted`: it came from an address
   * the driver knows for the peer it claims to be (its hosts-file address,
   * or one validated since); other datagrams are only read for path
   * validation (docs/security.md). Returns the id of the peer whose session
   * accepted it, or undefined when it was dropped. Afterwards the driver
   * takes `takePathActions()`.
   */
  handleDatagram(now: number, bytes: Uint8Array, trusted = true): number | undefined {
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += bytes.length;
    const result = decodeFrame(bytes, this.keyring);
    if (!result.ok) {
      this.drop(undefined, result.reason, result.detail);
      if (result.reason === "unauthenticated")
        this.unauthenticated = {
          claimedId: bytes.length >= 10 ? (bytes[8]! << 8) | bytes[9]! : 0,
          detail: result.detail,
        };
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
    if (frame.type === FrameType.PathChallenge) return this.answerChallenge(now, peer, frame, trusted);
    if (frame.type === FrameType.PathResponse) return this.checkResponse(now, peer, frame);
    if (!this.believe(now, peer, frame, trusted)) return undefined;
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
    const refusal = session.handleFrame(
      now,
      frame,
      frame.type === FrameType.Data ? frame.payload : undefined,
      frame.type === FrameType.Data ? frame.payload.ack : frame.type === FrameType.Ack ? frame.payload : undefined,
    );
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
    this.markHeard(peer, frame.senderEpoch);
    return peer;
  }

  /**
   * Path datagrams and validations produced since the last call (by
   * `handleDatagram`, `handleTimeout` or the constructor). The driver asks
   * after every datagram, so the common answer, none, allocates nothing.
   */
  takePathActions(): readonly PathAction[] {
    if (this.pathActions.length === 0) return NO_PATH_ACTIONS;
    const actions = this.pathActions;
    this.pathActions = [];
    return actions;
  }

  /** Why the last unauthenticated datagram failed, once; for a hint to the user that keys differ. */
  takeUnauthenticated(): UnauthenticatedNote | undefined {
    const note = this.unauthenticated;
    this.unauthenticated = undefined;
    return note;
  }

  /**
   * Security checks before any state is touched (docs/security.md): in key
   * mode the frame must come from the process of the peer that answered a
   * challenge and must not be a replay; in either mode it must come from a
   * trusted address. Otherwise it is dropped and the peer challenged.
   */
  private believe(now: number, peer: number, frame: DecodedFrame, trusted: boolean): boolean {
    let known: KnownProcess | undefined;
    if (frame.seal !== undefined) {
      known = this.processes[peer];
      if (!isProcess(known, frame.senderEpoch, frame.seal)) {
        // A process the session saw replaced is gone: challenging it would only answer a replayer.
        if (this.sessions[peer]!.isRetired(frame.senderEpoch)) {
          this.drop(peer, "stale-epoch", `epoch ${frame.senderEpoch} was replaced by a newer process`);
          return false;
        }
        this.drop(peer, "unvalidated-process", `epoch ${frame.senderEpoch} has not answered a challenge yet`);
        this.challenge(now, peer, frame.senderEpoch, true, trusted);
        return false;
      }
      if (
        known.replay.isReplay(frame.seal.packetNumber) ||
        (frame.receiverEpoch !== this.epoch && frame.seal.packetNumber < known.floor)
      ) {
        this.drop(peer, "replayed", `packet number ${frame.seal.packetNumber} seen before or too old`);
        return false;
      }
    }
    if (!trusted) {
      this.drop(peer, "unvalidated-address", "not the address I know for this peer");
      this.challenge(now, peer, frame.senderEpoch, true, false);
      return false;
    }
    if (known !== undefined) known.replay.record(frame.seal!.packetNumber);
    return true;
  }

  /**
   * Sends a PATH_CHALLENGE for a peer's process: with a key or `allowNat`,
   * to the address the frame came from (only the holder of the key, or of
   * that address, can answer); without, to the peer's hosts-file address, so
   * the answer proves its sender receives what is sent to the peer. `to:
   * "home"` sends it there in any mode (key mode's challenges at start, when
   * no frame has come yet).
   */
  private challenge(now: number, peer: number, epoch: number, held: boolean, retry: boolean, to?: "home"): void {
    if (now - this.lastChallengeAt[peer]! < CHALLENGE_INTERVAL_MS) {
      // A challenge is on its way: keep the datagram for when it is answered.
      if (held) this.pathActions.push({ kind: "hold", peer });
      return;
    }
    // Challenges share the answers' budget: together they bound what datagrams from strangers make me send.
    if (!this.takePathCredit(now)) {
      this.drop(peer, "challenge-rate-limited", `more than ${RESPONSES_PER_SECOND} path datagrams a second`);
      return;
    }
    this.lastChallengeAt[peer] = now;
    const tokenBytes = new Uint8Array(8);
    this.secureRandom(tokenBytes);
    const token = toHex(tokenBytes);
    const pending = this.challenges[peer]!;
    while (pending.length > 0 && now - pending[0]!.issuedAt > TOKEN_LIFETIME_MS) pending.shift();
    if (pending.length >= TOKENS_PER_PEER_MAX) pending.shift();
    this.stats.pathChallenges++;
    const { bytes } = this.transmit(peer, outsideStream(FrameType.PathChallenge, epoch), tokenBytes, false);
    // The challenges sent at start are not retried: a peer that is not up
    // yet would only be sent them in vain, and once up its Alive (or its own
    // challenge) draws a challenge that is.
    // Nor are challenges to an address not known for the peer: the datagram
    // that drew one may have a forged source, which must not earn a victim
    // more than one datagram.
    const retryAt = to === "home" || !retry ? undefined : now + CHALLENGE_RETRY_MS;
    pending.push({ token, tokenBytes, epoch, issuedAt: now, bytes, retries: 0, retryAt });
    this.armPathTimer();
    const where = to ?? (this.keyring !== undefined || this.allowNat ? "source" : "home");
    const strict = this.keyring !== undefined || where === "source";
    this.pathActions.push({ kind: "send", peer, bytes, to: where, token, held, strict });
  }

  /**
   * Answers a PATH_CHALLENGE to wherever it came from; it changes nothing
   * here. Without a key or `allowNat`, only from the peer's own address: no
   * one else has a reason to challenge me, and the answer would tell a
   * stranger my epoch.
   */
  private answerChallenge(
    now: number,
    peer: number,
    frame: PathFrame & { seal?: SealInfo },
    trusted: boolean,
  ): undefined {
    if (!trusted && this.keyring === undefined && !this.allowNat) {
      this.drop(peer, "unvalidated-address", "challenge from an address that is not the peer's");
      return undefined;
    }
    if (frame.receiverEpoch !== 0 && frame.receiverEpoch !== this.epoch) {
      this.drop(peer, "stale-receiver-epoch", `challenge for epoch ${frame.receiverEpoch}, mine is ${this.epoch}`);
      return undefined;
    }
    // Key mode: a challenge is answered once. A recorded copy, from wherever
    // it comes, would otherwise draw an authenticated answer to an address of
    // the recorder's choosing and spend the budget genuine validations need.
    // Genuine retries are sealed anew, so they pass.
    if (frame.seal !== undefined && !this.firstSeenChallenge(peer, frame.senderEpoch, frame.seal)) return undefined;
    if (!this.takePathCredit(now)) {
      this.drop(peer, "challenge-rate-limited", `more than ${RESPONSES_PER_SECOND} path datagrams a second`);
      return undefined;
    }
    const header = outsideStream(FrameType.PathResponse, frame.senderEpoch);
    const { bytes } = this.transmit(peer, header, frame.payload, false);
    this.pathActions.push({ kind: "send", peer, bytes, to: "source", held: false });
    if (frame.seal !== undefined && trusted) {
      // In key mode a challenger I have not validated is usually a new process: challenge it back at once.
      const pending = this.challenges[peer]!;
      const recent = pending.length > 0 && now - pending[pending.length - 1]!.issuedAt < CHALLENGE_RETRY_MS;
      if (!recent && !isProcess(this.processes[peer], frame.senderEpoch, frame.seal))
        this.challenge(now, peer, frame.senderEpoch, false, true);
      // What I sent that process before this answer may be refused as
      // possibly replayed (it does not carry its epoch): send it again, after
      // the answer, once per process of the challenger.
      const session = this.sessions[peer]!;
      if (session.remoteEpoch !== frame.senderEpoch && this.resentFor[peer] !== frame.senderEpoch) {
        this.resentFor[peer] = frame.senderEpoch;
        session.retransmitNow();
        this.afterInput(now, peer);
      }
    }
    return undefined;
  }

  /**
   * Records a sealed challenge's packet number in its process's replay
   * window: the validated process's own, or one kept for a process not yet
   * validated (which becomes its window once it answers mine). False, with
   * the drop counted, for a replay or a challenge of a retired process.
   */
  private firstSeenChallenge(peer: number, epoch: number, seal: SealInfo): boolean {
    const known = this.processes[peer];
    let replay: ReplayWindow;
    if (isProcess(known, epoch, seal)) replay = known.replay;
    else {
      if (this.sessions[peer]!.isRetired(epoch)) {
        this.drop(peer, "stale-epoch", `challenge from epoch ${epoch}, which was replaced by a newer process`);
        return false;
      }
      let entry = this.unvalidated[peer]!.find((p) => isProcess(p, epoch, seal));
      if (entry === undefined) {
        entry = { epoch, saltHi: seal.saltHi, saltLo: seal.saltLo, replay: new ReplayWindow() };
        this.keepAside(peer, entry);
      }
      replay = entry.replay;
    }
    if (replay.isReplay(seal.packetNumber)) {
      this.drop(peer, "replayed", `challenge with packet number ${seal.packetNumber} seen before or too old`);
      return false;
    }
    replay.record(seal.packetNumber);
    return true;
  }

  /** Keeps a process's replay window among the peer's others; at UNVALIDATED_PROCESSES_PER_PEER_MAX the oldest is forgotten. */
  private keepAside(peer: number, process: SeenProcess): void {
    const seen = this.unvalidated[peer]!;
    if (seen.length >= UNVALIDATED_PROCESSES_PER_PEER_MAX) seen.shift();
    const { epoch, saltHi, saltLo, replay } = process;
    seen.push({ epoch, saltHi, saltLo, replay });
  }

  /** A PATH_RESPONSE: valid when it echoes a token I sent to that process of the peer, to my current process. */
  private checkResponse(now: number, peer: number, frame: PathFrame & { seal?: SealInfo }): undefined {
    if (frame.receiverEpoch !== this.epoch) {
      this.drop(peer, "stale-receiver-epoch", `response for epoch ${frame.receiverEpoch}, mine is ${this.epoch}`);
      return undefined;
    }
    const known = this.processes[peer];
    if (frame.seal !== undefined && isProcess(known, frame.senderEpoch, frame.seal)) {
      if (known.replay.isReplay(frame.seal.packetNumber)) {
        this.drop(peer, "replayed", `response with packet number ${frame.seal.packetNumber} seen before or too old`);
        return undefined;
      }
    }
    const token = toHex(frame.payload);
    const pending = this.challenges[peer]!;
    // A challenge sent before I knew any process of the peer (epoch 0) may be answered by any.
    const at = pending.findIndex(
      (c) =>
        c.token === token && (c.epoch === 0 || c.epoch === frame.senderEpoch) && now - c.issuedAt <= TOKEN_LIFETIME_MS,
    );
    if (at < 0) {
      this.drop(peer, "unknown-token", "answers no challenge of mine (late, replayed or forged)");
      return undefined;
    }
    // Answered: the peer's other outstanding challenges are moot (their answers are then ignored).
    pending.length = 0;
    this.armPathTimer();
    this.stats.pathValidations++;
    if (frame.seal !== undefined) {
      if (!isProcess(known, frame.senderEpoch, frame.seal)) {
        const seal = frame.seal;
        const { saltHi, saltLo, packetNumber } = seal;
        // The challenges it sent me stay answered once: their window becomes the process's.
        const seen = this.unvalidated[peer]!;
        const at = seen.findIndex((p) => isProcess(p, frame.senderEpoch, seal));
        const replay = at >= 0 ? seen.splice(at, 1)[0]!.replay : new ReplayWindow();
        if (!replay.isReplay(packetNumber)) replay.record(packetNumber);
        // The process it replaces keeps its window among the others, so its recorded challenges stay answered.
        // (Read again: the type guard above narrows `known` to undefined on this branch.)
        const previous = this.processes[peer];
        if (previous !== undefined) this.keepAside(peer, previous);
        this.processes[peer] = { epoch: frame.senderEpoch, saltHi, saltLo, replay, floor: packetNumber };
      } else known.replay.record(frame.seal.packetNumber);
    }
    this.pathActions.push({ kind: "validated", peer, token });
    // An answer to my challenge is a datagram from that process of the peer,
    // and the surest kind: it received mine. In key mode it is the first one
    // read, a round trip before its Alive is.
    this.markHeard(peer, frame.senderEpoch);
    return undefined;
  }

  /** Takes one path datagram (challenge or answer) from the shared budget; false when it is spent. */
  private takePathCredit(now: number): boolean {
    this.pathCredit = Math.min(
      RESPONSES_PER_SECOND,
      this.pathCredit + ((now - this.pathCreditAt) * RESPONSES_PER_SECOND) / 1000,
    );
    this.pathCreditAt = now;
    if (this.pathCredit < 1) return false;
    this.pathCredit--;
    return true;
  }

  /** Counts a peer up (towards READY) on the first datagram read from it. */
  private markHeard(peer: number, epoch: number): void {
    if (this.heard.has(peer) || this.mismatched.has(peer)) return;
    this.heard.add(peer);
    this.pushEvent({ type: "peerUp", peer, epoch, up: this.heard.size + 1 });
    this.checkReady();
  }

  /** Sends unanswered challenges again (same token, same address, through the driver; sealed anew in key mode), with backoff. */
  private retryChallenges(now: number): void {
    for (let peer = 1; peer <= this.peerCount; peer++) {
      for (const c of this.challenges[peer]!) {
        if (c.retryAt === undefined || c.retryAt > now) continue;
        c.retries++;
        c.retryAt = c.retries >= CHALLENGE_RETRIES ? undefined : now + CHALLENGE_RETRY_MS * 2 ** c.retries;
        c.bytes = this.transmit(peer, outsideStream(FrameType.PathChallenge, c.epoch), c.tokenBytes, false).bytes;
        this.pathActions.push({ kind: "resend", token: c.token, bytes: c.bytes });
      }
    }
    this.armPathTimer();
  }

  private armPathTimer(): void {
    let at: number | undefined;
    for (let peer = 1; peer <= this.peerCount; peer++) {
      for (const c of this.challenges[peer]!)
        if (c.retryAt !== undefined && (at === undefined || c.retryAt < at)) at = c.retryAt;
    }
    this.timers.set(PATH_TIMER, at);
  }

  handleTimeout(now: number): void {
    for (const id of this.timers.popDue(now)) {
      if (id === PATH_TIMER) {
        this.retryChallenges(now);
        continue;
      }
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
      return this.transmit(probe.to, outsideStream(FrameType.Probe, probe.toEpoch), probe.payload, false);
    }
    for (const id of this.pending) {
      const session = this.sessions[id]!;
      const out = session.pollTransmit(now);
      if (out === undefined) {
        this.pending.delete(id);
        this.timers.set(id, session.pollTimeout());
        continue;
      }
      return this.transmit(id, out, out.payload, out.retransmission, out.payloadTail);
    }
    return undefined;
  }

  /** Encodes (and in key mode seals) one outgoing frame to peer `to`, and counts and traces it. */
  private transmit(
    to: number,
    h: { type: FrameType; flags: number; receiverEpoch: number; seq: number; ack: number; sack: number },
    payload: Uint8Array,
    retransmission: boolean,
    payloadTail?: Uint8Array,
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
      this.sealer,
      payloadTail,
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
    const event = this.events[this.eventsHead++]!;
    if (
      event.type === "peerRestarted" &&
      --this.restartsUntaken[event.peer]! === 0 &&
      this.writableOwed.delete(event.peer)
    )
      this.events.push({ type: "writable", peer: event.peer });
    if (event.type === "message" || event.type === "module") {
      // Taken by the application: the sender's credit grows (flow control).
      const session = this.sessions[event.from]!;
      if (session.releaseMessage()) {
        this.pending.add(event.from);
        this.timers.set(event.from, session.pollTimeout());
      }
    }
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

  /** A module's message, held against its sender's credit like an application message; dropped on a channel I do not serve. */
  private pushModule(peer: number, channel: number, body: Uint8Array): void {
    if (!this.channels.has(channel)) {
      this.drop(peer, "unknown-channel", `channel ${channel}: no module of mine serves it`);
      return;
    }
    this.sessions[peer]!.holdMessage();
    this.events.push({ type: "module", from: peer, epoch: this.sessions[peer]!.remoteEpoch, channel, body });
  }

  /** An application message, held against its sender's credit until the application takes it. */
  private pushMessage(from: number, body: Uint8Array): void {
    this.sessions[from]!.holdMessage();
    this.events.push({ type: "message", from, body });
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
        this.restartsUntaken[peer]!++;
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
      this.pushMessage(peer, fastBody);
      return;
    }
    const fastModule = this.mismatched.has(peer) ? undefined : moduleEnvelopeFields(bytes);
    if (fastModule !== undefined) {
      this.pushModule(peer, fastModule.channel, fastModule.body);
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
        this.pushMessage(peer, body.value.body);
        return;
      case "module":
        this.pushModule(peer, body.value.channel, body.value.body);
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

/** Header fields of a frame outside the reliable stream (PROBE, PATH_CHALLENGE, PATH_RESPONSE): seq 0, no Ack flag. */
function outsideStream(type: FrameType, receiverEpoch: number) {
  return { type, flags: 0, receiverEpoch, seq: 0, ack: 0, sack: 0 };
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}
