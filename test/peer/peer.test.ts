import { describe, expect, test } from "bun:test";
import { Peer } from "../../src/peer/peer.ts";
import { TimerHeap } from "../../src/peer/timer-heap.ts";
import { encodeFrameBytes, FrameFlag, FrameType } from "../../src/wire/frame.ts";
import { DIGEST as digest, TestCluster as Net } from "../support/cluster.ts";

const names = ["a", "b", "c"];
const bodies = (net: Net, id: number) => net.messages(id).map((e) => (e.type === "message" ? e.body[0] : -1));

describe("bootstrap", () => {
  test("three peers hear from each other and each emits ready once", () => {
    const net = new Net(3);
    net.run();
    for (const id of [1, 2, 3]) {
      expect(net.types(id).filter((t) => t === "ready")).toEqual(["ready"]);
      expect(net.types(id).filter((t) => t === "peerUp").length).toBe(2);
      expect(net.peer(id).ready).toBe(true);
    }
  });

  test("a single peer is ready at once", () => {
    const net = new Net(1);
    net.run();
    expect(net.events[1]).toEqual([{ type: "ready", peers: 1 }]);
    expect(net.network.stats.sent).toBe(0);
  });

  test("a peer that never answers keeps the others from ready, with backed-off probes", () => {
    const net = new Net(3);
    let probesTo3 = 0;
    net.drop = (from, to) => {
      if (to === 3) probesTo3++;
      return from === 3 || to === 3;
    };
    net.run();
    expect(net.types(1)).not.toContain("ready");
    expect(net.types(1)).toContain("peerUnresponsive");
    // 60 s of virtual time at one probe per second at most.
    expect(probesTo3).toBeLessThan(2 * 70);
  });

  test("a peer with a different hosts digest is reported and not counted as up", () => {
    const net = new Net(3, (id) => (id === 3 ? { hostsDigest: new Uint8Array(32).fill(9) } : {}));
    net.run();
    expect(net.types(1)).toContain("hostsMismatch");
    expect(net.types(1)).not.toContain("ready");
    expect(net.types(3)).toContain("hostsMismatch");
  });

  test("application messages flow once ready, in order", () => {
    const net = new Net(2);
    net.run();
    for (let i = 0; i < 100; i++) expect(net.loops[1]!.send(2, Uint8Array.of(i)).ok).toBe(true);
    net.run();
    expect(bodies(net, 2)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test("goodbye: close() delivers a peerLeft with the reason", async () => {
    const net = new Net(2);
    net.run();
    let clean: boolean | undefined;
    void net.loops[1]!.close("SIGTERM", 5000).then((c) => {
      clean = c;
    });
    net.run();
    await Promise.resolve();
    expect(net.events[2]!.find((e) => e.type === "peerLeft")).toEqual({
      type: "peerLeft",
      peer: 1,
      epoch: net.loops[1]!.peer.epoch,
      incarnation: 0,
      reporter: 1,
      reason: "SIGTERM",
      relayed: false,
    });
    expect(clean).toBe(true);
    expect(net.loops[1]!.isClosed).toBe(true);
  });

  test("close() does not wait for peers that never answered or already left", async () => {
    const net = new Net(3);
    net.drop = (from, to) => from === 3 || to === 3;
    net.run(2000);
    let clean: boolean | undefined;
    void net.loops[1]!.close("SIGTERM", 5000).then((c) => {
      clean = c;
    });
    // Peer 3 was never heard from: no goodbye waits for it until the 5 s deadline.
    net.run(1000);
    expect(net.loops[1]!.isClosed).toBe(true);
    await Promise.resolve();
    expect(clean).toBe(true);
    expect(net.events[2]!.some((e) => e.type === "peerLeft")).toBe(true);
  });

  test("sending to an id outside the group is a programming error", () => {
    const net = new Net(2);
    expect(() => net.peer(1).send(0, 3, new Uint8Array(1))).toThrow(/no peer with id 3/);
    expect(() => net.peer(1).send(0, 1, new Uint8Array(1))).toThrow(/no peer with id 1/);
  });
});

describe("bad input is dropped, counted by reason, and changes nothing", () => {
  const frame = (header: Partial<Parameters<typeof encodeFrameBytes>[0]>) =>
    encodeFrameBytes(
      {
        type: FrameType.Ack,
        flags: FrameFlag.Ack,
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
    expect(peer.handleDatagram(1, bytes)).toBeUndefined();
    expect(peer.stats.drops).toEqual({ [reason]: 1 });
    expect(peer.peersUp).toEqual([]);
  });

  test("an ack for frames never sent is a violation and does not count as progress", () => {
    const peer = new Peer(0, { selfId: 1, epoch: 101, names, hostsDigest: digest });
    peer.handleDatagram(1, frame({ ack: 500 }));
    expect(peer.stats.drops["ack-beyond-sent"]).toBe(1);
  });

  test("with eventsMax reached, DATA frames are refused unacknowledged (receiver-busy) and nothing is lost", () => {
    const net = new Net(2, (id) => (id === 2 ? { eventsMax: 5 } : {}));
    net.run();
    // Peer 2's owner stops taking events: its loop pauses and its queue fills.
    net.paused.add(2);
    // One message per flush, so that each travels in a frame of its own.
    for (let i = 0; i < 50; i++) {
      net.loops[1]!.send(2, Uint8Array.of(i));
      net.run(5);
    }
    net.run(4000);
    expect(net.peer(2).stats.drops["receiver-busy"]).toBeGreaterThan(0);
    // At most the one message whose event was handed over before the pause.
    expect(bodies(net, 2).length).toBeLessThanOrEqual(1);
    // Taking events again lets it finish: all 50 arrive, in order, once.
    net.resume(2);
    net.run();
    expect(bodies(net, 2)).toEqual(Array.from({ length: 50 }, (_, i) => i));
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
  net.run();
  expect(net.types(1)).toContain("hostsMismatch");
  expect(net.types(1)).not.toContain("ready");
  // Peer 2 restarts (new epoch) having read the same file as peer 1.
  net.start(2, { epoch: 999, hostsDigest: digest });
  net.run();
  expect(net.types(1)).toContain("peerRestarted");
  expect(net.types(1).filter((t) => t === "ready")).toEqual(["ready"]);
});
