import { describe, expect, test } from "bun:test";
import { DEFAULT_SESSION_CONFIG } from "../../src/reliability/config.ts";
import { FRAGMENT_DATA_BYTES_MAX } from "../../src/reliability/session.ts";
import { Rng } from "../../src/sim/rng.ts";
import { FRAME_BYTES_MAX, FrameType } from "../../src/wire/frame.ts";
import { Pair, text } from "./pair.ts";

describe("delivery", () => {
  test("messages arrive in order, exactly once, and are acknowledged", () => {
    const p = new Pair();
    for (let i = 0; i < 50; i++) expect(p.a.session.send(p.now, text(`m${i}`))).toEqual({ ok: true });
    p.settle();
    expect(p.b.delivered()).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(p.a.session.idle).toBe(true);
    expect(p.b.session.idle).toBe(true);
  });

  test("small messages are coalesced: 1000 32-byte messages take far fewer frames", () => {
    // A congestion window large enough for all of them at once.
    const p = new Pair({ initialWindowFrames: 64 });
    for (let i = 0; i < 1000; i++) p.a.session.send(p.now, new Uint8Array(32).fill(i & 0xff));
    const frames = p.drain(p.a);
    // 34 bytes each inside a Bundle: about 40 per 1364-byte payload (less the room kept for a piggybacked ack).
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(1000 / 38));
    expect(frames.every((f) => f.type === FrameType.Data)).toBe(true);
    p.deliver(p.b, frames);
    expect(p.b.ofType("delivered").length).toBe(1000);
    expect(p.a.session.stats.messagesSent).toBe(1000);
  });

  test("a message larger than a frame is fragmented and reassembled byte for byte", () => {
    const p = new Pair();
    const big = new Uint8Array(DEFAULT_SESSION_CONFIG.messageBytesMax);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff;
    p.a.session.send(p.now, text("before"));
    p.a.session.send(p.now, big);
    p.a.session.send(p.now, text("after"));
    let framesSeen = 0;
    const rng = new Rng(7);
    p.settle(() => {
      framesSeen++;
      return rng.chance(0.15); // lose some fragments and acks too
    });
    const delivered = p.b.ofType("delivered").map((e) => e.message);
    expect(delivered.length).toBe(3);
    expect(new TextDecoder().decode(delivered[0])).toBe("before");
    expect(Buffer.compare(delivered[1]!, big)).toBe(0);
    expect(new TextDecoder().decode(delivered[2])).toBe("after");
    expect(framesSeen).toBeGreaterThan(big.length / FRAGMENT_DATA_BYTES_MAX);
  });

  test("a message over messageBytesMax is refused with too-large", () => {
    const p = new Pair({ messageBytesMax: 1000 });
    expect(p.a.session.send(0, new Uint8Array(1001))).toEqual({ ok: false, reason: "too-large" });
    expect(p.a.session.send(0, new Uint8Array(1000))).toEqual({ ok: true });
  });

  test("frames never exceed 1400 bytes", () => {
    const p = new Pair();
    for (const size of [1, 1300, 1360, 1361, 1362, 5000]) p.a.session.send(0, new Uint8Array(size));
    for (const f of p.drain(p.a)) {
      const bytes = f.payload;
      expect(bytes).toBeDefined();
    }
    // Through the codec: encodeFrameBytes would throw on an oversized payload.
    p.settle();
    expect(p.b.ofType("delivered").map((e) => e.message.length)).toEqual([1, 1300, 1360, 1361, 1362, 5000]);
    expect(FRAME_BYTES_MAX).toBe(1400);
  });

  test("sequence numbers wrap around 2^32 without loss or reordering", () => {
    const p = new Pair({ initialSeq: 0xffff_fff0, windowFrames: 8 });
    for (let i = 0; i < 200; i++) p.a.session.send(p.now, new Uint8Array(700).fill(i));
    let n = 0;
    p.settle(() => ++n % 5 === 0);
    const got = p.b.ofType("delivered").map((e) => e.message[0]);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});

describe("loss recovery", () => {
  test("a lost frame is fast-retransmitted when later frames are acknowledged, before any timeout", () => {
    const p = new Pair();
    // Establish epochs and an RTT sample first.
    p.a.session.send(p.now, text("hello"));
    p.settle();
    for (let i = 0; i < 6; i++) p.a.session.send(p.now, new Uint8Array(1300).fill(i));
    const frames = p.drain(p.a);
    expect(frames.length).toBe(6);
    p.deliver(p.b, [frames[0]!, ...frames.slice(2)]); // frame 2 of 6 lost
    p.deliver(p.a, p.drain(p.b)); // immediate acks for the gap, no time passes
    const resent = p.drain(p.a);
    expect(resent.map((f) => f.seq)).toEqual([frames[1]!.seq]);
    expect(p.a.session.stats.fastRetransmissions).toBe(1);
    expect(p.a.session.stats.timeouts).toBe(0);
    p.deliver(p.b, resent);
    expect(p.b.ofType("delivered").length).toBe(7);
  });

  test("the ack of a retransmitted frame does not declare frames still in flight lost (Karn's rule for loss detection)", () => {
    const p = new Pair({ rtoMsMin: 1, rtoMsInitial: 50 });
    p.a.session.send(p.now, text("warm-up"));
    p.settle();
    for (let i = 0; i < 8; i++) p.a.session.send(p.now, new Uint8Array(1300).fill(i));
    const originals = p.drain(p.a);
    expect(originals.length).toBe(8);
    // Acks are slow: the timer fires and the oldest frame is re-sent.
    p.now = p.a.session.pollTimeout()!;
    p.a.session.handleTimeout(p.now);
    expect(p.drain(p.a).map((f) => f.seq)).toEqual([originals[0]!.seq]);
    // Now the first original arrives and is acknowledged; the other seven are still on their way.
    p.deliver(p.b, [originals[0]!]);
    p.deliver(p.a, p.drain(p.b));
    expect(p.a.session.stats.fastRetransmissions).toBe(0);
    expect(p.drain(p.a)).toEqual([]);
  });

  test("a frame that fills a gap is acknowledged at once, without the ack delay", () => {
    const p = new Pair({ ackDelayMs: 50 });
    p.a.session.send(0, new Uint8Array(1300));
    p.a.session.send(0, new Uint8Array(1300));
    const [first, second] = p.drain(p.a);
    p.deliver(p.b, [second!]);
    p.drain(p.b); // the immediate ack for the gap
    p.deliver(p.b, [first!]);
    const acks = p.drain(p.b);
    expect(acks.length).toBe(1);
    expect(acks[0]!.ack).toBe(second!.seq);
  });

  test("the retransmission timeout includes the peer's allowed ack delay", () => {
    const p = new Pair({ rtoMsMin: 1, ackDelayMs: 7 });
    // First contact both ways first (acknowledged at once, and no RTT sample at a).
    p.b.session.send(p.now, text("hi"));
    p.settle();
    p.a.session.send(p.now, text("x"));
    const sent = p.drain(p.a);
    p.now += 10;
    p.deliver(p.b, sent);
    p.deliver(p.a, p.drain(p.b)); // two-frame rule does not apply: ack waits 7 ms
    p.now += 7;
    p.deliver(p.a, p.drain(p.b));
    // One sample of 17 ms: RTO = 17 + 4 * 8.5 + 7.
    expect(p.a.session.rttEstimateMs).toBe(17);
    expect(p.a.session.currentRtoMs).toBe(17 + 34 + 7);
  });

  test("retransmission timeouts back off exponentially up to rtoMsMax", () => {
    const p = new Pair({ rtoMsInitial: 100, rtoMsMax: 1000 });
    p.a.session.send(0, text("anyone?"));
    const sendTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      for (const _ of p.drain(p.a)) sendTimes.push(p.now); // every frame lost
      p.now = p.a.session.pollTimeout()!;
      p.a.session.handleTimeout(p.now);
    }
    const gaps = sendTimes.slice(1).map((t, i) => t - sendTimes[i]!);
    expect(gaps.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(gaps.slice(4).every((g) => g === 1000)).toBe(true);
  });

  test("RTT follows RFC 6298 and Karn's rule ignores retransmitted frames", () => {
    const p = new Pair({ rtoMsMin: 1, rtoMsInitial: 500, ackDelayMs: 0 });
    // First frame: 40 ms round trip.
    p.a.session.send(p.now, text("x"));
    const f1 = p.drain(p.a);
    p.now += 20;
    p.deliver(p.b, f1);
    const acks = p.drain(p.b);
    p.now += 20;
    p.deliver(p.a, acks);
    expect(p.a.session.rttEstimateMs).toBe(40);
    // RTO = srtt + 4 * rttvar (+ ack delay, 0 here) = 40 + 4 * 20.
    expect(p.a.session.currentRtoMs).toBe(120);
    // A frame lost once and then acknowledged gives no sample, however long it took.
    p.a.session.send(p.now, text("y"));
    p.drain(p.a); // lost
    p.now += 120;
    p.a.session.handleTimeout(p.now);
    const again = p.drain(p.a);
    expect(again.length).toBe(1);
    p.now += 5;
    p.deliver(p.b, again);
    p.deliver(p.a, p.drain(p.b));
    expect(p.a.session.rttEstimateMs).toBe(40);
  });

  test("a silent peer is reported unresponsive after unresponsiveMs, and responsive again when it answers", () => {
    const p = new Pair({ unresponsiveMs: 3000 });
    p.a.session.send(0, text("hello"));
    p.settle();
    p.a.session.send(p.now, text("are you there"));
    const start = p.now;
    while (p.a.ofType("unresponsive").length === 0) {
      p.drain(p.a);
      p.now = p.a.session.pollTimeout()!;
      p.a.session.handleTimeout(p.now);
      expect(p.now - start).toBeLessThanOrEqual(3000);
    }
    expect(p.now - start).toBe(3000);
    p.settle();
    expect(p.a.ofType("responsive").length).toBe(1);
    expect(p.b.delivered()).toEqual(["hello", "are you there"]);
  });

  test("an in-order frame is acknowledged after ackDelayMs by a standalone ACK when nothing rides back", () => {
    const p = new Pair({ ackDelayMs: 5 });
    // First contact is acknowledged at once (see the epochs tests); the rule is for the frames after it.
    p.b.session.send(p.now, text("hi"));
    p.settle();
    const t0 = p.now;
    p.a.session.send(t0, text("one"));
    p.deliver(p.b, p.drain(p.a));
    expect(p.drain(p.b)).toEqual([]);
    expect(p.b.session.pollTimeout()).toBe(t0 + 5);
    p.now = t0 + 5;
    const acks = p.drain(p.b);
    expect(acks.map((f) => f.type)).toEqual([FrameType.Ack]);
    expect(acks[0]!.ack).toBe(1);
  });

  test("acks ride on data going the other way instead of separate ACK frames", () => {
    const p = new Pair();
    p.a.session.send(0, text("ping"));
    p.deliver(p.b, p.drain(p.a));
    p.b.session.send(0, text("pong"));
    const back = p.drain(p.b);
    expect(back.map((f) => f.type)).toEqual([FrameType.Data]);
    expect(back[0]!.ack).toBe(1);
    p.deliver(p.a, back);
    expect(p.a.session.idle).toBe(true);
  });

  test("duplicates are suppressed and answered with an immediate ack", () => {
    const p = new Pair();
    p.a.session.send(0, text("once"));
    const frames = p.drain(p.a);
    p.deliver(p.b, frames);
    p.deliver(p.b, frames);
    p.deliver(p.b, frames);
    expect(p.b.delivered()).toEqual(["once"]);
    expect(p.b.session.stats.duplicatesReceived).toBe(2);
    expect(p.drain(p.b).length).toBe(1);
  });
});

describe("limits", () => {
  test("a full send queue refuses with queue-full and reports writable once drained to half", () => {
    const p = new Pair({ sendQueueMessagesMax: 10, windowFrames: 1 });
    for (let i = 0; i < 10; i++) expect(p.a.session.send(0, new Uint8Array(1300)).ok).toBe(true);
    expect(p.a.session.send(0, new Uint8Array(1300))).toEqual({ ok: false, reason: "queue-full" });
    expect(p.a.ofType("writable").length).toBe(0);
    p.settle();
    expect(p.a.ofType("writable").length).toBe(1);
    expect(p.b.ofType("delivered").length).toBe(10);
  });

  test("a send queue limited by bytes refuses what would exceed it", () => {
    const p = new Pair({ sendQueueBytesMax: 1000 });
    expect(p.a.session.send(0, new Uint8Array(600)).ok).toBe(true);
    expect(p.a.session.send(0, new Uint8Array(600))).toEqual({ ok: false, reason: "queue-full" });
  });

  test("the sender never has more than windowFrames unacknowledged frames", () => {
    const p = new Pair({ windowFrames: 4 });
    for (let i = 0; i < 20; i++) p.a.session.send(0, new Uint8Array(1300));
    expect(p.drain(p.a).length).toBe(4);
    expect(p.drain(p.a).length).toBe(0);
  });

  test("the receiver refuses frames beyond its window without acknowledging them", () => {
    const p = new Pair({ windowFrames: 4 });
    p.a.session.send(0, text("first"));
    p.settle();
    const other = new Pair({ windowFrames: 64 }, [0xa, 0xb]);
    for (let i = 0; i < 10; i++) other.a.session.send(0, new Uint8Array(1300));
    const frames = other.drain(other.a);
    // seq 1 was delivered, seq 2 is lost: 3..5 fit in the window, 6..10 are 4 or more beyond rcvNext=2.
    const refusals = p.deliver(p.b, frames.slice(2));
    expect(refusals).toEqual([undefined, undefined, undefined, ...Array(5).fill("beyond-window")]);
    const ack = p.drain(p.b).at(-1)!;
    expect(ack.ack).toBe(1);
    expect(ack.sack).toBe(0b111); // 3, 4, 5 held (bit i is seq ack + 2 + i); nothing beyond the window acknowledged
  });

  test("a fragmented message over messageBytesMax from the peer is dropped and counted, not buffered", () => {
    const sender = new Pair({ messageBytesMax: 1 << 20 });
    sender.a.session.send(0, new Uint8Array(10_000));
    const frames = sender.drain(sender.a);
    const receiver = new Pair({ messageBytesMax: 5000 });
    receiver.deliver(receiver.b, frames);
    expect(receiver.b.ofType("delivered").length).toBe(0);
    expect(receiver.b.ofType("violation").map((v) => v.reason)).toContain("message-too-large");
  });
});

describe("epochs", () => {
  test("a restarted peer (new epoch) resets the session: old data is dropped and counted, nothing old is delivered after", () => {
    const p = new Pair({}, [0xa, 0xb]);
    p.a.session.send(0, text("to old b"));
    p.settle();
    p.a.session.send(p.now, text("lost with old b"));
    const toOldB = p.drain(p.a);
    // b restarts with a new epoch and speaks first.
    const p2 = new Pair({}, [0xa, 0xc]);
    p2.b.session.send(p.now, text("hello from new b"));
    const fromNewB = p2.drain(p2.b);
    expect(p.deliver(p.a, fromNewB)).toEqual([undefined]);
    const restarted = p.a.ofType("restarted");
    expect(restarted).toEqual([{ type: "restarted", oldEpoch: 0xb, newEpoch: 0xc, messagesDropped: 1 }]);
    expect(p.a.delivered()).toEqual(["hello from new b"]);
    // The frame addressed to old b is refused by new b.
    expect(p2.deliver(p2.b, toOldB)).toEqual(["stale-receiver-epoch"]);
    // A late frame from old b is refused by a.
    p.b.session.send(p.now, text("late from old b"));
    expect(p.deliver(p.a, p.drain(p.b))).toEqual(["stale-epoch"]);
    expect(p.a.delivered()).toEqual(["hello from new b"]);
  });

  test("first contact re-sends blind frames at once instead of waiting for the backed-off timer", () => {
    const p = new Pair({ rtoMsInitial: 100, rtoMsMax: 5000 });
    p.a.session.send(0, text("alive"));
    for (let i = 0; i < 5; i++) {
      p.drain(p.a); // b is not up yet: lost
      p.now = p.a.session.pollTimeout()!;
      p.a.session.handleTimeout(p.now);
    }
    p.drain(p.a);
    expect(p.a.session.currentRtoMs).toBeGreaterThanOrEqual(3200);
    // b starts and announces itself; a retransmits immediately.
    p.b.session.send(p.now, text("alive from b"));
    p.deliver(p.a, p.drain(p.b));
    const resent = p.drain(p.a);
    expect(resent.some((f) => f.type === FrameType.Data && f.receiverEpoch === 0xb)).toBe(true);
  });
});

test("retransmitNow re-sends everything outstanding at once and restarts the backoff", () => {
  const p = new Pair({ rtoMsInitial: 100, rtoMsMax: 5000 });
  p.a.session.send(0, text("into the void"));
  for (let i = 0; i < 4; i++) {
    p.drain(p.a);
    p.now = p.a.session.pollTimeout()!;
    p.a.session.handleTimeout(p.now);
  }
  p.drain(p.a);
  expect(p.a.session.currentRtoMs).toBe(1600);
  p.a.session.retransmitNow();
  expect(p.drain(p.a).length).toBe(1);
  expect(p.a.session.currentRtoMs).toBe(100);
});

test("tail-loss probe: after 2 SRTT (plus the ack delay) of silence the oldest frame is re-sent once, without backoff", () => {
  const p = new Pair({ rtoMsMin: 2, ackDelayMs: 2, rtoMsInitial: 100 });
  // One RTT sample: 5 ms out, the receiver holds its ack for the 2 ms ack delay, 5 ms back.
  p.a.session.send(p.now, text("x"));
  const first = p.drain(p.a);
  p.now += 5;
  p.deliver(p.b, first);
  p.now += 2; // the receiver's ack delay
  const ack = p.drain(p.b);
  p.now += 5;
  p.deliver(p.a, ack);
  const srtt = p.a.session.rttEstimateMs!;
  expect(srtt).toBe(12);
  const rtoBefore = p.a.session.currentRtoMs;
  // A new frame is lost; the probe comes at 2 * SRTT + ack delay, well before the RTO.
  p.a.session.send(p.now, text("y"));
  const sentAt = p.now;
  p.drain(p.a);
  const probeAt = p.a.session.pollTimeout()!;
  expect(probeAt - sentAt).toBe(2 * srtt + 2);
  expect(probeAt - sentAt).toBeLessThan(rtoBefore);
  p.now = probeAt;
  p.a.session.handleTimeout(p.now);
  expect(p.drain(p.a).length).toBe(1);
  expect(p.a.session.stats.probes).toBe(1);
  expect(p.a.session.currentRtoMs).toBe(rtoBefore); // no backoff for a probe
  // The probe is lost too: now the RTO, with backoff.
  p.now = p.a.session.pollTimeout()!;
  expect(p.now - probeAt).toBe(rtoBefore);
  p.a.session.handleTimeout(p.now);
  expect(p.drain(p.a).length).toBe(1);
  expect(p.a.session.stats.timeouts).toBe(1);
  expect(p.a.session.currentRtoMs).toBe(Math.min(2 * rtoBefore, 1000));
});

test("first contact is acknowledged at once, so the peer learns at once that my process knows its epoch", () => {
  const p = new Pair({ ackDelayMs: 50 });
  p.a.session.send(p.now, text("alive"));
  p.deliver(p.b, p.drain(p.a));
  // No time passes: b's ack (carrying a's epoch) is due now, not after the 50 ms ack delay.
  const out = p.drain(p.b);
  expect(out.map((f) => [f.type, f.receiverEpoch])).toEqual([[FrameType.Ack, 0xa]]);
});
