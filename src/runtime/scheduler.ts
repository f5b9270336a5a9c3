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
    const timer = setTimeout(fn, Math.max(0, atMs - performance.now()));
    return () => clearTimeout(timer);
  },
  soon: (fn) => queueMicrotask(fn),
};
