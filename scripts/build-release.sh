#!/usr/bin/env bash
# The release build that scripts/run.sh, test.sh, cluster.sh and bench/run.sh
# run: server and wasm optimised, file names hashed (so /pkg is cached for a
# year: web/assets.rs) and precompressed, and the islands only some pages
# show each split into a wasm chunk of its own (Cargo.toml, feature `split`:
# `--split` makes the chunks, `--lib-features hydrate,split` marks the
# islands lazy; one without the other would not load).
set -euo pipefail
cd "$(dirname "$0")/.."
LEPTOS_HASH_FILES=true exec cargo leptos build --release --precompress \
  --split --lib-features hydrate,split "$@"
