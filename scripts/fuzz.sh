#!/usr/bin/env bash
# Coverage-guided fuzzing on stable Rust: libFuzzer (the `libfuzzer-sys` crate, built from source
# by cargo) with rustc's SanitizerCoverage instrumentation. Builds fuzz/ (its own workspace) and
# runs one target, or every target, for SECONDS each, starting from the working corpus in
# $VISAGE_CACHE/fuzz/corpus/TARGET, the seeds (fuzz/make_seeds.py, written into
# $VISAGE_CACHE/testdata/fuzz-seeds/TARGET) and, for decode_image, the
# test photos up to 16 KB. Prints per target the inputs executed, the rate and the crashes and
# hangs found; exits non-zero on any, leaving the failing input in
# $VISAGE_CACHE/fuzz/artifacts/TARGET/ (replay: the binary with that file as its argument).
#
# Usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer flags...]
#   e.g. scripts/fuzz.sh archive 3600 -runs=1000000   (stops at 1M inputs or after an hour)
# Targets: the files of fuzz/fuzz_targets/ (harnesses in src/fuzzing.rs).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$VISAGE_ROOT"

[ $# -ge 2 ] || die "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer flags...]"
which="$1" seconds="$2"
shift 2
mapfile -t all < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
if [ "$which" = all ]; then
  targets=("${all[@]}")
else
  printf '%s\n' "${all[@]}" | grep -qx "$which" || die "no fuzz target $which (targets: ${all[*]})"
  targets=("$which")
fi

# The instrumented build lives in the cache, so that fresh clones and CI reuse its dependencies.
# With --target, RUSTFLAGS reach the crates only, not build scripts and proc macros.
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$VISAGE_CACHE/fuzz/target"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
log "building the fuzz targets (instrumented, in $CARGO_TARGET_DIR)"
nice -n 19 cargo build --release --locked --quiet --manifest-path fuzz/Cargo.toml --target "$triple" >&2
bin="$CARGO_TARGET_DIR/$triple/release"

# The seeds, derived from the test photos.
seed_dir="$VISAGE_CACHE/testdata/fuzz-seeds"
"$(venv_python)" fuzz/make_seeds.py "$seed_dir"

# The test photos up to 16 KB: the decoder's real corpus (scripts/fetch_testdata.sh fetches them).
photos="$VISAGE_CACHE/fuzz/photos"
mkdir -p "$photos"
find "$VISAGE_CACHE/testdata" -maxdepth 1 -type f ! -name '.*' ! -name '*.tsv' ! -name '*.json' -size -16k \
  -exec cp -u {} "$photos/" \; 2>/dev/null || true

# Scratch files of the harnesses (manifests, embeddings) go to a folder removed at the end.
# On a RAM disk where there is one: the file-reading harnesses write a file per input.
scratch="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=0
total_runs=0
stamp="$(date -u +%Y%m%dT%H%M%S)"
for t in "${targets[@]}"; do
  corpus="$VISAGE_CACHE/fuzz/corpus/$t" artifacts="$VISAGE_CACHE/fuzz/artifacts/$t-$stamp"
  mkdir -p "$corpus" "$artifacts"
  seeds=("$seed_dir/$t")
  [ "$t" = decode_image ] && seeds+=("$photos")
  out="$scratch/$t.log"
  set +e
  started=$SECONDS
  TMPDIR="$scratch" nice -n 19 "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$corpus" "${seeds[@]}" >"$out" 2>&1
  rc=$?
  elapsed=$((SECONDS - started))
  set -e
  final_stat() { sed -n "s/^stat::$1: *//p" "$out" | tail -n1; }
  runs="$(final_stat number_of_executed_units)" rate="$(final_stat average_exec_per_sec)"
  total_runs=$((total_runs + ${runs:-0}))
  crashes="$(ls "$artifacts" | grep -c -E '^(crash|oom|leak)-' || true)"
  hangs="$(ls "$artifacts" | grep -c -E '^(timeout|slow-unit)-' || true)"
  printf '%-18s %10s inputs in %ss (%s/s), corpus %s, crashes %s, hangs %s\n' \
    "$t" "${runs:-0}" "$elapsed" "${rate:-0}" "$(ls "$corpus" | wc -l)" "$crashes" "$hangs"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ] || [ "$hangs" != 0 ] || [ -z "$runs" ]; then
    failed=1
    echo "$t failed (exit $rc):" >&2
    pattern='panicked|ERROR: libFuzzer|ALARM|out-of-memory|deadly signal'
    if grep -q -E "$pattern" "$out"; then grep -E -A25 "$pattern" "$out" | head -n 50 >&2; else tail -n 40 "$out" >&2; fi
    ls "$artifacts" | sed "s|^|  failing input: $artifacts/|" >&2
  else
    rmdir "$artifacts"
  fi
done
echo "total: $total_runs inputs, $([ "$failed" = 0 ] && echo "0 crashes, 0 hangs" || echo FAILED)"
exit "$failed"
