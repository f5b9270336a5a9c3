/**
 * `bun run peer -h HOSTS [options]`: run one rollcall peer.
 *
 * Exit codes: 0 after SIGINT/SIGTERM (goodbyes sent), 1 on a runtime failure
 * (e.g. the port cannot be bound), 2 on bad input (flags, hosts file),
 * 3 when `--ready-timeout` passes before READY.
 */
import { hostname } from "node:os";
import { InputError } from "../errors.ts";
import { Group } from "../group/group.ts";
import { DEFAULT_PORT, findSelf, loadHosts } from "../hosts/hosts.ts";
import { checkMembershipConfig, DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from "../membership/config.ts";
import { faultsActive, parseChaos } from "../runtime/faults.ts";
import { AGENT, keyringModule, type RollcallPeer, startPeer } from "../runtime/rollcall-peer.ts";
import { parseFlags } from "./args.ts";
import { LOG_LEVELS, type LogFormat, Logger, type LogLevel } from "./log.ts";
import { logEvent, logGroupEvent, logTrace, statsFields } from "./log-events.ts";

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
      --group              run the group layer (docs/groups.md): agreed views, logged as {"event":"view",...}

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
    membership: parseMembershipFlags(values),
  };
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
      const member = new Group({ onEvent: (e) => logGroupEvent(logger, e) });
      member.start(peer.attach(member));
      group = member;
    }
  } catch (error) {
    if (error instanceof InputError) fatal(error.message, 2);
    throw error;
  }

  let stopping = false;
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
