/**
 * HashiCorp serf (Debian's `serf`) as the benches start and query it, so that
 * bench/serf.ts, bench/startup.ts and bench/membership.ts run the same agent.
 */

/** `serf agent` arguments for agent `index` on 127.0.0.1, told every other agent's address (retried every 100 ms). */
export function serfAgentArgs(o: {
  index: number;
  gossipPort: number;
  rpcPort: number;
  /** Every agent's gossip port; the agent's own is skipped. */
  gossipPorts: readonly number[];
  /** More flags, e.g. `-profile=local`. */
  flags: readonly string[];
  logLevel: "err" | "info";
}): string[] {
  return [
    "serf",
    "agent",
    `-node=n${o.index}`,
    `-bind=127.0.0.1:${o.gossipPort}`,
    `-rpc-addr=127.0.0.1:${o.rpcPort}`,
    "-retry-interval=100ms",
    `-log-level=${o.logLevel}`,
    ...o.flags,
    ...o.gossipPorts.filter((p) => p !== o.gossipPort).map((p) => `-retry-join=127.0.0.1:${p}`),
  ];
}

/** Members an agent lists as alive (`serf members -status=alive`). */
export async function aliveCount(rpcPort: number): Promise<number> {
  const p = Bun.spawn(["serf", "members", `-rpc-addr=127.0.0.1:${rpcPort}`, "-status=alive"], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const text = await new Response(p.stdout).text();
  await p.exited;
  return text.split("\n").filter((l) => l.trim() !== "").length;
}
