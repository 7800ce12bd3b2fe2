#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up (models, runtime, test photos), lint, tests.
# CI runs exactly this (.ci/run).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
./scripts/setup.sh
./scripts/fetch_testdata.sh
export VISAGE_TESTDATA="$VISAGE_CACHE/testdata"
# The fuzz targets' seeds, derived from the photos (tests/fuzz_regressions.rs replays them).
"$(venv_python)" fuzz/make_seeds.py "$VISAGE_TESTDATA/fuzz-seeds"
# The tool venv (scripts/requirements.txt) holds CompreFace's SDK: its test must run, never skip.
venv_python >/dev/null
export VISAGE_SDK_REQUIRED=1
# The web UI's tests drive a headless Chromium through chromedriver, both from Debian's archive.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install chromium chromium-driver
fi
export VISAGE_UI_REQUIRED=1
# The crash trials' full-disk trial mounts a small tmpfs (or loop ext4): as root it must run.
if [ "$(id -u)" = 0 ]; then
  export VISAGE_FULL_DISK_REQUIRED=1
fi
cargo fmt --all -- --check
# The compose file, validated by Docker's own parser (Debian's docker-compose, installed here when
# neither it nor the docker CLI is; tests/backends.rs parses it and checks its keys everywhere).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  apt_install docker-compose || echo "docker-compose could not be installed: the compose file is checked by tests/backends.rs only" >&2
fi
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
  QDRANT_API_KEY=ci "${compose[@]}" config -q
  # Without an API key compose must refuse, never fall back to a default one.
  if env -u QDRANT_API_KEY "${compose[@]}" config -q 2>/dev/null; then
    echo "docker-compose.yml starts without QDRANT_API_KEY" >&2
    exit 1
  fi
fi
# The Qdrant backend's suites (tests/qdrant.rs, tests/conformance.rs) start real Qdrant servers,
# one node and a 3-node cluster, from QDRANT_BIN (or `qdrant` on the PATH). With a binary they
# must run, never skip; without one they say SKIPPED and why.
if [ -z "${QDRANT_BIN:-}" ] && command -v qdrant >/dev/null; then
  QDRANT_BIN="$(command -v qdrant)"
fi
if [ -n "${QDRANT_BIN:-}" ]; then
  export QDRANT_BIN VISAGE_QDRANT_REQUIRED=1
  echo "Qdrant suites: RUN against $QDRANT_BIN ($("$QDRANT_BIN" --version 2>/dev/null | head -n1))"
else
  echo "Qdrant suites: SKIPPED (no QDRANT_BIN and no qdrant on the PATH: no Qdrant server to test against)"
fi
cargo clippy --release --all-targets --features testing --locked -- -D warnings
cargo test --release --features testing --locked "$@"
