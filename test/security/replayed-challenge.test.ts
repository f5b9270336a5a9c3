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
import { Keyring } from "../../src/security/keyring.ts";
import { Rng } from "../../src/sim/rng.ts";
import { FrameFlag, FrameType } from "../../src/wire/frame.ts";
import { TestCluster } from "../support/cluster.ts";

const keyring = new Keyring([new Uint8Array(32).fill(9)]);
/** The recorder's own address, and a third party's that it forges. */
const RECORDER = 9;
const THIRD_PARTY = 77;

interface Sent {
  from: number;
  to: number;
  bytes: Uint8Array;
}

/** Peers 1..count in key mode on the in-memory network, every datagram recorded; 30% loss until `lossUntilMs`. */
function world(count: number, seed: number, lossUntilMs = 0) {
  const rng = new Rng(seed);
  const loss = rng.fork();
  const cluster = new TestCluster(count, () => {
    const r = rng.fork();
    return {
      keyring,
      secureRandom: (bytes: Uint8Array) => {
        for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(0, 255);
      },
    };
  });
  const sent: Sent[] = [];
  cluster.drop = (from, to, bytes) => {
    sent.push({ from, to, bytes: bytes.slice() });
    return cluster.now() < lossUntilMs && loss.chance(0.3);
  };
  return { cluster, sent, run: (forMs: number) => cluster.run(forMs) };
}

const ofType = (type: FrameType) => (d: Sent) => d.bytes[3] === type;

test("a recorded sealed challenge, replayed from the recorder's address, a third party's and the genuine sender's, is never answered again", () => {
  const w = world(2, 1);
  const one = w.cluster.peer(1);
  w.run(2000);
  expect(one.peersUp).toEqual([2]);
  // Peer 2's challenges to peer 1 (its start-up challenge at least), as a recorder on the path saw them.
  const recorded = w.sent.filter((d) => d.from === 2 && d.to === 1 && d.bytes[3] === FrameType.PathChallenge);
  expect(recorded.length).toBeGreaterThan(0);
  for (const d of recorded) {
    expect(d.bytes[4]! & FrameFlag.Sealed).toBe(FrameFlag.Sealed);
    expect(d.bytes.length).toBe(80);
  }
  const responsesBefore = w.sent.filter((d) => d.from === 1 && ofType(FrameType.PathResponse)(d)).length;
  const replayedBefore = one.stats.drops.replayed ?? 0;
  const sources = [RECORDER, THIRD_PARTY, 2];
  for (let round = 0; round < 10; round++)
    for (const source of sources)
      for (const d of recorded) w.cluster.network.transmit(source, { to: 1, bytes: d.bytes });
  w.run(4000);
  const responses = w.sent.filter((d) => d.from === 1 && ofType(FrameType.PathResponse)(d));
  expect(responses.length).toBe(responsesBefore);
  expect(w.sent.some((d) => d.from === 1 && (d.to === RECORDER || d.to === THIRD_PARTY))).toBe(false);
  expect((one.stats.drops.replayed ?? 0) - replayedBefore).toBe(10 * sources.length * recorded.length);
  // The pair still validates new processes: peer 2 restarts and is read again.
  w.cluster.start(2, { epoch: 3333 });
  w.run(8000);
  expect(one.peersUp).toEqual([2]);
  expect(one.session(2)!.remoteEpoch).toBe(3333);
});

test("a recorded PATH_RESPONSE sent again is dropped as replayed, not as an unknown token", () => {
  const w = world(2, 2);
  const one = w.cluster.peer(1);
  w.run(2000);
  const recorded = w.sent.filter((d) => d.from === 2 && d.to === 1 && ofType(FrameType.PathResponse)(d));
  expect(recorded.length).toBeGreaterThan(0);
  const unknownBefore = one.stats.drops["unknown-token"] ?? 0;
  const replayedBefore = one.stats.drops.replayed ?? 0;
  for (const d of recorded) w.cluster.network.transmit(2, { to: 1, bytes: d.bytes });
  w.run(3000);
  expect((one.stats.drops.replayed ?? 0) - replayedBefore).toBe(recorded.length);
  expect((one.stats.drops["unknown-token"] ?? 0) - unknownBefore).toBe(0);
});

test("under 30% loss, challenges retried after a lost answer are sealed anew and answered: every seed gets the group up", () => {
  for (let seed = 10; seed < 30; seed++) {
    const w = world(3, seed, 1500);
    w.run(6000);
    for (const id of [1, 2, 3]) expect(w.cluster.peer(id).ready).toBe(true);
    // No challenge went out twice with the same bytes (each retry has its own packet number).
    const challenges = w.sent.filter((d) => d.from <= 3 && ofType(FrameType.PathChallenge)(d));
    const distinct = new Set(challenges.map((d) => `${d.from}>${d.to}:${Buffer.from(d.bytes).toString("hex")}`));
    expect(distinct.size).toBe(challenges.length);
  }
});
