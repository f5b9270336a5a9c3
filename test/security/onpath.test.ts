/**
 * Key mode against attackers the hostile-socket test cannot play on
 * loopback: one on the path (drops, copies, relays), and one that forges its
 * source address. On the in-memory network with virtual time, so every
 * interleaving is exact. Found by review; each must change nothing lasting.
 */
import { expect, test } from "bun:test";
import { type LoopEvent, PeerLoop } from "../../src/runtime/loop.ts";
import { addressesById, MemoryNetwork, type Route } from "../../src/runtime/memory.ts";
import { Keyring } from "../../src/security/keyring.ts";
import { Rng } from "../../src/sim/rng.ts";
import { VirtualScheduler } from "../../src/sim/virtual-time.ts";

const keyring = new Keyring([new Uint8Array(32).fill(5)]);
const names = ["mem:1", "mem:2"];
const ATTACKER = 9;
let epochSeed = 11;

function world(route: (sched: VirtualScheduler, attacker: () => ReturnType<MemoryNetwork["bind"]>) => Route) {
  const sched = new VirtualScheduler();
  let attackerEndpoint: ReturnType<MemoryNetwork["bind"]> | undefined;
  const net = new MemoryNetwork(
    sched,
    route(sched, () => attackerEndpoint!),
  );
  attackerEndpoint = net.bind(ATTACKER);
  const events: LoopEvent[][] = [[], [], []];
  // Seeded, so that every run takes the same path.
  const rng = new Rng(epochSeed++);
  const start = (id: number, epoch: number) => {
    const r = rng.fork();
    const loop = new PeerLoop<number>({
      peer: {
        selfId: id,
        epoch,
        names,
        hostsDigest: new Uint8Array(32).fill(7),
        keyring,
        random: () => r.float(),
        secureRandom: (bytes) => {
          for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(0, 255);
        },
      },
      transport: net.bind(id),
      scheduler: sched,
      addresses: addressesById(2),
      onEvent: (e) => {
        events[id]!.push(e);
        return undefined;
      },
    });
    loop.start();
    return loop;
  };
  const run = (untilMs: number) => sched.run({ untilMs, stepsMax: 1e7 });
  return { sched, net, events, start, run, attacker: () => attackerEndpoint! };
}

const texts = (events: LoopEvent[]) =>
  events.filter((e) => e.type === "message").map((e) => new TextDecoder().decode((e as { body: Uint8Array }).body));

test("an on-path relay that validates its own address for a peer loses it once it stops relaying", () => {
  let onPath = false;
  let relay = true;
  const w = world((sched, attacker) => (from, to, bytes) => {
    if (onPath && from === 2 && to === 1 && bytes[3] === 1) {
      onPath = false; // drops one DATA frame and re-sends it from its own address
      sched.soon(() => attacker().send([{ to: 1, bytes }]));
      return [];
    }
    return [{ bytes, delayMs: 1 }];
  });
  w.attacker().listen({
    datagram: (bytes, from) => {
      if (!relay) return;
      if (from === 1) w.attacker().send([{ to: 2, bytes }]);
      if (from === 2) w.attacker().send([{ to: 1, bytes }]);
    },
    drain() {},
    error() {},
  });
  const one = w.start(1, 1001);
  const two = w.start(2, 2002);
  w.run(2000);
  onPath = true;
  two.send(1, new TextEncoder().encode("hello from 2"));
  w.run(3000);
  // The relay validated its own address (it forwards the challenge and the answer).
  expect(w.events[1]!.some((e) => e.type === "peerAddress" && e.address === `mem:${ATTACKER}`)).toBe(true);
  relay = false;
  for (let i = 0; i < 5; i++) one.send(2, new TextEncoder().encode(`m${i}`));
  w.run(60_000);
  expect(one.addressOf(2)).toBe(2);
  expect(texts(w.events[2]!)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  expect(texts(w.events[1]!)).toEqual(["hello from 2"]);
});

test("a copy of a peer's answer to a start-up challenge, sent first from another address, moves nothing", () => {
  let armed = true;
  const w = world((sched, attacker) => (from, to, bytes) => {
    if (armed && from === 2 && to === 1 && bytes[3] === 5) {
      armed = false;
      sched.soon(() => attacker().send([{ to: 1, bytes }]));
      return [{ bytes, delayMs: 3 }];
    }
    return [{ bytes, delayMs: 1 }];
  });
  w.attacker().listen({ datagram() {}, drain() {}, error() {} });
  const one = w.start(1, 1001);
  w.start(2, 2002);
  w.run(30_000);
  expect(armed).toBe(false);
  expect(one.addressOf(2)).toBe(2);
  expect(w.events[1]!.filter((e) => e.type === "peerAddress")).toEqual([]);
});

test("a spoofer replaying a peer's frames of before my restart gets no old message delivered to my new process", () => {
  const recorded: Uint8Array[] = [];
  const w = world(() => (from, to, bytes) => {
    const receiverEpoch = ((bytes[16]! << 24) | (bytes[17]! << 16) | (bytes[18]! << 8) | bytes[19]!) >>> 0;
    if (from === 2 && to === 1 && bytes[3] === 1 && receiverEpoch === 0) recorded.push(bytes);
    return [{ bytes, delayMs: 1 }];
  });
  const two = w.start(2, 2002);
  two.send(1, new TextEncoder().encode("OLD"));
  w.run(50);
  let one = w.start(1, 1001);
  w.run(5000);
  expect(texts(w.events[1]!)).toEqual(["OLD"]);
  expect(recorded.length).toBeGreaterThan(0);
  one.stop();
  w.run(6000);
  const before = w.events[1]!.length;
  one = w.start(1, 1111);
  // Sent with peer 2's own source address, as a spoofer would.
  for (const bytes of [...recorded]) w.net.transmit(2, { to: 1, bytes });
  w.run(20_000);
  expect(texts(w.events[1]!.slice(before))).toEqual([]);
  expect(one.peer.stats.drops.replayed).toBeGreaterThan(0);
  two.send(1, new TextEncoder().encode("NEW"));
  w.run(30_000);
  expect(texts(w.events[1]!.slice(before))).toEqual(["NEW"]);
});

test("a recorded frame of a peer's retired process, replayed every 10 ms, does not keep its new process out", () => {
  let recorded: Uint8Array | undefined;
  const w = world(() => (from, to, bytes) => {
    if (from === 2 && to === 1 && bytes[3] === 2 && recorded === undefined) recorded = bytes;
    return [{ bytes, delayMs: 1 }];
  });
  w.attacker().listen({ datagram() {}, drain() {}, error() {} });
  const one = w.start(1, 1001);
  let two = w.start(2, 2002);
  w.run(1000);
  two.stop();
  for (let t = 1100; t < 21_000; t += 10) w.sched.at(t, () => w.attacker().send([{ to: 1, bytes: recorded! }]));
  w.sched.at(1200, () => {
    two = w.start(2, 3003);
  });
  w.sched.at(2000, () => two.stop());
  w.sched.at(2500, () => {
    two = w.start(2, 4004);
    two.send(1, Uint8Array.of(42));
  });
  w.run(20_000);
  const restarts = w.events[1]!.filter((e) => e.type === "peerRestarted").map(
    (e) => (e as { newEpoch: number }).newEpoch,
  );
  expect(restarts).toContain(4004);
  expect(w.events[1]!.some((e) => e.type === "message" && (e as { body: Uint8Array }).body[0] === 42)).toBe(true);
  expect(one.peer.session(2)!.remoteEpoch).toBe(4004);
});
