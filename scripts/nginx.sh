#!/usr/bin/env bash
# Runs Debian's nginx in the foreground as livecart's load balancer, with
# deploy/nginx/livecart.conf rendered for the given nodes:
#   scripts/nginx.sh RUN_DIR LISTEN_PORT NODE_PORT [NODE_PORT …]
# RUN_DIR receives the rendered config, the pid file, the error log and
# nginx's temporary files. SIGTERM (or Ctrl-C) stops it. Used by
# scripts/cluster.sh and by the tests that go through a balancer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
run_dir="$1"; listen="$2"; shift 2
[ "$#" -ge 1 ] || { echo "usage: scripts/nginx.sh RUN_DIR LISTEN_PORT NODE_PORT…" >&2; exit 2; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$nginx_bin" ] || { echo "nginx is not installed: run . scripts/setup.sh --cluster" >&2; exit 1; }

mkdir -p "$run_dir/tmp"
run_dir="$(cd "$run_dir" && pwd)"
nodes=""
for port in "$@"; do
  nodes+="    server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;"$'\n'
done
# The shipped file, with the node list between its markers and the port
# replaced: what an operator would write by hand.
awk -v nodes="$nodes" -v listen="$listen" '
  /# @NODES@/ { print; printf "%s", nodes; skip = 1; next }
  /# @END@/   { skip = 0 }
  skip        { next }
  /# @LISTEN@/ { sub(/listen [0-9]+;/, "listen 127.0.0.1:" listen ";") }
  { print }
' "$root/deploy/nginx/livecart.conf" > "$run_dir/livecart.conf"

# A root nginx runs its workers as nobody: they must reach the temp files.
cat > "$run_dir/nginx.conf" <<CONF
worker_processes 1;
pid $run_dir/nginx.pid;
error_log $run_dir/error.log warn;
events { worker_connections 16384; }
worker_rlimit_nofile 20000;
http {
    access_log off;
    client_body_temp_path $run_dir/tmp/body;
    proxy_temp_path $run_dir/tmp/proxy;
    fastcgi_temp_path $run_dir/tmp/fastcgi;
    uwsgi_temp_path $run_dir/tmp/uwsgi;
    scgi_temp_path $run_dir/tmp/scgi;
    include $run_dir/livecart.conf;
}
CONF
"$nginx_bin" -t -q -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/error.log"
exec "$nginx_bin" -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/error.log" -g 'daemon off;'
