/**
 * Where a restart splits a sender's messages (swarm seed 93's report).
 *
 * `peerRestarted` reports only how many messages were dropped, so an
 * application can tell which only if the split follows the order in which it
 * sees events: everything accepted before it took `peerRestarted` was for
 * the old process (dropped ones the newest of those), everything after goes
 * to the new one. A `writable` handed over ahead of `peerRestarted`, after
 * the session had already switched to the new process, let a retried message
 * the application still meant for the old process become the first message of
 * the new stream, while the count named it dropped.
 *
 * Two Peers, driven by hand on injected time: every datagram's fate is the
 * test's, and the "application" takes events only when the test says, as the
 * drive loop does after a burst of datagrams.
 */
import { describe, expect, test } from "bun:test";
import { Peer, type PeerEvent } from "../../src/peer/peer.ts";

const names = ["a", "b"];
const digest = new Uint8Array(32).fill(1);
const body = (i: number) => Uint8Array.of(i);

function start(id: number, epoch: number, now: number): Peer {
  return new Peer(now, {
    selfId: id,
    epoch,
    names,
    hostsDigest: digest,
    membership: { enabled: false },
    // A queue of four messages: queue-full without any timing.
    session: { sendQueueMessagesMax: 4 },
    random: () => 0.5,
    secureRandom: (bytes) => bytes.fill(7),
  });
}

/** Hands everything `from` has to send now to `to` (or loses it); returns how many datagrams. */
function carry(now: number, from: Peer, to: Peer | undefined): number {
  let n = 0;
  for (let d = from.pollTransmit(now); d !== undefined; d = from.pollTransmit(now)) {
    n++;
    to?.handleDatagram(now, d.bytes);
  }
  return n;
}

/** Runs both peers (timers and datagrams, 1 ms a step) until neither has anything to do. */
function settle(t: { now: number }, a: Peer, b: Peer, onEvents: () => void): void {
  for (let i = 0; i < 5000; i++) {
    for (const p of [a, b]) {
      const due = p.pollTimeout();
      if (due !== undefined && due <= t.now) p.handleTimeout(t.now);
    }
    const moved = carry(t.now, a, b) + carry(t.now, b, a);
    onEvents();
    if (moved === 0 && a.pollTimeout() === undefined && b.pollTimeout() === undefined) return;
    t.now += 1;
  }
  throw new Error("did not settle");
}

/**
 * The exactly-once workload's application on peer 1: it retries messages
 * refused with queue-full, in order, on `writable`, and withdraws them when
 * `peerRestarted` says their receiver is gone.
 */
class App {
  readonly blocked: number[] = [];
  /** Messages accepted before the application saw the restart. */
  readonly acceptedBefore: number[] = [];
  restart: Extract<PeerEvent, { type: "peerRestarted" }> | undefined;
  constructor(private readonly peer: Peer) {}

  send(now: number, i: number): void {
    if (this.blocked.length > 0 || !this.trySend(now, i)) this.blocked.push(i);
  }

  private trySend(now: number, i: number): boolean {
    const r = this.peer.send(now, 2, body(i));
    if (r.ok && this.restart === undefined) this.acceptedBefore.push(i);
    return r.ok;
  }

  takeEvents(now: number): void {
    for (let e = this.peer.pollEvent(); e !== undefined; e = this.peer.pollEvent()) {
      if (e.type === "writable")
        while (this.blocked.length > 0 && this.trySend(now, this.blocked[0]!)) this.blocked.shift();
      if (e.type === "peerRestarted") {
        this.restart = e;
        this.blocked.length = 0;
      }
    }
  }
}

function messagesOf(p: Peer): number[] {
  const got: number[] = [];
  for (let e = p.pollEvent(); e !== undefined; e = p.pollEvent()) if (e.type === "message") got.push(e.body[0]!);
  return got;
}

/** Peers 1 and 2 up; peer 1 has accepted #0..#3 for peer 2 and holds #4, refused with queue-full. */
function setUp() {
  const t = { now: 0 };
  const a = start(1, 101, t.now);
  const b = start(2, 102, t.now);
  settle(t, a, b, () => {});
  expect(a.ready && b.ready).toBe(true);
  const app = new App(a);
  app.takeEvents(t.now);
  messagesOf(b);
  for (let i = 0; i < 5; i++) app.send(t.now, i);
  expect(app.acceptedBefore).toEqual([0, 1, 2, 3]);
  expect(app.blocked).toEqual([4]);
  return { t, a, b, app };
}

/** Peer 2 comes back as a new process and peer 1 then runs as usual; returns what the new process got. */
function finish(t: { now: number }, a: Peer, app: App, b2: Peer): number[] {
  const got: number[] = [];
  let sentAfter = false;
  settle(t, a, b2, () => {
    app.takeEvents(t.now);
    // Once the application knows of the restart it sends #5, meant for the new process.
    if (app.restart !== undefined && !sentAfter) {
      sentAfter = true;
      app.send(t.now, 5);
    }
    got.push(...messagesOf(b2));
  });
  return got;
}

describe("a restart splits the stream where the application sees peerRestarted", () => {
  test("writable left over from packing the queue, handed over with the restart (seed 93)", () => {
    const { t, a, app } = setUp();
    // #0..#3 leave in one frame, which is lost: packing drained the queue,
    // so the session has a writable to report.
    expect(carry(t.now, a, undefined)).toBeGreaterThan(0);
    app.takeEvents(t.now);
    t.now += 1;
    // Peer 2 restarts; its new process's first frame reaches peer 1 before
    // anything else does, and the application takes what peer 1 reported.
    const b2 = start(2, 202, t.now);
    carry(t.now, b2, a);
    app.takeEvents(t.now);
    expect(app.restart?.messagesDropped).toBe(4);
    const got = finish(t, a, app, b2);
    // Nothing the application sent before it saw the restart reaches the new
    // process: #0..#3 were reported dropped, #4 was never accepted.
    expect(got).toEqual([5]);
    expect(app.acceptedBefore).toEqual([0, 1, 2, 3]);
  });

  test("writable from the old process's ack and the restart read in one burst, before the events are taken", () => {
    const { t, a, b, app } = setUp();
    // #0..#3 reach the old process and its ack reaches peer 1 ...
    carry(t.now, a, b);
    t.now += 5;
    b.handleTimeout(t.now);
    expect(carry(t.now, b, a)).toBeGreaterThan(0);
    expect(messagesOf(b)).toEqual([0, 1, 2, 3]);
    // ... and in the same burst of datagrams, the new process's first frame.
    const b2 = start(2, 202, t.now);
    carry(t.now, b2, a);
    app.takeEvents(t.now);
    expect(app.restart?.messagesDropped).toBe(0);
    const got = finish(t, a, app, b2);
    expect(got).toEqual([5]);
    expect(app.acceptedBefore).toEqual([0, 1, 2, 3]);
  });

  test("a send between the switch and the application taking peerRestarted is refused, and writable follows", () => {
    const { t, a, b, app } = setUp();
    carry(t.now, a, b);
    t.now += 5;
    b.handleTimeout(t.now);
    carry(t.now, b, a);
    app.takeEvents(t.now);
    expect(app.blocked).toEqual([]);
    const b2 = start(2, 202, t.now);
    carry(t.now, b2, a);
    // The application, not having taken the restart yet, sends (a timer of its own).
    expect(a.send(t.now, 2, body(9))).toEqual({ ok: false, reason: "queue-full" });
    const events: string[] = [];
    for (let e = a.pollEvent(); e !== undefined; e = a.pollEvent()) events.push(e.type);
    expect(events.indexOf("peerRestarted")).toBeGreaterThanOrEqual(0);
    expect(events.lastIndexOf("writable")).toBeGreaterThan(events.indexOf("peerRestarted"));
    expect(a.send(t.now, 2, body(10)).ok).toBe(true);
  });
});
