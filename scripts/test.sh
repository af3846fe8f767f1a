#!/usr/bin/env bash
# Installs what is missing, then runs every test: the cargo tests (unit and
# integration, against real servers on port 0 with their own SQLite files)
# and the Playwright suite in Debian's Chromium against the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --browser

# PostgreSQL tests run where a server answers (trust auth, as on CI).
if [ -z "${LIVECART_TEST_POSTGRES:-}" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  export LIVECART_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test"
fi
echo "==> cargo tests (PostgreSQL: ${LIVECART_TEST_POSTGRES:-not available, its tests are skipped})" >&2
cargo test --features ssr

echo "==> release build (server and wasm)" >&2
cargo leptos build --release

echo "==> end-to-end tests (Playwright, /usr/bin/chromium)" >&2
export LIVECART_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/livecart"
(cd end2end && npx playwright test)
