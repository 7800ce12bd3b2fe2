#!/usr/bin/env bash
# Pipeline benchmark: Visage and the Python onnxruntime reference on the same photos and model
# files, in one run, so the ratio between them is meaningful. Usage: scripts/bench.sh [RUNS] [THREADS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"
runs="${1:-30}" threads="${2:-1}"
./scripts/setup.sh
./scripts/fetch_testdata.sh >/dev/null
cargo build --release --locked -q
py="$(venv_python)"
td="$VISAGE_CACHE/testdata"
photos=("$td/obama.jpg" "$td/biden.jpg" "$td/astronaut.png" "$td/faces.jpg" "$td/t1.jpg")
echo "== Visage (Rust), $threads thread(s), $runs runs"
./target/release/visage --threads "$threads" bench pipeline --runs "$runs" "${photos[@]}" | tee /tmp/visage-bench-rust.tsv
echo "== Python onnxruntime + OpenCV reference, same models"
"$py" scripts/bench_reference.py --threads "$threads" --runs "$runs" "${photos[@]}" | tee /tmp/visage-bench-python.tsv
"$py" - <<'PY'
import csv
def totals(path):
    rows = [r for r in csv.reader(open(path), delimiter="\t") if len(r) > 8 and r[0] != "image"]
    return {r[0]: float(r[8]) for r in rows}
rust, py = totals("/tmp/visage-bench-rust.tsv"), totals("/tmp/visage-bench-python.tsv")
for name in rust:
    print(f"{name}: Visage {rust[name]:.1f} ms, Python {py[name]:.1f} ms, Python/Visage {py[name] / rust[name]:.2f}x")
print(f"all photos: Python/Visage end-to-end = {sum(py.values()) / sum(rust.values()):.2f}x")
PY
