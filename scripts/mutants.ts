/**
 * `npm run mutants`: plants known bugs one at a time in a copy of the tree and
 * checks that the tests (and a short simulator swarm) catch each one.
 *
 *   npm run mutants                 every mutant
 *   npm run mutants -- --only ID    one mutant (repeatable)
 *   npm run mutants -- --list       the mutants and what they break
 *
 * Each mutant is an exact text replacement in one source file. A mutant whose
 * text no longer occurs exactly once fails the run ("does not apply"), so the
 * list cannot rot silently when the code changes. For each mutant only the
 * tests that cover the code it touches run, then the swarm if it has one;
 * the mutant is killed as soon as one of them fails. Prints
 * `N killed, M survived` and exits 1 unless every mutant was killed.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface Mutant {
  id: string;
  /** What the planted bug does, as a user would notice it. */
  bug: string;
  file: string;
  from: string;
  to: string;
  /** Test files (or directories) that should fail. */
  tests: string[];
  /** Simulator swarm arguments, run after the tests if they pass. */
  swarm?: string[];
}

const SWARM_WITH_RESTARTS = ["--seeds", "60", "--seed", "1", "--crashes"];
const SIM_TESTS = ["test/sim/sim.test.ts"];
const SWARM_WITH_ADVERSARY = ["--seeds", "40", "--seed", "1", "--adversary"];
/** The group layer's checkers (src/sim/views.ts) under every fault, over few messages per process. */
const SWARM_VIEWS = [
  "--seeds",
  "40",
  "--seed",
  "1",
  "--workload",
  "views",
  "--messages",
  "20",
  "--no-adversary",
  "--no-key",
];

const MUTANTS: Mutant[] = [
  {
    id: "coalesced-reversed",
    bug: "messages coalesced in one frame are delivered in reverse order",
    file: "src/reliability/session.ts",
    from: "    for (const message of bundle.messages) {",
    to: "    for (const message of [...bundle.messages].reverse()) {",
    tests: ["test/reliability", ...SIM_TESTS],
  },
  {
    id: "first-app-message-dropped",
    bug: "the first application message of every stream is dropped",
    file: "src/peer/peer.ts",
    from: "    if (fastBody !== undefined) {\n      this.pushMessage(",
    to: "    if (fastBody !== undefined) {\n      const seen = ((this as unknown as { mutant?: Set<number> }).mutant ??= new Set());\n      const key = peer * 4294967296 + this.sessions[peer]!.remoteEpoch;\n      if (!seen.has(key)) {\n        seen.add(key);\n        return;\n      }\n      this.pushMessage(",
    tests: ["test/peer", ...SIM_TESTS],
  },
  {
    id: "first-message-after-restart-dropped",
    bug: "after a peer restarts, the first application message of its new process is dropped",
    file: "src/peer/peer.ts",
    from: "    if (fastBody !== undefined) {\n      this.pushMessage(",
    to: "    if (fastBody !== undefined) {\n      const epochs = ((this as unknown as { mutant?: Map<number, Set<number>> }).mutant ??= new Map());\n      const seen = epochs.get(peer) ?? new Set<number>();\n      epochs.set(peer, seen);\n      const epoch = this.sessions[peer]!.remoteEpoch;\n      if (!seen.has(epoch)) {\n        seen.add(epoch);\n        if (seen.size > 1) return;\n      }\n      this.pushMessage(",
    tests: ["test/peer", ...SIM_TESTS],
    swarm: SWARM_WITH_RESTARTS,
  },
  {
    id: "first-frame-after-restart-swallowed",
    bug: "the first DATA frame of a stream after a restart is acknowledged but not delivered",
    file: "src/reliability/session.ts",
    from: "    const distance = seqDiff(seq, this.rcvNext);\n",
    to: "    const distance = seqDiff(seq, this.rcvNext);\n    if (this.retiredEpochs.length > 0 && seq === this.config.initialSeq && distance === 0) {\n      this.rcvNext = seqAdd(this.rcvNext, 1);\n      this.ackDueMs = now;\n      return;\n    }\n",
    tests: ["test/reliability", ...SIM_TESTS],
    swarm: SWARM_WITH_RESTARTS,
  },
  {
    id: "retired-epochs-accepted",
    bug: "a datagram of a peer's retired process is taken as yet another restart",
    file: "src/reliability/session.ts",
    from: '      if (this.retiredEpochs.includes(frame.senderEpoch)) return "stale-epoch";',
    to: '      if (this.retiredEpochs.includes(frame.senderEpoch) && frame.seq < 0) return "stale-epoch";',
    tests: ["test/reliability", ...SIM_TESTS],
    swarm: SWARM_WITH_RESTARTS,
  },
  {
    id: "ready-one-early",
    bug: "READY is printed when all but one other peer have been heard from",
    file: "src/peer/peer.ts",
    from: "    if (this.readyEmitted || this.heard.size < this.peerCount - 1) return;",
    to: "    if (this.readyEmitted || this.heard.size < this.peerCount - 2) return;",
    tests: ["test/sim/sim.test.ts", "test/process/bootstrap.test.ts"],
  },
  {
    id: "decode-throws-on-large",
    bug: "decodeFrame throws on datagrams over 200 bytes instead of returning a reason",
    file: "src/wire/frame.ts",
    from: "export function decodeFrame(bytes: Uint8Array, keyring?: Keyring): DecodeResult {\n",
    to: 'export function decodeFrame(bytes: Uint8Array, keyring?: Keyring): DecodeResult {\n  if (bytes.length > 200) throw new Error("mutant");\n',
    tests: ["test/wire/fuzz.test.ts"],
  },
  {
    id: "fast-bundle-decoder-truncates",
    bug: "the hand-written Bundle decoder keeps at most 3 coalesced messages",
    file: "src/wire/messages.ts",
    from: "    if (field === 1) bundle.messages.push(lenBytes());",
    to: "    if (field === 1) {\n      const m = lenBytes();\n      if (bundle.messages.length < 3) bundle.messages.push(m);\n    }",
    tests: ["test/wire/messages.test.ts"],
  },
  {
    id: "piggybacked-ack-without-flag",
    bug: "a DATA frame whose Bundle carries ack ranges is accepted without the header's Ack flag",
    file: "src/wire/frame.ts",
    from: '  if (!hasAck) return "bundle carries an ack without the Ack flag in the header";\n',
    to: "",
    tests: ["test/wire/vectors.test.ts", "test/wire/fuzz.test.ts"],
  },
  {
    id: "ack-ranges-span-unchecked",
    bug: "Ack ranges reaching past ack + 65535 are accepted",
    file: "src/wire/frame.ts",
    from: "  if (span > ACK_RANGES_SPAN_MAX)\n",
    to: "  if (span > ACK_RANGES_SPAN_MAX * 2)\n",
    tests: ["test/wire/vectors.test.ts", "test/wire/fuzz.test.ts"],
  },
  {
    id: "protobuf-loaded-eagerly",
    bug: "every ACK frame loads protobuf-es (~20 ms of start-up CPU the hand-written codecs exist to avoid)",
    file: "src/wire/frame.ts",
    from: "bodyLength === 0 ? ACK :",
    to: "pb() !== undefined && bodyLength === 0 ? ACK :",
    tests: ["test/wire/lazy.test.ts"],
  },
  {
    id: "checksum-ignored",
    bug: "a corrupted datagram with a wrong checksum is accepted",
    file: "src/wire/frame.ts",
    from: "  if (stored !== computed) return fail(",
    to: "  if (stored !== computed && bytes.length < 0) return fail(",
    tests: ["test/wire"],
  },
  {
    id: "sack-off-by-one",
    bug: "selective-ack bits are read one sequence number too low",
    file: "src/reliability/session.ts",
    from: "      const seq = seqAdd(ack, bit + 2);",
    to: "      const seq = seqAdd(ack, bit + 1);",
    tests: ["test/reliability", ...SIM_TESTS],
  },
  {
    id: "first-contact-ack-delayed",
    bug: "first contact waits for the ack delay: a peer killed right after READY is never known to the others' failure detectors",
    file: "src/reliability/session.ts",
    from: "      this.ackDueMs = now;\n      return;\n    }\n    this.retiredEpochs.push(oldEpoch);",
    to: "      return;\n    }\n    this.retiredEpochs.push(oldEpoch);",
    tests: ["test/reliability/session.test.ts"],
  },
  {
    id: "ack-ranges-ignored",
    bug: "acknowledgement ranges are ignored: frames held above a hole are re-sent or wait for the hole",
    file: "src/reliability/session.ts",
    from: "    const ranges = info?.ranges;\n",
    to: "    const ranges = info?.ranges.slice(0, 0);\n",
    tests: ["test/reliability/flow.test.ts"],
  },
  {
    id: "credit-ignored",
    bug: "a sender ignores the receiver's credit and floods a receiver whose application takes nothing",
    file: "src/reliability/session.ts",
    from: "    return this.creditLeft() > 0 || this.unacked === 0;\n",
    to: "    return true;\n",
    tests: ["test/reliability/flow.test.ts"],
  },
  {
    id: "queue-unbounded-in-time",
    bug: "the send queue is bounded only by count and bytes: messages wait seconds behind a slow path",
    file: "src/reliability/session.ts",
    from: "        this.queueDelayMs(this.queueBytes + message.length) > this.config.sendQueueDelayMsMax\n",
    to: "        this.queueDelayMs(this.queueBytes + message.length) < 0\n",
    tests: ["test/reliability/flow.test.ts"],
  },
  {
    id: "probe-ack-proves-nothing",
    bug: "a timer probe's acknowledgement declares nothing lost: a burst lost at once is repaired one frame per timeout",
    file: "src/reliability/session.ts",
    from: "        now - frame.lastSentMs >= this.cc.minRttMs\n",
    to: "        now - frame.lastSentMs < 0\n",
    tests: ["test/reliability/flow.test.ts"],
  },
  {
    id: "random-loss-halves",
    bug: "every loss halves the congestion window, random loss included: 10% loss pins the window near its minimum",
    file: "src/reliability/congestion.ts",
    from: "    if (!burst && !this.queueing(srttMs)) {",
    to: "    if (!burst && !this.queueing(srttMs) && srttMs === -1) {",
    tests: ["test/reliability/congestion.test.ts"],
  },
  {
    id: "duplicates-delivered",
    bug: "a DATA frame received twice is delivered twice",
    file: "src/reliability/session.ts",
    from: "    if (distance < 0 || (distance > 0 && this.reorder[slot] !== undefined)) {",
    to: "    if (distance > 0 && this.reorder[slot] !== undefined) {",
    tests: ["test/reliability", ...SIM_TESTS],
  },
  {
    id: "hosts-mismatch-ignored",
    bug: "a peer that read a different hosts file is counted towards READY",
    file: "src/peer/peer.ts",
    from: "    if (equalBytes(alive.hostsDigest, this.hostsDigest)) return;",
    to: "    if (alive.hostsDigest.length >= 0) return;",
    tests: ["test/peer"],
  },
  {
    id: "suspicion-never-refuted",
    bug: "a member suspected by mistake never refutes it (no incarnation raised)",
    file: "src/membership/membership.ts",
    from: "    this.incarnation = u.incarnation + 1;\n",
    to: "    if (u.incarnation >= 0) return;\n    this.incarnation = u.incarnation + 1;\n",
    tests: ["test/sim/membership.test.ts"],
  },
  {
    id: "suspect-fails-at-once",
    bug: "a suspected member is declared failed at once, without a suspicion timeout",
    file: "src/membership/membership.ts",
    from: "      deadlineMs: now + (confirmationsWanted === 0 ? minMs : maxMs),",
    to: "      deadlineMs: now,",
    tests: ["test/sim/membership.test.ts"],
  },
  {
    id: "failed-members-not-probed",
    bug: "members declared failed are never probed again, so a healed partition stays split",
    file: "src/membership/membership.ts",
    from: '    m.state === "alive" || m.state === "suspect" || m.state === "failed" || (m.state === "left" && !m.goodbyeHeard)\n',
    to: '    m.state === "alive" || m.state === "suspect"\n',
    tests: ["test/sim/membership.test.ts"],
  },
  {
    id: "goodbye-not-left",
    bug: "a peer that says goodbye is not reported as left",
    file: "src/membership/membership.ts",
    from: "    this.setLeft(now, id, m.incarnation, id, reason);",
    to: "    if (reason === undefined) this.setLeft(now, id, m.incarnation, id, reason);",
    tests: ["test/peer/peer.test.ts"],
  },
  {
    id: "partitions-not-applied",
    bug: "the simulator's partitions let every datagram through",
    file: "src/sim/simulate.ts",
    from: "    if (partition !== undefined && partition.has(from) !== partition.has(to)) return [];",
    to: "    if (partition !== undefined && partition.size < 0) return [];",
    tests: ["test/sim/membership.test.ts"],
  },
  {
    id: "loss-not-applied",
    bug: "the fault model never loses a datagram",
    file: "src/runtime/faults.ts",
    from: "  if (f.loss > 0 && random() < f.loss) return [];",
    to: "  if (f.loss > 1 && random() < f.loss) return [];",
    tests: ["test/runtime/faults.test.ts", ...SIM_TESTS],
  },
  {
    id: "any-address-trusted",
    bug: "a frame is believed from any address: a forged one redirects, resets and delivers",
    file: "src/runtime/loop.ts",
    from: "    if (home !== undefined && this.transport.sameAddress(home, from)) return true;",
    to: "    if (home !== undefined || this.transport.sameAddress(from, from)) return true;",
    tests: ["test/security"],
    swarm: SWARM_WITH_ADVERSARY,
  },
  {
    id: "replay-window-open",
    bug: "the replay window lets every packet number through: a replayed authenticated datagram is read again",
    file: "src/security/replay.ts",
    from: "    if (pn > this.highest) return false;",
    to: "    if (pn >= 0) return false;",
    tests: ["test/security"],
    swarm: [...SWARM_WITH_ADVERSARY, "--key"],
  },
  {
    id: "replay-floor-ignored",
    bug: "in key mode a frame sent before the peer heard of my new process is read: a spoofer replays an old message to my restarted process",
    file: "src/peer/peer.ts",
    from: "(frame.receiverEpoch !== this.epoch && frame.seal.packetNumber < known.floor)",
    to: "(frame.receiverEpoch !== this.epoch && frame.seal.packetNumber < 0)",
    tests: ["test/security/onpath.test.ts"],
  },
  {
    id: "validated-address-kept",
    bug: "a peer sent to a validated address stays there when it stops answering: an on-path relay's address outlives the relay",
    file: "src/runtime/loop.ts",
    from: '        if (e.type === "peerSuspect" || e.type === "peerUnresponsive") this.revertToHome(e.peer);\n',
    to: "",
    tests: ["test/security/onpath.test.ts"],
  },
  {
    id: "new-process-believed",
    bug: "in key mode a new process is believed without answering a challenge: an old process's replayed frame is a restart",
    file: "src/peer/peer.ts",
    from: "has not answered a challenge yet`);\n        this.challenge(now, peer, frame.senderEpoch, true, trusted);\n        return false;\n",
    to: "has not answered a challenge yet`);\n        const { saltHi, saltLo } = frame.seal;\n        known = { epoch: frame.senderEpoch, saltHi, saltLo, replay: new ReplayWindow(), floor: 0 };\n        this.processes[peer] = known;\n",
    tests: ["test/security"],
  },
  {
    id: "send-before-restart-seen",
    bug: "a message sent after a peer's restart but before the application took peerRestarted (a retry on an earlier writable) opens the new process's stream, while messagesDropped names another message dropped",
    file: "src/peer/peer.ts",
    from: "    if (this.restartsUntaken[to]! > 0) {",
    to: "    if (this.restartsUntaken[to]! < 0) {",
    tests: ["test/peer/restart-boundary.test.ts"],
  },
  {
    id: "replayed-challenge-answered",
    bug: "in key mode a recorded PATH_CHALLENGE is answered every time it is replayed, to any source",
    file: "src/peer/peer.ts",
    from: '    if (replay.isReplay(seal.packetNumber)) {\n      this.drop(peer, "replayed", `challenge',
    to: '    if (replay.isReplay(seal.packetNumber) && seal.packetNumber < 0) {\n      this.drop(peer, "replayed", `challenge',
    tests: ["test/security/replayed-challenge.test.ts"],
  },
  {
    id: "replayed-challenge-answered-swarm",
    bug: "the same, to be caught by the simulator's adversary (it replays delivered challenges from three sources)",
    file: "src/peer/peer.ts",
    from: '    if (replay.isReplay(seal.packetNumber)) {\n      this.drop(peer, "replayed", `challenge',
    to: '    if (replay.isReplay(seal.packetNumber) && seal.packetNumber < 0) {\n      this.drop(peer, "replayed", `challenge',
    tests: ["test/sim/sim.test.ts"],
    swarm: [...SWARM_WITH_ADVERSARY, "--key"],
  },
  {
    id: "third-party-goodbye-final",
    bug: "gossip that a member left, from anyone and in anyone's name, evicts it for good while it runs",
    file: "src/membership/membership.ts",
    from: "    if (u.state === MemberStateCode.LEFT && u.reporter !== id) {\n      this.stats.updatesIgnored++;\n      return undefined;\n    }",
    to: '    if (u.state === MemberStateCode.LEFT) {\n      m.goodbyeHeard = true;\n      this.setLeft(now, id, u.incarnation, u.reporter, "mutant");\n      return undefined;\n    }',
    tests: ["test/security/hostile.test.ts", "test/membership/membership.test.ts"],
  },
  {
    id: "third-party-goodbye-final-swarm",
    bug: "the same, to be caught by the simulator's adversary (it gossips goodbyes from down members' addresses)",
    file: "src/membership/membership.ts",
    from: "    if (u.state === MemberStateCode.LEFT && u.reporter !== id) {\n      this.stats.updatesIgnored++;\n      return undefined;\n    }",
    to: '    if (u.state === MemberStateCode.LEFT) {\n      m.goodbyeHeard = true;\n      this.setLeft(now, id, u.incarnation, u.reporter, "mutant");\n      return undefined;\n    }',
    tests: ["test/sim/sim.test.ts"],
    swarm: [...SWARM_WITH_ADVERSARY, "--crashes"],
  },
  {
    id: "group-delivers-past-cut",
    bug: "at a view change a member delivers every message it holds of the old view, not just those below the agreed cut: survivors disagree on what the old view delivered",
    file: "src/group/group.ts",
    from: "        this.deliverUpTo(member.id, index, i.value.cut[index] ?? 0);",
    to: "        this.deliverUpTo(member.id, index, Number.MAX_SAFE_INTEGER);",
    tests: ["test/group/group.test.ts"],
    swarm: SWARM_VIEWS,
  },
  {
    id: "group-delivers-while-wedged",
    bug: "a member keeps delivering multicasts after promising a view change: it delivers messages past the cut the others stop at",
    file: "src/group/group.ts",
    from: "    if (this.wedgedUntilMs === undefined && this.hasState)",
    to: "    if (this.hasState)",
    tests: ["test/sim/sim.test.ts"],
    swarm: SWARM_VIEWS,
  },
  {
    id: "group-any-quorum",
    bug: "a view change needs no majority of the previous view: both sides of a partition go on with views of their own",
    file: "src/group/group.ts",
    from: "    if (voters.size >= this.quorum(founding)) return true;",
    to: "    if (voters.size >= 1) return true;",
    tests: ["test/group/group.test.ts"],
    swarm: SWARM_VIEWS,
  },
  {
    id: "group-state-never-sent",
    bug: "the member chosen to send the state to joiners never does: a restarted process stays in the view without the group's state",
    file: "src/group/group.ts",
    from: "    if (i.value.stateProvider === this.host.selfId && this.hasState) this.sendState",
    to: "    if (i.value.stateProvider === -1 && this.hasState) this.sendState",
    tests: ["test/sim/sim.test.ts"],
    swarm: SWARM_VIEWS,
  },
  {
    id: "group-dead-view-kept",
    bug: "a member stays in a view that can never be followed (most of its members replaced by restarts): it waits forever, and the restarted processes, deferring to its lower id, never found the group again",
    file: "src/group/group.ts",
    from: "    if (this.view !== undefined && this.viewCanNeverBeFollowed(this.view)) this.leaveView(0);",
    to: "",
    tests: ["test/group/group.test.ts"],
  },
  {
    id: "group-founding-id-reused",
    bug: "a process that founds the group again reuses its epoch as the founding id: messages of the old founding's view 1, still in flight, are taken as the new view 1's and delivered twice",
    file: "src/group/group.ts",
    from: "    if (!this.foundedGroups.has(this.host.epoch)) return this.host.epoch;",
    to: "    return this.host.epoch;",
    tests: ["test/group/group.test.ts"],
  },
  {
    id: "group-batch-one-seq",
    bug: "a receiver numbers every body of a gathered batch of multicasts with the batch's first seq: all but the first are taken as duplicates and never delivered",
    file: "src/group/group.ts",
    from: "    for (let i = 0; i < bodies.length; i++) this.receive(index, seq + i, bodies[i]!);",
    to: "    for (let i = 0; i < bodies.length; i++) this.receive(index, seq, bodies[i]!);",
    tests: ["test/group/group.test.ts"],
  },
  {
    id: "group-outsiders-never-told",
    bug: "a coordinator never tells live processes outside its view that the group went on: a silent member left out while unreachable stays in its old view for good",
    file: "src/group/group.ts",
    from: "    if (view === undefined || this.change !== undefined || this.coordinatorOf(view) !== this.host.selfId) return;",
    to: "    return;",
    tests: ["test/group/by-hand.test.ts", "test/group/group.test.ts"],
  },
  {
    id: "group-behind-member-kept-as-coordinator",
    bug: "a member of the view that asks to join from an older view (it never received this view's Install) is still taken as the coordinator: the group waits for it, and it for the group",
    file: "src/group/group.ts",
    from: "      this.behind.add(processKey(from, fromEpoch));",
    to: "",
    tests: ["test/group/by-hand.test.ts", "test/group/group.test.ts"],
  },
  {
    id: "group-older-state-replaces-newer",
    bug: "a member keeps one state in flight: an older view's state arriving late replaces the one for the view it is joining, and it stays without state",
    file: "src/group/group.ts",
    from: "const INCOMING_STATES_MAX = 2;",
    to: "const INCOMING_STATES_MAX = 1;",
    tests: ["test/group/by-hand.test.ts", "test/group/group.test.ts"],
  },
  {
    id: "total-order-on-arrival",
    bug: "a total-order message is delivered as it arrives, FIFO per sender only: members deliver concurrent messages in different orders",
    file: "src/group/ordered.ts",
    from: "        this.held.set(key(from, index), { from, index, body: m.body, safe: m.safe });",
    to: '        this.emit(from, m.body, "total", m.safe);\n        return;',
    tests: ["test/group/ordered.test.ts"],
  },
  {
    id: "total-order-leftovers-unsorted",
    bug: "at a view change the messages the sequencer never ordered are delivered in each member's arrival order, not one fixed order: members that move on together disagree",
    file: "src/group/ordered.ts",
    from: "      const rest = [...this.held.values()].sort((a, b) => a.from - b.from || a.index - b.index);",
    to: "      const rest = [...this.held.values()];",
    tests: ["test/group/ordered.test.ts"],
  },
  {
    id: "causal-on-arrival",
    bug: "a causal message waits only for its sender's earlier ones, not for what its sender had delivered: a reply can arrive before the message it answers",
    file: "src/group/ordered.ts",
    from: "    for (let k = 0; k < clock.length; k++) if (k !== j && clock[k]! > (this.causalDelivered[k] ?? 0)) return false;\n",
    to: "",
    tests: ["test/group/causal.test.ts"],
  },
  {
    id: "isis-undecided-delivered",
    bug: "ISIS delivers the held message of smallest priority before its priority is agreed: its final priority may be larger, and members deliver in different orders",
    file: "src/group/ordered.ts",
    from: "      if (e.agreed === undefined) return;\n      this.isisQueue.pop();",
    to: "      this.isisQueue.pop();",
    tests: ["test/group/isis.test.ts"],
  },
  {
    id: "isis-own-proposal-unsent",
    bug: "ISIS counts a member's own proposal before its multicast of it goes out: a member decides on a proposal the others may never see when the view changes, and orders differ",
    file: "src/group/ordered.ts",
    from: "    // My proposal counts when my multicast of it comes back, as everyone else's does: decided on\n",
    to: "    this.propose(from, index, this.selfId, e.mine);\n",
    tests: ["test/group/isis.test.ts"],
  },
  {
    id: "safe-not-waiting",
    bug: "a safe message is delivered as soon as its order allows, not once every member holds it: a member that delivers and crashes may have delivered what the survivors never do",
    file: "src/group/ordered.ts",
    from: "      if (m.id !== this.selfId) bound = Math.min(bound, this.covered.get(m.id) ?? this.gateBase);",
    to: "      if (m.id === -1) bound = 0;",
    tests: ["test/group/safe.test.ts"],
  },
  {
    id: "group-behind-member-not-caught-up",
    bug: "a member of the view that asks to join from an older view is not sent the view's Install: when the view can go on only with its vote, everyone waits",
    file: "src/group/group.ts",
    from: "      if (this.installedValue !== undefined && lastViewId < this.view.id)",
    to: "      if (this.installedValue === undefined && lastViewId < this.view.id)",
    tests: ["test/group/group.test.ts"],
  },
  {
    id: "group-left-view-installed-again",
    bug: "a process that left a view takes an Install of it again (a member still in that view lets it catch up): it delivers that view's messages twice",
    file: "src/group/group.ts",
    from: "    if (value.viewId <= (this.leftViews.get(value.group) ?? 0)) return;",
    to: "",
    tests: ["test/group/group.test.ts"],
  },
  {
    id: "group-multicast-numbered-before-state",
    bug: "a multicast made from a handler during an installation is numbered before the state for joiners is taken: the joiner gets it in the state and again as a message",
    file: "src/group/group.ts",
    from: "    if (this.draining || this.installingNow) return;",
    to: "    if (this.draining) return;",
    tests: ["test/group/group.test.ts"],
  },
];

function arg(name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < process.argv.length; i++) if (process.argv[i] === name) out.push(process.argv[i + 1] ?? "");
  return out;
}

if (process.argv.includes("--list")) {
  for (const m of MUTANTS) console.log(`${m.id.padEnd(38)} ${m.file.padEnd(32)} ${m.bug}`);
  process.exit(0);
}
const only = arg("--only");
const unknown = only.filter((id) => !MUTANTS.some((m) => m.id === id));
if (unknown.length > 0) {
  console.error(`mutants: no mutant ${unknown.join(", ")}; --list shows them`);
  process.exit(2);
}
const chosen = only.length > 0 ? MUTANTS.filter((m) => only.includes(m.id)) : MUTANTS;

const root = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "rollcall-mutants-"));
const cleanup = () => rmSync(work, { recursive: true, force: true });
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
for (const entry of ["src", "test", "scripts", "proto", "interop", "package.json", "bunfig.toml", "tsconfig.json"]) {
  cpSync(join(root, entry), join(work, entry), { recursive: true });
}
symlinkSync(join(root, "node_modules"), join(work, "node_modules"));

/** Runs a command in the copy; true when it exits 0 within the limit. */
function passes(cmd: string[], timeoutMs: number): boolean {
  const r = Bun.spawnSync(cmd, {
    cwd: work,
    stdout: "ignore",
    stderr: "ignore",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: { ...process.env, ROLLCALL_MUTANT: "1" },
  });
  return r.exitCode === 0;
}

let killed = 0;
let survived = 0;
let broken = 0;
const started = performance.now();
console.log(`mutants: ${chosen.length} planted bugs, each against the tests that cover it (copy in ${work})`);
try {
  // Without a green baseline every mutant would look killed.
  const allTests = [...new Set(chosen.flatMap((m) => m.tests))];
  const swarms = [...new Set(chosen.flatMap((m) => (m.swarm ? [m.swarm.join(" ")] : [])))];
  const baselineOk =
    passes([process.execPath, "test", ...allTests], 600_000) &&
    swarms.every((args) => passes([process.execPath, "run", "src/sim/cli.ts", ...args.split(" ")], 300_000));
  if (!baselineOk) {
    console.log(`mutants: the unmutated tree fails its own tests (${allTests.join(", ")}) or swarm; fix that first`);
    process.exitCode = 1;
    throw new Error("baseline failed");
  }
  console.log(`mutants: baseline passes (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  for (const [i, m] of chosen.entries()) {
    const path = join(work, m.file);
    const original = readFileSync(path, "utf8");
    const count = original.split(m.from).length - 1;
    const label = `[${i + 1}/${chosen.length}] ${m.id}`;
    if (count !== 1) {
      broken++;
      console.log(`${label}: DOES NOT APPLY (its text occurs ${count} times in ${m.file}); update the mutant`);
      continue;
    }
    writeFileSync(path, original.replace(m.from, m.to));
    const t0 = performance.now();
    let by: string | undefined;
    try {
      if (!passes([process.execPath, "test", "--bail", ...m.tests], 300_000)) by = `tests (${m.tests.join(", ")})`;
      else if (m.swarm && !passes([process.execPath, "run", "src/sim/cli.ts", ...m.swarm], 300_000))
        by = `swarm (${m.swarm.join(" ")})`;
    } finally {
      writeFileSync(path, original);
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (by !== undefined) {
      killed++;
      console.log(`${label}: killed by ${by} in ${secs} s`);
    } else {
      survived++;
      console.log(`${label}: SURVIVED (${m.bug}; ${m.file})`);
    }
  }
} catch (error) {
  if ((error as Error).message !== "baseline failed") throw error;
} finally {
  cleanup();
}
if (process.exitCode === 1) process.exit(1);
const total = ((performance.now() - started) / 1000).toFixed(0);
console.log(`${killed} killed, ${survived} survived${broken > 0 ? `, ${broken} did not apply` : ""} (${total} s)`);
process.exit(survived === 0 && broken === 0 ? 0 : 1);
