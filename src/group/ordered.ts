/**
 * Total order on top of virtual synchrony (docs/groups.md, "Ordered
 * multicast"): the fixed-sequencer algorithm (JGroups SEQUENCER; Kaashoek's
 * Amoeba; Défago, Schiper & Urbán's taxonomy), with the view change doing
 * the hard part.
 *
 * Every message still travels as a group multicast, FIFO per sender and
 * virtually synchronous. A total-order message is held on arrival; the view's
 * sequencer (its lowest-id member) multicasts, for each one it receives, an
 * `OrderAssignment` naming it by (sender, index in this view), and every
 * member delivers held messages in the order of those assignments.
 *
 * The sequencer's failure needs no protocol of its own. Virtual synchrony
 * gives every member that moves to the next view the same messages of this
 * view, assignments included; so at the view change each delivers what was
 * assigned (skipping a message nobody who survived received), then what is
 * left unassigned in one fixed order (sender id, then index), the same at
 * all of them, before the next view begins.
 *
 * Sans-I/O like the group: it sees the group's events and calls its
 * `multicast`, nothing else.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { OrderedMulticastSchema } from "../gen/rollcall/v1/rollcall_pb.ts";
import { readVarint, varintBytes, writeVarint } from "../wire/varint.ts";
import { Group, type GroupEvent, type GroupOptions, type GroupProcess } from "./group.ts";

export type MulticastOrder = "fifo" | "total";

/** The group's events, with each message's order; `message` events of total-order messages come in that order. */
export type OrderedEvent =
  | Exclude<GroupEvent, { type: "message" }>
  | { type: "message"; from: number; viewId: number; body: Uint8Array; order: MulticastOrder };

/** OrderedMulticast fields 1 (fifo) and 2 (total), length-delimited; 3 (order) goes through protobuf-es. */
const TAG_FIFO = 0x0a;
const TAG_TOTAL = 0x12;
/** Assignments the sequencer gathers before it multicasts them (a refused multicast keeps them for the next try). */
const ASSIGNMENTS_PER_MESSAGE_MAX = 1024;

/** `OrderedMulticast{fifo|total: body}`, byte-identical to protobuf-es (an empty body still written: a oneof member is always present). */
export function encodeOrderedBody(order: MulticastOrder, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintBytes(body.length) + body.length);
  out[0] = order === "fifo" ? TAG_FIFO : TAG_TOTAL;
  out.set(body, writeVarint(out, 1, body.length));
  return out;
}

/** `OrderedMulticast{order: {view_id, sender, index}}`: one per burst of deliveries at the sequencer, so protobuf-es's encoder. */
export function encodeAssignment(viewId: number, senders: number[], indexes: number[]): Uint8Array {
  return toBinary(
    OrderedMulticastSchema,
    create(OrderedMulticastSchema, { body: { case: "order", value: { viewId, sender: senders, index: indexes } } }),
  );
}

type Decoded =
  | { kind: "fifo" | "total"; body: Uint8Array }
  | { kind: "order"; viewId: number; senders: number[]; indexes: number[] };

/** Decodes an ordered multicast: the two application kinds (every message) by hand, an assignment (or anything unusual) by protobuf-es. */
export function decodeOrdered(b: Uint8Array): Decoded | undefined {
  if (b.length >= 1 && (b[0] === TAG_FIFO || b[0] === TAG_TOTAL)) {
    const length = readVarint(b, 1);
    if (length !== undefined && length[1] + length[0] === b.length)
      return { kind: b[0] === TAG_FIFO ? "fifo" : "total", body: b.subarray(length[1]) };
  }
  try {
    const m = fromBinary(OrderedMulticastSchema, b).body;
    if (m.case === "fifo" || m.case === "total") return { kind: m.case, body: m.value };
    if (m.case === "order" && m.value.sender.length === m.value.index.length)
      return { kind: "order", viewId: m.value.viewId, senders: m.value.sender, indexes: m.value.index };
  } catch {
    // not an ordered multicast: dropped
  }
  return undefined;
}

const key = (sender: number, index: number) => sender * 2 ** 32 + index;

/**
 * FIFO and total-order multicast over a `Group` of its own (`group`: start
 * it on a host); the application takes `OrderedEvent`s.
 */
export class OrderedGroup {
  /** The group underneath: its events come here first. */
  readonly group: Group;
  private viewId = 0;
  private groupId = 0;
  private members: GroupProcess[] = [];
  /** Total-order messages received per sender in this view: the next one's index is this plus one. */
  private readonly received = new Map<number, number>();
  /** Total-order messages received, not delivered yet, by (sender, index). Bounded by the group's own bounds per view. */
  private readonly held = new Map<number, { from: number; index: number; body: Uint8Array }>();
  /** The sequencer's order for this view, and how far it was delivered. */
  private order: number[] = [];
  private orderHead = 0;
  /** As sequencer: assignments not multicast yet (the burst goes on, or the group refused); bounded by the view's messages. */
  private unsent: { senders: number[]; indexes: number[] } = { senders: [], indexes: [] };
  /** Group events that arrived while one was being handled (my own multicasts are delivered inside `multicast`). */
  private readonly queue: GroupEvent[] = [];
  private handling = false;
  /** Messages dropped: not an ordered multicast, or an assignment from someone other than the sequencer. */
  dropped = 0;

  constructor(
    options: Omit<GroupOptions, "onEvent">,
    private readonly selfId: number,
    private readonly onEvent: (event: OrderedEvent) => void,
  ) {
    this.group = new Group({ ...options, onEvent: (e) => this.handle(e) });
    // The sequencer's assignments for a burst of deliveries go out as one message.
    this.group.onFlush(() => this.sendAssignments());
  }

  /** Multicasts `body` in the given order; the same bounds as `Group.multicast`. */
  multicast(body: Uint8Array, order: MulticastOrder = "fifo"): ReturnType<Group["multicast"]> {
    return this.group.multicast(encodeOrderedBody(order, body));
  }

  /** The sequencer of the current view: its lowest-id member. */
  get sequencer(): number | undefined {
    return this.members[0]?.id;
  }

  /** Every event of the group, in order. */
  handle(event: GroupEvent): void {
    this.queue.push(event);
    if (this.handling) return;
    this.handling = true;
    try {
      for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) this.step(e);
    } finally {
      this.handling = false;
    }
  }

  private step(e: GroupEvent): void {
    switch (e.type) {
      case "view":
        // Moving on with the view's other members: finish it as they do. Coming
        // from an older view (left out meanwhile, now a new member with the
        // state): what I held of it is over for me, as for a crash.
        if (e.view.group === this.groupId && e.view.id === this.viewId + 1) this.finishView();
        else this.reset();
        this.groupId = e.view.group;
        this.viewId = e.view.id;
        this.members = e.view.members;
        this.onEvent(e);
        return;
      case "excluded":
        // I left my view without a next one: what it held is over for me, undelivered (as for a crash).
        this.reset();
        this.viewId = 0;
        this.groupId = 0;
        this.members = [];
        this.onEvent(e);
        return;
      case "message":
        this.onMessage(e.from, e.viewId, e.body);
        return;
      case "writable":
        this.sendAssignments();
        this.onEvent(e);
        return;
      default:
        this.onEvent(e);
    }
  }

  private onMessage(from: number, viewId: number, bytes: Uint8Array): void {
    const m = decodeOrdered(bytes);
    if (m === undefined) {
      this.dropped++;
      return;
    }
    if (m.kind !== "order") {
      if (m.kind === "fifo") {
        this.onEvent({ type: "message", from, viewId, body: m.body, order: "fifo" });
        return;
      }
      const index = (this.received.get(from) ?? 0) + 1;
      this.received.set(from, index);
      this.held.set(key(from, index), { from, index, body: m.body });
      if (this.sequencer === this.selfId) {
        this.unsent.senders.push(from);
        this.unsent.indexes.push(index);
        this.group.flushSoon();
      }
      this.deliverOrdered();
      return;
    }
    // Only the sequencer orders; an assignment for another view is stale.
    if (from !== this.sequencer || m.viewId !== viewId || viewId !== this.viewId) {
      this.dropped++;
      return;
    }
    for (let i = 0; i < m.senders.length; i++) this.order.push(key(m.senders[i]!, m.indexes[i]!));
    this.deliverOrdered();
  }

  /** As sequencer: multicasts the assignments gathered; kept for the next try when the group refuses. */
  private sendAssignments(): void {
    const u = this.unsent;
    while (u.senders.length > 0) {
      const n = Math.min(u.senders.length, ASSIGNMENTS_PER_MESSAGE_MAX);
      const message = encodeAssignment(this.viewId, u.senders.slice(0, n), u.indexes.slice(0, n));
      if (!this.group.multicast(message).ok) return;
      u.senders.splice(0, n);
      u.indexes.splice(0, n);
    }
  }

  /** Delivers, in the sequencer's order, every assigned message held. */
  private deliverOrdered(): void {
    while (this.orderHead < this.order.length) {
      const m = this.held.get(this.order[this.orderHead]!);
      if (m === undefined) return; // assigned before it reached me: FIFO from its sender brings it
      this.held.delete(this.order[this.orderHead]!);
      this.orderHead++;
      this.onEvent({ type: "message", from: m.from, viewId: this.viewId, body: m.body, order: "total" });
    }
    if (this.orderHead > 1024 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
  }

  /**
   * The view is over (its last message delivered): what was assigned, then
   * what was not, by sender id and index. Every member moving on holds the
   * same messages and assignments (virtual synchrony), so all deliver the same.
   */
  private finishView(): void {
    for (; this.orderHead < this.order.length; this.orderHead++) {
      const k = this.order[this.orderHead]!;
      const m = this.held.get(k);
      if (m === undefined) continue; // no member that moves on received it
      this.held.delete(k);
      this.onEvent({ type: "message", from: m.from, viewId: this.viewId, body: m.body, order: "total" });
    }
    const rest = [...this.held.values()].sort((a, b) => a.from - b.from || a.index - b.index);
    for (const m of rest)
      this.onEvent({ type: "message", from: m.from, viewId: this.viewId, body: m.body, order: "total" });
    this.reset();
  }

  private reset(): void {
    this.received.clear();
    this.held.clear();
    this.order = [];
    this.orderHead = 0;
    this.unsent = { senders: [], indexes: [] };
  }
}
