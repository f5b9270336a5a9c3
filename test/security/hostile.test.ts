/**
 * Attacks from a hostile socket on loopback, in both modes (docs/security.md).
 * Peer 1 is a real peer (`startPeer`); peer 3 runs the same drive loop over
 * a UDP transport that records every datagram it sends, so that the test
 * can replay genuine frames; the attacker is a plain UDP socket that crafts
 * frames from the wire spec and records what it is sent. Peer 2 is in the
 * hosts file but never runs: the attacker claims to be it.
 *
 * Every attack must change nothing: no READY, no peer-up, no restart, no
 * hosts mismatch, no delivery, no address change; and the genuine peers
 * keep talking afterwards.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import type { udp } from "bun";
import { BundleSchema, MemberState, ProbeKind } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { parseHosts } from "../../src/hosts/hosts.ts";
import { encodeAppDataEnvelope } from "../../src/peer/envelope.ts";
import { type LoopEvent, PeerLoop } from "../../src/runtime/loop.ts";
import { type RollcallEvent, type RollcallPeer, startPeer } from "../../src/runtime/rollcall-peer.ts";
import { realScheduler } from "../../src/runtime/scheduler.ts";
import type { Datagram } from "../../src/runtime/transport.ts";
import { type UdpAddress, UdpTransport } from "../../src/runtime/udp.ts";
import { Keyring } from "../../src/security/keyring.ts";
import { encodeFrame, encodeFrameBytes, FrameFlag, FrameType } from "../../src/wire/frame.ts";
import { encodeAliveEnvelope, encodeAliveReplyEnvelope, encodeProbe } from "../../src/wire/messages.ts";
import { portBlock } from "../process/group.ts";

const KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 3) & 0xff);
const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 5 + 77) & 0xff);
const FORGED = "forged by the attacker";

/** Peer 3: the real drive loop over UDP, every datagram it sends recorded. */
class TappedPeer {
  readonly sent: Datagram<UdpAddress>[] = [];
  readonly events: LoopEvent[] = [];
  loop!: PeerLoop<UdpAddress>;
  udp!: UdpTransport;

  static async start(names: string[], id: number, keyring: Keyring | undefined): Promise<TappedPeer> {
    const p = new TappedPeer();
    const hosts = parseHosts("hosts", names.join("\n"));
    const entry = hosts.entries[id - 1]!;
    p.udp = await UdpTransport.bind(entry.host, entry.port);
    const udpSend = p.udp.send.bind(p.udp);
    p.udp.send = (batch) => {
      for (const d of batch) p.sent.push({ to: d.to, bytes: d.bytes.slice() });
      return udpSend(batch);
    };
    p.loop = new PeerLoop<UdpAddress>({
      peer: {
        selfId: id,
        epoch: 1 + Math.floor(Math.random() * 0xfffffffe),
        names: hosts.entries.map((e) => e.text),
        hostsDigest: hosts.digest,
        keyring,
      },
      transport: p.udp,
      scheduler: realScheduler,
      addresses: [undefined, ...hosts.entries.map((e) => ({ address: e.host, port: e.port }))],
      onEvent: (e) => {
        p.events.push(e);
        return true;
      },
    });
    p.loop.start();
    return p;
  }

  /** Sends raw bytes from this peer's own socket: a replay from the genuine address. */
  replayFromHere(bytes: Uint8Array, to: UdpAddress): void {
    this.udp.send([{ to, bytes }]);
  }

  stop(): void {
    this.loop.stop();
  }
}

class Attacker {
  readonly received: Uint8Array[] = [];
  socket!: udp.Socket<"uint8array">;

  static async start(port?: number): Promise<Attacker> {
    const a = new Attacker();
    a.socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port,
      binaryType: "uint8array",
      socket: { data: (_s, data) => void a.received.push(data.slice()) },
    });
    return a;
  }

  send(bytes: Uint8Array, port: number): void {
    this.socket.send(bytes, port, "127.0.0.1");
  }

  /** Frames of a type the attacker was sent. */
  receivedOfType(type: number): number {
    return this.received.filter((b) => b.length > 3 && b[3] === type).length;
  }

  stop(): void {
    this.socket.close();
  }
}

interface Harness {
  names: string[];
  ports: number[];
  p1: RollcallPeer;
  p1Events: RollcallEvent[];
  p3: TappedPeer;
  attacker: Attacker;
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const text = (s: string) => new TextEncoder().encode(s);
const delivered = (events: { type: string }[], body: string) =>
  events.some(
    (e) => e.type === "message" && new TextDecoder().decode((e as unknown as { body: Uint8Array }).body) === body,
  );

/** Peers 1 and 3 up with each other (peer 2 never runs), and the attacker's socket. */
async function harness(keyring: Keyring | undefined): Promise<Harness> {
  const base = portBlock(3);
  const ports = [base, base + 1, base + 2];
  const names = ports.map((p) => `127.0.0.1:${p}`);
  const p1Events: RollcallEvent[] = [];
  const p1 = await startPeer({
    hosts: names,
    name: names[0]!,
    keyring,
    onEvent: (e) => void p1Events.push(e),
  });
  cleanup.push(() => p1.close("test", 200).then(() => {}));
  const p3 = await TappedPeer.start(names, 3, keyring);
  cleanup.push(() => p3.stop());
  const attacker = await Attacker.start();
  cleanup.push(() => attacker.stop());
  await until("peers 1 and 3 up", () => p1.peersUp.includes(3) && p3.loop.peer.peersUp.includes(1));
  return { names, ports, p1, p1Events, p3, attacker };
}

/** A frame as the attacker makes it: plain, or sealed with a key it does not have. */
function forge(
  h: Partial<Parameters<typeof encodeFrameBytes>[0]>,
  body: Uint8Array,
  sealWith: Keyring | undefined,
): Uint8Array {
  const header = {
    type: FrameType.Data,
    flags: 0,
    senderId: 2,
    receiverId: 1,
    senderEpoch: 0x0badf00d,
    receiverEpoch: 0,
    seq: 1,
    ack: 0,
    sack: 0,
    ...h,
  } as Parameters<typeof encodeFrameBytes>[0];
  const sealer = sealWith?.sealer(header.senderId, header.senderEpoch, new Uint8Array(8));
  return encodeFrameBytes(header, body, sealer);
}

const bundle = (...messages: Uint8Array[]) => toBinary(BundleSchema, create(BundleSchema, { messages }));
const forgedAlive = (id: number, epoch: number, digest: Uint8Array) =>
  bundle(
    encodeAliveEnvelope({ name: "x", id, epoch, hostsDigest: digest, peerCount: 3, agent: "attacker" }),
    encodeAppDataEnvelope(text(FORGED)),
  );

/** After an attack: the genuine pair still talks both ways, and nothing changed at peer 1. */
async function assertUnharmed(h: Harness, round: string): Promise<void> {
  const { p1, p1Events, p3, attacker } = h;
  expect(p1.peersUp).toEqual([3]);
  expect(p1.isReady).toBe(false);
  const kinds = new Set(p1Events.map((e) => e.type));
  for (const bad of ["peerRestarted", "hostsMismatch", "ready"]) expect(kinds.has(bad as never)).toBe(false);
  expect(p1Events.filter((e) => e.type === "peerAddress")).toEqual([]);
  expect(p1Events.some((e) => e.type === "peerUp" && e.peer === 2)).toBe(false);
  expect(delivered(p1Events, FORGED)).toBe(false);
  p1.send(3, text(`1->3 ${round}`));
  p3.loop.send(1, text(`3->1 ${round}`));
  await until(
    `messages of round ${round}`,
    () => delivered(p3.events, `1->3 ${round}`) && delivered(p1Events, `3->1 ${round}`),
  );
  // Peer 1 never sent its data to the attacker.
  expect(attacker.receivedOfType(FrameType.Data)).toBe(0);
  expect(attacker.receivedOfType(FrameType.Ack)).toBe(0);
}

for (const mode of ["plain", "key"] as const) {
  describe(`hostile socket, ${mode} mode`, () => {
    const keyring = mode === "key" ? new Keyring([KEY]) : undefined;
    /** What the attacker can produce: in key mode it has no key, so its seals use another. */
    const attackerSeal = mode === "key" ? new Keyring([OTHER_KEY]) : undefined;

    test("forged Alive, restart, ACK, hosts mismatch and app data from another port change nothing", async () => {
      const h = await harness(keyring);
      const { p1, p3, attacker, ports } = h;
      const digest = p1.hosts.digest;
      const p3Epoch = p3.loop.peer.epoch;
      const p1Epoch = p1.epoch;
      for (let round = 0; round < 3; round++) {
        // 1. Claims to be peer 2 (never started): would make peer 1 READY.
        attacker.send(forge({}, forgedAlive(2, 0x0badf00d, digest), attackerSeal), ports[0]!);
        // 2. Claims peer 3 restarted with a new epoch, and carries a message.
        attacker.send(
          forge({ senderId: 3, senderEpoch: 0x5eed5eed }, forgedAlive(3, 0x5eed5eed, digest), attackerSeal),
          ports[0]!,
        );
        // 3. An ACK with peer 3's real epoch, addressed to peer 1's real epoch: would redirect peer 1's traffic.
        attacker.send(
          forge(
            {
              type: FrameType.Ack,
              flags: FrameFlag.Ack,
              senderId: 3,
              senderEpoch: p3Epoch,
              receiverEpoch: p1Epoch,
              seq: 0,
            },
            new Uint8Array(0),
            attackerSeal,
          ),
          ports[0]!,
        );
        // 4. A hosts mismatch inside the session, at every seq the window may expect, with peer 3's real epoch.
        for (let seq = 1; seq <= 40; seq++) {
          const reply = encodeAliveReplyEnvelope({
            id: 3,
            epoch: p3Epoch,
            hostsDigest: new Uint8Array(32),
            accepted: false,
          });
          attacker.send(
            forge({ senderId: 3, senderEpoch: p3Epoch, receiverEpoch: p1Epoch, seq }, bundle(reply), attackerSeal),
            ports[0]!,
          );
        }
        await Bun.sleep(150);
        await assertUnharmed(h, `forged-${round}`);
      }
      const drops = p1.stats().drops;
      if (mode === "key") expect(drops.unauthenticated).toBeGreaterThanOrEqual(3 * 43);
      else expect(drops["unvalidated-address"]).toBeGreaterThanOrEqual(3 * 43);
      // Without a key, peer 1 checks by asking the claimed peer's hosts-file address, never the attacker's.
      expect(attacker.received.length).toBe(0);
    });

    test("genuine frames replayed, from another port and from the genuine address, change nothing", async () => {
      const h = await harness(keyring);
      const { p1, p1Events, p3, attacker, ports } = h;
      p3.loop.send(1, text("original"));
      await until("the original delivered", () => delivered(p1Events, "original"));
      const toPeer1 = p3.sent.filter((d) => d.to.port === ports[0]);
      const data = toPeer1.filter((d) => d.bytes[3] === FrameType.Data);
      expect(data.length).toBeGreaterThan(0);
      const before = p1Events.filter((e) => e.type === "message").length;
      for (const d of toPeer1) attacker.send(d.bytes, ports[0]!);
      for (const d of toPeer1) p3.replayFromHere(d.bytes, { address: "127.0.0.1", port: ports[0]! });
      await Bun.sleep(200);
      expect(p1Events.filter((e) => e.type === "message").length).toBe(before);
      await assertUnharmed(h, "replayed");
      // Frames peer 1 read once are refused as replays; the rest (dropped at first contact) are duplicates to the session.
      if (mode === "key") expect(p1.stats().drops.replayed).toBeGreaterThan(0);
      if (mode === "plain") {
        // Without a key, peer 1 checks a replay's address by asking peer 3's hosts-file address, never the attacker's.
        expect(attacker.received.length).toBe(0);
      } else {
        // With one, peer 3's recorded challenges are among the replays: each was answered once, and no copy is.
        expect(toPeer1.some((d) => d.bytes[3] === FrameType.PathChallenge)).toBe(true);
        expect(attacker.receivedOfType(FrameType.PathResponse)).toBe(0);
        // It may challenge the attacker's address, sealed: nothing readable.
        for (const b of attacker.received) {
          expect(b[3]).toBe(FrameType.PathChallenge);
          expect(b[4]! & FrameFlag.Sealed).toBe(FrameFlag.Sealed);
        }
      }
    });

    if (mode === "key") {
      test("an authenticated frame of peer 3's previous processes, replayed from its own address after 17 restarts, is not a restart", async () => {
        const h = await harness(keyring);
        const { p1, p1Events, p3, names, ports } = h;
        const firstProcessFrames = p3.sent.filter((d) => d.to.port === ports[0]).map((d) => d.bytes);
        p3.stop();
        let current = p3;
        for (let restart = 1; restart <= 17; restart++) {
          current = await TappedPeer.start(names, 3, keyring);
          const epoch = current.loop.peer.epoch;
          await until(`restart ${restart} seen`, () =>
            p1Events.some((e) => e.type === "peerRestarted" && e.peer === 3 && e.newEpoch === epoch),
          );
          if (restart < 17) current.stop();
        }
        cleanup.push(() => current.stop());
        const restarts = p1Events.filter((e) => e.type === "peerRestarted").length;
        for (const bytes of firstProcessFrames)
          current.replayFromHere(bytes, { address: "127.0.0.1", port: ports[0]! });
        await Bun.sleep(300);
        expect(p1Events.filter((e) => e.type === "peerRestarted").length).toBe(restarts);
        expect(p1.stats().drops["unvalidated-process"]).toBeGreaterThan(0);
        p1.send(3, text("still the 17th"));
        await until("delivery to the current process", () => delivered(current.events, "still the 17th"));
      });

      test("a peer with another key is never believed, and the hint says the keys differ", async () => {
        const h = await harness(keyring);
        const { p1, p1Events, names } = h;
        const stranger = await TappedPeer.start(names, 2, new Keyring([OTHER_KEY]));
        cleanup.push(() => stranger.stop());
        await Bun.sleep(500);
        expect(p1.peersUp).toEqual([3]);
        expect(p1.isReady).toBe(false);
        expect(p1.stats().drops.unauthenticated).toBeGreaterThan(0);
        const hint = p1Events.find((e) => e.type === "unauthenticated");
        expect(hint).toMatchObject({ claimedPeer: 2 });
        expect((hint as { hint: string }).hint).toMatch(/key files differ/);
        expect(stranger.loop.peer.peersUp).toEqual([]);
      });

      test("key rotation: peers whose files list two keys in opposite order all get READY", async () => {
        const base = portBlock(3);
        const names = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
        const events: RollcallEvent[][] = [[], [], []];
        const orders = [
          [KEY, OTHER_KEY],
          [OTHER_KEY, KEY],
          [OTHER_KEY, KEY],
        ];
        const peers = await Promise.all(
          names.map((name, i) =>
            startPeer({
              hosts: names,
              name,
              keyring: new Keyring(orders[i]!),
              onEvent: (e) => void events[i]!.push(e),
            }),
          ),
        );
        cleanup.push(async () => {
          await Promise.all(peers.map((p) => p.close("test", 200)));
        });
        await Promise.all(peers.map((p) => p.ready));
        for (const p of peers) expect(p.stats().drops.unauthenticated ?? 0).toBe(0);
      });
    }

    test("a goodbye for live peer 3 gossiped from crashed peer 2's own address evicts nobody", async () => {
      const h = await harness(keyring);
      const { p1, p1Events, p3, names, ports } = h;
      // Peer 2 runs until peer 1 knows it, then crashes (no goodbye); its address is free again.
      const p2 = await TappedPeer.start(names, 2, keyring);
      await until("peer 1 knows peer 2", () => p1.members()[1]!.state === "alive");
      const p2Epoch = p2.loop.peer.epoch;
      p2.stop();
      // Anyone on a shared host can bind the address of a member that is down.
      const squatter = await Attacker.start(ports[1]);
      cleanup.push(() => squatter.stop());
      const p3Epoch = p3.loop.peer.epoch;
      const gossip = (reporter: number) =>
        encodeProbe({
          kind: ProbeKind.GOSSIP,
          probeId: 0,
          targetId: 0,
          targetEpoch: 0,
          updates: [{ id: 3, epoch: p3Epoch, incarnation: 0, state: MemberState.LEFT, reporter }],
        });
      const ignoredBefore = p1.stats().membership.updatesIgnored;
      // A third party's word (reporter 2), then the goodbye claimed as relayed in 3's own name.
      for (const reporter of [2, 3]) {
        for (let i = 0; i < 3; i++)
          squatter.send(
            forge(
              { type: FrameType.Probe, seq: 0, senderEpoch: p2Epoch, receiverEpoch: p1.epoch },
              gossip(reporter),
              attackerSeal,
            ),
            ports[0]!,
          );
        await Bun.sleep(100);
      }
      // Peer 3 answers probes, so it refutes whatever suspicion the relayed claim raised.
      await until("peer 1 sees peer 3 alive", () => p1.members()[2]!.state === "alive", 5000);
      await Bun.sleep(1000);
      expect(p1Events.filter((e) => e.type === "peerLeft")).toEqual([]);
      expect(p1.members()[2]).toMatchObject({ state: "alive", epoch: p3Epoch });
      if (mode === "plain") {
        expect(p1.stats().membership.updatesIgnored - ignoredBefore).toBeGreaterThanOrEqual(3);
        expect(p3.loop.peer.membershipStats.refutations).toBeGreaterThanOrEqual(1);
      } else expect(p1.stats().drops.unauthenticated).toBeGreaterThanOrEqual(6);
      p1.send(3, text("after the forged goodbye"));
      await until("delivery to peer 3", () => delivered(p3.events, "after the forged goodbye"));
    });

    test("a flood of forged frames: memory stays bounded and the pair keeps talking", async () => {
      const h = await harness(keyring);
      const { p1, p1Events, p3, attacker, ports } = h;
      Bun.gc(true);
      const heapBefore = process.memoryUsage().heapUsed;
      const digest = p1.hosts.digest;
      let sent = 0;
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 500; i++) {
          const epoch = 1 + ((burst * 500 + i) % 0xfffffff0);
          const frame =
            i % 3 === 0
              ? forge({ senderId: 3, senderEpoch: epoch }, forgedAlive(3, epoch, digest), attackerSeal)
              : i % 3 === 1
                ? forge(
                    { senderId: 2, senderEpoch: epoch, seq: i },
                    bundle(encodeAppDataEnvelope(text(FORGED))),
                    attackerSeal,
                  )
                : encodeFrame({
                    type: FrameType.PathChallenge,
                    flags: 0,
                    senderId: 3,
                    receiverId: 1,
                    senderEpoch: epoch,
                    receiverEpoch: 0,
                    seq: 0,
                    ack: 0,
                    sack: 0,
                    payload: new Uint8Array(8),
                  });
          attacker.send(frame, ports[0]!);
          sent++;
        }
        p1.send(3, text(`during ${burst}`));
        await Bun.sleep(5);
      }
      await until("every message sent during the flood", () => delivered(p3.events, "during 39"), 10_000);
      for (let burst = 0; burst < 40; burst++) expect(delivered(p3.events, `during ${burst}`)).toBe(true);
      Bun.gc(true);
      const heapGrowthBytes = process.memoryUsage().heapUsed - heapBefore;
      expect(heapGrowthBytes).toBeLessThan(16 * 1024 * 1024);
      expect(sent).toBe(20_000);
      expect(delivered(p1Events, FORGED)).toBe(false);
      await assertUnharmed(h, "after-flood");
      // Forged challenges get no answer: without a key they come from the wrong address, with one they do not open.
      expect(attacker.received.length).toBe(0);
    });
  });
}
