/**
 * An in-process network for tests and the simulator: endpoints are numbers,
 * datagrams are delivered through a `Scheduler` (virtual or real time), and a
 * `route` function decides the fate of every datagram (the simulator's
 * faults and partitions, or a test's hand on a particular frame).
 */
import type { Arrival } from "./faults.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Datagram, Transport, TransportHandlers } from "./transport.ts";

/** Decides what happens to a datagram from `from` to `to`: no arrival (lost), or one or more copies with delays. */
export type Route = (from: number, to: number, bytes: Uint8Array) => readonly Arrival[];

/** Datagrams in flight at once on one network; past this, new ones are dropped (as a full socket buffer would). */
const IN_FLIGHT_MAX = 1_000_000;

/** The address book of a group whose peer `id` is bound at memory address `id` (index 0 unused). */
export function addressesById(peers: number): (number | undefined)[] {
  return Array.from({ length: peers + 1 }, (_, id) => (id === 0 ? undefined : id));
}

export class MemoryNetwork {
  /** Datagrams handed to the network, and those dropped by the route or at the in-flight limit. */
  readonly stats = { sent: 0, dropped: 0, delivered: 0 };
  private readonly endpoints = new Map<number, MemoryTransport>();
  private inFlight = 0;

  /** Called for every datagram just before an open endpoint receives it (the simulator's checkers watch here). */
  onDeliver: ((from: number, to: number, bytes: Uint8Array) => void) | undefined;

  constructor(
    readonly scheduler: Scheduler,
    /** Default: every datagram arrives once, at once. */
    public route: Route = (_from, _to, bytes) => [{ bytes, delayMs: 0 }],
  ) {}

  /** Binds an endpoint; throws when the address is taken by an open endpoint (a programming error in the caller). */
  bind(address: number): MemoryTransport {
    const existing = this.endpoints.get(address);
    if (existing !== undefined && !existing.isClosed) throw new Error(`memory address ${address} is in use`);
    const endpoint = new MemoryTransport(this, address);
    this.endpoints.set(address, endpoint);
    return endpoint;
  }

  /** @internal */
  transmit(from: number, d: Datagram<number>): void {
    this.stats.sent++;
    const arrivals = this.route(from, d.to, d.bytes);
    if (arrivals.length === 0) this.stats.dropped++;
    for (const a of arrivals) {
      if (this.inFlight >= IN_FLIGHT_MAX) {
        this.stats.dropped++;
        continue;
      }
      this.inFlight++;
      this.scheduler.at(this.scheduler.now() + a.delayMs, () => {
        this.inFlight--;
        // Looked up at arrival: a restarted endpoint at the same address gets
        // what was sent to the old one, as a real network would deliver it.
        const endpoint = this.endpoints.get(d.to);
        if (endpoint === undefined || endpoint.isClosed) return;
        this.stats.delivered++;
        this.onDeliver?.(from, d.to, a.bytes);
        endpoint.receive(a.bytes, from);
      });
    }
  }
}

export class MemoryTransport implements Transport<number> {
  readonly localAddress: string;
  private handlers: TransportHandlers<number> | undefined;
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly address: number,
  ) {
    this.localAddress = `mem:${address}`;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  listen(handlers: TransportHandlers<number>): void {
    this.handlers = handlers;
  }

  send(batch: readonly Datagram<number>[]): number {
    if (!this.closed) for (const d of batch) this.network.transmit(this.address, d);
    return batch.length;
  }

  close(): void {
    this.closed = true;
  }

  sameAddress(a: number, b: number): boolean {
    return a === b;
  }

  formatAddress(address: number): string {
    return `mem:${address}`;
  }

  /** @internal */
  receive(bytes: Uint8Array, from: number): void {
    if (!this.closed) this.handlers?.datagram(bytes, from);
  }
}
