#!/usr/bin/env bash
# Fuzzes qat-mlir with libFuzzer, both targets built in the sanitizer build:
#  - qat-opt-fuzz: qat-opt's parser and the qat passes, seeded with every
#    .mlir file under test/ (each under a few pipelines) and test/Fuzz/corpus;
#  - qat-import-fuzz: the ONNX importer (libonnx's checks included), seeded
#    with ONNX's backend test models (libonnx-testdata), qat-import's lit
#    models and test/Fuzz/onnx-corpus.
#
#   scripts/fuzz.sh [SECONDS]         default 60, shared by the two targets;
#                                     FUZZ_JOBS parallel workers
#
# Crashes, sanitizer reports and invalid results are saved under
# build-asan/fuzz/<target>/artifacts/ and replayed: the run fails when
# qat-mlir's code is on a crash's stack (copy the input into the target's
# corpus in test/Fuzz once fixed: the lit tests there replay it); crashes
# inside MLIR itself are listed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SANITIZE_BUILD_DIR:-$ROOT/build-asan}"
SECONDS_TO_RUN="${1:-60}"
if [ ! -x "$BUILD_DIR/bin/qat-opt-fuzz" ] || [ ! -x "$BUILD_DIR/bin/qat-import-fuzz" ]; then
  BUILD_DIR="$BUILD_DIR" QAT_CMAKE_ARGS="-DQAT_SANITIZE=ON" "$ROOT/scripts/setup.sh"
fi
export ASAN_OPTIONS="detect_container_overflow=0:detect_leaks=0:allow_user_poisoning=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# seeds_opt DIR: a selector byte (the pipeline, see qat-opt-fuzz.cpp), then
# the file.
seeds_opt() {
  local i=0 file selector
  while IFS= read -r -d '' file; do
    for selector in 0 2 4 6 7 11 12; do
      { printf "\\$(printf '%03o' $(( (selector + i) % 16 )))"; cat "$file"; } \
        > "$1/$(basename "$file").$selector"
    done
    i=$((i + 1))
  done < <(find "$ROOT/test" -name '*.mlir' -not -path '*/Fuzz/*' -size -64k -print0)
}

# seeds_import DIR: ONNX's node tests under 16 KB and the lit models.
seeds_import() {
  local file name
  if [ -d /usr/share/libonnx-testdata/data/node ]; then
    while IFS= read -r -d '' file; do
      cp "$file" "$1/$(basename "$(dirname "$file")").onnx"
    done < <(find /usr/share/libonnx-testdata/data/node -name model.onnx -size -16k -print0)
  fi
  local models="$ROOT/test/Frontend/ONNX/Inputs/onnx_models.py"
  for name in $(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$(dirname "$models")'); import onnx_models; print(' '.join(onnx_models.MODELS))" 2>/dev/null); do
    /usr/bin/python3 "$models" "$name" "$1/lit_$name.onnx"
  done
}

ours=0 upstream=0
# fuzz TARGET SEEDER KEPT SECONDS
fuzz() {
  local target="$1" seeder="$2" kept="$3" seconds="$4"
  local work="$BUILD_DIR/fuzz/$target" binary="$BUILD_DIR/bin/$target"
  rm -rf "$work/seeds" "$work/artifacts"
  mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
  "$seeder" "$work/seeds"
  echo "$target: fuzzing for ${seconds}s from $(ls "$work/seeds" | wc -l) seeds"
  # Fork mode keeps fuzzing past a crash; each crash is then replayed and
  # sorted: ours when a frame of qat-mlir's code is on its stack, else
  # MLIR's own (its parser has crashes of its own on malformed text, e.g.
  # linalg.reduce with a malformed `dimensions`), listed, not ours to fix.
  "$binary" "$work/corpus" "$work/seeds" "$kept" \
    -max_total_time="$seconds" -max_len=65536 -timeout=30 \
    -rss_limit_mb=4096 -artifact_prefix="$work/artifacts/" \
    -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -print_final_stats=1 > "$work/log" 2>&1 || true
  grep -E "^#[0-9]+.*(DONE|INITED)|fuzz: stat|stat::|exec/s" "$work/log" | tail -2 || true
  local artifact stack frame
  for artifact in "$work"/artifacts/*; do
    [ -e "$artifact" ] || continue
    stack="$("$binary" "$artifact" 2>&1 || true)"
    # Our code is linked into the target; so are libFuzzer, the harness and
    # the sanitizer interceptors, whose frames do not count.
    if grep -E '^ +#[0-9]+ ' <<<"$stack" | grep "$target+" |
        grep -vE ' in (fuzzer::|LLVMFuzzerTestOneInput|main |_start|__asan|__sanitizer|__interceptor|__libc|mem(cpy|move|set|cmp)|bcmp|str[a-z]+ |MemcmpInterceptorCommon)' |
        grep -q .; then
      echo "$target: a crash in qat-mlir's code: $artifact" >&2
      grep -E '^ +#[0-9]+ |runtime error|ERROR' <<<"$stack" | head -8 >&2
      ours=$((ours + 1))
    else
      # Its first frames past the crash handlers and abort.
      frame="$(grep -E '^ +#[0-9]+ ' <<<"$stack" |
        grep -vE ' in (__sanitizer|fuzzer::|raise|abort|__pthread|llvm::report_fatal_error)' |
        grep -oE ' in [^ (]+' | head -3 | tr '\n' ' ')"
      echo "$target: a crash in MLIR itself (not ours):$frame($(basename "$artifact"))"
      upstream=$((upstream + 1))
    fi
  done
}

half=$(( (SECONDS_TO_RUN + 1) / 2 ))
fuzz qat-opt-fuzz seeds_opt "$ROOT/test/Fuzz/corpus" "$half"
fuzz qat-import-fuzz seeds_import "$ROOT/test/Fuzz/onnx-corpus" "$half"
echo "fuzz: $ours crashes in qat-mlir, $upstream in MLIR itself"
[ "$ours" -eq 0 ]
