/**
 * Name resolution for hosts-file entries that are names (containers,
 * Kubernetes pods), retried until they answer, since containers come up in
 * any order.
 *
 * DNS travels over UDP and loses queries like any datagram. Each attempt
 * races the system's lookup (which knows /etc/hosts) against DNS queries of
 * our own, hedged: a new one every 120 ms until one answers (the system's
 * resolver waits seconds for a lost answer). A lookup that timed
 * out is retried at once: loss is not absence. Only a name the DNS says does
 * not exist (a container not started yet) backs off.
 */
import type * as Dns from "node:dns/promises";
import type { Cancel, Scheduler } from "./scheduler.ts";
import type { UdpAddress } from "./udp.ts";

/** Retry backoff for names that do not resolve yet (a container not started). */
const RESOLVE_RETRY_MS_MIN = 100;
const RESOLVE_RETRY_MS_MAX = 500;
/** Retry delay after a lookup lost to the network: short, since the name may well exist. */
const RESOLVE_RETRY_MS_AFTER_LOSS = 20;
/**
 * An attempt that has not answered by then is treated as lost and retried.
 * Resolvers can sit on a query for 5 s or more (glibc's timeout, a DNS server
 * forwarding a name it does not know). The abandoned lookups still complete
 * on their own; attempts are sequential per name, so at most a few are
 * outstanding per name.
 */
const RESOLVE_TIMEOUT_MS = 1200;
/** Error codes that mean the query or its answer was lost, not that the name is unknown. */
const LOSS_CODES = new Set(["ETIMEOUT", "ETIMEDOUT", "ECONNREFUSED", "ESERVFAIL", "EAI_AGAIN", "ECANCELLED"]);

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

/** node:dns, loaded on the first lookup: a hosts file of IP addresses never needs it (it costs ~2 ms of start-up CPU). */
let dns: typeof Dns | undefined;
const dnsModule = (): typeof Dns => {
  dns ??= require("node:dns/promises") as typeof Dns;
  return dns;
};

const systemLookup: LookupFunction = async (host, family) => (await dnsModule().lookup(host, { family })).address;

/** Independent DNS clients (each its own c-ares channel), so that hedged queries are really sent again. */
const DNS_CLIENTS = 4;
/** A new query every this often while none has answered. */
const DNS_HEDGE_MS = 120;
/** Queries per lookup at most; past them the lookup fails as lost and the resolver retries. */
const DNS_QUERIES_MAX = 8;
let dnsClients: Dns.Resolver[] | undefined;

async function queryOnce(client: Dns.Resolver, host: string, family: 0 | 4): Promise<string> {
  let v4Lost: unknown;
  const v4 = await client.resolve4(host).catch((error: NodeJS.ErrnoException) => {
    if (family === 4) throw error;
    if (LOSS_CODES.has(error?.code ?? "")) v4Lost = error;
    return [] as string[];
  });
  if (v4.length > 0) return v4[0]!;
  // With the A query lost, "no AAAA record" does not mean the name is unknown: report the loss.
  const v6 = await client.resolve6(host).catch((error: unknown) => {
    throw v4Lost ?? error;
  });
  if (v6.length === 0) throw v4Lost ?? Object.assign(new Error(`no address for ${host}`), { code: "ENOTFOUND" });
  return v6[0]!;
}

/**
 * DNS queries of our own (DNS only, no /etc/hosts), hedged: a new one every
 * 120 ms while none has answered, up to 8, each from one of 4 clients; the
 * first answer wins. A lost query costs 120 ms, not a resolver timeout; an
 * authoritative "no such name" ends the lookup at once.
 */
const fastDnsLookup: LookupFunction = (host, family) => {
  dnsClients ??= Array.from({ length: DNS_CLIENTS }, () => new (dnsModule().Resolver)({ timeout: 1000, tries: 1 }));
  const clients = dnsClients;
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    let sent = 0;
    let failed = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
    };
    const send = () => {
      if (settled || sent >= DNS_QUERIES_MAX) return;
      const client = clients[sent % clients.length]!;
      sent++;
      queryOnce(client, host, family).then(
        (address) => {
          if (settled) return;
          finish();
          resolve(address);
        },
        (error: NodeJS.ErrnoException) => {
          if (settled) return;
          failed++;
          if (!LOSS_CODES.has(error?.code ?? "") || (failed === sent && sent >= DNS_QUERIES_MAX)) {
            finish();
            reject(error);
          }
        },
      );
      timer = setTimeout(send, DNS_HEDGE_MS);
      // Hedging must not keep a closing process alive.
      timer.unref?.();
    };
    send();
  });
};

/** The first of several lookups to succeed; when all fail, a loss code if any failure was a loss. */
function firstOf(lookups: LookupFunction[], host: string, family: 0 | 4): Promise<string> {
  return new Promise((resolve, reject) => {
    let failed = 0;
    let lossError: unknown;
    let otherError: unknown;
    for (const f of lookups) {
      f(host, family).then(resolve, (error: NodeJS.ErrnoException) => {
        if (LOSS_CODES.has(error?.code ?? "")) lossError ??= error;
        else otherError ??= error;
        if (++failed === lookups.length) reject(lossError ?? otherError);
      });
    }
  });
}

export interface ResolverOptions {
  scheduler: Scheduler;
  /** 4 for an IPv4 socket (which cannot send to IPv6 addresses), 0 for either. */
  family: 0 | 4;
  /** Called with every address found, new or not. */
  onAddress: (peer: number, address: UdpAddress) => void;
  onEvent: (event: ResolverEvent) => void;
  /** Raced on every attempt: the system's lookup and a fast DNS query by default; tests pass their own. */
  lookups?: LookupFunction[];
}

export class Resolver {
  private readonly inProgress = new Set<number>();
  private readonly retries = new Map<number, Cancel>();
  /** Timeouts of attempts under way (at most one per name). */
  private readonly attemptTimeouts = new Set<Cancel>();
  private readonly lastAddress = new Map<number, string>();
  private readonly lookups: LookupFunction[];
  private closed = false;

  constructor(private readonly options: ResolverOptions) {
    this.lookups = options.lookups ?? [systemLookup, fastDnsLookup];
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
    // An attempt under way keeps no timer alive past close (a library user's process can exit).
    for (const cancel of this.attemptTimeouts) cancel();
    this.attemptTimeouts.clear();
  }

  /** `attempt` counts failures for the backoff of names that do not exist (yet); losses do not count. */
  private attempt(peer: number, host: string, port: number, attempt: number, tries = 1): void {
    if (this.closed) return;
    this.inProgress.add(peer);
    const { scheduler } = this.options;
    let cancelTimeout: Cancel | undefined;
    const timeout = new Promise<never>((_, reject) => {
      cancelTimeout = scheduler.at(scheduler.now() + RESOLVE_TIMEOUT_MS, () =>
        reject(Object.assign(new Error(`no answer in ${RESOLVE_TIMEOUT_MS} ms`), { code: "ETIMEOUT" })),
      );
      this.attemptTimeouts.add(cancelTimeout);
    });
    Promise.race([firstOf(this.lookups, host, this.options.family), timeout])
      .finally(() => {
        if (cancelTimeout === undefined) return;
        cancelTimeout();
        this.attemptTimeouts.delete(cancelTimeout);
      })
      .then(
        (address) => {
          this.inProgress.delete(peer);
          if (this.closed) return;
          if (this.lastAddress.get(peer) !== address) {
            this.lastAddress.set(peer, address);
            this.options.onEvent({ type: "resolved", peer, name: host, address, attempts: tries });
          }
          this.options.onAddress(peer, { address, port });
        },
        (error: NodeJS.ErrnoException) => {
          this.inProgress.delete(peer);
          if (this.closed) return;
          const lost = LOSS_CODES.has(error?.code ?? "");
          const retryInMs = lost
            ? RESOLVE_RETRY_MS_AFTER_LOSS
            : Math.min(RESOLVE_RETRY_MS_MIN * 2 ** attempt, RESOLVE_RETRY_MS_MAX);
          this.options.onEvent({
            type: "resolveFailed",
            peer,
            name: host,
            code: error?.code,
            retryInMs,
            attempts: tries,
          });
          this.retries.set(
            peer,
            scheduler.at(scheduler.now() + retryInMs, () => {
              this.retries.delete(peer);
              if (!this.inProgress.has(peer)) this.attempt(peer, host, port, lost ? attempt : attempt + 1, tries + 1);
            }),
          );
        },
      );
  }
}
