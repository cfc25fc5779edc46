#!/usr/bin/env bash
# Top-10 quality of signmf beside implicit ALS / BPR, LightFM WARP and
# popularity on MovieLens 100k, ua.base -> ua.test (docs/quality-bench.md).
#
#   bash bench/quality.sh [--data DIR] [--runs N] [--seeds N]
#   bash bench/quality.sh --base B --test T --name NAME [--md OUT.md]   # another split
#
# DIR holds ml-100k/ (default: $SIGNMF_DATA_DIR, ../shared/data or ./data).
# A venv at ${SIGNMF_VENV:-build/quality-venv} (Debian's /usr/bin/python3)
# gets pinned numpy, scipy, tqdm, implicit and lightfm; signmf is built in
# ./build if needed. Every method is tuned on the same 10 % per-user split of
# ua.base (signmf split --holdout 0.1 --seed 1), refit on ua.base and judged
# on ua.test; then the chosen settings are refit with seeds 1..N (default
# 10; 0 skips) for the seed spread. The Markdown table goes to stdout and
# build/quality.md; progress goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CMDLINE="bash bench/quality.sh${*:+ $*}"

DATA=""
RUNS=3
SEEDS=10
BASE=""
TEST=""
NAME="ua.base -> ua.test"
MD=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --test) TEST=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --md) MD=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "quality.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$DATA" ]; then
  for d in "${SIGNMF_DATA_DIR:-}" "$ROOT/../shared/data" "$ROOT/data"; do
    if [ -n "$d" ] && [ -f "$d/ml-100k/ua.base" ]; then DATA=$d; break; fi
  done
fi
if [ -z "$DATA" ] || [ ! -f "$DATA/ml-100k/ua.base" ] || [ ! -f "$DATA/ml-100k/ua.test" ]; then
  echo "quality.sh: no ml-100k/ua.base and ua.test under '${DATA:-../shared/data or ./data}'" \
    "(bash scripts/fetch-movielens.sh, or --data DIR)" >&2
  exit 1
fi
ML=$(cd "$DATA/ml-100k" && pwd)

# ---- the venv ---------------------------------------------------------------
# Versions this script was run with; LightFM 1.17 is an sdist only.
PINS=(numpy==2.4.6 scipy==1.17.1 tqdm==4.70.1 threadpoolctl==3.8.0 implicit==0.7.2)
BUILD_PINS=(cython==3.3.1 setuptools==84.2.1 wheel==0.48.0)
LIGHTFM=lightfm==1.17
VENV=${SIGNMF_VENV:-build/quality-venv}
SYSPY=/usr/bin/python3

if ! "$SYSPY" -c 'import ensurepip, venv' 2>/dev/null; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "quality.sh: need python3-venv (not root, no sudo)" >&2; exit 1; }
    SUDO=(sudo)
  fi
  echo "quality.sh: installing python3-venv" >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "quality.sh: creating the venv $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$SYSPY" -m venv "$VENV"
fi
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python
STAMP=$VENV/.signmf-quality-pins
WANT="${PINS[*]} ${BUILD_PINS[*]} $LIGHTFM"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ] || ! "$PY" -c 'import implicit, lightfm, scipy, tqdm' 2>/dev/null; then
  echo "quality.sh: installing ${PINS[*]} ${BUILD_PINS[*]} $LIGHTFM into $VENV" >&2
  "$PY" -m pip install -q "${PINS[@]}" "${BUILD_PINS[@]}"
  # LightFM's sdist needs Cython, setuptools and numpy at build time, so no
  # build isolation. Its setup.py sets __builtins__.__LIGHTFM_SETUP__, which
  # fails under a PEP 517 backend (there __builtins__ is a dict:
  # lyst/lightfm#687), and pip 24 dropped the legacy setup.py path
  # (--no-use-pep517), so the venv's pip is held below 24 for it.
  if ! "$PY" -m pip install -q --no-build-isolation "$LIGHTFM" 2>"$VENV/lightfm-pip.log"; then
    echo "quality.sh: 'pip install --no-build-isolation $LIGHTFM' failed" \
      "($(grep -m1 -o "AttributeError.*" "$VENV/lightfm-pip.log" || echo "see $VENV/lightfm-pip.log")); building it with setup.py through pip < 24" >&2
    "$PY" -m pip install -q "pip<24"
    "$PY" -m pip install -q --no-build-isolation --no-use-pep517 "$LIGHTFM"
  fi
  echo "$WANT" >"$STAMP"
fi

# ---- signmf -------------------------------------------------------------------
if [ ! -d build ]; then
  meson setup build --buildtype=release >&2
fi
meson compile -C build >&2
SIGNMF=$ROOT/build/src/cli/signmf

# ---- the tuning split and the run -------------------------------------------------
BASE=${BASE:-$ML/ua.base}
TEST=${TEST:-$ML/ua.test}
MD=${MD:-$ROOT/build/quality.md}
WORK=$ROOT/build/quality/$(basename "$BASE" | tr -c 'A-Za-z0-9._\n-' _)
mkdir -p "$WORK"
SPLIT="signmf split $(basename "$BASE") --holdout 0.1 --seed 1 --train train.tsv --test valid.tsv"
"$SIGNMF" split "$BASE" --holdout 0.1 --seed 1 --train "$WORK/train.tsv" --test "$WORK/valid.tsv"

# implicit: its CPU classes with num_threads=2 and a single-threaded OpenBLAS,
# as it recommends (it warns otherwise; the report says whether it did).
export OPENBLAS_NUM_THREADS=1
"$PY" bench/quality.py --signmf "$SIGNMF" --data "$ML" --train "$WORK/train.tsv" \
  --valid "$WORK/valid.tsv" --split "$SPLIT" --work "$WORK" --md "$MD" --base "$BASE" --test "$TEST" --name "$NAME" \
  --command "$CMDLINE" --runs "$RUNS" --seeds "$SEEDS" --threads 2
