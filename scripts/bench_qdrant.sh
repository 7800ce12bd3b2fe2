#!/usr/bin/env bash
# The index benchmark with Qdrant beside the embedded indexes: starts a Qdrant server from
# QDRANT_BIN (or `qdrant` on the PATH) on free loopback ports with its own storage, runs
#   cargo bench --features testing --bench index -- ARGS --qdrant=URL --qdrant-key=KEY
# and stops the server. Example (the README's Qdrant table):
#   QDRANT_BIN=/path/to/qdrant ./scripts/bench_qdrant.sh 1000000 --shape=isotropic --queries=200 \
#     --hnsw-max=0 --qdrant-configs=exact,hnsw,hnsw-int8 --qdrant-efs=128,512
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
bin="${QDRANT_BIN:-$(command -v qdrant || true)}"
[ -x "$bin" ] || die "set QDRANT_BIN to a Qdrant server binary (or put qdrant on the PATH)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http="$(free_port)"
grpc="$(free_port)"
key="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
dir="$(mktemp -d)"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
(cd "$dir" && exec env QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT="$http" \
  QDRANT__SERVICE__GRPC_PORT="$grpc" QDRANT__SERVICE__API_KEY="$key" \
  QDRANT__STORAGE__STORAGE_PATH="$dir/storage" QDRANT__STORAGE__SNAPSHOTS_PATH="$dir/snapshots" \
  QDRANT__TELEMETRY_DISABLED=true "$bin" >"$dir/qdrant.log" 2>&1) &
pid=$!
for _ in $(seq 600); do
  python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$http/readyz', timeout=1)" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/qdrant.log" >&2; die "qdrant exited"; }
  sleep 0.1
done
log "Qdrant $("$bin" --version 2>/dev/null) on 127.0.0.1:$grpc (storage $dir)"
cargo bench --features testing --locked --bench index -- "$@" --qdrant="http://127.0.0.1:$grpc" --qdrant-key="$key"
