#!/usr/bin/env bash
# The bindings benchmark: events/s delivered to a Rust SDK loop, a C loop
# (libslipstream.a, bench/read.c) and a Python loop (the slipstream wheel,
# consumer-sdk/python/bench/read.py) reading the same prefilled rings, one
# after the other in each repetition, in one run. Prints a Markdown table.
#
#   bash consumer-sdk/c/bench/run.sh            # REPS=5 N64=4000000 BLOCKS=2000
#
# Rings (in /dev/shm, removed at the end):
#   64b      N64 mapping updates of exactly 64 payload bytes (bench_rust fill)
#   mapping  slipstream-sim --kinds mapping_update,mapping_removal: realistic
#            token-program mapping events (32-byte keys, 8..84-byte values)
# Each reader reads from the oldest event to the end and times itself from its
# first read (process start and attach excluded), touching each event's seq
# and value (or key); the three report the same event count and checksum.
set -euo pipefail
cd "$(dirname "$0")/../../.."
REPS=${REPS:-5}
N64=${N64:-4000000}
BLOCKS=${BLOCKS:-2000}
TMP=$(mktemp -d /tmp/slipstream-bindings-bench.XXXXXX)
R64=/dev/shm/slipstream-bindings-bench-64b-$$
RMAP=/dev/shm/slipstream-bindings-bench-mapping-$$
trap 'rm -rf "$TMP" "$R64" "$RMAP"' EXIT

echo "building (release)..." >&2
cargo build --release -q -p slipstream-c --lib --example bench_rust
cargo build --release -q -p slipstream-tools --bin slipstream-sim
cc -O2 -I consumer-sdk/c/include consumer-sdk/c/bench/read.c target/release/libslipstream.a \
  -lpthread -ldl -lm -o "$TMP/read_c"
CARGO_TARGET_DIR=target/python maturin build --release --quiet \
  -m consumer-sdk/python/Cargo.toml --out "$TMP/wheels" >&2
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install --quiet --no-index --no-deps "$TMP"/wheels/*.whl

echo "filling the rings..." >&2
uptime >&2
CAPACITY_MIB=512 target/release/examples/bench_rust fill "$R64" "$N64"
target/release/slipstream-sim "$RMAP" --flat-out --blocks "$BLOCKS" --events-per-block 1000 \
  --kinds mapping_update,mapping_removal --capacity 1GiB --block-size 1KiB --quiet

: > "$TMP/results"
for rep in $(seq 1 "$REPS"); do
  for ring in 64b mapping; do
    path=$R64; [ "$ring" = mapping ] && path=$RMAP
    for reader in rust c python python-next; do
      case $reader in
        rust) line=$(target/release/examples/bench_rust read "$path") ;;
        c) line=$("$TMP/read_c" "$path") ;;
        python) line=$("$TMP/venv/bin/python" consumer-sdk/python/bench/read.py "$path") ;;
        python-next) line=$("$TMP/venv/bin/python" consumer-sdk/python/bench/read.py "$path" --one) ;;
      esac
      echo "$rep $ring $reader $line" >> "$TMP/results"
      echo "rep $rep $ring $reader $line" >&2
    done
  done
done

python3 - "$TMP/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rep, ring, reader, js = line.split(" ", 3)
    d = json.loads(js)
    rows.setdefault((ring, reader), []).append((int(rep), d["events"], d["events"] / d["seconds"], d["check"]))
def med(xs): return statistics.median(xs)
print("| ring | reader | events per run | median events/s | range (min..max) | rate / Rust's rate in the same rep: median (min..max) |")
print("|---|---|---|---|---|---|")
for ring in ("64b", "mapping"):
    rust = {rep: rate for rep, _, rate, _ in rows[(ring, "rust")]}
    checks = {rows[(ring, r)][0][3] for r in ("rust", "c", "python", "python-next")}
    assert len(checks) == 1, f"{ring}: readers disagree on the checksum: {checks}"
    for reader in ("rust", "c", "python", "python-next"):
        rs = rows[(ring, reader)]
        rates = [r for _, _, r, _ in rs]
        ratios = [r / rust[rep] for rep, _, r, _ in rs]
        label = {"rust": "Rust SDK (try_next)", "c": "C (slipstream_consumer_next)", "python": "Python (next_batch(4096))", "python-next": "Python (next(timeout=0))"}[reader]
        vs = "1" if reader == "rust" else f"{med(ratios):.2f} ({min(ratios):.2f}..{max(ratios):.2f})"
        print(f"| {ring} | {label} | {rs[0][1]} | {med(rates)/1e6:.2f} M | {min(rates)/1e6:.2f}..{max(rates)/1e6:.2f} M | {vs} |")
PY
