/**
 * One group member driven by hand through the host interface, for cases the
 * swarm found once (seeds 409, 1483 and 1796 with --burst 4) and that later
 * changes made those seeds pass either way: a later view's state arriving
 * before an older view's is not lost; a coordinator tells a live process
 * outside its view that the group went on; a member that asks to join from
 * an older view is no longer waited for as coordinator.
 */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GroupMessageSchema, GroupViewValueSchema } from "../../src/gen/rollcall/v1/rollcall_pb.ts";
import { Group, type GroupEvent } from "../../src/group/group.ts";
import type { Host } from "../../src/host/host.ts";

const GROUP = 777;
const members = [1, 2, 3].map((id) => ({ id, epoch: 100 + id }));

function joiner(selfId = 3, peerCount = 3) {
  const events: GroupEvent[] = [];
  const sent: { to: number; kind: string | undefined }[] = [];
  let state: Uint8Array | undefined;
  const group = new Group({ onEvent: (e) => events.push(e), setState: (s) => (state = s) });
  let now = 0;
  const host: Host = {
    selfId,
    epoch: 100 + selfId,
    peerCount,
    now: () => now,
    random: () => 0.5,
    send: (to, body) => {
      sent.push({ to, kind: fromBinary(GroupMessageSchema, body).body.case });
      return { ok: true };
    },
    flushSoon: () => {},
    setTimer: () => {},
    epochOf: (id) => 100 + id,
    isAlive: () => true,
  };
  group.start(host);
  const deliver = (from: number, body: Parameters<typeof create<typeof GroupMessageSchema>>[1]) => {
    now += 1;
    group.handleMessage(from, 100 + from, toBinary(GroupMessageSchema, create(GroupMessageSchema, body)));
  };
  const install = (viewId: number, provider: number, needsState = [3]) =>
    deliver(1, {
      body: {
        case: "install",
        value: {
          value: create(GroupViewValueSchema, {
            viewId,
            group: GROUP,
            members,
            previousViewId: viewId - 1,
            cut: [0, 0, 0],
            stateProvider: provider,
            needsState,
          }),
        },
      },
    });
  const stateOf = (from: number, viewId: number, text: string) => {
    const data = new TextEncoder().encode(text);
    deliver(from, {
      body: {
        case: "state",
        value: {
          viewId,
          group: GROUP,
          totalBytes: BigInt(data.length),
          offset: 0n,
          data,
          sha256: new Uint8Array(createHash("sha256").update(data).digest()),
        },
      },
    });
  };
  return {
    group,
    events,
    sent,
    deliver,
    install,
    stateOf,
    state: () => (state === undefined ? "" : new TextDecoder().decode(state)),
  };
}

test("a joiner takes the state of its own view, though an older view's state, late from another member, came after it", () => {
  const j = joiner();
  j.install(4, 2); // joins view 4 without the state
  expect(j.group.isMember).toBe(false);
  j.stateOf(1, 6, "as of view 6"); // view 6's state, ahead of its Install
  j.stateOf(2, 4, "as of view 4"); // view 4's, late
  expect(j.state()).toBe("as of view 4");
  j.install(6, 1); // from view 4 straight to 6 (left out of 5): a new member again, without the state
  expect(j.group.isMember).toBe(true);
  expect(j.state()).toBe("as of view 6");
  expect(j.events.filter((e) => e.type === "state").map((e) => (e as { viewId: number }).viewId)).toEqual([4, 6]);
});

test("the coordinator of a settled view tells a live process outside it that the group went on", () => {
  // Peer 4 is alive and not asking to join: a member left out while unreachable may believe itself in an
  // old view and, silent, would never learn otherwise.
  const j = joiner(1, 4);
  j.install(1, 0, []); // the first view, {1, 2, 3}: I coordinate it
  expect(j.group.currentView?.members.map((m) => m.id)).toEqual([1, 2, 3]);
  expect(j.sent.filter((m) => m.to === 4).map((m) => m.kind)).toContain("excluded");
});

test("a member that asks to join from an older view is not waited for as coordinator: the next one starts the change", () => {
  const j = joiner(2, 3);
  j.install(1, 0, []); // {1, 2, 3}; 1 coordinates
  j.sent.length = 0;
  // 1 never installed it (its Install died with the coordinator before it): it asks to join from no view.
  j.deliver(1, { body: { case: "join", value: { viewId: 0 } } });
  expect(j.sent.filter((m) => m.to === 1).map((m) => m.kind)).toContain("install"); // a catch-up
  expect(j.sent.some((m) => m.kind === "prepare")).toBe(true); // I coordinate the change that takes it in again
});
