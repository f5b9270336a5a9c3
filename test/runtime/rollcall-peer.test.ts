import { expect, test } from "bun:test";
import {
  ChaosTransport,
  MemoryNetwork,
  NO_FAULTS,
  PeerLoop,
  type RollcallEvent,
  type RollcallPeer,
  startPeer,
  VirtualScheduler,
} from "../../src/index.ts";
import { portBlock } from "../process/group.ts";

async function pair(session = {}): Promise<[RollcallPeer, RollcallPeer]> {
  const base = portBlock(2);
  const hosts = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
  const peers = await Promise.all(hosts.map((name) => startPeer({ hosts, name, session })));
  await Promise.all(peers.map((p) => p.ready));
  return peers as [RollcallPeer, RollcallPeer];
}

test("send refuses with queue-full instead of waiting; writable and sendAsync wait for room; nothing is lost", async () => {
  const [a, b] = await pair({ sendQueueMessagesMax: 16 });
  let accepted = 0;
  let refusal: unknown;
  for (let i = 0; i < 100; i++) {
    const body = new Uint8Array(4);
    new DataView(body.buffer).setUint32(0, i);
    const r = a.send(2, body);
    if (!r.ok) {
      refusal = r;
      break;
    }
    accepted++;
  }
  expect(refusal).toEqual({ ok: false, reason: "queue-full" });
  expect(accepted).toBe(16);
  await a.writable(2);
  for (let i = accepted; i < 2000; i++) {
    const body = new Uint8Array(4);
    new DataView(body.buffer).setUint32(0, i);
    await a.sendAsync(2, body);
  }
  const got: number[] = [];
  for await (const e of b.events()) {
    if (e.type !== "message") continue;
    got.push(new DataView(e.body.buffer, e.body.byteOffset).getUint32(0));
    if (got.length === 2000) break;
  }
  expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  expect(await a.close()).toBe(true);
  await b.close();
});

test("events(): one consumer, the iterator ends at close, and broadcast reports refusals by peer", async () => {
  const [a, b] = await pair({ sendQueueMessagesMax: 16 });
  const iterator = b.events();
  expect(() => b.events()).toThrow(/one consumer/);
  const seen: RollcallEvent["type"][] = [];
  const reader = (async () => {
    for await (const e of iterator) seen.push(e.type);
  })();
  let result = a.broadcast(Uint8Array.of(1));
  for (let i = 0; i < 20 && result.ok; i++) result = a.broadcast(Uint8Array.of(1));
  expect(result).toEqual({ ok: false, refused: [{ peer: 2, reason: "queue-full" }] });
  expect(a.broadcast(new Uint8Array(2 * 1024 * 1024)).refused).toEqual([{ peer: 2, reason: "too-large" }]);
  // The goodbye passes the full queue and is delivered after what was queued before it.
  expect(await a.close()).toBe(true);
  await b.close();
  await reader;
  expect(seen).toContain("peerUp");
  expect(seen).toContain("ready");
  expect(seen).toContain("message");
  expect(seen).toContain("peerLeft");
});

test("ready rejects when the peer closes first; bad options are InputErrors", async () => {
  const base = portBlock(2);
  const hosts = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
  const lonely = await startPeer({ hosts, name: hosts[0]! });
  expect(await lonely.close("bye", 100)).toBe(true);
  await expect(lonely.ready).rejects.toThrow(/closed before READY/);
  await expect(startPeer({ hosts, name: "127.0.0.1:1" })).rejects.toThrow(/not in the file/);
  await expect(startPeer({ hosts: ["127.0.0.1:x"], name: "a" })).rejects.toThrow(/port "x"/);
  await expect(startPeer({ name: "a" })).rejects.toThrow(/give hosts/);
  await expect(startPeer({ hosts, name: hosts[0]!, chaos: "loss=2" })).rejects.toThrow(/probability/);
});

test("ChaosTransport drops, duplicates and delays inside a batch by the shared fault model", () => {
  const scheduler = new VirtualScheduler();
  const network = new MemoryNetwork(scheduler);
  const received: number[] = [];
  const receiver = network.bind(2);
  receiver.listen({ datagram: (bytes) => received.push(bytes[0]!), drain() {}, error() {} });
  let x = 0;
  const random = () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
  const lossy = new ChaosTransport(network.bind(1), { ...NO_FAULTS, loss: 0.5 }, scheduler, random);
  const batch = Array.from({ length: 1000 }, (_, i) => ({ to: 2, bytes: Uint8Array.of(i & 0xff) }));
  expect(lossy.send(batch)).toBe(1000);
  scheduler.run({ untilMs: 1000, stepsMax: 100_000 });
  expect(lossy.stats.dropped).toBe(1000 - received.length);
  expect(received.length).toBeGreaterThan(400);
  expect(received.length).toBeLessThan(600);

  received.length = 0;
  const slow = new ChaosTransport(network.bind(3), { ...NO_FAULTS, duplicate: 1, delayMs: 50 }, scheduler, random);
  slow.send([{ to: 2, bytes: Uint8Array.of(7) }]);
  scheduler.run({ untilMs: scheduler.now() + 49, stepsMax: 100_000 });
  expect(received).toEqual([]);
  scheduler.run({ untilMs: scheduler.now() + 10, stepsMax: 100_000 });
  expect(received).toEqual([7, 7]);
  expect(slow.stats).toEqual({ dropped: 0, duplicated: 1, corrupted: 0, delayed: 2 });
});

test("datagrams for a peer whose address is not known yet are counted as unresolved, not as sent", () => {
  const scheduler = new VirtualScheduler();
  const network = new MemoryNetwork(scheduler);
  const loop = new PeerLoop<number>({
    peer: {
      selfId: 1,
      epoch: 11,
      names: ["a", "b", "c"],
      hostsDigest: new Uint8Array(32),
      membership: { enabled: false },
    },
    transport: network.bind(1),
    scheduler,
    // Peer 3's name has not resolved: no address.
    addresses: [undefined, 1, 2, undefined],
    onEvent: () => undefined,
  });
  loop.start();
  scheduler.run({ untilMs: 3000, stepsMax: 100_000 });
  expect(loop.stats.unresolved).toBeGreaterThan(0);
  // Peer 2 is not running either, so everything that left went to its address; nothing was sent to peer 3.
  expect(loop.peer.stats.datagramsSent).toBe(network.stats.sent);
  loop.stop();
});

test("events(): after a peer restarts, send refuses until the reader has read peerRestarted, and writable follows it", async () => {
  const base = portBlock(2);
  const hosts = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
  const a = await startPeer({ hosts, name: hosts[0]! });
  const first = await startPeer({ hosts, name: hosts[1]! });
  await Promise.all([a.ready, first.ready]);
  const iterator = a.events();
  const read = async (type: RollcallEvent["type"]) => {
    for (;;) {
      const { value } = await iterator.next();
      if (value?.type === type) return value;
    }
  };
  await read("ready");
  await first.close("test", 50);
  const second = await startPeer({ hosts, name: hosts[1]! });
  // The loop took the restart (the session talks to the new process) before the reader reads it.
  const deadline = Date.now() + 5000;
  while (a.members()[1]!.epoch !== second.epoch && Date.now() < deadline) await Bun.sleep(5);
  expect(a.send(2, new TextEncoder().encode("meant for the old process"))).toEqual({ ok: false, reason: "queue-full" });
  const restarted = await read("peerRestarted");
  expect(restarted).toMatchObject({ peer: 2, newEpoch: second.epoch });
  // Owed for the refusal; it comes after what was buffered by then.
  expect(await read("writable")).toEqual({ type: "writable", peer: 2 });
  expect(a.send(2, new TextEncoder().encode("for the new one")).ok).toBe(true);
  await iterator.return?.();
  await Promise.all([a.close("test", 500), second.close("test", 500)]);
});
