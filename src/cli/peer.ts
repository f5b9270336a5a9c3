/**
 * `bun run peer -h HOSTS [options]`: run one rollcall peer.
 *
 * Exit codes: 0 after SIGINT/SIGTERM (goodbyes sent), 1 on a runtime failure
 * (e.g. the port cannot be bound), 2 on bad input (flags, hosts file),
 * 3 when `--ready-timeout` passes before READY.
 */
import { hostname } from "node:os";
import { InputError } from "../errors.ts";
import type { Group } from "../group/group.ts";
import { type MulticastOptions, OrderedGroup } from "../group/ordered.ts";
import { DEFAULT_PORT, findSelf, loadHosts } from "../hosts/hosts.ts";
import { checkMembershipConfig, DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from "../membership/config.ts";
import { faultsActive, parseChaos } from "../runtime/faults.ts";
import { AGENT, keyringModule, type RollcallPeer, startPeer } from "../runtime/rollcall-peer.ts";
import { parseFlags } from "./args.ts";
import { LOG_LEVELS, type LogFormat, Logger, type LogLevel } from "./log.ts";
import { groupEventLogger, logEvent, logTrace, statsFields } from "./log-events.ts";

export const USAGE = `usage: bun run peer -h HOSTS_FILE [options]

Bootstraps a group over UDP: announces itself to every peer in HOSTS_FILE,
re-sends until acknowledged, prints READY on stderr once it has heard from all
of them, and keeps running until SIGINT or SIGTERM. Logs go to stdout.

options:
  -h, --hosts FILE         hosts file: one peer per line (name, name:port, ip, ip:port, [ipv6]:port);
                           default: $ROLLCALL_HOSTS
      --name NAME          which entry is me (default: this machine's hostname, case-insensitive)
      --port N             port for entries without one (default ${DEFAULT_PORT}; same on every peer)
      --bind ADDRESS       address to bind (default: my entry's IP, or 0.0.0.0 for a name)
      --log-level LEVEL    debug (every datagram) | info | warn | error | off (default debug)
      --log-format FORMAT  json (JSON Lines, default) | pretty
      --ready-timeout SEC  exit with code 3 if not READY within SEC seconds (default: wait forever)
      --chaos SPEC         inject faults on sent datagrams, e.g. loss=0.3,dup=0.05,corrupt=0.01,delay=20,jitter=10
      --group              run the group layer (docs/groups.md): agreed views, logged as {"event":"view",...},
                           and every delivered multicast as {"event":"deliver","from","viewId","index","body"}
      --multicast-stdin    with --group: multicast each line read on stdin (without its newline; lines over
                           64 KiB are skipped with a warning); the peer stays up after stdin ends
      --order ORDER        fifo (default: per sender) | causal (after what the sender had delivered) |
                           total (one order at every member, across senders)
      --total-algorithm A  with --order total: sequencer (default: the view's lowest-id member orders) |
                           isis (every member proposes a priority; the largest is agreed)
      --safe               deliver a line only once every member of the view holds it (uniform delivery)

security (docs/security.md):
      --key-file FILE      authenticate and encrypt every frame with the keys in FILE (one base64 key of
                           32 bytes per line, the first one seals; chmod 600); default: $ROLLCALL_KEY_FILE
      --allow-nat          without a key: accept a peer from an address other than its hosts-file entry
                           once it answers a challenge sent there (weaker: see docs/security.md)

failure detection (docs/membership.md):
      --protocol-period-ms N  probe one member every N ms (default 200)
      --probe-timeout-ms N    wait N ms for a direct answer before asking others (default 100; below the period)
      --indirect-probes N     members asked to probe one that did not answer (default 3; 0..16)
      --suspicion-mult N      a suspect is failed after N x log10(group size) periods unless it refutes (default 4)

      --version            print the version
      --help               print this help

exit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime failure, 2 bad input, 3 ready timeout`;

export interface PeerArgs {
  hosts: string;
  name: string;
  port: number;
  bind: string | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  readyTimeoutMs: number | undefined;
  chaos: string | undefined;
  /** Key file for key mode, from --key-file or ROLLCALL_KEY_FILE. */
  keyFile: string | undefined;
  allowNat: boolean;
  /** Run the group layer (--group). */
  group: boolean;
  /** Multicast each stdin line to the group (--multicast-stdin; needs --group). */
  multicastStdin: boolean;
  /** How --multicast-stdin's multicasts are delivered (--order, --total-algorithm, --safe). */
  order: MulticastOptions;
  /** Failure detector settings given on the command line; the rest keep their defaults. */
  membership: Partial<MembershipConfig>;
}

/** Failure detector flags and the settings they set. */
const MEMBERSHIP_FLAGS = {
  "protocol-period-ms": "protocolPeriodMs",
  "probe-timeout-ms": "probeTimeoutMs",
  "indirect-probes": "indirectProbes",
  "suspicion-mult": "suspicionMult",
} as const satisfies Record<string, keyof MembershipConfig>;

function parseMembershipFlags(values: Record<string, string | boolean | undefined>): Partial<MembershipConfig> {
  const given: Partial<MembershipConfig> = {};
  for (const [flag, key] of Object.entries(MEMBERSHIP_FLAGS)) {
    const text = values[flag];
    if (typeof text !== "string") continue;
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v)) throw new InputError(`--${flag} must be a number, got "${text}"`);
    given[key] = v;
  }
  try {
    checkMembershipConfig({ ...DEFAULT_MEMBERSHIP_CONFIG, ...given });
  } catch (error) {
    // Name the flags, not the API's setting names.
    let message = (error as Error).message;
    for (const [flag, key] of Object.entries(MEMBERSHIP_FLAGS)) message = message.replaceAll(key, `--${flag}`);
    throw new InputError(message);
  }
  return given;
}

/** Parses the command line; throws InputError with a message fit for the user. */
export function parsePeerArgs(argv: string[]): PeerArgs | "help" | "version" {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseFlags(argv, {
      hosts: { type: "string", short: "h" },
      name: { type: "string" },
      port: { type: "string" },
      bind: { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      "ready-timeout": { type: "string" },
      chaos: { type: "string" },
      "key-file": { type: "string" },
      "allow-nat": { type: "boolean" },
      group: { type: "boolean" },
      "multicast-stdin": { type: "boolean" },
      order: { type: "string" },
      "total-algorithm": { type: "string" },
      safe: { type: "boolean" },
      "protocol-period-ms": { type: "string" },
      "probe-timeout-ms": { type: "string" },
      "indirect-probes": { type: "string" },
      "suspicion-mult": { type: "string" },
      version: { type: "boolean" },
      help: { type: "boolean" },
    });
  } catch (error) {
    throw new InputError(`${(error as Error).message} (--help lists the options)`);
  }
  if (values.help) return "help";
  if (values.version) return "version";
  const hosts = (values.hosts as string | undefined) ?? process.env.ROLLCALL_HOSTS;
  if (hosts === undefined || hosts === "") {
    throw new InputError(
      "missing the hosts file: pass -h FILE (or --hosts FILE, or set ROLLCALL_HOSTS); --help shows all options",
    );
  }
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InputError(`--port must be a number from 1 to 65535, got "${values.port}"`);
  }
  const logLevel = (values["log-level"] ?? "debug") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InputError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${values["log-level"]}"`);
  }
  const logFormat = (values["log-format"] ?? "json") as LogFormat;
  if (logFormat !== "json" && logFormat !== "pretty") {
    throw new InputError(`--log-format must be json or pretty, got "${values["log-format"]}"`);
  }
  let readyTimeoutMs: number | undefined;
  if (values["ready-timeout"] !== undefined) {
    const seconds = Number(values["ready-timeout"]);
    if (!(seconds > 0 && seconds <= 86_400)) {
      throw new InputError(
        `--ready-timeout must be seconds, more than 0 and at most 86400, got "${values["ready-timeout"]}"`,
      );
    }
    readyTimeoutMs = seconds * 1000;
  }
  const name = (values.name as string | undefined) ?? hostname();
  if (name.trim() === "") throw new InputError("--name must not be empty");
  const keyFile = (values["key-file"] as string | undefined) ?? (process.env.ROLLCALL_KEY_FILE || undefined);
  if (keyFile !== undefined && keyFile.trim() === "") throw new InputError("--key-file must not be empty");
  if (values["multicast-stdin"] === true && values.group !== true) {
    throw new InputError("--multicast-stdin multicasts to the group: add --group");
  }
  const order = (values.order as string | undefined) ?? "fifo";
  if (order !== "fifo" && order !== "causal" && order !== "total")
    throw new InputError(`--order must be fifo, causal or total, got "${order}"`);
  const algorithm = (values["total-algorithm"] as string | undefined) ?? "sequencer";
  if (algorithm !== "sequencer" && algorithm !== "isis")
    throw new InputError(`--total-algorithm must be sequencer or isis, got "${algorithm}"`);
  if (values["total-algorithm"] !== undefined && order !== "total")
    throw new InputError("--total-algorithm orders --order total: add --order total");
  if (
    (values.order !== undefined || values["total-algorithm"] !== undefined || values.safe === true) &&
    values["multicast-stdin"] !== true
  )
    throw new InputError("--order, --total-algorithm and --safe apply to --multicast-stdin: add it (and --group)");
  return {
    hosts,
    name,
    port,
    bind: values.bind as string | undefined,
    logLevel,
    logFormat,
    readyTimeoutMs,
    chaos: values.chaos as string | undefined,
    keyFile,
    allowNat: values["allow-nat"] === true,
    group: values.group === true,
    multicastStdin: values["multicast-stdin"] === true,
    order: { order, algorithm, safe: values.safe === true },
    membership: parseMembershipFlags(values),
  };
}

/** Longest stdin line that --multicast-stdin sends; a longer one is skipped with a warning (it is a line, not a file). */
const MULTICAST_LINE_BYTES_MAX = 64 * 1024;
/** While the group refuses a multicast (its queues full), the next try waits for `writable`, or this long at most. */
const MULTICAST_RETRY_MS = 50;

/** Wakes the stdin reader when the group has room again. */
const groupWritable = {
  waiter: undefined as (() => void) | undefined,
  notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  },
  next(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  },
};

/**
 * --multicast-stdin: each line on stdin, without its newline, is one
 * multicast. A refused multicast (the group's bounded queues full) is tried
 * again until it goes: reading waits meanwhile, so a fast writer is slowed
 * by the pipe rather than lines being lost.
 */
async function multicastStdin(
  multicast: (line: Uint8Array) => boolean,
  log: Logger,
  stopping: () => boolean,
): Promise<void> {
  let lines = 0;
  let skipped = 0;
  let lineNumber = 0;
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  let tooLong = false;
  const send = async (line: Uint8Array) => {
    lineNumber++;
    if (tooLong) {
      skipped++;
      log.warn("multicast-line-skipped", { line: lineNumber, bytesMax: MULTICAST_LINE_BYTES_MAX });
      return;
    }
    while (!stopping()) {
      if (multicast(line)) {
        lines++;
        return;
      }
      await groupWritable.next(MULTICAST_RETRY_MS);
    }
  };
  for await (const chunk of Bun.stdin.stream()) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const line = tooLong ? piece : concat([...partial, piece], partialBytes + piece.length);
      tooLong ||= line.length > MULTICAST_LINE_BYTES_MAX;
      await send(line);
      partial = [];
      partialBytes = 0;
      tooLong = false;
      start = nl + 1;
      if (stopping()) return;
    }
    const rest = chunk.subarray(start);
    partialBytes += rest.length;
    // Past the limit the line's bytes are no longer kept: it is skipped when its newline comes.
    if (partialBytes > MULTICAST_LINE_BYTES_MAX) {
      tooLong = true;
      partial = [];
    } else if (rest.length > 0) partial.push(rest.slice());
  }
  if (partialBytes > 0) await send(tooLong ? new Uint8Array(0) : concat(partial, partialBytes));
  log.info("multicast-stdin-end", { lines, skipped });
}

function concat(parts: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function fatal(message: string, code: number): never {
  process.stderr.write(`rollcall: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parsePeerArgs>;
  let log: Logger;
  let peer: RollcallPeer;
  let group: Group | undefined;
  let stopping = false;
  try {
    args = parsePeerArgs(process.argv.slice(2));
    if (args === "help") {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    if (args === "version") {
      process.stdout.write(`${AGENT}\n`);
      return;
    }
    const chaos = args.chaos === undefined ? undefined : parseChaos(args.chaos);
    const hosts = await loadHosts(args.hosts, args.port);
    const self = findSelf(hosts, args.name);
    // Read before anything else starts, so that a bad key file is exit 2 with nothing sent.
    const keyring = args.keyFile === undefined ? undefined : keyringModule().loadKeyFile(args.keyFile);
    const logger = new Logger(args.logLevel, args.logFormat, self.id);
    log = logger;
    try {
      peer = await startPeer({
        hosts,
        name: args.name,
        bind: args.bind,
        chaos,
        keyring,
        allowNat: args.allowNat,
        membership: args.membership,
        trace: logger.enabled("debug") ? (record) => logTrace(logger, record) : undefined,
      });
    } catch (error) {
      if (error instanceof InputError) throw error;
      log.error("fatal", { error: (error as Error).message });
      log.flush();
      fatal((error as Error).message, 1);
    }
    log.info("start", {
      name: self.text,
      id: self.id,
      epoch: peer.epoch,
      bind: peer.localAddress,
      peers: hosts.entries.length,
      hostsFile: hosts.file,
      hostsDigest: Buffer.from(hosts.digest).toString("hex").slice(0, 16),
      chaos: chaos !== undefined && faultsActive(chaos) ? chaos : undefined,
      // Key ids only: a key never appears in a log.
      keyMode: keyring === undefined ? undefined : { keyFile: args.keyFile, keyIds: keyring.keyIds },
      allowNat: args.allowNat || undefined,
      agent: AGENT,
    });
    if (hosts.entries.length === 1) log.info("alone", { note: "the hosts file lists only me: READY at once" });
    if (args.group) {
      const logGroup = groupEventLogger(logger);
      const ordered = new OrderedGroup({}, self.id, (e) => {
        logGroup(e);
        if (e.type === "writable") groupWritable.notify();
      });
      const member = ordered.group;
      member.start(peer.attach(member));
      group = member;
      const how = args.order;
      if (args.multicastStdin)
        void multicastStdin(
          (line) => ordered.multicast(line, how).ok,
          logger,
          () => stopping,
        );
    }
  } catch (error) {
    if (error instanceof InputError) fatal(error.message, 2);
    throw error;
  }

  const stop = async (signal: string) => {
    if (stopping) {
      log.flush();
      process.exit(0); // second signal: leave now
    }
    stopping = true;
    group?.close();
    const clean = await peer.close(signal);
    log.info("stop", { reason: signal, goodbyesDelivered: clean, ...statsFields(peer) });
    log.flush();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  let readyTimer: ReturnType<typeof setTimeout> | undefined;
  const mismatched = new Set<number>();
  if (args.readyTimeoutMs !== undefined) {
    const timeoutMs = args.readyTimeoutMs;
    readyTimer = setTimeout(async () => {
      if (peer.isReady) return;
      const up = new Set(peer.peersUp);
      const others = peer.hosts.entries.filter((e) => e.id !== peer.id && !up.has(e.id));
      const missing = others.filter((e) => !mismatched.has(e.id)).map((e) => e.text);
      const refused = others.filter((e) => mismatched.has(e.id)).map((e) => e.text);
      const list = (names: string[]) =>
        names.slice(0, 10).join(", ") + (names.length > 10 ? `, ... (${names.length} in all)` : "");
      const parts = [];
      if (missing.length > 0) parts.push(`never heard from: ${list(missing)}`);
      if (refused.length > 0) parts.push(`refused for a different hosts file: ${list(refused)}`);
      log.error("ready-timeout", { afterMs: timeoutMs, missing, hostsMismatch: refused });
      await peer.close("ready-timeout", 200);
      log.flush();
      fatal(`not READY after ${timeoutMs / 1000} s; ${parts.join("; ")}`, 3);
    }, timeoutMs);
  }

  for await (const event of peer.events()) {
    logEvent(log, peer, event);
    if (event.type === "hostsMismatch") mismatched.add(event.peer);
    if (event.type === "ready") {
      if (readyTimer !== undefined) clearTimeout(readyTimer);
      log.flush();
      process.stderr.write("READY\n");
    }
  }
}

// Not a top-level await: the bundled peer is built as CommonJS with bytecode (npm run build).
main().catch((error: unknown) => {
  process.stderr.write(`rollcall: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
