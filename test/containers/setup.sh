#!/usr/bin/env bash
# Prepares a Docker engine for the container tests on a machine that can reach
# only Debian's packages and the npm registry (no container registry):
#   1. installs docker.io, docker-compose and nftables if missing;
#   2. starts dockerd if no engine answers;
#   3. builds a minimal base image from the Bun binary npm installed
#      (`docker import` of a root filesystem: bun, the libraries ldd lists,
#      the NSS modules DNS needs, a non-root user), tagged $BASE_IMAGE.
# Prints the base image tag on its last line. Idempotent.
# Also prints, on lines of their own and as soon as it happens, what it
# started or built, so that a caller can undo exactly that and nothing more:
#   dockerd-started PID
#   base-image-built TAG
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BASE_IMAGE=${BASE_IMAGE:-rollcall-test/bun-base:local}
log() { echo "setup: $*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

if ! docker info >/dev/null 2>&1; then
  # A dockerd killed with its session leaves a pid file that stops the next one.
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
  done
  log "starting dockerd"
  dockerd </dev/null >/tmp/rollcall-dockerd.log 2>&1 &
  # Printed before waiting: a caller that must stop it learns the PID even if it never answers.
  echo "dockerd-started $!"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/rollcall-dockerd.log"; tail -20 /tmp/rollcall-dockerd.log >&2; exit 1; }
fi

bun_bin=$(readlink -f "$root/node_modules/bun/bin/bun.exe")
[ -x "$bun_bin" ] || { log "no Bun binary at $bun_bin: run npm ci first"; exit 1; }
version=$("$bun_bin" --version)
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && [ "$(docker image inspect -f '{{ index .Config.Labels "bun.version" }}' "$BASE_IMAGE" 2>/dev/null)" = "$version" ]; then
  log "base image $BASE_IMAGE (bun $version) present"
  echo "$BASE_IMAGE"
  exit 0
fi

log "building base image $BASE_IMAGE from bun $version"
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{usr/local/bin,etc,tmp,home/bun,app}
chmod 1777 "$rootfs/tmp"
cp "$bun_bin" "$rootfs/usr/local/bin/bun"
# The dynamic loader and libraries bun links, plus what glibc's resolver loads at run time.
libs=$(ldd "$bun_bin" | grep -o '/[^ ]*' | sort -u)
for lib in $libs /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nbun:x:1000:1000:bun:/home/bun:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nbun:x:1000:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chown 1000:1000 "$rootfs/home/bun"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'WORKDIR /app' \
  -c "LABEL bun.version=$version" \
  - "$BASE_IMAGE" >&2
echo "base-image-built $BASE_IMAGE"
docker run --rm "$BASE_IMAGE" bun --version >&2
echo "$BASE_IMAGE"
