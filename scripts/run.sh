#!/usr/bin/env bash
# Set up (idempotent), build, and run the Visage service on the embedded default (SQLite + HNSW
# in ./data, http://127.0.0.1:8080). Arguments are passed to `visage serve` (e.g. --address
# 0.0.0.0:8080); `scripts/run.sh detect photo.jpg` runs another `visage` command instead.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
# The build (CPU) runs while set-up downloads (network); a failed set-up stops the build.
cargo build --release --locked -q &
build=$!
trap 'kill "$build" 2>/dev/null || true' EXIT
./scripts/setup.sh
wait "$build"
trap - EXIT
case "${1:-}" in
  ""|-*) exec ./target/release/visage serve "$@" ;;
  *) exec ./target/release/visage "$@" ;;
esac
