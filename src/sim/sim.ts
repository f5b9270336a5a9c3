/**
 * The seeded network simulator: N peers (the same `Peer` code that runs on
 * real sockets) on a virtual clock, over a network that loses, duplicates,
 * reorders, delays and corrupts datagrams, partitions links and crashes and
 * restarts peers. One seed derives every fault, so every run is replayable.
 *
 * It checks safety all the time (nothing delivered twice, out of order,
 * corrupted or invented) and liveness at the end (every peer READY; once the
 * faults have healed, everything sent to a live peer is delivered).
 */

import { Peer, type PeerEvent } from "../peer/peer.ts";
import type { SessionConfig } from "../reliability/config.ts";
import { MinHeap } from "../util/heap.ts";
import { CHECKSUM_OFFSET, frameChecksum } from "../wire/frame.ts";
import { Rng } from "./rng.ts";

export interface FaultConfig {
  /** Probability that a datagram is lost. */
  loss: number;
  /** Probability that a datagram is delivered twice. */
  duplicate: number;
  /** Probability that a datagram is held back by up to `reorderMs` extra, overtaking later ones. */
  reorder: number;
  /** Probability that one random bit of a datagram is flipped. */
  corrupt: number;
  /** One-way base delay and uniform jitter on top. */
  delayMs: number;
  jitterMs: number;
  reorderMs: number;
  /** Mean time between partitions (0: none). A partition splits the peers in two and lasts `partitionMs`. */
  partitionEveryMs: number;
  partitionMs: number;
  /** Mean time between crashes (0: none). A crashed peer restarts with a new epoch after `downMs`. */
  crashEveryMs: number;
  downMs: number;
  /**
   * Probability that the last byte of a datagram is changed and the checksum
   * recomputed, a corruption no checksum can catch. Off in every real setting:
   * it exists so tests can show that the safety checker notices.
   */
  forge?: number;
}

export const NO_FAULTS: FaultConfig = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  corrupt: 0,
  delayMs: 1,
  jitterMs: 0,
  reorderMs: 0,
  partitionEveryMs: 0,
  partitionMs: 0,
  crashEveryMs: 0,
  downMs: 0,
};

export interface Workload {
  /** Application messages each peer sends, spread over `sendWindowMs`, to random other peers. */
  messagesPerPeer: number;
  sendWindowMs: number;
  /** Message body sizes, uniform in [min, max] bytes; above ~1.3 KB they are fragmented. */
  bodyBytesMin: number;
  bodyBytesMax: number;
}

export interface SimOptions {
  seed: number;
  peers: number;
  faults: FaultConfig;
  workload: Workload;
  /** Faults (loss, duplication, reordering, corruption, partitions, crashes) stop at this virtual time. */
  healAtMs: number;
  /** The run ends by this virtual time at the latest. */
  endMs: number;
  /** Bound on processed events, so a bug cannot hang the simulator. */
  stepsMax: number;
  /** Start times are spread uniformly over this many ms (0: all at once). */
  startSpreadMs: number;
  session?: Partial<SessionConfig>;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** Safety and liveness violations; empty when ok. */
  violations: string[];
  virtualMs: number;
  steps: number;
  /** Virtual time at which the last peer became READY (first incarnations). */
  allReadyMs: number | undefined;
  datagramsSent: number;
  dataTransmissions: number;
  dataRetransmissions: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesDroppedByRestart: number;
  crashes: number;
  partitions: number;
}

type SimEvent =
  | { kind: "deliver"; to: number; from: number; bytes: Uint8Array }
  | { kind: "wake"; id: number }
  | { kind: "start"; id: number }
  | { kind: "appSend"; id: number; incarnation: number }
  | { kind: "crash"; id: number }
  | { kind: "partition" }
  | { kind: "heal" };

interface Node {
  id: number;
  peer: Peer | undefined;
  incarnation: number;
  wakeAt: number | undefined;
  /** Next application message index for each destination, this incarnation. */
  nextIndex: number[];
  /** For each destination, the first index sent after its latest restart was seen. */
  restartCut: number[];
  /** Remaining application messages this incarnation may send. */
  toSend: number;
  /** Messages refused with queue-full, retried when the session becomes writable. */
  blocked: { to: number; body: Uint8Array }[];
  /** sender epoch + ":" + my epoch -> last index delivered from that sender epoch. */
  lastDelivered: Map<string, number>;
}

/** Message bodies are derived from their identity so the receiver can check every byte. */
function messageBody(from: number, epoch: number, to: number, index: number, length: number): Uint8Array {
  const body = new Uint8Array(Math.max(length, 16));
  const view = new DataView(body.buffer);
  view.setUint16(0, from);
  view.setUint16(2, to);
  view.setUint32(4, epoch);
  view.setUint32(8, index);
  view.setUint32(12, body.length);
  let x = (from * 73856093) ^ (epoch * 19349663) ^ (index * 83492791) ^ to;
  for (let i = 16; i < body.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    body[i] = x >>> 24;
  }
  return body;
}

export function runSimulation(options: SimOptions): SimResult {
  const rng = new Rng(options.seed);
  const faultRng = rng.fork();
  const epochRng = rng.fork();
  const workRng = rng.fork();
  const f = options.faults;
  const n = options.peers;
  const names = Array.from({ length: n }, (_, i) => `peer-${i + 1}`);
  const digest = new Uint8Array(32).fill(7);
  const violations: string[] = [];
  const violate = (message: string) => {
    if (violations.length < 20) violations.push(message);
  };

  let order = 0;
  const queue = new MinHeap<{ at: number; order: number; event: SimEvent }>((a, b) =>
    a.at === b.at ? a.order < b.order : a.at < b.at,
  );
  const schedule = (at: number, event: SimEvent) => queue.push({ at, order: order++, event });

  const nodes: Node[] = [];
  for (let id = 1; id <= n; id++) {
    nodes[id] = {
      id,
      peer: undefined,
      incarnation: 0,
      wakeAt: undefined,
      nextIndex: new Array(n + 1).fill(0),
      restartCut: new Array(n + 1).fill(0),
      toSend: 0,
      blocked: [],
      lastDelivered: new Map(),
    };
    schedule(options.startSpreadMs > 0 ? workRng.int(0, options.startSpreadMs) : 0, { kind: "start", id });
  }
  if (f.partitionEveryMs > 0) schedule(faultRng.int(0, 2 * f.partitionEveryMs), { kind: "partition" });
  if (f.crashEveryMs > 0) schedule(faultRng.int(f.crashEveryMs / 2, 2 * f.crashEveryMs), { kind: "crash", id: 0 });

  let partition: Set<number> | undefined;
  const stats = {
    datagramsSent: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDroppedByRestart: 0,
    crashes: 0,
    partitions: 0,
  };
  const firstReady = new Map<number, number>();
  /** Per (sender id, sender epoch, receiver id): highest index handed to send(). */
  const lastSent = new Map<string, number>();
  let now = 0;
  let steps = 0;
  const healed = () => now >= options.healAtMs;

  const transmit = (from: number, to: number, bytes: Uint8Array) => {
    stats.datagramsSent++;
    if (!healed()) {
      if (partition !== undefined && partition.has(from) !== partition.has(to)) return;
      if (faultRng.chance(f.loss)) return;
    }
    const copies = !healed() && faultRng.chance(f.duplicate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let data = bytes;
      if (!healed() && faultRng.chance(f.corrupt)) {
        data = bytes.slice();
        const bit = faultRng.int(0, data.length * 8 - 1);
        data[bit >> 3]! ^= 1 << (bit & 7);
      }
      if (!healed() && f.forge !== undefined && faultRng.chance(f.forge)) {
        data = bytes.slice();
        data[data.length - 1]! ^= 0x01;
        new DataView(data.buffer).setUint32(CHECKSUM_OFFSET, frameChecksum(data));
      }
      let delay = f.delayMs + faultRng.float() * f.jitterMs;
      if (!healed() && faultRng.chance(f.reorder)) delay += faultRng.float() * f.reorderMs;
      schedule(now + delay, { kind: "deliver", to, from, bytes: data });
    }
  };

  const onEvent = (node: Node, peer: Peer, event: PeerEvent) => {
    switch (event.type) {
      case "ready":
        if (!firstReady.has(node.id)) firstReady.set(node.id, now);
        return;
      case "message": {
        stats.messagesDelivered++;
        const body = event.body;
        if (body.length < 16) {
          violate(`peer ${node.id} delivered a ${body.length}-byte message no one sent`);
          return;
        }
        const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
        const from = view.getUint16(0);
        const to = view.getUint16(2);
        const epoch = view.getUint32(4);
        const index = view.getUint32(8);
        const length = view.getUint32(12);
        if (from !== event.from || to !== node.id || length !== body.length) {
          violate(`peer ${node.id} delivered a message claiming ${from}->${to} from peer ${event.from}`);
          return;
        }
        const expected = messageBody(from, epoch, to, index, length);
        if (Buffer.compare(expected, body) !== 0) {
          violate(`peer ${node.id} delivered a corrupted message ${from}/${epoch}#${index}`);
          return;
        }
        const sent = lastSent.get(`${from}:${epoch}:${to}`);
        if (sent === undefined || index > sent) {
          violate(`peer ${node.id} delivered ${from}/${epoch}#${index}, which was never sent`);
          return;
        }
        const key = `${epoch}:${peer.epoch}`;
        const last = node.lastDelivered.get(`${from}:${key}`);
        if (last !== undefined && index !== last + 1) {
          violate(
            `peer ${node.id} (epoch ${peer.epoch}) delivered ${from}/${epoch}#${index} after #${last}: ${index <= last ? "duplicate or out of order" : "gap"}`,
          );
        }
        node.lastDelivered.set(`${from}:${key}`, index);
        return;
      }
      case "peerRestarted":
        stats.messagesDroppedByRestart += event.messagesDropped;
        node.restartCut[event.peer] = node.nextIndex[event.peer]!;
        return;
      case "writable": {
        // Retry in order, stopping at the first refusal so order is kept.
        const retry = node.blocked.filter((b) => b.to === event.peer);
        node.blocked = node.blocked.filter((b) => b.to !== event.peer);
        for (const b of retry) sendApp(node, b.to, b.body);
        return;
      }
      default:
        return;
    }
  };

  /** Sends, or queues behind earlier refused messages to the same peer, so that order is kept. */
  const sendApp = (node: Node, to: number, body: Uint8Array) => {
    if (node.blocked.some((b) => b.to === to)) {
      node.blocked.push({ to, body });
      return;
    }
    const result = node.peer!.send(now, to, body);
    if (!result.ok) {
      if (result.reason === "queue-full") node.blocked.push({ to, body });
      else violate(`send refused: ${result.reason}`);
    }
  };

  /** After any input: send what the peer has to send, handle its events, re-arm its timer. */
  const flush = (node: Node) => {
    const peer = node.peer;
    if (peer === undefined) return;
    for (let out = peer.pollTransmit(now); out !== undefined; out = peer.pollTransmit(now)) {
      transmit(node.id, out.to, out.bytes);
    }
    for (let e = peer.pollEvent(); e !== undefined; e = peer.pollEvent()) onEvent(node, peer, e);
    // Events can queue more (e.g. retries after writable): send those too.
    for (let out = peer.pollTransmit(now); out !== undefined; out = peer.pollTransmit(now)) {
      transmit(node.id, out.to, out.bytes);
    }
    const deadline = peer.pollTimeout();
    const wake = deadline === undefined ? undefined : Math.max(deadline, now);
    if (wake !== undefined && wake !== node.wakeAt) {
      node.wakeAt = wake;
      schedule(wake, { kind: "wake", id: node.id });
    }
  };

  const start = (node: Node) => {
    node.incarnation++;
    node.peer = new Peer(now, {
      selfId: node.id,
      epoch: epochRng.nonZeroU32(),
      names,
      hostsDigest: digest,
      session: options.session,
    });
    node.nextIndex.fill(0);
    node.restartCut.fill(0);
    node.blocked = [];
    node.toSend = n > 1 ? options.workload.messagesPerPeer : 0;
    node.wakeAt = undefined;
    if (node.toSend > 0) scheduleAppSend(node);
    flush(node);
  };

  const scheduleAppSend = (node: Node) => {
    const w = options.workload;
    const gap = (w.sendWindowMs / Math.max(1, w.messagesPerPeer)) * 2 * workRng.float();
    schedule(now + gap, { kind: "appSend", id: node.id, incarnation: node.incarnation });
  };

  const w = options.workload;
  while (queue.size > 0) {
    if (++steps > options.stepsMax) {
      violate(`step limit ${options.stepsMax} reached at ${now.toFixed(1)} ms virtual`);
      break;
    }
    const item = queue.pop()!;
    if (item.at > options.endMs) break;
    now = item.at;
    const event = item.event;
    switch (event.kind) {
      case "start":
        start(nodes[event.id]!);
        break;
      case "deliver": {
        const node = nodes[event.to]!;
        if (node.peer === undefined) break;
        node.peer.handleDatagram(now, `sim:${event.from}`, event.bytes);
        flush(node);
        break;
      }
      case "wake": {
        const node = nodes[event.id]!;
        if (node.peer === undefined || node.wakeAt !== now) break;
        node.wakeAt = undefined;
        node.peer.handleTimeout(now);
        flush(node);
        break;
      }
      case "appSend": {
        const node = nodes[event.id]!;
        if (node.peer === undefined || node.incarnation !== event.incarnation || node.toSend <= 0) break;
        node.toSend--;
        let to = workRng.int(1, n - 1);
        if (to >= node.id) to++;
        const index = node.nextIndex[to]!++;
        const length = workRng.int(w.bodyBytesMin, w.bodyBytesMax);
        const body = messageBody(node.id, node.peer.epoch, to, index, length);
        lastSent.set(`${node.id}:${node.peer.epoch}:${to}`, index);
        stats.messagesSent++;
        sendApp(node, to, body);
        flush(node);
        if (node.toSend > 0) scheduleAppSend(node);
        break;
      }
      case "crash": {
        if (healed()) break;
        const node = nodes[faultRng.int(1, n)]!;
        if (node.peer !== undefined) {
          stats.crashes++;
          node.peer = undefined;
          // Restart only after every datagram of the old process has left the
          // network (TCP's "quiet time"); docs/reliability.md explains why.
          const quietMs = f.delayMs + f.jitterMs + f.reorderMs + 1;
          schedule(now + Math.max(f.downMs, quietMs), { kind: "start", id: node.id });
        }
        schedule(now + faultRng.int(f.crashEveryMs / 2, 2 * f.crashEveryMs), { kind: "crash", id: 0 });
        break;
      }
      case "partition": {
        if (healed()) break;
        stats.partitions++;
        partition = new Set();
        for (let id = 1; id <= n; id++) if (faultRng.chance(0.5)) partition.add(id);
        schedule(now + f.partitionMs, { kind: "heal" });
        break;
      }
      case "heal":
        partition = undefined;
        schedule(now + faultRng.int(f.partitionEveryMs / 2, 2 * f.partitionEveryMs), { kind: "partition" });
        break;
    }
    if (queueIsQuiet()) break;
  }

  function queueIsQuiet(): boolean {
    // Done when faults are over, all work is handed out, and nothing is in flight.
    if (!healed() || steps % 256 !== 0) return false;
    for (let id = 1; id <= n; id++) {
      const node = nodes[id]!;
      if (
        node.peer === undefined ||
        !node.peer.ready ||
        !node.peer.idle ||
        node.toSend > 0 ||
        node.blocked.length > 0
      ) {
        return false;
      }
    }
    return true;
  }

  // Liveness: every peer is up and READY, and every message handed to a live
  // incarnation for a live incarnation has been delivered.
  let dataTransmissions = 0;
  let dataRetransmissions = 0;
  for (let id = 1; id <= n; id++) {
    const node = nodes[id]!;
    const peer = node.peer;
    if (peer === undefined) {
      violate(`peer ${id} is down at the end`);
      continue;
    }
    for (let other = 1; other <= n; other++) {
      const s = peer.session(other);
      if (s === undefined) continue;
      dataTransmissions += s.stats.framesSent;
      dataRetransmissions += s.stats.retransmissions;
    }
    if (!firstReady.has(id) && n > 0) violate(`peer ${id} never became READY`);
    if (!peer.ready) violate(`peer ${id} (epoch ${peer.epoch}) is not READY at the end`);
    if (!peer.idle) violate(`peer ${id} still has undelivered messages at the end`);
    if (node.blocked.length > 0)
      violate(`peer ${id} still has ${node.blocked.length} messages refused by a full queue`);
  }
  for (let from = 1; from <= n; from++) {
    const sender = nodes[from]!.peer;
    if (sender === undefined) continue;
    for (let to = 1; to <= n; to++) {
      const receiver = nodes[to]!.peer;
      if (to === from || receiver === undefined) continue;
      const known = sender.session(to)!.remoteEpoch;
      if (known !== receiver.epoch)
        violate(`peer ${from} still knows peer ${to} by epoch ${known}, not ${receiver.epoch}`);
      const sent = lastSent.get(`${from}:${sender.epoch}:${to}`);
      // Messages sent before the sender saw the receiver restart went to the
      // old process and are dropped (counted in messagesDroppedByRestart).
      const cut = nodes[from]!.restartCut[to]!;
      if (sent === undefined || sent < cut) continue;
      const got = nodes[to]!.lastDelivered.get(`${from}:${sender.epoch}:${receiver.epoch}`);
      if (got !== sent) {
        violate(
          `messages ${from}->${to}: last sent #${sent}, last delivered ${got === undefined ? "none" : `#${got}`}`,
        );
      }
    }
  }

  const readyTimes = [...firstReady.values()];
  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    virtualMs: now,
    steps,
    allReadyMs: readyTimes.length === n ? Math.max(...readyTimes) : undefined,
    datagramsSent: stats.datagramsSent,
    dataTransmissions,
    dataRetransmissions,
    messagesSent: stats.messagesSent,
    messagesDelivered: stats.messagesDelivered,
    messagesDroppedByRestart: stats.messagesDroppedByRestart,
    crashes: stats.crashes,
    partitions: stats.partitions,
  };
}
