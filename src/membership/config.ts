/**
 * Tunables of the failure detector (docs/membership.md). Defaults suit a LAN
 * or one host's containers: a crashed member is declared failed by everyone
 * in about 1-2 s at 20 members.
 */
export interface MembershipConfig {
  /** False: no probes, no membership events; bootstrap and messaging only. */
  enabled: boolean;
  /** One probe per period, each to the next member of a shuffled round (SWIM's protocol period). */
  protocolPeriodMs: number;
  /** How long a direct probe waits for its ACK before asking helpers; below the period. */
  probeTimeoutMs: number;
  /** Helpers asked to probe a member that did not answer directly (SWIM's k). 0: no indirect probes. */
  indirectProbes: number;
  /**
   * Suspicion timeout, in protocol periods per log10(group size): a suspected
   * member not refuting within `suspicionMult × log10(N) × period` is failed
   * (memberlist's SuspicionMult). The timeout starts `suspicionMaxMult`
   * times longer and shrinks as other members confirm the suspicion (Lifeguard).
   */
  suspicionMult: number;
  /** Suspicion starts at this multiple of the shortest timeout. */
  suspicionMaxMult: number;
  /** Each update is piggybacked about `retransmitMult × log10(N + 1)` times (SWIM's λ). */
  retransmitMult: number;
  /**
   * Lifeguard's local health ceiling: each missed ACK or NACK of my own
   * probes, and each refutation I must send, stretches my period and probe
   * timeout by one more multiple, up to this many; each answered probe
   * shrinks them again.
   */
  healthMax: number;
  /** While there is news, it is pushed this often to `gossipFanout` random members besides piggybacking on probes. */
  gossipIntervalMs: number;
  gossipFanout: number;
}

export const DEFAULT_MEMBERSHIP_CONFIG: Readonly<MembershipConfig> = {
  enabled: true,
  protocolPeriodMs: 200,
  probeTimeoutMs: 100,
  indirectProbes: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  retransmitMult: 4,
  healthMax: 8,
  gossipIntervalMs: 100,
  gossipFanout: 3,
};

/** Bounds that keep a misconfiguration from flooding the network or never detecting anything. */
const LIMITS: Record<Exclude<keyof MembershipConfig, "enabled">, [min: number, max: number, integer: boolean]> = {
  protocolPeriodMs: [10, 60_000, false],
  probeTimeoutMs: [1, 60_000, false],
  indirectProbes: [0, 16, true],
  suspicionMult: [1, 100, false],
  suspicionMaxMult: [1, 100, false],
  retransmitMult: [1, 100, true],
  healthMax: [0, 100, true],
  gossipIntervalMs: [10, 60_000, false],
  gossipFanout: [1, 16, true],
};

/** Throws a RangeError naming the setting for a configuration that cannot work. */
export function checkMembershipConfig(c: MembershipConfig): void {
  for (const [name, [min, max, integer]] of Object.entries(LIMITS)) {
    const v = c[name as keyof typeof LIMITS];
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
      throw new RangeError(`${name} must be ${integer ? "an integer" : "a number"} in ${min}..${max}, got ${v}`);
  }
  if (c.probeTimeoutMs >= c.protocolPeriodMs)
    throw new RangeError(
      `probeTimeoutMs (${c.probeTimeoutMs}) must be below protocolPeriodMs (${c.protocolPeriodMs}): a probe ends with its period`,
    );
}

/**
 * Shortest and longest suspicion timeouts for a group of `members` (me
 * included), as memberlist computes them: log10 of the group size, at least 1.
 */
export function suspicionTimeoutsMs(c: MembershipConfig, members: number): { minMs: number; maxMs: number } {
  const minMs = c.suspicionMult * Math.max(1, Math.log10(Math.max(1, members))) * c.protocolPeriodMs;
  return { minMs, maxMs: c.suspicionMaxMult * minMs };
}

/**
 * Time within which every live member declares a crashed one failed, whatever
 * the loss, provided nothing refutes it: its own round reaches the crashed
 * member within two rounds of `members - 1` periods, each stretched by local
 * health at most `healthMax + 1` times, then the longest suspicion timeout.
 * docs/membership.md derives it; the simulator's completeness checker uses it.
 */
export function detectionBoundMs(c: MembershipConfig, members: number): number {
  const periodMaxMs = c.protocolPeriodMs * (c.healthMax + 1);
  return 2 * Math.max(1, members - 1) * periodMaxMs + periodMaxMs + suspicionTimeoutsMs(c, members).maxMs;
}
