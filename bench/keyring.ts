/**
 * Key mode (issue 11), one process: what sealing and opening a frame costs,
 * beside the same frame unsealed, and the parts of that cost, in alternating
 * rounds (medians). Used to explain `bench/udp.ts`'s key variants.
 *
 *   bun run bench/keyring.ts [--rounds 9] [--ms 150]
 *
 * The frame is a DATA frame with one 1300-byte message (rc-1300's) and one
 * with 33 coalesced 32-byte messages (about rc-32's). Besides the code in
 * src/security/keyring.ts, a few variants written here (never used by a
 * peer) measure what a change would save; each is first checked to produce
 * the same bytes as the real seal, or the same plaintext as the real open.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import { encodeAppDataEnvelope } from "../src/peer/envelope.ts";
import { deriveFrameKey, FrameSealer, Keyring } from "../src/security/keyring.ts";
import { SEAL_BYTES, TAG_BYTES } from "../src/security/seal-format.ts";
import { decodeFrame, encodeFrame, encodeFrameBytes, type Frame, FrameType, HEADER_BYTES } from "../src/wire/frame.ts";
import { measure } from "./lib/measure.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const rounds = arg("--rounds", 9);
const msPerRun = arg("--ms", 150);

let sink = 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const secret = crypto.getRandomValues(new Uint8Array(32));
const keyring = new Keyring([secret]);
const salt = crypto.getRandomValues(new Uint8Array(8));
const SENDER = 1;
const EPOCH = 0x12345678;
const sealer = keyring.sealer(SENDER, EPOCH, salt);
const rawFrameKey = deriveFrameKey(secret, SENDER, EPOCH, salt);
const frameKeyObject = createSecretKey(rawFrameKey);
const rawFrameKeyBuffer = Buffer.from(rawFrameKey);

function dataFrame(messages: Uint8Array[]): Frame {
  return {
    type: FrameType.Data,
    flags: 0,
    senderId: SENDER,
    receiverId: 2,
    senderEpoch: EPOCH,
    receiverEpoch: 0x9abcdef0,
    seq: 1000,
    ack: 0,
    sack: 0,
    payload: { messages },
  } as unknown as Frame;
}
const shapes = [
  { name: "1×1300 B", frame: dataFrame([encodeAppDataEnvelope(new Uint8Array(1300).fill(7))]) },
  {
    name: "33×32 B",
    frame: dataFrame(Array.from({ length: 33 }, () => encodeAppDataEnvelope(new Uint8Array(32).fill(7)))),
  },
];

// ------------------------------------------------------------ variants of the seal and the open

function nonceOf(packetNumber: number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setUint32(8, packetNumber);
  return nonce;
}

/** The real seal's cipher work on a ready frame (no header writes): as FrameSealer.seal does it. */
function sealLike(frame: Uint8Array, key: KeyObject | Buffer, pn: number): void {
  const bodyStart = HEADER_BYTES + SEAL_BYTES - TAG_BYTES;
  const bodyEnd = frame.length - TAG_BYTES;
  const cipher = createCipheriv("aes-256-gcm", key, nonceOf(pn));
  cipher.setAAD(frame.subarray(0, bodyStart));
  const encrypted = cipher.update(frame.subarray(bodyStart, bodyEnd));
  cipher.final();
  frame.set(encrypted, bodyStart);
  frame.set(cipher.getAuthTag(), bodyEnd);
}

/** openWith as in keyring.ts, the frame key given as a KeyObject or raw bytes, the AAD copied or not. */
function openLike(frame: Uint8Array, key: KeyObject | Buffer, copyAad: boolean): Uint8Array | undefined {
  const bodyStart = HEADER_BYTES + SEAL_BYTES - TAG_BYTES;
  const bodyEnd = frame.length - TAG_BYTES;
  const pn =
    (frame[HEADER_BYTES + 16]! << 24) |
    (frame[HEADER_BYTES + 17]! << 16) |
    (frame[HEADER_BYTES + 18]! << 8) |
    frame[HEADER_BYTES + 19]!;
  let aad: Uint8Array;
  let saved = 0;
  if (copyAad) {
    aad = frame.slice(0, bodyStart);
    aad.fill(0, 32, 36);
  } else {
    // Zero the checksum in place and put it back afterwards: no copy.
    saved = new DataView(frame.buffer, frame.byteOffset).getUint32(32);
    frame.fill(0, 32, 36);
    aad = frame.subarray(0, bodyStart);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonceOf(pn >>> 0));
    decipher.setAAD(aad);
    decipher.setAuthTag(frame.subarray(bodyEnd));
    const plain = decipher.update(frame.subarray(bodyStart, bodyEnd));
    decipher.final();
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch {
    return undefined;
  } finally {
    if (!copyAad) new DataView(frame.buffer, frame.byteOffset).setUint32(32, saved);
  }
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

// ------------------------------------------------------------ the cases

interface Case {
  group: string;
  name: string;
  op: () => void;
}
const cases: Case[] = [];
for (const shape of shapes) {
  const g = shape.name;
  const plainBytes = encodeFrame(shape.frame);
  const body = plainBytes.subarray(HEADER_BYTES);
  let pn = 1;
  // A sealer whose packet numbers never run out in a benchmark.
  const benchSealer = new FrameSealer(sealer.keyId, frameKeyObject, salt);
  const sealedBytes = encodeFrame(shape.frame, benchSealer);
  const check = decodeFrame(sealedBytes, keyring);
  if (!check.ok) throw new Error(`sealed frame does not open: ${check.reason}`);
  cases.push(
    {
      group: g,
      name: "encode plain (encodeFrameBytes)",
      op: () => (sink += encodeFrameBytes(shape.frame, body).length),
    },
    {
      group: g,
      name: "encode sealed (encodeFrameBytes)",
      op: () => (sink += encodeFrameBytes(shape.frame, body, benchSealer).length),
    },
    { group: g, name: "decode plain (decodeFrame)", op: () => (sink += decodeFrame(plainBytes).ok ? 1 : 0) },
    {
      group: g,
      name: "decode sealed (decodeFrame, key cached)",
      op: () => (sink += decodeFrame(sealedBytes, keyring).ok ? 1 : 0),
    },
  );
  const work = sealedBytes.slice();
  cases.push(
    {
      group: g,
      name: "seal: createCipheriv only (KeyObject)",
      op: () => (sink += createCipheriv("aes-256-gcm", frameKeyObject, nonceOf(pn++)) ? 1 : 0),
    },
    {
      group: g,
      name: "seal: createCipheriv only (raw key Buffer)",
      op: () => (sink += createCipheriv("aes-256-gcm", rawFrameKeyBuffer, nonceOf(pn++)) ? 1 : 0),
    },
    { group: g, name: "seal: cipher work as now (KeyObject)", op: () => sealLike(work, frameKeyObject, pn++) },
    { group: g, name: "seal: cipher work, raw key Buffer", op: () => sealLike(work, rawFrameKeyBuffer, pn++) },
    {
      group: g,
      name: "open: as now (KeyObject, AAD copied)",
      op: () => (sink += openLike(sealedBytes, frameKeyObject, true)!.length),
    },
    {
      group: g,
      name: "open: raw key Buffer, AAD copied",
      op: () => (sink += openLike(sealedBytes, rawFrameKeyBuffer, true)!.length),
    },
    {
      group: g,
      name: "open: KeyObject, AAD in place",
      op: () => (sink += openLike(sealedBytes, frameKeyObject, false)!.length),
    },
    {
      group: g,
      name: "open: frame-key cache key string",
      op: () => {
        const v = new DataView(sealedBytes.buffer, sealedBytes.byteOffset);
        const key = `${v.getUint32(HEADER_BYTES)}:${SENDER}:${EPOCH}:${v.getUint32(HEADER_BYTES + 4)}:${v.getUint32(HEADER_BYTES + 8)}`;
        sink += key.length;
      },
    },
    {
      group: g,
      name: "peer: saltKey (toHex of the 8-byte salt) + salt slice",
      op: () => (sink += toHex(sealedBytes.slice(HEADER_BYTES + 4, HEADER_BYTES + 12)).length),
    },
    {
      group: g,
      name: "peer: saltKey alternative (String.fromCharCode, no slice)",
      op: () => {
        const at = HEADER_BYTES + 4;
        const b = sealedBytes;
        sink += String.fromCharCode(
          b[at]!,
          b[at + 1]!,
          b[at + 2]!,
          b[at + 3]!,
          b[at + 4]!,
          b[at + 5]!,
          b[at + 6]!,
          b[at + 7]!,
        ).length;
      },
    },
    { group: g, name: "frame: CRC-32 of the whole frame", op: () => (sink += Bun.hash.crc32(sealedBytes)) },
  );
}
// Same output as the real code, or the variants measure something else.
{
  const f = encodeFrame(shapes[0]!.frame, new FrameSealer(sealer.keyId, frameKeyObject, salt, 77));
  const h = f.slice();
  h.fill(0, 32, 36);
  h.set(keyring.open(f, HEADER_BYTES, SENDER, EPOCH)!, HEADER_BYTES + SEAL_BYTES - TAG_BYTES);
  sealLike(h, rawFrameKeyBuffer, 77);
  if (!h.subarray(HEADER_BYTES + 20).every((b, i) => b === f[HEADER_BYTES + 20 + i]))
    throw new Error("sealLike differs from FrameSealer.seal");
  const a = openLike(f, rawFrameKeyBuffer, false);
  const b = openLike(f, frameKeyObject, true);
  const real = keyring.open(f, HEADER_BYTES, SENDER, EPOCH);
  if (!a || !b || !real || Buffer.compare(a, real) !== 0 || Buffer.compare(b, real) !== 0)
    throw new Error("openLike differs from Keyring.open");
}

console.log(`keyring benchmark: ${rounds} rounds × ${msPerRun} ms per case, bun ${Bun.version}`);
const ns = new Map<Case, number[]>(cases.map((c) => [c, []]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) ns.get(c)!.push(measure(c.op, msPerRun));
}
const out: Record<string, Record<string, number>> = {};
for (const shape of shapes) {
  const g = shape.name;
  const m = (name: string) => median(ns.get(cases.find((c) => c.group === g && c.name === name)!)!);
  console.log(`\n${g} (frame ${encodeFrame(shape.frame).length} B plain, +${SEAL_BYTES} sealed): ns per frame, median`);
  out[g] = {};
  for (const c of cases.filter((c) => c.group === g)) {
    const v = median(ns.get(c)!);
    out[g][c.name] = Math.round(v);
    console.log(`  ${c.name.padEnd(56)} ${v.toFixed(0).padStart(7)}`);
  }
  const encodeExtra = m("encode sealed (encodeFrameBytes)") - m("encode plain (encodeFrameBytes)");
  const decodeExtra = m("decode sealed (decodeFrame, key cached)") - m("decode plain (decodeFrame)");
  console.log(
    `  => sealing adds ${encodeExtra.toFixed(0)} ns per frame sent, opening ${decodeExtra.toFixed(0)} ns per frame received (+ saltKey in Peer)`,
  );
}
console.log(JSON.stringify({ bench: "keyring", bun: Bun.version, ns: out }));
if (sink === 0.5) console.log(sink);
