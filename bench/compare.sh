#!/usr/bin/env bash
# End-to-end comparison of `signmf train` (f32 and f64) with the notebook in
# numpy float64 and a scipy.sparse float32 rewrite, on the same data, in one
# hyperfine run; then the per-epoch cost of signmf from a 1- and a 201-epoch
# run. Prints median-based ratios as a table.
#
#   bash bench/compare.sh [--build DIR] [--data FILE] [--runs N] [--epochs N] [--dim K]
#
# DATA defaults to ml-100k/ua.base under $SIGNMF_DATA_DIR, ../shared/data or
# ./data, else a synthetic set of the same shape (943 x 1682, 90570 ratings).
# JSON results go to bench/results/ (or $OUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BUILD=build
DATA=""
RUNS=5
EPOCHS=50
DIM=512
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --dim) DIM=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SIGNMF=${SIGNMF:-$ROOT/$BUILD/src/cli/signmf}
PY=/usr/bin/python3
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
for tool in hyperfine "$PY" "$SIGNMF"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "compare.sh: $tool not found (build first: bash scripts/setup.sh)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d /tmp/signmf-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ -z "$DATA" ]; then
  for d in "${SIGNMF_DATA_DIR:-}" "$ROOT/../shared/data" "$ROOT/data"; do
    if [ -n "$d" ] && [ -f "$d/ml-100k/ua.base" ]; then
      DATA=$(cd "$d/ml-100k" && pwd)/ua.base
      break
    fi
  done
fi
if [ -z "$DATA" ]; then
  DATA=$tmp/synth.tsv
  "$SIGNMF" synth --users 943 --items 1682 --ratings 90570 --seed 1 > "$DATA"
  echo "compare.sh: no ml-100k found; using a synthetic set of the same shape"
fi
echo "compare.sh: data $DATA, k=$DIM, $EPOCHS epochs, $RUNS runs each"
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "compare.sh: warning: load average $load on $(nproc) cores; wall times will be noisy"
fi

model=$tmp/m.smf
# numpy is measured with the fastest OpenBLAS kernel this CPU runs. A
# DYNAMIC_ARCH OpenBLAS that does not know the CPU falls back to an old
# kernel (Debian's 0.3.21 picks "Prescott" on a Xeon of family 6 model 207:
# the notebook's 5 epochs took 1.79 s, against 0.71 s with SkylakeX), so the
# notebook itself runs 2 epochs under each likely core type and the fastest
# wins; a core type the CPU cannot run just fails its probe.
best_ct="" best_t=""
for ct in "" Haswell SkylakeX Cooperlake Zen; do
  start=$(date +%s.%N)
  if [ -n "$ct" ]; then
    env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$ct" "$PY" "$ROOT/bench/numpy_notebook.py" "$DATA" \
      --dim "$DIM" --epochs 2 --quiet > /dev/null 2>&1 || continue
  else
    env -u OPENBLAS_L2_SIZE -u OPENBLAS_CORETYPE "$PY" "$ROOT/bench/numpy_notebook.py" "$DATA" \
      --dim "$DIM" --epochs 2 --quiet > /dev/null 2>&1 || continue
  fi
  t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  if [ -z "$best_t" ] || awk -v a="$t" -v b="$best_t" 'BEGIN { exit !(a < 0.9 * b) }'; then
    best_t=$t best_ct=$ct
  fi
done
if [ -n "$best_ct" ]; then
  numpy_env="env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$best_ct"
else
  numpy_env="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
fi
echo "compare.sh: numpy's OpenBLAS kernel: ${best_ct:-its own choice} (2 epochs in ${best_t:-?} s)"

hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/compare.json" \
  -n "signmf f32" "$SIGNMF train $DATA --dim $DIM --epochs $EPOCHS --precision f32 --out $model --quiet" \
  -n "signmf f64" "$SIGNMF train $DATA --dim $DIM --epochs $EPOCHS --precision f64 --out $model --quiet" \
  -n "numpy f64 (notebook)" "$numpy_env $PY $ROOT/bench/numpy_notebook.py $DATA --dim $DIM --epochs $EPOCHS --quiet" \
  -n "scipy.sparse f32" "$numpy_env $PY $ROOT/bench/scipy_sparse.py $DATA --dim $DIM --epochs $EPOCHS --quiet"

hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/epochs.json" \
  -n "f32 1" "$SIGNMF train $DATA --dim $DIM --epochs 1 --precision f32 --out $model --quiet" \
  -n "f32 201" "$SIGNMF train $DATA --dim $DIM --epochs 201 --precision f32 --out $model --quiet" \
  -n "f64 1" "$SIGNMF train $DATA --dim $DIM --epochs 1 --precision f64 --out $model --quiet" \
  -n "f64 201" "$SIGNMF train $DATA --dim $DIM --epochs 201 --precision f64 --out $model --quiet"

"$PY" - "$OUT/compare.json" "$OUT/epochs.json" "$EPOCHS" <<'PYEOF'
import json, sys
cmp = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ep = {r["command"]: r["median"] for r in json.load(open(sys.argv[2]))["results"]}
epochs = int(sys.argv[3])
f32 = cmp["signmf f32"]["median"]
f64 = cmp["signmf f64"]["median"]
print()
print("%d epochs, end to end (load + init + train + save), medians:" % epochs)
print("| %-22s | %10s | %13s | %13s | %10s |" % ("command", "median s", "x signmf f32", "x signmf f64", "cpu s"))
print("|%s|%s|%s|%s|%s|" % ("-" * 24, "-" * 12, "-" * 15, "-" * 15, "-" * 12))
for name, r in cmp.items():
    m = r["median"]
    print("| %-22s | %10.4f | %13.2f | %13.2f | %10.3f |"
          % (name, m, m / f32, m / f64, r["user"] + r["system"]))
print("(cpu s: mean user + system time, less sensitive to other load than wall time)")
print()
print("signmf time per epoch, (median(201 epochs) - median(1 epoch)) / 200:")
for p in ("f32", "f64"):
    per = (ep[p + " 201"] - ep[p + " 1"]) / 200
    print("  %s: %.3f ms/epoch (fixed cost %.3f s)" % (p, per * 1e3, ep[p + " 1"] - per))
PYEOF
echo "compare.sh: JSON in $OUT/compare.json and $OUT/epochs.json"
