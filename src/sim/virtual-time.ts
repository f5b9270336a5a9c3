/**
 * Virtual time for the simulator: a `Scheduler` whose clock moves only when
 * the next event is taken from its queue, so thousands of simulated seconds
 * run in one real second and every run is replayable.
 */
import type { Cancel, Scheduler } from "../runtime/scheduler.ts";
import { MinHeap } from "../util/heap.ts";

interface Item {
  at: number;
  /** Insertion order: events due at the same time run in the order they were scheduled. */
  order: number;
  fn: () => void;
  live: boolean;
}

export class VirtualScheduler implements Scheduler {
  /** Events run so far (timers and "soon" work alike). */
  steps = 0;
  private nowMs = 0;
  private order = 0;
  private readonly queue = new MinHeap<Item>((a, b) => (a.at === b.at ? a.order < b.order : a.at < b.at));
  private soonQueue: (() => void)[] = [];

  now(): number {
    return this.nowMs;
  }

  at(atMs: number, fn: () => void): Cancel {
    const item: Item = { at: Math.max(atMs, this.nowMs), order: this.order++, fn, live: true };
    this.queue.push(item);
    return () => {
      item.live = false;
    };
  }

  soon(fn: () => void): void {
    this.soonQueue.push(fn);
  }

  /** Time of the next live event, or undefined when none is left. */
  peek(): number | undefined {
    for (let top = this.queue.peek(); top !== undefined; top = this.queue.peek()) {
      if (top.live) return top.at;
      this.queue.pop();
    }
    return undefined;
  }

  /**
   * Runs events in time order until none is left, the next is after
   * `untilMs`, `stepsMax` events have run, or `stop()` returns true (asked
   * after every event). Returns why it stopped.
   */
  run(limits: { untilMs: number; stepsMax: number; stop?: () => boolean }): "idle" | "time" | "steps" | "stopped" {
    this.runSoon();
    for (;;) {
      if (this.steps >= limits.stepsMax) return "steps";
      const next = this.peek();
      if (next === undefined) return "idle";
      if (next > limits.untilMs) {
        this.nowMs = Math.max(this.nowMs, limits.untilMs);
        return "time";
      }
      const item = this.queue.pop()!;
      this.nowMs = item.at;
      this.steps++;
      item.fn();
      this.runSoon();
      if (limits.stop?.()) return "stopped";
    }
  }

  private runSoon(): void {
    while (this.soonQueue.length > 0) {
      const batch = this.soonQueue;
      this.soonQueue = [];
      for (const fn of batch) {
        this.steps++;
        fn();
      }
    }
  }
}
