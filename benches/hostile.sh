#!/usr/bin/env bash
# The producer under a hostile consumer (issue 9, point 5): slipstream-sim
# publishes flat out for DURATION seconds, undisturbed, and with the hostile
# child of tests/tests/hostile.rs attacking it for the whole run (as uid 64123
# in the ring's group: it truncates and garbles the wake file, holds the sleep
# announcement, puts 16 sleepers on the futex, takes every lock it can, claims
# names in a loop, tries to truncate the ring). ROUNDS pairs, alternating;
# prints each run's rate and the ratio of the medians.
#
#   sudo bash benches/hostile.sh [DURATION_SECONDS] [ROUNDS] [WAKE] [NICE]
#   (defaults 8, 3, thread:1ms, 19)
#
# WAKE is the simulator's --wake (block, event, thread:INTERVAL): with a
# thread the node's finalize thread makes no system call at all; with block it
# pays the wake-up of the hostile's sleepers at every block. NICE is the
# hostile process's nice value: the ring cannot stop a local user from taking
# CPU time (on 2 cores, 17 busy threads leave the node a fraction of a core);
# that is the scheduler's job, and NICE=0 shows what it costs.
#
# Needs root (to drop privileges for the hostile child) and setpriv
# (bash tests/install-deps.sh). On a 2-core machine the hostile child takes
# CPU time from the node: whatever the node loses there it loses to the
# scheduler, not to the ring.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
rounds=${2:-3}
wake=${3:-thread:1ms}
nice=${4:-19}
[ "$(id -u)" = 0 ] || { echo "benches/hostile.sh: needs root, to run the hostile consumer as another user" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "benches/hostile.sh: setpriv is missing: bash tests/install-deps.sh" >&2; exit 1; }
cargo build -q --release -p slipstream-tools
hostile=$(cargo test -q --release -p slipstream-tests --test hostile --no-run --message-format=json 2>/dev/null |
  python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and "/hostile-" in m["executable"]:
        print(m["executable"])')
bin=target/release
ring=/dev/shm/slipstream-hostile-bench-$$
pids=()
cleanup() {
  set +e
  for p in "${pids[@]:-}"; do [ -n "$p" ] && { kill -CONT "$p"; kill -9 "$p"; } 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$ring" "$ring.lock" "$ring.wake" "$ring.readers" "/tmp/hostile-bench-$$.log"
}
trap cleanup EXIT INT TERM

run() { # attack? -> prints events/s
  local attack=$1
  rm -rf "$ring" "$ring.lock" "$ring.wake" "$ring.readers"
  pids=()
  "$bin/slipstream-sim" "$ring" --flat-out --duration "${secs}s" --capacity 64MiB --mode 640 \
    --wake "$wake" --report-every 1000000 2>"/tmp/hostile-bench-$$.log" &
  local sim=$!
  for _ in $(seq 1 200); do [ -s "$ring" ] && [ -d "$ring.readers" ] && break; sleep 0.05; done
  if [ "$attack" = yes ]; then
    # The ring is root:root 0640: gid 0 makes the hostile user a group member.
    SLIPSTREAM_HOSTILE="$ring" SLIPSTREAM_PRODUCER_PID=$sim SLIPSTREAM_ATTACK_SECS=$((secs + 5)) \
      nice -n "$nice" setpriv --reuid=64123 --regid=0 --clear-groups \
      "$hostile" --exact child_entry_hostile --nocapture --test-threads=1 >/dev/null 2>&1 &
    pids+=($!)
  fi
  wait "$sim"
  local next
  next=$(grep -o 'next seq [0-9]*' "/tmp/hostile-bench-$$.log" | grep -o '[0-9]*$')
  for p in "${pids[@]:-}"; do [ -n "$p" ] && { kill -CONT "$p"; kill -9 "$p"; } 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo $(( (next - 1) / secs ))
}

echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, kernel $(uname -r)"
echo "Command: bash benches/hostile.sh $secs $rounds $wake $nice   (slipstream-sim --flat-out --duration ${secs}s --capacity 64MiB --wake $wake; hostile at nice $nice; release build)"
echo
echo "| round | undisturbed events/s | under attack events/s |"
echo "|---|---|---|"
calm=(); hostile_rates=()
for r in $(seq 1 "$rounds"); do
  a=$(run no); b=$(run yes)
  calm+=("$a"); hostile_rates+=("$b")
  echo "| $r | $a | $b |"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mc=$(median "${calm[@]}"); mh=$(median "${hostile_rates[@]}")
echo
echo "median undisturbed $mc events/s, under attack $mh events/s: ratio $(python3 -c "print(f'{$mh/$mc:.3f}')")"
