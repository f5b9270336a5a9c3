/**
 * Congestion control and pacing for one stream, sans-I/O: NewReno as RFC 9002
 * §7 gives it (slow start, one reduction per recovery period, congestion
 * avoidance, persistent congestion), counted in bytes, with pacing per §7.7.
 *
 * One deliberate departure, for links that lose datagrams without being
 * congested (radio, overlays, the simulator's and `--chaos`'s random loss):
 * a loss reduces the window only when the smoothed RTT shows a queue, that is
 * when it exceeds the path's minimum RTT by `queueDelayMsMin` or a quarter of
 * the minimum, whichever is larger (as TCP Veno and Westwood tell random from
 * congestive loss), or when the session reports it ends a run of consecutive
 * losses (a full buffer drops runs). Without that, 10% random loss pins
 * NewReno near its minimum window (RFC 3649's response function gives about
 * 4 datagrams per RTT), although nothing is congested. A path that drops
 * everything is answered by the persistent-congestion rule regardless.
 * docs/reliability.md discusses what this gives up.
 */

/** Tunables; the session fills them from its config. */
export interface CongestionConfig {
  /** Largest datagram, bytes (RFC 9002's max_datagram_size). */
  datagramBytesMax: number;
  /** Window at start and after a restart, in datagrams (RFC 9002 §7.2 uses 10). */
  initialWindowDatagrams: number;
  /** Floor of the window, in datagrams (RFC 9002 §7.2: 2). */
  minimumWindowDatagrams: number;
  /** Ceiling of the window, bytes: the stream window (frames) times the largest datagram. At the ceiling the window stops growing. */
  windowBytesMax: number;
  /** Queueing delay above the minimum RTT below which a loss is taken as random, not congestive. */
  queueDelayMsMin: number;
}

/** Counters for logs and benchmarks. */
export interface CongestionStats {
  /** Losses that reduced the window (one per recovery period). */
  congestionEvents: number;
  /** Losses taken as random (no queue in the RTT): the window was kept. */
  randomLosses: number;
  /** Times the window collapsed to its minimum after consecutive timeouts. */
  persistentCongestion: number;
}

/** RFC 9002 §7.3.2: NewReno halves the window. */
const LOSS_REDUCTION = 0.5;
/** RFC 9002 §7.7: pace at 1.25 times cwnd per RTT, so pacing never limits below the window. */
const PACING_GAIN = 1.25;
/** A burst of this many milliseconds of the pacing rate may leave at once: timers fire no finer than about 1 ms. */
const PACING_QUANTUM_MS = 2;

export class CongestionController {
  cwndBytes: number;
  ssthreshBytes = Number.POSITIVE_INFINITY;
  bytesInFlight = 0;
  /** Lowest RTT seen, ms; reset by persistent congestion (RFC 9002 §5.2). */
  minRttMs: number | undefined;

  /** Losses of datagrams sent before this time belong to the current recovery period (RFC 9002 §7.3.2). */
  private recoveryStartMs = Number.NEGATIVE_INFINITY;
  private paceTokensBytes: number;
  private paceLastMs: number | undefined;

  constructor(
    private readonly config: CongestionConfig,
    /** Where the counters go (the session shares its own stats object). */
    readonly stats: CongestionStats = { congestionEvents: 0, randomLosses: 0, persistentCongestion: 0 },
  ) {
    this.cwndBytes = this.initialWindow();
    this.paceTokensBytes = this.cwndBytes;
  }

  private initialWindow(): number {
    return Math.min(this.config.initialWindowDatagrams * this.config.datagramBytesMax, this.config.windowBytesMax);
  }

  private minimumWindow(): number {
    return Math.min(this.config.minimumWindowDatagrams * this.config.datagramBytesMax, this.config.windowBytesMax);
  }

  /** Whether the window has room for another datagram. With nothing in flight there always is: a window never stalls the stream. */
  canSend(): boolean {
    return this.bytesInFlight === 0 || this.bytesInFlight < this.cwndBytes;
  }

  onSent(bytes: number): void {
    this.bytesInFlight += bytes;
  }

  /** A datagram left flight without being acknowledged (declared lost, or dropped by a restart). */
  onRemoved(bytes: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
  }

  /** An RTT sample (already corrected for ack delay) for the minimum. */
  onRttSample(sampleMs: number): void {
    if (this.minRttMs === undefined || sampleMs < this.minRttMs) this.minRttMs = sampleMs;
  }

  /**
   * A datagram sent at `sentMs` was acknowledged. The window grows only when
   * it was what limited the sender (`windowLimited`, RFC 9002 §7.8) and not
   * for datagrams sent before the current recovery began.
   */
  onAcked(bytes: number, sentMs: number, windowLimited: boolean): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
    if (sentMs <= this.recoveryStartMs || !windowLimited) return;
    if (this.cwndBytes < this.ssthreshBytes) this.cwndBytes += bytes;
    else this.cwndBytes += (this.config.datagramBytesMax * bytes) / this.cwndBytes;
    if (this.cwndBytes > this.config.windowBytesMax) this.cwndBytes = this.config.windowBytesMax;
  }

  /** True when the smoothed RTT shows a queue on the path (see the file comment). */
  queueing(srttMs: number | undefined): boolean {
    if (srttMs === undefined || this.minRttMs === undefined) return true;
    return srttMs - this.minRttMs > Math.max(this.config.queueDelayMsMin, this.minRttMs / 4);
  }

  /**
   * A datagram sent at `sentMs` was declared lost (it has already been
   * removed from flight). Starts a recovery period unless one covers it.
   * `burst`: it ends a run of consecutive losses, which a full buffer
   * causes: congestion, whatever the RTT shows.
   */
  onLost(now: number, sentMs: number, srttMs: number | undefined, burst = false): void {
    if (sentMs <= this.recoveryStartMs) return;
    if (!burst && !this.queueing(srttMs)) {
      this.stats.randomLosses++;
      return;
    }
    this.stats.congestionEvents++;
    this.recoveryStartMs = now;
    this.ssthreshBytes = Math.max(this.cwndBytes * LOSS_REDUCTION, this.minimumWindow());
    this.cwndBytes = this.ssthreshBytes;
  }

  /** RFC 9002 §7.6.2: everything sent over several RTOs was lost; start over from the minimum window. */
  onPersistentCongestion(now: number): void {
    this.stats.persistentCongestion++;
    this.recoveryStartMs = now;
    this.cwndBytes = this.minimumWindow();
    this.minRttMs = undefined;
  }

  /** The peer restarted: a new path state, as at start. */
  reset(): void {
    this.cwndBytes = this.initialWindow();
    this.ssthreshBytes = Number.POSITIVE_INFINITY;
    this.bytesInFlight = 0;
    this.minRttMs = undefined;
    this.recoveryStartMs = Number.NEGATIVE_INFINITY;
    this.paceTokensBytes = this.cwndBytes;
    this.paceLastMs = undefined;
  }

  /**
   * Pacing (RFC 9002 §7.7) as a token bucket: the earliest time a datagram
   * of `bytes` may leave; `now` when it may leave at once. Without an RTT
   * estimate nothing is paced (the initial window goes out as a burst, as
   * RFC 9002 allows).
   */
  pacedAt(now: number, bytes: number, srttMs: number | undefined): number {
    if (srttMs === undefined) return now;
    this.refill(now, srttMs);
    if (this.paceTokensBytes >= bytes) return now;
    return now + (bytes - this.paceTokensBytes) / this.paceRate(srttMs);
  }

  /** Takes a sent datagram's bytes from the pacing bucket (may go negative by one datagram). */
  onPaced(now: number, bytes: number, srttMs: number | undefined): void {
    if (srttMs === undefined) return;
    this.refill(now, srttMs);
    this.paceTokensBytes -= bytes;
  }

  private paceRate(srttMs: number): number {
    return (PACING_GAIN * this.cwndBytes) / Math.max(srttMs, 0.001);
  }

  private refill(now: number, srttMs: number): void {
    const rate = this.paceRate(srttMs);
    const burst = Math.max(this.config.initialWindowDatagrams * this.config.datagramBytesMax, rate * PACING_QUANTUM_MS);
    if (this.paceLastMs !== undefined && now > this.paceLastMs) this.paceTokensBytes += (now - this.paceLastMs) * rate;
    if (this.paceLastMs === undefined || now > this.paceLastMs) this.paceLastMs = now;
    if (this.paceTokensBytes > burst) this.paceTokensBytes = burst;
  }
}
