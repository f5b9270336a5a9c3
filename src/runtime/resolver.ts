/**
 * Name resolution for hosts-file entries that are names (containers,
 * Kubernetes pods): looked up with the system resolver, retried with backoff
 * until they answer, since containers come up in any order.
 */
import { lookup } from "node:dns/promises";
import type { Cancel, Scheduler } from "./scheduler.ts";
import type { UdpAddress } from "./udp.ts";

/** Retry backoff for names that do not resolve yet (a container not started). */
const RESOLVE_RETRY_MS_MIN = 100;
const RESOLVE_RETRY_MS_MAX = 2000;
/**
 * A lookup that has not answered by then is treated as failed and retried.
 * Resolvers can sit on a query for 5 s or more (glibc's timeout, a DNS server
 * forwarding a name it does not know); a container started later would
 * otherwise wait for that. The abandoned lookup still completes on its own;
 * with the retry backoff at most a few are outstanding per name.
 */
const RESOLVE_TIMEOUT_MS = 1000;

/** What the resolver reports. */
export type ResolverEvent =
  | { type: "resolved"; peer: number; name: string; address: string; attempts: number }
  | {
      type: "resolveFailed";
      peer: number;
      name: string;
      code: string | undefined;
      retryInMs: number;
      /** Failed lookups of this name so far, this one included. */
      attempts: number;
    };

export type LookupFunction = (host: string, family: 0 | 4) => Promise<string>;

const systemLookup: LookupFunction = async (host, family) => (await lookup(host, { family })).address;

export interface ResolverOptions {
  scheduler: Scheduler;
  /** 4 for an IPv4 socket (which cannot send to IPv6 addresses), 0 for either. */
  family: 0 | 4;
  /** Called with every address found, new or not. */
  onAddress: (peer: number, address: UdpAddress) => void;
  onEvent: (event: ResolverEvent) => void;
  /** The system resolver by default; tests pass their own. */
  lookup?: LookupFunction;
}

export class Resolver {
  private readonly inProgress = new Set<number>();
  private readonly retries = new Map<number, Cancel>();
  private readonly lastAddress = new Map<number, string>();
  private readonly lookup: LookupFunction;
  private closed = false;

  constructor(private readonly options: ResolverOptions) {
    this.lookup = options.lookup ?? systemLookup;
  }

  /** Looks a peer's name up (again), unless a lookup for it is already under way. */
  resolve(peer: number, host: string, port: number): void {
    if (this.closed || this.inProgress.has(peer)) return;
    this.retries.get(peer)?.();
    this.retries.delete(peer);
    this.attempt(peer, host, port, 0);
  }

  close(): void {
    this.closed = true;
    for (const cancel of this.retries.values()) cancel();
    this.retries.clear();
  }

  private attempt(peer: number, host: string, port: number, attempt: number): void {
    if (this.closed) return;
    this.inProgress.add(peer);
    const { scheduler } = this.options;
    let cancelTimeout: Cancel | undefined;
    const timeout = new Promise<never>((_, reject) => {
      cancelTimeout = scheduler.at(scheduler.now() + RESOLVE_TIMEOUT_MS, () =>
        reject(Object.assign(new Error(`no answer in ${RESOLVE_TIMEOUT_MS} ms`), { code: "ETIMEOUT" })),
      );
    });
    Promise.race([this.lookup(host, this.options.family), timeout])
      .finally(() => cancelTimeout?.())
      .then(
        (address) => {
          this.inProgress.delete(peer);
          if (this.closed) return;
          if (this.lastAddress.get(peer) !== address) {
            this.lastAddress.set(peer, address);
            this.options.onEvent({ type: "resolved", peer, name: host, address, attempts: attempt + 1 });
          }
          this.options.onAddress(peer, { address, port });
        },
        (error: NodeJS.ErrnoException) => {
          this.inProgress.delete(peer);
          if (this.closed) return;
          const retryInMs = Math.min(RESOLVE_RETRY_MS_MIN * 2 ** attempt, RESOLVE_RETRY_MS_MAX);
          this.options.onEvent({
            type: "resolveFailed",
            peer,
            name: host,
            code: error.code,
            retryInMs,
            attempts: attempt + 1,
          });
          this.retries.set(
            peer,
            scheduler.at(scheduler.now() + retryInMs, () => {
              this.retries.delete(peer);
              if (!this.inProgress.has(peer)) this.attempt(peer, host, port, attempt + 1);
            }),
          );
        },
      );
  }
}
