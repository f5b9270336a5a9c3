/**
 * Codec benchmark: rollcall frame encode/decode vs bare protobuf-es
 * toBinary/fromBinary of the same payload, measured side by side.
 *
 *   npm run bench:codec            (bun run bench/codec.ts [--rounds N] [--ms M])
 *
 * The machine is noisy, so each pair is measured in alternating rounds and the
 * ratio (frame time ÷ bare protobuf time) is the median over rounds. Target:
 * the framing (header + checksum + validation) costs at most 25% over bare
 * protobuf-es, i.e. ratio ≤ 1.25.
 *
 * Cases: an alive frame, a 1 KiB data frame, a data frame piggybacking an Ack
 * with 8 ranges (Bundle.ack), and, without a frame, Envelope decoding: the
 * hand-written decoder (src/wire/messages.ts, what a peer calls) against
 * protobuf-es's `fromBinary(EnvelopeSchema)` (the "frame" column is then the
 * hand-written decoder).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Bundle, BundleSchema, EnvelopeSchema } from "../src/gen/rollcall/v1/rollcall_pb.ts";
import { decodeFrame, encodeFrame, type Frame, FrameFlag, FrameType } from "../src/wire/frame.ts";
import { decodeEnvelopeFast } from "../src/wire/messages.ts";
import { measure } from "./lib/measure.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const rounds = arg("--rounds", 9);
const msPerRun = arg("--ms", 150);
const TARGET = 1.25;

type EnvelopeInit = Parameters<typeof create<typeof EnvelopeSchema>>[1];
function bundleOf(envelope: EnvelopeInit): Bundle {
  return create(BundleSchema, { messages: [toBinary(EnvelopeSchema, create(EnvelopeSchema, envelope))] });
}

const alive: EnvelopeInit = {
  body: {
    case: "alive",
    value: {
      name: "peer-07",
      id: 7,
      epoch: 0x9e3779b9,
      hostsDigest: new Uint8Array(32).fill(0xab),
      peerCount: 20,
      agent: "rollcall/0.1.0",
    },
  },
};

const cases: { name: string; bundle: Bundle }[] = [
  { name: "alive", bundle: bundleOf(alive) },
  {
    name: "data-1KiB",
    bundle: bundleOf({ body: { case: "data", value: { body: new Uint8Array(1024).map((_, i) => i * 7) } } }),
  },
  {
    // A 100-byte message with the receive state of a lossy window: 8 runs, ack delay, credit.
    name: "data+ack-8-ranges",
    bundle: create(BundleSchema, {
      messages: bundleOf({ body: { case: "data", value: { body: new Uint8Array(100).fill(0x5a) } } }).messages,
      ack: { ranges: [2, 3, 1, 5, 4, 1, 1, 2, 7, 3, 1, 1, 12, 6, 2, 30], ackDelayUs: 1800, messageCredit: 4242 },
    }),
  },
];

/** Envelopes a peer decodes from delivered messages (AppData has its own fast path in src/peer/envelope.ts). */
const envelopes: { name: string; envelope: EnvelopeInit }[] = [
  { name: "alive", envelope: alive },
  { name: "goodbye", envelope: { body: { case: "goodbye", value: { reason: "SIGTERM" } } } },
];

let sink = 0;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

interface Row {
  case: string;
  op: string;
  frameNs: number;
  bareNs: number;
  ratio: number;
  framesPerSecond: number;
  verdict: string;
}
const rows: Row[] = [];

/** Measures `mine` against `bare` in alternating rounds and records the medians. */
function compare(name: string, op: string, mine: () => void, bare: () => void): void {
  const ratios: number[] = [];
  const mineTimes: number[] = [];
  const bareTimes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first so drift in machine load hits both alike.
    const [a, b] =
      r % 2 === 0
        ? [measure(mine, msPerRun), measure(bare, msPerRun)]
        : (() => {
            const y = measure(bare, msPerRun);
            const x = measure(mine, msPerRun);
            return [x, y];
          })();
    mineTimes.push(a);
    bareTimes.push(b);
    ratios.push(a / b);
  }
  const ratio = median(ratios);
  rows.push({
    case: name,
    op,
    frameNs: median(mineTimes),
    bareNs: median(bareTimes),
    ratio,
    framesPerSecond: 1e9 / median(mineTimes),
    verdict: ratio <= TARGET ? "PASS" : "MISS",
  });
}

for (const c of cases) {
  const frame: Frame = {
    type: FrameType.Data,
    flags: FrameFlag.Ack,
    senderId: 7,
    receiverId: 3,
    senderEpoch: 0x9e3779b9,
    receiverEpoch: 0x12345678,
    seq: 1234,
    ack: 987,
    sack: 0b1011,
    payload: c.bundle,
  };
  const frameBytes = encodeFrame(frame);
  const payloadBytes = toBinary(BundleSchema, c.bundle);
  const decoded = decodeFrame(frameBytes);
  if (!decoded.ok) throw new Error(`benchmark frame does not decode: ${decoded.reason}`);

  const pairs: [string, () => void, () => void][] = [
    [
      "encode",
      () => {
        sink += encodeFrame(frame).length;
      },
      () => {
        sink += toBinary(BundleSchema, c.bundle).length;
      },
    ],
    [
      "decode",
      () => {
        const r = decodeFrame(frameBytes);
        sink += r.ok ? r.frame.seq : 0;
      },
      () => {
        sink += fromBinary(BundleSchema, payloadBytes).messages.length;
      },
    ],
  ];
  for (const [op, framed, bare] of pairs) compare(`${c.name} (${frameBytes.length} B frame)`, op, framed, bare);
}

for (const e of envelopes) {
  const bytes = toBinary(EnvelopeSchema, create(EnvelopeSchema, e.envelope));
  compare(
    `envelope ${e.name} (${bytes.length} B)`,
    "decode",
    () => {
      sink += decodeEnvelopeFast(bytes)?.body.case === undefined ? 0 : 1;
    },
    () => {
      sink += fromBinary(EnvelopeSchema, bytes).body.case === undefined ? 0 : 1;
    },
  );
}

console.log(`codec benchmark: ${rounds} alternating rounds of ${msPerRun} ms per measurement, bun ${Bun.version}`);
console.log("case                               op      frame ns/op  protobuf ns/op  ratio  frames/s    target ≤1.25");
for (const r of rows) {
  console.log(
    `${r.case.padEnd(34)} ${r.op.padEnd(7)} ${r.frameNs.toFixed(0).padStart(11)} ${r.bareNs.toFixed(0).padStart(15)} ${r.ratio
      .toFixed(2)
      .padStart(6)} ${Math.round(r.framesPerSecond).toLocaleString("en").padStart(10)}    ${r.verdict}`,
  );
}
console.log(JSON.stringify({ bench: "codec", bun: Bun.version, rows, sink: sink > 0 }));
