/**
 * Reliability over real UDP on loopback: rollcall between two Bun processes,
 * side by side with raw `Bun.udpSocket` datagrams (the ceiling), in one run.
 *
 *   bun run bench/udp.ts [--rounds 3] [--seconds 2] [--variants rc-1300,rc-1300-key,...]
 *
 * Variants, each run in every round, in alternating order (`--variants`
 * runs only those named; ratios are printed for the pairs that ran;
 * `--profile DIR` runs every child under `bun --cpu-prof-md`, one markdown
 * profile per variant, round and role in DIR: for diagnosis, it slows them):
 *   raw-100      raw datagrams of 100 bytes, sender as fast as send()/drain allow
 *   raw-1336     raw datagrams of 1336 bytes (the size of a rollcall frame carrying one 1300-byte message)
 *   rc-1300      rollcall, 1300-byte messages: one message per datagram
 *   rc-1300-key  rc-1300 in key mode (issue 11): both ends load one temporary key file (mode 600),
 *                every frame sealed with AES-256-GCM; run right beside rc-1300 in every round
 *   rc-32        rollcall, 32-byte messages: coalesced, many per datagram
 *   rc-32-key    rc-32 in key mode
 *   rc-1300-l10  rc-1300 with 10% of datagrams dropped by each side's chaos hook
 *   rc-32-l10    rc-32 with 10% loss
 *   rc-lat       rollcall, 100-byte messages at a fixed 10,000 per second: one-way latency
 * Rates are measured at the receiver (delivered, exactly once and in order:
 * every message carries a sequence number that the receiver checks).
 * Only 127.0.0.1 is used. Every child process is bounded in time and killed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RollcallEvent, startPeer } from "../src/index.ts";

const END_MARKER = 0xffffffff;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const wallClockMs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- children

interface ReceiverResult {
  delivered: number;
  firstMs: number;
  lastMs: number;
  violations: number;
  latenciesMs: number[];
  datagrams?: number;
  /** CPU (user + system) this process used from READY to the end, µs. */
  cpuUs?: number;
}

let cpuAtReady = process.cpuUsage();
const cpuSinceReady = () => {
  const c = process.cpuUsage(cpuAtReady);
  return c.user + c.system;
};

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function rawReceiver(port: number): Promise<void> {
  let count = 0;
  let first = 0;
  let last = 0;
  await Bun.udpSocket({
    hostname: "127.0.0.1",
    port,
    binaryType: "uint8array",
    socket: {
      data(_s, data) {
        if (data.length === 1) {
          const r: ReceiverResult = { delivered: count, firstMs: first, lastMs: last, violations: 0, latenciesMs: [] };
          console.log(JSON.stringify(r));
          process.exit(0);
        }
        const now = performance.now();
        if (count === 0) first = now;
        last = now;
        count++;
      },
      error() {},
    },
  });
  console.log(JSON.stringify({ listening: true }));
}

async function rawSender(port: number, size: number, seconds: number): Promise<void> {
  let drained: (() => void) | undefined;
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      drain() {
        drained?.();
      },
      error() {},
    },
  });
  const payload = new Uint8Array(size).fill(7);
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) {
      if (socket.send(payload, port, "127.0.0.1")) sent++;
      else {
        await new Promise<void>((r) => {
          drained = r;
        });
        break;
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; i < 20; i++) {
    socket.send(Uint8Array.of(0), port, "127.0.0.1");
    await Bun.sleep(20);
  }
  console.log(JSON.stringify({ sent }));
  process.exit(0);
}

async function rollcallPeer(
  role: "send" | "recv",
  ports: [number, number],
  opts: Record<string, string>,
): Promise<void> {
  const loss = Number(opts.loss ?? 0);
  let writable: (() => void) | undefined;
  const result: ReceiverResult = { delivered: 0, firstMs: 0, lastMs: 0, violations: 0, latenciesMs: [] };
  let expected = 0;
  const onEvent = (e: RollcallEvent) => {
    if (e.type === "writable") writable?.();
    else if (e.type === "message") {
      const view = new DataView(e.body.buffer, e.body.byteOffset, e.body.byteLength);
      const seq = view.getUint32(0);
      if (seq === END_MARKER) {
        result.datagrams = driver.stats().datagramsReceived;
        result.cpuUs = cpuSinceReady();
        console.log(JSON.stringify(result));
        setTimeout(() => process.exit(0), 50);
        return;
      }
      const now = performance.now();
      if (result.delivered === 0) result.firstMs = now;
      result.lastMs = now;
      if (seq !== expected) result.violations++;
      expected = seq + 1;
      result.delivered++;
      if (e.body.length >= 12 && result.latenciesMs.length < 200_000) {
        result.latenciesMs.push(wallClockMs() - view.getFloat64(4));
      }
    }
  };
  const driver = await startPeer({
    hosts: [`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`],
    name: `127.0.0.1:${role === "send" ? ports[0] : ports[1]}`,
    chaos: loss > 0 ? { loss, duplicate: 0, corrupt: 0, delayMs: 0, jitterMs: 0, reorder: 0, reorderMs: 0 } : undefined,
    keyFile: opts.keyFile || undefined,
    onEvent,
  });
  await driver.ready;
  cpuAtReady = process.cpuUsage();
  if (role === "recv") {
    console.log(JSON.stringify({ listening: true }));
    return;
  }
  const size = Number(opts.size ?? 32);
  const seconds = Number(opts.seconds ?? 2);
  const rate = Number(opts.rate ?? 0);
  const end = performance.now() + seconds * 1000;
  let seq = 0;
  const message = () => {
    const body = new Uint8Array(Math.max(size, 12));
    const view = new DataView(body.buffer);
    view.setUint32(0, seq);
    view.setFloat64(4, wallClockMs());
    return body;
  };
  if (rate > 0) {
    // Fixed rate: a batch every millisecond.
    const perMs = rate / 1000;
    let due = 0;
    const start = performance.now();
    while (performance.now() < end) {
      due = Math.floor((performance.now() - start) * perMs);
      while (seq < due) {
        if (!driver.send(2, message()).ok) break;
        seq++;
      }
      await Bun.sleep(1);
    }
  } else {
    while (performance.now() < end) {
      for (let i = 0; i < 256; i++) {
        if (driver.send(2, message()).ok) {
          seq++;
          continue;
        }
        await new Promise<void>((r) => {
          writable = r;
          setTimeout(r, 50);
        });
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
  }
  const endBody = new Uint8Array(12);
  new DataView(endBody.buffer).setUint32(0, END_MARKER);
  while (!driver.send(2, endBody).ok) await Bun.sleep(5);
  const deadline = performance.now() + 10_000;
  while (!driver.isIdle && performance.now() < deadline) await Bun.sleep(5);
  console.log(
    JSON.stringify({
      sent: seq,
      datagrams: driver.stats().datagramsSent,
      retransmissions: driver.stats().retransmissions,
      cpuUs: cpuSinceReady(),
      session: driver.link(2),
      srttMs: driver.link(2).rttMs,
      rtoMs: driver.link(2).rtoMs,
    }),
  );
  process.exit(0);
}

// ---------------------------------------------------------------- parent

interface Variant {
  name: string;
  raw?: { size: number };
  rc?: { size: number; loss?: number; rate?: number; key?: boolean };
}

// Each key variant right after its plain twin, so that in both orders the two run back to back.
const ALL_VARIANTS: Variant[] = [
  { name: "raw-100", raw: { size: 100 } },
  { name: "raw-1336", raw: { size: 1336 } },
  { name: "rc-1300", rc: { size: 1300 } },
  { name: "rc-1300-key", rc: { size: 1300, key: true } },
  { name: "rc-32", rc: { size: 32 } },
  { name: "rc-32-key", rc: { size: 32, key: true } },
  { name: "rc-1300-l10", rc: { size: 1300, loss: 0.1 } },
  { name: "rc-32-l10", rc: { size: 32, loss: 0.1 } },
  { name: "rc-lat", rc: { size: 100, rate: 10_000 } },
];

const profileDir = arg("--profile", "");
let profileRun = 0;

function child(args: string[]): { proc: Bun.Subprocess<"ignore", "pipe", "inherit">; lines: AsyncGenerator<string> } {
  const profile =
    profileDir === ""
      ? []
      : [
          "--cpu-prof-md",
          `--cpu-prof-dir=${profileDir}`,
          `--cpu-prof-name=${++profileRun}-${args[0]}${args.some((a) => a.startsWith("keyFile=")) ? "-key" : ""}-${args.find((a) => a.startsWith("size=")) ?? ""}.md`,
        ];
  const proc = Bun.spawn([process.execPath, ...profile, import.meta.path, "--child", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  async function* lines() {
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      let i = buffer.indexOf("\n");
      while (i >= 0) {
        yield buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        i = buffer.indexOf("\n");
      }
    }
  }
  return { proc, lines: lines() };
}

async function nextJson(lines: AsyncGenerator<string>, timeoutMs: number): Promise<Record<string, unknown>> {
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("child timed out")), timeoutMs));
  for (;;) {
    const next = await Promise.race([lines.next(), timer]);
    if (next.done) throw new Error("child ended without a result");
    if (next.value.startsWith("{")) return JSON.parse(next.value);
  }
}

// Below Linux's ephemeral range (32768-60999), where outgoing sockets could already hold a port.
let portBase = 12_000 + Math.floor(Math.random() * 3000);

async function runVariant(
  v: Variant,
  seconds: number,
  keyFile: string,
): Promise<{ rate: number; result: ReceiverResult; sender: Record<string, unknown> }> {
  portBase += 2;
  const ports: [number, number] = [portBase, portBase + 1];
  const limitMs = seconds * 1000 + 20_000;
  const recvArgs = v.raw ? ["raw-recv", String(ports[1])] : ["rc-recv", String(ports[0]), String(ports[1])];
  const sendArgs = v.raw
    ? ["raw-send", String(ports[1]), String(v.raw.size), String(seconds)]
    : [
        "rc-send",
        String(ports[0]),
        String(ports[1]),
        `size=${v.rc!.size}`,
        `seconds=${seconds}`,
        `loss=${v.rc!.loss ?? 0}`,
        `rate=${v.rc!.rate ?? 0}`,
      ];
  if (v.rc) recvArgs.push(`loss=${v.rc.loss ?? 0}`);
  if (v.rc?.key) {
    recvArgs.push(`keyFile=${keyFile}`);
    sendArgs.push(`keyFile=${keyFile}`);
  }
  const receiver = child(recvArgs);
  const sender = v.raw ? undefined : child(sendArgs);
  try {
    await nextJson(receiver.lines, 10_000); // listening (and READY for rollcall)
    const rawSender = v.raw ? child(sendArgs) : undefined;
    const senderLines = (sender ?? rawSender)!.lines;
    const [result, senderResult] = await Promise.all([
      nextJson(receiver.lines, limitMs),
      nextJson(senderLines, limitMs),
    ]);
    rawSender?.proc.kill();
    const r = result as unknown as ReceiverResult;
    const rate = r.delivered / Math.max(1e-9, (r.lastMs - r.firstMs) / 1000);
    return { rate, result: r, sender: senderResult };
  } finally {
    // A profiled child writes its profile as it exits: give it the time.
    if (profileDir !== "")
      await Promise.race([Promise.all([receiver.proc.exited, sender?.proc.exited]), Bun.sleep(5000)]);
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
  }
}

const cpuPerMessage = (cpuUs: number, messages: number) => (cpuUs / Math.max(1, messages)).toFixed(2);

/** A key file for the key variants: one random key, mode 600, in a private temporary directory. */
function makeKeyFile(): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "rollcall-bench-key-"));
  const file = join(dir, "bench.key");
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function parent(): Promise<void> {
  const rounds = Number(arg("--rounds", "3"));
  const seconds = Number(arg("--seconds", "2"));
  const only = arg("--variants", "");
  const VARIANTS = only === "" ? ALL_VARIANTS : ALL_VARIANTS.filter((v) => only.split(",").includes(v.name));
  if (VARIANTS.length === 0)
    throw new Error(`--variants: none of ${only} is one of ${ALL_VARIANTS.map((v) => v.name)}`);
  const key = makeKeyFile();
  // Interrupted (the README test stops it after a few seconds): leave no key behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      key.remove();
      process.exit(130);
    });
  try {
    await measure(VARIANTS, rounds, seconds, key.file);
  } finally {
    key.remove();
  }
}

async function measure(VARIANTS: Variant[], rounds: number, seconds: number, keyFile: string): Promise<void> {
  console.log(
    `udp benchmark: ${rounds} rounds × ${VARIANTS.length} variants, ${seconds} s each, loopback, bun ${Bun.version}`,
  );
  const rates = new Map<string, number[]>();
  const lat = { p50: [] as number[], p99: [] as number[] };
  const extra = new Map<string, string[]>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const v of order) {
      const { rate, result, sender } = await runVariant(v, seconds, keyFile);
      if (result.violations > 0) console.log(`  ${v.name}: ${result.violations} ORDER/EXACTLY-ONCE VIOLATIONS`);
      if (!rates.has(v.name)) rates.set(v.name, []);
      rates.get(v.name)!.push(rate);
      const sorted = [...result.latenciesMs].sort((a, b) => a - b);
      if (v.name === "rc-lat") {
        lat.p50.push(percentile(sorted, 0.5));
        lat.p99.push(percentile(sorted, 0.99));
      }
      const note = v.raw
        ? `sent ${sender.sent}, received ${result.delivered} (${(100 * (1 - result.delivered / Number(sender.sent))).toFixed(1)}% lost)`
        : `delivered ${result.delivered}/${sender.sent}, ${sender.datagrams} datagrams, ${sender.retransmissions} retransmissions, p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms, CPU µs/msg sender ${cpuPerMessage(Number(sender.cpuUs), result.delivered)}, receiver ${cpuPerMessage(result.cpuUs ?? Number.NaN, result.delivered)}`;
      if (!extra.has(v.name)) extra.set(v.name, []);
      extra.get(v.name)!.push(note);
      console.log(
        `  round ${round + 1} ${v.name.padEnd(12)} ${Math.round(rate).toLocaleString("en").padStart(10)} /s  ${note}`,
      );
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const m = (name: string) => med(rates.get(name)!);
  // [label for the JSON, label printed, numerator, denominator, target]
  const pairs: [string, string, string, string, string][] = [
    ["rc-1300 ÷ raw-1336 (1 message per datagram)", "rc-1300 ÷ raw-1336   ", "rc-1300", "raw-1336", "target ≥ 0.5"],
    ["rc-1300 ÷ raw-100", "rc-1300 ÷ raw-100    ", "rc-1300", "raw-100", ""],
    ["rc-32 messages ÷ raw-100 datagrams (coalescing)", "rc-32 ÷ raw-100      ", "rc-32", "raw-100", "target ≥ 2"],
    ["rc-1300-l10 ÷ rc-1300 (10% loss)", "rc-1300-l10 ÷ rc-1300 ", "rc-1300-l10", "rc-1300", "target ≥ 0.7"],
    ["rc-32-l10 ÷ rc-32 (10% loss)", "rc-32-l10 ÷ rc-32    ", "rc-32-l10", "rc-32", "target ≥ 0.7"],
    [
      "rc-1300-key ÷ rc-1300 (key mode, 1 message per datagram)",
      "rc-1300-key ÷ rc-1300 ",
      "rc-1300-key",
      "rc-1300",
      "target ≥ 0.8",
    ],
    ["rc-32-key ÷ rc-32 (key mode, coalesced)", "rc-32-key ÷ rc-32    ", "rc-32-key", "rc-32", "target ≥ 0.8"],
  ];
  const ratios: Record<string, number> = {};
  const perRound = (a: string, b: string) =>
    rates
      .get(a)!
      .map((x, i) => (x / rates.get(b)![i]!).toFixed(2))
      .join(", ");
  console.log("\nmedian rates (per second):");
  for (const [name, xs] of rates)
    console.log(`  ${name.padEnd(12)} ${Math.round(med(xs)).toLocaleString("en").padStart(10)}`);
  console.log("ratios (median rates; per-round ratios in brackets):");
  for (const [label, printed, a, b, target] of pairs) {
    if (!rates.has(a) || !rates.has(b)) continue;
    ratios[label] = m(a) / m(b);
    const rounds = rates.get(a)!.map((x, i) => x / rates.get(b)![i]!);
    console.log(
      `  ${printed}${ratios[label]!.toFixed(2)}  [${perRound(a, b)}; median ${med(rounds).toFixed(2)}]  ${target}`.trimEnd(),
    );
  }
  if (lat.p50.length > 0)
    console.log(`latency at 10,000 msgs/s: p50 ${med(lat.p50).toFixed(2)} ms, p99 ${med(lat.p99).toFixed(2)} ms`);
  console.log(
    JSON.stringify({
      bench: "udp",
      bun: Bun.version,
      medians: Object.fromEntries([...rates].map(([k, v]) => [k, Math.round(med(v))])),
      ratios,
      perRound: Object.fromEntries([...rates].map(([k, v]) => [k, v.map(Math.round)])),
      latencyMs: lat.p50.length > 0 ? { p50: med(lat.p50), p99: med(lat.p99) } : undefined,
    }),
  );
}

// ---------------------------------------------------------------- entry

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) {
  const [role, a, b, ...rest] = process.argv.slice(childIndex + 1);
  const opts = Object.fromEntries(
    rest.filter((x) => x.includes("=")).map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]),
  );
  // Never outlive the parent's patience.
  setTimeout(() => process.exit(3), 60_000).unref();
  if (role === "raw-recv") await rawReceiver(Number(a));
  else if (role === "raw-send") await rawSender(Number(a), Number(b), Number(rest[0]));
  else if (role === "rc-recv") await rollcallPeer("recv", [Number(a), Number(b)], opts);
  else if (role === "rc-send") await rollcallPeer("send", [Number(a), Number(b)], opts);
} else {
  await parent();
}
