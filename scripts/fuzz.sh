#!/usr/bin/env bash
# Fuzzes qat-opt's parser and the qat passes with libFuzzer (qat-opt-fuzz,
# built in the sanitizer build), seeded with every .mlir file under test/
# (each under a few pipelines) and test/Fuzz/corpus (the kept reproducers).
#
#   scripts/fuzz.sh [SECONDS]         default 60; FUZZ_JOBS parallel workers
#
# Crashes, sanitizer reports and passes that leave an invalid module are
# saved under build-asan/fuzz/artifacts/ and replayed: the run fails when
# qat-mlir's code is on a crash's stack (copy the input into test/Fuzz/corpus/
# once fixed: test/Fuzz/corpus.test replays it); crashes inside MLIR itself
# are listed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SANITIZE_BUILD_DIR:-$ROOT/build-asan}"
SECONDS_TO_RUN="${1:-60}"
if [ ! -x "$BUILD_DIR/bin/qat-opt-fuzz" ]; then
  BUILD_DIR="$BUILD_DIR" QAT_CMAKE_ARGS="-DQAT_SANITIZE=ON" "$ROOT/scripts/setup.sh"
fi
WORK="$BUILD_DIR/fuzz"
rm -rf "$WORK/seeds" "$WORK/artifacts"
mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts"
# Seeds: a selector byte (the pipeline, see qat-opt-fuzz.cpp), then the file.
i=0
while IFS= read -r -d '' file; do
  for selector in 0 2 4 6 7 11 12; do
    { printf "\\$(printf '%03o' $(( (selector + i) % 16 )))"; cat "$file"; } \
      > "$WORK/seeds/$(basename "$file").$selector"
  done
  i=$((i + 1))
done < <(find "$ROOT/test" -name '*.mlir' -not -path '*/Fuzz/*' -size -64k -print0)
export ASAN_OPTIONS="detect_container_overflow=0:detect_leaks=0:allow_user_poisoning=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
echo "fuzzing for ${SECONDS_TO_RUN}s from $(ls "$WORK/seeds" | wc -l) seeds"
# Fork mode keeps fuzzing past a crash; each crash is then replayed and
# sorted: ours when a frame of qat-mlir's code is on its stack, else MLIR's
# own (its parser has crashes of its own on
# malformed text, e.g. linalg.reduce with a malformed `dimensions`), which
# are listed but are not ours to fix.
"$BUILD_DIR/bin/qat-opt-fuzz" "$WORK/corpus" "$WORK/seeds" "$ROOT/test/Fuzz/corpus" \
  -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=30 \
  -rss_limit_mb=4096 -artifact_prefix="$WORK/artifacts/" \
  -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -print_final_stats=1 > "$WORK/log" 2>&1 || true
grep -E "^#[0-9]+.*(DONE|INITED)|fuzz: stat|stat::|exec/s" "$WORK/log" | tail -4 || true
ours=0 upstream=0
for artifact in "$WORK"/artifacts/*; do
  [ -e "$artifact" ] || continue
  stack="$("$BUILD_DIR/bin/qat-opt-fuzz" "$artifact" 2>&1 || true)"
  # Our code is linked into qat-opt-fuzz; so are libFuzzer, the harness and
  # the sanitizer interceptors, whose frames do not count.
  if grep -E '^ +#[0-9]+ ' <<<"$stack" | grep 'qat-opt-fuzz+' |
      grep -vE ' in (fuzzer::|LLVMFuzzerTestOneInput|main |_start|__asan|__sanitizer|__interceptor|__libc|mem(cpy|move|set|cmp)|str[a-z]+ )' |
      grep -q .; then
    echo "fuzz: a crash in qat-mlir's code: $artifact" >&2
    grep -E '^ +#[0-9]+ ' <<<"$stack" | head -8 >&2
    ours=$((ours + 1))
  else
    # Its first frames past the crash handlers and abort.
    frame="$(grep -E '^ +#[0-9]+ ' <<<"$stack" |
      grep -vE ' in (__sanitizer|fuzzer::|raise|abort|__pthread|llvm::report_fatal_error)' |
      grep -oE ' in [^ (]+' | head -3 | tr '\n' ' ')"
    echo "fuzz: a crash in MLIR itself (not ours):$frame($(basename "$artifact"))"
    upstream=$((upstream + 1))
  fi
done
echo "fuzz: $ours crashes in qat-mlir, $upstream in MLIR itself"
[ "$ours" -eq 0 ]
