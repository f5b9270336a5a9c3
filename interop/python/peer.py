"""A small rollcall peer in Python: joins a group of TypeScript peers.

Written from docs/wire-format.md, docs/reliability.md and the .proto file. It
bootstraps from the same hosts file, sends Alive reliably (re-sent with
exponential backoff until acknowledged), acknowledges every DATA frame it gets
with a cumulative ack, a selective-ack bitmap and, while frames wait out of
order, acknowledgement ranges (window 1024 frames), obeys the message credit a
peer states, follows epochs (first contact, restarts, stale frames), prints
READY on stderr once it has heard from every peer, and says Goodbye on
SIGINT/SIGTERM.

Deliberately simple: one thread, one socket, standalone ACK frames sent at
once, no coalescing and no fragmentation of its own messages (it only sends
Alive and Goodbye). Messages it receives are handled in order; fragments are
reassembled but application data is only logged.

Key mode (--key-file FILE, or the environment variable ROLLCALL_KEY_FILE when
the flag is absent): every frame sent is sealed (AES-256-GCM, a fresh random
process salt per start, packet numbers from 1), every frame received must
authenticate under a key of the file (else dropped as `unauthenticated`), and
a replay window per sending process drops repeated or too old packet numbers
(`replayed`). In both modes the peer answers PATH_CHALLENGEs with a
PATH_RESPONSE to the address the challenge came from (rate-limited); it never
challenges anyone itself.

usage: run.sh peer.py -h HOSTS [--name NAME] [--port N] [--key-file FILE]
"""

import argparse
import collections
import hashlib
import ipaddress
import json
import os
import re
import secrets
import select
import signal
import socket
import sys
import time

import rollcall_wire as wire
from rollcall.v1 import rollcall_pb2 as pb

AGENT = "rollcall-python/0.1.0"
DEFAULT_PORT = 7700
RTO_INITIAL = 0.1  # seconds, as the TypeScript peer
RTO_MAX = 1.0
WINDOW_FRAMES = 1024  # frames in flight per stream, and kept beyond the cumulative ack; as TypeScript's windowFrames
ACK_DELAY_US_MAX = 0xFFFFFFFF
RETIRED_EPOCHS_MAX = 16
RELAYS_MAX = 256  # PING_REQs relayed at once; more are ignored (the requester counts it as a missing answer)
REPLAY_WINDOW = 1024  # packet numbers remembered below the highest seen, per sending process
REPLAY_PROCESSES_PER_SENDER = 16  # replay windows kept per sender id (its latest processes)
PATH_RESPONSES_PER_SECOND = 200  # token bucket for answering PATH_CHALLENGEs
PATH_RESPONSES_BURST = 200
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$", re.I)


class InputError(Exception):
    pass


def log(event, **fields):
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": "info",
              "me": ME, "event": event}
    record.update(fields)
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


ME = None


# --- hosts file (docs: README "The hosts file"; digest: docs/wire-format.md) ---

def parse_entry(where, text, default_port):
    port_text = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise InputError("%s: %r opens [ without closing ]" % (where, text))
        host, rest = text[1:close], text[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise InputError('%s: %r: expected ":port" after "]"' % (where, text))
            port_text = rest[1:]
        kind = "ipv6"
        ipaddress.IPv6Address(host)
    else:
        try:
            ipaddress.IPv6Address(text)
            host, kind = text, "ipv6"
        except ValueError:
            host, sep, port_text = text.rpartition(":")
            if not sep:
                host, port_text = text, None
            kind = None
    port = default_port
    if port_text is not None:
        if not re.fullmatch(r"\d{1,5}", port_text) or not 1 <= int(port_text) <= 65535:
            raise InputError("%s: port %r in %r is not a number from 1 to 65535" % (where, port_text, text))
        port = int(port_text)
    host = host.lower()
    if kind is None:
        try:
            ipaddress.IPv4Address(host)
            kind = "ipv4"
        except ValueError:
            if not HOSTNAME.match(host):
                raise InputError("%s: %r is not a valid host name" % (where, host))
            kind = "name"
    return host, port, kind


def canonical(host, port, kind):
    return "[%s]:%d" % (host, port) if kind == "ipv6" else "%s:%d" % (host, port)


def load_hosts(path, default_port):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as error:
        raise InputError("%s: %s" % (path, error.strerror))
    entries = []
    seen = {}
    for number, raw in enumerate(lines, 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        where = "%s:%d" % (path, number)
        host, port, kind = parse_entry(where, text, default_port)
        key = canonical(host, port, kind)
        if key in seen:
            raise InputError("%s: %r is the same peer as line %d" % (where, text, seen[key]))
        seen[key] = number
        entries.append({"id": len(entries) + 1, "text": text, "host": host, "port": port, "kind": kind})
    if not entries:
        raise InputError("%s: no peers in the file" % path)
    digest = hashlib.sha256("".join(canonical(e["host"], e["port"], e["kind"]) + "\n" for e in entries).encode()).digest()
    return entries, digest


def find_self(entries, name):
    wanted = name.strip().lower()
    exact = [e for e in entries if e["text"].lower() == wanted or canonical(e["host"], e["port"], e["kind"]) == wanted]
    if len(exact) == 1:
        return exact[0]
    by_host = [e for e in entries if e["host"] == wanted.strip("[]")]
    if len(by_host) == 1:
        return by_host[0]
    raise InputError('my name "%s" is not (uniquely) in the hosts file; pass --name with one of: %s'
                     % (name, ", ".join(e["text"] for e in entries)))


# --- one link per remote peer: the reliable stream, simplified ---

class Link:
    def __init__(self, peer_id):
        self.peer_id = peer_id
        self.address = None
        self.remote_epoch = 0
        self.retired = []
        self.reset()

    def reset(self):
        # Sending: my stream to this peer's current process.
        self.next_seq = 1
        self.unacked = {}  # seq -> [Bundle bytes without ack, last sent (monotonic s), transmissions]
        self.backoff = 0
        self.pending = collections.deque()  # Envelope bytes waiting for window or credit
        self.messages_framed = 0  # messages of this stream put in frames (message numbers 1, 2, ...)
        self.credit = None  # the peer's last stated message_credit; None: never stated, no limit
        # Receiving: this peer's stream to me.
        self.rcv_next = 1
        self.buffered = {}  # seq -> (Bundle, when it arrived (monotonic s)), out of order
        self.reassembly = None
        self.ack_at = None  # when the frame of seq rcv_next - 1 (the cumulative ack) arrived

    def rto(self):
        return min(RTO_INITIAL * (2 ** self.backoff), RTO_MAX)

    def ack_fields(self):
        """flags, receiver epoch, ack, sack and the Ack body (None when it would be
        empty) for a frame to this peer: the header's cumulative ack and 32-bit
        bitmap, plus ranges for every frame held out of order (nearest 64 runs)
        and the ack delay. message_credit stays 0 (none stated): messages are
        handled as they arrive, there is no inbox to bound."""
        if self.remote_epoch == 0:
            return 0, 0, 0, 0, None
        ack = (self.rcv_next - 1) & 0xFFFFFFFF
        sack = 0
        for bit in range(32):
            if ((ack + 2 + bit) & 0xFFFFFFFF) in self.buffered:
                sack |= 1 << bit
        body = pb.Ack(ranges=wire.ack_ranges(ack, self.buffered))
        # The delay since the highest seq this ack reports arrived: the last of the
        # last range (ranges may stop short of the farthest frame held), else the ack.
        arrived = self.buffered[(ack + sum(body.ranges)) & 0xFFFFFFFF][1] if body.ranges else self.ack_at
        if arrived is not None:
            body.ack_delay_us = min(int((time.monotonic() - arrived) * 1e6), ACK_DELAY_US_MAX)
        return wire.FLAG_ACK, self.remote_epoch, ack, sack, (body if body.ByteSize() else None)

    def window_open(self):
        """A new frame may be sent: fewer than WINDOW_FRAMES seqs from the oldest unacknowledged one."""
        if not self.unacked:
            return True
        oldest = min(self.unacked, key=lambda s: wire.seq_diff(s, self.next_seq))
        return wire.seq_diff(self.next_seq, oldest) < WINDOW_FRAMES

    def credit_allows(self, count):
        """The frame that completes my next `count` messages stays within the peer's credit."""
        if self.credit is None:
            return True
        return wire.seq_diff((self.messages_framed + count) & 0xFFFFFFFF, self.credit) <= 0


class ReplayWindow:
    """Packet numbers seen from one sending process (sender id, epoch, process
    salt): the highest, and a bitmap of it and the REPLAY_WINDOW - 1 numbers
    below it (docs/security.md); anything older is refused."""

    __slots__ = ("highest", "seen")

    def __init__(self):
        self.highest = 0
        self.seen = 0  # bit i: packet number highest - i was seen

    def check_and_mark(self, pn):
        """True if pn is new (and marks it seen); False for a repeated or too old one."""
        if pn > self.highest:
            shift = pn - self.highest
            self.seen = ((self.seen << shift) | 1) & ((1 << REPLAY_WINDOW) - 1) if shift < REPLAY_WINDOW else 1
            self.highest = pn
            return True
        age = self.highest - pn
        if age >= REPLAY_WINDOW or (self.seen >> age) & 1:
            return False
        self.seen |= 1 << age
        return True


class PythonPeer:
    def __init__(self, entries, digest, me, keyring=None):
        self.entries = entries
        self.digest = digest
        self.me = me
        self.epoch = 0
        while self.epoch == 0:
            self.epoch = secrets.randbits(32)
        # Key mode (docs/wire-format.md "Sealed frames"): seal with the primary key,
        # a salt of this process and packet numbers 1, 2, ... (retransmissions included).
        self.keyring = keyring
        self.process_salt = secrets.token_bytes(wire.SALT_BYTES)
        self.packet_number = 1
        self.replay = {}  # sender id -> {(epoch, salt): ReplayWindow}, insertion order = age
        self.path_tokens = float(PATH_RESPONSES_BURST)
        self.path_tokens_at = time.monotonic()
        self.links = {e["id"]: Link(e["id"]) for e in entries if e["id"] != me["id"]}
        self.heard = set()
        self.ready = False
        # Failure detector, answering side only (docs/membership.md): ACK pings,
        # relay PING_REQs, refute suspicions of me by raising my incarnation.
        self.incarnation = 0
        self.refutation_sends = 0  # piggybacks of "I am alive" still to send
        self.relays = {}  # my probe id -> (requester link, its probe id, target id, expiry)
        self.probe_id_next = 1
        self.stats = {"datagramsSent": 0, "datagramsReceived": 0, "retransmissions": 0, "drops": {}}
        family = socket.AF_INET6 if me["kind"] == "ipv6" else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        bind_host = me["host"] if me["kind"] != "name" else ("::" if family == socket.AF_INET6 else "0.0.0.0")
        self.sock.bind((bind_host, me["port"]))
        self.sock.setblocking(False)
        self.resolve_all()

    def resolve_all(self):
        for e in self.entries:
            link = self.links.get(e["id"])
            if link is None or link.address is not None:
                continue
            try:
                family = self.sock.family
                info = socket.getaddrinfo(e["host"], e["port"], family, socket.SOCK_DGRAM)
                link.address = info[0][4]
            except OSError:
                pass  # not resolvable yet (container not started): retried by the main loop

    def start(self):
        log("start", name=self.me["text"], id=self.me["id"], epoch=self.epoch, peers=len(self.entries), agent=AGENT,
            sealed=self.keyring is not None)
        for link in self.links.values():
            self.queue_alive(link)
        self.check_ready()

    def alive_bytes(self):
        env = pb.Envelope(alive=pb.Alive(name=self.me["text"], id=self.me["id"], epoch=self.epoch,
                                         hosts_digest=self.digest, peer_count=len(self.entries), agent=AGENT))
        return env.SerializeToString(deterministic=True)

    def queue_alive(self, link):
        self.queue(link, self.alive_bytes())

    def queue(self, link, envelope_bytes):
        link.pending.append(envelope_bytes)
        self.pump(link)

    def pump(self, link):
        """Puts pending messages in frames (one message per frame) and sends them,
        while the window is open and the peer's message credit allows."""
        while link.pending and link.window_open() and link.credit_allows(1):
            payload = pb.Bundle(messages=[link.pending.popleft()]).SerializeToString(deterministic=True)
            link.messages_framed = (link.messages_framed + 1) & 0xFFFFFFFF
            seq = link.next_seq
            link.next_seq = (link.next_seq + 1) & 0xFFFFFFFF
            link.unacked[seq] = [payload, 0.0, 0]
            self.transmit_data(link, seq)

    def transmit_data(self, link, seq):
        entry = link.unacked[seq]
        flags, receiver_epoch, ack, sack, ack_body = link.ack_fields()
        frame = wire.Frame(wire.TYPE_DATA, flags, self.me["id"], link.peer_id, self.epoch, receiver_epoch, seq, ack, sack, None)
        body = entry[0]
        if ack_body is not None:
            # Bundle.ack (field 3) follows the messages (field 1): appending its encoding keeps field order.
            with_ack = body + pb.Bundle(ack=ack_body).SerializeToString(deterministic=True)
            limit = wire.PAYLOAD_BYTES_MAX if self.keyring is None else wire.BODY_BYTES_MAX_SEALED
            if len(with_ack) <= limit:  # else the ranges go only in the ACK frames
                body = with_ack
        if entry[2] > 0:
            self.stats["retransmissions"] += 1
        entry[1] = time.monotonic()
        entry[2] += 1
        self.send(link.address, frame, body)

    def send_ack(self, link):
        flags, receiver_epoch, ack, sack, ack_body = link.ack_fields()
        frame = wire.Frame(wire.TYPE_ACK, flags, self.me["id"], link.peer_id, self.epoch, receiver_epoch, 0, ack, sack, None)
        self.send(link.address, frame, b"" if ack_body is None else ack_body.SerializeToString(deterministic=True))

    def send(self, address, frame, body=None):
        """Encodes frame (sealed in key mode, each with the next packet number) and sends it."""
        if address is None:
            return
        if self.keyring is not None:
            packet_number = self.packet_number
            self.packet_number += 1
            data = wire.encode_sealed(frame, self.keyring.primary, self.process_salt, packet_number, body)
        else:
            data = wire.encode(frame, body)
        try:
            self.sock.sendto(data, address)
            self.stats["datagramsSent"] += 1
        except OSError:
            pass  # e.g. ECONNREFUSED from an earlier ICMP error: the frame counts as lost

    def drop(self, reason, detail, peer=None):
        self.stats["drops"][reason] = self.stats["drops"].get(reason, 0) + 1
        log("drop", reason=reason, detail=detail, peer=peer)

    def on_datagram(self, data, address):
        self.stats["datagramsReceived"] += 1
        frame, reason, detail = wire.decode(data, self.keyring)  # key mode: only frames sealed with my keys
        if frame is None:
            return self.drop(reason, detail)
        link = self.links.get(frame.sender_id)
        # Security rules before the session rules; replay windows only for ids of the hosts file.
        if self.keyring is not None and link is not None and not self.replay_window(frame).check_and_mark(frame.packet_number):
            return self.drop("replayed", "packet number %d" % frame.packet_number, frame.sender_id)
        if link is None:
            return self.drop("unknown-sender", "sender id %d" % frame.sender_id)
        if frame.receiver_id not in (0, self.me["id"]):
            return self.drop("wrong-receiver", "receiver id %d" % frame.receiver_id, link.peer_id)
        if frame.receiver_epoch not in (0, self.epoch):
            return self.drop("stale-receiver-epoch", "receiver epoch %d" % frame.receiver_epoch, link.peer_id)
        if frame.type == wire.TYPE_PATH_CHALLENGE:
            return self.on_path_challenge(frame, address)
        if frame.type == wire.TYPE_PATH_RESPONSE:
            # This peer never sends PATH_CHALLENGE (it takes every peer's frames from
            # wherever they come, and in key mode the seal is its whole check), so no
            # response can be one it waits for: ignored, and not counted as a drop.
            return
        if frame.type == wire.TYPE_PROBE:
            return self.on_probe(link, frame, address)
        if frame.sender_epoch != link.remote_epoch:
            if frame.sender_epoch in link.retired:
                return self.drop("stale-epoch", "epoch %d" % frame.sender_epoch, link.peer_id)
            self.adopt_epoch(link, frame.sender_epoch)
        link.address = address
        if frame.type == wire.TYPE_DATA and wire.seq_diff(frame.seq, link.rcv_next) >= WINDOW_FRAMES:
            return self.drop("beyond-window", "seq %d" % frame.seq, link.peer_id)
        if link.peer_id not in self.heard:
            self.heard.add(link.peer_id)
            log("peer-up", peer=link.peer_id, epoch=frame.sender_epoch, up=len(self.heard) + 1, of=len(self.entries))
            self.check_ready()
        if frame.flags & wire.FLAG_ACK:
            if frame.type == wire.TYPE_ACK:
                ack_body = frame.payload
            else:
                ack_body = frame.payload.ack if frame.payload.HasField("ack") else None
            self.on_ack(link, frame.ack, frame.sack, ack_body)
        if frame.type == wire.TYPE_DATA:
            self.on_data(link, frame.seq, frame.payload)
            self.send_ack(link)  # at once: simpler than delaying, and allowed by the spec

    def replay_window(self, frame):
        """The replay window of the frame's sending process (sender id, epoch, process salt)."""
        windows = self.replay.setdefault(frame.sender_id, {})
        key = (frame.sender_epoch, frame.process_salt)
        window = windows.get(key)
        if window is None:
            window = windows[key] = ReplayWindow()
            while len(windows) > REPLAY_PROCESSES_PER_SENDER:
                del windows[next(iter(windows))]  # the oldest process of this sender
        return window

    def on_path_challenge(self, frame, address):
        """Answers a challenge (addressed to me, receiver epoch 0 or mine: checked by
        the caller) with a PATH_RESPONSE echoing its token to where it came from, to
        its sender's id and epoch. Changes nothing else: a challenge proves nothing
        about its sender to me. Rate-limited (a token bucket), as any reflector."""
        now = time.monotonic()
        self.path_tokens = min(PATH_RESPONSES_BURST,
                               self.path_tokens + (now - self.path_tokens_at) * PATH_RESPONSES_PER_SECOND)
        self.path_tokens_at = now
        if self.path_tokens < 1:
            return self.drop("rate-limited", "PATH_CHALLENGE not answered", frame.sender_id)
        self.path_tokens -= 1
        response = wire.Frame(wire.TYPE_PATH_RESPONSE, 0, self.me["id"], frame.sender_id, self.epoch,
                              frame.sender_epoch, 0, 0, 0, frame.payload)
        self.send(address, response)
        log("path-response", peer=frame.sender_id, epoch=frame.sender_epoch, address="%s:%d" % address[:2])

    def on_probe(self, link, frame, address):
        # Probes come only from a process the bootstrap knows, to my current process.
        if frame.sender_epoch != link.remote_epoch:
            return self.drop("unknown-epoch", "probe from epoch %d" % frame.sender_epoch, link.peer_id)
        if frame.receiver_epoch != self.epoch:
            return self.drop("stale-epoch", "probe for epoch %d" % frame.receiver_epoch, link.peer_id)
        link.address = address
        probe = frame.payload
        for u in probe.updates:
            if (u.id == self.me["id"] and u.epoch == self.epoch and u.incarnation >= self.incarnation
                    and u.state in (pb.MEMBER_STATE_SUSPECT, pb.MEMBER_STATE_FAILED, pb.MEMBER_STATE_LEFT)):
                self.incarnation = u.incarnation + 1
                self.refutation_sends = 8
                log("refute", incarnation=self.incarnation, reporter=u.reporter)
        if probe.kind == pb.PROBE_KIND_PING:
            self.send_probe(link, pb.PROBE_KIND_ACK, probe.probe_id)
        elif probe.kind == pb.PROBE_KIND_PING_REQ:
            target = self.links.get(probe.target_id)
            if target is None or target.remote_epoch == 0 or target.remote_epoch != probe.target_epoch:
                return
            if len(self.relays) >= RELAYS_MAX:
                return
            probe_id = self.probe_id_next
            self.probe_id_next = probe_id % 0xFFFFFFFF + 1
            self.relays[probe_id] = (link, probe.probe_id, target.peer_id, time.monotonic() + 1.0)
            self.send_probe(target, pb.PROBE_KIND_PING, probe_id)
        elif probe.kind == pb.PROBE_KIND_ACK:
            relay = self.relays.pop(probe.probe_id, None)
            if relay is not None and relay[2] == link.peer_id:
                self.send_probe(relay[0], pb.PROBE_KIND_ACK, relay[1])

    def send_probe(self, link, kind, probe_id):
        probe = pb.Probe(kind=kind, probe_id=probe_id)
        if self.refutation_sends > 0:
            self.refutation_sends -= 1
            probe.updates.append(pb.MemberUpdate(id=self.me["id"], epoch=self.epoch, incarnation=self.incarnation,
                                                 state=pb.MEMBER_STATE_ALIVE, reporter=self.me["id"]))
        frame = wire.Frame(wire.TYPE_PROBE, 0, self.me["id"], link.peer_id, self.epoch, link.remote_epoch, 0, 0, 0, probe)
        self.send(link.address, frame)

    def adopt_epoch(self, link, epoch):
        old = link.remote_epoch
        link.remote_epoch = epoch
        if old == 0:
            # First contact: re-send what was sent blind, now addressed to this epoch.
            for seq in sorted(link.unacked, key=lambda s: wire.seq_diff(s, link.next_seq)):
                self.transmit_data(link, seq)
            link.backoff = 0
            return
        link.retired = (link.retired + [old])[-RETIRED_EPOCHS_MAX:]
        link.reset()
        log("peer-restarted", peer=link.peer_id, oldEpoch=old, newEpoch=epoch)
        self.queue_alive(link)

    def on_ack(self, link, ack, sack, ack_body=None):
        """Frames acknowledged by the cumulative ack, the sack bitmap or the Ack's
        ranges (their union); then the peer's message credit, if it states one."""
        acked = [s for s in link.unacked if wire.seq_diff(s, ack) <= 0]
        acked += [s for s in wire.sack_seqs(ack, sack) if s in link.unacked]
        if ack_body is not None and ack_body.ranges:
            runs = wire.ranges_runs(ack_body.ranges)
            for seq in link.unacked:
                d = wire.seq_diff(seq, ack)
                if d > 0 and any(first <= d <= last for first, last in runs):
                    acked.append(seq)
        for seq in acked:
            link.unacked.pop(seq, None)
        if acked:
            link.backoff = 0
        if ack_body is not None and ack_body.message_credit != 0:
            # 0 states nothing (the last credit stays). Credit only grows: a reordered
            # older ack does not take back what a newer one gave (serial comparison).
            if link.credit is None or wire.seq_diff(ack_body.message_credit, link.credit) > 0:
                link.credit = ack_body.message_credit
        self.pump(link)

    def on_data(self, link, seq, bundle):
        distance = wire.seq_diff(seq, link.rcv_next)
        if distance < 0 or seq in link.buffered:
            return  # duplicate: the ACK below tells the sender again
        link.buffered[seq] = (bundle, time.monotonic())
        while link.rcv_next in link.buffered:
            bundle, link.ack_at = link.buffered.pop(link.rcv_next)
            self.deliver(link, bundle)
            link.rcv_next = (link.rcv_next + 1) & 0xFFFFFFFF

    def deliver(self, link, bundle):
        messages = list(bundle.messages)
        if bundle.HasField("fragment"):
            frag = bundle.fragment
            if frag.offset == 0:
                link.reassembly = bytearray()
            if link.reassembly is None or len(link.reassembly) != frag.offset:
                link.reassembly = None
                return self.drop("fragment-out-of-sequence", "offset %d" % frag.offset, link.peer_id)
            link.reassembly += frag.data
            if len(link.reassembly) == frag.total_length:
                messages.append(bytes(link.reassembly))
                link.reassembly = None
        for data in messages:
            try:
                env = pb.Envelope.FromString(data)
            except Exception as error:
                self.drop("bad-envelope", str(error), link.peer_id)
                continue
            body = env.WhichOneof("body")
            if body == "alive" and env.alive.hosts_digest != self.digest:
                log("hosts-mismatch", peer=link.peer_id, name=env.alive.name, level="error")
            elif body == "goodbye":
                log("peer-left", peer=link.peer_id, reason=env.goodbye.reason)
            elif body == "data":
                log("message", peer=link.peer_id, bytes=len(env.data.body))
            elif body == "module":
                # A protocol module's message. This peer runs none, so it is left out of
                # groups (it never asks to join) and only logs what it was sent.
                self.on_module(link, env.module)

    def on_module(self, link, module):
        if module.channel != 1:
            return self.drop("unknown-channel", "channel %d" % module.channel, link.peer_id)
        try:
            group = pb.GroupMessage.FromString(module.body)
        except Exception as error:
            return self.drop("bad-module-message", str(error), link.peer_id)
        log("group-message", peer=link.peer_id, kind=group.WhichOneof("body"), bytes=len(module.body))

    def check_ready(self):
        if not self.ready and len(self.heard) >= len(self.entries) - 1:
            self.ready = True
            log("ready", peers=len(self.entries), **self.stats)
            sys.stderr.write("READY\n")
            sys.stderr.flush()

    def on_timer(self):
        now = time.monotonic()
        for probe_id in [p for p, r in self.relays.items() if r[3] <= now]:
            del self.relays[probe_id]
        for link in self.links.values():
            if link.address is None:
                continue
            due = [s for s, e in link.unacked.items() if now - e[1] >= link.rto()]
            if due:
                for seq in sorted(due, key=lambda s: wire.seq_diff(s, link.next_seq)):
                    self.transmit_data(link, seq)
                link.backoff = min(link.backoff + 1, 10)

    def next_deadline(self):
        deadlines = [e[1] + link.rto() for link in self.links.values() for e in link.unacked.values()]
        return min(deadlines) if deadlines else None

    def run(self, stop_flag):
        last_resolve = 0.0
        while not stop_flag["stop"]:
            deadline = self.next_deadline()
            timeout = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if readable:
                self.receive_all()
            self.on_timer()
            if time.monotonic() - last_resolve > 0.5:
                last_resolve = time.monotonic()
                self.resolve_all()
        self.say_goodbye(stop_flag["reason"])

    def receive_all(self):
        while True:
            try:
                data, address = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:
                continue  # ICMP errors surface here; the datagram that caused them counts as lost
            self.on_datagram(data, address)

    def say_goodbye(self, reason):
        env = pb.Envelope(goodbye=pb.Goodbye(reason=reason)).SerializeToString(deterministic=True)
        for link in self.links.values():
            self.queue(link, env)
        end = time.monotonic() + 1.0
        while time.monotonic() < end and any(link.unacked or link.pending for link in self.links.values() if link.remote_epoch):
            readable, _, _ = select.select([self.sock], [], [], 0.02)
            if readable:
                self.receive_all()
            self.on_timer()
        log("stop", reason=reason, **self.stats)


def main(argv):
    global ME
    parser = argparse.ArgumentParser(prog="peer.py", add_help=False)
    parser.add_argument("-h", "--hosts")
    parser.add_argument("--name", default=socket.gethostname())
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--key-file")
    parser.add_argument("--help", action="store_true")
    args = parser.parse_args(argv)
    if args.help or not args.hosts:
        print(__doc__)
        return 0 if args.help else 2
    key_file = args.key_file if args.key_file is not None else (os.environ.get("ROLLCALL_KEY_FILE") or None)
    try:
        entries, digest = load_hosts(args.hosts, args.port)
        me = find_self(entries, args.name)
        keyring = wire.load_key_file(key_file) if key_file is not None else None
    except (InputError, ValueError, wire.KeyFileError) as error:
        sys.stderr.write("rollcall-python: %s\n" % error)
        return 2
    ME = me["id"]
    peer = PythonPeer(entries, digest, me, keyring)
    stop = {"stop": False, "reason": ""}

    def on_signal(signum, _frame):
        stop["stop"] = True
        stop["reason"] = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peer.start()
    peer.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
