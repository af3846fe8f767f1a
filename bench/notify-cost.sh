#!/usr/bin/env bash
# What NOTIFY adds to a commit on PostgreSQL, the way livecart's nodes use
# it (each stock commit sends `pg_notify('livecart_stock', version)` inside
# its transaction; every other node LISTENs). pgbench commits one-row
# updates with and without the NOTIFY, alternating, while five listeners
# (psql sessions, as the other five nodes of a six-node cluster) read the
# notifications. Reported per round: commits a second, mean latency, and
# PostgreSQL's CPU per commit (every postgres process, from /proc).
#
#   bench/notify-cost.sh [ROUNDS] [SECONDS]     # default 3 rounds of 10 s
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-10}"
base="${BENCH_POSTGRES_BASE:-postgres://postgres@127.0.0.1:5432}"
db="livecart_notify_cost_$$"
work="$(mktemp -d)"
psql -qX "$base/test" -c "CREATE DATABASE $db"
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  psql -qX "$base/test" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -qX "$base/$db" <<'SQL'
CREATE TABLE books (id integer PRIMARY KEY, available integer NOT NULL);
INSERT INTO books SELECT g, 1000000 FROM generate_series(1, 100) AS g;
SQL
cat > "$work/plain.sql" <<'SQL'
\set book random(1, 100)
BEGIN;
UPDATE books SET available = available - 1 WHERE id = :book;
COMMIT;
SQL
cat > "$work/notify.sql" <<'SQL'
\set book random(1, 100)
BEGIN;
UPDATE books SET available = available - 1 WHERE id = :book;
SELECT pg_notify('livecart_stock', CAST(:book AS text));
COMMIT;
SQL
# Five listeners that read what they are sent (psql prints a notification
# after each command it runs), for as long as the rounds take.
for _ in 1 2 3 4 5; do
  (echo "LISTEN livecart_stock;"
   end=$((SECONDS + rounds * seconds * 2 + 10))
   while [ $SECONDS -lt $end ]; do echo "SELECT 1;"; sleep 0.05; done) |
    psql -qX "$base/$db" > /dev/null 2>&1 &
done
sleep 1
postgres_ticks() {
  local total=0 pid stat
  for pid in $(pgrep -x postgres); do
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"
    # utime and stime (fields 14 and 15 of stat, 12 and 13 after the
    # name), and cutime and cstime: what its ended children used (pgbench's
    # backends end with the round, and the postmaster reaps them).
    set -- $stat
    total=$((total + ${12} + ${13} + ${14} + ${15}))
  done
  echo "$total"
}
hz="$(getconf CLK_TCK)"
printf '| round | commits | commits/s | mean latency ms | PostgreSQL CPU µs per commit |\n|---|---|---|---|---|\n'
for round in $(seq "$rounds"); do
  for kind in plain notify; do
    before="$(postgres_ticks)"
    out="$(taskset -c 1 pgbench -n -c 8 -j 1 -T "$seconds" -f "$work/$kind.sql" "$base/$db" 2>&1)"
    after="$(postgres_ticks)"
    commits="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")"
    tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")"
    latency="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")"
    cpu_us="$(awk -v t=$((after - before)) -v hz="$hz" -v n="$commits" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
    printf '| %s %s | %s | %.0f | %s | %s |\n' "$round" "$kind" "$commits" "$tps" "$latency" "$cpu_us"
  done
done
