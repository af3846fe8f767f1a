#!/usr/bin/env bash
# Installs what is missing, then runs every test: the cargo tests (unit and
# integration, against real servers on port 0 with their own SQLite files),
# the Playwright suite in Debian's Chromium against the release build, and
# scripts/dev-check.sh (`cargo leptos watch`: edits reach an open tab).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --browser

# The imports between folders run the way ARCHITECTURE.md draws them.
echo "==> import arrows (scripts/arrows.py)" >&2
python3 scripts/arrows.py

# The PostgreSQL tests are marked #[ignore] (a plain `cargo test` reports
# them as ignored, not as passed); they run here when a server answers
# (trust auth, as on CI), or when LIVECART_TEST_POSTGRES names one.
# LIVECART_REQUIRE_POSTGRES=1 (set by .ci/run) makes a missing one an error.
postgres_answers() {
  (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
}
if [ -z "${LIVECART_TEST_POSTGRES:-}" ] && postgres_answers; then
  export LIVECART_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -z "${LIVECART_TEST_POSTGRES:-}" ] && [ "${LIVECART_REQUIRE_POSTGRES:-0}" = 1 ]; then
  echo "==> PostgreSQL does not answer on 127.0.0.1:5432 and LIVECART_TEST_POSTGRES is not set:" >&2
  echo "    its tests cannot run. Start it (pg_ctlcluster <version> main start) and run again." >&2
  exit 1
fi
ignored=()
if [ -n "${LIVECART_TEST_POSTGRES:-}" ]; then
  ignored=(--include-ignored)
  echo "==> cargo tests, with PostgreSQL at ${LIVECART_TEST_POSTGRES}" >&2
else
  echo "==> cargo tests (no PostgreSQL answers: its tests are reported as ignored)" >&2
fi
# Tests that bound a delay run on their own afterwards: the suite runs tests
# two at a time, and a neighbour starting three nodes or importing 50,000
# books would be measured with them.
alone=(
  staff::a_burst_of_sign_ins_does_not_stall_live_updates
  abuse::past_thirty_two_waiting_sign_ins_more_are_refused_at_once
  abuse::two_hundred_wrong_sign_ins_at_once_get_no_more_guesses_than_five
  abuse::slow_headers_and_idle_keep_alives_are_closed_after_the_header_timeout
  durability::a_request_that_never_finishes_cannot_hold_up_shutdown
)
skips=()
for name in "${alone[@]}"; do skips+=(--skip "$name"); done
cargo test --features ssr -- "${ignored[@]}" "${skips[@]}"
for name in "${alone[@]}"; do
  cargo test --features ssr --test api -- --exact "$name"
done

echo "==> release build (server and wasm)" >&2
scripts/build-release.sh

echo "==> end-to-end tests (Playwright, /usr/bin/chromium)" >&2
export LIVECART_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/livecart"
(cd end2end && npx playwright test)

echo "==> the development loop (cargo leptos watch, in a scratch copy)" >&2
./scripts/dev-check.sh
