/**
 * What the drive loop needs from a network: send a batch of datagrams,
 * receive datagrams, learn when a refused batch may be retried, close.
 * Addresses are opaque to everything above the transport: the loop only
 * stores them, compares them with `sameAddress` and prints them with
 * `formatAddress`.
 *
 * Implementations: `UdpTransport` (Bun's UDP socket), `MemoryTransport` (an
 * in-process network for tests and the simulator), and `ChaosTransport`, a
 * wrapper that injects faults into any of them.
 */

/** One datagram to send. */
export interface Datagram<A> {
  to: A;
  bytes: Uint8Array;
}

/** What a transport reports; the drive loop installs these once, before any datagram flows. */
export interface TransportHandlers<A> {
  /** A datagram arrived. `bytes` belongs to the receiver (the transport never reuses it). */
  datagram(bytes: Uint8Array, from: A): void;
  /** A transport that took only part of a batch can take more now. */
  drain(): void;
  /** A non-fatal network error (for example ICMP port unreachable from a peer not started yet); the datagram counts as lost. */
  error(error: TransportError): void;
}

/** A non-fatal error reported by a transport. */
export interface TransportError {
  /** `socket-error` from the receive side, `send-error` from a send. */
  kind: "socket-error" | "send-error";
  code: string | undefined;
  message: string;
  /** Datagrams the error cost, when known. */
  datagrams?: number;
}

/** A bound endpoint on some network. */
export interface Transport<A> {
  /** This endpoint's own address, for logs. */
  readonly localAddress: string;
  /** Installs the handlers; called once by the drive loop. */
  listen(handlers: TransportHandlers<A>): void;
  /**
   * Sends datagrams in order and returns how many it took. Fewer than
   * `batch.length` means the network is full: the caller keeps the rest and
   * retries after `drain`. Network errors never throw; they are reported
   * through `error` and the datagrams count as taken (lost).
   */
  send(batch: readonly Datagram<A>[]): number;
  /** Stops receiving and releases the endpoint; later sends are ignored. */
  close(): void;
  sameAddress(a: A, b: A): boolean;
  formatAddress(address: A): string;
}
