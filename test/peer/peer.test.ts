import { describe, expect, test } from "bun:test";
import { Peer, type PeerEvent, type PeerOptions } from "../../src/peer/peer.ts";
import { TimerHeap } from "../../src/peer/timer-heap.ts";
import { encodeFrameBytes, FrameType } from "../../src/wire/frame.ts";

const digest = new Uint8Array(32).fill(1);
const names = ["a", "b", "c"];

/** Peers wired directly: every datagram delivered at once unless `drop` says otherwise. */
class Net {
  now = 0;
  readonly peers: Peer[] = [];
  readonly events: PeerEvent[][] = [];
  constructor(count: number, options: (id: number) => Partial<PeerOptions> = () => ({})) {
    for (let id = 1; id <= count; id++) {
      this.peers[id] = new Peer(0, {
        selfId: id,
        epoch: 100 + id,
        names: names.slice(0, count),
        hostsDigest: digest,
        ...options(id),
      });
      this.events[id] = [];
    }
  }
  pump(drop: (from: number, to: number) => boolean = () => false, rounds = 1000): void {
    for (let r = 0; r < rounds; r++) {
      let moved = 0;
      for (let id = 1; id < this.peers.length; id++) {
        const peer = this.peers[id]!;
        for (let out = peer.pollTransmit(this.now); out !== undefined; out = peer.pollTransmit(this.now)) {
          moved++;
          if (!drop(id, out.to)) this.peers[out.to]!.handleDatagram(this.now, `net:${id}`, out.bytes);
        }
        for (let e = peer.pollEvent(); e !== undefined; e = peer.pollEvent()) this.events[id]!.push(e);
      }
      if (moved > 0) continue;
      const next = Math.min(...this.peers.slice(1).map((p) => p.pollTimeout() ?? Number.POSITIVE_INFINITY));
      if (!Number.isFinite(next)) return;
      this.now = Math.max(this.now, next);
      for (const p of this.peers.slice(1)) p.handleTimeout(this.now);
      if (this.now > 60_000) return;
    }
  }
  types(id: number): string[] {
    return this.events[id]!.map((e) => e.type);
  }
}

describe("bootstrap", () => {
  test("three peers hear from each other and each emits ready once", () => {
    const net = new Net(3);
    net.pump();
    for (const id of [1, 2, 3]) {
      expect(net.types(id).filter((t) => t === "ready")).toEqual(["ready"]);
      expect(net.types(id).filter((t) => t === "peerUp").length).toBe(2);
      expect(net.peers[id]!.ready).toBe(true);
    }
  });

  test("a single peer is ready at once", () => {
    const net = new Net(1);
    expect(net.peers[1]!.pollEvent()).toEqual({ type: "ready", peers: 1 });
    expect(net.peers[1]!.pollTransmit(0)).toBeUndefined();
  });

  test("a peer that never answers keeps the others from ready, with backed-off probes", () => {
    const net = new Net(3);
    let probesTo3 = 0;
    net.pump((from, to) => {
      if (to === 3) probesTo3++;
      return from === 3 || to === 3;
    });
    expect(net.types(1)).not.toContain("ready");
    expect(net.types(1)).toContain("peerUnresponsive");
    // 60 s of virtual time at one probe per second at most.
    expect(probesTo3).toBeLessThan(2 * 70);
  });

  test("a peer with a different hosts digest is reported and not counted as up", () => {
    const net = new Net(3, (id) => (id === 3 ? { hostsDigest: new Uint8Array(32).fill(9) } : {}));
    net.pump();
    expect(net.types(1)).toContain("hostsMismatch");
    expect(net.types(1)).not.toContain("ready");
    expect(net.types(3)).toContain("hostsMismatch");
  });

  test("application messages flow once ready, in order", () => {
    const net = new Net(2);
    net.pump();
    for (let i = 0; i < 100; i++) expect(net.peers[1]!.send(net.now, 2, Uint8Array.of(i)).ok).toBe(true);
    net.pump();
    const got = net.events[2]!.flatMap((e) => (e.type === "message" ? [e.body[0]] : []));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test("goodbye: close() delivers a peerLeft with the reason", () => {
    const net = new Net(2);
    net.pump();
    net.peers[1]!.close(net.now, "SIGTERM");
    net.pump();
    expect(net.events[2]!.find((e) => e.type === "peerLeft")).toEqual({ type: "peerLeft", peer: 1, reason: "SIGTERM" });
    expect(net.peers[1]!.idle).toBe(true);
  });

  test("sending to an id outside the group is a programming error", () => {
    const net = new Net(2);
    expect(() => net.peers[1]!.send(0, 3, new Uint8Array(1))).toThrow(/no peer with id 3/);
    expect(() => net.peers[1]!.send(0, 1, new Uint8Array(1))).toThrow(/no peer with id 1/);
  });
});

describe("bad input is dropped, counted by reason, and changes nothing", () => {
  const frame = (header: Partial<Parameters<typeof encodeFrameBytes>[0]>) =>
    encodeFrameBytes(
      {
        type: FrameType.Ack,
        flags: 1,
        senderId: 2,
        receiverId: 1,
        senderEpoch: 102,
        receiverEpoch: 101,
        seq: 0,
        ack: 0,
        sack: 0,
        ...header,
      },
      new Uint8Array(0),
    );

  test.each([
    ["garbage", Uint8Array.of(1, 2, 3), "truncated"],
    ["sender not in my list", frame({ senderId: 9 }), "unknown-sender"],
    ["my own id as sender", frame({ senderId: 1 }), "unknown-sender"],
    ["addressed to another id", frame({ receiverId: 3 }), "wrong-receiver"],
    ["addressed to an earlier epoch of mine", frame({ receiverEpoch: 5 }), "stale-receiver-epoch"],
  ] as const)("%s → %s", (_what, bytes, reason) => {
    const peer = new Peer(0, { selfId: 1, epoch: 101, names, hostsDigest: digest });
    peer.handleDatagram(1, "x", bytes);
    expect(peer.stats.drops).toEqual({ [reason]: 1 });
    expect(peer.peersUp).toEqual([]);
  });

  test("an ack for frames never sent is a violation and does not count as progress", () => {
    const peer = new Peer(0, { selfId: 1, epoch: 101, names, hostsDigest: digest });
    peer.handleDatagram(1, "x", frame({ ack: 500 }));
    expect(peer.stats.drops["ack-beyond-sent"]).toBe(1);
  });

  test("with eventsMax reached, DATA frames are refused unacknowledged (receiver-busy) and nothing is lost", () => {
    const net = new Net(2, (id) => (id === 2 ? { eventsMax: 5 } : {}));
    net.pump();
    // Stop polling peer 2's events: fill its queue.
    for (let i = 0; i < 50; i++) net.peers[1]!.send(net.now, 2, Uint8Array.of(i));
    const a = net.peers[1]!;
    const b = net.peers[2]!;
    for (let round = 0; round < 20; round++) {
      for (let out = a.pollTransmit(net.now); out; out = a.pollTransmit(net.now))
        b.handleDatagram(net.now, "a", out.bytes);
      for (let out = b.pollTransmit(net.now); out; out = b.pollTransmit(net.now))
        a.handleDatagram(net.now, "b", out.bytes);
      net.now += 200;
      a.handleTimeout(net.now);
      b.handleTimeout(net.now);
    }
    expect(b.stats.drops["receiver-busy"]).toBeGreaterThan(0);
    // Now drain and let it finish: all 50 arrive, in order, once.
    net.pump();
    const got = [...net.events[2]!].flatMap((e) => (e.type === "message" ? [e.body[0]] : []));
    for (let e = b.pollEvent(); e; e = b.pollEvent()) if (e.type === "message") got.push(e.body[0]);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe("TimerHeap", () => {
  test("keeps the earliest live deadline per key through re-scheduling and clearing", () => {
    const h = new TimerHeap();
    h.set(1, 50);
    h.set(2, 10);
    h.set(3, 30);
    h.set(2, 40); // moved later: the stale 10 must not surface
    h.set(3, undefined);
    expect(h.peek()).toBe(40);
    expect(h.popDue(45)).toEqual([2]);
    expect(h.peek()).toBe(50);
    expect(h.popDue(100)).toEqual([1]);
    expect(h.peek()).toBeUndefined();
  });

  test("stays bounded when a key is re-scheduled many times", () => {
    const h = new TimerHeap();
    for (let i = 0; i < 100_000; i++) h.set(i % 3, 1000 + i);
    expect((h as unknown as { heap: { size: number } }).heap.size).toBeLessThan(100);
    expect(h.popDue(Number.POSITIVE_INFINITY).sort()).toEqual([0, 1, 2]);
  });
});

test("a mismatched peer that restarts with the right hosts list is accepted", () => {
  const net = new Net(2, (id) => (id === 2 ? { hostsDigest: new Uint8Array(32).fill(9) } : {}));
  net.pump();
  expect(net.types(1)).toContain("hostsMismatch");
  expect(net.types(1)).not.toContain("ready");
  // Peer 2 restarts (new epoch) having read the same file as peer 1.
  net.peers[2] = new Peer(net.now, { selfId: 2, epoch: 999, names: names.slice(0, 2), hostsDigest: digest });
  net.pump();
  expect(net.types(1)).toContain("peerRestarted");
  expect(net.types(1).filter((t) => t === "ready")).toEqual(["ready"]);
});
