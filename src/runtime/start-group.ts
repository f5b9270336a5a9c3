/**
 * `startGroup`: the group layer (src/group/group.ts) on a real peer. The
 * thin adapter between the sans-I/O core and `RollcallPeer`: it lives in the
 * runtime so that the core never imports it.
 */
import { InputError } from "../errors.ts";
import type { Group, GroupEvent, GroupProcess, GroupTiming } from "../group/group.ts";
import { type MulticastOptions, type MulticastOrder, OrderedGroup } from "../group/ordered.ts";
import type { SendResult } from "../reliability/session.ts";
import type { RollcallPeer, StartOptions } from "./rollcall-peer.ts";
import { startPeer } from "./rollcall-peer.ts";

export interface StartGroupOptions extends StartOptions {
  /** The application's state as bytes, as of now: sent to each member that joins (docs/groups.md). */
  getState?: () => Uint8Array;
  /** Replaces the application's state; called before any message of the first view with the state. */
  setState?: (state: Uint8Array) => void;
  /** Take every group event synchronously instead of `groupEvents()`. */
  onGroupEvent?: (event: GroupAppEvent) => void;
  /** Group events buffered for `groupEvents()`; past it the oldest are dropped and counted (default 65,536). */
  groupEventsMax?: number;
  /** The group layer's timing (phase timeout, join interval...); defaults suit a LAN. */
  groupTiming?: Partial<GroupTiming>;
}

/** What the application sees of the group: views with their changes, multicasts tagged with their view. */
export type GroupAppEvent =
  | {
      type: "view";
      viewId: number;
      /** The members, `{ id, epoch }`, in id order. */
      members: GroupProcess[];
      /** Members new since my previous view. */
      joined: GroupProcess[];
      /** Members of my previous view that are not in this one, and of those, the ones the failure detector declared failed. */
      left: GroupProcess[];
      failed: GroupProcess[];
    }
  /**
   * A multicast, delivered in the view it was sent in, FIFO per sender, in
   * its `order` (causal ones after their causes, total-order ones in one
   * order at every member); `safe` ones once every member of the view had them.
   */
  | { type: "message"; from: number; viewId: number; body: Uint8Array; order: MulticastOrder; safe: boolean }
  | Exclude<GroupEvent, { type: "view" } | { type: "message" }>;

/** A process in a group: the peer, its current view, multicast. */
export class RollcallGroup {
  /** Resolves once I am a member of a view with the group's state. */
  readonly ready: Promise<void>;
  /** Group events dropped because `groupEvents()` was not read (at `groupEventsMax`). */
  eventsDropped = 0;
  private buffered: GroupAppEvent[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  /** @internal */
  constructor(
    readonly peer: RollcallPeer,
    private readonly group: Group,
    private readonly ordered: OrderedGroup,
    private readonly eventsMax: number,
    private readonly handler: ((event: GroupAppEvent) => void) | undefined,
    ready: Promise<void>,
  ) {
    this.ready = ready;
  }

  /** The installed view (id and members), if any. */
  get view(): { viewId: number; members: GroupProcess[] } | undefined {
    const v = this.group.currentView;
    return v === undefined ? undefined : { viewId: v.id, members: v.members.map((m) => ({ ...m })) };
  }

  /** True once in a view with the group's state. */
  get isMember(): boolean {
    return this.group.isMember;
  }

  /**
   * Delivers `body` to every member of the current view, in the view it is
   * sent in, FIFO from me (docs/groups.md, "Ordered multicast"); with
   * `order: "causal"`, after every causal message I had delivered; with
   * `order: "total"`, also in one order at every member, across senders
   * (`algorithm`: "sequencer", the default, or "isis"); with `safe: true`,
   * only once every member of the view holds it. During a view change it
   * waits in a bounded outbox: `queue-full` past 4,096 (and past the group's
   * other bounds; `writable` follows).
   */
  multicast(body: Uint8Array, options: MulticastOptions = {}): { ok: true } | { ok: false; reason: "queue-full" } {
    if (this.closed) throw new Error("multicast on a closed group");
    const order = options.order ?? "fifo";
    if (order !== "fifo" && order !== "causal" && order !== "total")
      throw new InputError(`order must be "fifo", "causal" or "total", got ${JSON.stringify(order)}`);
    const algorithm = options.algorithm ?? "sequencer";
    if (algorithm !== "sequencer" && algorithm !== "isis")
      throw new InputError(`algorithm must be "sequencer" or "isis", got ${JSON.stringify(algorithm)}`);
    if (options.safe !== undefined && typeof options.safe !== "boolean")
      throw new InputError(`safe must be true or false, got ${JSON.stringify(options.safe)}`);
    return this.ordered.multicast(body, { order, algorithm, safe: options.safe === true });
  }

  /** A point-to-point message to one peer (`RollcallPeer.send`). */
  send(to: number, body: Uint8Array): SendResult {
    return this.peer.send(to, body);
  }

  /** @internal The core's events, in order. */
  deliver(event: GroupAppEvent): void {
    if (this.handler !== undefined) {
      this.handler(event);
      return;
    }
    if (this.buffered.length >= this.eventsMax) {
      this.buffered.shift();
      this.eventsDropped++;
    }
    this.buffered.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The group's events, in order: `view`, `message`, `blocked`, `excluded`, `restarted`, `state`. One consumer; ends at close. */
  groupEvents(): AsyncIterableIterator<GroupAppEvent> {
    if (this.handler !== undefined) throw new Error("groupEvents() is not available with onGroupEvent");
    const next = async (): Promise<IteratorResult<GroupAppEvent>> => {
      for (;;) {
        const value = this.buffered.shift();
        if (value !== undefined) return { value, done: false };
        if (this.closed) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    };
    const iterator: AsyncIterableIterator<GroupAppEvent> = {
      next,
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Leaves: the peer says goodbye (the others remove me at their next view change) and closes. */
  async close(reason = "close", timeoutMs = 1000): Promise<boolean> {
    if (this.closed) return true;
    this.closed = true;
    this.group.close();
    this.wake?.();
    return this.peer.close(reason, timeoutMs);
  }
}

/** Starts a peer and runs the group layer on it. Rejects with `InputError` for bad options. */
export async function startGroup(options: StartGroupOptions): Promise<RollcallGroup> {
  const { getState, setState, onGroupEvent, groupEventsMax, groupTiming, ...peerOptions } = options;
  const eventsMax = groupEventsMax ?? 65_536;
  if (!Number.isInteger(eventsMax) || eventsMax < 1)
    throw new InputError(`groupEventsMax must be a positive integer, got ${groupEventsMax}`);
  const peer = await startPeer(peerOptions);
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  let app: RollcallGroup | undefined;
  const early: GroupAppEvent[] = [];
  const emit = (event: GroupAppEvent) => (app === undefined ? early.push(event) : app.deliver(event));
  const ordered: OrderedGroup = new OrderedGroup({ getState, setState, timing: groupTiming }, peer.id, (e) => {
    if (e.type === "view") {
      const failed = e.left.filter((m) => {
        const view = peer.members()[m.id - 1];
        return view !== undefined && view.state === "failed";
      });
      emit({ type: "view", viewId: e.view.id, members: e.view.members, joined: e.joined, left: e.left, failed });
    } else emit(e);
    if (ordered.group.isMember) resolveReady();
  });
  const group = ordered.group;
  group.start(peer.attach(group));
  app = new RollcallGroup(peer, group, ordered, eventsMax, onGroupEvent, ready);
  for (const e of early) app.deliver(e);
  return app;
}
