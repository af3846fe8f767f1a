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
#   bench/run.sh launch [--pages N] [--copies N]
#                                # a launch on one node (lines)
#   bench/run.sh cluster-launch [--nodes N] [--pages N] [--copies N] [--join-rate R] [--kill-node-after S]
#                                # launch day: 100,000 pages over six nodes on
#                                # PostgreSQL, 1,000 copies (cluster_launch.rs);
#                                # LONG_POLL_EVERY=N: one page in N on the long
#                                # poll (default 10, 0 for none);
#                                # --kill-node-after S: SIGKILL the last node S s
#                                # after the opening (its pages move on)
#   bench/run.sh cluster [--subscribers N] [--seconds S] [--only TEXT]
#                                # only the cross-node family: livecart nodes
#                                # on PostgreSQL (BENCH_POSTGRES, default
#                                # postgres://postgres@127.0.0.1:5432/test)
# The full run ends with the cross-node family when PostgreSQL answers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# 19,000 sockets per process need the open-file limit raised to its ceiling.
ulimit -n "$(ulimit -Hn)"

# The site too, precompressed as it is served (the first-visit case).
scripts/build-release.sh
cargo build --release --manifest-path bench/peers/tokio-floor/Cargo.toml
cargo build --release --manifest-path bench/loadgen/Cargo.toml

stamp="$(date -u +%Y-%m-%d)"
postgres="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
cluster() {
  BENCH_STAMP="$stamp" taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" cluster \
    --postgres "$postgres" --out bench/results --repeat "${REPEAT:-3}" --core 0 \
    --livecart "$CARGO_TARGET_DIR/release/livecart" "$@"
}
if [ "${1:-}" = "cluster-launch" ]; then
  shift
  BENCH_STAMP="$stamp" taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" cluster-launch \
    --postgres "$postgres" --out bench/results --core 0 --load-core 1 \
    --livecart "$CARGO_TARGET_DIR/release/livecart" "$@"
  exit
fi
if [ "${1:-}" = "cluster" ]; then
  shift
  cluster "$@"
  exit
fi
# bench/run.sh launch [--pages N] [--copies N]: a launch on one node
# (10,000 waiting pages, 100 copies; see bench/loadgen/src/launch.rs).
if [ "${1:-}" = "launch" ]; then
  shift
  BENCH_STAMP="$stamp" taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" launch \
    --out bench/results --repeat "${REPEAT:-3}" --core 0 \
    --livecart "$CARGO_TARGET_DIR/release/livecart" "$@"
  exit
fi
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
# The full run (no flags) ends with the cross-node family.
if [ "$#" -eq 0 ]; then
  if psql "$postgres" -Atc 'select 1' >/dev/null 2>&1; then
    cluster
  else
    echo "==> PostgreSQL does not answer at $postgres: the cross-node family is skipped" >&2
  fi
fi
