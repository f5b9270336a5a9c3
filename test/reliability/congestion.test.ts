/** The congestion controller on its own (src/reliability/congestion.ts): time and RTTs are inputs. */
import { describe, expect, test } from "bun:test";
import { CongestionController } from "../../src/reliability/congestion.ts";

const MTU = 1400;
const controller = () =>
  new CongestionController({
    datagramBytesMax: MTU,
    initialWindowDatagrams: 10,
    minimumWindowDatagrams: 2,
    windowBytesMax: 1024 * MTU,
    queueDelayMsMin: 1,
  });

/** Sends `n` datagrams and acknowledges them all at `now`, as if the window limited the sender. */
function round(cc: CongestionController, n: number, sentMs: number): void {
  for (let i = 0; i < n; i++) cc.onSent(MTU);
  for (let i = 0; i < n; i++) cc.onAcked(MTU, sentMs, true);
}

describe("NewReno (RFC 9002 §7)", () => {
  test("slow start doubles the window per round trip; an application-limited sender does not grow it", () => {
    const cc = controller();
    expect(cc.cwndBytes).toBe(10 * MTU);
    round(cc, 10, 0);
    expect(cc.cwndBytes).toBe(20 * MTU);
    cc.onSent(MTU);
    cc.onAcked(MTU, 1, false);
    expect(cc.cwndBytes).toBe(20 * MTU);
    expect(cc.bytesInFlight).toBe(0);
  });

  test("a loss with a queue in the RTT halves the window once per recovery period, then it grows by a datagram per window", () => {
    const cc = controller();
    round(cc, 10, 0);
    cc.onRttSample(10);
    // SRTT 20 ms over a 10 ms minimum: a queue.
    cc.onLost(100, 90, 20);
    expect(cc.cwndBytes).toBe(10 * MTU);
    expect(cc.stats.congestionEvents).toBe(1);
    // Another loss of a datagram sent before the recovery began: no second cut.
    cc.onLost(101, 95, 20);
    expect(cc.cwndBytes).toBe(10 * MTU);
    // Congestion avoidance: a window's worth of acks adds one datagram.
    round(cc, 10, 150);
    expect(cc.cwndBytes).toBeGreaterThan(10.9 * MTU);
    expect(cc.cwndBytes).toBeLessThanOrEqual(11 * MTU);
    // A loss sent after the recovery began cuts again.
    cc.onLost(300, 200, 20);
    expect(cc.stats.congestionEvents).toBe(2);
    expect(cc.cwndBytes).toBeLessThan(6 * MTU);
  });

  test("a loss without a queue in the RTT is taken as random: the window is kept", () => {
    const cc = controller();
    round(cc, 10, 0);
    cc.onRttSample(10);
    cc.onLost(100, 90, 10.5); // SRTT within max(1 ms, minRtt/4) of the minimum
    expect(cc.cwndBytes).toBe(20 * MTU);
    expect(cc.stats.randomLosses).toBe(1);
    expect(cc.stats.congestionEvents).toBe(0);
    // Without any RTT yet, a loss counts as congestion (nothing says otherwise).
    const fresh = controller();
    fresh.onLost(5, 1, undefined);
    expect(fresh.stats.congestionEvents).toBe(1);
  });

  test("persistent congestion drops the window to its minimum and forgets the minimum RTT", () => {
    const cc = controller();
    round(cc, 10, 0);
    cc.onRttSample(3);
    cc.onPersistentCongestion(50);
    expect(cc.cwndBytes).toBe(2 * MTU);
    expect(cc.minRttMs).toBeUndefined();
  });
});

describe("pacing (RFC 9002 §7.7)", () => {
  test("on a 50 ms path a window is spread over the round trip; a burst of 10 datagrams may leave at once", () => {
    const cc = controller();
    round(cc, 10, 0);
    round(cc, 20, 0);
    round(cc, 40, 0);
    expect(cc.cwndBytes).toBe(80 * MTU);
    const srtt = 50;
    let now = 1000;
    let sentAtOnce = 0;
    while (cc.pacedAt(now, MTU, srtt) <= now) {
      cc.onPaced(now, MTU, srtt);
      sentAtOnce++;
    }
    expect(sentAtOnce).toBeGreaterThanOrEqual(10);
    expect(sentAtOnce).toBeLessThan(20);
    // Then about 1.25 × 80 datagrams per 50 ms: one every 0.5 ms.
    const next = cc.pacedAt(now, MTU, srtt);
    expect(next - now).toBeGreaterThan(0.2);
    expect(next - now).toBeLessThan(1);
    let sent = 0;
    for (; now < 1050; now += 0.1) {
      if (cc.pacedAt(now, MTU, srtt) <= now) {
        cc.onPaced(now, MTU, srtt);
        sent++;
      }
    }
    expect(sent).toBeGreaterThan(80);
    expect(sent).toBeLessThan(120);
  });

  test("without an RTT estimate nothing is paced", () => {
    const cc = controller();
    for (let i = 0; i < 100; i++) {
      expect(cc.pacedAt(0, MTU, undefined)).toBe(0);
      cc.onPaced(0, MTU, undefined);
    }
  });
});

test("a run of consecutive losses (a full buffer) halves the window even without a queue in the RTT", () => {
  const cc = controller();
  round(cc, 10, 0);
  cc.onRttSample(10);
  cc.onLost(100, 90, 10, true);
  expect(cc.stats.congestionEvents).toBe(1);
  expect(cc.cwndBytes).toBe(10 * MTU);
});
