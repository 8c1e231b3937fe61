#!/usr/bin/env bash
# The journal (issue 12, benchmarks): in each run, the simulated node publishes
# flat out for SECONDS into a fresh 256 MiB ring while `slipstream-journal
# record` follows it into a journal on tmpfs (/dev/shm) or on the work disk
# (target/); then the journal is verified and replayed. Prints, per run:
#   - the node's publish rate (events/s, MB/s) with the recorder attached,
#   - the recorder's rate while it recorded, and what it missed (gaps),
#   - replay of the whole journal (records/s, GB/s of records as the ring held them),
# and a run of the node alone (no consumer) for the publish figures without one.
#
#   bash benches/journal.sh [RUNS] [SECONDS]   (defaults 5 and 8)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
secs=${2:-8}
cargo build -q --release -p slipstream-tools -p slipstream-journal-tool
bin=$PWD/target/release
ring=/dev/shm/slipstream-jbench-$$
log=/tmp/slipstream-jbench-$$
dirs=("/dev/shm/slipstream-jbench-dir-$$" "$PWD/target/slipstream-jbench-dir-$$")
pids=()
cleanup() {
  set +e
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$ring" "${dirs[@]}" "$log".*
}
trap cleanup EXIT INT TERM

sim_rate() { sed -n 's/.* in [^:]*: \([0-9]* events\/s, [0-9.]* MB\/s\)\(.*\)/\1\2/p' "$1" | tail -1; }

for i in $(seq 1 "$runs"); do
  # The node alone.
  rm -f "$ring"
  "$bin/slipstream-sim" "$ring" --flat-out --duration "${secs}s" --capacity 256MiB --recreate --report-every 1000000 2>"$log.sim"
  echo "run $i alone: node $(sim_rate "$log.sim")"
  for dir in "${dirs[@]}"; do
    where=$([ "${dir#/dev/shm}" != "$dir" ] && echo tmpfs || echo disk)
    rm -rf "$ring" "$dir"
    "$bin/slipstream-sim" "$ring" --flat-out --duration "${secs}s" --capacity 256MiB --recreate --report-every 1000000 2>"$log.sim" &
    sim=$!
    pids=("$sim")
    for _ in $(seq 1 200); do [ -s "$ring" ] && break; sleep 0.01; done
    "$bin/slipstream-journal" record "$ring" --dir "$dir" --from oldest --exit-when-idle 1s --fsync segment 2>"$log.rec" &
    rec=$!
    pids=("$sim" "$rec")
    wait "$sim"
    wait "$rec"
    pids=()
    recline=$(grep 'recorded' "$log.rec" | tail -1)
    echo "run $i $where: node $(sim_rate "$log.sim") | recorder $(echo "$recline" | sed -n 's/.*while recording: \([0-9]* records\/s, [0-9.]* MB\/s\).*) and \([0-9]* gaps ([0-9]* missed)\).*/\1, \2/p')"
    "$bin/slipstream-journal" verify "$dir" | head -1 | cut -c1-120
    "$bin/slipstream-journal" replay "$dir" | sed "s/^/run $i $where replay: /"
    rm -rf "$dir"
  done
done
