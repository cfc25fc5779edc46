#!/usr/bin/env bash
# Build signmf and run every test; this is exactly what CI runs (.ci/run
# calls it) and the README's test command.
#
# Three builds, each tested by `meson test`:
#   build-ci    gcc, -Werror, release: unit (Criterion), cli, parity, valgrind;
#               then unit, cli and parity again with SIGNMF_ISA=avx2 and =portable
#   build-asan  the whole suite again under AddressSanitizer + UBSan
#   build-fuzz  clang libFuzzer targets: corpus replay, and every target
#               fuzzed for SIGNMF_FUZZ_SECONDS (default 60) seconds
#
#   bash scripts/test.sh            all three
#   bash scripts/test.sh --quick    build-ci only
#   SIGNMF_DATA_DIR=/path (holding ml-100k/) enables the MovieLens tests;
#   by default ../shared/data or ./data is used when it holds ml-100k/.
#
# The last line printed is always "N passed, N failed, N skipped", summed
# over the meson test logs of the builds that ran; the exit status is
# non-zero when a build or any test failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

if [ "${SIGNMF_SKIP_DEPS:-0}" != 1 ]; then
  bash scripts/install-deps.sh || { echo "test.sh: installing packages failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi

if [ -z "${SIGNMF_DATA_DIR:-}" ]; then
  for d in "$ROOT/../shared/data" "$ROOT/data"; do
    if [ -d "$d/ml-100k" ]; then
      SIGNMF_DATA_DIR=$(cd "$d" && pwd)
      break
    fi
  done
fi
if [ -n "${SIGNMF_DATA_DIR:-}" ]; then
  export SIGNMF_DATA_DIR
  echo "test.sh: MovieLens tests use SIGNMF_DATA_DIR=$SIGNMF_DATA_DIR"
else
  echo "test.sh: no ml-100k found; MovieLens tests will be skipped"
fi

PASSED=0 FAILED=0 SKIPPED=0

# count LOG: add a meson testlog.json's results to the totals.
count() {
  local c
  c=$("$PY" - "$1" <<'PYEOF'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    rec = json.loads(line)
    r = rec.get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
        print("FAILED: %s (%s)" % (rec.get("name"), r), file=sys.stderr)
print(p, f, s)
PYEOF
  ) || c="0 1 0"
  local p f s
  read -r p f s <<<"$c"
  PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s))
  echo "test.sh: $2: $p passed, $f failed, $s skipped"
}

# stage NAME BUILD "SETUP ARGS" "TEST ARGS" [ENV...]: configure, build, test.
stage() {
  local name=$1 build=$2 setup=$3 targs=$4
  shift 4
  echo "=== test.sh: $name ($build)"
  local cmd=(meson setup)
  [ -d "$build/meson-private" ] && cmd+=(--reconfigure)
  if ! env "$@" "${cmd[@]}" "$build" $setup; then
    echo "test.sh: $name: meson setup failed"
    FAILED=$((FAILED + 1))
    return
  fi
  if ! env "$@" meson compile -C "$build"; then
    echo "test.sh: $name: build failed"
    FAILED=$((FAILED + 1))
    return
  fi
  # meson names the log after the test setup, if there is one
  local log=$build/meson-logs/testlog.json
  if [[ " $targs " =~ \ --setup\ ([^ ]+)\  ]]; then
    log=$build/meson-logs/testlog-${BASH_REMATCH[1]}.json
  fi
  rm -f "$log"
  local rc=0
  env "$@" meson test -C "$build" --print-errorlogs --num-processes 2 $targs || rc=$?
  if [ ! -f "$log" ]; then
    echo "test.sh: $name: meson test wrote no $log (exit $rc)"
    FAILED=$((FAILED + 1))
    return
  fi
  local before=$FAILED
  count "$log" "$name"
  if [ "$FAILED" -eq "$before" ] && [ "$rc" -ne 0 ]; then
    echo "test.sh: $name: meson test exited $rc without a failed test in the log"
    FAILED=$((FAILED + 1))
  fi
}

stage main "${SIGNMF_BUILD_DIR:-build-ci}" "-Dwerror_ci=true --buildtype=release" ""
# The same build with each smaller kernel set forced (meson test setups), so
# every variant passes the unit, CLI and parity tests, not only the kernel
# tests that compare them directly.
for isa in avx2 portable; do
  stage "main, SIGNMF_ISA=$isa" "${SIGNMF_BUILD_DIR:-build-ci}" "-Dwerror_ci=true --buildtype=release" \
    "--setup $isa --suite unit --suite cli --suite parity"
done

if [ "$QUICK" = 0 ]; then
  # Sanitized code runs several times slower: stretch the timeouts. The
  # valgrind suite cannot run under ASan.
  stage asan build-asan \
    "-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized -Dwerror_ci=true" \
    "--timeout-multiplier 4 --no-suite valgrind" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  if command -v clang >/dev/null; then
    # The library carries coverage instrumentation too (fuzzer-no-link);
    # -mfma because clang ignores '#pragma GCC target("fma")'.
    stage fuzz build-fuzz \
      "-Dfuzz=true -Dfuzz_seconds=${SIGNMF_FUZZ_SECONDS:-60} -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized" \
      "--suite fuzz --suite fuzz-run" \
      CC=clang "CFLAGS=-fsanitize=fuzzer-no-link -mfma" \
      ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  else
    echo "test.sh: clang not found: fuzz stage not run"
    FAILED=$((FAILED + 1))
  fi
fi

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
