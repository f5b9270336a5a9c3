#!/bin/sh
# Runs a script of the Python reference peer with its protobuf code generated
# from proto/ by Debian's protoc, for Debian's /usr/bin/python3 (which has
# python3-protobuf; the first python3 on PATH may not).
#   interop/python/run.sh peer.py -h hosts --name NAME
#   interop/python/run.sh check_vectors.py test/vectors/frames.json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gen="$here/gen"
proto="$root/proto/rollcall/v1/rollcall.proto"
if [ ! -f "$gen/rollcall/v1/rollcall_pb2.py" ] || [ "$proto" -nt "$gen/rollcall/v1/rollcall_pb2.py" ]; then
  command -v protoc >/dev/null || { echo "run.sh: protoc not found: apt-get install protobuf-compiler python3-protobuf" >&2; exit 2; }
  mkdir -p "$gen"
  protoc -I "$root/proto" --python_out="$gen" "$proto"
fi
script=$1
shift
PYTHONPATH="$gen:$here" exec /usr/bin/python3 "$here/$script" "$@"
