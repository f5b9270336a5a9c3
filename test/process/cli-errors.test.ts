/**
 * Bad flags and bad hosts files: the peer exits with code 2 and one clear
 * line on stderr saying what is wrong and what to do; nothing is left running.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Group, PEER_MAIN, portBlock, runPeer } from "./group.ts";

const dir = mkdtempSync(join(tmpdir(), "rollcall-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY = Buffer.from(new Uint8Array(32).fill(7)).toString("base64");
function keyFile(name: string, text: string, mode: number): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
  return file;
}
function hostsFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("bad flags", () => {
  const good = hostsFile("good.txt", "127.0.0.1:7001\n127.0.0.1:7002\n");
  const cases: [string, string[], RegExp][] = [
    ["no hosts file", ["--name", "x"], /^rollcall: missing the hosts file: pass -h FILE/],
    [
      "unknown flag",
      ["-h", good, "--frobnicate"],
      /^rollcall: Unknown option '--frobnicate' \(--help lists the options\)/,
    ],
    [
      "port not a number",
      ["-h", good, "--port", "abc"],
      /^rollcall: --port must be a number from 1 to 65535, got "abc"/,
    ],
    [
      "bad log level",
      ["-h", good, "--log-level", "loud"],
      /^rollcall: --log-level must be one of debug, info, warn, error, off/,
    ],
    ["bad log format", ["-h", good, "--log-format", "xml"], /^rollcall: --log-format must be json or pretty/],
    ["bad ready timeout", ["-h", good, "--ready-timeout", "0"], /^rollcall: --ready-timeout must be seconds/],
    ["flag without its value", ["-h", good, "--port"], /^rollcall: Option '--port <value>' argument missing/],
    ["stray argument", ["-h", good, "extra"], /^rollcall: Unexpected argument 'extra'/],
    [
      "unknown order",
      ["-h", good, "--group", "--multicast-stdin", "--order", "random"],
      /^rollcall: --order must be fifo, causal or total, got "random"/,
    ],
    [
      "unknown total-order algorithm",
      ["-h", good, "--group", "--multicast-stdin", "--order", "total", "--total-algorithm", "paxos"],
      /^rollcall: --total-algorithm must be sequencer or isis, got "paxos"/,
    ],
    [
      "an algorithm for an order that is not total",
      ["-h", good, "--group", "--multicast-stdin", "--order", "causal", "--total-algorithm", "isis"],
      /^rollcall: --total-algorithm orders --order total: add --order total/,
    ],
    [
      "an order without multicasting",
      ["-h", good, "--group", "--order", "total"],
      /^rollcall: --order, --total-algorithm and --safe apply to --multicast-stdin: add it/,
    ],
    [
      "safe without multicasting",
      ["-h", good, "--group", "--safe"],
      /^rollcall: --order, --total-algorithm and --safe apply to --multicast-stdin: add it/,
    ],
    [
      "multicast without the group",
      ["-h", good, "--multicast-stdin"],
      /^rollcall: --multicast-stdin multicasts to the group: add --group/,
    ],
    [
      "bad chaos key",
      ["-h", good, "--name", "127.0.0.1:7001", "--chaos", "lose=1"],
      /^rollcall: --chaos: unknown key "lose"/,
    ],
    [
      "bad chaos value",
      ["-h", good, "--name", "127.0.0.1:7001", "--chaos", "loss=2"],
      /^rollcall: --chaos: loss must be a probability/,
    ],
    [
      "key file open to others",
      ["-h", good, "--name", "127.0.0.1:7001", "--key-file", keyFile("open.key", `${KEY}\n`, 0o644)],
      /^rollcall: key file .*open\.key is open to group or others \(mode 644\): run chmod 600/,
    ],
    [
      "malformed key file",
      [
        "-h",
        good,
        "--name",
        "127.0.0.1:7001",
        "--key-file",
        keyFile("bad.key", `# ours\n${KEY.slice(0, 30)}\n`, 0o600),
      ],
      /^rollcall: .*bad\.key:2: not a key: a key is the standard base64 of 32 random bytes/,
    ],
    [
      "missing key file",
      ["-h", good, "--name", "127.0.0.1:7001", "--key-file", join(dir, "none.key")],
      /^rollcall: cannot read key file .*none\.key: ENOENT/,
    ],
  ];
  for (const [what, args, message] of cases) {
    test(`${what}: exit 2 with a clear message`, async () => {
      const r = await runPeer(args);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.code).toBe(2);
    });
  }

  test("ROLLCALL_KEY_FILE is read when --key-file is absent, with the same checks", async () => {
    const bad = keyFile("env.key", "nope\n", 0o600);
    const proc = Bun.spawn([process.execPath, PEER_MAIN, "-h", good, "--name", "127.0.0.1:7001"], {
      env: { ...process.env, ROLLCALL_KEY_FILE: bad },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toMatch(/^rollcall: .*env\.key:1: not a key/);
    expect(code).toBe(2);
  });

  test("--help prints usage to stdout and exits 0", async () => {
    const r = await runPeer(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: bun run peer -h HOSTS_FILE");
    expect(r.stderr).toBe("");
  });

  test("--version prints the version", async () => {
    const r = await runPeer(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rollcall\/\d+\.\d+\.\d+\n$/);
  });
});

describe("bad hosts files", () => {
  const cases: [string, string, string[], RegExp][] = [
    ["missing file", "", ["-h", join(dir, "nope.txt")], /nope\.txt: no such file/],
    ["empty file", "", [], /empty\.txt: no peers in the file/],
    [
      "duplicate entry",
      "127.0.0.1:7001\n127.0.0.1:7002\n127.0.0.1:7001\n",
      [],
      /:3: "127\.0\.0\.1:7001" is the same peer as line 1/,
    ],
    ["malformed port", "127.0.0.1:7001\n127.0.0.1:70x\n", [], /:2: port "70x" in "127\.0\.0\.1:70x" is not a number/],
    [
      "my name not in the file",
      "127.0.0.1:7001\n127.0.0.1:7002\n",
      ["--name", "ghost"],
      /my name "ghost" is not in the file; pass --name with one of: 127\.0\.0\.1:7001, 127\.0\.0\.1:7002/,
    ],
  ];
  for (const [what, text, extra, message] of cases) {
    test(`${what}: exit 2, names the file and line`, async () => {
      const file = hostsFile(`${what.includes("empty") ? "empty" : what.replace(/\W+/g, "-")}.txt`, text);
      const args = extra[0] === "-h" ? extra : ["-h", file, "--name", "127.0.0.1:7001", ...extra];
      const r = await runPeer(args);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
    });
  }

  test("a directory instead of a file", async () => {
    const r = await runPeer(["-h", dir, "--name", "x"]);
    expect(r.stderr).toMatch(/is a directory, not a hosts file/);
    expect(r.code).toBe(2);
  });
});

test("--ready-timeout: exit 3 naming the peers never heard from", async () => {
  const base = portBlock(3);
  const file = hostsFile("timeout.txt", `127.0.0.1:${base}\n127.0.0.1:${base + 1}\n127.0.0.1:${base + 2}\n`);
  const r = await runPeer(["-h", file, "--name", `127.0.0.1:${base}`, "--ready-timeout", "0.5"]);
  expect(r.code).toBe(3);
  expect(r.stderr).toBe(
    `rollcall: not READY after 0.5 s; never heard from: 127.0.0.1:${base + 1}, 127.0.0.1:${base + 2}\n`,
  );
});

test("a port already in use: exit 1 with the reason", async () => {
  const base = portBlock(2);
  const file = hostsFile("busy.txt", `127.0.0.1:${base}\n127.0.0.1:${base + 1}\n`);
  const blocker = await Bun.udpSocket({ hostname: "127.0.0.1", port: base });
  try {
    const r = await runPeer(["-h", file, "--name", `127.0.0.1:${base}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^rollcall: cannot bind UDP 127\\.0\\.0\\.1:${base}: `));
  } finally {
    blocker.close();
  }
});

test("a peer with a different hosts list is reported and ignored; the others are not READY because of it", async () => {
  const group = new Group(3);
  try {
    const odd = hostsFile("odd.txt", `${group.names.join("\n")}\n127.0.0.1:1\n`);
    const a = group.start(1, ["--ready-timeout", "2"]);
    const b = group.start(2, ["--ready-timeout", "2"]);
    const c = group.spawn(3, group.names[2]!, ["-h", odd, "--name", group.names[2]!, "--ready-timeout", "2"]);
    await Promise.all([a.proc.exited, b.proc.exited, c.proc.exited]);
    await Promise.all([a.done, b.done]);
    expect(a.proc.exitCode).toBe(3);
    // Heard from, but refused: the message says why rather than "never heard from".
    expect(a.stderr).toMatch(/refused for a different hosts file: 127\.0\.0\.1:\d+\n$/);
    const mismatch = Group.records(a).find((r) => r.event === "hosts-mismatch");
    expect(mismatch).toMatchObject({ level: "error", peer: 3 });
  } finally {
    await group.stop();
  }
});
