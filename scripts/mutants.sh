#!/usr/bin/env bash
# cargo-mutants over the modules that hold the shop's invariants and limits,
# each mutant tested by the tests that hold its module (not the whole suite:
# a mutant then costs well under a minute instead of two).
#
#   scripts/mutants.sh --list                  # the modules and their tests
#   scripts/mutants.sh notifier                # one module (several: a list)
#   scripts/mutants.sh notifier --shard 1/4    # one quarter of it
#   scripts/mutants.sh all --in-diff FILE      # only mutants a diff touches
#   scripts/mutants.sh --changed-since COMMIT  # what CI runs: the mutants in
#       the lines changed since COMMIT, in the modules whose files changed;
#       fails on any missed, stops after MUTANTS_TIME_CAP (default 25m)
#
# Every run writes tests/mutants/<module>[-<k>of<n>].md: the commit, and
# caught / missed / unviable / timeouts per file, with each missed mutant;
# commit it with the tests that kill what it missed. PostgreSQL's tests run
# when one answers on 127.0.0.1:5432 (as scripts/test.sh finds it).
set -euo pipefail
cd "$(dirname "$0")/.."

# module | files (cargo-mutants --file globs, space-separated) | cargo test
# arguments: the test targets and name filters that hold the module.
MODULES='
notifier|src/server/notifier/*.rs|--lib -- notifier
inventory|src/server/inventory/*.rs|--test api -- shop_rules lines model concurrency catalog
store|src/server/store/transaction.rs src/server/store/holds.rs src/server/store/lines.rs src/server/store/import.rs|--test api -- shop_rules lines model durability catalog postgres
writer|src/server/writer/*.rs|--test api -- concurrency catalog postgres cluster durability staff::signed_in_staff_change
connections|src/server/web/connections.rs|--test api -- abuse transports defaults
client_address|src/server/web/client_address.rs src/server/network.rs|--lib --test api -- client_address network abuse
hold_rate|src/server/web/hold_rate.rs|--lib --test api -- hold_rate abuse
staff|src/server/staff.rs|--lib --test api -- staff abuse
desk|src/server/desk.rs src/server/store/desk.rs|--test api -- desk
origin|src/server/web/origin.rs|--lib --test api -- origin cross_site
config|src/server/config.rs|--lib --test api -- config defaults
covers|src/server/covers.rs src/server/web/covers.rs|--lib --test api -- covers
stock_day|src/server/store/stock_day.rs|--lib --test api -- stock_day desk:: model:: catalog::an_imported
shelf|src/server/store/shelf.rs|--test api -- catalog:: storefront desk::
'

module_line() {
  printf '%s\n' "$MODULES" | grep "^$1|" || { echo "no module $1 (see --list)" >&2; exit 2; }
}

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "$MODULES" | sed '/^$/d' | column -t -s '|'
  exit
fi
# CI's step: the change since the last commit that landed (.ci/mutants-base),
# module by module, only where it touched a module's files.
if [ "${1:-}" = "--changed-since" ]; then
  base="${2:?--changed-since COMMIT}"
  diff="$(mktemp)"
  touched=()
  while IFS='|' read -r module files _; do
    [ -n "$module" ] || continue
    # shellcheck disable=SC2086
    if ! git diff --quiet "$base" HEAD -- $files; then touched+=("$module"); fi
  done <<<"$MODULES"
  if [ ${#touched[@]} -eq 0 ]; then
    echo "mutants: no module's files changed since $base" >&2
    exit 0
  fi
  git diff "$base" HEAD > "$diff"
  echo "mutants: ${touched[*]} changed since $base" >&2
  log="$(mktemp)"
  set +e
  # The run's output is kept: when the cap stops it mid-module, that module's
  # summary is never written, and its console lines are all there is
  # (uncoloured, so a MISSED line starts with the word whatever the terminal).
  NO_COLOR=1 timeout "${MUTANTS_TIME_CAP:-25m}" "$0" "${touched[*]}" --in-diff "$diff" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  rm -f "$diff"
  # 124: the cap ran out before every mutant was tried. That passes only if
  # no mutant tried before it lived.
  if [ $status -eq 124 ]; then
    if grep -q '^MISSED ' "$log"; then
      echo "mutants: stopped at the time cap (${MUTANTS_TIME_CAP:-25m}), with a mutant missed before it:" >&2
      grep '^MISSED ' "$log" >&2
      rm -f "$log"
      exit 2
    fi
    echo "mutants: stopped at the time cap (${MUTANTS_TIME_CAP:-25m}); none missed before it" >&2
    rm -f "$log"
    exit 0
  fi
  rm -f "$log"
  exit $status
fi
[ $# -ge 1 ] || { sed -n 2,18p "$0"; exit 2; }
wanted="$1"; shift
[ "$wanted" = all ] && wanted="$(printf '%s\n' "$MODULES" | sed '/^$/d' | cut -d'|' -f1 | tr '\n' ' ')"

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --version 27.1.0
# Mutants build in a target directory of their own, kept between runs.
export CARGO_TARGET_DIR="${MUTANTS_TARGET_DIR:-$HOME/.cache/livecart/target-mutants}"
if [ -z "${LIVECART_TEST_POSTGRES:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  export LIVECART_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test"
fi
ignored=()
[ -n "${LIVECART_TEST_POSTGRES:-}" ] && ignored=(--include-ignored)

commit="$(git rev-parse --short HEAD)"
mkdir -p tests/mutants
missed=0
for module in $wanted; do
  IFS='|' read -r _ files test_args <<<"$(module_line "$module")"
  file_args=()
  for f in $files; do file_args+=(--file "$f"); done
  # The test arguments: cargo test's before its `--`, the test binary's after.
  cargo_test="${test_args%% -- *}"
  binary="${test_args#* -- }"
  out="$(mktemp -d)"
  suffix=""
  for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--shard" ]; then j=$((i + 1)); suffix="-$(tr / o <<<"${!j}")f"; fi
    # A diff's mutants are a few of the module's: kept apart from its summary.
    if [ "${!i}" = "--in-diff" ]; then suffix="-in-diff"; fi
  done
  echo "==> mutants of $module ($files): cargo test $cargo_test -- $binary" >&2
  set +e
  # shellcheck disable=SC2086
  cargo mutants --features ssr --timeout 240 --output "$out" \
    "${file_args[@]}" "$@" \
    -- $cargo_test -- $binary "${ignored[@]}"
  status=$?
  set -e
  # 0: all caught; 2: some missed; 3: some timed out. Anything else failed.
  case $status in 0|3) ;; 2) missed=1 ;; *) echo "cargo mutants failed ($status)" >&2; exit $status ;; esac
  python3 scripts/mutants-summary.py "$out/mutants.out" "$module" "$commit" "$files" \
    > "tests/mutants/$module$suffix.md"
  cat "tests/mutants/$module$suffix.md"
  rm -rf "$out"
done
# Some mutant lived: the summaries above name it.
[ "$missed" -eq 0 ] || exit 2
