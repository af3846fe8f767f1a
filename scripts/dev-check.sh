#!/usr/bin/env bash
# Checks the development loop as a new user meets it: `cargo leptos watch`
# serving a scratch copy of the shop on free ports, a book page open in
# Chromium, then a style rule and a view's text edited in the copy. Both must
# reach the open tab (the style without a reload, and after one), and no page
# may log a console error or a policy violation (end2end/dev/).
#
# The copy lives at a fixed path in the cargo target directory and is built
# there, so its debug build (server and wasm) is cached like the rest; the
# sources it was made from are never touched. DEV_CHECK_BUILD_TIMEOUT (s)
# bounds the first build (default 3600: a cold one takes long on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
. scripts/setup.sh --browser

say() { printf '==> dev-check: %s\n' "$*" >&2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$CARGO_TARGET_DIR"
CARGO_TARGET_DIR="$(cd "$CARGO_TARGET_DIR" && pwd)"
tree="$CARGO_TARGET_DIR/dev-check/livecart"
work="$(mktemp -d "${TMPDIR:-/tmp}/livecart-dev-check.XXXXXX")"
log="$work/watch.log"
watch_pid=""

cleanup() {
  local status=$?
  if [ -n "$watch_pid" ] && kill -0 "$watch_pid" 2>/dev/null; then
    # Its own process group: cargo-leptos, cargo, rustc and the server.
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$watch_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$log" ]; then
    say "failed; the watcher's last lines:"
    tail -n 40 "$log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The scratch copy, fresh from this tree. Copies keep their times, so cargo
# rebuilds only what changed since the last check, except the two files the
# check edits: its last run built from its edits, so they are made newer.
mkdir -p "$tree"
for part in src style public migrations; do
  rm -rf "${tree:?}/$part"
  cp -a "$part" "$tree/$part"
done
cp -a Cargo.toml Cargo.lock Leptos.toml .gitignore "$tree/"
touch "$tree/style/main.css" "$tree/src/app/book.rs"

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
site_port="$(free_port)"
reload_port="$(free_port)"
while [ "$reload_port" = "$site_port" ]; do reload_port="$(free_port)"; done

say "cargo leptos watch in $tree on 127.0.0.1:$site_port (live reload on $reload_port)"
started=$SECONDS
(
  cd "$tree"
  export LEPTOS_SITE_ADDR="127.0.0.1:$site_port" LEPTOS_RELOAD_PORT="$reload_port"
  export LIVECART_DATABASE_URL="sqlite://$work/shop.db"
  exec setsid cargo leptos watch
) >"$log" 2>&1 &
watch_pid=$!

deadline=$((SECONDS + ${DEV_CHECK_BUILD_TIMEOUT:-3600}))
until (exec 3<>"/dev/tcp/127.0.0.1/$site_port") 2>/dev/null; do
  if ! kill -0 "$watch_pid" 2>/dev/null; then
    say "cargo leptos watch exited before serving"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "the shop did not serve within ${DEV_CHECK_BUILD_TIMEOUT:-3600} s"
    exit 1
  fi
  sleep 1
done
say "serving after $((SECONDS - started)) s"

checked=$SECONDS
(
  cd end2end
  DEV_CHECK_URL="http://127.0.0.1:$site_port" DEV_CHECK_TREE="$tree" DEV_CHECK_LOG="$log" \
    npx playwright test --config dev/playwright.config.ts
)
say "passed: built and served in $((checked - started)) s, checked in $((SECONDS - checked)) s"
