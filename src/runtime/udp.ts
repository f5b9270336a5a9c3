/**
 * A `Transport` on Bun's UDP socket (`Bun.udpSocket`), sending each batch with
 * one `sendMany` (sendmmsg).
 */
import type { Datagram, Transport, TransportHandlers } from "./transport.ts";

/** An IP address (v4 or v6, never a name) and a port. */
export interface UdpAddress {
  address: string;
  port: number;
}

export class UdpTransport implements Transport<UdpAddress> {
  readonly localAddress: string;
  private handlers: TransportHandlers<UdpAddress> | undefined;
  private closed = false;

  private constructor(
    private readonly socket: Bun.udp.Socket<"uint8array">,
    hostname: string,
  ) {
    this.localAddress = formatUdpAddress({ address: hostname, port: socket.port });
  }

  /**
   * Binds a socket. Port 0 picks a free port (`port` tells which). Rejects
   * with a message naming the address when it cannot be bound.
   */
  static async bind(hostname: string, port: number): Promise<UdpTransport> {
    let transport: UdpTransport | undefined;
    try {
      const socket = await Bun.udpSocket({
        hostname,
        port,
        binaryType: "uint8array",
        socket: {
          // Copy: the receiver keeps message bodies that point into the buffer.
          data: (_socket, data, fromPort, fromAddress) =>
            transport?.received(data.slice(), { address: fromAddress, port: fromPort }),
          drain: () => transport?.handlers?.drain(),
          // Must be installed: without it an ICMP "port unreachable" (a peer
          // not started yet) kills the process. `this` is the socket; the
          // error comes as the first or second argument depending on the Bun version.
          error: (a: unknown, b?: unknown) => {
            const e = (b ?? a) as NodeJS.ErrnoException;
            transport?.handlers?.error({ kind: "socket-error", code: e?.code, message: e?.message ?? String(e) });
          },
        },
      });
      transport = new UdpTransport(socket, hostname);
      return transport;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const why = e.code === "EADDRINUSE" ? "the port is in use (another peer or program?)" : e.message;
      throw new Error(`cannot bind UDP ${formatUdpAddress({ address: hostname, port })}: ${why}`);
    }
  }

  /** The bound port (useful after binding port 0). */
  get port(): number {
    return this.socket.port;
  }

  /** True when the socket is IPv6 and can send to IPv6 addresses. */
  get ipv6(): boolean {
    return this.socket.hostname.includes(":");
  }

  listen(handlers: TransportHandlers<UdpAddress>): void {
    this.handlers = handlers;
  }

  send(batch: readonly Datagram<UdpAddress>[]): number {
    if (this.closed || batch.length === 0) return batch.length;
    if (batch.length === 1) {
      const d = batch[0]!;
      try {
        return this.socket.send(d.bytes, d.to.port, d.to.address) ? 1 : 0;
      } catch (error) {
        this.sendFailed(error, 1);
        return 1;
      }
    }
    const packets: (Uint8Array | number | string)[] = [];
    for (const d of batch) packets.push(d.bytes, d.to.port, d.to.address);
    try {
      return this.socket.sendMany(packets);
    } catch (error) {
      // Linux reports an earlier ICMP error (a peer not started yet) on the
      // next send: the batch counts as lost; the sessions re-send what matters.
      this.sendFailed(error, batch.length);
      return batch.length;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  sameAddress(a: UdpAddress, b: UdpAddress): boolean {
    return a.port === b.port && a.address === b.address;
  }

  formatAddress(address: UdpAddress): string {
    return formatUdpAddress(address);
  }

  private received(bytes: Uint8Array, from: UdpAddress): void {
    if (!this.closed) this.handlers?.datagram(bytes, from);
  }

  private sendFailed(error: unknown, datagrams: number): void {
    const e = error as NodeJS.ErrnoException;
    this.handlers?.error({ kind: "send-error", code: e.code, message: e.message, datagrams });
  }
}

/** `ip:port`, with brackets around IPv6. */
export function formatUdpAddress(a: UdpAddress): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
