/**
 * The failure detector's state machine, driven by hand: SWIM's precedence
 * rules, refutation, PING/ACK and PING_REQ relaying, Lifeguard's NACKs,
 * local health and dynamic suspicion timeouts.
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { MemberState, type MemberUpdateSchema, ProbeKind, ProbeSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { DEFAULT_MEMBERSHIP_CONFIG, suspicionTimeoutsMs } from "../../src/membership/config.ts";
import { Membership } from "../../src/membership/membership.ts";
import { Rng } from "../../src/sim/rng.ts";

type Update = MessageInitShape<typeof MemberUpdateSchema>;
const EPOCH = 1000;
const epochOf = (id: number) => EPOCH + id;

/** Member 1 of `n`, with members 2..n up (both ways), at time 0. */
function detector(n: number, config = {}) {
  const rng = new Rng(42);
  const m = new Membership(0, { selfId: 1, epoch: epochOf(1), members: n, config, random: () => rng.float() });
  for (let id = 2; id <= n; id++) m.memberUp(0, id, epochOf(id));
  return m;
}

function sent(m: Membership) {
  const out = [];
  for (let t = m.pollTransmit(); t !== undefined; t = m.pollTransmit())
    out.push({ to: t.to, toEpoch: t.toEpoch, probe: fromBinary(ProbeSchema, t.payload) });
  return out;
}

function events(m: Membership) {
  const out = [];
  for (let e = m.pollEvent(); e !== undefined; e = m.pollEvent()) out.push(e);
  return out;
}

function gossip(m: Membership, from: number, now: number, ...updates: Update[]) {
  m.handleProbe(now, from, epochOf(from), create(ProbeSchema, { kind: ProbeKind.GOSSIP, updates }));
}

const upd = (id: number, state: MemberState, incarnation: number, reporter = 2): Update => ({
  id,
  epoch: epochOf(id),
  incarnation,
  state,
  reporter,
});

describe("precedence (SWIM 4.2)", () => {
  test("suspect overrides alive at the same incarnation; only a higher alive clears it; failed is final for its incarnation", () => {
    const m = detector(5);
    const state = () => m.view()[2]!;
    gossip(m, 2, 10, upd(3, MemberState.SUSPECT, 0));
    expect(state()).toMatchObject({ state: "suspect", incarnation: 0 });
    gossip(m, 2, 20, upd(3, MemberState.ALIVE, 0));
    expect(state().state).toBe("suspect");
    gossip(m, 2, 30, upd(3, MemberState.ALIVE, 1));
    expect(state()).toMatchObject({ state: "alive", incarnation: 1 });
    gossip(m, 2, 40, upd(3, MemberState.FAILED, 0));
    expect(state().state).toBe("alive");
    gossip(m, 2, 50, upd(3, MemberState.FAILED, 1));
    expect(state()).toMatchObject({ state: "failed", incarnation: 1 });
    gossip(m, 2, 60, upd(3, MemberState.SUSPECT, 5));
    expect(state().state).toBe("failed");
    gossip(m, 2, 70, upd(3, MemberState.ALIVE, 2, 3));
    expect(state()).toMatchObject({ state: "alive", incarnation: 2 });
    expect(events(m).map((e) => [e.type, e.peer, e.incarnation])).toEqual([
      ["peerSuspect", 3, 0],
      ["peerAlive", 3, 1],
      ["peerFailed", 3, 1],
      ["peerAlive", 3, 2],
    ]);
  });

  test("news about another process (epoch) of a member is ignored; its own goodbye is final", () => {
    const m = detector(4);
    gossip(m, 2, 10, { ...upd(3, MemberState.FAILED, 9), epoch: 777 });
    expect(m.view()[2]!.state).toBe("alive");
    expect(m.stats.updatesIgnored).toBe(1);
    m.memberLeft(20, 3, epochOf(3), "shutdown");
    gossip(m, 2, 30, upd(3, MemberState.ALIVE, 5, 3));
    expect(m.view()[2]!.state).toBe("left");
  });

  test("a relayed goodbye is a suspicion: refuted by alive(i + 1), and unrefuted it ends in left, which a later alive undoes", () => {
    const m = detector(4);
    gossip(m, 2, 10, upd(3, MemberState.LEFT, 0, 3));
    expect(m.view()[2]).toMatchObject({ state: "suspect", incarnation: 0 });
    expect(events(m)).toEqual([{ type: "peerSuspect", peer: 3, epoch: epochOf(3), incarnation: 0, reporter: 3 }]);
    // It travels on as a goodbye, in the member's name (to the member itself, as the suspicion it is).
    m.handleTimeout(10);
    const frames = sent(m);
    const relayed = frames.filter((f) => f.to !== 3).flatMap((f) => f.probe.updates.filter((u) => u.id === 3));
    expect(relayed.length).toBeGreaterThan(0);
    for (const u of relayed) expect(u).toMatchObject({ state: MemberState.LEFT, reporter: 3 });
    gossip(m, 3, 20, upd(3, MemberState.ALIVE, 1, 3));
    expect(m.view()[2]).toMatchObject({ state: "alive", incarnation: 1 });
    expect(events(m)).toMatchObject([{ type: "peerAlive", peer: 3, reason: "refuted" }]);

    gossip(m, 2, 30, upd(3, MemberState.LEFT, 1, 3));
    m.handleTimeout(60_000);
    expect(m.view()[2]).toMatchObject({ state: "left", incarnation: 1 });
    expect(events(m).filter((e) => e.type === "peerLeft")).toMatchObject([{ peer: 3, reporter: 3 }]);
    // Not final: the member may still be there; it is pinged and its alive at a higher incarnation counts.
    gossip(m, 3, 60_100, upd(3, MemberState.ALIVE, 2, 3));
    expect(m.view()[2]).toMatchObject({ state: "alive", incarnation: 2 });
  });

  test("a third party's goodbye for a member is not taken", () => {
    const m = detector(4);
    gossip(m, 2, 10, upd(3, MemberState.LEFT, 0, 2));
    gossip(m, 2, 20, upd(3, MemberState.LEFT, 7, 4));
    expect(m.view()[2]).toMatchObject({ state: "alive", incarnation: 0 });
    expect(events(m)).toEqual([]);
    expect(m.stats.updatesIgnored).toBe(2);
  });
});

test("refutation: a suspicion of me raises my incarnation, and my next probes carry alive(i + 1)", () => {
  const m = detector(3);
  gossip(m, 2, 10, upd(1, MemberState.SUSPECT, 0));
  expect(m.view()[0]).toMatchObject({ state: "alive", incarnation: 1 });
  expect(m.stats.refutations).toBe(1);
  expect(m.stats.health).toBe(1);
  m.handleTimeout(10);
  const frames = sent(m);
  expect(frames.length).toBeGreaterThan(0);
  for (const f of frames)
    expect(f.probe.updates.some((u) => u.id === 1 && u.state === MemberState.ALIVE && u.incarnation === 1)).toBe(true);
});

test("PING is answered by ACK; PING_REQ is relayed: the helper pings the target and forwards its ACK, or NACKs in time", () => {
  const m = detector(4);
  m.handleProbe(5, 2, epochOf(2), create(ProbeSchema, { kind: ProbeKind.PING, probeId: 77 }));
  expect(sent(m).map((f) => [f.to, f.probe.kind, f.probe.probeId])).toEqual([[2, ProbeKind.ACK, 77]]);

  m.handleProbe(
    10,
    2,
    epochOf(2),
    create(ProbeSchema, { kind: ProbeKind.PING_REQ, probeId: 500, targetId: 3, targetEpoch: epochOf(3) }),
  );
  const [ping] = sent(m);
  expect(ping).toMatchObject({ to: 3, toEpoch: epochOf(3) });
  expect(ping!.probe.kind).toBe(ProbeKind.PING);
  m.handleProbe(12, 3, epochOf(3), create(ProbeSchema, { kind: ProbeKind.ACK, probeId: ping!.probe.probeId }));
  expect(sent(m).map((f) => [f.to, f.probe.kind, f.probe.probeId])).toEqual([[2, ProbeKind.ACK, 500]]);

  // A target that stays silent: NACK to the requester at 80% of the probe timeout.
  m.handleProbe(
    20,
    2,
    epochOf(2),
    create(ProbeSchema, { kind: ProbeKind.PING_REQ, probeId: 501, targetId: 4, targetEpoch: epochOf(4) }),
  );
  sent(m);
  m.handleTimeout(20 + 0.8 * DEFAULT_MEMBERSHIP_CONFIG.probeTimeoutMs);
  // (my own probe round may have started meanwhile; only the answer to the request matters here)
  const toRequester = sent(m).filter((f) => f.to === 2 && f.probe.kind !== ProbeKind.PING);
  expect(toRequester.map((f) => [f.probe.kind, f.probe.probeId])).toEqual([[ProbeKind.NACK, 501]]);
});

test("a probe nobody answers: helpers asked after the probe timeout, suspicion at the end of the period, health up; an answered probe brings it down", () => {
  const m = detector(5);
  const t0 = m.pollTimeout()!;
  m.handleTimeout(t0);
  const [ping] = sent(m);
  expect(ping!.probe.kind).toBe(ProbeKind.PING);
  const target = ping!.to;
  m.handleTimeout(t0 + DEFAULT_MEMBERSHIP_CONFIG.probeTimeoutMs);
  const requests = sent(m).filter((f) => f.probe.kind === ProbeKind.PING_REQ);
  expect(requests.length).toBe(3);
  for (const r of requests) expect(r.probe.targetId).toBe(target);
  // No ACK and no NACK from any helper: Lifeguard counts each missing NACK against me.
  m.handleTimeout(t0 + DEFAULT_MEMBERSHIP_CONFIG.protocolPeriodMs);
  expect(m.view()[target - 1]!.state).toBe("suspect");
  expect(m.stats.health).toBe(3);
  const [next] = sent(m);
  m.handleProbe(
    t0 + 210,
    next!.to,
    epochOf(next!.to),
    create(ProbeSchema, { kind: ProbeKind.ACK, probeId: next!.probe.probeId }),
  );
  m.handleTimeout(t0 + DEFAULT_MEMBERSHIP_CONFIG.protocolPeriodMs * 5);
  expect(m.stats.health).toBe(2);
});

test("dynamic suspicion (Lifeguard): the timeout starts at its longest and reaches the shortest after K independent confirmations", () => {
  const n = 10;
  const m = detector(n);
  const { minMs, maxMs } = suspicionTimeoutsMs(DEFAULT_MEMBERSHIP_CONFIG, n);
  gossip(m, 2, 0, upd(3, MemberState.SUSPECT, 0, 2));
  // Alone, the suspicion waits the longest timeout.
  m.handleTimeout(maxMs - 1);
  expect(m.view()[2]!.state).toBe("suspect");
  const m2 = detector(n);
  gossip(m2, 2, 0, upd(3, MemberState.SUSPECT, 0, 2));
  // K = suspicionMult - 2 = 2 confirmations from other reporters bring it down to the shortest.
  gossip(m2, 4, 1, upd(3, MemberState.SUSPECT, 0, 4));
  gossip(m2, 5, 2, upd(3, MemberState.SUSPECT, 0, 5));
  m2.handleTimeout(minMs - 1);
  expect(m2.view()[2]!.state).toBe("suspect");
  m2.handleTimeout(minMs);
  expect(m2.view()[2]!.state).toBe("failed");
  // A repeat from the same reporter is not a confirmation.
  const m3 = detector(n);
  gossip(m3, 2, 0, upd(3, MemberState.SUSPECT, 0, 2));
  gossip(m3, 2, 1, upd(3, MemberState.SUSPECT, 0, 2));
  gossip(m3, 2, 2, upd(3, MemberState.SUSPECT, 0, 2));
  m3.handleTimeout(minMs);
  expect(m3.view()[2]!.state).toBe("suspect");
});

test("dissemination: each update is piggybacked a bounded number of times, then dropped", () => {
  const n = 20;
  // A long period, so that only gossip runs here: no probe of mine confirms or replaces the update.
  const m = detector(n, { protocolPeriodMs: 60_000, probeTimeoutMs: 30_000 });
  expect(m.pollTimeout()!).toBeGreaterThan(5000);
  gossip(m, 2, 0, upd(3, MemberState.SUSPECT, 0));
  const limit = DEFAULT_MEMBERSHIP_CONFIG.retransmitMult * Math.ceil(Math.log10(n + 1));
  let carried = 0;
  for (let t = 0; t < 5000; t += 50) {
    m.handleTimeout(t);
    for (const f of sent(m)) if (f.to !== 3 && f.probe.updates.some((u) => u.id === 3)) carried++;
  }
  expect(carried).toBe(limit);
  // Once sent enough, nothing is left to gossip.
  expect(m.pollTimeout()!).toBeGreaterThan(5000);
});

test("anti-entropy: news older than mine is answered at once, to its sender, with what I know", () => {
  const m = detector(5);
  gossip(m, 2, 10, upd(3, MemberState.SUSPECT, 0));
  gossip(m, 3, 20, upd(3, MemberState.ALIVE, 1, 3));
  sent(m);
  // Member 4 still spreads the old suspicion of 3 (incarnation 0): it gets the refutation back directly.
  gossip(m, 4, 30, upd(3, MemberState.SUSPECT, 0, 4));
  const back = sent(m).filter((f) => f.to === 4 && f.probe.kind === ProbeKind.GOSSIP);
  expect(back.length).toBe(1);
  expect(back[0]!.probe.updates[0]).toMatchObject({ id: 3, incarnation: 1, state: MemberState.ALIVE, reporter: 3 });
  expect(m.view()[2]).toMatchObject({ state: "alive", incarnation: 1 });
  expect(m.stats.corrections).toBe(1);
  // A stale suspicion of me: corrected to its sender with my current incarnation.
  gossip(m, 2, 40, upd(1, MemberState.SUSPECT, 0));
  gossip(m, 5, 50, upd(1, MemberState.SUSPECT, 0, 5));
  const toFive = sent(m).filter((f) => f.to === 5 && f.probe.kind === ProbeKind.GOSSIP);
  expect(toFive[0]!.probe.updates[0]).toMatchObject({ id: 1, incarnation: 1, state: MemberState.ALIVE });
});

describe("hostile or odd news (review findings)", () => {
  test("an incarnation at the top of the range is ignored: no refutation could follow it", () => {
    const m = detector(4);
    gossip(m, 2, 10, upd(1, MemberState.SUSPECT, 0xffffffff));
    expect(m.view()[0]!.incarnation).toBe(0);
    gossip(m, 2, 20, upd(3, MemberState.ALIVE, 0xffffffff));
    expect(m.view()[2]!.incarnation).toBe(0);
    // And every frame still encodes.
    m.handleTimeout(500);
    expect(() => sent(m)).not.toThrow();
  });

  test("a relayed goodbye older than what I know is answered with it, not taken: no round of suspicions and refutations", () => {
    const m = detector(4);
    gossip(m, 3, 10, upd(3, MemberState.ALIVE, 4, 3));
    gossip(m, 2, 20, upd(3, MemberState.LEFT, 0, 3));
    expect(m.view()[2]).toMatchObject({ state: "alive", incarnation: 4 });
    expect(m.stats.corrections).toBe(1);
    const correction = sent(m).find((f) => f.to === 2)!;
    expect(correction.probe.updates[0]).toMatchObject({ id: 3, state: MemberState.ALIVE, incarnation: 4, reporter: 3 });
  });

  test("the member's own goodbye after a relayed one makes it final and says so", () => {
    const m = detector(4);
    gossip(m, 2, 10, upd(3, MemberState.LEFT, 0, 3));
    m.handleTimeout(60_000);
    expect(events(m).filter((e) => e.type === "peerLeft")).toMatchObject([{ peer: 3, relayed: true }]);
    m.memberLeft(60_001, 3, epochOf(3), "SIGTERM");
    expect(events(m)).toMatchObject([{ type: "peerLeft", peer: 3, relayed: false, reason: "SIGTERM" }]);
    gossip(m, 3, 60_100, upd(3, MemberState.ALIVE, 9, 3));
    expect(m.view()[2]!.state).toBe("left");
  });

  test("a goodbye relayed onto a suspicion is no confirmation, and the suspicion travels on as a goodbye", () => {
    const m = detector(6);
    gossip(m, 2, 10, upd(3, MemberState.SUSPECT, 0, 2));
    events(m);
    m.handleTimeout(10);
    sent(m);
    gossip(m, 4, 20, upd(3, MemberState.LEFT, 0, 3));
    gossip(m, 5, 30, upd(3, MemberState.SUSPECT, 0, 5));
    m.handleTimeout(200);
    const about3 = sent(m)
      .filter((f) => f.to !== 3)
      .flatMap((f) => f.probe.updates.filter((u) => u.id === 3));
    expect(about3.length).toBeGreaterThan(0);
    for (const u of about3) expect(u).toMatchObject({ state: MemberState.LEFT, reporter: 3 });
  });

  test("only suspect, failed or left about me is refuted; an unknown state is not", () => {
    const m = detector(3);
    gossip(m, 2, 10, upd(1, 0 as MemberState, 0), upd(1, 7 as MemberState, 0));
    expect(m.stats.refutations).toBe(0);
    expect(m.view()[0]!.incarnation).toBe(0);
  });

  test("disabled, or busy (the owner takes no events): probes are answered, news is not taken in", () => {
    const off = detector(4, { enabled: false });
    gossip(off, 2, 10, upd(3, MemberState.SUSPECT, 0));
    off.handleTimeout(5000);
    expect(events(off)).toEqual([]);
    off.handleProbe(20, 2, epochOf(2), create(ProbeSchema, { kind: ProbeKind.PING, probeId: 9 }));
    expect(sent(off).map((f) => [f.to, f.probe.kind, f.probe.probeId])).toEqual([[2, ProbeKind.ACK, 9]]);
    const busy = detector(4);
    busy.handleProbe(
      10,
      2,
      epochOf(2),
      create(ProbeSchema, { kind: ProbeKind.PING, probeId: 3, updates: [upd(3, MemberState.SUSPECT, 0)] }),
      true,
    );
    expect(busy.view()[2]!.state).toBe("alive");
    expect(sent(busy).some((f) => f.probe.kind === ProbeKind.ACK)).toBe(true);
  });

  test("a duplicated NACK counts once", () => {
    const m = detector(5);
    const t0 = m.pollTimeout()!;
    m.handleTimeout(t0);
    sent(m);
    m.handleTimeout(t0 + DEFAULT_MEMBERSHIP_CONFIG.probeTimeoutMs);
    const requests = sent(m).filter((f) => f.probe.kind === ProbeKind.PING_REQ);
    const helper = requests[0]!;
    const nack = create(ProbeSchema, { kind: ProbeKind.NACK, probeId: helper.probe.probeId });
    for (let i = 0; i < 3; i++) m.handleProbe(t0 + 150, helper.to, epochOf(helper.to), nack);
    m.handleTimeout(t0 + DEFAULT_MEMBERSHIP_CONFIG.protocolPeriodMs);
    // Three helpers asked, one NACKed (three times): two missing NACKs count against me.
    expect(m.stats.health).toBe(2);
  });

  test("with nobody left to tell, pending news is dropped and gossip stops waking up", () => {
    const m = detector(2, { protocolPeriodMs: 60_000, probeTimeoutMs: 30_000 });
    m.memberLeft(10, 2, epochOf(2), "SIGTERM");
    m.handleTimeout(10);
    sent(m);
    expect(m.pollTimeout()!).toBeGreaterThan(1000);
  });
});
