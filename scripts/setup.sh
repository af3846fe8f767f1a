#!/usr/bin/env bash
# Installs whatever livecart's build and tests need and this machine lacks.
# Idempotent: a second run only checks. Source it to get PATH set:
#   . scripts/setup.sh [--browser] [--cluster]
# --browser also installs Debian's Chromium and nginx for the end-to-end and
# cluster tests; --cluster installs nginx (scripts/cluster.sh).
set -euo pipefail

livecart_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_leptos="0.3.10"
want_bindgen="0.2.130"

say() { printf '==> %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$want_leptos"; then
  say "installing cargo-leptos $want_leptos (about 13 minutes the first time)"
  cargo install cargo-leptos --locked --version "$want_leptos"
fi

# cargo-leptos calls the wasm-bindgen CLI of exactly the crate's version.
if ! wasm-bindgen --version 2>/dev/null | grep -q "$want_bindgen"; then
  say "installing wasm-bindgen-cli $want_bindgen"
  cargo install wasm-bindgen-cli --version "$want_bindgen"
fi

# wasm-opt (binaryen 132) and Playwright come from npm.
if [ ! -x "$livecart_root/node_modules/.bin/wasm-opt" ] || [ ! -x "$livecart_root/node_modules/.bin/playwright" ] \
   || [ "$livecart_root/package-lock.json" -nt "$livecart_root/node_modules/.package-lock.json" ]; then
  say "installing npm tools (binaryen, Playwright)"
  (cd "$livecart_root" && npm ci --no-audit --no-fund)
fi
export PATH="$livecart_root/node_modules/.bin:$PATH"

apt_install() {
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "$@" \
    || { $sudo_cmd apt-get update && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "$@"; }
}
want_browser=0; want_nginx=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1; want_nginx=1 ;;
    --cluster) want_nginx=1 ;;
  esac
done
if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's Chromium"
  apt_install chromium
fi
# Debian's nginx, the cluster's balancer. livecart runs its own instances
# (scripts/nginx.sh); the package's default site is not needed.
if [ "$want_nginx" = 1 ] && [ ! -x /usr/sbin/nginx ]; then
  say "installing Debian's nginx"
  apt_install nginx
fi
