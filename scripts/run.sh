#!/usr/bin/env bash
# Installs what is missing, builds livecart in release and runs the shop on
# the embedded SQLite default at http://127.0.0.1:3000 (LEPTOS_SITE_ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# Hashed names (cached for a year) in release only: Cargo.toml leaves
# hash-files off for `cargo leptos watch`.
scripts/build-release.sh
exec "${CARGO_TARGET_DIR:-target}/release/livecart" "$@"
