#!/usr/bin/env bash
# livecart's benchmark: builds release, then runs every case against livecart
# and its two peers (bench/peers: a Node.js `ws` server and a bare tokio +
# tungstenite floor), each server alone on core 0 in a fresh process for every
# run, the load generator on core 1. Writes bench/results/<date>.json, .md and
# -fan-out.svg, and prints the table.
#
#   bench/run.sh                 # the full matrix, 3 runs of each case
#   REPEAT=5 bench/run.sh        # more runs
#   bench/run.sh --quick         # small sizes, to try the harness
#   bench/run.sh --only fan-out  # one family of cases
#   CATALOGS="0 50000" bench/run.sh --only reserve   # 7 and 50,007 books, same run
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# 19,000 sockets per process need the open-file limit raised to its ceiling.
ulimit -n "$(ulimit -Hn)"

cargo build --release --features ssr --bin livecart
cargo build --release --manifest-path bench/peers/tokio-floor/Cargo.toml
cargo build --release --manifest-path bench/loadgen/Cargo.toml

stamp="$(date -u +%Y-%m-%d)"
# CATALOGS="0 50000" runs everything once per catalog size (books imported
# into livecart before each run, besides its opening seven), one after the
# other in this run; results get the size in their name.
for catalog in ${CATALOGS:-0}; do
  name="$stamp"
  [ -n "${CATALOGS:-}" ] && name="$stamp-catalog$catalog"
  BENCH_STAMP="$name" taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" suite \
    --out bench/results --repeat "${REPEAT:-3}" --core 0 \
    --livecart "$CARGO_TARGET_DIR/release/livecart" \
    --floor "$CARGO_TARGET_DIR/release/tokio-floor" \
    --node-script bench/peers/node/server.js --catalog "$catalog" "$@"
done
