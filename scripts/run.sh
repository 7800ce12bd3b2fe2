#!/usr/bin/env bash
# Set up (idempotent) and run Visage on the embedded default. With no arguments it embeds a
# sample photo; any arguments are passed to the `visage` command line instead.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
./scripts/setup.sh
cargo build --release --locked -q
if [ $# -gt 0 ]; then
  exec ./target/release/visage "$@"
fi
sample="$VISAGE_CACHE/sample/obama.jpg"
if [ ! -f "$sample" ]; then
  # A public-domain White House portrait shipped in the face_recognition sdist on PyPI.
  sdist="$(pip_fetch face-recognition==1.3.0 sdist)"
  mkdir -p "$(dirname "$sample")"
  tar -xzf "$sdist" -O face_recognition-1.3.0/tests/test_images/obama.jpg > "$sample"
fi
log "detecting and embedding the faces of $sample (drawing in $VISAGE_CACHE/sample/obama-faces.png)"
./target/release/visage detect "$sample" --draw "$VISAGE_CACHE/sample/obama-faces.png"
exec ./target/release/visage embed "$sample"
