#!/usr/bin/env bash
# The orders export's speed: N orders (default 1,000,000; one to three books
# each) written straight into a fresh SQLite database, then
# `livecart orders export` pinned to core 0 writes them to a file. Prints
# orders a second, rows and bytes, and the process's peak memory, and
# checks the file's order count. The issue's target: at least 100,000
# orders a second.
#
#   bench/orders-export.sh [N] [LIVECART_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
bin="${2:-${CARGO_TARGET_DIR:-$PWD/target}/release/livecart}"
[ -x "$bin" ] || { echo "no livecart binary at $bin (cargo build --release --features ssr)" >&2; exit 2; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export LIVECART_DATABASE_URL="sqlite://$dir/shop.db"
# The schema, by the shop's own migrations (an export of nothing).
"$bin" orders export > /dev/null 2>&1
python3 - "$dir/shop.db" "$n" <<'PY'
import random, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
books = [("structure-and-interpretation-of-computer-programs", "Structure and Interpretation of Computer Programs", 4999),
         ("the-pragmatic-programmer", "The Pragmatic Programmer, 20th Anniversary Edition", 4299),
         ("definitive-guide-to-the-internet", "The Definitive Guide to the Internet", 1999)]
rng = random.Random(7)
start = 1_767_225_600_000  # 2026-01-01
orders, lines = [], []
for i in range(n):
    oid = f"{i:032x}"
    chosen = rng.sample(books, rng.randint(1, 3))
    total = 0
    for book, title, price in chosen:
        copies = rng.randint(1, 2)
        total += price * copies
        lines.append((oid, book, title, price, copies))
    orders.append((oid, f"web:{rng.getrandbits(128):032x}", start + i * 31_000, total))
con.executemany("INSERT INTO orders (id, shopper, placed_at, total_cents) VALUES (?, ?, ?, ?)", orders)
con.executemany("INSERT INTO order_lines (order_id, book_id, title, price_cents, copies) VALUES (?, ?, ?, ?, ?)", lines)
con.commit()
print(f"{n} orders, {len(lines)} rows written to the database", file=sys.stderr)
PY
python3 - "$bin" "$n" "$dir" <<'PY'
import csv, os, resource, subprocess, sys, time
bin, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{d}/orders.csv", "wb") as out:
    started = time.monotonic()
    subprocess.run(["taskset", "-c", "0", bin, "orders", "export"], stdout=out,
                   stderr=subprocess.DEVNULL, check=True)
    seconds = time.monotonic() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(f"{d}/orders.csv", newline="") as f:
    reader = csv.reader(f)
    next(reader)
    rows, orders, last = 0, 0, None
    for row in reader:
        rows += 1
        if row[0] != last:
            orders, last = orders + 1, row[0]
assert orders == n, f"{orders} orders in the file, {n} in the database"
size = os.path.getsize(f"{d}/orders.csv")
print(f"orders export: {n} orders ({rows} rows, {size / 1e6:.1f} MB) in {seconds:.2f} s: "
      f"{n / seconds:,.0f} orders/s, {size / 1e6 / seconds:.0f} MB/s; peak memory {peak_kb / 1024:.1f} MB")
PY
