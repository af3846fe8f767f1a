#!/usr/bin/env bash
# Runs a livecart cluster on this machine: N nodes on one PostgreSQL behind
# Debian's nginx, the way an operator would run them on several machines.
#   scripts/cluster.sh [N]          (default 3)
# Settings (environment):
#   LIVECART_DATABASE_URL  the shared database (default
#                          postgres://postgres@127.0.0.1:5432/livecart,
#                          created when missing)
#   CLUSTER_PORT           where nginx listens (default 8080)
#   CLUSTER_FIRST_NODE     the first node's port (default 3001; then 3002, …)
# Installs what is missing and builds the release first. Every node's log
# goes to its own file under the run folder. Ctrl-C stops every node and
# nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:-3}"
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/cluster.sh [N]" >&2; exit 2; }
. scripts/setup.sh --cluster
scripts/build-release.sh
bin="${CARGO_TARGET_DIR:-target}/release/livecart"

database="${LIVECART_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/livecart}"
case "$database" in
  postgres://*|postgresql://*) ;;
  *) echo "a cluster shares one PostgreSQL: LIVECART_DATABASE_URL must be postgres://…" >&2; exit 2 ;;
esac
# Create the database when the server answers without it.
name="${database##*/}"; name="${name%%\?*}"; server="${database%/*}"
if ! psql "$database" -Atc 'select 1' >/dev/null 2>&1; then
  echo "==> creating database $name" >&2
  psql "$server/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$name\""
fi

listen="${CLUSTER_PORT:-8080}"
first="${CLUSTER_FIRST_NODE:-3001}"
run_dir="${XDG_RUNTIME_DIR:-/tmp}/livecart-cluster-$listen"
mkdir -p "$run_dir"
pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "==> stopping" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

ports=()
for ((i = 0; i < nodes; i++)); do
  port=$((first + i))
  ports+=("$port")
  # nginx forwards every shopper from 127.0.0.1: the nodes believe its
  # X-Forwarded-For, so the limits per address count shoppers, not nginx.
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LIVECART_DATABASE_URL="$database" \
    LIVECART_TRUSTED_PROXIES="${LIVECART_TRUSTED_PROXIES:-127.0.0.1}" \
    "$bin" serve >"$run_dir/node-$port.log" 2>&1 &
  pids+=("$!")
done
# Each node answers /readyz once it has migrated, read the stock and is
# following the other nodes' changes.
for port in "${ports[@]}"; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
scripts/nginx.sh "$run_dir/nginx" "$listen" "${ports[@]}" &
pids+=("$!")
echo "==> $nodes nodes on $database behind nginx: http://127.0.0.1:$listen/" >&2
for port in "${ports[@]}"; do
  echo "    node http://127.0.0.1:$port/ (metrics /metrics, log $run_dir/node-$port.log)" >&2
done
echo "    Ctrl-C stops them all" >&2
wait -n "${pids[@]}" || true
echo "==> a process of the cluster ended; see $run_dir" >&2
