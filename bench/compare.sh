#!/usr/bin/env bash
# Two livecart builds side by side: the same cases against each, alternating
# run by run (A, B, A, B, …) so that both see the same machine, each server
# pinned to core 0 and the load generator to core 1, as bench/run.sh does.
# Prints the median of each figure for A and B and their ratio.
#
#   bench/compare.sh OLD_BINARY NEW_BINARY [--only TEXT] [--repeat N] [--catalog N]
#
# e.g. build main into another target dir, then
#   bench/compare.sh /tmp/old/release/livecart target/release/livecart --only reserve
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
a="$(realpath "$1")"; b="$(realpath "$2")"; shift 2
repeat=3; only=(); catalog=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    --catalog) catalog=(--catalog "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
ulimit -n "$(ulimit -Hn)"
cargo build --release --manifest-path bench/loadgen/Cargo.toml
cargo build --release --manifest-path bench/peers/tokio-floor/Cargo.toml
out="$(mktemp -d)"
for i in $(seq 1 "$repeat"); do
  for side in a b; do
    bin="$a"; [ "$side" = b ] && bin="$b"
    echo "==> run $i/$repeat, $side: $bin" >&2
    BENCH_STAMP="$side-$i" taskset -c 1 "$CARGO_TARGET_DIR/release/loadgen" suite \
      --out "$out" --repeat 1 --core 0 --servers livecart \
      --livecart "$bin" --floor "$CARGO_TARGET_DIR/release/tokio-floor" \
      --node-script bench/peers/node/server.js "${only[@]}" "${catalog[@]}" > /dev/null
  done
done
python3 - "$out" "$repeat" <<'PY'
import json, statistics, sys
out, repeat = sys.argv[1], int(sys.argv[2])
figures = {}
for side in "ab":
    for i in range(1, repeat + 1):
        doc = json.load(open(f"{out}/{side}-{i}.json"))
        for row in doc["summary"]:
            fig = row["by_server"].get("livecart")
            if fig:
                key = (row["case"], row["metric"], "↓" if row["lower_is_better"] else "↑")
                figures.setdefault(key, {"a": [], "b": []})[side].append(fig["median"])
print("| case | metric | A (median, min–max) | B (median, min–max) | B ÷ A |")
print("|---|---|---|---|---|")
def cell(v):
    return f"{statistics.median(v):.4g} ({min(v):.4g}–{max(v):.4g})" if v else "—"
for (case, metric, better), sides in figures.items():
    a, b = sides["a"], sides["b"]
    ratio = f"{statistics.median(b) / statistics.median(a):.2f}" if a and b and statistics.median(a) else "—"
    print(f"| {case} | {metric} {better} | {cell(a)} | {cell(b)} | {ratio} |")
PY
echo "(runs in $out)" >&2
