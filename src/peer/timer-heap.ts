import { MinHeap } from "../util/heap.ts";

/**
 * Deadlines of many keys with cheap "earliest" queries: a min-heap with lazy
 * deletion. Re-scheduling a key pushes a new entry and leaves the old one to be
 * skipped when it surfaces, so every operation is O(log n).
 */
export class TimerHeap {
  private readonly heap = new MinHeap<{ at: number; key: number }>((a, b) => a.at < b.at);
  private readonly current = new Map<number, number>();

  /** Sets (or clears, with undefined) the deadline of `key`. */
  set(key: number, at: number | undefined): void {
    if (at === undefined) {
      this.current.delete(key);
      return;
    }
    if (this.current.get(key) === at) return;
    this.current.set(key, at);
    this.heap.push({ at, key });
    // Stale entries are bounded: rebuild when they outnumber live ones 4 to 1.
    if (this.heap.size > 64 && this.heap.size > 4 * this.current.size) {
      this.heap.clear();
      for (const [k, a] of this.current) this.heap.push({ at: a, key: k });
    }
  }

  /** Earliest live deadline, or undefined. */
  peek(): number | undefined {
    this.dropStale();
    return this.heap.peek()?.at;
  }

  /** Removes and returns every key whose deadline is at or before `now`. */
  popDue(now: number): number[] {
    const due: number[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap.peek();
      if (top === undefined || top.at > now) return due;
      this.heap.pop();
      this.current.delete(top.key);
      due.push(top.key);
    }
  }

  private dropStale(): void {
    for (
      let top = this.heap.peek();
      top !== undefined && this.current.get(top.key) !== top.at;
      top = this.heap.peek()
    ) {
      this.heap.pop();
    }
  }
}
