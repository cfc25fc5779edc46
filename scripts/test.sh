#!/usr/bin/env bash
# Build signmf with warnings as errors and run every test suite (unit, cli,
# parity). This is exactly what CI runs (.ci/run calls it).
#
#   bash scripts/test.sh                 build in build-ci/ and test
#   SIGNMF_BUILD_DIR=dir bash scripts/test.sh
#   SIGNMF_DATA_DIR=/path (holding ml-100k/) enables the MovieLens tests;
#   by default ../shared/data or ./data is used when it holds ml-100k/.
#
# The last line printed is always "N passed, N failed, N skipped"; the exit
# status is non-zero when the build or any test failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD=${SIGNMF_BUILD_DIR:-build-ci}
PY=/usr/bin/python3

if [ "${SIGNMF_SKIP_DEPS:-0}" != 1 ]; then
  bash scripts/install-deps.sh || echo "test.sh: could not install every package; trying the build anyway" >&2
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
  # Tests run from the build directory, so a relative path would break.
  if [ -d "$SIGNMF_DATA_DIR" ]; then
    SIGNMF_DATA_DIR=$(cd "$SIGNMF_DATA_DIR" && pwd)
  fi
  export SIGNMF_DATA_DIR
  echo "test.sh: MovieLens tests use SIGNMF_DATA_DIR=$SIGNMF_DATA_DIR"
else
  echo "test.sh: no ml-100k found; MovieLens tests will be skipped"
fi

summary() { # passed failed skipped
  echo "$1 passed, $2 failed, $3 skipped"
}

if [ -d "$BUILD/meson-private" ]; then
  setup=(meson setup --reconfigure "$BUILD")
else
  setup=(meson setup "$BUILD")
fi
if ! "${setup[@]}" -Dwerror_ci=true --buildtype=release; then
  echo "test.sh: meson setup failed"
  summary 0 1 0
  exit 1
fi
if ! meson compile -C "$BUILD"; then
  echo "test.sh: build failed"
  summary 0 1 0
  exit 1
fi

rm -f "$BUILD/meson-logs/testlog.json"
test_rc=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 || test_rc=$?

log="$BUILD/meson-logs/testlog.json"
if [ ! -f "$log" ]; then
  echo "test.sh: meson test wrote no $log (exit $test_rc)"
  summary 0 1 0
  exit 1
fi

# One JSON object per line; OK and EXPECTEDFAIL pass, SKIP skips, anything
# else (FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR) fails.
counts=$("$PY" - "$log" <<'PYEOF'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
        print("FAILED: %s (%s)" % (json.loads(line).get("name"), r), file=sys.stderr)
print(p, f, s)
PYEOF
) || counts="0 1 0"
read -r passed failed skipped <<<"$counts"

if [ "$failed" -eq 0 ] && [ "$test_rc" -ne 0 ]; then
  echo "test.sh: meson test exited $test_rc without a failed test in the log"
  failed=1
fi
summary "$passed" "$failed" "$skipped"
if [ "$failed" -ne 0 ]; then
  exit 1
fi
