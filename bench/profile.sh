#!/usr/bin/env bash
# A flamegraph of one livecart build under the reserve/return case: the
# server on core 0 and the load generator on core 1, as bench/run.sh runs
# them; perf samples core 0 (997 Hz, DWARF call graphs) for the whole run,
# and the graph keeps the server's own threads (tokio workers and SQLite's
# connection threads), without the benchmark's staff sign-in (argon2).
#
#   bench/profile.sh NAME [LIVECART_BINARY] [--only TEXT]
#     -> bench/results/NAME.svg (and /tmp/livecart-profile-NAME.folded)
#
# Needs perf (Debian's linux-perf) and inferno (cargo install inferno).
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"; shift
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$CARGO_TARGET_DIR/release/livecart"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then bin="$(realpath "$1")"; shift; fi
only="reserve/return"
[ "${1:-}" = "--only" ] && only="$2"
command -v inferno-flamegraph >/dev/null || cargo install inferno --locked
ulimit -n "$(ulimit -Hn)"
cargo build --release --manifest-path bench/loadgen/Cargo.toml
work="$(mktemp -d)"
BENCH_STAMP=profile taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" suite --out "$work" \
  --repeat 1 --core 0 --livecart "$bin" --servers livecart --only "$only" > "$work/loadgen.log" &
load=$!
sleep 1
perf record -q -C 0 -F 997 --call-graph dwarf,16384 -o "$work/perf.data" -- sleep 13 2>/dev/null
wait "$load"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf \
  | grep -E '^(tokio-rt-worker|sqlx-sqlite-wor|livecart)' | grep -v argon2 \
  > "/tmp/livecart-profile-$name.folded"
inferno-flamegraph --minwidth 0.5 --title "livecart, $only: $name" \
  < "/tmp/livecart-profile-$name.folded" > "bench/results/$name.svg"
grep '^|' "$work/loadgen.log" || true
echo "wrote bench/results/$name.svg" >&2
rm -rf "$work"
