/**
 * Anti-replay window over packet numbers (RFC 6479's bitmap, WireGuard's
 * use of it): a packet number is accepted once, and only if it is no more
 * than `REPLAY_WINDOW - 1` below the highest accepted so far. Older ones are
 * refused as replays even when they were never seen: the sender's
 * retransmissions carry new packet numbers, so only a datagram delayed past
 * 1024 newer ones is lost this way.
 */

/** Packet numbers remembered below the highest; at the limit older ones are refused. */
export const REPLAY_WINDOW = 1024;
const WORDS = REPLAY_WINDOW / 32;

export class ReplayWindow {
  /** Highest packet number accepted, 0 before the first. */
  private highest = 0;
  /** Bit `pn % REPLAY_WINDOW` set: pn was accepted (for pn within the window). */
  private readonly seen = new Uint32Array(WORDS);

  /** True when `pn` was accepted before, or is too old to tell. */
  isReplay(pn: number): boolean {
    if (pn > this.highest) return false;
    if (this.highest - pn >= REPLAY_WINDOW) return true;
    const bit = pn % REPLAY_WINDOW;
    return (this.seen[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** Records `pn` as accepted; call only after `isReplay(pn)` was false. */
  record(pn: number): void {
    if (pn > this.highest) {
      if (pn - this.highest >= REPLAY_WINDOW) this.seen.fill(0);
      else for (let n = this.highest + 1; n < pn; n++) this.clear(n % REPLAY_WINDOW);
      this.highest = pn;
    }
    const bit = pn % REPLAY_WINDOW;
    this.seen[bit >>> 5]! |= 1 << (bit & 31);
  }

  private clear(bit: number): void {
    this.seen[bit >>> 5]! &= ~(1 << (bit & 31));
  }
}
