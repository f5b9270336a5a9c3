/**
 * The simulator's adversary (docs/security.md): a node outside the group, at
 * its own address, that overhears the group's datagrams (but not the path
 * challenges, whose tokens only the addressed peer may see) and, now and
 * then until the faults heal, sends one of:
 *
 * - a genuine datagram it overheard, replayed to its original receiver;
 * - a genuine PATH_CHALLENGE that reached its receiver, replayed while both
 *   processes still run, from its own address, with a third party's address
 *   forged as the source, or with the genuine sender's forged: no answer
 *   may reach the first two (a copy must never be answered again);
 * - a forged frame in a member's name: a restart (new epoch) with an Alive,
 *   an ACK with real epochs, a hosts mismatch, a message, membership news
 *   that a live member left, or a PATH_RESPONSE with a guessed token. In key
 *   mode it has no key: half its forgeries are plain, half sealed with a
 *   key of its own;
 * - from the address of a member that is down (anyone on a shared host can
 *   bind it then), gossip that a live member left, in a third party's name
 *   or in the member's own.
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
import { accuracyEnforced } from "./membership-checker.ts";
import type { Rng } from "./rng.ts";
import type { Checker, SimWorld } from "./simulate.ts";

/** Every message the adversary forges starts with this; a delivery of one is a violation. */
export const FORGED_PREFIX = "adversary:";
/** Genuine datagrams remembered for replay; at the limit the oldest is forgotten. */
const OVERHEARD_MAX = 64;
/** Challenges seen delivered, remembered for replay; at the limit the oldest is forgotten. */
const CHALLENGES_MAX = 16;

/** What the adversary may ask of the simulation: which processes run, and where to report. */
export interface AdversaryWorld {
  /** The current process's epoch of a member, 0 while it is down. */
  epochOf(id: number): number;
  /** Reports a violation the adversary itself observes (an answer to a replayed challenge). */
  violate(message: string): void;
}

interface DeliveredChallenge {
  from: number;
  to: number;
  bytes: Uint8Array;
  fromEpoch: number;
  toEpoch: number;
}

export class Adversary {
  readonly address: number;
  /** An address nobody binds, forged as the source of replayed challenges. */
  readonly thirdParty: number;
  /** Actions taken, for the summary. */
  actions = 0;
  /** Of those: challenges replayed, and goodbyes gossiped from a down member's address. */
  challengeReplays = 0;
  downGoodbyes = 0;
  private readonly transport: MemoryTransport;
  private readonly overheard: { to: number; bytes: Uint8Array }[] = [];
  private readonly challenges: DeliveredChallenge[] = [];
  /** Current epochs as read from overheard headers: the adversary knows them, as anyone on the path would. */
  private readonly epochs = new Map<number, number>();
  private readonly ownKey: Keyring;

  constructor(
    private readonly peers: number,
    private readonly network: MemoryNetwork,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly everyMs: number,
    private readonly until: () => boolean,
    private readonly world: AdversaryWorld,
  ) {
    this.address = peers + 1;
    this.thirdParty = peers + 2;
    this.transport = network.bind(this.address);
    // It answers nothing: what peers send it is only proof they did not believe it.
    this.transport.listen({ datagram: () => {}, drain: () => {}, error: () => {} });
    this.ownKey = new Keyring([Uint8Array.from({ length: 32 }, () => rng.int(0, 255))]);
    this.schedule();
  }

  /** Sees a datagram between members (not its own). */
  overhear(from: number, to: number, bytes: Uint8Array): void {
    if (from > this.peers || bytes.length < HEADER_BYTES) return;
    // Genuine challenges never come from these addresses: an answer to one answers a replay.
    if ((to === this.address || to === this.thirdParty) && bytes[3] === FrameType.PathResponse)
      this.world.violate(
        `peer ${from} answered a PATH_CHALLENGE replayed from ${to === this.address ? "the adversary's address" : "a forged third-party address"}`,
      );
    this.epochs.set(from, ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0);
    const type = bytes[3];
    // Challenges and answers go only to the address they test; an off-path attacker never sees them.
    if (type === FrameType.PathChallenge || type === FrameType.PathResponse) return;
    if (this.overheard.length >= OVERHEARD_MAX) this.overheard.shift();
    this.overheard.push({ to, bytes: bytes.slice() });
  }

  /** A datagram between members reached its receiver: challenges are kept, with both processes, for replay. */
  delivered(from: number, to: number, bytes: Uint8Array): void {
    if (bytes.length < HEADER_BYTES || bytes[3] !== FrameType.PathChallenge) return;
    if (this.challenges.length >= CHALLENGES_MAX) this.challenges.shift();
    this.challenges.push({
      from,
      to,
      bytes: bytes.slice(),
      fromEpoch: this.world.epochOf(from),
      toEpoch: this.world.epochOf(to),
    });
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
    if (r.chance(0.15) && this.replayChallenge()) return;
    if (r.chance(0.15) && this.goodbyeFromDownMember()) return;
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
        const probe = gossip(
          subject,
          this.epochs.get(subject) ?? 1,
          1_000_000,
          r.chance(0.5) ? MemberState.LEFT : MemberState.FAILED,
          claimed,
        );
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
    this.transport.send([{ to: victim, bytes: encodeFrameBytes(frame.h, frame.body, this.maybeSealer(frame.h)) }]);
  }

  /** In key mode it has no key: half its forgeries are plain, half sealed with a key of its own. */
  private maybeSealer(h: FrameHeader) {
    const r = this.rng;
    return r.chance(0.5)
      ? this.ownKey.sealer(
          h.senderId,
          h.senderEpoch,
          Uint8Array.from({ length: 8 }, () => r.int(0, 255)),
        )
      : undefined;
  }

  /**
   * Replays a challenge that its receiver's current process already took,
   * while the challenger's process still runs, from one of three sources.
   * False when there is none.
   */
  private replayChallenge(): boolean {
    const current = this.challenges.filter(
      (c) => this.world.epochOf(c.from) === c.fromEpoch && this.world.epochOf(c.to) === c.toEpoch && c.toEpoch !== 0,
    );
    if (current.length === 0) return false;
    const c = current[this.rng.int(0, current.length - 1)]!;
    const source = [this.address, this.thirdParty, c.from][this.rng.int(0, 2)]!;
    this.network.transmit(source, { to: c.to, bytes: c.bytes });
    this.challengeReplays++;
    return true;
  }

  /**
   * From the address of a member that is down, gossip to a live member that
   * a third live member left: in the down member's name as reporter, or in
   * the subject's own (as a relayed goodbye). False when no member is down.
   */
  private goodbyeFromDownMember(): boolean {
    const r = this.rng;
    const down: number[] = [];
    for (let id = 1; id <= this.peers; id++) if (this.world.epochOf(id) === 0 && this.epochs.has(id)) down.push(id);
    if (down.length === 0 || this.peers < 3) return false;
    const claimed = down[r.int(0, down.length - 1)]!;
    const live: number[] = [];
    for (let id = 1; id <= this.peers; id++) if (this.world.epochOf(id) !== 0 && this.epochs.has(id)) live.push(id);
    if (live.length < 2) return false;
    const victim = live[r.int(0, live.length - 1)]!;
    const subjects = live.filter((id) => id !== victim);
    const subject = subjects[r.int(0, subjects.length - 1)]!;
    const probe = gossip(
      subject,
      this.epochs.get(subject)!,
      r.chance(0.5) ? 0 : 1_000_000,
      MemberState.LEFT,
      r.chance(0.5) ? claimed : subject,
    );
    const h: FrameHeader = {
      type: FrameType.Probe,
      flags: 0,
      senderId: claimed,
      receiverId: victim,
      senderEpoch: this.epochs.get(claimed)!,
      receiverEpoch: this.epochs.get(victim)!,
      seq: 0,
      ack: 0,
      sack: 0,
    };
    this.network.transmit(claimed, { to: victim, bytes: encodeFrameBytes(h, probe, this.maybeSealer(h)) });
    this.downGoodbyes++;
    return true;
  }
}

/** A GOSSIP probe carrying one membership update (arguments in the order the random draws are made). */
function gossip(id: number, epoch: number, incarnation: number, state: MemberState, reporter: number): Uint8Array {
  return encodeProbe({
    kind: ProbeKind.GOSSIP,
    probeId: 0,
    targetId: 0,
    targetEpoch: 0,
    updates: [{ id, epoch, incarnation, state, reporter }],
  });
}

/**
 * Requires the adversary to have changed nothing: no forged message
 * delivered, no restart or peer-up with an epoch no process of that peer
 * had, no member's address moved to the adversary, no hosts mismatch (every
 * simulated peer reads the same list), no member reported as left while its
 * process runs (simulated processes crash; none says goodbye; a relayed
 * goodbye it forged may end in `left` only where a suspicion may end in a
 * false failure: with partitions or over 10% loss), no answer to a
 * challenge replayed from its address or a forged third party's.
 */
export function adversaryChecker(world: SimWorld, adversaryAddress: number): Checker {
  const name = "adversary";
  const accuracy = accuracyEnforced(world.options.faults);
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
          // A relayed goodbye is a suspicion: with partitions or heavy loss a live member may fail
          // to refute it in time, as it may fail to refute any suspicion (the membership checker counts those).
          if (target?.peer?.epoch === event.epoch && (!event.relayed || accuracy))
            world.violate(
              name,
              `peer ${node.id} reported peer ${event.peer} left${event.relayed ? " on a relayed goodbye" : ""} while its process runs`,
            );
          return;
        }
      }
    },
  };
}
