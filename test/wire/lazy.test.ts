/**
 * Start-up cost: protobuf-es (and the generated schemas, whose descriptor
 * boot costs a peer ~20 ms of CPU) is not loaded by a bootstrap, messages and
 * failure detection among rollcall peers; the hand-written codecs of
 * src/wire/messages.ts carry all of it; nor is key mode's code (node:crypto)
 * without a key. Checked in a fresh process, since
 * this one has loaded protobuf-es for other tests.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT, runCommand } from "../process/group.ts";

test("a 3-peer group bootstraps, exchanges messages and probes for 5 s without loading protobuf-es", async () => {
  const script = `
    import { TestCluster } from ${JSON.stringify(join(ROOT, "test/support/cluster.ts"))};
    const net = new TestCluster(3);
    net.run(1000);
    for (let i = 0; i < 50; i++) net.loops[1].send(2, new Uint8Array([i]));
    net.run(5000);
    // Nor key mode's code, which loads node:crypto (~6 ms), in a group without a key.
    const loaded = Object.keys(require.cache).filter(
      (k) => k.includes("rollcall_pb") || k.includes("@bufbuild") || k.includes("security/keyring"),
    );
    const probes = net.peer(1).membershipStats.probesSent;
    console.log(JSON.stringify({ ready: [1, 2, 3].every((i) => net.peer(i).ready), messages: net.messages(2).length, probes, loaded }));
  `;
  const r = await runCommand([process.execPath, "-e", script], { timeoutMs: 30_000 });
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
    ready: boolean;
    messages: number;
    probes: number;
    loaded: string[];
  };
  expect(result.ready).toBe(true);
  expect(result.messages).toBe(50);
  expect(result.probes).toBeGreaterThan(10);
  expect(result.loaded).toEqual([]);
});
