import { PAYLOAD_BYTES_MAX } from "../wire/frame.ts";

/**
 * Tunables of the reliability layer. Every queue and window here is bounded;
 * the comment on each says what happens at the limit.
 */
export interface SessionConfig {
  /**
   * Most DATA frames between the cumulative acknowledgement and the newest
   * sent (the sender's window), and the receiver's reorder window. Both sides
   * should use the same value. At the limit the sender stops taking frames
   * from its queue until acks arrive; the receiver drops (and does not
   * acknowledge) frames beyond its window. Acknowledgement ranges reach over
   * the whole window; the congestion window usually limits first.
   */
  windowFrames: number;
  /** Congestion window at start and after a peer restarts, in frames (RFC 9002: 10). */
  initialWindowFrames: number;
  /**
   * Queueing delay (smoothed RTT above the minimum) below which a loss is
   * taken as random and does not halve the congestion window
   * (src/reliability/congestion.ts explains).
   */
  queueDelayMsMin: number;
  /**
   * Flow control: messages this peer may have delivered but not yet taken by
   * the application, per sender. It is stated to the sender as credit; a
   * sender out of credit waits (one frame at a time probes for more).
   */
  receiveCreditMessages: number;
  /**
   * Most expected waiting time in the send queue, at the rate it has been
   * draining: past it `send` returns `queue-full` (and `writable` follows at
   * half), so a sender that outruns the path learns it in milliseconds, not
   * after its messages waited seconds. (20 ms kept a loopback sender at 80%
   * of saturation at p50 17 ms; 5 ms, at 0.5 ms.)
   */
  sendQueueDelayMsMax: number;
  /** Most messages waiting to be sent to one peer; at the limit `send` returns `queue-full`. */
  sendQueueMessagesMax: number;
  /** Most bytes waiting to be sent to one peer; at the limit `send` returns `queue-full`. */
  sendQueueBytesMax: number;
  /**
   * Largest message, after encoding, that can be sent or reassembled. Larger
   * sends are refused with `too-large`; a larger incoming fragmented message is
   * dropped and counted.
   */
  messageBytesMax: number;
  /** Retransmission timeout before any RTT sample (RFC 6298 uses 1 s; loopback and LANs need far less). */
  rtoMsInitial: number;
  /** Lower bound of the retransmission timeout. */
  rtoMsMin: number;
  /** Upper bound of the retransmission timeout, exponential backoff included: a silent peer gets at most one probe per this interval. */
  rtoMsMax: number;
  /** How long a lone in-order frame may wait for its acknowledgement to ride on outgoing data. */
  ackDelayMs: number;
  /**
   * In-order frames received before an acknowledgement is sent at once
   * (TCP and QUIC use 2). Gaps, duplicates and gap fills are acknowledged at
   * once regardless. 8 lets a sender refill the window in batches: on loopback
   * it raised one-message-per-datagram throughput from 61k to 82k frames/s.
   */
  ackAfterFrames: number;
  /** A frame is declared lost when a frame sent this many transmissions later is acknowledged (QUIC's packet threshold). */
  packetThreshold: number;
  /** After this long without acknowledgement progress while data is outstanding, the peer is reported unresponsive. */
  unresponsiveMs: number;
  /** First sequence number of every epoch; 1 on the wire. Tests move it to exercise wraparound; both sides must agree. */
  initialSeq: number;
  /**
   * Largest frame body the session packs messages into. The peer lowers it
   * in key mode, where the seal takes 36 bytes of the frame; larger messages
   * travel in fragments of this size.
   */
  payloadBytesMax: number;
}

export const DEFAULT_SESSION_CONFIG: Readonly<SessionConfig> = {
  windowFrames: 1024,
  initialWindowFrames: 10,
  queueDelayMsMin: 4,
  receiveCreditMessages: 65_536,
  sendQueueDelayMsMax: 5,
  sendQueueMessagesMax: 16_384,
  sendQueueBytesMax: 16 * 1024 * 1024,
  messageBytesMax: 1024 * 1024,
  rtoMsInitial: 100,
  rtoMsMin: 2,
  rtoMsMax: 1000,
  ackDelayMs: 2,
  ackAfterFrames: 8,
  packetThreshold: 3,
  unresponsiveMs: 5000,
  initialSeq: 1,
  payloadBytesMax: PAYLOAD_BYTES_MAX,
};

/** Smallest `payloadBytesMax`: room for a fragment's fields and some data. */
const PAYLOAD_BYTES_MIN = 256;

/** Windows must stay far below 2^31 for serial-number comparisons to hold. */
export const WINDOW_FRAMES_MAX = 4096;

/** Throws a clear error for a configuration that cannot work. */
export function checkSessionConfig(c: SessionConfig): void {
  const positive = (name: keyof SessionConfig) => {
    if (!(Number.isFinite(c[name]) && c[name] > 0))
      throw new RangeError(`${name} must be a positive number, got ${c[name]}`);
  };
  for (const key of Object.keys(DEFAULT_SESSION_CONFIG) as (keyof SessionConfig)[]) {
    if (key !== "initialSeq") positive(key);
  }
  if (c.windowFrames > WINDOW_FRAMES_MAX) throw new RangeError(`windowFrames must be at most ${WINDOW_FRAMES_MAX}`);
  if (!Number.isInteger(c.receiveCreditMessages) || c.receiveCreditMessages > 2 ** 30)
    throw new RangeError("receiveCreditMessages must be an integer of at most 2^30");
  if (c.rtoMsMin > c.rtoMsMax) throw new RangeError("rtoMsMin must not exceed rtoMsMax");
  if (
    !Number.isInteger(c.payloadBytesMax) ||
    c.payloadBytesMax < PAYLOAD_BYTES_MIN ||
    c.payloadBytesMax > PAYLOAD_BYTES_MAX
  )
    throw new RangeError(`payloadBytesMax must be an integer in ${PAYLOAD_BYTES_MIN}..${PAYLOAD_BYTES_MAX}`);
  if (!Number.isInteger(c.initialSeq) || c.initialSeq < 0 || c.initialSeq > 0xffffffff) {
    throw new RangeError("initialSeq must be a 32-bit unsigned integer");
  }
}
