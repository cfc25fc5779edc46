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
#   build-python  a wheel built by pip from a clean copy of the sources,
#               installed into a fresh venv, and tests/python run by pytest
#
#   bash scripts/test.sh            all three
#   bash scripts/test.sh --quick    build-ci and build-python only
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

# python_stage: the Python package as a user gets it. The sources git
# knows (tracked and not ignored) are copied to a clean tree, a wheel is
# built there by pip with meson-python, meson and ninja from PyPI in a
# fresh venv, the wheel is installed into that venv (the suite refuses a
# signmf imported from the source tree), and tests/python runs with
# pytest. Counts come from pytest's junit XML; pytest's exit 5 (no tests
# collected) is a failure.
python_stage() {
  local dir=$ROOT/build-python name=python
  echo "=== test.sh: $name ($dir)"
  rm -rf "$dir"
  mkdir -p "$dir/src" "$dir/dist"
  if ! (git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$dir/src"); then
    echo "test.sh: $name: copying the sources failed"
    FAILED=$((FAILED + 1))
    return
  fi
  local venv=$dir/venv
  if ! "$PY" -m venv "$venv" ||
    ! "$venv/bin/pip" install -q --disable-pip-version-check meson-python meson ninja numpy scipy pytest; then
    echo "test.sh: $name: creating the venv failed (python3-venv, PyPI)"
    FAILED=$((FAILED + 1))
    return
  fi
  # meson-python runs the first meson on PATH: the venv's, not an older system one
  if ! PATH="$venv/bin:$PATH" "$venv/bin/pip" wheel -q --disable-pip-version-check --no-build-isolation --no-deps \
    --config-settings=setup-args=-Dwerror_ci=true -w "$dir/dist" "$dir/src"; then
    echo "test.sh: $name: building the wheel failed"
    FAILED=$((FAILED + 1))
    return
  fi
  local wheels=("$dir"/dist/signmf-*.whl)
  if [ ! -f "${wheels[0]}" ] || ! "$venv/bin/pip" install -q --disable-pip-version-check "${wheels[0]}"; then
    echo "test.sh: $name: installing the wheel failed"
    FAILED=$((FAILED + 1))
    return
  fi
  echo "test.sh: $name: built and installed $(basename "${wheels[0]}")"
  local xml=$dir/pytest.xml rc=0
  (cd "$ROOT/tests/python" && SIGNMF_CLI="$ROOT/${SIGNMF_BUILD_DIR:-build-ci}/src/cli/signmf" \
    "$venv/bin/python" -m pytest -p no:cacheprovider -rs -q --junitxml="$xml" .) || rc=$?
  local c
  c=$("$PY" - "$xml" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", 0))
print(t - f - s, f, s)
PYEOF
  ) || c="0 1 0"
  local p f s
  read -r p f s <<<"$c"
  PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s))
  echo "test.sh: $name: $p passed, $f failed, $s skipped"
  if [ "$rc" -eq 5 ]; then
    echo "test.sh: $name: pytest collected no tests"
    FAILED=$((FAILED + 1))
  elif [ "$f" -eq 0 ] && [ "$rc" -ne 0 ]; then
    echo "test.sh: $name: pytest exited $rc without a failed test in the report"
    FAILED=$((FAILED + 1))
  fi
}
python_stage

if [ "$QUICK" = 0 ]; then
  # Sanitized code runs several times slower: stretch the timeouts. The
  # valgrind suite cannot run under ASan; nor can the mpi suite, whose
  # Open MPI runtime leaks by design and would fail LeakSanitizer.
  stage asan build-asan \
    "-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized -Dwerror_ci=true" \
    "--timeout-multiplier 4 --no-suite valgrind --no-suite mpi" \
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
