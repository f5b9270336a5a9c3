/**
 * The simulator's adversary (docs/security.md): a node outside the group, at
 * its own address, that overhears the group's datagrams (but not the path
 * challenges, whose tokens only the addressed peer may see) and, now and
 * then until the faults heal, sends one of:
 *
 * - a genuine datagram it overheard, replayed to its original receiver;
 * - a forged frame in a member's name: a restart (new epoch) with an Alive,
 *   an ACK with real epochs, a hosts mismatch, a message, membership news
 *   that a live member left, or a PATH_RESPONSE with a guessed token. In key
 *   mode it has no key: half its forgeries are plain, half sealed with a
 *   key of its own.
 *
 * `adversaryChecker` requires that none of it has any effect.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { BundleSchema, MemberState, ProbeKind } from "../gen/rollcall/v1/rollcall_pb.ts";
import { encodeAppDataEnvelope } from "../peer/envelope.ts";
import type { MemoryNetwork, MemoryTransport } from "../runtime/memory.ts";
import type { Scheduler } from "../runtime/scheduler.ts";
import { Keyring } from "../security/keyring.ts";
import { encodeFrameBytes, FrameFlag, type FrameHeader, FrameType, HEADER_BYTES } from "../wire/frame.ts";
import { encodeAliveEnvelope, encodeAliveReplyEnvelope, encodeProbe } from "../wire/messages.ts";
import type { Rng } from "./rng.ts";
import type { Checker, SimWorld } from "./simulate.ts";

/** Every message the adversary forges starts with this; a delivery of one is a violation. */
export const FORGED_PREFIX = "adversary:";
/** Genuine datagrams remembered for replay; at the limit the oldest is forgotten. */
const OVERHEARD_MAX = 64;

export class Adversary {
  readonly address: number;
  /** Actions taken, for the summary. */
  actions = 0;
  private readonly transport: MemoryTransport;
  private readonly overheard: { to: number; bytes: Uint8Array }[] = [];
  /** Current epochs as read from overheard headers: the adversary knows them, as anyone on the path would. */
  private readonly epochs = new Map<number, number>();
  private readonly ownKey: Keyring;

  constructor(
    private readonly peers: number,
    network: MemoryNetwork,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly everyMs: number,
    private readonly until: () => boolean,
  ) {
    this.address = peers + 1;
    this.transport = network.bind(this.address);
    // It answers nothing: what peers send it is only proof they did not believe it.
    this.transport.listen({ datagram: () => {}, drain: () => {}, error: () => {} });
    this.ownKey = new Keyring([Uint8Array.from({ length: 32 }, () => rng.int(0, 255))]);
    this.schedule();
  }

  /** Sees a datagram between members (not its own). */
  overhear(from: number, to: number, bytes: Uint8Array): void {
    if (from > this.peers || bytes.length < HEADER_BYTES) return;
    this.epochs.set(from, ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0);
    const type = bytes[3];
    // Challenges and answers go only to the address they test; an off-path attacker never sees them.
    if (type === FrameType.PathChallenge || type === FrameType.PathResponse) return;
    if (this.overheard.length >= OVERHEARD_MAX) this.overheard.shift();
    this.overheard.push({ to, bytes: bytes.slice() });
  }

  private schedule(): void {
    this.scheduler.at(this.scheduler.now() + this.rng.int(this.everyMs / 2, 2 * this.everyMs), () => {
      if (!this.until()) return;
      this.act();
      this.schedule();
    });
  }

  private act(): void {
    this.actions++;
    const r = this.rng;
    if (r.chance(0.4) && this.overheard.length > 0) {
      const d = this.overheard[r.int(0, this.overheard.length - 1)]!;
      this.transport.send([{ to: d.to, bytes: d.bytes }]);
      return;
    }
    if (this.peers < 2) return;
    const victim = r.int(1, this.peers);
    let claimed = r.int(1, this.peers - 1);
    if (claimed >= victim) claimed++;
    const claimedEpoch = this.epochs.get(claimed) ?? r.nonZeroU32();
    const victimEpoch = this.epochs.get(victim) ?? 0;
    const forgedBody = encodeAppDataEnvelope(new TextEncoder().encode(`${FORGED_PREFIX}${this.actions}`));
    const header = (h: Partial<FrameHeader>): FrameHeader => ({
      type: FrameType.Data,
      flags: 0,
      senderId: claimed,
      receiverId: victim,
      senderEpoch: claimedEpoch,
      receiverEpoch: victimEpoch,
      seq: r.int(1, 64),
      ack: 0,
      sack: 0,
      ...h,
    });
    const bundle = (...messages: Uint8Array[]) => toBinary(BundleSchema, create(BundleSchema, { messages }));
    let frame: { h: FrameHeader; body: Uint8Array };
    switch (r.int(0, 5)) {
      case 0: {
        const epoch = r.nonZeroU32();
        const alive = encodeAliveEnvelope({
          name: `peer-${claimed}`,
          id: claimed,
          epoch,
          hostsDigest: new Uint8Array(32).fill(7),
          peerCount: this.peers,
          agent: "adversary",
        });
        frame = { h: header({ senderEpoch: epoch, receiverEpoch: 0, seq: 1 }), body: bundle(alive, forgedBody) };
        break;
      }
      case 1:
        frame = {
          h: header({ type: FrameType.Ack, flags: FrameFlag.Ack, seq: 0, ack: r.int(0, 64) }),
          body: new Uint8Array(0),
        };
        if (victimEpoch === 0) return;
        break;
      case 2: {
        const reply = encodeAliveReplyEnvelope({
          id: claimed,
          epoch: claimedEpoch,
          hostsDigest: new Uint8Array(32),
          accepted: false,
        });
        frame = { h: header({}), body: bundle(reply) };
        break;
      }
      case 3:
        frame = { h: header({}), body: bundle(forgedBody) };
        break;
      case 4: {
        if (victimEpoch === 0) return;
        let subject = r.int(1, this.peers);
        if (subject === victim) subject = claimed;
        const probe = encodeProbe({
          kind: ProbeKind.GOSSIP,
          probeId: 0,
          targetId: 0,
          targetEpoch: 0,
          updates: [
            {
              id: subject,
              epoch: this.epochs.get(subject) ?? 1,
              incarnation: 1_000_000,
              state: r.chance(0.5) ? MemberState.LEFT : MemberState.FAILED,
              reporter: claimed,
            },
          ],
        });
        frame = { h: header({ type: FrameType.Probe, seq: 0 }), body: probe };
        break;
      }
      default:
        if (victimEpoch === 0) return;
        frame = {
          h: header({ type: FrameType.PathResponse, seq: 0 }),
          body: Uint8Array.from({ length: 8 }, () => r.int(0, 255)),
        };
    }
    const sealer = r.chance(0.5)
      ? this.ownKey.sealer(
          frame.h.senderId,
          frame.h.senderEpoch,
          Uint8Array.from({ length: 8 }, () => r.int(0, 255)),
        )
      : undefined;
    this.transport.send([{ to: victim, bytes: encodeFrameBytes(frame.h, frame.body, sealer) }]);
  }
}

/**
 * Requires the adversary to have changed nothing: no forged message
 * delivered, no restart or peer-up with an epoch no process of that peer
 * had, no member's address moved to the adversary, no hosts mismatch (every
 * simulated peer reads the same list), no member reported as left while its
 * process runs (simulated processes crash; none says goodbye).
 */
export function adversaryChecker(world: SimWorld, adversaryAddress: number): Checker {
  const name = "adversary";
  const epochs = new Map<number, Set<number>>();
  const address = `mem:${adversaryAddress}`;
  return {
    name,
    onStart(node) {
      const set = epochs.get(node.id) ?? new Set<number>();
      set.add(node.peer!.epoch);
      epochs.set(node.id, set);
    },
    onEvent(node, event) {
      const real = (peer: number, epoch: number) => epochs.get(peer)?.has(epoch) === true;
      switch (event.type) {
        case "message":
          if (new TextDecoder().decode(event.body.subarray(0, FORGED_PREFIX.length)) === FORGED_PREFIX)
            world.violate(name, `peer ${node.id} delivered a forged message from ${event.from}`);
          return;
        case "peerRestarted":
          if (!real(event.peer, event.newEpoch))
            world.violate(
              name,
              `peer ${node.id} took peer ${event.peer} restarted as epoch ${event.newEpoch}, which no process had`,
            );
          return;
        case "peerUp":
          if (!real(event.peer, event.epoch))
            world.violate(
              name,
              `peer ${node.id} counted peer ${event.peer} up with epoch ${event.epoch}, which no process had`,
            );
          return;
        case "peerAddress":
          if (event.address === address)
            world.violate(name, `peer ${node.id} moved peer ${event.peer} to the adversary's address`);
          return;
        case "hostsMismatch":
          world.violate(name, `peer ${node.id} evicted peer ${event.peer} for a hosts mismatch`);
          return;
        case "peerLeft": {
          const target = world.nodes[event.peer];
          if (target?.peer?.epoch === event.epoch)
            world.violate(name, `peer ${node.id} reported peer ${event.peer} left while its process runs`);
          return;
        }
      }
    },
  };
}
