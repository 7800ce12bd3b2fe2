#!/usr/bin/env bash
# A newcomer's first run, timed: a fresh clone of this repository's HEAD, with nothing cached
# (an empty cargo home, set-up cache and pip cache), runs ./scripts/run.sh; prints the seconds
# until /healthz answers, then stops the server and removes everything it made.
# Usage: scripts/time_first_run.sh [PORT]   (default 18080)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${1:-18080}"
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  pkill -f "$work/clone/target/release/visage" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$root" "$work/clone"
cd "$work/clone"
export VISAGE_CACHE="$work/cache" CARGO_HOME="$work/cargo" PIP_NO_CACHE_DIR=1
start=$(date +%s)
./scripts/run.sh --address "127.0.0.1:$port" >"$work/run.log" 2>&1 &
server=$!
until curl -sf "127.0.0.1:$port/healthz" >/dev/null; do
  if ! kill -0 "$server" 2>/dev/null; then
    tail -20 "$work/run.log" >&2
    echo "run.sh ended before /healthz answered" >&2
    exit 1
  fi
  sleep 1
done
echo "first run: /healthz answered after $(( $(date +%s) - start )) s ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
