#!/usr/bin/env bash
# Time to catch up a journal of about SIZE_GB (issue 12, benchmarks): the
# simulated node publishes flat out into a 1 GiB ring while
# `slipstream-journal record --fsync never` records it into a journal on the
# work disk (target/) until the journal holds SIZE_GB; then `slipstream-journal
# replay` reads all of it (every checksum checked) RUNS times. The first replay
# follows the recording, so part of the journal may still be in the page cache.
#
#   bash benches/journal-catchup.sh [SIZE_GB] [RUNS]   (defaults 10 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
gb=${1:-10}
runs=${2:-3}
cargo build -q --release -p slipstream-tools -p slipstream-journal-tool
bin=$PWD/target/release
ring=/dev/shm/slipstream-jcatchup-$$
dir=$PWD/target/slipstream-jcatchup-$$
pids=()
cleanup() {
  set +e
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$ring" "$dir"
}
trap cleanup EXIT INT TERM
"$bin/slipstream-sim" "$ring" --flat-out --capacity 1GiB --recreate -q &
pids=($!)
for _ in $(seq 1 200); do [ -s "$ring" ] && break; sleep 0.01; done
"$bin/slipstream-journal" record "$ring" --dir "$dir" --fsync never -q &
pids+=($!)
while [ "$(du -sb "$dir" 2>/dev/null | cut -f1)" -lt $((gb * 1000000000)) ]; do sleep 0.5; done
kill -TERM "${pids[@]}"
wait || true
pids=()
"$bin/slipstream-journal" ls "$dir" | tail -1
for i in $(seq 1 "$runs"); do
  "$bin/slipstream-journal" replay "$dir" | sed "s/^/replay $i: /"
done
