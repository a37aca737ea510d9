#!/usr/bin/env bash
# Fuzzes qat-opt's parser and the qat passes with libFuzzer (qat-opt-fuzz,
# built in the sanitizer build), seeded with every .mlir file under test/
# (each under a few pipelines) and test/Fuzz/corpus (the kept reproducers).
#
#   scripts/fuzz.sh [SECONDS]         default 60; FUZZ_JOBS parallel workers
#
# A crash, a sanitizer report or a pass that leaves an invalid module stops
# it with the input saved under build-asan/fuzz/artifacts/; copy it into
# test/Fuzz/corpus/ once fixed, where test/Fuzz/corpus.test replays it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SANITIZE_BUILD_DIR:-$ROOT/build-asan}"
SECONDS_TO_RUN="${1:-60}"
if [ ! -x "$BUILD_DIR/bin/qat-opt-fuzz" ]; then
  BUILD_DIR="$BUILD_DIR" QAT_CMAKE_ARGS="-DQAT_SANITIZE=ON" "$ROOT/scripts/setup.sh"
fi
WORK="$BUILD_DIR/fuzz"
rm -rf "$WORK/seeds" && mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts"
# Seeds: a selector byte (the pipeline, see qat-opt-fuzz.cpp), then the file.
i=0
while IFS= read -r -d '' file; do
  for selector in 0 2 4 6 7 11 12; do
    { printf "\\$(printf '%03o' $(( (selector + i) % 14 )))"; cat "$file"; } \
      > "$WORK/seeds/$(basename "$file").$selector"
  done
  i=$((i + 1))
done < <(find "$ROOT/test" -name '*.mlir' -not -path '*/Fuzz/*' -size -64k -print0)
export ASAN_OPTIONS="detect_container_overflow=0:detect_leaks=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
echo "fuzzing for ${SECONDS_TO_RUN}s from $(ls "$WORK/seeds" | wc -l) seeds"
"$BUILD_DIR/bin/qat-opt-fuzz" "$WORK/corpus" "$WORK/seeds" "$ROOT/test/Fuzz/corpus" \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=30 \
  -rss_limit_mb=4096 -artifact_prefix="$WORK/artifacts/" \
  -jobs="${FUZZ_JOBS:-1}" -workers="${FUZZ_JOBS:-1}" -print_final_stats=1 2>&1 |
  grep -E "^#[0-9]+.*(DONE|INITED)|stat::|ERROR|SUMMARY|Test unit written|deadly" || true
if ls "$WORK/artifacts"/* >/dev/null 2>&1; then
  echo "fuzz: crashes found: $(ls "$WORK/artifacts")" >&2
  exit 1
fi
echo "fuzz: no crash"
