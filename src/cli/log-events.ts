/**
 * How the peer command turns a running peer's events and datagram records
 * into log lines. The names here (`peer-up`, `drop`, ...) are what users'
 * scripts read; docs/api.md and README list them.
 */
import type { GroupEvent, GroupProcess } from "../group/group.ts";
import type { OrderedEvent } from "../group/ordered.ts";
import { canonical, type HostsList } from "../hosts/hosts.ts";
import type { LoopTraceRecord } from "../runtime/loop.ts";
import type { RollcallEvent, RollcallPeer } from "../runtime/rollcall-peer.ts";
import type { Logger } from "./log.ts";

/** Counters logged with `ready` and `stop`. */
export function statsFields(peer: RollcallPeer): Record<string, unknown> {
  const s = peer.stats();
  return {
    datagramsSent: s.datagramsSent,
    datagramsReceived: s.datagramsReceived,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    retransmissions: s.retransmissions,
    drops: s.drops,
    pathChallenges: s.pathChallenges,
    pathValidations: s.pathValidations,
    sendBlocked: s.sendBlocked,
    unresolved: s.unresolved,
    transportErrors: s.transportErrors,
    chaosDropped: s.chaos?.dropped ?? 0,
    chaosDuplicated: s.chaos?.duplicated ?? 0,
    chaosCorrupted: s.chaos?.corrupted ?? 0,
    probesSent: s.membership.probesSent,
    probesFailed: s.membership.probesFailed,
    refutations: s.membership.refutations,
    health: s.membership.health,
  };
}

/** The membership view for logs: every id, grouped by state (states with no member left out). */
export function membershipFields(peer: RollcallPeer): Record<string, number[]> {
  const byState: Record<string, number[]> = {};
  for (const m of peer.members()) {
    const ids = byState[m.state] ?? [];
    ids.push(m.id);
    byState[m.state] = ids;
  }
  return byState;
}

/** Logs one event at its level. */
export function logEvent(log: Logger, peer: RollcallPeer, event: RollcallEvent): void {
  const hosts: HostsList = peer.hosts;
  const name = (id: number) => hosts.entries[id - 1]?.text;
  switch (event.type) {
    case "peerUp":
      log.info("peer-up", {
        peer: event.peer,
        name: name(event.peer),
        epoch: event.epoch,
        up: event.up,
        of: peer.peerCount,
      });
      return;
    case "ready":
      log.info("ready", { peers: event.peers, ...statsFields(peer) });
      log.info("membership", membershipFields(peer));
      return;
    case "peerRestarted":
      log.info("peer-restarted", {
        peer: event.peer,
        name: name(event.peer),
        oldEpoch: event.oldEpoch,
        newEpoch: event.newEpoch,
        messagesDropped: event.messagesDropped,
      });
      return;
    case "peerUnresponsive":
      log.warn("peer-unresponsive", {
        peer: event.peer,
        name: name(event.peer),
        silentMs: Math.round(performance.now() - event.sinceMs),
      });
      return;
    case "peerResponsive":
      log.info("peer-responsive", { peer: event.peer, name: name(event.peer) });
      return;
    case "peerLeft":
      log.info("peer-left", {
        peer: event.peer,
        name: name(event.peer),
        epoch: event.epoch,
        incarnation: event.incarnation,
        reporter: event.reporter,
        reason: event.reason,
        relayed: event.relayed,
      });
      log.info("membership", membershipFields(peer));
      return;
    case "peerSuspect":
    case "peerFailed":
    case "peerAlive": {
      const fields = {
        peer: event.peer,
        name: name(event.peer),
        epoch: event.epoch,
        incarnation: event.incarnation,
        reporter: event.reporter,
        ...(event.type === "peerAlive" ? { reason: event.reason } : {}),
      };
      if (event.type === "peerFailed") log.warn("peer-failed", fields);
      else log.info(event.type === "peerSuspect" ? "peer-suspect" : "peer-alive", fields);
      log.info("membership", membershipFields(peer));
      return;
    }
    case "hostsMismatch":
      log.error("hosts-mismatch", {
        peer: event.peer,
        name: event.name,
        note: "this peer read a different hosts file (or --port); it is ignored until it restarts with the same list",
      });
      return;
    case "message":
      log.debug("message", { peer: event.from, bytes: event.body.length });
      return;
    case "peerAddress":
      // Addresses from name resolution are logged as `resolved`.
      if (event.source === "validated")
        log.info("peer-address", {
          peer: event.peer,
          name: name(event.peer),
          address: event.address,
          note: "answered a challenge from this address",
        });
      return;
    case "unauthenticated":
      log.info("unauthenticated", { from: event.address, claimedPeer: event.claimedPeer, hint: event.hint });
      return;
    case "transportError":
      log.debug(event.error.kind, {
        code: event.error.code,
        error: event.error.message,
        datagrams: event.error.datagrams,
      });
      return;
    case "resolved":
      log.info("resolved", {
        peer: event.peer,
        name: canonical(hosts.entries[event.peer - 1]!),
        address: event.address,
        attempts: event.attempts,
      });
      return;
    case "resolveFailed":
      {
        // The first failure is visible at info (a mistyped name, a container not started yet); the retries are not.
        const fields = { peer: event.peer, name: event.name, code: event.code, retryInMs: event.retryInMs };
        if (event.attempts === 1)
          log.warn("resolve-failed", {
            ...fields,
            note: "retrying until it resolves; check the name if it never does",
          });
        else log.debug("resolve-failed", { ...fields, attempts: event.attempts });
      }
      return;
    case "hostsDuplicate":
      log.error("hosts-duplicate", {
        peer: event.peer,
        other: event.other,
        address: event.address,
        note: `lines ${event.peer} and ${event.other} of the hosts file are the same address: datagrams for one reach the other; fix the file`,
      });
      return;
    case "writable":
      return;
  }
}

/** Logs one datagram record: sends and receives at debug, drops at warn. */
export function logTrace(log: Logger, r: LoopTraceRecord): void {
  if (r.kind === "drop") {
    log.warn("drop", { from: r.address, peer: r.peer, reason: r.reason, detail: r.detail });
  } else if (r.kind === "send") {
    log.debug("send", {
      peer: r.peer,
      type: r.frameType,
      seq: r.seq,
      ack: r.ack,
      sack: r.sack,
      bytes: r.bytes,
      retransmission: r.retransmission,
    });
  } else {
    log.debug("recv", {
      peer: r.peer,
      from: r.address,
      type: r.frameType,
      seq: r.seq,
      ack: r.ack,
      sack: r.sack,
      bytes: r.bytes,
      epoch: r.epoch,
    });
  }
}

/**
 * One JSON line per group event (--group; docs/groups.md): views at info
 * with member ids ascending, and each delivery at info with `index`
 * counting this process's deliveries from 1 and the body as UTF-8 text.
 */
export function groupEventLogger(log: Logger): (e: OrderedEvent) => void {
  let delivered = 0;
  const text = new TextDecoder();
  return (e) => {
    if (e.type !== "message") return logGroupEvent(log, e);
    delivered++;
    log.info("deliver", {
      from: e.from,
      viewId: e.viewId,
      index: delivered,
      body: text.decode(e.body),
      order: e.order,
      ...(e.safe ? { safe: true } : {}),
    });
  };
}

function logGroupEvent(log: Logger, e: Exclude<GroupEvent, { type: "message" }>): void {
  const ids = (ps: readonly GroupProcess[]) => ps.map((p) => p.id);
  switch (e.type) {
    case "view":
      log.info("view", {
        viewId: e.view.id,
        members: ids(e.view.members),
        joined: ids(e.joined),
        left: ids(e.left),
        epochs: e.view.members.map((m) => m.epoch),
        group: e.view.group,
      });
      return;
    case "blocked":
      log.warn("group-blocked", {
        viewId: e.viewId,
        reachable: e.reachable,
        needed: e.needed,
        note: "a majority of the view is unreachable: no new view until it is back",
      });
      return;
    case "excluded":
      log.warn("group-excluded", {
        viewId: e.viewId,
        groupViewId: e.groupViewId,
        note:
          e.groupViewId === 0
            ? "my view can never be followed (most of its members restarted); asking to join"
            : "the group went on without me; asking to join",
      });
      return;
    case "restarted":
      log.info("group-restarted", { replacedEpoch: e.replacedEpoch });
      return;
    case "state":
      log.info("group-state", { viewId: e.viewId, bytes: e.bytes });
      return;
  }
}
