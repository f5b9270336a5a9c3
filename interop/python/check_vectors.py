"""Checks the Python codec against the golden vectors shared with TypeScript.

usage: run.sh check_vectors.py test/vectors/frames.json [test/vectors/fuzz-regressions.json]

Valid frames must decode to the stated header and payload and re-encode byte
for byte; every prefix must be rejected; one trailing byte must be rejected;
invalid frames must be rejected for the stated reason. Prints one line per
failure and a closing 'N passed, N failed' line; exits 1 on any failure.
"""

import base64
import json
import sys

import rollcall_wire as wire
from google.protobuf import json_format
from rollcall.v1 import rollcall_pb2 as pb


def main(paths):
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    with open(paths[0]) as f:
        vectors = json.load(f)
    for v in vectors["valid"]:
        data = bytes.fromhex(v["hex"])
        frame, reason, detail = wire.decode(data)
        if frame is None:
            check(False, "%s: rejected as %s (%s)" % (v["name"], reason, detail))
            continue
        header = dict(v["header"])
        stored_checksum = header.pop("checksum")
        check(frame.header_dict() == header, "%s: header %r != %r" % (v["name"], frame.header_dict(), header))
        check(int.from_bytes(data[32:36], "big") == stored_checksum, "%s: checksum field" % v["name"])
        if frame.type == wire.TYPE_DATA:
            bundle = v["payload"]["bundle"]
            check([m.hex() for m in frame.payload.messages] == bundle["messages"], "%s: messages" % v["name"])
            frag = bundle["fragment"]
            if frag is None:
                check(not frame.payload.HasField("fragment"), "%s: unexpected fragment" % v["name"])
            else:
                got = frame.payload.fragment
                check((got.total_length, got.offset, got.data.hex()) == (frag["totalLength"], frag["offset"], frag["data"]),
                      "%s: fragment" % v["name"])
            for i, env_json in enumerate(v.get("envelopes") or []):
                env = json_format.ParseDict(env_json, pb.Envelope())
                check(env.SerializeToString(deterministic=True) == frame.payload.messages[i],
                      "%s: envelope %d encodes differently" % (v["name"], i))
        if frame.type == wire.TYPE_PROBE:
            expected = json_format.ParseDict(v["payload"]["probe"], pb.Probe())
            check(frame.payload == expected, "%s: probe %s != %s" % (v["name"], frame.payload, expected))
        again = wire.encode(frame)
        check(again == data, "%s: re-encoding differs:\n  %s\n  %s" % (v["name"], again.hex(), v["hex"]))
        for length in range(len(data)):
            f2, _, _ = wire.decode(data[:length])
            check(f2 is None, "%s: prefix of %d bytes accepted" % (v["name"], length))
        _, reason, _ = wire.decode(data + b"\x00")
        expected = "too-large" if len(data) + 1 > wire.FRAME_BYTES_MAX else "trailing-bytes"
        check(reason == expected, "%s + 1 byte: %s, expected %s" % (v["name"], reason, expected))
    for v in vectors["invalid"]:
        frame, reason, detail = wire.decode(bytes.fromhex(v["hex"]))
        check(frame is None and reason == v["reason"],
              "%s: got %s (%s), expected %s" % (v["name"], "accepted" if frame else reason, detail, v["reason"]))
    if len(paths) > 1:
        with open(paths[1]) as f:
            for r in json.load(f)["cases"]:
                frame, reason, _ = wire.decode(bytes.fromhex(r["hex"]))
                got = "ok" if frame is not None else reason
                check(got == r["expected"], "regression %s: %s, expected %s" % (r["name"], got, r["expected"]))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
