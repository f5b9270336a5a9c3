/**
 * The hosts file: one peer per line, the same file on every peer. A peer's id
 * is its 1-based position among the entries (blank lines and comments do not
 * count). Accepted forms:
 *
 *   name          name:port          192.0.2.7        192.0.2.7:7700
 *   [2001:db8::1]:7700               2001:db8::1 (bare IPv6, default port)
 *
 * `#` starts a comment anywhere on a line. Every problem is reported with the
 * file, the line and what to do about it.
 */

import { InputError } from "../errors.ts";
import { PEERS_MAX } from "../limits.ts";
import { isIPv4, isIPv6 } from "./ip.ts";

/** Port used by entries that do not name one, unless `--port` says otherwise. */
export const DEFAULT_PORT = 7700;

export interface HostEntry {
  /** 1-based id: position among the entries. */
  id: number;
  /** Line number in the file, for messages. */
  line: number;
  /** The entry as written (comment and spaces removed). */
  text: string;
  /** Host name or IP address, lowercase, IPv6 without brackets. */
  host: string;
  port: number;
  kind: "ipv4" | "ipv6" | "name";
}

export interface HostsList {
  file: string;
  entries: HostEntry[];
  /** SHA-256 of the canonical list; peers compare it to be sure they read the same file. */
  digest: Uint8Array;
}

/** RFC 1123 host names: letters, digits, hyphens and dots, labels up to 63 characters. */
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** Parses hosts-file text. `defaultPort` applies to entries without a port. */
export function parseHosts(file: string, text: string, defaultPort = DEFAULT_PORT): HostsList {
  const entries: HostEntry[] = [];
  const seen = new Map<string, HostEntry>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNumber = i + 1;
    const where = `${file}:${lineNumber}`;
    const raw = lines[i]!;
    const hash = raw.indexOf("#");
    const content = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (content === "") continue;
    if (/\s/.test(content)) {
      throw new InputError(
        `${where}: "${content}" has spaces inside; write one peer per line (name, name:port, ip:port or [ipv6]:port)`,
      );
    }
    const { host, port, kind } = parseEntry(where, content, defaultPort);
    const entry: HostEntry = { id: entries.length + 1, line: lineNumber, text: content, host, port, kind };
    const key = canonical(entry);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new InputError(
        `${where}: "${content}" is the same peer as line ${earlier.line} ("${earlier.text}"); each peer must appear once — remove one of them`,
      );
    }
    seen.set(key, entry);
    entries.push(entry);
    if (entries.length > PEERS_MAX) {
      throw new InputError(`${where}: more than ${PEERS_MAX} peers; rollcall supports groups of up to ${PEERS_MAX}`);
    }
  }
  if (entries.length === 0) {
    throw new InputError(
      `${file}: no peers in the file (it is empty or only comments); add one line per peer, e.g. "peer-1:${defaultPort}"`,
    );
  }
  // Bun's hasher rather than node:crypto, whose loading costs a peer ~7 ms of CPU at start.
  const digest = new Uint8Array(
    new Bun.CryptoHasher("sha256").update(entries.map((e) => `${canonical(e)}\n`).join("")).digest(),
  );
  return { file, entries, digest };
}

function parseEntry(where: string, text: string, defaultPort: number): Pick<HostEntry, "host" | "port" | "kind"> {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0)
      throw new InputError(`${where}: "${text}" opens "[" without closing "]"; write IPv6 as [2001:db8::1]:7700`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new InputError(`${where}: "${text}": expected ":port" after "]"`);
      portText = rest.slice(1);
    }
    if (!isIPv6(host)) throw new InputError(`${where}: "${host}" inside [ ] is not an IPv6 address`);
  } else if (isIPv6(text)) {
    host = text; // bare IPv6: its colons are not a port separator
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(":")) {
        throw new InputError(
          `${where}: "${text}" is not a valid address; write IPv6 with a port as [2001:db8::1]:7700`,
        );
      }
    } else {
      host = text;
    }
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new InputError(`${where}: port "${portText}" in "${text}" is not a number from 1 to 65535`);
    }
    port = Number(portText);
  }
  const lower = host.toLowerCase();
  if (isIPv4(lower)) return { host: lower, port, kind: "ipv4" };
  if (isIPv6(lower)) return { host: lower, port, kind: "ipv6" };
  if (/^[\d.]+$/.test(lower))
    throw new InputError(`${where}: "${host}" looks like an IPv4 address but is not a valid one`);
  if (!HOSTNAME.test(lower)) {
    throw new InputError(`${where}: "${host}" is not a valid host name (letters, digits, "-" and "." only)`);
  }
  return { host: lower, port, kind: "name" };
}

/** `host:port`, IPv6 in brackets: the form the digest is computed over and logs use. */
export function canonical(entry: Pick<HostEntry, "host" | "port" | "kind">): string {
  return entry.kind === "ipv6" ? `[${entry.host}]:${entry.port}` : `${entry.host}:${entry.port}`;
}

/**
 * Finds my entry. `name` matches an entry as written or in canonical form
 * (case-insensitive), or else the host part alone when exactly one entry has
 * it, or else the first label of exactly one entry's DNS name.
 */
export function findSelf(list: HostsList, name: string): HostEntry {
  const wanted = name.trim().toLowerCase();
  const exact = list.entries.filter((e) => e.text.toLowerCase() === wanted || canonical(e) === wanted);
  if (exact.length === 1) return exact[0]!;
  const byHost = list.entries.filter((e) => e.host === wanted.replace(/^\[(.*)\]$/, "$1"));
  if (byHost.length === 1) return byHost[0]!;
  if (byHost.length > 1) {
    const lines = byHost.map((e) => `line ${e.line} (${e.text})`).join(", ");
    throw new InputError(`${list.file}: name "${name}" matches ${lines}; pass --name host:port to say which one is me`);
  }
  // A pod's hostname is the first label of its DNS name (rollcall-0 of
  // rollcall-0.rollcall.default.svc.cluster.local): accept that when unique.
  const byLabel = list.entries.filter((e) => e.kind === "name" && e.host.split(".")[0] === wanted);
  if (byLabel.length === 1 && !wanted.includes(".")) return byLabel[0]!;
  const shown = list.entries.slice(0, 20).map((e) => e.text);
  const more = list.entries.length > 20 ? `, ... (${list.entries.length} in all)` : "";
  throw new InputError(
    `${list.file}: my name "${name}" is not in the file; pass --name with one of: ${shown.join(", ")}${more}`,
  );
}

/** Reads and parses a hosts file, turning file-system errors into clear messages. */
export async function loadHosts(file: string, defaultPort = DEFAULT_PORT): Promise<HostsList> {
  let text: string;
  try {
    text = await Bun.file(file).text();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(`${file}: no such file; pass the hosts file with -h FILE`);
    if (code === "EISDIR") throw new InputError(`${file}: is a directory, not a hosts file`);
    if (code === "EACCES") throw new InputError(`${file}: permission denied`);
    throw new InputError(`${file}: cannot read: ${(error as Error).message}`);
  }
  if (text.includes("\u0000")) throw new InputError(`${file}: looks like a binary file, not a hosts file`);
  return parseHosts(file, text, defaultPort);
}
