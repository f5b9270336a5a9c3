/**
 * rollcall's public face. Everything a user needs, and nothing else:
 *
 * - process groups (docs/groups.md): `startGroup` runs the group layer on a
 *   peer (agreed views, virtual synchrony, state transfer); `Group` is its
 *   sans-I/O core on the module host interface (`Host`, `Module`);
 * - the runtime: `startPeer` gives a peer on a real UDP socket (READY,
 *   send, broadcast, events, stats, close), and `TypedChannel` carries the
 *   application's own protobuf-es messages over it;
 * - membership: every peer runs a failure detector (SWIM with Lifeguard,
 *   docs/membership.md); `members()` and the `peerSuspect`/`peerFailed`/
 *   `peerAlive`/`peerLeft` events report it;
 * - the sans-I/O core: `Peer`, and `PeerLoop`, the drive loop that runs it
 *   on any `Transport` (UDP, in-memory, or wrapped in `ChaosTransport`);
 * - the simulator: `simulate` runs any protocol on seeded faults with the
 *   caller's checkers; `runExactlyOnce` is the built-in workload;
 * - key mode (docs/security.md): `Keyring`, `loadKeyFile`, `parseKeyFile`;
 * - the hosts file, and the errors a user's own input can raise.
 *
 * docs/api.md describes it with examples.
 */

export { InputError } from "./errors.ts";
export {
  DEFAULT_GROUP_TIMING,
  Group,
  type GroupEvent,
  type GroupOptions,
  type GroupProcess,
  type GroupTiming,
  type View,
} from "./group/group.ts";
export type { Host, HostPeerEvent, HostSendResult, Module } from "./host/host.ts";
export { DEFAULT_PORT, findSelf, type HostEntry, type HostsList, loadHosts, parseHosts } from "./hosts/hosts.ts";
export { PEERS_MAX } from "./limits.ts";
export {
  DEFAULT_MEMBERSHIP_CONFIG,
  detectionBoundMs,
  type MembershipConfig,
  suspicionTimeoutsMs,
} from "./membership/config.ts";
export type { MemberState, MembershipEvent, MembershipStats, MemberView } from "./membership/membership.ts";
export {
  type PathAction,
  Peer,
  type PeerEvent,
  type PeerOptions,
  type PeerStats,
  type TraceRecord,
} from "./peer/peer.ts";
export { DEFAULT_SESSION_CONFIG, type SessionConfig } from "./reliability/config.ts";
export type { SendResult, SessionStats } from "./reliability/session.ts";
export { type ChaosStats, ChaosTransport } from "./runtime/chaos.ts";
export { type Arrival, applyFaults, type LinkFaults, NO_FAULTS, parseChaos } from "./runtime/faults.ts";
export { type LoopEvent, type LoopOptions, type LoopStats, type LoopTraceRecord, PeerLoop } from "./runtime/loop.ts";
export { addressesById, MemoryNetwork, MemoryTransport, type Route } from "./runtime/memory.ts";
export type { ResolverEvent } from "./runtime/resolver.ts";
export {
  AGENT,
  type BroadcastResult,
  type LinkStats,
  type RollcallEvent,
  RollcallPeer,
  type RollcallStats,
  type StartOptions,
  startPeer,
} from "./runtime/rollcall-peer.ts";
export { type Cancel, realScheduler, type Scheduler } from "./runtime/scheduler.ts";
export { type GroupAppEvent, RollcallGroup, type StartGroupOptions, startGroup } from "./runtime/start-group.ts";
export type { Datagram, Transport, TransportError, TransportHandlers } from "./runtime/transport.ts";
export { type ByteSender, TypedChannel, type TypedReceive } from "./runtime/typed.ts";
export { type UdpAddress, UdpTransport } from "./runtime/udp.ts";
export { Keyring, loadKeyFile, parseKeyFile } from "./security/keyring.ts";
export {
  type ExactlyOnceOptions,
  type ExactlyOnceResult,
  runExactlyOnce,
  type Workload,
} from "./sim/exactly-once.ts";
export { ACCURACY_LOSS_MAX, type MembershipCheckResult, membershipChecker } from "./sim/membership-checker.ts";
export { Rng } from "./sim/rng.ts";
export {
  bootstrapChecker,
  type Checker,
  NO_SIM_FAULTS,
  type SimApp,
  type SimFaults,
  type SimNode,
  type SimOptions,
  type SimResult,
  type SimWorld,
  simulate,
} from "./sim/simulate.ts";
export { runViews, type ViewsOptions, type ViewsResult, type ViewsWorkload } from "./sim/views.ts";
export { VirtualScheduler } from "./sim/virtual-time.ts";
