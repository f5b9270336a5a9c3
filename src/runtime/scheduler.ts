/**
 * Time for the drive loop: a clock, one-shot timers and "soon". The real
 * scheduler uses `performance.now()`, `setTimeout` and microtasks; the
 * simulator supplies a virtual one, so the same loop runs on either.
 */

/** Cancels a timer; calling it after the timer ran does nothing. */
export type Cancel = () => void;

export interface Scheduler {
  /** Current time in milliseconds, on any monotonic origin. */
  now(): number;
  /** Runs `fn` once at `atMs` (or as soon as possible when that is past). */
  at(atMs: number, fn: () => void): Cancel;
  /** Runs `fn` after the current input has been handled, before time moves on. */
  soon(fn: () => void): void;
}

/** Wall-clock time for real sockets. */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  at(atMs, fn) {
    // The timer's work waits for one turn of the event loop (setImmediate),
    // so datagrams that arrived while the process was busy are read first:
    // a retransmission timer firing ahead of the acks waiting in the socket
    // re-sent frames that had arrived and, twice in a row, collapsed the
    // congestion window (loopback under load: dozens of spurious timeouts a second).
    let immediate: ReturnType<typeof setImmediate> | undefined;
    const timer = setTimeout(
      () => {
        immediate = setImmediate(fn);
      },
      Math.max(0, atMs - performance.now()),
    );
    return () => {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    };
  },
  soon: (fn) => queueMicrotask(fn),
};
