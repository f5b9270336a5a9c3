"""Checks the Python codec against the golden vectors shared with TypeScript.

usage: run.sh check_vectors.py test/vectors/frames.json [test/vectors/fuzz-regressions.json]

Valid frames must decode to the stated header and payload and re-encode byte
for byte; every prefix must be rejected; one trailing byte must be rejected;
invalid frames must be rejected for the stated reason. The top-level vectors
are judged by a receiver without a key; the `sealed` section's by a receiver
holding `sealed.keys` (valid ones are also re-sealed with the stated key,
salt and packet number to the identical bytes). Prints one line per failure
and a closing 'N passed, N failed' line; exits 1 on any failure.
"""

import base64
import json
import os
import sys

import rollcall_wire as wire
from google.protobuf import json_format
from rollcall.v1 import rollcall_pb2 as pb


def as_bytes(value):
    """A vector's byte field: hex string (or a big-endian integer for a 4-byte key id)."""
    if isinstance(value, int):
        return value.to_bytes(4, "big")
    return bytes.fromhex(value)


def main(paths):
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    def check_payload(v, frame):
        """The decoded body against the vector's `payload` (and `envelopes`)."""
        name, payload = v["name"], v["payload"]
        if frame.type == wire.TYPE_DATA:
            if not check_key(payload, "bundle", name):
                return
            bundle = payload["bundle"]
            check([m.hex() for m in frame.payload.messages] == bundle["messages"], "%s: messages" % name)
            frag = bundle["fragment"]
            if frag is None:
                check(not frame.payload.HasField("fragment"), "%s: unexpected fragment" % name)
            else:
                got = frame.payload.fragment
                check((got.total_length, got.offset, got.data.hex()) == (frag["totalLength"], frag["offset"], frag["data"]),
                      "%s: fragment" % name)
            for i, env_json in enumerate(v.get("envelopes") or []):
                env = json_format.ParseDict(env_json, pb.Envelope())
                check(i < len(frame.payload.messages)
                      and env.SerializeToString(deterministic=True) == frame.payload.messages[i],
                      "%s: envelope %d encodes differently" % (name, i))
            # Channel 1 (the group layer): the module body is the stated GroupMessage.
            for i, group_json in enumerate(v.get("groupMessages") or []):
                if group_json is None:
                    continue
                env = pb.Envelope.FromString(frame.payload.messages[i])
                check(env.WhichOneof("body") == "module" and env.module.channel == 1,
                      "%s: envelope %d is not on channel 1" % (name, i))
                expected = json_format.ParseDict(group_json, pb.GroupMessage())
                check(pb.GroupMessage.FromString(env.module.body) == expected,
                      "%s: group message %d differs" % (name, i))
                # With ordering on, each multicast body is an OrderedMulticast.
                if expected.WhichOneof("body") == "data" and v.get("orderedMulticasts") is not None:
                    wanted = [json_format.ParseDict(m, pb.OrderedMulticast()) for m in v["orderedMulticasts"]]
                    got = [pb.OrderedMulticast.FromString(b) for b in expected.data.body]
                    check(got == wanted, "%s: ordered multicasts differ" % name)
        elif frame.type == wire.TYPE_PROBE:
            if not check_key(payload, "probe", name):
                return
            expected = json_format.ParseDict(payload["probe"], pb.Probe())
            check(frame.payload == expected, "%s: probe %s != %s" % (name, frame.payload, expected))
        elif frame.type == wire.TYPE_ACK:
            if check_key(payload, "ack", name):
                check(frame.payload == json_format.ParseDict(payload["ack"], pb.Ack()), "%s: ack" % name)
        else:  # PATH_CHALLENGE, PATH_RESPONSE: the 8-byte token
            if check_key(payload, "path", name):
                check(frame.payload.hex() == payload["path"],
                      "%s: token %s != %s" % (name, frame.payload.hex(), payload["path"]))

    def check_key(payload, key, name):
        ok = isinstance(payload, dict) and key in payload
        check(ok, "%s: payload %r has no %r" % (name, payload, key))
        return ok

    def check_frame_edges(v, data, keyring):
        """Every prefix rejected; one byte more rejected as trailing-bytes (too-large at 1400)."""
        for length in range(len(data)):
            f2, _, _ = wire.decode(data[:length], keyring)
            check(f2 is None, "%s: prefix of %d bytes accepted" % (v["name"], length))
        _, reason, _ = wire.decode(data + b"\x00", keyring)
        expected = "too-large" if len(data) + 1 > wire.FRAME_BYTES_MAX else "trailing-bytes"
        check(reason == expected, "%s + 1 byte: %s, expected %s" % (v["name"], reason, expected))

    def check_header(v, frame, data):
        header = dict(v["header"])
        stored_checksum = header.pop("checksum")
        check(frame.header_dict() == header, "%s: header %r != %r" % (v["name"], frame.header_dict(), header))
        check(int.from_bytes(data[32:36], "big") == stored_checksum, "%s: checksum field" % v["name"])

    # A receiver holding an unrelated key: rejects plain frames and frames sealed with another key.
    stranger = wire.Keyring([os.urandom(wire.KEY_BYTES)])

    with open(paths[0]) as f:
        vectors = json.load(f)
    for v in vectors["valid"]:
        data = bytes.fromhex(v["hex"])
        frame, reason, detail = wire.decode(data, None)
        if frame is None:
            check(False, "%s: rejected as %s (%s)" % (v["name"], reason, detail))
            continue
        check_header(v, frame, data)
        check_payload(v, frame)
        again = wire.encode(frame)
        check(again == data, "%s: re-encoding differs:\n  %s\n  %s" % (v["name"], again.hex(), v["hex"]))
        check_frame_edges(v, data, None)
        _, reason, _ = wire.decode(data, stranger)
        check(reason == "unauthenticated", "%s: a receiver with a key says %s, expected unauthenticated" % (v["name"], reason))
    for v in vectors["invalid"]:
        # As judged by a receiver without a key (docs/wire-format.md "Golden vectors").
        frame, reason, detail = wire.decode(bytes.fromhex(v["hex"]), None)
        check(frame is None and reason == v["reason"],
              "%s: got %s (%s), expected %s" % (v["name"], "accepted" if frame else reason, detail, v["reason"]))

    sealed = vectors.get("sealed")
    check(sealed is not None, "frames.json has no `sealed` section")
    if sealed is not None:
        keys = [base64.b64decode(k, validate=True) for k in sealed["keys"]]
        keyring = wire.Keyring(keys)
        check(len(sealed["valid"]) > 0 and len(sealed["invalid"]) > 0, "sealed: no valid or no invalid vectors")
        for v in sealed["valid"]:
            name = "sealed/" + v["name"]
            v = dict(v, name=name)
            data = bytes.fromhex(v["hex"])
            frame, reason, detail = wire.decode(data, keyring)
            if frame is None:
                check(False, "%s: rejected as %s (%s)" % (name, reason, detail))
                continue
            check_header(v, frame, data)
            check(frame.key_id == as_bytes(v["keyId"]), "%s: key id %s != %s" % (name, frame.key_id.hex(), v["keyId"]))
            check(frame.process_salt == as_bytes(v["processSalt"]),
                  "%s: process salt %s != %s" % (name, frame.process_salt.hex(), v["processSalt"]))
            check(frame.packet_number == v["packetNumber"],
                  "%s: packet number %s != %s" % (name, frame.packet_number, v["packetNumber"]))
            check(frame.body.hex() == v["body"], "%s: body %s != %s" % (name, frame.body.hex(), v["body"]))
            check_payload(v, frame)
            # Re-seal with the key the frame names (the primary, or an older key of a rotation).
            key = next((k for k in keys if wire.key_id(k) == frame.key_id), None)
            fk = wire.frame_key(key, frame.sender_id, frame.sender_epoch, frame.process_salt)
            check(fk.hex() == v["frameKey"], "%s: frame key %s != %s" % (name, fk.hex(), v["frameKey"]))
            again = wire.encode_sealed(frame, key, frame.process_salt, frame.packet_number)
            check(again == data, "%s: re-sealing differs:\n  %s\n  %s" % (name, again.hex(), v["hex"]))
            check_frame_edges(v, data, keyring)
            _, reason, _ = wire.decode(data, None)
            check(reason == "unauthenticated", "%s: a receiver without a key says %s, expected unauthenticated" % (name, reason))
            _, reason, _ = wire.decode(data, stranger)
            check(reason == "unauthenticated", "%s: a receiver with another key says %s, expected unauthenticated" % (name, reason))
        for v in sealed["invalid"]:
            frame, reason, detail = wire.decode(bytes.fromhex(v["hex"]), keyring)
            check(frame is None and reason == v["reason"],
                  "sealed/%s: got %s (%s), expected %s" % (v["name"], "accepted" if frame else reason, detail, v["reason"]))

    if len(paths) > 1:
        with open(paths[1]) as f:
            for r in json.load(f)["cases"]:
                frame, reason, _ = wire.decode(bytes.fromhex(r["hex"]), None)
                got = "ok" if frame is not None else reason
                check(got == r["expected"], "regression %s: %s, expected %s" % (r["name"], got, r["expected"]))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
