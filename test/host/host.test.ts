/**
 * The host interface (src/host/host.ts) over the real drive loop: a module's
 * messages travel on its channel in the peers' reliable streams, arrive in
 * order with the process they came from, never reach the application's
 * events, and a peer that serves no module on a channel drops them as
 * `unknown-channel`. Peer events and the module's timer reach the module.
 */
import { expect, test } from "bun:test";
import type { Host, HostPeerEvent, Module } from "../../src/host/host.ts";
import { TestCluster } from "../support/cluster.ts";

class Recorder implements Module {
  readonly channel = 7;
  readonly received: { from: number; fromEpoch: number; text: string }[] = [];
  readonly events: HostPeerEvent[] = [];
  timeouts = 0;
  host!: Host;
  handleMessage(from: number, fromEpoch: number, body: Uint8Array): void {
    this.received.push({ from, fromEpoch, text: new TextDecoder().decode(body) });
  }
  handlePeerEvent(event: HostPeerEvent): void {
    this.events.push(event);
  }
  handleTimeout(): void {
    this.timeouts++;
    this.host.send(2, new TextEncoder().encode("from the timer"));
  }
}

test("a module's messages travel on its channel, in order, and only to the module; an unserved channel is dropped", () => {
  const cluster = new TestCluster(3);
  const modules = [1, 2].map((id) => {
    const m = new Recorder();
    m.host = cluster.loops[id]!.attach(m);
    return m;
  });
  cluster.run(2000);
  const [one, two] = modules as [Recorder, Recorder];
  expect(one.events.some((e) => e.type === "ready")).toBe(true);
  expect(one.events.filter((e) => e.type === "peerUp").map((e) => (e as { peer: number }).peer)).toEqual([2, 3]);
  // Lossy stream: the session repairs, the module sees each message once and in order.
  let n = 0;
  cluster.drop = () => ++n % 3 === 0;
  for (let i = 0; i < 50; i++) expect(one.host.send(2, new TextEncoder().encode(`m${i}`)).ok).toBe(true);
  one.host.send(3, new TextEncoder().encode("to a peer without the module"));
  one.host.setTimer(cluster.now() + 100);
  cluster.run(5000);
  expect(two.received.map((r) => r.text)).toEqual([...Array.from({ length: 50 }, (_, i) => `m${i}`), "from the timer"]);
  expect(new Set(two.received.map((r) => `${r.from}/${r.fromEpoch}`))).toEqual(new Set([`1/${cluster.peer(1).epoch}`]));
  expect(one.timeouts).toBe(1);
  expect(cluster.peer(3).stats.drops["unknown-channel"]).toBe(1);
  // The application never sees module traffic.
  for (const id of [1, 2, 3]) expect(cluster.types(id)).not.toContain("module");
  expect(() => cluster.loops[1]!.attach(new Recorder())).toThrow(/already has a module/);
});
