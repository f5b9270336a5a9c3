/**
 * Serial-number arithmetic for 32-bit sequence numbers (RFC 1982 style).
 *
 * Sequence numbers wrap from 0xFFFFFFFF to 0. Two numbers compare by the sign
 * of their 32-bit difference, which is correct as long as the numbers being
 * compared are less than 2^31 apart; the reliability layer keeps every window
 * far smaller than that (see `WINDOW_FRAMES_MAX`).
 */

/** `a - b` as a signed 32-bit distance: positive when `a` is after `b`. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** True when `a` comes strictly before `b` in serial order. */
export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

/** True when `a` comes before or equals `b` in serial order. */
export function seqLe(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}

/** `a + n` modulo 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
