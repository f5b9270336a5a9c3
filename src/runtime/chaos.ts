/**
 * Fault injection as a wrapper around any transport (`--chaos`, benchmarks,
 * tests on real sockets): outgoing datagrams are dropped, duplicated,
 * corrupted or delayed by the same fault model the simulator uses. Faults
 * are applied inside the batch, so a lossy run still sends with one
 * `sendMany` per flush and differs from a lossless one by the faults alone.
 */
import { applyFaults, type LinkFaults } from "./faults.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Datagram, Transport, TransportHandlers } from "./transport.ts";

/** Datagrams held back by a delay at once; past this, further delayed ones are dropped (and counted). */
const DELAYED_DATAGRAMS_MAX = 10_000;

export interface ChaosStats {
  dropped: number;
  duplicated: number;
  corrupted: number;
  delayed: number;
}

export class ChaosTransport<A> implements Transport<A> {
  readonly stats: ChaosStats = { dropped: 0, duplicated: 0, corrupted: 0, delayed: 0 };
  private delayedNow = 0;
  private closed = false;

  constructor(
    private readonly inner: Transport<A>,
    readonly faults: LinkFaults,
    private readonly scheduler: Scheduler,
    private readonly random: () => number = Math.random,
  ) {}

  get localAddress(): string {
    return this.inner.localAddress;
  }

  listen(handlers: TransportHandlers<A>): void {
    this.inner.listen(handlers);
  }

  send(batch: readonly Datagram<A>[]): number {
    const out: Datagram<A>[] = [];
    /** For each input datagram, the index in `out` of its first copy, to map a partial send back to inputs. */
    const firstOut: number[] = [];
    const copies: number[] = [];
    for (const d of batch) {
      firstOut.push(out.length);
      const arrivals = applyFaults(this.faults, this.random, d.bytes);
      if (arrivals.length === 0) this.stats.dropped++;
      if (arrivals.length > 1) this.stats.duplicated++;
      let sentNow = 0;
      for (const a of arrivals) {
        if (a.bytes !== d.bytes) this.stats.corrupted++;
        if (a.delayMs <= 0) {
          out.push({ to: d.to, bytes: a.bytes });
          sentNow++;
        } else {
          this.later({ to: d.to, bytes: a.bytes }, a.delayMs);
        }
      }
      copies.push(sentNow);
    }
    const taken = out.length === 0 ? 0 : this.inner.send(out);
    if (taken >= out.length) return batch.length;
    // The inner transport is full: inputs whose copies were all taken count
    // as sent; the rest are offered again after drain (and face the faults again).
    let inputs = 0;
    while (inputs < batch.length && firstOut[inputs]! + copies[inputs]! <= taken) inputs++;
    return inputs;
  }

  close(): void {
    this.closed = true;
    this.inner.close();
  }

  sameAddress(a: A, b: A): boolean {
    return this.inner.sameAddress(a, b);
  }

  formatAddress(address: A): string {
    return this.inner.formatAddress(address);
  }

  private later(d: Datagram<A>, delayMs: number): void {
    if (this.delayedNow >= DELAYED_DATAGRAMS_MAX) {
      this.stats.dropped++;
      return;
    }
    this.delayedNow++;
    this.stats.delayed++;
    this.scheduler.at(this.scheduler.now() + delayMs, () => {
      this.delayedNow--;
      if (!this.closed) this.inner.send([d]);
    });
  }
}
