/**
 * Ping/pong with round-trip percentiles: two peers in one process on
 * loopback; peer 1 sends numbered pings, peer 2 echoes each one, peer 1
 * measures the round trips.
 *
 *   bun examples/ping-pong.ts [--count 1000] [--port 7301] [--loss 0.1]
 */
import { parseArgs } from "node:util";
import { startPeer } from "rollcall";

const { values } = parseArgs({
  options: { count: { type: "string" }, port: { type: "string" }, loss: { type: "string" } },
});
const count = Number(values.count ?? 1000);
const port = Number(values.port ?? 7301);
const loss = Number(values.loss ?? 0);
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
  console.error(`ping-pong: --count must be an integer from 1 to 1000000, got "${values.count}"`);
  process.exit(2);
}
if (!Number.isInteger(port) || port < 1024 || port > 65534) {
  console.error(`ping-pong: --port must leave room for two ports from 1024 to 65535, got "${values.port}"`);
  process.exit(2);
}
if (!(loss >= 0 && loss < 1)) {
  console.error(`ping-pong: --loss must be from 0 to 1 (exclusive), got "${values.loss}"`);
  process.exit(2);
}

const hosts = [`127.0.0.1:${port}`, `127.0.0.1:${port + 1}`];
const chaos = loss > 0 ? `loss=${loss}` : undefined;
const [pinger, ponger] = await Promise.all([
  startPeer({ hosts, name: hosts[0]!, chaos }),
  startPeer({ hosts, name: hosts[1]!, chaos }),
]);
await Promise.all([pinger.ready, ponger.ready]);

// The ponger echoes every message back, as it is.
const echo = (async () => {
  for await (const event of ponger.events()) if (event.type === "message") await ponger.sendAsync(1, event.body);
})();

const sentAt: number[] = [];
const rttsMs: number[] = [];
let next = 0;
const pings = pinger.events();
// One ping in flight at a time: each round trip is measured alone.
while (next < count) {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setUint32(0, next);
  sentAt[next] = performance.now();
  await pinger.sendAsync(2, body);
  for (;;) {
    const { value: event, done } = await pings.next();
    if (done) throw new Error("pinger closed");
    if (event.type !== "message") continue;
    const seq = new DataView(event.body.buffer, event.body.byteOffset).getUint32(0);
    if (seq !== next) throw new Error(`pong ${seq} arrived while waiting for ${next}`);
    rttsMs.push(performance.now() - sentAt[seq]!);
    break;
  }
  next++;
}

const sorted = [...rttsMs].sort((a, b) => a - b);
const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(3);
console.log(`ping-pong: ${rttsMs.length} round trips${loss > 0 ? ` at ${loss * 100}% loss` : ""}`);
console.log(`rtt ms: p50 ${at(0.5)}  p90 ${at(0.9)}  p99 ${at(0.99)}  max ${sorted.at(-1)!.toFixed(3)}`);
await Promise.all([pinger.close(), ponger.close()]);
await echo;
