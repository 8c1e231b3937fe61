#!/usr/bin/env bash
# The producer under adverse consumers (issue: benchmarks, item 3): the
# simulated node publishes flat out for DURATION seconds with no consumer,
# with 4 consumers, and with one consumer stopped (SIGSTOP) for 10 seconds;
# prints its publish rate and publish-latency percentiles side by side.
#
#   bash benches/adverse.sh [DURATION_SECONDS]   (default 12)
#
# Consumers are `slipstream-tail --json` processes writing to /dev/null. On a
# 2-core machine, 4 busy consumers and the node share 2 cores: whatever the
# node loses there it loses to the scheduler, not to the ring.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-12}
cargo build -q --release -p slipstream-tools
bin=target/release
ring=/dev/shm/slipstream-adverse-$$
pids=()
cleanup() {
  set +e # a child already gone must not stop the clean-up
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] || continue
    kill -CONT "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null || true
  rm -rf "$ring" "$ring.lock" "$ring.wake" "$ring.readers"
}
trap cleanup EXIT INT TERM

run() { # name, consumers, stop?
  local name=$1 consumers=$2 stop=$3
  rm -rf "$ring" "$ring.lock" "$ring.wake" "$ring.readers"
  pids=()
  "$bin/slipstream-sim" "$ring" --flat-out --duration "${secs}s" --capacity 64MiB \
    --report-every 1000000 2>"/tmp/adverse-$$.log" &
  local sim=$!
  for _ in $(seq 1 200); do [ -s "$ring" ] && break; sleep 0.05; done
  for _ in $(seq 1 "$consumers"); do
    "$bin/slipstream-tail" "$ring" --json --from end --wait 5s >/dev/null 2>&1 &
    pids+=($!)
  done
  if [ "$stop" = yes ]; then
    sleep 1
    kill -STOP "${pids[0]}"
    sleep 10
    kill -CONT "${pids[0]}"
  fi
  wait "$sim"
  local done_line
  done_line=$(grep "done:" "/tmp/adverse-$$.log" | sed 's/.*| \([0-9]* blocks\)/\1/')
  printf '| %s | %s |\n' "$name" "$done_line"
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "/tmp/adverse-$$.log"
}

echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, kernel $(uname -r)"
echo "Command: bash benches/adverse.sh $secs   (slipstream-sim --flat-out --duration ${secs}s --capacity 64MiB; release build)"
echo
echo "| consumers | node's summary: blocks, events, bytes, rate, publish latency (one event, encode included) |"
echo "|---|---|"
run "none" 0 no
run "4 × slipstream-tail --json" 4 no
run "1 × slipstream-tail, stopped (SIGSTOP) 10 s" 1 yes
