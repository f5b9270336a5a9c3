/**
 * Group chat: every line typed on stdin is broadcast to every other peer;
 * every message received is printed as `<sender>: <line>`, in each
 * sender's order. One process per member, all with the same hosts file.
 *
 *   bun examples/chat.ts -h hosts.txt --name 127.0.0.1:7201
 *
 * With `--exit-after N` the process leaves once stdin has ended, everything
 * it sent was delivered, and it has received N lines (for scripts and tests).
 */
import { parseArgs } from "node:util";
import { InputError, startPeer } from "rollcall";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", short: "h" },
    name: { type: "string" },
    "exit-after": { type: "string" },
  },
});
if (values.hosts === undefined || values.name === undefined) {
  console.error("usage: bun examples/chat.ts -h HOSTS_FILE --name MY_ENTRY [--exit-after N]");
  process.exit(2);
}
const exitAfter = values["exit-after"] === undefined ? undefined : Number(values["exit-after"]);

let peer: Awaited<ReturnType<typeof startPeer>>;
try {
  peer = await startPeer({ hostsFile: values.hosts, name: values.name });
} catch (error) {
  console.error(`chat: ${(error as Error).message}`);
  process.exit(error instanceof InputError ? 2 : 1);
}
const names = peer.hosts.entries.map((e) => e.text);
process.on("SIGINT", () => void peer.close("SIGINT").then(() => process.exit(0)));
process.on("SIGTERM", () => void peer.close("SIGTERM").then(() => process.exit(0)));

let received = 0;
let stdinDone = false;
const maybeExit = async () => {
  if (exitAfter === undefined || !stdinDone || received < exitAfter) return;
  while (!peer.isIdle) await Bun.sleep(10);
  await peer.close("done");
  process.exit(0);
};

const printer = (async () => {
  const decoder = new TextDecoder();
  for await (const event of peer.events()) {
    if (event.type === "message") {
      console.log(`${names[event.from - 1]}: ${decoder.decode(event.body)}`);
      received++;
      await maybeExit();
    } else if (event.type === "peerLeft") {
      console.log(`* ${names[event.peer - 1]} left`);
    }
  }
})();

// Lines typed before everyone is up wait in the send queues and go out in order.
const encoder = new TextEncoder();
for await (const line of console) {
  if (line === "") continue; // nothing to say (and stdin's final newline yields one)
  for (let to = 1; to <= peer.peerCount; to++) if (to !== peer.id) await peer.sendAsync(to, encoder.encode(line));
}
stdinDone = true;
await maybeExit();
await printer;
