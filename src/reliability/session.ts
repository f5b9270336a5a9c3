/**
 * Reliable, ordered, exactly-once delivery to and from one remote peer, as a
 * sans-I/O state machine: no sockets, no timers, no clock. The caller passes
 * `now` (milliseconds, any monotonic origin) into every input and asks
 * `pollTimeout()` when to call `handleTimeout()` next.
 *
 * Design in brief (docs/reliability.md has the full story):
 * - A stream of DATA frames per (my epoch, their epoch) pair, sequence numbers
 *   from `initialSeq`, compared with serial arithmetic.
 * - Frames are retransmitted with their original sequence number and payload.
 *   Acknowledgements ride on every frame and on standalone ACK frames: the
 *   header's cumulative ack and 32-bit bitmap, plus ranges (`Ack.ranges`)
 *   reaching over the whole window, so windows of thousands of frames work.
 * - Loss detection after RFC 9002 §6: a frame is lost when one sent
 *   `packetThreshold` transmissions later, or 9/8 RTT later, is acknowledged.
 *   Retransmissions keep their seq, so an ack cannot say which copy arrived:
 *   Karn's rule keeps RTT samples and loss detection to frames sent once.
 *   Tail-loss probe after 2 SRTT, then RTO with exponential backoff.
 * - Congestion control (NewReno, pacing: ./congestion.ts), receiver flow
 *   control by message credit (`Ack.message_credit`), and a send queue
 *   bounded in count, bytes and expected waiting time.
 * - Small messages are coalesced into one frame; a message larger than a frame
 *   is split into fragments carried by consecutive sequence numbers.
 */
import type { Ack, Bundle } from "../gen/rollcall/v1/rollcall_pb.ts";
import { bundleOfOne, encodeBundle } from "../wire/bundle.ts";
import { ACK_RANGE_PAIRS_MAX, FrameFlag, FrameType, HEADER_BYTES, PAYLOAD_BYTES_MAX } from "../wire/frame.ts";
import { type AckFields, encodeAck, encodeBundleAckField } from "../wire/messages.ts";
import { seqAdd, seqDiff } from "../wire/seq.ts";
import { varintBytes } from "../wire/varint.ts";
import type { SessionConfig } from "./config.ts";
import { CongestionController, type CongestionStats } from "./congestion.ts";

/** Bytes of fragment data per frame, leaving room for the Fragment fields' own encoding (at most 18 bytes). */
export const FRAGMENT_DATA_BYTES_MAX = PAYLOAD_BYTES_MAX - 24;
/** Bundle and Fragment fields around a fragment's data, at most. */
const FRAGMENT_OVERHEAD_BYTES = PAYLOAD_BYTES_MAX - FRAGMENT_DATA_BYTES_MAX;

/** How many previous epochs of a peer are remembered, so their late frames are recognised and dropped. */
const RETIRED_EPOCHS_MAX = 16;

/** RTO clock granularity (RFC 6298's G, RFC 9002's kGranularity). */
const GRANULARITY_MS = 1;

/** Bits in the header's selective-ack bitmap. */
const SACK_BITS = 32;

/** RFC 9002 §6.1.2: a frame is lost once one sent 9/8 of an RTT after it is acknowledged. */
const TIME_THRESHOLD = 9 / 8;

/**
 * Room kept in every DATA frame for a piggybacked Ack carrying the credit
 * (tag, length, tag, 5-byte varint). Ranges ride in whatever else the frame
 * has spare; the rest go in an ACK frame.
 */
const ACK_FIELD_ROOM_BYTES = 8;

/**
 * What one frame counts for in the congestion window and pacing, however
 * small: a whole datagram. Receivers and kernels pay per datagram (a socket
 * buffer charges a tiny datagram nearly as much as a full one), so a window
 * counted in payload bytes let hundreds of one-message frames out at once and
 * overflowed the receiver's socket buffer.
 */
const CC_FRAME_BYTES = HEADER_BYTES + PAYLOAD_BYTES_MAX;

/**
 * This many consecutive frames lost count as congestion whatever the RTT
 * says: a full buffer drops runs of datagrams (a loopback receiver's socket
 * buffer does, without first adding milliseconds of delay), while random
 * loss rarely does (at 30% loss, 8 in a row is 2 losses in 10,000).
 */
const LOSS_RUN_CONGESTION = 8;

/** A send queue up to this many bytes is never refused for its waiting time. */
const QUEUE_BYTES_UNTIMED = 64 * 1024;

/** The drain rate behind the send queue's time bound is sampled over at least this long while the queue is backlogged. */
const DRAIN_SAMPLE_MS = 5;

export type SendResult = { ok: true } | { ok: false; reason: "queue-full" | "too-large" };

/** What the session asks its owner to put on the wire; the owner adds ids and its own epoch. */
export interface OutgoingFrame {
  type: FrameType;
  flags: number;
  receiverEpoch: number;
  seq: number;
  ack: number;
  sack: number;
  /** Encoded payload: a Bundle for DATA, an Ack for ACK. */
  payload: Uint8Array;
  /** Bytes that follow the payload in the frame: a DATA frame's piggybacked Bundle.ack field, if any. */
  payloadTail?: Uint8Array;
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
export type FrameRefusal = "stale-epoch" | "stale-receiver-epoch" | "beyond-window" | "beyond-credit";

interface SentFrame {
  seq: number;
  payload: Uint8Array;
  /** Header and payload bytes (without the piggybacked ack): what the queue's drain rate is measured in. */
  bytes: number;
  lastSentMs: number;
  /** Transmission counter value of the latest transmission: the "packet number" of loss detection. */
  lastTx: number;
  transmissions: number;
  /** Declared lost and waiting in the retransmit queue. */
  lost: boolean;
  /** Counted in the congestion controller's bytes in flight. */
  inFlight: boolean;
  /** Acknowledged selectively (above a hole): received, not yet delivered. */
  acked: boolean;
  /** Whether the congestion window limited the sender when this frame left (RFC 9002 §7.8). */
  windowLimited: boolean;
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
export interface SessionStats extends CongestionStats {
  framesSent: number;
  retransmissions: number;
  /** Frames declared lost by the packet or time threshold (RFC 9002 §6.1) and re-sent. */
  fastRetransmissions: number;
  timeouts: number;
  /** Tail-loss probes sent (a retransmission after 2 SRTT, before the RTO). */
  probes: number;
  acksSent: number;
  duplicatesReceived: number;
  messagesSent: number;
  messagesDelivered: number;
  /** Times the sender had messages but no credit from the receiver (flow control). */
  creditBlocked: number;
  /** Sends refused because the queue already held more than `sendQueueDelayMsMax` of sending. */
  queueFullByTime: number;
}

/** A ring of `size` (a power of two) slots indexed by sequence number. */
function ringSize(windowFrames: number): number {
  let size = 1;
  while (size < windowFrames + 1) size *= 2;
  return size;
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
    creditBlocked: 0,
    queueFullByTime: 0,
    congestionEvents: 0,
    randomLosses: 0,
    persistentCongestion: 0,
  };

  private readonly retiredEpochs: number[] = [];
  /** Control messages (alive, goodbye) among those queued: a restart reports only the application's dropped. */
  private readonly controlMessages = new WeakSet<Uint8Array>();
  private readonly ringMask: number;
  private readonly cc: CongestionController;
  /** Latest `now` seen by any input: for work an input without a clock (releaseMessages) makes due. */
  private lastNowMs = 0;

  // Outbound stream.
  private nextSeq: number;
  /** Lowest seq not cumulatively acknowledged: the ring holds frames sndBase..nextSeq-1. */
  private sndBase: number;
  /** Lowest seq neither cumulatively nor selectively acknowledged (sndBase..nextSeq). */
  private sndUna: number;
  /** Sent frames by seq & ringMask; a window of them at most. */
  private readonly sent: (SentFrame | undefined)[];
  /** Frames sent and not acknowledged in any way. */
  private unacked = 0;
  /** Transmissions in send order ([seq, tx] pairs), for loss detection; entries of frames acknowledged or re-sent since are skipped. */
  private sendOrder: number[] = [];
  private sendOrderHead = 0;
  /** Highest seq an ack has described (cumulatively, by bitmap or by ranges): loss is judged only up to here. */
  private ackReach = 0;
  /** The last frame declared lost, and how many consecutive seqs (first transmissions) ended with it. */
  private lastLostSeq = 0;
  private lossRun = 0;
  /** Highest transmission number among frames sent once and acknowledged (Karn): both loss thresholds count from it. */
  private largestAckedTx = 0;
  /**
   * The same, counting acknowledged retransmissions as RFC 8985 allows: only
   * the time threshold counts from it. (The packet threshold counted from a
   * spurious retransmission's ack declared every frame sent just before it
   * lost while still in flight: 3 times the necessary retransmissions.)
   */
  private largestAckedTxTimed = 0;
  /** When frames waiting on the time threshold become lost, if any. */
  private lossTimeMs: number | undefined;
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
  /** Frames a timer re-sends even if the congestion window or pacing would hold them. */
  private probesOwed = 0;
  private wantWritable = false;
  /** Whether the last poll found the sender out of credit (to count blocked episodes, not polls). */
  private creditBlockedNow = false;
  /** Messages (any kind) completed by frames sent in this stream, mod 2^32: what credit is counted against. */
  private messagesPacked = 0;
  /** The receiver's credit (serial message number), or undefined while it has stated none. */
  private sendCredit: number | undefined;
  /** Sending rate measured while the queue was backlogged, bytes per ms; bounds the queue in time. */
  private drainBytesPerMs: number | undefined;
  private drainSampleStartMs: number | undefined;
  /** Bytes of frames acknowledged in this stream, and its value when the current drain sample began. */
  private ackedBytes = 0;
  private drainSampleMark = 0;

  // RTT estimation (RFC 6298 / RFC 9002 §5).
  private srttMs: number | undefined;
  /** The last RTT sample, before ack-delay correction: the time threshold uses the larger of it and SRTT. */
  private latestRttMs: number | undefined;
  private rttvarMs = 0;
  private rtoMs: number;
  private backoffShift = 0;
  private lastProgressMs = 0;
  private unresponsive = false;

  // Inbound stream.
  private rcvNext: number;
  /** Frames received above a hole, by seq & ringMask. */
  private readonly reorder: (Bundle | undefined)[];
  private reorderCount = 0;
  /** Highest seq held in `reorder` (meaningful while reorderCount > 0). */
  private rcvHighest = 0;
  /** When the highest DATA frame so far arrived: the ack delay is measured from it. */
  private rcvHighestAtMs = 0;
  private reassembly: Reassembly | undefined;
  private ackDueMs: number | undefined;
  private framesSinceAck = 0;
  /** Messages delivered in this stream (serial), and of those, the ones the owner still holds unconsumed. */
  private messagesReceived = 0;
  private messagesHeld = 0;
  /**
   * The highest credit stated to the peer. Never lowered (a sender may use
   * all it was told, as with QUIC's MAX_STREAM_DATA), so holding messages
   * after an ack went out cannot take back what the ack granted.
   */
  private creditStated = 0;
  /** Cached piggyback field for the current receive state (recomputed when it changes). */
  private ackFieldCache:
    | { version: number; credit: number; info: AckFields & { ranges: number[] }; bytes: Uint8Array }
    | undefined;
  private receiveVersion = 0;

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
    this.sndBase = config.initialSeq;
    this.sndUna = config.initialSeq;
    this.ackReach = seqAdd(config.initialSeq, -1);
    this.rcvNext = config.initialSeq;
    this.rtoMs = config.rtoMsInitial;
    const size = ringSize(config.windowFrames);
    this.ringMask = size - 1;
    this.sent = new Array(size).fill(undefined);
    this.reorder = new Array(size).fill(undefined);
    this.cc = new CongestionController(
      {
        datagramBytesMax: CC_FRAME_BYTES,
        initialWindowDatagrams: config.initialWindowFrames,
        minimumWindowDatagrams: 2,
        windowBytesMax: config.windowFrames * CC_FRAME_BYTES,
        queueDelayMsMin: config.queueDelayMsMin,
      },
      this.stats,
    );
    this.creditStated = config.receiveCreditMessages;
  }

  /** Messages and bytes waiting to be packed into frames. */
  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }

  /** True when nothing is queued or unacknowledged: everything sent was delivered. */
  get idle(): boolean {
    return this.queuedMessages === 0 && this.unacked === 0;
  }

  get rttEstimateMs(): number | undefined {
    return this.srttMs;
  }

  /** Current retransmission timeout, backoff included. */
  get currentRtoMs(): number {
    return Math.min(this.rtoMs * 2 ** this.backoffShift, this.config.rtoMsMax);
  }

  /** Congestion window and bytes in flight, for logs and benchmarks. */
  get congestion(): { cwndBytes: number; bytesInFlight: number; minRttMs: number | undefined } {
    return { cwndBytes: this.cc.cwndBytes, bytesInFlight: this.cc.bytesInFlight, minRttMs: this.cc.minRttMs };
  }

  /**
   * Queues one message for reliable, ordered delivery. Never grows past the
   * configured limits: a full queue returns `queue-full`, and a `writable`
   * event follows once it has drained to half. Full means a count, a byte
   * total, or more than `sendQueueDelayMsMax` of sending at the rate the
   * queue has been draining.
   */
  send(now: number, message: Uint8Array, control = false): SendResult {
    this.lastNowMs = now;
    if (message.length > this.config.messageBytesMax) return { ok: false, reason: "too-large" };
    // Control messages (alive, goodbye) pass a full queue: an application
    // that filled it must not keep its peer from announcing or leaving. There
    // are at most a few per peer and epoch, so the overshoot is bounded.
    if (!control) {
      if (
        this.queuedMessages >= this.config.sendQueueMessagesMax ||
        this.queueBytes + message.length > this.config.sendQueueBytesMax
      ) {
        this.wantWritable = true;
        return { ok: false, reason: "queue-full" };
      }
      // The time bound is for waiting behind other messages: a message alone
      // in the queue is taken whatever its size, or a large one (above
      // QUEUE_BYTES_UNTIMED) on a slow path would be refused with nothing
      // queued, so nothing would ever drain, re-measure the rate or bring
      // `writable` (a 64 MiB group state stalled on a 256 KiB chunk).
      if (
        this.queuedMessages > 0 &&
        this.queueDelayMs(this.queueBytes + message.length) > this.config.sendQueueDelayMsMax
      ) {
        this.stats.queueFullByTime++;
        this.wantWritable = true;
        return { ok: false, reason: "queue-full" };
      }
    }
    if (this.unacked === 0 && this.queuedMessages === 0) this.lastProgressMs = now;
    if (control) this.controlMessages.add(message);
    this.queue.push(message);
    this.queueBytes += message.length;
    return { ok: true };
  }

  /**
   * How long `bytes` of queue take to send at the measured drain rate; 0
   * while there is no measurement, or for a queue of at most
   * QUEUE_BYTES_UNTIMED (short enough never to matter on a fast path; on a
   * slow one, refusing it would refuse single large messages).
   */
  private queueDelayMs(bytes: number): number {
    if (this.drainBytesPerMs === undefined || bytes <= QUEUE_BYTES_UNTIMED) return 0;
    return bytes / this.drainBytesPerMs;
  }

  /**
   * Applies one decoded frame from this peer. `ack` is the frame's Ack
   * (the payload of an ACK frame, `Bundle.ack` of a DATA frame) when it has
   * one. Returns undefined when the frame was accepted (it counts as "heard
   * from"), or why it was refused.
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
    ack?: Ack,
  ): FrameRefusal | undefined {
    this.lastNowMs = now;
    if (frame.receiverEpoch !== 0 && frame.receiverEpoch !== this.localEpoch) return "stale-receiver-epoch";
    if (frame.senderEpoch !== this.remoteEpoch) {
      if (this.retiredEpochs.includes(frame.senderEpoch)) return "stale-epoch";
      this.adoptEpoch(now, frame.senderEpoch);
    }
    if (frame.type === FrameType.Data && seqDiff(frame.seq, this.rcvNext) >= this.config.windowFrames) {
      return "beyond-window";
    }
    if ((frame.flags & FrameFlag.Ack) !== 0)
      this.handleAck(now, frame.ack, frame.sack, ack, frame.type === FrameType.Ack);
    if (frame.type === FrameType.Data && bundle !== undefined) return this.handleData(now, frame.seq, bundle);
    return undefined;
  }

  /** Runs timers that are due: loss detection, retransmission timeout and unresponsiveness. */
  handleTimeout(now: number): void {
    this.lastNowMs = now;
    if (this.lossTimeMs !== undefined && now >= this.lossTimeMs) this.detectLosses(now);
    const rtoDeadline = this.rtoDeadline();
    if (rtoDeadline !== undefined && now >= rtoDeadline && rtoDeadline === this.probeDeadline()) {
      // Tail-loss probe (RFC 8985): after two smoothed RTTs of silence, re-send
      // the oldest frame once without backing off. Under load RTTVAR inflates
      // the RTO to several RTTs, and a lost retransmission with a full window
      // otherwise leaves the link idle for all of it.
      this.stats.probes++;
      this.probeAvailable = false;
      this.probe(1);
      this.rtoTimerStartMs = now;
    } else if (rtoDeadline !== undefined && now >= rtoDeadline) {
      this.stats.timeouts++;
      // RFC 6298 5.4-5.6: re-send the oldest unacknowledged frame, back off,
      // restart the timer. Only that one: the others may well have arrived
      // (their acks are late or were lost); the ack this probe brings back
      // tells which, and loss detection repairs the rest.
      // Two probes, as RFC 9002 §6.2.4 allows: with one, a lost probe or a
      // lost ack of it doubles the timeout again, and at 30% loss each way
      // (half of all round trips fail) the expected wait diverged to rtoMsMax.
      this.probe(2);
      // A third timeout in a row: nothing answered over three RTOs, RFC
      // 9002's persistent congestion: start over from the minimum window.
      // (Two in a row happen by chance at 30% random loss.)
      if (this.backoffShift >= 2) this.cc.onPersistentCongestion(now);
      if (this.rtoMs * 2 ** this.backoffShift < this.config.rtoMsMax) this.backoffShift++;
      this.rtoTimerStartMs = now;
    }
    // Same expression as the deadline pollTimeout reports, so floating-point rounding cannot leave it due but unfired.
    if (!this.unresponsive && this.unacked > 0 && now >= this.lastProgressMs + this.config.unresponsiveMs) {
      this.unresponsive = true;
      this.emit({ type: "unresponsive", sinceMs: this.lastProgressMs });
    }
  }

  /** True for an epoch of the peer this session has seen replaced by a newer one (the last 16). */
  isRetired(epoch: number): boolean {
    return this.retiredEpochs.includes(epoch);
  }

  /**
   * The path to the peer just changed (its name resolved, or to a new
   * address): what is outstanding was probably sent into the void, so re-send
   * it now and start the backoff over, instead of waiting for a timer that may
   * have backed off to `rtoMsMax`.
   */
  retransmitNow(): void {
    this.backoffShift = 0;
    this.forEachUnacked((frame) => {
      if (!frame.lost) this.markLost(frame);
    });
  }

  /**
   * The owner keeps one delivered message of this stream that its
   * application has not taken yet: it counts against the credit the peer is
   * given (flow control). Call `releaseMessage` when the application takes it.
   */
  holdMessage(): void {
    this.messagesHeld++;
  }

  /**
   * The application took a held message. Returns true when the credit grew
   * enough to tell the peer now (an ACK is due: poll this session).
   */
  releaseMessage(): boolean {
    if (this.messagesHeld > 0) this.messagesHeld--;
    if (this.remoteEpoch === 0) return false;
    if (seqDiff(this.receiveCredit(), this.creditStated) * 2 < this.config.receiveCreditMessages) return false;
    this.ackDueMs = this.lastNowMs;
    return true;
  }

  /** The message number up to which the peer may send: what was delivered, less what the owner holds, plus the share. */
  private receiveCredit(): number {
    return seqAdd(this.messagesReceived, this.config.receiveCreditMessages - this.messagesHeld);
  }

  /** Earliest time `handleTimeout` or `pollTransmit` has something to do, or undefined. */
  pollTimeout(): number | undefined {
    let next = this.rtoDeadline();
    if (this.lossTimeMs !== undefined && (next === undefined || this.lossTimeMs < next)) next = this.lossTimeMs;
    if (this.ackDueMs !== undefined && (next === undefined || this.ackDueMs < next)) next = this.ackDueMs;
    if (!this.unresponsive && this.unacked > 0) {
      const deadline = this.lastProgressMs + this.config.unresponsiveMs;
      if (next === undefined || deadline < next) next = deadline;
    }
    const paced = this.pacedSendMs();
    if (paced !== undefined && (next === undefined || paced < next)) next = paced;
    return next;
  }

  /** When pacing lets the next waiting frame go, if pacing is all that holds it. */
  private pacedSendMs(): number | undefined {
    if (this.probesOwed > 0 || !this.cc.canSend()) return undefined;
    if (this.retransmitQueue.length === 0 && !this.canSendNew()) return undefined;
    const at = this.cc.pacedAt(this.lastNowMs, CC_FRAME_BYTES, this.srttMs);
    return at > this.lastNowMs ? at : undefined;
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

  /** Whether new data may be packed now: queued messages, room in the window and credit (or a credit probe). */
  private canSendNew(): boolean {
    if (this.queuedMessages === 0 || seqDiff(this.nextSeq, this.sndBase) >= this.config.windowFrames) return false;
    // Without credit, one frame may still go when nothing is outstanding, as
    // TCP's persist probe: the ack it draws carries the receiver's current
    // credit, so a lost credit update cannot stall the stream for good.
    return this.creditLeft() > 0 || this.unacked === 0;
  }

  private creditLeft(): number {
    return this.sendCredit === undefined ? Number.POSITIVE_INFINITY : seqDiff(this.sendCredit, this.messagesPacked);
  }

  /** Next frame to send now, or undefined. Retransmissions go first, then new data, then a due ACK. */
  pollTransmit(now: number): OutgoingFrame | undefined {
    this.lastNowMs = now;
    const probing = this.probesOwed > 0;
    const gated = !probing && (!this.cc.canSend() || this.cc.pacedAt(now, HEADER_BYTES, this.srttMs) > now);
    while (!gated && this.retransmitQueue.length > 0) {
      const seq = this.retransmitQueue.shift()!;
      const frame = this.sent[seq & this.ringMask];
      if (frame === undefined || frame.seq !== seq || !frame.lost || frame.acked) continue; // acknowledged meanwhile
      if (probing) this.probesOwed--;
      frame.lost = false;
      frame.transmissions++;
      this.stats.retransmissions++;
      this.transmitted(now, frame);
      return this.dataFrame(frame, true);
    }
    if (!gated && this.canSendNew()) {
      if (probing) this.probesOwed--;
      const { payload, messagesCompleted, appMessagesCompleted } = this.packNextPayload();
      const frame: SentFrame = {
        seq: this.nextSeq,
        payload,
        bytes: HEADER_BYTES + payload.length,
        lastSentMs: now,
        lastTx: 0,
        transmissions: 1,
        lost: false,
        inFlight: false,
        acked: false,
        windowLimited: false,
        messagesCompleted,
        appMessagesCompleted,
      };
      if (this.unacked === 0) this.lastProgressMs = now;
      this.sent[frame.seq & this.ringMask] = frame;
      this.unacked++;
      this.nextSeq = seqAdd(this.nextSeq, 1);
      this.messagesPacked = seqAdd(this.messagesPacked, messagesCompleted);
      this.stats.messagesSent += messagesCompleted;
      this.transmitted(now, frame);
      this.maybeWritable();
      return this.dataFrame(frame, false);
    }
    const creditBlocked = this.queuedMessages > 0 && this.creditLeft() <= 0;
    if (creditBlocked && !this.creditBlockedNow) this.stats.creditBlocked++;
    this.creditBlockedNow = creditBlocked;
    if (this.ackDueMs !== undefined && this.ackDueMs <= now && this.remoteEpoch !== 0) {
      this.stats.acksSent++;
      const fields = this.ackFields();
      const info = this.ackInfo();
      info.ackDelayUs = Math.max(0, Math.min(0xffffffff, Math.round((now - this.rcvHighestAtMs) * 1000)));
      return { type: FrameType.Ack, ...fields, seq: 0, payload: encodeAck(info), retransmission: false };
    }
    return undefined;
  }

  /** Bookkeeping shared by first transmissions and retransmissions. */
  private transmitted(now: number, frame: SentFrame): void {
    frame.lastSentMs = now;
    frame.lastTx = ++this.txCounter;
    frame.inFlight = true;
    this.cc.onSent(CC_FRAME_BYTES);
    frame.windowLimited = !this.cc.canSend() || this.queuedMessages > 0;
    this.cc.onPaced(now, CC_FRAME_BYTES, this.srttMs);
    this.sendOrder.push(frame.seq, frame.lastTx);
    // Entries of frames acknowledged or re-sent since are skipped lazily; compact when they pile up.
    if (this.sendOrderHead > 4096 && this.sendOrderHead * 2 > this.sendOrder.length) {
      this.sendOrder = this.sendOrder.slice(this.sendOrderHead);
      this.sendOrderHead = 0;
    }
  }

  private dataFrame(frame: SentFrame, retransmission: boolean): OutgoingFrame {
    this.stats.framesSent++;
    this.rtoTimerStartMs ??= frame.lastSentMs;
    const fields = this.ackFields();
    const tail = fields.flags === 0 ? undefined : this.ackField(this.config.payloadBytesMax - frame.payload.length);
    return {
      type: FrameType.Data,
      flags: fields.flags,
      receiverEpoch: fields.receiverEpoch,
      ack: fields.ack,
      sack: fields.sack,
      seq: frame.seq,
      payload: frame.payload,
      payloadTail: tail === undefined || tail.length === 0 ? undefined : tail,
      retransmission,
    };
  }

  /** Acknowledgement fields for an outgoing frame; sending them satisfies any pending ack. */
  private ackFields(): { flags: number; receiverEpoch: number; ack: number; sack: number } {
    this.ackDueMs = undefined;
    this.framesSinceAck = 0;
    if (this.remoteEpoch === 0) return { flags: 0, receiverEpoch: 0, ack: 0, sack: 0 };
    let sack = 0;
    if (this.reorderCount > 0) {
      // Only up to the highest held frame: beyond it the ring's slots belong to other seqs.
      const bits = Math.min(SACK_BITS, seqDiff(this.rcvHighest, this.rcvNext));
      for (let bit = 0; bit < bits; bit++) {
        if (this.reorder[seqAdd(this.rcvNext, bit + 1) & this.ringMask] !== undefined) sack |= 1 << bit;
      }
    }
    return { flags: FrameFlag.Ack, receiverEpoch: this.remoteEpoch, ack: seqAdd(this.rcvNext, -1), sack: sack >>> 0 };
  }

  /** Ranges and credit for the current receive state (ack delay 0: the caller sets it for ACK frames). */
  private ackInfo(): AckFields & { ranges: number[] } {
    // (0 on the wire means "none stated": a credit that wrapped to exactly 0 is stated as nothing, once in 2^32 messages.)
    return { ranges: this.ranges(), ackDelayUs: 0, messageCredit: this.statedCredit() };
  }

  /** The credit to state now: what the receive state allows, never less than what was stated before. */
  private statedCredit(): number {
    const credit = this.receiveCredit();
    if (seqDiff(credit, this.creditStated) > 0) this.creditStated = credit;
    return this.creditStated;
  }

  /**
   * The piggyback field (Bundle.ack) for a DATA frame with `room` bytes to
   * spare, cached while the receive state is unchanged. When the ranges do
   * not all fit, the nearest that do ride along and an ACK frame with all of
   * them follows at once.
   */
  private ackField(room: number): Uint8Array {
    const credit = this.statedCredit();
    let cache = this.ackFieldCache;
    if (cache === undefined || cache.version !== this.receiveVersion || cache.credit !== credit) {
      const info = this.ackInfo();
      cache = { version: this.receiveVersion, credit, info, bytes: encodeBundleAckField(info) };
      this.ackFieldCache = cache;
    }
    if (cache.bytes.length <= room) return cache.bytes;
    this.ackDueMs = this.lastNowMs;
    const info = { ...cache.info };
    let bytes = cache.bytes;
    while (bytes.length > room && info.ranges.length > 0) {
      info.ranges = info.ranges.slice(0, Math.max(0, Math.min(info.ranges.length - 2, 2 * Math.floor(room / 4))));
      bytes = encodeBundleAckField(info);
    }
    return bytes.length > room ? new Uint8Array(0) : bytes;
  }

  /** Received runs above the cumulative ack as (gap, length) pairs, nearest first, at most ACK_RANGE_PAIRS_MAX pairs. */
  private ranges(): number[] {
    const ranges: number[] = [];
    if (this.reorderCount === 0) return ranges;
    const span = seqDiff(this.rcvHighest, this.rcvNext) + 1;
    let gap = 0;
    let length = 0;
    for (let i = 0; i < span; i++) {
      const have = this.reorder[seqAdd(this.rcvNext, i) & this.ringMask] !== undefined;
      if (have) {
        length++;
        continue;
      }
      if (length > 0) {
        ranges.push(gap, length);
        if (ranges.length >= 2 * ACK_RANGE_PAIRS_MAX) return ranges;
        gap = 0;
        length = 0;
      }
      gap++;
    }
    if (length > 0) ranges.push(gap, length);
    return ranges;
  }

  /** Takes whole messages that fit together (as many as the credit allows), or the next fragment of a message too large for one frame. */
  private packNextPayload(): { payload: Uint8Array; messagesCompleted: number; appMessagesCompleted: number } {
    const head = this.queue[this.queueHead]!;
    const room = this.config.payloadBytesMax - ACK_FIELD_ROOM_BYTES;
    if (this.fragmentOffset === 0 && encodedItemBytes(head.length) <= room) {
      const messages: Uint8Array[] = [];
      // A persist probe (no credit left) carries one message.
      const allowed = Math.max(1, this.creditLeft());
      let bytes = 0;
      while (this.queuedMessages > 0 && messages.length < allowed) {
        const message = this.queue[this.queueHead]!;
        const cost = encodedItemBytes(message.length);
        if (bytes + cost > room) break;
        messages.push(message);
        bytes += cost;
        this.dequeueHead();
      }
      let control = 0;
      for (const m of messages) if (this.controlMessages.has(m)) control++;
      return {
        payload: (messages.length === 1 ? bundleOfOne(messages[0]!) : undefined) ?? encodeBundle({ messages }),
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
      this.queueBytes <= this.config.sendQueueBytesMax / 2 &&
      this.queueDelayMs(this.queueBytes) <= this.config.sendQueueDelayMsMax / 2
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
    const oldest = this.frameAt(this.sndUna);
    if (oldest !== undefined && oldest.transmissions > 1) {
      return this.rtoTimerStartMs + Math.max(2 * this.srttMs, GRANULARITY_MS);
    }
    return this.rtoTimerStartMs + Math.max(2 * this.srttMs, this.config.rtoMsMin) + this.config.ackDelayMs;
  }

  private frameAt(seq: number): SentFrame | undefined {
    const frame = this.sent[seq & this.ringMask];
    return frame !== undefined && frame.seq === seq ? frame : undefined;
  }

  private forEachUnacked(visit: (frame: SentFrame) => void): void {
    for (let seq = this.sndUna; seqDiff(seq, this.nextSeq) < 0; seq = seqAdd(seq, 1)) {
      const frame = this.frameAt(seq);
      if (frame !== undefined && !frame.acked) visit(frame);
    }
  }

  /** A timer fired: `frames` probes past the congestion window and pacing, new data when there is some, else the oldest unacknowledged frames. */
  private probe(frames: number): void {
    // New data first, as RFC 9002's PTO and RFC 8985's TLP send: a first
    // transmission is unambiguous, so its ack lets loss detection judge every
    // frame sent before it at once. (Re-sending the oldest frame instead
    // repaired one frame per probe: at 30% loss the stream crawled from timer
    // to timer.)
    if (this.canSendNew() && this.creditLeft() > 0) {
      this.probesOwed = frames;
      return;
    }
    let owed = 0;
    for (let seq = this.sndUna; owed < frames && seqDiff(seq, this.nextSeq) < 0; seq = seqAdd(seq, 1)) {
      const frame = this.frameAt(seq);
      if (frame === undefined || frame.acked) continue;
      if (!frame.lost) this.markLost(frame);
      owed++;
    }
    this.probesOwed = owed;
  }

  private markLost(frame: SentFrame): void {
    frame.lost = true;
    if (frame.inFlight) {
      frame.inFlight = false;
      this.cc.onRemoved(CC_FRAME_BYTES);
    }
    this.retransmitQueue.push(frame.seq);
  }

  /**
   * RFC 9002 §6.1 on the transmission order: frames sent before the largest
   * acknowledged first transmission are lost once `packetThreshold`
   * transmissions or 9/8 RTT separate them from it; the earliest that is
   * neither arms the loss timer. Amortised O(1): each transmission is looked
   * at until it is resolved, then dropped from the order.
   */
  private detectLosses(now: number): void {
    this.lossTimeMs = undefined;
    const rtt = Math.max(this.srttMs ?? this.config.rtoMsInitial, this.latestRttMs ?? 0);
    const lossDelayMs = Math.max(TIME_THRESHOLD * rtt, GRANULARITY_MS);
    for (let i = this.sendOrderHead; i < this.sendOrder.length; i += 2) {
      const seq = this.sendOrder[i]!;
      const tx = this.sendOrder[i + 1]!;
      const frame = this.frameAt(seq);
      if (frame === undefined || frame.acked || frame.lost || frame.lastTx !== tx) {
        // Resolved: acknowledged, or declared lost or re-sent since.
        if (i === this.sendOrderHead) this.sendOrderHead += 2;
        continue;
      }
      if (tx >= this.largestAckedTxTimed) break;
      // Beyond what any ack has described (an ack lists at most 64 ranges,
      // nearest first): unknown, not missing. Declaring these lost re-sent
      // thousands of frames that had arrived, once retransmissions of low
      // seqs pushed the largest acknowledged transmission past them. They
      // stay in the order (the scan passes over them) until an ack reaches them.
      if (seqDiff(seq, this.ackReach) > 0) continue;
      // Same expression as the loss timer's deadline, so rounding cannot leave it due but not lost.
      if (
        (tx < this.largestAckedTx && this.largestAckedTx - tx >= this.config.packetThreshold) ||
        now >= frame.lastSentMs + lossDelayMs
      ) {
        if (i === this.sendOrderHead) this.sendOrderHead += 2;
        this.stats.fastRetransmissions++;
        this.markLost(frame);
        this.lossRun = frame.transmissions === 1 && seq === seqAdd(this.lastLostSeq, 1) ? this.lossRun + 1 : 1;
        this.lastLostSeq = seq;
        this.cc.onLost(now, frame.lastSentMs, this.srttMs, this.lossRun >= LOSS_RUN_CONGESTION);
        continue;
      }
      this.lossTimeMs = frame.lastSentMs + lossDelayMs;
      break;
    }
    if (this.sendOrderHead >= this.sendOrder.length) {
      this.sendOrder = [];
      this.sendOrderHead = 0;
    }
  }

  /**
   * `standalone`: an ACK frame, whose ranges are complete unless there are
   * 64 of them (a DATA frame's piggybacked ranges may have been cut to fit).
   */
  private handleAck(now: number, ack: number, sack: number, info: Ack | undefined, standalone: boolean): void {
    const highestSent = seqAdd(this.nextSeq, -1);
    if (seqDiff(ack, highestSent) > 0) {
      this.emit({ type: "violation", reason: "ack-beyond-sent" });
      return;
    }
    if (info !== undefined && info.messageCredit !== 0) {
      if (this.sendCredit === undefined || seqDiff(info.messageCredit, this.sendCredit) > 0) {
        // Out of credit, the last frame sent was a persist probe the receiver
        // may have refused (beyond-credit): with credit again, re-send it now
        // rather than when its backed-off timer fires.
        const wasBlocked = this.creditLeft() <= 0;
        this.sendCredit = info.messageCredit;
        if (wasBlocked) {
          const oldest = this.frameAt(this.sndUna);
          if (oldest !== undefined && !oldest.acked && !oldest.lost && seqDiff(oldest.seq, ack) > 0) {
            this.backoffShift = 0;
            this.markLost(oldest);
          }
        }
      }
    }
    let newestTx = 0;
    let retransmittedTx = 0;
    let newestSentMs = 0;
    let newestSeq = 0;
    let progress = false;
    const acknowledge = (frame: SentFrame) => {
      frame.acked = true;
      frame.lost = false;
      this.unacked--;
      this.ackedBytes += frame.bytes;
      progress = true;
      if (frame.inFlight) {
        frame.inFlight = false;
        this.cc.onAcked(CC_FRAME_BYTES, frame.lastSentMs, frame.windowLimited);
      }
      // Karn's rule, for RTT and for loss detection alike: the ack of a frame
      // sent more than once could answer any of its copies, so it says nothing
      // about which later transmissions have arrived. Using its latest
      // transmission here declared frames still in flight lost, and each
      // spurious retransmission fed the next (measured: 2.5x frames at 10% loss).
      if (frame.transmissions === 1 && frame.lastTx > newestTx) {
        newestTx = frame.lastTx;
        newestSentMs = frame.lastSentMs;
        newestSeq = frame.seq;
      } else if (
        frame.transmissions > 1 &&
        frame.lastTx > retransmittedTx &&
        this.cc.minRttMs !== undefined &&
        now - frame.lastSentMs >= this.cc.minRttMs
      ) {
        // RFC 8985 §6.2: an acknowledged retransmission whose latest copy
        // left at least a minimum RTT ago may be taken as that copy's
        // arrival, for loss detection only (never for RTT). Without it a
        // timeout's probe, once acknowledged, declared nothing sent before it
        // lost, and a burst lost at once was repaired one frame per timeout.
        retransmittedTx = frame.lastTx;
      }
    };
    // Cumulative part: everything from sndBase through ack leaves the ring.
    let highestAcked = ack;
    while (seqDiff(this.sndBase, ack) <= 0) {
      const frame = this.frameAt(this.sndBase);
      if (frame !== undefined) {
        if (!frame.acked) acknowledge(frame);
        this.sent[this.sndBase & this.ringMask] = undefined;
      }
      this.sndBase = seqAdd(this.sndBase, 1);
    }
    for (let bit = 0; sack !== 0 && bit < SACK_BITS; bit++) {
      if ((sack & (1 << bit)) === 0) continue;
      const seq = seqAdd(ack, bit + 2);
      if (seqDiff(seq, highestSent) > 0) break;
      const frame = this.frameAt(seq);
      if (frame !== undefined && !frame.acked) acknowledge(frame);
      if (seqDiff(seq, highestAcked) > 0) highestAcked = seq;
    }
    const ranges = info?.ranges;
    if (ranges !== undefined && ranges.length > 0) {
      let cursor = seqAdd(ack, 1);
      for (let i = 0; i + 1 < ranges.length; i += 2) {
        cursor = seqAdd(cursor, ranges[i]!);
        const length = ranges[i + 1]!;
        // Only the part that may hold unacknowledged frames is walked.
        const from = seqDiff(cursor, this.sndUna) < 0 ? this.sndUna : cursor;
        const end = seqAdd(cursor, length);
        const last = seqDiff(end, this.nextSeq) > 0 ? this.nextSeq : end;
        for (let seq = from; seqDiff(seq, last) < 0; seq = seqAdd(seq, 1)) {
          const frame = this.frameAt(seq);
          if (frame !== undefined && !frame.acked) acknowledge(frame);
        }
        if (seqDiff(seqAdd(end, -1), highestAcked) > 0) highestAcked = seqAdd(end, -1);
        cursor = end;
        if (seqDiff(cursor, this.nextSeq) >= 0) break;
      }
    }
    // How far this ack describes the receiver's state: all of it, when its
    // ranges cannot have been cut; else up to the last frame it reports.
    const complete = standalone && info !== undefined && info.ranges.length < 2 * ACK_RANGE_PAIRS_MAX;
    const reach = complete ? highestSent : highestAcked;
    if (seqDiff(reach, this.ackReach) > 0 || seqDiff(this.ackReach, highestSent) > 0) this.ackReach = reach;
    if (!progress) return;

    while (seqDiff(this.sndUna, this.nextSeq) < 0) {
      const frame = this.frameAt(this.sndUna);
      if (frame !== undefined && !frame.acked) break;
      this.sndUna = seqAdd(this.sndUna, 1);
    }
    if (seqDiff(this.sndUna, this.sndBase) < 0) this.sndUna = this.sndBase;
    // An ACK frame stating an ack delay over the allowed one was not sent for
    // the frame it reports highest (it repeats old news, e.g. answering a
    // duplicate): the time since that frame left is no RTT. (A lost ack,
    // repaired by a later one for the same frame, inflated SRTT to 54 ms on
    // loopback at 30% loss.)
    const stale = info !== undefined && info.ackDelayUs > (this.config.ackDelayMs + GRANULARITY_MS) * 1000;
    if (newestTx > 0 && !stale) {
      let sampleMs = now - newestSentMs;
      this.latestRttMs = sampleMs;
      // RFC 9002 §5.3: the ack delay belongs to the highest frame acknowledged; subtract it only where it cannot push the sample below the minimum.
      const ackDelayMs = Math.min((info?.ackDelayUs ?? 0) / 1000, this.config.ackDelayMs);
      const minRtt = this.cc.minRttMs;
      if (newestSeq === highestAcked && minRtt !== undefined && sampleMs - ackDelayMs >= minRtt) sampleMs -= ackDelayMs;
      this.cc.onRttSample(now - newestSentMs);
      this.updateRtt(sampleMs);
    }
    if (newestTx > this.largestAckedTx) this.largestAckedTx = newestTx;
    if (retransmittedTx > this.largestAckedTxTimed) this.largestAckedTxTimed = retransmittedTx;
    if (this.largestAckedTx > this.largestAckedTxTimed) this.largestAckedTxTimed = this.largestAckedTx;
    this.backoffShift = 0;
    this.rtoTimerStartMs = this.unacked === 0 ? undefined : now;
    this.probeAvailable = true;
    this.lastProgressMs = now;
    if (this.unresponsive) {
      this.unresponsive = false;
      this.emit({ type: "responsive" });
    }
    this.detectLosses(now);
    this.sampleDrain(now);
    this.maybeWritable();
  }

  /**
   * Measures how fast the queue drains while it is backlogged (bytes acked
   * per ms), the rate behind the queue's time bound. An idle or app-limited
   * stream is not measured: its rate says nothing about what the path takes.
   */
  private sampleDrain(now: number): void {
    if (this.queuedMessages === 0) {
      this.drainSampleStartMs = undefined;
      return;
    }
    if (this.drainSampleStartMs === undefined) {
      this.drainSampleStartMs = now;
      this.drainSampleMark = this.ackedBytes;
      return;
    }
    const elapsed = now - this.drainSampleStartMs;
    if (elapsed < Math.max(DRAIN_SAMPLE_MS, this.srttMs ?? 0)) return;
    const rate = (this.ackedBytes - this.drainSampleMark) / elapsed;
    this.drainBytesPerMs = this.drainBytesPerMs === undefined ? rate : 0.5 * this.drainBytesPerMs + 0.5 * rate;
    this.drainSampleStartMs = now;
    this.drainSampleMark = this.ackedBytes;
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

  private handleData(now: number, seq: number, bundle: Bundle): FrameRefusal | undefined {
    const distance = seqDiff(seq, this.rcvNext);
    if (distance === 0 && this.messagesHeld > 0) {
      // Flow control: a frame completing messages past the credit stated
      // while the owner still holds messages its application has not taken
      // (a sender's persist probe, or one ignoring its credit) is refused,
      // and the ack sent at once tells the sender its credit.
      const completes = bundle.messages.length + (bundle.fragment === undefined ? 0 : 1);
      if (seqDiff(seqAdd(this.messagesReceived, completes), this.creditStated) > 0) {
        this.ackDueMs = now;
        return "beyond-credit";
      }
    }
    const slot = seq & this.ringMask;
    if (distance < 0 || (distance > 0 && this.reorder[slot] !== undefined)) {
      // Our ack was probably lost; answer at once so the sender stops re-sending.
      this.stats.duplicatesReceived++;
      this.ackDueMs = now;
      return undefined;
    }
    // A frame that opens a hole (the first above rcvNext, or one past the
    // highest held) or lands inside one (a repair) is acknowledged at once, so
    // the sender can repair or sees the repair. Frames that merely extend the
    // run above a hole wait for ackAfterFrames like in-order ones: acking each
    // doubled both ends' CPU per frame under loss.
    const urgent = distance > 0 && (this.reorderCount === 0 || seqDiff(seq, this.rcvHighest) !== 1);
    if (this.reorderCount === 0 || seqDiff(seq, this.rcvHighest) > 0) {
      if (distance > 0) this.rcvHighest = seq;
      this.rcvHighestAtMs = now;
    }
    this.receiveVersion++;
    if (distance > 0) {
      this.reorder[slot] = bundle;
      this.reorderCount++;
      this.framesSinceAck++;
      const due = urgent || this.framesSinceAck >= this.config.ackAfterFrames ? now : now + this.config.ackDelayMs;
      if (this.ackDueMs === undefined || due < this.ackDueMs) this.ackDueMs = due;
      return undefined;
    }
    // RFC 5681 4.2: a frame that fills a gap is acknowledged at once.
    const filledGap = this.reorderCount > 0;
    this.deliver(bundle);
    this.rcvNext = seqAdd(this.rcvNext, 1);
    for (let next = this.reorder[this.rcvNext & this.ringMask]; next !== undefined; ) {
      this.reorder[this.rcvNext & this.ringMask] = undefined;
      this.reorderCount--;
      this.deliver(next);
      this.rcvNext = seqAdd(this.rcvNext, 1);
      next = this.reorder[this.rcvNext & this.ringMask];
    }
    this.framesSinceAck++;
    const due = filledGap || this.framesSinceAck >= this.config.ackAfterFrames ? now : now + this.config.ackDelayMs;
    if (this.ackDueMs === undefined || due < this.ackDueMs) this.ackDueMs = due;
    return undefined;
  }

  private deliver(bundle: Bundle): void {
    for (const message of bundle.messages) {
      if (this.reassembly !== undefined) this.abandonReassembly("fragment-out-of-sequence");
      this.delivered(message);
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
      this.delivered(r.buffer);
    }
  }

  private delivered(message: Uint8Array): void {
    this.stats.messagesDelivered++;
    this.messagesReceived = seqAdd(this.messagesReceived, 1);
    this.emit({ type: "delivered", message });
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
      this.forEachUnacked((frame) => {
        if (!frame.lost) this.markLost(frame);
      });
      this.lastProgressMs = now;
      // Answer at once, not after ackDelayMs: the peer counts my process up
      // for its failure detector only from a frame carrying its epoch, and a
      // process that died within that delay (killed right after READY) was
      // never known to the peer's detector, so never declared failed there.
      this.ackDueMs = now;
      return;
    }
    this.retiredEpochs.push(oldEpoch);
    if (this.retiredEpochs.length > RETIRED_EPOCHS_MAX) this.retiredEpochs.shift();
    let messagesDropped = 0;
    for (let i = this.queueHead; i < this.queue.length; i++)
      if (!this.controlMessages.has(this.queue[i]!)) messagesDropped++;
    // Everything not cumulatively acknowledged, selectively acknowledged
    // included: received above a hole but never delivered, the old process took it with it.
    for (let seq = this.sndBase; seqDiff(seq, this.nextSeq) < 0; seq = seqAdd(seq, 1)) {
      const frame = this.frameAt(seq);
      if (frame !== undefined) messagesDropped += frame.appMessagesCompleted;
    }
    this.sent.fill(undefined);
    this.unacked = 0;
    this.sendOrder = [];
    this.sendOrderHead = 0;
    this.largestAckedTx = 0;
    this.largestAckedTxTimed = 0;
    this.ackReach = seqAdd(this.config.initialSeq, -1);
    this.lossTimeMs = undefined;
    this.probesOwed = 0;
    this.retransmitQueue.length = 0;
    this.queue = [];
    this.queueHead = 0;
    this.queueBytes = 0;
    this.fragmentOffset = 0;
    this.nextSeq = this.config.initialSeq;
    this.sndBase = this.config.initialSeq;
    this.sndUna = this.config.initialSeq;
    this.messagesPacked = 0;
    this.sendCredit = undefined;
    this.drainSampleStartMs = undefined;
    this.cc.reset();
    this.rtoTimerStartMs = undefined;
    this.rcvNext = this.config.initialSeq;
    this.reorder.fill(undefined);
    this.reorderCount = 0;
    this.receiveVersion++;
    this.reassembly = undefined;
    this.ackDueMs = undefined;
    this.framesSinceAck = 0;
    this.messagesReceived = 0;
    this.messagesHeld = 0;
    this.creditStated = this.config.receiveCreditMessages;
    this.srttMs = undefined;
    this.latestRttMs = undefined;
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
