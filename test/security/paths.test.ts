/**
 * Address validation on loopback with real sockets (docs/security.md): a
 * peer whose datagrams leave from an address other than its hosts-file entry
 * is believed once it answers a challenge, and, without a key, only when the
 * challenge sent to its hosts-file address reaches it, unless `allowNat`.
 */
import { afterEach, expect, test } from "bun:test";
import { type RollcallEvent, type RollcallPeer, startPeer } from "../../src/runtime/rollcall-peer.ts";
import { Keyring } from "../../src/security/keyring.ts";
import { portBlock } from "../process/group.ts";

let peers: RollcallPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.map((p) => p.close("test", 200)));
  peers = [];
});

async function start(
  hosts: string[],
  name: string,
  options: { bind?: string; allowNat?: boolean; keyring?: Keyring } = {},
): Promise<{ peer: RollcallPeer; events: RollcallEvent[] }> {
  const events: RollcallEvent[] = [];
  const peer = await startPeer({ hosts, name, ...options, onEvent: (e) => void events.push(e) });
  peers.push(peer);
  return { peer, events };
}

test("a multi-homed peer (replies leave from another address) is validated through its hosts-file address", async () => {
  const base = portBlock(2);
  // Peer 2 is listed at 127.0.0.2 and bound to every address; what it sends to 127.0.0.1 leaves from 127.0.0.1.
  const hosts = [`127.0.0.1:${base}`, `127.0.0.2:${base + 1}`];
  const a = await start(hosts, hosts[0]!);
  const b = await start(hosts, hosts[1]!, { bind: "0.0.0.0" });
  await Promise.all([a.peer.ready, b.peer.ready]);
  expect(a.peer.stats().drops["unvalidated-address"]).toBeGreaterThan(0);
  expect(a.peer.stats().pathValidations).toBeGreaterThan(0);
  const moved = a.events.find((e) => e.type === "peerAddress");
  expect(moved).toMatchObject({ peer: 2, address: `127.0.0.1:${base + 1}`, source: "validated" });
});

for (const mode of ["plain", "key"] as const) {
  const outcome =
    mode === "plain"
      ? "refused without allowNat, accepted with it"
      : "accepted: only a key holder can answer the challenge";
  test(`a peer behind "NAT" (unreachable at its hosts-file address), ${mode} mode: ${outcome}`, async () => {
    const base = portBlock(2);
    // Peer 2 is listed at 127.0.0.1 but bound to 127.0.0.3: nothing sent to its listed address reaches it.
    const hosts = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
    const keyring = mode === "key" ? new Keyring([new Uint8Array(32).fill(3)]) : undefined;
    const a = await start(hosts, hosts[0]!, { keyring });
    const b = await start(hosts, hosts[1]!, { bind: "127.0.0.3", keyring });
    if (mode === "plain") {
      await Bun.sleep(800);
      expect(a.peer.isReady).toBe(false);
      expect(a.peer.stats().drops["unvalidated-address"]).toBeGreaterThan(0);
      expect(a.peer.stats().pathValidations).toBe(0);
      await a.peer.close("test", 100);
      peers = peers.filter((p) => p !== a.peer);
      const nat = await start(hosts, hosts[0]!, { allowNat: true });
      await Promise.all([nat.peer.ready, b.peer.ready]);
      expect(nat.events.find((e) => e.type === "peerAddress")).toMatchObject({
        peer: 2,
        address: `127.0.0.3:${base + 1}`,
        source: "validated",
      });
    } else {
      // Key mode challenges the address the frame came from: only a key holder can answer.
      await Promise.all([a.peer.ready, b.peer.ready]);
      expect(a.events.find((e) => e.type === "peerAddress")).toMatchObject({
        peer: 2,
        address: `127.0.0.3:${base + 1}`,
      });
    }
  });
}
