#!/usr/bin/env bash
# JGroups view-change time after kill -9 of the coordinator, default UDP stack (udp.xml).
#
#   sudo bash bench/jgroups/run.sh [N=5] [TRIALS=5]
#
# Needs root (ip netns), javac/java and Debian's libjgroups-java (apt-get install -y libjgroups-java).
# Every JVM runs inside a private network namespace (loopback only, multicast routed to lo),
# so no packet leaves this host. Each trial uses a fresh cluster of N members (started one by one); the killed
# coordinator is not restarted. Measured: from `kill -9` (wall clock, ms) to the moment the
# LAST survivor installed a view of size N-1 (timestamp printed by the JVM in viewAccepted).
set -euo pipefail

N=${1:-5}
TRIALS=${2:-5}
JAR=${JGROUPS_JAR:-/usr/share/java/jgroups.jar}
JOIN_TIMEOUT_S=${JOIN_TIMEOUT_S:-$((60 + 10 * N))}
VIEW_TIMEOUT_S=${VIEW_TIMEOUT_S:-60}
SIGNAL=${SIGNAL:-KILL} # SIGNAL=STOP freezes the coordinator instead: sockets stay open, so FD_SOCK can't see it
SETTLE_S=${SETTLE_S:-2} # let FD_SOCK ping sockets / FD_ALL heartbeats establish after the full view
HERE=$(cd "$(dirname "$0")" && pwd)

[[ $(id -u) == 0 ]] || { echo "needs root (ip netns)" >&2; exit 2; }
[[ -f $JAR ]] || { echo "missing $JAR: apt-get install -y libjgroups-java" >&2; exit 2; }
command -v javac >/dev/null || { echo "missing javac: apt-get install -y openjdk-17-jdk-headless" >&2; exit 2; }

NS=rcjg$$
TMP=$(mktemp -d /tmp/rcjg.XXXXXX)
PIDS=()

kill_members() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do # members are disowned (no "Killed" job notices); bash still reaps them
    for _ in {1..100}; do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
  PIDS=()
}
cleanup() {
  set +e
  kill_members
  if ip netns list | grep -qw "$NS"; then
    # safety net: anything still inside our own namespace was started by this script
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$NS"
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

javac -nowarn -cp "$JAR" -d "$TMP/cls" "$HERE/ViewChange.java"

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo multicast on
ip netns exec "$NS" ip route add 224.0.0.0/4 dev lo

run_java() { # run_java <log-prefix> args...
  local log=$1; shift
  ip netns exec "$NS" java -Xmx64m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true \
    -Djgroups.bind_addr=127.0.0.1 -cp "$JAR:$TMP/cls" ViewChange "$@" >"$log.out" 2>"$log.err" &
  PIDS+=("$!") # ip netns exec execs java: same pid
  disown "$!"
}

# Effective failure-detection settings, read from the stack `new JChannel()` builds.
ip netns exec "$NS" java -Xmx64m -Djava.net.preferIPv4Stack=true -Djgroups.bind_addr=127.0.0.1 \
  -cp "$JAR:$TMP/cls" ViewChange --config 2>/dev/null >"$TMP/config.txt"
head -1 "$TMP/config.txt"
sed -n '2,$p' "$TMP/config.txt" | tr -d '\n' | sed 's/):/)\n/g' |
  grep -E '^(PING|MERGE2|FD_SOCK|FD_ALL|FD|VERIFY_SUSPECT|pbcast.GMS)\(' | while IFS= read -r l; do
    printf '  %s: %s\n' "${l%%(*}" "$(sed 's/^[A-Za-z_.0-9]*(//; s/)$//' <<<"$l" | tr ';' '\n' |
      grep -E 'timeout|interval|num_|tries|keep_alive|bundling|heartbeat' | sort | tr '\n' ' ')"
  done

# view_ts <log> <size> <since_ms>: timestamp of the first VIEW of <size> at/after since, or empty
view_ts() { awk -v s="$2" -v t="$3" '$1=="VIEW" && $4==s && $2>=t {print $2; exit}' "$1" 2>/dev/null; }

last_size() { awk '$1=="VIEW"{s=$4} END{print s}' "$1" 2>/dev/null; }
views() { local f; for f in "$1"/m*.out; do echo "  $(basename "$f" .out): $(grep '^VIEW' "$f" | tail -1)"; done >&2; }

declare -a RESULTS FIRSTS pid_of
for ((t = 1; t <= TRIALS; t++)); do
  dir=$TMP/t$t; mkdir -p "$dir"
  cluster=rcbench-$$-$t
  pid_of=()
  start=$(now_ms)
  # One member at a time, each waiting until it is in a view of size i: starting 20 JVMs at once on
  # 2 cores makes PING (timeout=2000) miss the coordinator, and the split clusters then wait for MERGE2.
  deadline=$((SECONDS + JOIN_TIMEOUT_S))
  for ((i = 1; i <= N; i++)); do
    run_java "$dir/m$i" "m$i" "$cluster"
    pid_of[i]=${PIDS[-1]}
    until [[ $(last_size "$dir/m$i.out") == "$i" ]]; do
      ((SECONDS < deadline)) || { echo "trial $t: m$i not in a view of $i within ${JOIN_TIMEOUT_S}s" >&2; views "$dir"; exit 1; }
      sleep 0.1
    done
  done
  while :; do
    ok=0
    for ((i = 1; i <= N; i++)); do
      # the member's latest view must have size N
      [[ $(last_size "$dir/m$i.out") == "$N" ]] && ok=$((ok + 1))
    done
    ((ok == N)) && break
    ((SECONDS < deadline)) || { echo "trial $t: only $ok/$N members saw a view of $N within ${JOIN_TIMEOUT_S}s" >&2; views "$dir"; exit 1; }
    sleep 0.2
  done
  formed=$(now_ms)
  sleep "$SETTLE_S"
  coord=$(awk '$1=="VIEW"{l=$0} END{sub(/.*\[/,"",l); sub(/[],].*/,"",l); print l}' "$dir/m1.out")
  [[ $coord =~ ^m([0-9]+)$ ]] || { echo "trial $t: cannot parse coordinator '$coord'" >&2; exit 1; }
  ci=${BASH_REMATCH[1]}
  t_kill=$(now_ms)
  kill -s "$SIGNAL" "${pid_of[ci]}"
  deadline=$((SECONDS + VIEW_TIMEOUT_S))
  while :; do
    last=0 first=0 missing=0
    for ((i = 1; i <= N; i++)); do
      ((i == ci)) && continue
      ts=$(view_ts "$dir/m$i.out" $((N - 1)) "$t_kill")
      [[ -n $ts ]] || { missing=$((missing + 1)); continue; }
      ((ts > last)) && last=$ts
      ((first == 0 || ts < first)) && first=$ts
    done
    ((missing == 0)) && break
    ((SECONDS < deadline)) || { echo "trial $t: $missing survivors without a view of $((N - 1)) after ${VIEW_TIMEOUT_S}s" >&2; views "$dir"; exit 1; }
    sleep 0.1
  done
  RESULTS+=($((last - t_kill)))
  FIRSTS+=($((first - t_kill)))
  printf 'trial %d: N=%d formed in %d ms, kill -%s %s (coordinator) -> first survivor view %d ms, last survivor view %d ms\n' \
    "$t" "$N" $((formed - start)) "$SIGNAL" "$coord" $((first - t_kill)) $((last - t_kill))
  kill_members
done

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "JGroups N=$N trials=$TRIALS signal=$SIGNAL: last-survivor ms = ${RESULTS[*]}; median $(printf '%s\n' "${RESULTS[@]}" | median) ms" \
  "(first-survivor median $(printf '%s\n' "${FIRSTS[@]}" | median) ms)"
