/**
 * The bootstrap + exactly-once workload: every peer sends application
 * messages to random other peers while faults go on, and the checker
 * demands that each stream delivers exactly what `send()` accepted, in
 * order, once, intact, and nothing no one sent.
 *
 * A stream is one sender process (epoch) to one receiver process. It starts
 * at index 0 when the sender first learns the receiver's epoch, or at the
 * sender's next index when it learns of a restart (what was queued for the
 * old process is dropped and counted). Within a stream every delivery must
 * be the next index; at the end, every stream between live processes must
 * have delivered its last accepted message.
 */
import { type MembershipCheckResult, membershipChecker } from "./membership-checker.ts";
import {
  bootstrapChecker,
  type Checker,
  type SimApp,
  type SimNode,
  type SimOptions,
  type SimWorld,
  simulate,
} from "./simulate.ts";

export interface Workload {
  /** Application messages each process sends, spread over `sendWindowMs`, to random other peers. */
  messagesPerPeer: number;
  sendWindowMs: number;
  /** Message body sizes, uniform in [min, max] bytes; above ~1.3 KB they are fragmented. */
  bodyBytesMin: number;
  bodyBytesMax: number;
}

/** The simulator's options, with the workload in place of an application and checkers; the failure detector's checker runs unless `membership.enabled` is false. */
export interface ExactlyOnceOptions extends Omit<SimOptions, "app" | "checkers"> {
  workload: Workload;
}

export interface ExactlyOnceResult {
  seed: number;
  ok: boolean;
  violations: string[];
  virtualMs: number;
  steps: number;
  /** Virtual time at which the last peer became READY (first incarnations). */
  allReadyMs: number | undefined;
  datagramsSent: number;
  dataTransmissions: number;
  dataRetransmissions: number;
  /** Messages `send()` accepted. */
  messagesSent: number;
  messagesDelivered: number;
  /** Messages the senders dropped because the receiver restarted (reported in `peerRestarted`). */
  messagesDroppedByRestart: number;
  /**
   * Where every message `send()` accepted ended up; `accepted` = `delivered`
   * + `droppedByRestart` + `lostWithCrashedSender` + `unaccounted`, and
   * `unaccounted` is always 0 in a passing run.
   */
  accounting: Accounting;
  crashes: number;
  partitions: number;
  /** Datagrams of retired processes replayed to peers that had seen the restart; none may change anything. */
  retiredReplays: number;
  /** Forgeries and replays the adversary sent; none may change anything. */
  adversaryActions: number;
  /** Of those: delivered PATH_CHALLENGEs replayed, and goodbyes gossiped from a down member's address. */
  adversaryChallengeReplays: number;
  adversaryDownGoodbyes: number;
  /** The failure detector's checker: false failures and detection times (undefined when it is off). */
  membership: MembershipCheckResult | undefined;
}

/** Message bodies are derived from their identity so the receiver can check every byte. */
export function messageBody(from: number, epoch: number, to: number, index: number, length: number): Uint8Array {
  const body = new Uint8Array(Math.max(length, 16));
  const view = new DataView(body.buffer);
  view.setUint16(0, from);
  view.setUint16(2, to);
  view.setUint32(4, epoch);
  view.setUint32(8, index);
  view.setUint32(12, body.length);
  // xorshift32, four bytes a step (this runs for every message sent and again for every one delivered).
  let x = ((from * 73856093) ^ (epoch * 19349663) ^ (index * 83492791) ^ to) | 1;
  let i = 16;
  for (; i + 4 <= body.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(i, x);
  }
  for (; i < body.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[i] = x >>> 24;
  }
  return body;
}

export interface Accounting {
  accepted: number;
  /** Delivered once to the process it was sent to. */
  delivered: number;
  /** Not delivered: its receiver restarted, and the sender's `peerRestarted` reported it dropped. */
  droppedByRestart: number;
  /** Delivered, though the sender reported it dropped: it was not yet acknowledged when the restart was seen. */
  deliveredButReportedDropped: number;
  /** Not delivered: its sender crashed first. */
  lostWithCrashedSender: number;
  /** Not delivered, sender alive, not reported dropped: a bug. */
  unaccounted: number;
  /** Refused with queue-full, then dropped by the workload when the receiver restarted: never accepted. */
  withdrawn: number;
}

/** What the workload and its checker share: the record of what was sent. */
class Ledger {
  /** `from:fromEpoch:to` -> indices `send()` accepted, in order. */
  readonly acceptedLog = new Map<string, number[]>();
  /** `from:fromEpoch:to` -> length of its accepted log at the sender's last `peerRestarted` for `to`. */
  readonly restartPos = new Map<string, number>();
  /** `from:fromEpoch:to:index` of messages a sender reported dropped by a restart. */
  readonly reportedDropped = new Set<string>();
  /** `from:fromEpoch:to:index` of messages delivered. */
  readonly delivered = new Set<string>();
  withdrawn = 0;
  readonly accounting: Accounting = {
    accepted: 0,
    delivered: 0,
    droppedByRestart: 0,
    deliveredButReportedDropped: 0,
    lostWithCrashedSender: 0,
    unaccounted: 0,
    withdrawn: 0,
  };
  /** `from:fromEpoch:to` -> highest index `send()` accepted. */
  readonly accepted = new Map<string, number>();
  /** `from:fromEpoch:to:toEpoch` -> first index of that stream, when it is not 0 (the sender saw a restart). */
  readonly streamStart = new Map<string, number>();
  /** `from:fromEpoch:toEpoch` -> last index delivered on that stream. */
  readonly lastDelivered = new Map<string, number>();
  messagesSent = 0;
  messagesDelivered = 0;
  messagesDroppedByRestart = 0;
}

/** The workload of one process: sends its share of messages, retrying in order after `queue-full`. */
function workloadApp(node: SimNode, world: SimWorld, ledger: Ledger, workload: Workload): SimApp {
  const n = world.options.peers;
  const peer = node.peer!;
  const epoch = peer.epoch;
  const nextIndex = new Array<number>(n + 1).fill(0);
  let toSend = n > 1 ? workload.messagesPerPeer : 0;
  /** Messages refused with queue-full, per destination, retried in order on `writable`. */
  const blocked = new Map<number, Uint8Array[]>();
  let blockedCount = 0;

  const trySend = (to: number, body: Uint8Array): boolean => {
    const result = node.send(to, body);
    if (result.ok) {
      const index = new DataView(body.buffer, body.byteOffset).getUint32(8);
      ledger.accepted.set(`${node.id}:${epoch}:${to}`, index);
      const log = ledger.acceptedLog.get(`${node.id}:${epoch}:${to}`) ?? [];
      log.push(index);
      ledger.acceptedLog.set(`${node.id}:${epoch}:${to}`, log);
      ledger.messagesSent++;
      return true;
    }
    if (result.reason !== "queue-full") world.violate("exactly-once", `send refused: ${result.reason}`);
    return false;
  };
  const sendInOrder = (to: number, body: Uint8Array) => {
    const queue = blocked.get(to);
    if (queue !== undefined) {
      queue.push(body);
      blockedCount++;
    } else if (!trySend(to, body)) {
      blocked.set(to, [body]);
      blockedCount++;
    }
  };
  const sendOne = () => {
    if (toSend <= 0) return;
    toSend--;
    let to = world.rng.int(1, n - 1);
    if (to >= node.id) to++;
    const index = nextIndex[to]!++;
    const length = world.rng.int(workload.bodyBytesMin, workload.bodyBytesMax);
    sendInOrder(to, messageBody(node.id, epoch, to, index, length));
    if (toSend > 0) scheduleNext();
  };
  const scheduleNext = () => {
    const gap = (workload.sendWindowMs / Math.max(1, workload.messagesPerPeer)) * 2 * world.rng.float();
    node.setTimer(gap, sendOne);
  };
  if (toSend > 0) scheduleNext();

  return {
    onEvent(event) {
      if (event.type === "peerRestarted") {
        ledger.messagesDroppedByRestart += event.messagesDropped;
        // The session drops what the old process had not acknowledged: the
        // newest messages of the stream since the last restart.
        const key = `${node.id}:${epoch}:${event.peer}`;
        const log = ledger.acceptedLog.get(key) ?? [];
        const since = ledger.restartPos.get(key) ?? 0;
        if (event.messagesDropped > log.length - since)
          world.violate(
            "exactly-once",
            `peer ${node.id} reported ${event.messagesDropped} messages to ${event.peer} dropped, but only ${log.length - since} were accepted since its last restart`,
          );
        for (const index of log.slice(Math.max(since, log.length - event.messagesDropped)))
          ledger.reportedDropped.add(`${key}:${index}`);
        ledger.restartPos.set(key, log.length);
        // What was blocked for the old process is withdrawn: never accepted, and the stream starts over.
        const queue = blocked.get(event.peer);
        if (queue !== undefined) {
          blockedCount -= queue.length;
          blocked.delete(event.peer);
          ledger.withdrawn += queue.length;
        }
        ledger.streamStart.set(`${node.id}:${epoch}:${event.peer}:${event.newEpoch}`, nextIndex[event.peer]!);
      } else if (event.type === "writable") {
        const queue = blocked.get(event.peer);
        if (queue === undefined) return;
        while (queue.length > 0 && trySend(event.peer, queue[0]!)) {
          queue.shift();
          blockedCount--;
        }
        if (queue.length === 0) blocked.delete(event.peer);
      }
    },
    done: () => toSend === 0 && blockedCount === 0,
  };
}

/** Judges every delivered message against the ledger, and every stream at the end. */
function exactlyOnceChecker(world: SimWorld, ledger: Ledger): Checker {
  const name = "exactly-once";
  /** `observer:observerEpoch:peer` -> epochs of `peer` that process saw replaced by a newer one. */
  const retired = new Map<string, Set<number>>();
  return {
    name,
    onEvent(node, event) {
      if (event.type === "peerRestarted") {
        const key = `${node.id}:${node.peer!.epoch}:${event.peer}`;
        const gone = retired.get(key) ?? new Set<number>();
        if (gone.has(event.newEpoch))
          world.violate(
            name,
            `peer ${node.id} took retired epoch ${event.newEpoch} of peer ${event.peer} back as a restart (a replayed old datagram)`,
          );
        gone.add(event.oldEpoch);
        retired.set(key, gone);
        return;
      }
      if (event.type !== "message") return;
      ledger.messagesDelivered++;
      const body = event.body;
      if (body.length < 16) {
        world.violate(name, `peer ${node.id} delivered a ${body.length}-byte message no one sent`);
        return;
      }
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const from = view.getUint16(0);
      const to = view.getUint16(2);
      const epoch = view.getUint32(4);
      const index = view.getUint32(8);
      const length = view.getUint32(12);
      if (from !== event.from || to !== node.id || length !== body.length) {
        world.violate(name, `peer ${node.id} delivered a message claiming ${from}->${to} from peer ${event.from}`);
        return;
      }
      if (Buffer.compare(messageBody(from, epoch, to, index, length), body) !== 0) {
        world.violate(name, `peer ${node.id} delivered a corrupted message ${from}/${epoch}#${index}`);
        return;
      }
      const accepted = ledger.accepted.get(`${from}:${epoch}:${to}`);
      if (accepted === undefined || index > accepted) {
        world.violate(name, `peer ${node.id} delivered ${from}/${epoch}#${index}, which send() never accepted`);
        return;
      }
      const myEpoch = node.peer!.epoch;
      const current = node.peer!.session(from)!.remoteEpoch;
      if (epoch !== current) {
        world.violate(
          name,
          `peer ${node.id} delivered ${from}/${epoch}#${index}, from a process it no longer talks to (current epoch ${current})`,
        );
        return;
      }
      ledger.delivered.add(`${from}:${epoch}:${to}:${index}`);
      const stream = `${from}:${epoch}:${myEpoch}`;
      const last = ledger.lastDelivered.get(stream);
      const expected =
        last === undefined ? (ledger.streamStart.get(`${from}:${epoch}:${to}:${myEpoch}`) ?? 0) : last + 1;
      if (index !== expected) {
        const what = last === undefined ? `as its first message (expected #${expected})` : `after #${last}`;
        const why = index < expected ? "duplicate or out of order" : "gap";
        world.violate(name, `peer ${node.id} (epoch ${myEpoch}) delivered ${from}/${epoch}#${index} ${what}: ${why}`);
      }
      ledger.lastDelivered.set(stream, index);
    },
    finish() {
      for (const sender of world.nodes.slice(1)) {
        const sp = sender.peer;
        if (sp === undefined) continue;
        for (const receiver of world.nodes.slice(1)) {
          const rp = receiver.peer;
          if (receiver === sender || rp === undefined) continue;
          if (sp.session(receiver.id)!.remoteEpoch !== rp.epoch) continue; // reported by the bootstrap checker
          const accepted = ledger.accepted.get(`${sender.id}:${sp.epoch}:${receiver.id}`);
          const start = ledger.streamStart.get(`${sender.id}:${sp.epoch}:${receiver.id}:${rp.epoch}`) ?? 0;
          if (accepted === undefined || accepted < start) continue;
          const got = ledger.lastDelivered.get(`${sender.id}:${sp.epoch}:${rp.epoch}`);
          if (got !== accepted) {
            world.violate(
              name,
              `messages ${sender.id}->${receiver.id}: last accepted #${accepted}, last delivered ${got === undefined ? "none" : `#${got}`}`,
            );
          }
        }
      }
      const a = ledger.accounting;
      const unaccounted: string[] = [];
      for (const [key, log] of ledger.acceptedLog) {
        const [from, fromEpoch] = key.split(":").map(Number) as [number, number];
        const senderAlive = world.nodes[from]?.peer?.epoch === fromEpoch;
        for (const index of log) {
          const id = `${key}:${index}`;
          a.accepted++;
          const delivered = ledger.delivered.has(id);
          const dropped = ledger.reportedDropped.has(id);
          if (delivered) {
            a.delivered++;
            if (dropped) a.deliveredButReportedDropped++;
          } else if (dropped) a.droppedByRestart++;
          else if (!senderAlive) a.lostWithCrashedSender++;
          else {
            a.unaccounted++;
            if (unaccounted.length < 5) unaccounted.push(id);
          }
        }
      }
      a.withdrawn = ledger.withdrawn;
      if (a.unaccounted > 0)
        world.violate(
          name,
          `${a.unaccounted} accepted messages neither delivered, nor reported dropped, nor lost with a crashed sender (from:epoch:to:index ${unaccounted.join(", ")})`,
        );
    },
  };
}

/** Runs the bootstrap + exactly-once workload on the simulator. */
export function runExactlyOnce(options: ExactlyOnceOptions): ExactlyOnceResult {
  const ledger = new Ledger();
  let bootstrap: ReturnType<typeof bootstrapChecker> | undefined;
  let membership: ReturnType<typeof membershipChecker> | undefined;
  const result = simulate({
    ...options,
    app: (node, world) => workloadApp(node, world, ledger, options.workload),
    checkers: (world) => {
      bootstrap = bootstrapChecker(world);
      const checkers: Checker[] = [bootstrap, exactlyOnceChecker(world, ledger)];
      if (options.membership?.enabled !== false) {
        membership = membershipChecker(world, options.membership);
        checkers.push(membership);
      }
      return checkers;
    },
  });
  return {
    ...result,
    allReadyMs: bootstrap?.allReadyMs,
    messagesSent: ledger.messagesSent,
    messagesDelivered: ledger.messagesDelivered,
    messagesDroppedByRestart: ledger.messagesDroppedByRestart,
    membership: membership?.result,
    accounting: ledger.accounting,
  };
}
