/**
 * Issue 12's session features through the real codec: acknowledgement ranges
 * over a large window, recovery of a burst lost at once, flow control by
 * credit, and the send queue bounded in time.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_SESSION_CONFIG } from "../../src/reliability/config.ts";
import { FrameType } from "../../src/wire/frame.ts";
import { type End, Pair, sessionInputs, text } from "./pair.ts";

/** Establishes both epochs and an RTT sample of `rttMs` (time moves by hand). */
function warmUp(p: Pair, rttMs = 10): void {
  p.a.session.send(p.now, text("hello"));
  const out = p.drain(p.a);
  p.now += rttMs / 2;
  p.deliver(p.b, out);
  p.now = Math.max(p.now, p.b.session.pollTimeout() ?? p.now); // the receiver's ack delay
  const back = p.drain(p.b);
  p.now += rttMs / 2;
  p.deliver(p.a, back);
  p.settle();
}

const delivered = (end: End) => end.ofType("delivered").length;

describe("acknowledgement ranges", () => {
  test("an ACK describes every frame held above two holes, far beyond the 32-bit bitmap", () => {
    const p = new Pair({ initialWindowFrames: 256 });
    warmUp(p);
    for (let i = 0; i < 200; i++) p.a.session.send(p.now, new Uint8Array(1300).fill(i));
    const frames = p.drain(p.a);
    expect(frames.length).toBe(200);
    const first = frames[0]!.seq;
    // Lost: the 2nd and the 100th frame.
    p.deliver(
      p.b,
      frames.filter((_, i) => i !== 1 && i !== 99),
    );
    const acks = p.drain(p.b).filter((f) => f.type === FrameType.Ack);
    const last = acks.at(-1)!;
    expect(last.ack).toBe(first);
    const [, ack] = sessionInputs(last);
    // From ack + 1: 1 missing, 97 held, 1 missing, 100 held.
    expect(ack!.ranges).toEqual([1, 97, 1, 100]);
    // The sender learns exactly what is missing: only those two are re-sent, at once.
    for (const f of acks) p.deliver(p.a, [f]);
    const resent = p.drain(p.a).filter((f) => f.type === FrameType.Data);
    expect(resent.map((f) => f.seq)).toEqual([frames[1]!.seq, frames[99]!.seq]);
    p.deliver(p.b, resent);
    expect(delivered(p.b)).toBe(201);
    p.settle();
    expect(p.a.session.stats.retransmissions).toBe(2);
    expect(p.a.session.stats.timeouts).toBe(0);
    expect(p.a.session.idle).toBe(true);
  });

  test("a burst lost at once is repaired after one timeout, not one frame per timeout", () => {
    const p = new Pair({ initialWindowFrames: 512 });
    warmUp(p);
    const frames = [];
    for (let i = 0; i < 300; i++) {
      p.a.session.send(p.now, new Uint8Array(8).fill(i & 0xff));
      frames.push(...p.drain(p.a));
    }
    // All one-message frames: the window counts datagrams, so 300 frames need a 300-frame window.
    expect(frames.length).toBe(300);
    p.deliver(p.b, frames.slice(0, 50)); // the receiver's socket buffer overflowed: the rest never arrive
    p.settle();
    expect(delivered(p.b)).toBe(301);
    // The timer's probe, once acknowledged, shows everything sent before it missing (RFC 8985 §6.2).
    expect(p.a.session.stats.timeouts + p.a.session.stats.probes).toBeLessThanOrEqual(3);
    expect(p.a.session.stats.retransmissions).toBeLessThan(300);
  });
});

describe("flow control", () => {
  test("a receiver whose application takes nothing holds its sender to the credit; taking messages lets more through", () => {
    const p = new Pair({ receiveCreditMessages: 10 });
    warmUp(p);
    // The owner holds every delivered message (as the peer does until its application polls).
    const hold = () => {
      for (let e = p.b.session.pollEvent(); e !== undefined; e = p.b.session.pollEvent()) {
        if (e.type === "delivered") {
          held++;
          p.b.session.holdMessage();
        }
      }
    };
    let held = 0;
    hold(); // the warm-up message
    for (let i = 0; i < 100; i++) p.a.session.send(p.now, new Uint8Array(40).fill(i));
    let refused = 0;
    let refusedMessages = 0;
    for (let round = 0; round < 40; round++) {
      const out = p.drain(p.a);
      const refusals = p.deliver(p.b, out);
      out.forEach((f, i) => {
        if (refusals[i] !== "beyond-credit") return;
        refused++;
        if (f.type === FrameType.Data) refusedMessages += f.payload.messages.length;
      });
      hold();
      const back = p.drain(p.b);
      p.deliver(p.a, back);
      const next = [p.a.session.pollTimeout(), p.b.session.pollTimeout()].filter((t) => t !== undefined);
      if (out.length + back.length > 0) continue;
      if (next.length === 0) break;
      p.now = Math.max(p.now, Math.min(...next));
      p.a.session.handleTimeout(p.now);
      p.b.session.handleTimeout(p.now);
    }
    // The warm-up's ack stated a credit of 1 + 10 (its message was not held yet); stated credit is never taken back.
    expect(held).toBe(11);
    expect(p.a.session.stats.creditBlocked).toBeGreaterThan(0);
    // The sender waited for credit: what the receiver refused were its persist probes (one message
    // each, one per retransmission timer, backing off), not a flood.
    expect(refused).toBeGreaterThan(0);
    expect(refusedMessages).toBe(refused);
    expect(refused).toBeLessThanOrEqual(p.a.session.stats.timeouts + p.a.session.stats.probes + 1);
    expect(p.a.session.currentRtoMs).toBe(DEFAULT_SESSION_CONFIG.rtoMsMax);
    // The application takes everything: credit grows, an ACK says so, the rest flows.
    for (let i = 0; i < held; i++) p.b.session.releaseMessage();
    held = 0;
    for (let step = 0; step < 200 && !p.a.session.idle; step++) {
      const out = p.drain(p.a);
      p.deliver(p.b, out);
      for (let e = p.b.session.pollEvent(); e !== undefined; e = p.b.session.pollEvent())
        if (e.type === "delivered") held++; // taken at once
      const back = p.drain(p.b);
      p.deliver(p.a, back);
      if (out.length + back.length > 0) continue;
      const next = [p.a.session.pollTimeout(), p.b.session.pollTimeout()].filter((t) => t !== undefined);
      if (next.length === 0) break;
      p.now = Math.max(p.now, Math.min(...next));
      p.a.session.handleTimeout(p.now);
      p.b.session.handleTimeout(p.now);
    }
    expect(held).toBe(100 - 10);
    expect(p.a.session.idle).toBe(true);
  });
});

describe("the send queue, bounded in time", () => {
  test("a sender outrunning a slow path is refused once the queue holds sendQueueDelayMsMax of sending, not 16,384 messages", () => {
    const p = new Pair({ sendQueueDelayMsMax: 20 });
    warmUp(p, 10);
    let refusedAt: number | undefined;
    let writable = 0;
    // A path that delivers 10 frames per 10 ms round trip: the application offers 1300-byte messages far faster.
    for (let t = 0; t < 400 && refusedAt === undefined; t++) {
      for (let i = 0; i < 20; i++) {
        if (!p.a.session.send(p.now, new Uint8Array(1300)).ok) {
          refusedAt = p.a.session.queuedMessages;
          break;
        }
      }
      const out = p.drain(p.a).slice(0, 10);
      p.now += 5;
      p.deliver(p.b, out);
      for (let e = p.b.session.pollEvent(); e !== undefined; e = p.b.session.pollEvent()) {}
      const back = p.drain(p.b);
      p.now += 5;
      p.deliver(p.a, back);
      p.a.session.handleTimeout(p.now);
    }
    expect(refusedAt).toBeDefined();
    expect(p.a.session.stats.queueFullByTime).toBe(1);
    // 20 ms at about 1 frame per ms is a few dozen messages of 1300 bytes beyond the 64 KiB never timed.
    expect(refusedAt!).toBeLessThan(200);
    for (let step = 0; step < 400 && writable === 0; step++) {
      p.deliver(p.b, p.drain(p.a).slice(0, 10));
      for (let e = p.b.session.pollEvent(); e !== undefined; e = p.b.session.pollEvent()) {}
      p.now += 10;
      p.deliver(p.a, p.drain(p.b));
      p.a.session.handleTimeout(p.now);
      writable += p.a.ofType("writable").length;
    }
    expect(writable).toBeGreaterThan(0);
  });

  test("a message alone in the queue is taken whatever its size: above 64 KiB on a slow path it is not refused for time", () => {
    const p = new Pair({ sendQueueDelayMsMax: 5 });
    warmUp(p, 10);
    // The same slow path: let it measure its rate with a backlog, then drain it.
    for (let i = 0; i < 200; i++) p.a.session.send(p.now, new Uint8Array(1300));
    for (let step = 0; step < 400 && p.a.session.queuedMessages > 0; step++) {
      p.deliver(p.b, p.drain(p.a).slice(0, 10));
      for (let e = p.b.session.pollEvent(); e !== undefined; e = p.b.session.pollEvent()) {}
      p.now += 10;
      p.deliver(p.a, p.drain(p.b));
      p.a.session.handleTimeout(p.now);
    }
    expect(p.a.session.queuedMessages).toBe(0);
    // 256 KiB is far more than 5 ms of this path; refused with nothing queued, nothing would ever bring writable.
    expect(p.a.session.send(p.now, new Uint8Array(256 * 1024))).toEqual({ ok: true });
    // Behind it, the bound applies again.
    expect(p.a.session.send(p.now, new Uint8Array(256 * 1024))).toEqual({ ok: false, reason: "queue-full" });
  });
});
