/**
 * Two sessions wired back to back through the real frame codec, with a hand
 * on every datagram: tests decide which frames are lost and when time moves.
 */
import type { Ack, Bundle } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { DEFAULT_SESSION_CONFIG, type SessionConfig } from "../../src/reliability/config.ts";
import { type OutgoingFrame, Session, type SessionEvent } from "../../src/reliability/session.ts";
import { decodeFrame, encodeFrameBytes, type Frame, FrameType } from "../../src/wire/frame.ts";

export class End {
  private readonly seen: SessionEvent[] = [];
  readonly session: Session;
  constructor(
    readonly id: number,
    readonly epoch: number,
    config: SessionConfig,
  ) {
    this.session = new Session(config, epoch);
  }
  /** Every event the session has reported so far (polled on each read, as a driver polls after each input). */
  get events(): SessionEvent[] {
    for (let e = this.session.pollEvent(); e !== undefined; e = this.session.pollEvent()) this.seen.push(e);
    return this.seen;
  }
  delivered(): string[] {
    return this.events.flatMap((e) => (e.type === "delivered" ? [new TextDecoder().decode(e.message)] : []));
  }
  ofType<T extends SessionEvent["type"]>(type: T): Extract<SessionEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);
  }
}

export class Pair {
  now = 0;
  readonly a: End;
  readonly b: End;
  constructor(config: Partial<SessionConfig> = {}, epochs: [number, number] = [0xa, 0xb]) {
    const c = { ...DEFAULT_SESSION_CONFIG, ...config };
    this.a = new End(1, epochs[0], c);
    this.b = new End(2, epochs[1], c);
  }

  /** Encodes what `from` wants to send now, as real datagrams. */
  drain(from: End): Frame[] {
    const to = from === this.a ? this.b : this.a;
    const frames: Frame[] = [];
    for (let out = from.session.pollTransmit(this.now); out !== undefined; out = from.session.pollTransmit(this.now)) {
      frames.push(toFrame(from, to, out));
    }
    return frames;
  }

  /** Hands frames to their receiver; returns refusals. */
  deliver(to: End, frames: Frame[]): (string | undefined)[] {
    return frames.map((f) => to.session.handleFrame(this.now, f, ...sessionInputs(f)));
  }

  /** Exchanges everything both ways until quiet, optionally dropping frames. */
  settle(drop: (frame: Frame, from: End) => boolean = () => false, stepsMax = 10_000): void {
    for (let step = 0; step < stepsMax; step++) {
      const fromA = this.drain(this.a).filter((f) => !drop(f, this.a));
      const fromB = this.drain(this.b).filter((f) => !drop(f, this.b));
      this.deliver(this.b, fromA);
      this.deliver(this.a, fromB);
      if (fromA.length + fromB.length > 0) continue;
      const next = [this.a.session.pollTimeout(), this.b.session.pollTimeout()].filter((t) => t !== undefined);
      if (next.length === 0) return;
      this.now = Math.max(this.now, Math.min(...next));
      this.a.session.handleTimeout(this.now);
      this.b.session.handleTimeout(this.now);
    }
    throw new Error(`no quiet after ${stepsMax} steps`);
  }
}

export function toFrame(from: End, to: End, out: OutgoingFrame): Frame {
  const bytes = encodeFrameBytes(
    { ...out, senderId: from.id, receiverId: to.id, senderEpoch: from.epoch },
    out.payload,
    undefined,
    out.payloadTail,
  );
  const result = decodeFrame(bytes);
  if (!result.ok) throw new Error(`session produced an invalid frame: ${result.reason} ${result.detail}`);
  return result.frame;
}

/** The bundle and the Ack a decoded frame hands its session (as the peer does). */
export function sessionInputs(f: Frame): [Bundle | undefined, Ack | undefined] {
  if (f.type === FrameType.Data) return [f.payload, f.payload.ack];
  if (f.type === FrameType.Ack) return [undefined, f.payload];
  return [undefined, undefined];
}

export const text = (s: string) => new TextEncoder().encode(s);
