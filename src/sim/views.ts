/**
 * The views workload (`bun run sim --workload views`): every process runs
 * the group layer (src/group/group.ts) and multicasts numbered messages
 * while faults go on; its application state is the set of messages it has
 * delivered since the group's founding, handed to joiners by state
 * transfer. The checker holds the run to docs/groups.md's guarantees:
 *
 * - agreement: one membership per view (group founding, view id);
 * - self-inclusion: a process installs only views it is in;
 * - order: each process installs views of one founding in increasing order;
 * - primary component: a view shares a majority of the previous view's
 *   members (so two disjoint sides never both go on);
 * - virtual synchrony: processes that install the same two consecutive
 *   views delivered the same messages in the first;
 * - FIFO, no duplicate, nothing invented: a process delivers each sender
 *   process's messages in the order they were multicast, once, as sent;
 * - state transfer: a joiner's state equals the state every member had at
 *   that view's installation;
 * - liveness: once the faults stop, every live process is in one view with
 *   all the others, with the state and not wedged, before the run ends.
 *
 * With an order (src/group/ordered.ts) every multicast goes in it, and:
 * - total: any two processes deliver their common messages in the same order;
 * - causal: a process delivers a message only after every message its
 *   sender had delivered in that view before sending it (happened-before,
 *   as the checker records it at each send);
 * - safe: uniform agreement (a message any process delivered in a view,
 *   even one that crashed right after, is delivered there by every process
 *   that moved on from it) and, with total, uniform total order (crashed
 *   processes' last views count too).
 */
import { Group, type GroupEvent, type View } from "../group/group.ts";
import { type MulticastOrder, type OrderedEvent, OrderedGroup, type TotalAlgorithm } from "../group/ordered.ts";
import { membershipChecker } from "./membership-checker.ts";
import { bootstrapChecker, type Checker, type SimNode, type SimOptions, type SimWorld, simulate } from "./simulate.ts";

export interface ViewsWorkload {
  /** Multicasts per process incarnation, spread over `sendWindowMs`. */
  messagesPerPeer: number;
  sendWindowMs: number;
  /** Each send is a burst of 1..burstMax multicasts in one go (gathered into one message per member); 1 by default. */
  burstMax?: number;
  /** Every multicast in this order (src/group/ordered.ts), with its checker; "fifo" by default. */
  order?: MulticastOrder;
  /** For total order: "sequencer" by default. */
  algorithm?: TotalAlgorithm;
  /** Every multicast safe (uniform), and the checkers of uniform agreement. */
  safe?: boolean;
}

export interface ViewsOptions extends Omit<SimOptions, "app" | "checkers"> {
  workload: ViewsWorkload;
  /** Plants a bug in the checked run (npm run mutants); none by default. */
  plant?: (group: Group) => void;
  /** Called after the run, before the result is built: a test's or a debugger's look at the end state. */
  inspect?: (world: SimWorld) => void;
}

export interface ViewsResult {
  seed: number;
  ok: boolean;
  violations: string[];
  virtualMs: number;
  steps: number;
  /** Views installed, counted once per (founding, id). */
  views: number;
  /** Multicasts accepted and deliveries made. */
  multicasts: number;
  deliveries: number;
  /** State transfers completed. */
  stateTransfers: number;
  crashes: number;
  partitions: number;
  /** Virtual time from the faults' end to the last process joining the final view (undefined: not reached). */
  convergedAfterHealMs: number | undefined;
}

/** A message's identity, carried in its body: sender id, sender epoch, index from 1. */
function body(id: number, epoch: number, index: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, id);
  v.setUint32(4, epoch);
  v.setUint32(8, index);
  return b;
}

function identity(b: Uint8Array): { id: number; epoch: number; index: number } | undefined {
  if (b.length !== 12) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { id: v.getUint32(0), epoch: v.getUint32(4), index: v.getUint32(8) };
}

const key = (id: number, epoch: number, index: number) => `${id}:${epoch}:${index}`;
const viewKey = (v: { group: number; id: number }) => `${v.group}/${v.id}`;
const membersText = (v: View) => v.members.map((m) => `${m.id}@${m.epoch}`).join(",");

/** The application state: the set of messages delivered since the founding, kept as a sorted list of keys. */
class AppState {
  readonly delivered = new Set<string>();
  encode(): Uint8Array {
    return new TextEncoder().encode([...this.delivered].sort().join("\n"));
  }
  decode(bytes: Uint8Array): void {
    this.delivered.clear();
    const text = new TextDecoder().decode(bytes);
    if (text.length > 0) for (const k of text.split("\n")) this.delivered.add(k);
  }
  digest(): string {
    return `${this.delivered.size}:${[...this.delivered].sort().join("|")}`;
  }
}

/** Judges one run from every group event of every process incarnation. */
class ViewsChecker implements Checker {
  readonly name = "views";
  views = 0;
  multicasts = 0;
  deliveries = 0;
  stateTransfers = 0;
  convergedAtMs: number | undefined;
  /** (founding/id) -> members, as first installed. */
  private readonly membership = new Map<string, string>();
  private readonly membersOf = new Map<string, View>();
  /** Per process (id@epoch): its last installed view, and what it delivered in it. */
  private readonly current = new Map<string, { view: View; delivered: string[]; hadState: boolean }>();
  /** (founding/id -> next id) -> delivered set in the first, by the first process to install both. */
  private readonly transitions = new Map<string, string>();
  /** (founding/id) -> application state digest at installation (members with state). */
  private readonly stateAt = new Map<string, string>();
  /** Per receiver process and sender process: the last index delivered. */
  private readonly lastIndex = new Map<string, number>();
  /** Epochs of each id's processes, in the order they started. */
  readonly started = new Map<number, number[]>();
  /** Messages multicast, by key. */
  readonly sent = new Set<string>();
  readonly groups = new Map<string, { group: Group; state: AppState; node: SimNode; ordered?: OrderedGroup }>();

  /**
   * Per process (id@epoch), what it delivered in order, by view (total-order
   * workload): the views it moved on from with the others (`confirmed`), and
   * the one it is in or was in last.
   */
  private readonly sequences = new Map<string, { confirmed: string[]; current: string[]; view: string }>();
  /** Per process (id@epoch): its view, and per sender stream the last index it delivered in it (causal workload). */
  private readonly deliveredInView = new Map<string, { view: string; last: Map<string, number> }>();
  /** Per message: the view its sender was in when it multicast it, and what it had delivered there then. */
  private readonly causes = new Map<string, { view: string; last: Map<string, number> }>();
  /** Per view (founding/id): every message any process delivered in it, crashed or not (safe workload). */
  private readonly anyDelivered = new Map<string, Set<string>>();
  private readonly totalOrder: boolean;
  private readonly causal: boolean;
  private readonly safe: boolean;

  constructor(
    private readonly world: SimWorld,
    workload: Pick<ViewsWorkload, "order" | "safe"> = {},
  ) {
    this.totalOrder = workload.order === "total";
    this.causal = workload.order === "causal";
    this.safe = workload.safe === true;
  }

  violateOrder(message: string): void {
    this.world.violate("total-order", message);
  }

  /** A process is about to multicast `message`: its causes are what it delivered in its view so far. */
  noteSend(me: string, message: string): void {
    if (!this.causal) return;
    const d = this.deliveredInView.get(me);
    if (d !== undefined) this.causes.set(message, { view: d.view, last: new Map(d.last) });
  }

  /** Causal order: what the sender had delivered in this view before sending, the receiver delivered here before it. */
  private checkCauses(me: string, view: string, message: string): void {
    const c = this.causes.get(message);
    const d = this.deliveredInView.get(me);
    if (c === undefined || d === undefined || c.view !== view) return;
    for (const [stream, index] of c.last) {
      const had = d.last.get(stream) ?? 0;
      if (had < index) {
        this.world.violate(
          "causal-order",
          `${me} delivered ${message} before #${index} of ${stream} (had #${had}), which its sender delivered before sending it`,
        );
        return;
      }
    }
  }

  /** Uniform agreement: a message delivered in a view by anyone is delivered there by every process that moved on. */
  private checkUniform(): void {
    for (const [t, set] of this.transitions) {
      const view = t.split(">")[0]!;
      const movedOn = new Set(set === "" ? [] : set.split(","));
      for (const m of this.anyDelivered.get(view) ?? []) {
        if (!movedOn.has(m)) {
          this.world.violate(
            "uniform-agreement",
            `${m} was delivered in view ${view}, but not by the processes that moved on from it to ${t.split(">")[1]}`,
          );
          return;
        }
      }
    }
  }

  /**
   * Total order agreement: any two processes deliver their common messages
   * in the same order, over what they delivered in views they moved on from
   * with the others, and in the view they are in at the end. Not over the
   * last view of a process that crashed or was left out: without uniform
   * (safe) delivery, a member that delivers and then fails may have seen an
   * order the survivors never see (a sequencer cut off in a minority orders
   * its own way until it is left out). Checked pairwise: the positions in one
   * process's sequence of the other's common messages must increase.
   */
  private checkTotalOrder(): void {
    const alive = new Set(
      this.world.nodes.slice(1).flatMap((n) => {
        const g = n.peer === undefined ? undefined : this.groups.get(`${n.id}@${n.peer.epoch}`)?.group.currentView;
        return n.peer === undefined || g === undefined ? [] : [`${n.id}@${n.peer.epoch}`];
      }),
    );
    // With safe delivery the order is uniform: a process's last view counts even if it crashed in it.
    const all = [...this.sequences.entries()].map(
      ([me, s]) => [me, alive.has(me) || this.safe ? [...s.confirmed, ...s.current] : s.confirmed] as const,
    );
    for (let a = 0; a < all.length; a++) {
      const [meA, seqA] = all[a]!;
      const position = new Map(seqA.map((k, i) => [k, i]));
      for (let b = a + 1; b < all.length; b++) {
        const [meB, seqB] = all[b]!;
        let last = -1;
        let lastKey = "";
        for (const k of seqB) {
          const p = position.get(k);
          if (p === undefined) continue;
          if (p < last) {
            this.violateOrder(`${meA} delivered ${k} before ${lastKey}; ${meB} delivered them the other way round`);
            return;
          }
          last = p;
          lastKey = k;
        }
      }
    }
  }

  private violate(message: string): void {
    this.world.violate(this.name, message);
  }

  onGroupEvent(node: SimNode, epoch: number, group: Group, state: AppState, e: GroupEvent): void {
    const me = `${node.id}@${epoch}`;
    switch (e.type) {
      case "view": {
        const v = e.view;
        const k = viewKey(v);
        const text = membersText(v);
        const known = this.membership.get(k);
        if (known === undefined) {
          this.membership.set(k, text);
          this.membersOf.set(k, v);
          this.views++;
          // Primary component: most of the previous view's members are in this one,
          // or at least half, the others all replaced by newer processes of their ids.
          const prev = this.membersOf.get(viewKey({ group: v.group, id: v.id - 1 }));
          if (prev !== undefined) {
            const keptBy = (p: { id: number; epoch: number }) =>
              v.members.some((m) => m.id === p.id && m.epoch === p.epoch);
            const replaced = (p: { id: number; epoch: number }) => {
              const epochs = this.started.get(p.id) ?? [];
              return epochs.indexOf(p.epoch) < epochs.length - 1;
            };
            const kept = prev.members.filter(keptBy).length;
            const ok =
              kept > prev.members.length / 2 ||
              (kept >= Math.ceil(prev.members.length / 2) && prev.members.every((p) => keptBy(p) || replaced(p)));
            if (!ok)
              this.violate(
                `view ${k} keeps ${kept} of the ${prev.members.length} members of view ${v.id - 1}: not a majority`,
              );
          }
        } else if (known !== text) this.violate(`view ${k} installed as {${text}} by ${me}, as {${known}} before`);
        if (!v.members.some((m) => m.id === node.id && m.epoch === epoch))
          this.violate(`${me} installed view ${k} {${text}} without itself`);
        const was = this.current.get(me);
        if (was !== undefined && was.view.group === v.group) {
          if (v.id <= was.view.id) this.violate(`${me} installed view ${v.id} after view ${was.view.id}`);
          if (v.id === was.view.id + 1 && was.hadState) {
            // Virtual synchrony: the same messages in the view both left for this one.
            const t = `${viewKey(was.view)}>${v.id}`;
            const set = [...was.delivered].sort().join(",");
            const other = this.transitions.get(t);
            if (other === undefined) this.transitions.set(t, set);
            else if (other !== set)
              this.violate(
                `${me} delivered {${set}} in view ${viewKey(was.view)} before view ${v.id}; another member delivered {${other}}`,
              );
          }
        }
        if (this.totalOrder) {
          const seq = this.sequences.get(me) ?? { confirmed: [], current: [], view: "" };
          // Moved on from my previous view with the others: what I delivered there counts.
          if (seq.view === viewKey({ group: v.group, id: v.id - 1 })) seq.confirmed.push(...seq.current);
          seq.current = [];
          seq.view = k;
          this.sequences.set(me, seq);
        }
        this.current.set(me, { view: v, delivered: [], hadState: group.isMember });
        this.deliveredInView.set(me, { view: k, last: new Map() });
        if (group.isMember) this.checkState(k, state, me);
        return;
      }
      case "message": {
        const id = identity(e.body);
        const cur = this.current.get(me);
        if (id === undefined || id.id !== e.from || !this.sent.has(key(id.id, id.epoch, id.index))) {
          this.violate(`${me} delivered a message no one multicast (from ${e.from})`);
          return;
        }
        if (cur === undefined || cur.view.id !== e.viewId)
          this.violate(`${me} delivered a message of view ${e.viewId} while in view ${cur?.view.id}`);
        const stream = `${me}<${id.id}@${id.epoch}`;
        const last = this.lastIndex.get(stream) ?? 0;
        if (id.index <= last)
          this.violate(
            `${me} delivered #${id.index} of ${id.id}@${id.epoch} after #${last}: duplicate or out of order`,
          );
        this.lastIndex.set(stream, id.index);
        this.deliveries++;
        const m = key(id.id, id.epoch, id.index);
        cur?.delivered.push(m);
        if (cur !== undefined) {
          const vk = viewKey(cur.view);
          if (this.causal) {
            this.checkCauses(me, vk, m);
            this.deliveredInView.get(me)?.last.set(`${id.id}@${id.epoch}`, id.index);
          }
          if (this.safe) {
            const any = this.anyDelivered.get(vk) ?? new Set<string>();
            any.add(m);
            this.anyDelivered.set(vk, any);
          }
        }
        if (this.totalOrder) this.sequences.get(me)?.current.push(key(id.id, id.epoch, id.index));
        return;
      }
      case "excluded":
        this.current.delete(me);
        this.deliveredInView.delete(me);
        return;
      case "state": {
        this.stateTransfers++;
        const cur = this.current.get(me);
        if (cur !== undefined) this.checkState(viewKey(cur.view), state, me);
        return;
      }
      default:
        return;
    }
  }

  private checkState(view: string, state: AppState, me: string): void {
    const digest = state.digest();
    const known = this.stateAt.get(view);
    if (known === undefined) this.stateAt.set(view, digest);
    else if (known !== digest)
      this.violate(
        `${me} has state of ${digest.split(":")[0]} messages at view ${view}; another member had ${known.split(":")[0]}`,
      );
  }

  /** Every live process in one view with all the others, with the state. */
  converged(): boolean {
    const live = this.world.nodes.slice(1).filter((n) => n.peer !== undefined);
    let view: View | undefined;
    for (const n of live) {
      const g = this.groups.get(`${n.id}@${n.peer!.epoch}`);
      const v = g?.group.currentView;
      if (g === undefined || v === undefined || !g.group.isMember || g.group.isWedged) return false;
      if (view === undefined) view = v;
      else if (v.id !== view.id || v.group !== view.group) return false;
    }
    if (view === undefined) return false;
    return (
      view.members.length === live.length &&
      live.every((n) => view!.members.some((m) => m.id === n.id && m.epoch === n.peer!.epoch))
    );
  }

  settled(): boolean {
    if (!this.world.healed) return true;
    const done = this.converged();
    if (done) this.convergedAtMs ??= this.world.now();
    return done;
  }

  finish(): void {
    if (this.totalOrder) this.checkTotalOrder();
    if (this.safe) this.checkUniform();
    if (!this.world.healed) return;
    if (!this.converged()) {
      const views = this.world.nodes
        .slice(1)
        .filter((n) => n.peer !== undefined)
        .map((n) => {
          const g = this.groups.get(`${n.id}@${n.peer!.epoch}`)?.group;
          const v = g?.currentView;
          return `${n.id}: ${v === undefined ? "no view" : `${viewKey(v)} {${membersText(v)}}${g!.isMember ? "" : " without state"}${g!.isWedged ? " wedged" : ""}`}`;
        });
      this.violate(`after the faults healed the live processes are not in one view with state: ${views.join("; ")}`);
    } else {
      // The network went quiet with everyone in one view: nothing may still wait for its order, causes or safety
      // (no other checker sees a message that is never delivered within a view; found in review).
      for (const n of this.world.nodes.slice(1)) {
        const o = n.peer === undefined ? undefined : this.groups.get(`${n.id}@${n.peer.epoch}`)?.ordered;
        if (o !== undefined && o.pending > 0)
          this.world.violate("ordered-liveness", `${n.id} still holds ${o.pending} messages undelivered at the end`);
      }
    }
  }
}

/** Runs the views workload; the same options always give the same result. */
export function runViews(options: ViewsOptions): ViewsResult {
  let checker: ViewsChecker | undefined;
  const result = simulate({
    ...options,
    checkers: (world) => {
      checker = new ViewsChecker(world, options.workload);
      const inspector: Checker = { name: "inspect", finish: () => options.inspect?.(world) };
      return [bootstrapChecker(world), membershipChecker(world, options.membership), checker, inspector];
    },
    app: (node, world) => {
      const c = checker!;
      const epoch = node.peer!.epoch;
      const state = new AppState();
      let groupRef: Group | undefined;
      const deliver = (e: GroupEvent | OrderedEvent) => {
        if (e.type === "message") {
          const id = identity(e.body);
          if (id !== undefined) state.delivered.add(key(id.id, id.epoch, id.index));
          if ("order" in e && (e.order !== order || e.safe !== safe))
            c.violateOrder(`${node.id}@${epoch} delivered a ${e.order}${e.safe ? " safe" : ""} message`);
        }
        c.onGroupEvent(node, epoch, groupRef!, state, e as GroupEvent);
      };
      const order = options.workload.order ?? "fifo";
      const safe = options.workload.safe === true;
      const how = { order, algorithm: options.workload.algorithm, safe };
      const groupOptions = {
        getState: () => state.encode(),
        setState: (bytes: Uint8Array) => state.decode(bytes),
        // Scaled to the simulated network, as an operator would for a slow one.
        timing: {
          phaseTimeoutMs: 4 * (world.options.faults.delayMs + world.options.faults.jitterMs) + 400,
        },
      };
      const ordered = order !== "fifo" || safe ? new OrderedGroup(groupOptions, node.id, deliver) : undefined;
      const group = ordered?.group ?? new Group({ ...groupOptions, onEvent: deliver });
      groupRef = group;
      options.plant?.(group);
      group.start(node.attach(group));
      c.groups.set(`${node.id}@${epoch}`, { group, state, node, ordered });
      c.started.set(node.id, [...(c.started.get(node.id) ?? []), epoch]);
      const w = options.workload;
      let index = 0;
      for (let i = 0; i < w.messagesPerPeer; i++) {
        node.setTimer(world.rng.int(0, w.sendWindowMs), () => {
          // No draw for bursts of one: seeds from before bursts replay as they did.
          const burst = (w.burstMax ?? 1) > 1 ? world.rng.int(1, w.burstMax!) : 1;
          for (let b = 0; b < burst; b++) {
            const n = ++index;
            // Recorded first: my own copy is delivered inside multicast.
            c.sent.add(key(node.id, epoch, n));
            c.noteSend(`${node.id}@${epoch}`, key(node.id, epoch, n));
            const b = body(node.id, epoch, n);
            if ((ordered === undefined ? group.multicast(b) : ordered.multicast(b, how)).ok) c.multicasts++;
            else {
              c.sent.delete(key(node.id, epoch, n));
              index--;
            }
          }
        });
      }
      return {};
    },
  });
  const c = checker!;
  return {
    seed: result.seed,
    ok: result.ok,
    violations: result.violations,
    virtualMs: result.virtualMs,
    steps: result.steps,
    views: c.views,
    multicasts: c.multicasts,
    deliveries: c.deliveries,
    stateTransfers: c.stateTransfers,
    crashes: result.crashes,
    partitions: result.partitions,
    convergedAfterHealMs: c.convergedAtMs === undefined ? undefined : c.convergedAtMs - options.healAtMs,
  };
}
