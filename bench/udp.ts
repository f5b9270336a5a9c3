/**
 * Reliability over real UDP on loopback: rollcall between Bun processes, side
 * by side with raw `Bun.udpSocket` datagrams (the ceiling) and Bun's TCP (what
 * a user would pick instead), in one run.
 *
 *   bun run bench/udp.ts [--rounds 3] [--seconds 2] [--variants rc-1300,rc-1300-key,...] [--profile DIR] [--pin]
 *
 * Every variant runs in every round: first the saturated ones, in alternating
 * order (reversed every other round), then the fixed-rate (latency) ones, also
 * alternating, so that a lat80 variant can send at 80% of the rate its
 * saturated twin reached in the same round (`--variants` runs only those named,
 * plus the twin of a lat80 variant; ratios are printed for the pairs that ran;
 * `--profile DIR` runs every child under `bun --cpu-prof-md`, one markdown
 * profile per variant, round and role in DIR: for diagnosis, it slows them;
 * `--pin` runs senders on CPU 0 and receivers on CPU 1 with taskset):
 *   raw-100          raw datagrams of 100 bytes, 64 per `sendMany` (sendmmsg), as fast as drain allows:
 *                    the fair baseline (rollcall batches with sendMany too), used in every ratio
 *   raw-1336         raw batched, 1336 bytes (the size of a rollcall frame carrying one 1300-byte message)
 *   raw-100-single   raw, one `send()` per datagram (the old baseline; reference only)
 *   raw-1336-single  raw single, 1336 bytes
 *   rc-1300          rollcall, 1300-byte messages: one message per datagram
 *   rc-1300-key      rc-1300 in key mode (issue 11): both ends load one temporary key file (mode 600),
 *                    every frame sealed with AES-256-GCM; run right beside rc-1300 in every round
 *   rc-32            rollcall, 32-byte messages: coalesced, many per datagram
 *   rc-32-key        rc-32 in key mode
 *   rc-1300-l10      rc-1300 with 10% of datagrams dropped by each side's chaos hook
 *   rc-32-l10        rc-32 with 10% loss
 *   rc-1300-l30      rc-1300 with 30% loss
 *   rc-32-l30        rc-32 with 30% loss
 *   rc-fair          a group of 3: peers 1 and 2 each send saturated 1300-byte messages to peer 3, which
 *                    checks order per sender; each sender's share of what was delivered while both were
 *                    active (target 0.4-0.6 each); its rate is the total in that interval
 *   tcp-1300         Bun.listen/Bun.connect on 127.0.0.1, 1300-byte messages framed with a 4-byte big-endian
 *                    length, 256 messages per write (one event-loop turn, as the rollcall sender queues 256
 *                    per turn), partial writes kept and finished on drain; the receiver parses the stream
 *   tcp-32           tcp, 32-byte messages
 *   rc-lat           rollcall, 100-byte messages at a fixed 10,000 per second: one-way latency
 *   rc-1300-lat80    rollcall, 1300-byte messages at 80% of this round's rc-1300 rate: p50/p99 one-way latency
 *   rc-32-lat80      rollcall, 32-byte messages at 80% of this round's rc-32 rate
 * Fixed rates are spread evenly: every millisecond the sender queues what is due;
 * a message is stamped when send() takes it, and what send() refuses (queue
 * full) is counted and tried again 1 ms later, so a sender that falls behind
 * shows as a rate below its target and a "refused" count.
 * Rates are measured at the receiver (delivered, exactly once and in order:
 * every message carries a sequence number that the receiver checks, and the
 * time it was queued). Loss in the -l10/-l30 variants is injected per datagram
 * inside the batch (src/runtime/chaos.ts: a lossy flush still goes out as one
 * sendMany), on both sides (data and acks). A receiver still without the END
 * marker 5 s after its senders finished (they wait up to 10 s for acks) is
 * stopped with SIGTERM and reports what it had: marked INCOMPLETE. A run that
 * fails counts as NaN (left out of the medians) and the benchmark goes on.
 *
 * One-way latency is read on one clock: CLOCK_MONOTONIC, which the kernel
 * keeps for the whole host (bench/lib/monoclock.ts; not process.hrtime, which
 * Bun counts from its own process start). The sender writes it into each
 * message, the receiver subtracts it from its own reading; no wall clocks, no
 * per-process origins. An echo would measure on one clock too, but halves a
 * round trip that is not symmetric (the echo path has its own queue and
 * load) and adds traffic to the link being measured. The run starts by
 * checking that a child's reading falls between two of the parent's.
 * Latency percentiles come from every 8th message (saturated) or every
 * message (fixed rate).
 *
 * Only 127.0.0.1 is used. Every child process is bounded in time and killed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RollcallEvent, startPeer } from "../src/index.ts";
import { monoClock, monoMs } from "./lib/monoclock.ts";

const END_MARKER = 0xffffffff;
/** Fairness: deliveries per sender are counted in bins of this many ms. */
const BIN_MS = 10;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

// ---------------------------------------------------------------- children

interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

interface SenderTally {
  from: number;
  delivered: number;
  violations: number;
  /** Deliveries per BIN_MS since the receiver was ready (fairness). */
  bins: number[];
}

interface ReceiverResult {
  delivered: number;
  firstMs: number;
  lastMs: number;
  violations: number;
  latency?: Percentiles;
  datagrams?: number;
  /** CPU (user + system) this process used from READY to the end, µs. */
  cpuUs?: number;
  senders?: SenderTally[];
  /** The END marker never came: the parent stopped the receiver (SIGTERM) and this is what it had. */
  incomplete?: boolean;
}

/** On SIGTERM (the parent gave up waiting for END), print what was received so far and exit. */
function reportOnTerm(partial: () => ReceiverResult): void {
  process.on("SIGTERM", () => {
    console.log(JSON.stringify({ ...partial(), incomplete: true }));
    process.exit(0);
  });
}

let cpuAtReady = process.cpuUsage();
const cpuSinceReady = () => {
  const c = process.cpuUsage(cpuAtReady);
  return c.user + c.system;
};

function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** One-way latencies of every `every`-th message, a uniform reservoir of at most 2^18. */
class LatencySamples {
  private readonly samples = new Float64Array(1 << 18);
  private seen = 0;
  constructor(readonly every: number) {}
  add(ms: number): void {
    const i = this.seen++;
    if (i < this.samples.length) this.samples[i] = ms;
    else {
      const j = Math.floor(Math.random() * (i + 1));
      if (j < this.samples.length) this.samples[j] = ms;
    }
  }
  result(): Percentiles {
    const sorted = this.samples.slice(0, Math.min(this.seen, this.samples.length)).sort();
    return {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
      samples: this.seen,
    };
  }
}

async function rawReceiver(port: number): Promise<void> {
  let count = 0;
  let first = 0;
  let last = 0;
  reportOnTerm(() => ({ delivered: count, firstMs: first, lastMs: last, violations: 0 }));
  await Bun.udpSocket({
    hostname: "127.0.0.1",
    port,
    binaryType: "uint8array",
    socket: {
      data(_s, data) {
        if (data.length === 1) {
          const r: ReceiverResult = { delivered: count, firstMs: first, lastMs: last, violations: 0 };
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

/** Raw datagrams as fast as the socket takes them: `batch` per sendMany (1: one send() each, 64 per turn). */
async function rawSender(port: number, size: number, seconds: number, batch: number): Promise<void> {
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
  const waitDrain = () =>
    new Promise<void>((r) => {
      drained = r;
      setTimeout(r, 50);
    });
  const payload = new Uint8Array(size).fill(7);
  const packets: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < batch; i++) packets.push(payload, port, "127.0.0.1");
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let calls = 0;
  let short = 0;
  while (performance.now() < end) {
    if (batch > 1) {
      let n = 0;
      try {
        n = socket.sendMany(packets);
      } catch {}
      calls++;
      sent += n;
      if (n < batch) {
        short++;
        await waitDrain();
        continue;
      }
    } else {
      for (let i = 0; i < 64; i++) {
        calls++;
        if (socket.send(payload, port, "127.0.0.1")) sent++;
        else {
          short++;
          await waitDrain();
          break;
        }
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; i < 20; i++) {
    socket.send(Uint8Array.of(0), port, "127.0.0.1");
    await Bun.sleep(20);
  }
  console.log(JSON.stringify({ sent, calls, short }));
  process.exit(0);
}

/**
 * One rollcall peer of a group on 127.0.0.1:ports[0..]; `self` is its id (from 1).
 * role=recv: counts messages per sender until `senders` END markers arrived.
 * role=send: sends to peer `to`, saturated or at `rate` per second.
 */
async function rollcallPeer(self: number, ports: number[], opts: Record<string, string>): Promise<void> {
  const role = opts.role ?? "recv";
  const loss = Number(opts.loss ?? 0);
  const to = Number(opts.to ?? ports.length);
  const senders = Number(opts.senders ?? 1);
  const samples = new LatencySamples(Number(opts.every ?? 8));
  const sampleEvery = samples.every;
  const result: ReceiverResult = { delivered: 0, firstMs: 0, lastMs: 0, violations: 0 };
  const tallies: (SenderTally & { expected: number })[] = [];
  let lastNow = 0;
  const receivedStamp = new Uint8Array(8);
  const receivedStampView = new DataView(receivedStamp.buffer);
  let ended = 0;
  const startMs = performance.now();
  let writable: (() => void) | undefined;
  const final = (): ReceiverResult => {
    try {
      result.datagrams = driver.stats().datagramsReceived;
    } catch {} // SIGTERM before the peer started
    result.cpuUs = cpuSinceReady();
    result.latency = samples.result();
    if (senders > 1) result.senders = tallies.filter((t) => t !== undefined).map(({ expected: _, ...t }) => t);
    return result;
  };
  if (role === "recv") reportOnTerm(final);
  const onEvent = (e: RollcallEvent) => {
    if (e.type === "writable") writable?.();
    else if (e.type === "message") {
      // Bytes read directly, and the clock read once per 64 messages: a
      // DataView and a clock read per message were a fifth of the receiver's
      // CPU at 1.5 M messages/s (harness cost; the raw receiver only counts).
      const b = e.body;
      const seq = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (seq === END_MARKER) {
        if (++ended < senders) return;
        console.log(JSON.stringify(final()));
        setTimeout(() => process.exit(0), 50);
        return;
      }
      const sampled = seq % sampleEvery === 0 && b.length >= 12;
      if (result.delivered === 0 || (result.delivered & 63) === 0 || sampled || senders > 1) {
        lastNow = performance.now();
        if (result.delivered === 0) result.firstMs = lastNow;
      }
      const now = lastNow;
      result.lastMs = now;
      result.delivered++;
      let t = tallies[e.from];
      if (t === undefined) {
        t = { from: e.from, delivered: 0, violations: 0, bins: [], expected: 0 };
        tallies[e.from] = t;
      }
      if (seq !== t.expected) {
        t.violations++;
        result.violations++;
      }
      t.expected = seq + 1;
      t.delivered++;
      if (senders > 1) {
        const bin = Math.floor((now - startMs) / BIN_MS);
        while (t.bins.length <= bin) t.bins.push(0);
        t.bins[bin]!++;
      }
      if (sampled) {
        for (let i = 0; i < 8; i++) receivedStamp[i] = b[4 + i]!;
        samples.add(monoClock.offsetMs + now - receivedStampView.getFloat64(0));
      }
    }
  };
  const driver = await startPeer({
    hosts: ports.map((p) => `127.0.0.1:${p}`),
    name: `127.0.0.1:${ports[self - 1]}`,
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
  let refused = 0;
  // Each body is written byte by byte, and the clock is read once per batch
  // (its 8 big-endian bytes copied into every message): a DataView and a
  // clock read per message were 30% of the rc-32 sender's CPU in a profile,
  // harness cost the raw sender (one payload, reused) never pays. A
  // message's stamp is its batch's start, so latency is, if anything,
  // overstated by the time the batch takes to queue (about 0.3 ms for 256).
  const stampBytes = new Uint8Array(8);
  const stampView = new DataView(stampBytes.buffer);
  const stamp = () => stampView.setFloat64(0, monoMs());
  stamp();
  const message = () => {
    const body = new Uint8Array(Math.max(size, 12));
    body[0] = seq >>> 24;
    body[1] = (seq >>> 16) & 0xff;
    body[2] = (seq >>> 8) & 0xff;
    body[3] = seq & 0xff;
    body.set(stampBytes, 4);
    return body;
  };
  if (rate > 0) {
    // Fixed rate: every millisecond, what is due.
    const perMs = rate / 1000;
    const start = performance.now();
    while (performance.now() < end) {
      const due = Math.floor((performance.now() - start) * perMs);
      stamp();
      while (seq < due) {
        if (!driver.send(to, message()).ok) {
          refused++;
          break;
        }
        seq++;
      }
      await Bun.sleep(1);
    }
  } else {
    while (performance.now() < end) {
      stamp();
      for (let i = 0; i < 256; i++) {
        if (driver.send(to, message()).ok) {
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
  while (!driver.send(to, endBody).ok) await Bun.sleep(5);
  const deadline = performance.now() + 10_000;
  while (!driver.isIdle && performance.now() < deadline) await Bun.sleep(5);
  console.log(
    JSON.stringify({
      sent: seq,
      refused,
      datagrams: driver.stats().datagramsSent,
      retransmissions: driver.stats().retransmissions,
      cpuUs: cpuSinceReady(),
      link: driver.link(to),
      srttMs: driver.link(to).rttMs,
      rtoMs: driver.link(to).rtoMs,
    }),
  );
  process.exit(0);
}

/** TCP receiver: one connection, length-prefixed messages (4-byte big-endian length, then the body). */
async function tcpReceiver(port: number, opts: Record<string, string>): Promise<void> {
  const samples = new LatencySamples(Number(opts.every ?? 8));
  const sampleEvery = samples.every;
  const result: ReceiverResult = { delivered: 0, firstMs: 0, lastMs: 0, violations: 0 };
  let expected = 0;
  let carry: Uint8Array | undefined;
  const final = (): ReceiverResult => {
    result.cpuUs = cpuSinceReady();
    result.latency = samples.result();
    return result;
  };
  reportOnTerm(final);
  const finish = () => {
    console.log(JSON.stringify(final()));
    setTimeout(() => process.exit(0), 50);
  };
  Bun.listen({
    hostname: "127.0.0.1",
    port,
    socket: {
      binaryType: "uint8array",
      open() {
        cpuAtReady = process.cpuUsage();
      },
      data(_socket, chunk: Uint8Array) {
        let buf = chunk;
        if (carry !== undefined) {
          buf = new Uint8Array(carry.length + chunk.length);
          buf.set(carry);
          buf.set(chunk, carry.length);
          carry = undefined;
        }
        const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        const now = performance.now();
        let off = 0;
        while (off + 4 <= buf.length) {
          const length = view.getUint32(off);
          if (off + 4 + length > buf.length) break;
          const seq = view.getUint32(off + 4);
          if (seq === END_MARKER) return finish();
          if (result.delivered === 0) result.firstMs = now;
          result.lastMs = now;
          if (seq !== expected) result.violations++;
          expected = seq + 1;
          result.delivered++;
          if (seq % sampleEvery === 0 && length >= 12) samples.add(monoClock.offsetMs + now - view.getFloat64(off + 8));
          off += 4 + length;
        }
        if (off < buf.length) carry = buf.slice(off);
      },
      error() {},
      close() {},
    },
  });
  console.log(JSON.stringify({ listening: true }));
}

/** TCP sender: 256 framed messages per write; what the socket did not take is written first, after drain. */
async function tcpSender(port: number, size: number, seconds: number): Promise<void> {
  let drained: (() => void) | undefined;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      drain() {
        drained?.();
      },
      data() {},
      error() {},
      close() {},
    },
  });
  cpuAtReady = process.cpuUsage();
  const waitDrain = () =>
    new Promise<void>((r) => {
      drained = r;
      setTimeout(r, 50);
    });
  const bodySize = Math.max(size, 12);
  const frame = 4 + bodySize;
  const perWrite = 256;
  let pending: Uint8Array | undefined;
  let pendingOffset = 0;
  let writes = 0;
  let partial = 0;
  /** Writes what is pending; true when all of it was taken. */
  const flush = (): boolean => {
    if (pending === undefined) return true;
    const n = socket.write(pending, pendingOffset, pending.length - pendingOffset);
    writes++;
    if (n < 0) throw new Error("tcp socket closed");
    pendingOffset += n;
    if (pendingOffset < pending.length) {
      partial++;
      return false;
    }
    pending = undefined;
    return true;
  };
  const end = performance.now() + seconds * 1000;
  let seq = 0;
  while (performance.now() < end) {
    if (!flush()) {
      await waitDrain();
      continue;
    }
    const buf = new Uint8Array(perWrite * frame);
    const view = new DataView(buf.buffer);
    for (let i = 0; i < perWrite; i++) {
      const off = i * frame;
      view.setUint32(off, bodySize);
      view.setUint32(off + 4, seq++);
      view.setFloat64(off + 8, monoMs());
    }
    pending = buf;
    pendingOffset = 0;
    if (!flush()) await waitDrain();
    else await new Promise((r) => setImmediate(r));
  }
  const deadline = performance.now() + 10_000;
  while (!flush() && performance.now() < deadline) await waitDrain();
  const endFrame = new Uint8Array(4 + 12);
  new DataView(endFrame.buffer).setUint32(0, 12);
  new DataView(endFrame.buffer).setUint32(4, END_MARKER);
  pending = endFrame;
  pendingOffset = 0;
  while (!flush() && performance.now() < deadline) await waitDrain();
  console.log(JSON.stringify({ sent: seq, writes, partial, cpuUs: cpuSinceReady() }));
  await Bun.sleep(200); // the receiver reads to the END marker and exits first
  socket.end();
  process.exit(0);
}

// ---------------------------------------------------------------- parent

interface Variant {
  name: string;
  raw?: { size: number; batch: number };
  rc?: { size: number; loss?: number; rate?: number; key?: boolean };
  /** Fixed rate: this fraction of the rate `of` reached earlier in the same round. */
  rateOf?: { of: string; fraction: number };
  fair?: { size: number };
  tcp?: { size: number };
}

const isFixedRate = (v: Variant) => v.rc?.rate !== undefined || v.rateOf !== undefined;

// Each key variant right after its plain twin, so that in both orders the two run back to back.
const ALL_VARIANTS: Variant[] = [
  { name: "raw-100", raw: { size: 100, batch: 64 } },
  { name: "raw-100-single", raw: { size: 100, batch: 1 } },
  { name: "raw-1336", raw: { size: 1336, batch: 64 } },
  { name: "raw-1336-single", raw: { size: 1336, batch: 1 } },
  { name: "rc-1300", rc: { size: 1300 } },
  { name: "rc-1300-key", rc: { size: 1300, key: true } },
  { name: "rc-32", rc: { size: 32 } },
  { name: "rc-32-key", rc: { size: 32, key: true } },
  { name: "rc-1300-l10", rc: { size: 1300, loss: 0.1 } },
  { name: "rc-32-l10", rc: { size: 32, loss: 0.1 } },
  { name: "rc-1300-l30", rc: { size: 1300, loss: 0.3 } },
  { name: "rc-32-l30", rc: { size: 32, loss: 0.3 } },
  { name: "rc-fair", fair: { size: 1300 } },
  { name: "tcp-1300", tcp: { size: 1300 } },
  { name: "tcp-32", tcp: { size: 32 } },
  { name: "rc-lat", rc: { size: 100, rate: 10_000 } },
  { name: "rc-1300-lat80", rc: { size: 1300 }, rateOf: { of: "rc-1300", fraction: 0.8 } },
  { name: "rc-32-lat80", rc: { size: 32 }, rateOf: { of: "rc-32", fraction: 0.8 } },
];

const profileDir = arg("--profile", "");
let profileRun = 0;
/** Children alive now: SIGKILLed on the way out, whatever the way. */
const live = new Set<Bun.Subprocess>();

/**
 * `--pin`: receivers on CPU 1, senders on CPU 0 (taskset). Without it the scheduler may put a sender
 * and its receiver on one core for a whole run (measured on 2 cores: raw-1336 then loses 40-60% at
 * the receiving socket and its rate drops 3-4×); pinned, 5 rounds of raw-1336 alone stayed within 1%.
 */
const pin = process.argv.includes("--pin");

function child(
  args: string[],
  cpu?: 0 | 1,
): { proc: Bun.Subprocess<"ignore", "pipe", "inherit">; lines: AsyncGenerator<string> } {
  const profile =
    profileDir === "" || args[0] === "clock"
      ? []
      : [
          "--cpu-prof-md",
          `--cpu-prof-dir=${profileDir}`,
          `--cpu-prof-name=${++profileRun}-${args[0]}${args.find((a) => a.startsWith("role="))?.replace("role=", "-") ?? ""}${args.some((a) => a.startsWith("keyFile=")) ? "-key" : ""}-${args.find((a) => a.startsWith("size=")) ?? ""}.md`,
        ];
  const taskset = pin && cpu !== undefined ? ["taskset", "-c", String(cpu)] : [];
  const proc = Bun.spawn([...taskset, process.execPath, ...profile, import.meta.path, "--child", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
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

function killAll(): void {
  for (const proc of live) proc.kill("SIGKILL");
}

async function nextJson(lines: AsyncGenerator<string>, timeoutMs: number): Promise<Record<string, unknown>> {
  let timeout: Timer | undefined;
  const timer = new Promise<never>((_, reject) => {
    timeout = setTimeout(() => reject(new Error("child timed out")), timeoutMs);
  });
  try {
    for (;;) {
      const next = await Promise.race([lines.next(), timer]);
      if (next.done) throw new Error("child ended without a result");
      if (next.value.startsWith("{")) return JSON.parse(next.value);
    }
  } finally {
    clearTimeout(timeout);
  }
}

// Below Linux's ephemeral range (32768-60999), where outgoing sockets could already hold a port.
let portBase = 12_000 + Math.floor(Math.random() * 3000);

interface Run {
  rate: number;
  result: ReceiverResult;
  senders: Record<string, unknown>[];
  /** rc-fair: each sender's share of the deliveries while both were active, and that interval in s. */
  shares?: number[];
  commonS?: number;
}

/** rc-fair: shares and rate over the bins in which both senders delivered (edge bins dropped). */
function fairShares(tallies: SenderTally[]): { shares: number[]; rate: number; commonS: number } {
  const firsts = tallies.map((t) => t.bins.findIndex((c) => c > 0));
  const lasts = tallies.map((t) => t.bins.findLastIndex((c) => c > 0));
  const lo = Math.max(...firsts) + 1;
  const hi = Math.min(...lasts) - 1;
  if (tallies.length < 2 || firsts.includes(-1) || hi < lo)
    return { shares: [Number.NaN, Number.NaN], rate: 0, commonS: 0 };
  const counts = tallies.map((t) => t.bins.slice(lo, hi + 1).reduce((a, b) => a + b, 0));
  const total = counts.reduce((a, b) => a + b, 0);
  const commonS = ((hi - lo + 1) * BIN_MS) / 1000;
  return { shares: counts.map((c) => c / Math.max(1, total)), rate: total / commonS, commonS };
}

async function runVariant(v: Variant, seconds: number, keyFile: string, rate: number): Promise<Run> {
  portBase += 3;
  const ports = [portBase, portBase + 1, portBase + 2];
  const limitMs = seconds * 1000 + 20_000;
  const keyArgs = v.rc?.key ? [`keyFile=${keyFile}`] : [];
  let recvArgs: string[];
  let sendArgs: string[][];
  if (v.raw) {
    recvArgs = ["raw-recv", String(ports[1])];
    sendArgs = [["raw-send", String(ports[1]), String(v.raw.size), String(seconds), String(v.raw.batch)]];
  } else if (v.tcp) {
    recvArgs = ["tcp-recv", String(ports[1]), "every=8"];
    sendArgs = [["tcp-send", String(ports[1]), String(v.tcp.size), String(seconds)]];
  } else if (v.fair) {
    const group = ports.join(",");
    const common = [`size=${v.fair.size}`, `seconds=${seconds}`, "senders=2", "to=3"];
    recvArgs = ["rc-peer", "3", group, "role=recv", "senders=2", "every=8"];
    sendArgs = [
      ["rc-peer", "1", group, "role=send", ...common],
      ["rc-peer", "2", group, "role=send", ...common],
    ];
  } else {
    const rc = v.rc!;
    const group = `${ports[0]},${ports[1]}`;
    const loss = `loss=${rc.loss ?? 0}`;
    recvArgs = ["rc-peer", "2", group, "role=recv", loss, `every=${isFixedRate(v) ? 1 : 8}`, ...keyArgs];
    sendArgs = [
      ["rc-peer", "1", group, "role=send", `size=${rc.size}`, `seconds=${seconds}`, loss, `rate=${rate}`, ...keyArgs],
    ];
  }
  const receiver = child(recvArgs, 1);
  // Rollcall peers start together (READY needs all of them); raw and TCP senders once the receiver listens.
  const early = v.rc || v.fair ? sendArgs.map((a) => child(a, 0)) : [];
  const late: ReturnType<typeof child>[] = [];
  try {
    await nextJson(receiver.lines, 10_000); // listening (and READY for rollcall)
    if (early.length === 0) late.push(...sendArgs.map((a) => child(a, 0)));
    const senders = [...early, ...late];
    // One pending read of the receiver's result (a second read would take a later line).
    const resultP = nextJson(receiver.lines, limitMs + 10_000);
    resultP.catch(() => {});
    const senderResults = await Promise.all(senders.map((s) => nextJson(s.lines, limitMs)));
    // The senders are done (sent END, waited up to 10 s for acks): 5 s more for END, then take what arrived.
    let result = await Promise.race([resultP, Bun.sleep(5000).then(() => undefined)]);
    if (result === undefined) {
      receiver.proc.kill("SIGTERM");
      result = await resultP;
    }
    const r = result as unknown as ReceiverResult;
    if (v.fair) {
      const f = fairShares(r.senders ?? []);
      return { rate: f.rate, result: r, senders: senderResults, shares: f.shares, commonS: f.commonS };
    }
    const measured = r.delivered / Math.max(1e-9, (r.lastMs - r.firstMs) / 1000);
    return { rate: measured, result: r, senders: senderResults };
  } finally {
    // A profiled child writes its profile as it exits: give it the time.
    const all = [receiver, ...early, ...late];
    if (profileDir !== "") await Promise.race([Promise.all(all.map((c) => c.proc.exited)), Bun.sleep(5000)]);
    for (const c of all) c.proc.kill("SIGKILL");
  }
}

const cpuPerMessage = (cpuUs: number, messages: number) => (cpuUs / Math.max(1, messages)).toFixed(2);
const fmt = (x: number) => Math.round(x).toLocaleString("en");
const ms = (x: number | undefined) => (x === undefined || x === null ? "n/a" : `${x.toFixed(2)} ms`);

/** A key file for the key variants: one random key, mode 600, in a private temporary directory. */
function makeKeyFile(): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "rollcall-bench-key-"));
  const file = join(dir, "bench.key");
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Does a child's CLOCK_MONOTONIC reading fall between two of ours? */
async function checkClock(): Promise<{ kind: string; ok: boolean; windowMs: number; childAfterStartMs: number }> {
  const before = monoMs();
  const c = child(["clock"]);
  try {
    const { mono } = (await nextJson(c.lines, 10_000)) as { mono: number };
    const after = monoMs();
    return {
      kind: monoClock.kind,
      ok: before <= mono && mono <= after,
      windowMs: after - before,
      childAfterStartMs: mono - before,
    };
  } finally {
    c.proc.kill("SIGKILL");
  }
}

async function parent(): Promise<void> {
  const rounds = Number(arg("--rounds", "3"));
  const seconds = Number(arg("--seconds", "2"));
  const only = arg("--variants", "");
  const named = only === "" ? undefined : new Set(only.split(","));
  // A lat80 variant needs its saturated twin's rate from the same round.
  for (const v of ALL_VARIANTS) if (named?.has(v.name) && v.rateOf) named.add(v.rateOf.of);
  const VARIANTS = named === undefined ? ALL_VARIANTS : ALL_VARIANTS.filter((v) => named.has(v.name));
  if (VARIANTS.length === 0)
    throw new Error(`--variants: none of ${only} is one of ${ALL_VARIANTS.map((v) => v.name)}`);
  const key = makeKeyFile();
  // Interrupted (the README test stops it after a few seconds): leave no key and no child behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      killAll();
      key.remove();
      process.exit(130);
    });
  try {
    await measure(VARIANTS, rounds, seconds, key.file);
  } finally {
    killAll();
    key.remove();
  }
}

type Target = { min?: number; max?: number; text: string };
const verdict = (x: number, t: Target | undefined) =>
  t === undefined
    ? ""
    : x >= (t.min ?? Number.NEGATIVE_INFINITY) && x <= (t.max ?? Number.POSITIVE_INFINITY)
      ? "PASS"
      : "MISS";

async function measure(VARIANTS: Variant[], rounds: number, seconds: number, keyFile: string): Promise<void> {
  console.log(
    `udp benchmark: ${rounds} rounds × ${VARIANTS.length} variants, ${seconds} s each, loopback, bun ${Bun.version}${pin ? ", pinned (senders CPU 0, receivers CPU 1)" : ""}`,
  );
  const clock = await checkClock();
  console.log(
    `clock: ${clock.kind === "monotonic" ? "CLOCK_MONOTONIC" : "WALL CLOCK (no clock_gettime)"}; a child's reading ${clock.ok ? "falls" : "does NOT fall"} within the parent's ${clock.windowMs.toFixed(1)} ms window around it (${clock.childAfterStartMs.toFixed(1)} ms after its start)`,
  );
  const rates = new Map<string, number[]>();
  const lats = new Map<string, { p50: number[]; p99: number[] }>();
  const shares: number[][] = [];
  const violations = new Map<string, number>();
  const failures: string[] = [];
  const saturated = VARIANTS.filter((v) => !isFixedRate(v));
  const fixedRate = VARIANTS.filter(isFixedRate);
  for (let round = 0; round < rounds; round++) {
    const flip = <T>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
    const thisRound = new Map<string, number>();
    for (const v of [...flip(saturated), ...flip(fixedRate)]) {
      const rate = v.rateOf ? v.rateOf.fraction * (thisRound.get(v.rateOf.of) ?? 0) : (v.rc?.rate ?? 0);
      if (!rates.has(v.name)) rates.set(v.name, []);
      // A failed or skipped run counts as NaN, so that every list keeps one entry per round.
      if (v.rateOf && !(rate > 0)) {
        console.log(`  round ${round + 1} ${v.name}: skipped, no ${v.rateOf.of} rate this round`);
        rates.get(v.name)!.push(Number.NaN);
        continue;
      }
      let run: Run;
      try {
        run = await runVariant(v, seconds, keyFile, Math.round(rate));
      } catch (error) {
        console.log(`  round ${round + 1} ${v.name}: FAILED (${(error as Error).message})`);
        failures.push(`round ${round + 1} ${v.name}: ${(error as Error).message}`);
        rates.get(v.name)!.push(Number.NaN);
        continue;
      }
      const { result } = run;
      thisRound.set(v.name, run.rate);
      if (result.violations > 0) console.log(`  ${v.name}: ${result.violations} ORDER/EXACTLY-ONCE VIOLATIONS`);
      violations.set(v.name, (violations.get(v.name) ?? 0) + result.violations);
      rates.get(v.name)!.push(run.rate);
      const l = result.latency;
      if (isFixedRate(v) && l) {
        if (!lats.has(v.name)) lats.set(v.name, { p50: [], p99: [] });
        lats.get(v.name)!.p50.push(l.p50);
        lats.get(v.name)!.p99.push(l.p99);
      }
      if (run.shares) shares.push(run.shares);
      const s = run.senders[0]!;
      const sentAll = run.senders.reduce((a, x) => a + Number(x.sent), 0);
      const lat = `p50 ${ms(l?.p50)}, p99 ${ms(l?.p99)}, max ${ms(l?.max)}`;
      const cpu = `CPU µs/msg sender ${cpuPerMessage(Number(s.cpuUs), result.delivered / run.senders.length)}, receiver ${cpuPerMessage(result.cpuUs ?? Number.NaN, result.delivered)}`;
      let note: string;
      if (v.raw)
        note = `sent ${s.sent} in ${s.calls} ${v.raw.batch > 1 ? "sendMany" : "send"} calls (${s.short} short), received ${result.delivered} (${(100 * (1 - result.delivered / Number(s.sent))).toFixed(1)}% lost)`;
      else if (v.tcp)
        note = `delivered ${result.delivered}/${s.sent}, ${s.writes} writes (${s.partial} partial), ${lat}, ${cpu}`;
      else if (v.fair)
        note = `shares ${run.shares!.map((x) => x.toFixed(3)).join(" / ")} over ${run.commonS!.toFixed(2)} s with both active, delivered ${(result.senders ?? []).map((t) => `${t.delivered} from ${t.from}`).join(", ")} of ${sentAll}, retransmissions ${run.senders.map((x) => x.retransmissions).join("/")}`;
      else {
        const target = rate > 0 ? `at ${fmt(rate)}/s target, ${s.refused} refused, ` : "";
        const k = (s.link ?? {}) as Record<string, number>;
        const control = `timeouts ${k.timeouts}, probes ${k.probes}, congestion ${k.congestionEvents}/random ${k.randomLosses}/persistent ${k.persistentCongestion} losses, cwnd ${Math.round((k.cwndBytes ?? 0) / 1400)}, credit-blocked ${k.creditBlocked}, queue-full by time ${k.queueFullByTime}`;
        note = `${target}delivered ${result.delivered}/${s.sent}, ${s.datagrams} datagrams, ${s.retransmissions} retransmissions, srtt ${ms(Number(s.srttMs))}, rto ${ms(Number(s.rtoMs))}, ${control}, ${lat}, ${cpu}`;
      }
      if (result.incomplete) note = `INCOMPLETE (no END marker 5 s after the sender finished), ${note}`;
      console.log(`  round ${round + 1} ${v.name.padEnd(15)} ${fmt(run.rate).padStart(10)} /s  ${note}`);
    }
  }
  /** Median of the runs that produced a number (NaN when none did). */
  const med = (xs: number[]) => {
    const ok = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return ok.length === 0 ? Number.NaN : ok[ok.length >> 1]!;
  };
  const m = (name: string) => med(rates.get(name)!);
  const atLeast = (min: number): Target => ({ min, text: `target ≥ ${min}` });
  // [label for the JSON, numerator, denominator, target]
  const pairs: [string, string, string, Target | undefined][] = [
    ["rc-1300 ÷ raw-1336 (raw batched, 64 per sendMany; 1 message per datagram)", "rc-1300", "raw-1336", atLeast(0.5)],
    ["rc-1300 ÷ raw-1336-single (raw one send() per datagram; reference)", "rc-1300", "raw-1336-single", undefined],
    ["rc-1300 ÷ raw-100 (raw batched)", "rc-1300", "raw-100", undefined],
    ["rc-32 messages ÷ raw-100 datagrams (raw batched; coalescing)", "rc-32", "raw-100", atLeast(6)],
    ["rc-32 messages ÷ raw-100-single datagrams (reference)", "rc-32", "raw-100-single", undefined],
    ["rc-1300-l10 ÷ rc-1300 (10% loss)", "rc-1300-l10", "rc-1300", atLeast(0.8)],
    ["rc-32-l10 ÷ rc-32 (10% loss)", "rc-32-l10", "rc-32", atLeast(0.8)],
    ["rc-1300-l30 ÷ rc-1300 (30% loss)", "rc-1300-l30", "rc-1300", atLeast(0.5)],
    ["rc-32-l30 ÷ rc-32 (30% loss)", "rc-32-l30", "rc-32", atLeast(0.5)],
    ["rc-1300-key ÷ rc-1300 (key mode, 1 message per datagram)", "rc-1300-key", "rc-1300", atLeast(0.8)],
    ["rc-32-key ÷ rc-32 (key mode, coalesced)", "rc-32-key", "rc-32", atLeast(0.8)],
    ["rc-1300 ÷ tcp-1300 (Bun TCP, length-prefixed)", "rc-1300", "tcp-1300", undefined],
    ["rc-32 ÷ tcp-32 (Bun TCP, length-prefixed)", "rc-32", "tcp-32", undefined],
  ];
  const ratios: Record<string, number> = {};
  const targets: Record<string, { value: number | number[]; target: string; verdict: string }> = {};
  console.log("\nmedian rates (per second):");
  for (const [name, xs] of rates) console.log(`  ${name.padEnd(15)} ${fmt(med(xs)).padStart(10)}`);
  console.log("ratios (median rates; per-round ratios in brackets):");
  for (const [label, a, b, target] of pairs) {
    if (!rates.has(a) || !rates.has(b)) continue;
    const value = m(a) / m(b);
    ratios[label] = value;
    const perRound = rates.get(a)!.map((x, i) => x / rates.get(b)![i]!);
    const v = verdict(value, target);
    if (target) targets[label] = { value, target: target.text, verdict: v };
    const printed = `${a} ÷ ${b}`.padEnd(33);
    console.log(
      `  ${printed}${value.toFixed(2)}  [${perRound.map((x) => x.toFixed(2)).join(", ")}; median ${med(perRound).toFixed(2)}]  ${target?.text ?? ""} ${v}`.trimEnd(),
    );
  }
  const latencyMs: Record<string, { p50: number; p99: number }> = {};
  if (lats.size > 0) console.log("one-way latency (CLOCK_MONOTONIC; medians over rounds of each round's percentile):");
  for (const [name, l] of lats) {
    latencyMs[name] = { p50: med(l.p50), p99: med(l.p99) };
    const what = name === "rc-lat" ? "10,000/s" : `80% of ${name.replace("-lat80", "")}`;
    let line = `  ${name.padEnd(15)} ${what.padEnd(16)} p50 ${ms(med(l.p50))} [${l.p50.map((x) => x.toFixed(2)).join(", ")}], p99 ${ms(med(l.p99))} [${l.p99.map((x) => x.toFixed(2)).join(", ")}]`;
    if (name.endsWith("-lat80")) {
      const t50 = { max: 5, text: "p50 ≤ 5 ms" };
      const t99 = { max: 20, text: "p99 ≤ 20 ms" };
      targets[`${name} p50 ms`] = { value: med(l.p50), target: t50.text, verdict: verdict(med(l.p50), t50) };
      targets[`${name} p99 ms`] = { value: med(l.p99), target: t99.text, verdict: verdict(med(l.p99), t99) };
      line += `  ${t50.text} ${verdict(med(l.p50), t50)}, ${t99.text} ${verdict(med(l.p99), t99)}`;
    }
    console.log(line);
  }
  let fairness: { shares: number[]; perRound: number[][]; verdict: string } | undefined;
  if (shares.length > 0) {
    const medShares = [med(shares.map((s) => s[0]!)), med(shares.map((s) => s[1]!))];
    const t = { min: 0.4, max: 0.6, text: "target 0.4–0.6 each" };
    const v = medShares.every((s) => verdict(s, t) === "PASS") && shares.length > 0 ? "PASS" : "MISS";
    fairness = { shares: medShares, perRound: shares, verdict: v };
    targets["rc-fair shares"] = { value: medShares, target: t.text, verdict: v };
    console.log(
      `fairness (rc-fair, 2 senders → 1): shares ${medShares.map((s) => s.toFixed(3)).join(" / ")} [${shares.map((s) => s.map((x) => x.toFixed(2)).join("/")).join(", ")}]  ${t.text} ${v}`,
    );
  }
  const totalViolations = [...violations.values()].reduce((a, b) => a + b, 0);
  console.log(`order/exactly-once violations: ${totalViolations}`);
  if (failures.length > 0) console.log(`failed runs: ${failures.length} (${failures.join("; ")})`);
  console.log(
    JSON.stringify({
      bench: "udp",
      bun: Bun.version,
      pinned: pin,
      clock,
      medians: Object.fromEntries([...rates].map(([k, v]) => [k, Math.round(med(v))])),
      ratios,
      targets,
      perRound: Object.fromEntries([...rates].map(([k, v]) => [k, v.map(Math.round)])),
      latencyMs: latencyMs["rc-lat"],
      latencyByVariantMs: latencyMs,
      fairness,
      violations: Object.fromEntries(violations),
      failures,
    }),
  );
}

// ---------------------------------------------------------------- entry

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) {
  const [role, a, b, ...rest] = process.argv.slice(childIndex + 1);
  const opts = Object.fromEntries(
    [b ?? "", ...rest]
      .filter((x) => x.includes("="))
      .map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]),
  );
  // Never outlive the parent's patience.
  setTimeout(() => process.exit(3), 60_000).unref();
  if (role === "clock") {
    console.log(JSON.stringify({ mono: monoMs() }));
    process.exit(0);
  } else if (role === "raw-recv") await rawReceiver(Number(a));
  else if (role === "raw-send") await rawSender(Number(a), Number(b), Number(rest[0]), Number(rest[1] ?? 1));
  else if (role === "tcp-recv") await tcpReceiver(Number(a), opts);
  else if (role === "tcp-send") await tcpSender(Number(a), Number(b), Number(rest[0]));
  else if (role === "rc-peer") await rollcallPeer(Number(a), b!.split(",").map(Number), opts);
} else {
  await parent();
}
