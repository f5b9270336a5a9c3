/**
 * Key mode: a recorded PATH_CHALLENGE is answered once. A copy sent again,
 * unchanged and without the key, from the recorder's own address, with a
 * third party's address forged as its source, or with the genuine sender's
 * address forged, must draw no PATH_RESPONSE (it would be an authenticated
 * datagram to an address of the recorder's choosing, from the budget that
 * genuine validations share) and is dropped as `replayed`
 * (docs/security.md). So is a recorded PATH_RESPONSE. On the in-memory
 * network with virtual time, where sources can be forged.
 */
import { expect, test } from "bun:test";
import { PeerLoop } from "../../src/runtime/loop.ts";
import { addressesById, MemoryNetwork } from "../../src/runtime/memory.ts";
import { Keyring } from "../../src/security/keyring.ts";
import { Rng } from "../../src/sim/rng.ts";
import { VirtualScheduler } from "../../src/sim/virtual-time.ts";
import { FrameFlag, FrameType } from "../../src/wire/frame.ts";

const keyring = new Keyring([new Uint8Array(32).fill(9)]);
const names = ["mem:1", "mem:2", "mem:3"];
/** The recorder's own address, and a third party's that it forges. */
const RECORDER = 9;
const THIRD_PARTY = 77;

interface Sent {
  from: number;
  to: number;
  bytes: Uint8Array;
}

function world(seed: number, lossUntilMs = 0) {
  const sched = new VirtualScheduler();
  const sent: Sent[] = [];
  const rng = new Rng(seed);
  const loss = rng.fork();
  const net = new MemoryNetwork(sched, (from, to, bytes) => {
    sent.push({ from, to, bytes: bytes.slice() });
    if (sched.now() < lossUntilMs && loss.chance(0.3)) return [];
    return [{ bytes, delayMs: 1 }];
  });
  const recorder = net.bind(RECORDER);
  recorder.listen({ datagram() {}, drain() {}, error() {} });
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
      addresses: addressesById(names.length),
      onEvent: () => undefined,
    });
    loop.start();
    return loop;
  };
  const run = (untilMs: number) => sched.run({ untilMs, stepsMax: 1e7 });
  return { sched, net, sent, start, run };
}

const ofType = (type: FrameType) => (d: Sent) => d.bytes[3] === type;

test("a recorded sealed challenge, replayed from the recorder's address, a third party's and the genuine sender's, is never answered again", () => {
  const w = world(1);
  const one = w.start(1, 1001);
  const three = w.start(3, 3003);
  w.run(2000);
  expect(one.peer.peersUp).toEqual([3]);
  // Peer 3's challenges to peer 1 (its start-up challenge at least), as a recorder on the path saw them.
  const recorded = w.sent.filter((d) => d.from === 3 && d.to === 1 && d.bytes[3] === FrameType.PathChallenge);
  expect(recorded.length).toBeGreaterThan(0);
  for (const d of recorded) {
    expect(d.bytes[4]! & FrameFlag.Sealed).toBe(FrameFlag.Sealed);
    expect(d.bytes.length).toBe(80);
  }
  const responsesBefore = w.sent.filter((d) => d.from === 1 && ofType(FrameType.PathResponse)(d)).length;
  const replayedBefore = one.peer.stats.drops.replayed ?? 0;
  const sources = [RECORDER, THIRD_PARTY, 3];
  for (let round = 0; round < 10; round++)
    for (const source of sources) for (const d of recorded) w.net.transmit(source, { to: 1, bytes: d.bytes });
  w.run(4000);
  const responses = w.sent.filter((d) => d.from === 1 && ofType(FrameType.PathResponse)(d));
  expect(responses.length).toBe(responsesBefore);
  expect(w.sent.some((d) => d.from === 1 && (d.to === RECORDER || d.to === THIRD_PARTY))).toBe(false);
  expect((one.peer.stats.drops.replayed ?? 0) - replayedBefore).toBe(10 * sources.length * recorded.length);
  // The pair still validates new processes: peer 3 restarts and is read again.
  three.stop();
  w.start(3, 3333);
  w.run(8000);
  expect(one.peer.peersUp).toEqual([3]);
  expect(one.peer.session(3)!.remoteEpoch).toBe(3333);
});

test("a recorded PATH_RESPONSE sent again is dropped as replayed, not as an unknown token", () => {
  const w = world(2);
  const one = w.start(1, 1001);
  w.start(3, 3003);
  w.run(2000);
  const recorded = w.sent.filter((d) => d.from === 3 && d.to === 1 && ofType(FrameType.PathResponse)(d));
  expect(recorded.length).toBeGreaterThan(0);
  const unknownBefore = one.peer.stats.drops["unknown-token"] ?? 0;
  const replayedBefore = one.peer.stats.drops.replayed ?? 0;
  for (const d of recorded) w.net.transmit(3, { to: 1, bytes: d.bytes });
  w.run(3000);
  expect((one.peer.stats.drops.replayed ?? 0) - replayedBefore).toBe(recorded.length);
  expect((one.peer.stats.drops["unknown-token"] ?? 0) - unknownBefore).toBe(0);
});

test("under 30% loss, challenges retried after a lost answer are sealed anew and answered: every seed gets the group up", () => {
  for (let seed = 10; seed < 30; seed++) {
    const w = world(seed, 1500);
    const loops = [w.start(1, 1001), w.start(2, 2002), w.start(3, 3003)];
    w.run(6000);
    for (const loop of loops) expect(loop.peer.ready).toBe(true);
    // No challenge went out twice with the same bytes (each retry has its own packet number).
    const challenges = w.sent.filter((d) => d.from <= 3 && ofType(FrameType.PathChallenge)(d));
    const distinct = new Set(challenges.map((d) => `${d.from}>${d.to}:${Buffer.from(d.bytes).toString("hex")}`));
    expect(distinct.size).toBe(challenges.length);
  }
});
