/**
 * Reliable, ordered, exactly-once delivery to and from one remote peer, as a
 * sans-I/O state machine: no sockets, no timers, no clock. The caller passes
 * `now` (milliseconds, any monotonic origin) into every input and asks
 * `pollTimeout()` when to call `handleTimeout()` next.
 *
 * Design in brief (docs/reliability.md has the full story):
 * - A stream of DATA frames per (my epoch, their epoch) pair, sequence numbers
 *   from `initialSeq`, compared with serial arithmetic.
 * - Frames are retransmitted with their original sequence number and payload;
 *   acknowledgements (cumulative + 32-bit selective bitmap) ride on every frame
 *   and on delayed standalone ACK frames.
 * - RTT and RTO per RFC 6298 with Karn's rule (only frames sent once give RTT
 *   samples) and exponential backoff capped at `rtoMsMax`; fast retransmit when
 *   a frame sent `packetThreshold` transmissions later is acknowledged (RFC 9002).
 * - Small messages are coalesced into one frame; a message larger than a frame
 *   is split into fragments carried by consecutive sequence numbers.
 */
import type { Bundle } from "../gen/rollcall/v1/rollcall_pb.ts";
import { encodeBundle } from "../wire/bundle.ts";
import { FrameFlag, FrameType, PAYLOAD_BYTES_MAX } from "../wire/frame.ts";
import { seqAdd, seqDiff } from "../wire/seq.ts";
import { varintBytes } from "../wire/varint.ts";
import type { SessionConfig } from "./config.ts";

/** Bytes of fragment data per frame, leaving room for the Fragment fields' own encoding (at most 18 bytes). */
export const FRAGMENT_DATA_BYTES_MAX = PAYLOAD_BYTES_MAX - 24;
/** Bundle and Fragment fields around a fragment's data, at most. */
const FRAGMENT_OVERHEAD_BYTES = PAYLOAD_BYTES_MAX - FRAGMENT_DATA_BYTES_MAX;

/** How many previous epochs of a peer are remembered, so their late frames are recognised and dropped. */
const RETIRED_EPOCHS_MAX = 16;

/** RTO clock granularity (RFC 6298's G). */
const GRANULARITY_MS = 1;

/** Bits in the selective-ack bitmap. */
const SACK_BITS = 32;

export type SendResult = { ok: true } | { ok: false; reason: "queue-full" | "too-large" };

/** What the session asks its owner to put on the wire; the owner adds ids and its own epoch. */
export interface OutgoingFrame {
  type: FrameType;
  flags: number;
  receiverEpoch: number;
  seq: number;
  ack: number;
  sack: number;
  /** Encoded payload: a Bundle for DATA, empty for ACK. */
  payload: Uint8Array;
  /** True when this DATA frame is a retransmission. */
  retransmission: boolean;
}

/** Everything the session reports upward, through `pollEvent`. */
export type SessionEvent =
  | { type: "delivered"; message: Uint8Array }
  | { type: "restarted"; oldEpoch: number; newEpoch: number; messagesDropped: number }
  | { type: "unresponsive"; sinceMs: number }
  | { type: "responsive" }
  | { type: "writable" }
  | { type: "violation"; reason: SessionViolation };

/** Protocol violations by the remote side that the session survives by dropping data. */
export type SessionViolation = "fragment-out-of-sequence" | "message-too-large" | "ack-beyond-sent";

/** Why `handleFrame` refused a frame; the frame changed nothing. */
export type FrameRefusal = "stale-epoch" | "stale-receiver-epoch" | "beyond-window";

interface InflightFrame {
  seq: number;
  payload: Uint8Array;
  firstSentMs: number;
  lastSentMs: number;
  /** Transmission counter value of the latest transmission. */
  lastTx: number;
  transmissions: number;
  lost: boolean;
  /** Number of whole messages or final fragments this frame completes, for accounting. */
  messagesCompleted: number;
  /** Of those, the application's (not control messages): what a restart reports dropped. */
  appMessagesCompleted: number;
}

interface Reassembly {
  buffer: Uint8Array;
  filled: number;
}

/** Counters a session keeps for logs and benchmarks. */
export interface SessionStats {
  framesSent: number;
  retransmissions: number;
  fastRetransmissions: number;
  timeouts: number;
  /** Tail-loss probes sent (a retransmission after 2 SRTT, before the RTO). */
  probes: number;
  acksSent: number;
  duplicatesReceived: number;
  messagesSent: number;
  messagesDelivered: number;
}

export class Session {
  /** The peer's epoch as last seen; 0 until the first frame from it arrives. */
  remoteEpoch = 0;
  readonly stats: SessionStats = {
    framesSent: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    timeouts: 0,
    probes: 0,
    acksSent: 0,
    duplicatesReceived: 0,
    messagesSent: 0,
    messagesDelivered: 0,
  };

  private readonly retiredEpochs: number[] = [];
  /**
   * Messages completed by frames acknowledged only selectively (above a
   * hole), by seq: received but not yet delivered, so a restart of the
   * receiver loses them and must count them dropped. At most a window of frames.
   */
  private readonly sackedMessages = new Map<number, number>();
  /** Control messages (alive, goodbye) among those queued: a restart reports only the application's dropped. */
  private readonly controlMessages = new WeakSet<Uint8Array>();

  // Outbound stream.
  private nextSeq: number;
  /** Lowest sequence number not yet acknowledged. */
  private sndUna: number;
  /** In increasing seq order: frames are inserted once, when first sent. */
  private readonly inflight = new Map<number, InflightFrame>();
  private readonly retransmitQueue: number[] = [];
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queueBytes = 0;
  /** Bytes of the queue's head message already sent as fragments. */
  private fragmentOffset = 0;
  private txCounter = 0;
  /** When the retransmission timer was (re)started; undefined while nothing is outstanding (RFC 6298 5.1-5.3). */
  private rtoTimerStartMs: number | undefined;
  /** One tail-loss probe per episode: re-armed by acknowledgement progress. */
  private probeAvailable = true;
  private wantWritable = false;

  // RTT estimation (RFC 6298).
  private srttMs: number | undefined;
  private rttvarMs = 0;
  private rtoMs: number;
  private backoffShift = 0;
  private lastProgressMs = 0;
  private unresponsive = false;

  // Inbound stream.
  private rcvNext: number;
  private readonly reorder = new Map<number, Bundle>();
  private reassembly: Reassembly | undefined;
  private ackDueMs: number | undefined;
  private framesSinceAck = 0;

  /**
   * Events not yet polled. The owner drains them after every input (as
   * quinn-proto's `Connection::poll`), so this holds what one input produces:
   * at most a window of frames' worth of delivered messages plus a few
   * control events.
   */
  private events: SessionEvent[] = [];
  private eventsHead = 0;

  constructor(
    private readonly config: SessionConfig,
    /** My own epoch; frames addressed to another epoch of mine are refused. */
    private readonly localEpoch: number,
  ) {
    this.nextSeq = config.initialSeq;
    this.sndUna = config.initialSeq;
    this.rcvNext = config.initialSeq;
    this.rtoMs = config.rtoMsInitial;
  }

  /** Messages and bytes waiting to be packed into frames. */
  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }

  /** True when nothing is queued or unacknowledged: everything sent was delivered. */
  get idle(): boolean {
    return this.queuedMessages === 0 && this.inflight.size === 0;
  }

  get rttEstimateMs(): number | undefined {
    return this.srttMs;
  }

  /** Current retransmission timeout, backoff included. */
  get currentRtoMs(): number {
    return Math.min(this.rtoMs * 2 ** this.backoffShift, this.config.rtoMsMax);
  }

  /**
   * Queues one message for reliable, ordered delivery. Never grows past the
   * configured limits: a full queue returns `queue-full`, and a `writable`
   * event follows once it has drained to half.
   */
  send(now: number, message: Uint8Array, control = false): SendResult {
    if (message.length > this.config.messageBytesMax) return { ok: false, reason: "too-large" };
    // Control messages (alive, goodbye) pass a full queue: an application
    // that filled it must not keep its peer from announcing or leaving. There
    // are at most a few per peer and epoch, so the overshoot is bounded.
    if (
      !control &&
      (this.queuedMessages >= this.config.sendQueueMessagesMax ||
        this.queueBytes + message.length > this.config.sendQueueBytesMax)
    ) {
      this.wantWritable = true;
      return { ok: false, reason: "queue-full" };
    }
    if (this.inflight.size === 0 && this.queuedMessages === 0) this.lastProgressMs = now;
    if (control) this.controlMessages.add(message);
    this.queue.push(message);
    this.queueBytes += message.length;
    return { ok: true };
  }

  /**
   * Applies one decoded frame from this peer. Returns undefined when the frame
   * was accepted (it counts as "heard from"), or why it was refused.
   */
  handleFrame(
    now: number,
    frame: {
      type: FrameType;
      flags: number;
      senderEpoch: number;
      receiverEpoch: number;
      seq: number;
      ack: number;
      sack: number;
    },
    bundle: Bundle | undefined,
  ): FrameRefusal | undefined {
    if (frame.receiverEpoch !== 0 && frame.receiverEpoch !== this.localEpoch) return "stale-receiver-epoch";
    if (frame.senderEpoch !== this.remoteEpoch) {
      if (this.retiredEpochs.includes(frame.senderEpoch)) return "stale-epoch";
      this.adoptEpoch(now, frame.senderEpoch);
    }
    if (frame.type === FrameType.Data && seqDiff(frame.seq, this.rcvNext) >= this.config.windowFrames) {
      return "beyond-window";
    }
    if ((frame.flags & FrameFlag.Ack) !== 0) this.handleAck(now, frame.ack, frame.sack);
    if (frame.type === FrameType.Data && bundle !== undefined) this.handleData(now, frame.seq, bundle);
    return undefined;
  }

  /** Runs timers that are due: retransmission timeout and unresponsiveness. */
  handleTimeout(now: number): void {
    const rtoDeadline = this.rtoDeadline();
    if (rtoDeadline !== undefined && now >= rtoDeadline && rtoDeadline === this.probeDeadline()) {
      // Tail-loss probe (RFC 8985): after two smoothed RTTs of silence, re-send
      // the oldest frame once without backing off. Under load RTTVAR inflates
      // the RTO to several RTTs, and a lost retransmission with a full window
      // otherwise leaves the link idle for all of it.
      this.stats.probes++;
      this.probeAvailable = false;
      const oldest = this.inflight.get(this.sndUna);
      if (oldest !== undefined && !oldest.lost) this.markLost(oldest);
      this.rtoTimerStartMs = now;
    } else if (rtoDeadline !== undefined && now >= rtoDeadline) {
      this.stats.timeouts++;
      // RFC 6298 5.4-5.6: re-send the oldest unacknowledged frame, back off,
      // restart the timer. Only that one: the others may well have arrived
      // (their acks are late or were lost); the ack this probe brings back
      // tells which, and fast retransmit repairs the rest.
      const oldest = this.inflight.get(this.sndUna);
      if (oldest !== undefined && !oldest.lost) this.markLost(oldest);
      if (this.rtoMs * 2 ** this.backoffShift < this.config.rtoMsMax) this.backoffShift++;
      this.rtoTimerStartMs = now;
    }
    // Same expression as the deadline pollTimeout reports, so floating-point rounding cannot leave it due but unfired.
    if (!this.unresponsive && this.inflight.size > 0 && now >= this.lastProgressMs + this.config.unresponsiveMs) {
      this.unresponsive = true;
      this.emit({ type: "unresponsive", sinceMs: this.lastProgressMs });
    }
  }

  /**
   * The path to the peer just changed (its name resolved, or to a new
   * address): what is outstanding was probably sent into the void, so re-send
   * it now and start the backoff over, instead of waiting for a timer that may
   * have backed off to `rtoMsMax`.
   */
  /** True for an epoch of the peer this session has seen replaced by a newer one (the last 16). */
  isRetired(epoch: number): boolean {
    return this.retiredEpochs.includes(epoch);
  }

  retransmitNow(): void {
    this.backoffShift = 0;
    for (const frame of this.inflight.values()) if (!frame.lost) this.markLost(frame);
  }

  /** Earliest time `handleTimeout` or `pollTransmit` has something to do, or undefined. */
  pollTimeout(): number | undefined {
    let next = this.rtoDeadline();
    if (this.ackDueMs !== undefined && (next === undefined || this.ackDueMs < next)) next = this.ackDueMs;
    if (!this.unresponsive && this.inflight.size > 0) {
      const deadline = this.lastProgressMs + this.config.unresponsiveMs;
      if (next === undefined || deadline < next) next = deadline;
    }
    return next;
  }

  /** Next event the session has to report, or undefined. Call after every input until it returns undefined. */
  pollEvent(): SessionEvent | undefined {
    if (this.eventsHead >= this.events.length) return undefined;
    const event = this.events[this.eventsHead++];
    if (this.eventsHead === this.events.length) {
      this.events = [];
      this.eventsHead = 0;
    }
    return event;
  }

  private emit(event: SessionEvent): void {
    this.events.push(event);
  }

  /** Next frame to send now, or undefined. Retransmissions go first, then new data, then a due ACK. */
  pollTransmit(now: number): OutgoingFrame | undefined {
    while (this.retransmitQueue.length > 0) {
      const seq = this.retransmitQueue.shift()!;
      const frame = this.inflight.get(seq);
      if (frame === undefined || !frame.lost) continue; // acknowledged meanwhile
      frame.lost = false;
      frame.lastSentMs = now;
      frame.lastTx = ++this.txCounter;
      frame.transmissions++;
      this.stats.retransmissions++;
      return this.dataFrame(frame, true);
    }
    if (this.queuedMessages > 0 && seqDiff(this.nextSeq, this.sndUna) < this.config.windowFrames) {
      const { payload, messagesCompleted, appMessagesCompleted } = this.packNextPayload();
      const frame: InflightFrame = {
        seq: this.nextSeq,
        payload,
        firstSentMs: now,
        lastSentMs: now,
        lastTx: ++this.txCounter,
        transmissions: 1,
        lost: false,
        messagesCompleted,
        appMessagesCompleted,
      };
      if (this.inflight.size === 0) this.lastProgressMs = now;
      this.inflight.set(frame.seq, frame);
      this.nextSeq = seqAdd(this.nextSeq, 1);
      this.stats.messagesSent += messagesCompleted;
      this.maybeWritable();
      return this.dataFrame(frame, false);
    }
    if (this.ackDueMs !== undefined && this.ackDueMs <= now && this.remoteEpoch !== 0) {
      this.stats.acksSent++;
      return { type: FrameType.Ack, ...this.ackFields(), seq: 0, payload: new Uint8Array(0), retransmission: false };
    }
    return undefined;
  }

  private dataFrame(frame: InflightFrame, retransmission: boolean): OutgoingFrame {
    this.stats.framesSent++;
    this.rtoTimerStartMs ??= frame.lastSentMs;
    return { type: FrameType.Data, ...this.ackFields(), seq: frame.seq, payload: frame.payload, retransmission };
  }

  /** Acknowledgement fields for an outgoing frame; sending them satisfies any pending ack. */
  private ackFields(): { flags: number; receiverEpoch: number; ack: number; sack: number } {
    this.ackDueMs = undefined;
    this.framesSinceAck = 0;
    if (this.remoteEpoch === 0) return { flags: 0, receiverEpoch: 0, ack: 0, sack: 0 };
    let sack = 0;
    if (this.reorder.size > 0) {
      for (let bit = 0; bit < SACK_BITS; bit++) {
        if (this.reorder.has(seqAdd(this.rcvNext, bit + 1))) sack |= 1 << bit;
      }
    }
    return { flags: FrameFlag.Ack, receiverEpoch: this.remoteEpoch, ack: seqAdd(this.rcvNext, -1), sack: sack >>> 0 };
  }

  /** Takes whole messages that fit together, or the next fragment of a message too large for one frame. */
  private packNextPayload(): { payload: Uint8Array; messagesCompleted: number; appMessagesCompleted: number } {
    const head = this.queue[this.queueHead]!;
    const room = this.config.payloadBytesMax;
    if (this.fragmentOffset === 0 && encodedItemBytes(head.length) <= room) {
      const messages: Uint8Array[] = [];
      let bytes = 0;
      while (this.queuedMessages > 0) {
        const message = this.queue[this.queueHead]!;
        const cost = encodedItemBytes(message.length);
        if (bytes + cost > room) break;
        messages.push(message);
        bytes += cost;
        this.dequeueHead();
      }
      const control = messages.filter((m) => this.controlMessages.has(m)).length;
      return {
        payload: encodeBundle({ messages }),
        messagesCompleted: messages.length,
        appMessagesCompleted: messages.length - control,
      };
    }
    const end = Math.min(head.length, this.fragmentOffset + room - FRAGMENT_OVERHEAD_BYTES);
    const payload = encodeBundle({
      messages: [],
      fragment: {
        totalLength: head.length,
        offset: this.fragmentOffset,
        data: head.subarray(this.fragmentOffset, end),
      },
    });
    if (end === head.length) {
      this.fragmentOffset = 0;
      this.dequeueHead();
      return { payload, messagesCompleted: 1, appMessagesCompleted: this.controlMessages.has(head) ? 0 : 1 };
    }
    this.fragmentOffset = end;
    return { payload, messagesCompleted: 0, appMessagesCompleted: 0 };
  }

  private dequeueHead(): void {
    const message = this.queue[this.queueHead]!;
    this.queueBytes -= message.length;
    this.queueHead++;
    // Compact now and then so the array does not keep every message ever sent.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private maybeWritable(): void {
    if (
      this.wantWritable &&
      this.queuedMessages <= this.config.sendQueueMessagesMax / 2 &&
      this.queueBytes <= this.config.sendQueueBytesMax / 2
    ) {
      this.wantWritable = false;
      this.emit({ type: "writable" });
    }
  }

  /** When the retransmission timer fires: the probe deadline if a probe is due first, else the RTO. */
  private rtoDeadline(): number | undefined {
    if (this.rtoTimerStartMs === undefined) return undefined;
    const rto = this.rtoTimerStartMs + this.currentRtoMs;
    const probe = this.probeDeadline();
    return probe !== undefined && probe < rto ? probe : rto;
  }

  /**
   * Tail-loss probe deadline, once per episode: 2 SRTT after the timer
   * started, plus the ack delay the peer may take (RFC 8985 adds it for a lone
   * frame; here any run shorter than ackAfterFrames can wait for it).
   */
  private probeDeadline(): number | undefined {
    if (!this.probeAvailable || this.srttMs === undefined || this.rtoTimerStartMs === undefined) return undefined;
    // A retransmitted oldest frame fills a gap, and gap fills are acknowledged
    // at once: no ack delay to wait for.
    const oldest = this.inflight.get(this.sndUna);
    if (oldest !== undefined && oldest.transmissions > 1) {
      return this.rtoTimerStartMs + Math.max(2 * this.srttMs, GRANULARITY_MS);
    }
    return this.rtoTimerStartMs + Math.max(2 * this.srttMs, this.config.rtoMsMin) + this.config.ackDelayMs;
  }

  private markLost(frame: InflightFrame): void {
    frame.lost = true;
    this.retransmitQueue.push(frame.seq);
  }

  private handleAck(now: number, ack: number, sack: number): void {
    const highestSent = seqAdd(this.nextSeq, -1);
    if (seqDiff(ack, highestSent) > 0) {
      this.emit({ type: "violation", reason: "ack-beyond-sent" });
      return;
    }
    let largestAckedTx = 0;
    let rttSampleMs: number | undefined;
    let progress = false;
    let ackedRetransmission = false;
    const acknowledge = (frame: InflightFrame) => {
      this.inflight.delete(frame.seq);
      progress = true;
      if (frame.transmissions > 1) ackedRetransmission = true;
      // Karn's rule, for RTT and for loss detection alike: the ack of a frame
      // sent more than once could answer any of its copies, so it says nothing
      // about which later transmissions have arrived. Using its latest
      // transmission here declared frames still in flight lost, and each
      // spurious retransmission fed the next (measured: 2.5x frames at 10% loss).
      if (frame.transmissions === 1) {
        rttSampleMs = now - frame.firstSentMs;
        largestAckedTx = Math.max(largestAckedTx, frame.lastTx);
      }
    };
    // Cumulative part: everything from sndUna through ack.
    if (seqDiff(ack, this.sndUna) >= 0) {
      for (let seq = this.sndUna; seqDiff(seq, ack) <= 0; seq = seqAdd(seq, 1)) {
        const frame = this.inflight.get(seq);
        if (frame !== undefined) acknowledge(frame);
      }
      for (const seq of this.sackedMessages.keys()) if (seqDiff(seq, ack) <= 0) this.sackedMessages.delete(seq);
    }
    for (let bit = 0; sack !== 0 && bit < SACK_BITS; bit++) {
      if ((sack & (1 << bit)) === 0) continue;
      const seq = seqAdd(ack, bit + 2);
      if (seqDiff(seq, highestSent) > 0) break;
      const frame = this.inflight.get(seq);
      if (frame !== undefined) {
        acknowledge(frame);
        if (frame.appMessagesCompleted > 0) this.sackedMessages.set(seq, frame.appMessagesCompleted);
      }
    }
    if (!progress) return;

    const first = this.inflight.keys().next();
    this.sndUna = first.done ? this.nextSeq : first.value;
    // An ack that fills a hole also acknowledges frames that arrived long
    // before and waited, unacknowledgeable, beyond the sack bitmap's reach:
    // their "RTT" includes the repair. Sample only acks that fill no hole.
    if (rttSampleMs !== undefined && !ackedRetransmission) this.updateRtt(rttSampleMs);
    this.backoffShift = 0;
    this.rtoTimerStartMs = this.inflight.size === 0 ? undefined : now;
    this.probeAvailable = true;
    this.lastProgressMs = now;
    if (this.unresponsive) {
      this.unresponsive = false;
      this.emit({ type: "responsive" });
    }
    for (const frame of this.inflight.values()) {
      if (!frame.lost && frame.lastTx + this.config.packetThreshold <= largestAckedTx) {
        this.stats.fastRetransmissions++;
        this.markLost(frame);
      }
    }
  }

  private updateRtt(sampleMs: number): void {
    if (this.srttMs === undefined) {
      this.srttMs = sampleMs;
      this.rttvarMs = sampleMs / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - sampleMs);
      this.srttMs = 0.875 * this.srttMs + 0.125 * sampleMs;
    }
    // RFC 6298's RTO plus the peer's allowed ack delay, as RFC 9002's PTO does:
    // an ack held back on purpose must not look like a loss.
    const rto = this.srttMs + Math.max(GRANULARITY_MS, 4 * this.rttvarMs) + this.config.ackDelayMs;
    this.rtoMs = Math.min(Math.max(rto, this.config.rtoMsMin), this.config.rtoMsMax);
  }

  private handleData(now: number, seq: number, bundle: Bundle): void {
    const distance = seqDiff(seq, this.rcvNext);
    if (distance < 0 || (distance > 0 && this.reorder.has(seq))) {
      // Our ack was probably lost; answer at once so the sender stops re-sending.
      this.stats.duplicatesReceived++;
      this.ackDueMs = now;
      return;
    }
    if (distance > 0) {
      this.reorder.set(seq, bundle);
      this.ackDueMs = now; // a gap: tell the sender right away so it can fast-retransmit
      return;
    }
    // RFC 5681 4.2: a frame that fills a gap is acknowledged at once.
    const filledGap = this.reorder.size > 0;
    this.deliver(bundle);
    this.rcvNext = seqAdd(this.rcvNext, 1);
    for (let next = this.reorder.get(this.rcvNext); next !== undefined; next = this.reorder.get(this.rcvNext)) {
      this.reorder.delete(this.rcvNext);
      this.deliver(next);
      this.rcvNext = seqAdd(this.rcvNext, 1);
    }
    this.framesSinceAck++;
    const due = filledGap || this.framesSinceAck >= this.config.ackAfterFrames ? now : now + this.config.ackDelayMs;
    if (this.ackDueMs === undefined || due < this.ackDueMs) this.ackDueMs = due;
  }

  private deliver(bundle: Bundle): void {
    for (const message of bundle.messages) {
      if (this.reassembly !== undefined) this.abandonReassembly("fragment-out-of-sequence");
      this.stats.messagesDelivered++;
      this.emit({ type: "delivered", message });
    }
    const fragment = bundle.fragment;
    if (fragment === undefined) return;
    if (fragment.offset === 0) {
      if (this.reassembly !== undefined) this.abandonReassembly("fragment-out-of-sequence");
      if (fragment.totalLength > this.config.messageBytesMax) {
        this.emit({ type: "violation", reason: "message-too-large" });
        return; // its later fragments are dropped as out of sequence
      }
      this.reassembly = { buffer: new Uint8Array(fragment.totalLength), filled: 0 };
    }
    const r = this.reassembly;
    if (r === undefined || r.filled !== fragment.offset || r.buffer.length !== fragment.totalLength) {
      if (r !== undefined) this.abandonReassembly("fragment-out-of-sequence");
      else this.emit({ type: "violation", reason: "fragment-out-of-sequence" });
      return;
    }
    r.buffer.set(fragment.data, r.filled);
    r.filled += fragment.data.length;
    if (r.filled === r.buffer.length) {
      this.reassembly = undefined;
      this.stats.messagesDelivered++;
      this.emit({ type: "delivered", message: r.buffer });
    }
  }

  private abandonReassembly(reason: SessionViolation): void {
    this.reassembly = undefined;
    this.emit({ type: "violation", reason });
  }

  /**
   * The peer started (first contact) or restarted (a new epoch). A restart
   * ends both streams: nothing of the old epoch is delivered after this, and
   * messages not yet acknowledged by the old process are dropped and counted,
   * because the new process has no state to deliver them into.
   */
  private adoptEpoch(now: number, epoch: number): void {
    const oldEpoch = this.remoteEpoch;
    this.remoteEpoch = epoch;
    if (oldEpoch === 0) {
      // First contact: anything sent so far was sent blind; re-send it now,
      // addressed to the epoch we just learned, instead of waiting for a backed-off timer.
      this.backoffShift = 0;
      for (const frame of this.inflight.values()) if (!frame.lost) this.markLost(frame);
      this.lastProgressMs = now;
      return;
    }
    this.retiredEpochs.push(oldEpoch);
    if (this.retiredEpochs.length > RETIRED_EPOCHS_MAX) this.retiredEpochs.shift();
    let messagesDropped = 0;
    for (let i = this.queueHead; i < this.queue.length; i++)
      if (!this.controlMessages.has(this.queue[i]!)) messagesDropped++;
    for (const frame of this.inflight.values()) messagesDropped += frame.appMessagesCompleted;
    // Received above a hole but never delivered: the old process took them with it.
    for (const count of this.sackedMessages.values()) messagesDropped += count;
    this.sackedMessages.clear();
    this.inflight.clear();
    this.retransmitQueue.length = 0;
    this.queue = [];
    this.queueHead = 0;
    this.queueBytes = 0;
    this.fragmentOffset = 0;
    this.nextSeq = this.config.initialSeq;
    this.sndUna = this.config.initialSeq;
    this.rtoTimerStartMs = undefined;
    this.rcvNext = this.config.initialSeq;
    this.reorder.clear();
    this.reassembly = undefined;
    this.ackDueMs = undefined;
    this.framesSinceAck = 0;
    this.srttMs = undefined;
    this.rttvarMs = 0;
    this.rtoMs = this.config.rtoMsInitial;
    this.backoffShift = 0;
    this.lastProgressMs = now;
    if (this.unresponsive) {
      this.unresponsive = false;
      this.emit({ type: "responsive" });
    }
    this.emit({ type: "restarted", oldEpoch, newEpoch: epoch, messagesDropped });
    this.maybeWritable();
  }
}

/** Bytes a message takes inside a Bundle: tag, length varint, content. */
function encodedItemBytes(length: number): number {
  return 1 + varintBytes(length) + length;
}
