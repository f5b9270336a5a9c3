/**
 * The failure detector's guarantees as a simulator checker
 * (docs/membership.md, "Guarantees"):
 *
 * - Completeness: every process that crashes is declared failed by every
 *   process that knew it and stays up, within `detectionBoundMs` of the
 *   crash (or superseded sooner by the crashed member's next process).
 * - Accuracy: with no partitions and at most 10% datagram loss, no process is
 *   declared failed while it runs. Above that, false failures are counted
 *   and reported, not violations.
 * - Convergence: once the faults stop, every live process sees every other
 *   live process alive, by its current epoch: partitions heal and restarted
 *   members rejoin. The run does not end before that.
 * - A member is `left` only after a goodbye, and nobody says goodbye here.
 *   A goodbye relayed by gossip (which the adversary forges from a down
 *   member's address) is a suspicion: unrefuted, it ends in a relayed
 *   `left`, which counts as a failure (a false one while the process runs).
 */
import { DEFAULT_MEMBERSHIP_CONFIG, detectionBoundMs, type MembershipConfig } from "../membership/config.ts";
import type { Checker, SimNode, SimWorld } from "./simulate.ts";

/** Loss (corruption included) up to which no live process may be declared failed. */
export const ACCURACY_LOSS_MAX = 0.1;

interface Obligation {
  observer: number;
  observerEpoch: number;
  victim: number;
  victimEpoch: number;
  crashMs: number;
  deadlineMs: number;
  /** When the observer declared it failed (or learned its next process), if it did. */
  metMs: number | undefined;
}

/** True when no live process may be declared failed (or left by a relayed goodbye): no partitions, loss ≤ 10%. */
export function accuracyEnforced(f: SimWorld["options"]["faults"]): boolean {
  const effectiveLoss = 1 - (1 - f.loss) * (1 - f.corrupt);
  return f.partitionEveryMs === 0 && effectiveLoss <= ACCURACY_LOSS_MAX;
}

export interface MembershipCheckResult {
  /** Processes declared failed while they ran (partitions included). */
  falseFailures: number;
  /** Time from each crash to each observer's `peerFailed` for it, ms. */
  detectionsMs: number[];
  /** Obligations checked against the bound (crashes that stayed down long enough). */
  obligationsChecked: number;
  /** True when accuracy is enforced for this run (no partitions, loss ≤ 10%). */
  accuracyEnforced: boolean;
}

export function membershipChecker(
  world: SimWorld,
  config: Partial<MembershipConfig> = {},
): Checker & { readonly result: MembershipCheckResult } {
  const name = "membership";
  const c = { ...DEFAULT_MEMBERSHIP_CONFIG, ...config };
  const n = world.options.peers;
  const f = world.options.faults;
  const boundMs = detectionBoundMs(c, n);
  const effectiveLoss = 1 - (1 - f.loss) * (1 - f.corrupt);
  const result: MembershipCheckResult = {
    falseFailures: 0,
    detectionsMs: [],
    obligationsChecked: 0,
    accuracyEnforced: accuracyEnforced(f),
  };
  /** Per crash and observer that knew the crashed process; bounded by crashes × peers. */
  const open: Obligation[] = [];
  const epochOf = (node: SimNode) => node.peer?.epoch ?? 0;

  const settle = (observer: SimNode, victim: number, victimEpoch: number | undefined, ms: number) => {
    for (const o of open) {
      if (o.observer !== observer.id || o.observerEpoch !== epochOf(observer) || o.victim !== victim) continue;
      if (victimEpoch !== undefined && o.victimEpoch !== victimEpoch) continue;
      o.metMs ??= ms;
    }
  };

  /** Each pair of running processes where one does not see the other alive by its current epoch (lazily). */
  function* disagreements(): Generator<string> {
    for (const a of world.nodes.slice(1)) {
      if (a.peer === undefined) continue;
      const view = a.peer.members();
      for (const b of world.nodes.slice(1)) {
        if (b === a || b.peer === undefined) continue;
        const v = view[b.id - 1]!;
        if (v.state !== "alive" || v.epoch !== b.peer.epoch)
          yield `peer ${a.id} sees peer ${b.id} as ${v.state} (epoch ${v.epoch}), not alive with epoch ${b.peer.epoch}`;
      }
    }
  }

  /** A verdict about a process that still runs: counted, and a violation where accuracy is owed. */
  const falseFailure = (observer: SimNode, event: { peer: number; epoch: number }, what: string) => {
    const target = world.nodes[event.peer]!;
    if (!target.up || epochOf(target) !== event.epoch) return;
    result.falseFailures++;
    if (result.accuracyEnforced)
      world.violate(
        name,
        `peer ${observer.id} ${what} peer ${event.peer} (epoch ${event.epoch}) at ${world.now().toFixed(0)} ms while it ran, at ${(effectiveLoss * 100).toFixed(0)}% loss without partitions`,
      );
  };

  return {
    name,
    result,
    onEvent(node, event) {
      const now = world.now();
      switch (event.type) {
        case "peerFailed": {
          falseFailure(node, event, `declared failed (reported by ${event.reporter})`);
          for (const o of open)
            if (
              o.observer === node.id &&
              o.victim === event.peer &&
              o.victimEpoch === event.epoch &&
              o.metMs === undefined
            )
              result.detectionsMs.push(now - o.crashMs);
          settle(node, event.peer, event.epoch, now);
          return;
        }
        case "peerRestarted":
          // The crashed member's next process superseded the old one: nothing left to detect.
          settle(node, event.peer, event.oldEpoch, now);
          return;
        case "peerLeft": {
          if (!event.relayed) {
            world.violate(name, `peer ${node.id} reports peer ${event.peer} left, but nobody said goodbye`);
            return;
          }
          falseFailure(node, event, "declared left on a relayed goodbye");
          settle(node, event.peer, event.epoch, now);
          return;
        }
      }
    },
    onCrash(victim) {
      const now = world.now();
      const victimEpoch = victim.peer === undefined ? 0 : victim.peer.epoch;
      // onCrash runs after the process is gone; its epoch is the one the others know.
      for (const observer of world.nodes.slice(1)) {
        if (observer === victim || observer.peer === undefined) continue;
        const view = observer.peer.members()[victim.id - 1]!;
        if (view.state !== "alive" && view.state !== "suspect") continue;
        open.push({
          observer: observer.id,
          observerEpoch: observer.peer.epoch,
          victim: victim.id,
          victimEpoch: victimEpoch === 0 ? view.epoch : victimEpoch,
          crashMs: now,
          deadlineMs: now + boundMs,
          metMs: undefined,
        });
      }
    },
    onStart(node) {
      // An observer's restart ends its obligations: its new process knows nothing of the old crash.
      for (let i = open.length - 1; i >= 0; i--) if (open[i]!.observer === node.id) open.splice(i, 1);
    },
    settled() {
      if (!world.healed) return true;
      if (world.nodes.slice(1).some((n) => n.peer === undefined)) return false;
      return disagreements().next().done === true;
    },
    finish() {
      const now = world.now();
      for (const o of open) {
        if (o.deadlineMs > now && o.metMs === undefined) continue; // the run ended first
        result.obligationsChecked++;
        if (o.metMs === undefined || o.metMs > o.deadlineMs)
          world.violate(
            name,
            `peer ${o.observer} did not declare crashed peer ${o.victim} (epoch ${o.victimEpoch}) failed within ${boundMs.toFixed(0)} ms of its crash at ${o.crashMs.toFixed(0)} ms${o.metMs === undefined ? "" : ` (took ${(o.metMs - o.crashMs).toFixed(0)} ms)`}`,
          );
      }
      // Convergence is owed only once the faults have stopped.
      if (world.healed) for (const d of disagreements()) world.violate(name, `at the end ${d}`);
    },
  };
}
