/**
 * Lines for `--multicast-stdin` tests (processes and containers): each
 * writer multicasts `p<id>-<n>` lines, so that what every peer delivered can
 * be checked for FIFO order, duplicates and gaps.
 */
import { expect } from "bun:test";
import type { FileSink } from "bun";

export interface LineWriter {
  stop: () => Promise<void>;
  /** The number of the last line written. */
  written: () => number;
}

/**
 * Writes `p<id>-<n>` lines to `stdin`, one every 5 ms, while `running()`
 * holds and until stopped; `n` goes on from `after` (a restarted peer's
 * lines then still rise, so FIFO holds across its processes).
 */
export function writeLines(id: number, stdin: FileSink, running: () => boolean, after = 0): LineWriter {
  let n = after;
  let stopped = false;
  const loop = (async () => {
    while (!stopped && running()) {
      try {
        stdin.write(`p${id}-${++n}\n`);
        await stdin.flush();
      } catch {
        return; // the reader is gone (killed)
      }
      await Bun.sleep(5);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
    written: () => n,
  };
}

/** FIFO per sender and no duplicate: each sender's line numbers strictly increase. */
export function expectFifo(bodies: string[]): void {
  const last = new Map<string, number>();
  for (const b of bodies) {
    const [sender, n] = b.split("-");
    expect(Number(n)).toBeGreaterThan(last.get(sender!) ?? 0);
    last.set(sender!, Number(n));
  }
}
