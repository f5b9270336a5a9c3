#!/usr/bin/env bash
# Installs the Debian packages some tests need beyond Node.js and npm:
# protoc and python3-protobuf for the Python interop peer (interop/python),
# and Debian's headless Chromium for the timeline test (test/timeline).
# Idempotent; needs root (or sudo) and Debian's package mirror.
set -euo pipefail
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1 || need+=(python3-protobuf)
command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || need+=(chromium-headless-shell)
if [ ${#need[@]} -eq 0 ]; then
  echo "system dependencies present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
