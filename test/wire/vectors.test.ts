import { describe, expect, test } from "bun:test";
import { fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { fromHex, toHex } from "../../scripts/lib/hex.ts";
import { AckSchema, EnvelopeSchema, GroupMessageSchema, ProbeSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { decodeEnvelope } from "../../src/peer/envelope.ts";
import { Keyring, keyIdOf } from "../../src/security/keyring.ts";
import { GROUP_CHANNEL } from "../../src/wire/channels.ts";
import { decodeFrame, encodeFrame, FrameFlag, FrameType } from "../../src/wire/frame.ts";
import vectors from "../vectors/frames.json";

describe("golden vectors: valid frames", () => {
  for (const v of vectors.valid) {
    test(`${v.name} decodes to the stated fields and re-encodes byte-identically`, () => {
      const bytes = fromHex(v.hex);
      const result = decodeFrame(bytes);
      if (!result.ok) throw new Error(`${v.name}: rejected as ${result.reason}: ${result.detail}`);
      const { checksum, ...header } = v.header;
      const { payload, ...decodedHeader } = result.frame;
      expect(decodedHeader).toEqual(header as typeof decodedHeader);
      if (result.frame.type === FrameType.PathChallenge || result.frame.type === FrameType.PathResponse)
        expect(toHex(result.frame.payload)).toBe(v.payload.path!);
      expect(new DataView(bytes.buffer).getUint32(32)).toBe(checksum);
      if (result.frame.type === FrameType.Data) {
        const bundle = result.frame.payload;
        expect(bundle.messages.map(toHex)).toEqual(v.payload.bundle?.messages ?? []);
        const fragment = v.payload.bundle?.fragment;
        if (fragment) {
          expect(bundle.fragment?.totalLength).toBe(fragment.totalLength);
          expect(bundle.fragment?.offset).toBe(fragment.offset);
          expect(toHex(bundle.fragment?.data ?? new Uint8Array())).toBe(fragment.data);
        } else {
          expect(bundle.fragment).toBeUndefined();
        }
        const ack = v.payload.bundle?.ack;
        if (ack) expect(toJson(AckSchema, bundle.ack!)).toEqual(ack as never);
        else expect(bundle.ack).toBeUndefined();
        // The documented envelopes are exactly the bytes carried.
        if (v.envelopes) {
          const encoded = v.envelopes.map((e) => toHex(toBinary(EnvelopeSchema, fromJson(EnvelopeSchema, e as never))));
          expect(encoded).toEqual(bundle.messages.map(toHex));
        }
        // Channel 1's bodies are the GroupMessages stated.
        const groups = (v as { groupMessages?: (object | null)[] }).groupMessages;
        if (groups) {
          groups.forEach((g, i) => {
            const envelope = decodeEnvelope(bundle.messages[i]!);
            if (g === null) return;
            expect(envelope.body.case).toBe("module");
            const module = envelope.body.value as { channel: number; body: Uint8Array };
            expect(module.channel).toBe(GROUP_CHANNEL);
            expect(toJson(GroupMessageSchema, fromBinary(GroupMessageSchema, module.body))).toEqual(g as never);
          });
        }
      } else if (result.frame.type === FrameType.Probe) {
        expect(toJson(ProbeSchema, result.frame.payload)).toEqual(v.payload.probe as never);
      } else if (result.frame.type === FrameType.Ack) {
        expect(toJson(AckSchema, result.frame.payload)).toEqual(v.payload.ack as never);
      }
      expect(toHex(encodeFrame(result.frame))).toBe(v.hex);
    });

    test(`${v.name} truncated at every length is rejected, never thrown`, () => {
      const bytes = fromHex(v.hex);
      for (let length = 0; length < bytes.length; length++) {
        const result = decodeFrame(bytes.subarray(0, length));
        expect(result.ok).toBe(false);
      }
    });

    test(`${v.name} with one trailing byte is rejected as trailing-bytes`, () => {
      const bytes = fromHex(v.hex);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      const result = decodeFrame(longer);
      expect(result.ok ? "accepted" : result.reason).toBe(bytes.length + 1 > 1400 ? "too-large" : "trailing-bytes");
    });
  }
});

describe("golden vectors: invalid frames", () => {
  for (const v of vectors.invalid) {
    test(`${v.name} is rejected as ${v.reason}`, () => {
      const result = decodeFrame(fromHex(v.hex));
      expect(result.ok ? "accepted" : result.reason).toBe(v.reason);
    });
  }

  test("covers every rejection reason", async () => {
    const { DECODE_FAILURES } = await import("../../src/wire/frame.ts");
    expect(new Set(vectors.invalid.map((v) => v.reason))).toEqual(new Set(DECODE_FAILURES));
  });
});

describe("golden vectors: sealed frames (key mode)", () => {
  const secrets = vectors.sealed.keys.map((k) => Uint8Array.from(Buffer.from(k, "base64")));
  const keyring = new Keyring(secrets);
  for (const v of vectors.sealed.valid) {
    test(`${v.name} opens to the stated fields and re-seals byte-identically`, () => {
      const bytes = fromHex(v.hex);
      const result = decodeFrame(bytes, keyring);
      if (!result.ok) throw new Error(`${v.name}: rejected as ${result.reason}: ${result.detail}`);
      const { checksum, ...header } = v.header;
      const { payload, seal, ...decodedHeader } = result.frame;
      expect(decodedHeader).toEqual(header as typeof decodedHeader);
      expect(decodedHeader.flags & FrameFlag.Sealed).toBe(FrameFlag.Sealed);
      expect(seal!.keyId.toString(16).padStart(8, "0")).toBe(v.keyId);
      const salt = new Uint8Array(8);
      new DataView(salt.buffer).setUint32(0, seal!.saltHi);
      new DataView(salt.buffer).setUint32(4, seal!.saltLo);
      expect(toHex(salt)).toBe(v.processSalt);
      expect(seal!.packetNumber).toBe(v.packetNumber);
      // A keyless receiver cannot read it.
      expect(decodeFrame(bytes)).toMatchObject({ ok: false, reason: "unauthenticated" });
      const secret = secrets.find((k) => keyIdOf(k).toString(16).padStart(8, "0") === v.keyId)!;
      const frame = { ...result.frame, flags: result.frame.flags & ~FrameFlag.Sealed };
      const sealer = new Keyring([secret]).sealer(frame.senderId, frame.senderEpoch, salt, seal!.packetNumber);
      expect(toHex(encodeFrame(frame, sealer))).toBe(v.hex);
      for (let length = 0; length < bytes.length; length++)
        expect(decodeFrame(bytes.subarray(0, length), keyring).ok).toBe(false);
    });
  }
  for (const v of vectors.sealed.invalid) {
    test(`${v.name} is rejected as ${v.reason} by a receiver holding the keys`, () => {
      const result = decodeFrame(fromHex(v.hex), keyring);
      expect(result.ok ? "accepted" : result.reason).toBe(v.reason);
    });
  }
});

test("the committed vectors file is what scripts/make-vectors.ts produces", () => {
  const run = Bun.spawnSync([process.execPath, "run", "scripts/make-vectors.ts", "--stdout"], { stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  const committed = Bun.file(new URL("../vectors/frames.json", import.meta.url));
  return committed.text().then((text) => expect(run.stdout.toString()).toBe(text));
});
