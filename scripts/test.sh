#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up (models, runtime, test photos), lint, tests.
# CI runs exactly this (.ci/run).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
./scripts/setup.sh
./scripts/fetch_testdata.sh
export VISAGE_TESTDATA="$VISAGE_CACHE/testdata"
# The tool venv (scripts/requirements.txt) holds CompreFace's SDK: its test must run, never skip.
venv_python >/dev/null
export VISAGE_SDK_REQUIRED=1
# The web UI's tests drive a headless Chromium through chromedriver, both from Debian's archive.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo_=""
    [ "$(id -u)" -eq 0 ] || sudo_="sudo -n"
    $sudo_ apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi
export VISAGE_UI_REQUIRED=1
cargo fmt --all -- --check
cargo clippy --release --all-targets --features testing --locked -- -D warnings
cargo test --release --features testing --locked "$@"
