#!/usr/bin/env bash
# The validation grid behind the orthonormal method's defaults
# (docs/quality.md): every setting trained on ua.base less a 10 % per-user
# holdout (signmf train --holdout 0.1 --seed S) and judged on that holdout
# only, never on ua.test, for seeds 1, 2 and 3 (each seeds both the split
# and the initialisation). Prints the mean NDCG@10 and p@10 over the seeds,
# one line per setting, best NDCG@10 first.
#
#   bash scripts/tune-ortho.sh [DATA_DIR]     (DATA_DIR holds ml-100k/)
#   GRID_EPOCHS="100 200" GRID_DIMS="20" bash scripts/tune-ortho.sh   # a narrower grid
#   GRID_SEEDS="1 2 3 4 5" bash scripts/tune-ortho.sh                  # more holdouts
#   GRID_SHRINKS="0 0.5 0.75" bash scripts/tune-ortho.sh                # the shrink t
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-${SIGNMF_DATA_DIR:-../shared/data}}
BASE=$DATA/ml-100k/ua.base
[ -f "$BASE" ] || { echo "tune-ortho.sh: no $BASE" >&2; exit 1; }
[ -x build/src/cli/signmf ] || { meson setup build --buildtype=release >&2 && meson compile -C build >&2; }
S=build/src/cli/signmf
DIMS=${GRID_DIMS:-16 20 24 28 32}
EXPS=${GRID_EXPS:-0.1 0.2 0.3}
WEIGHTS=${GRID_WEIGHTS:-2 3 5}
EPOCHS=${GRID_EPOCHS:-20 30 50 100}
SHRINKS=${GRID_SHRINKS:-0.75}
{
  for dim in $DIMS; do
    for g in $EXPS; do
      for w in $WEIGHTS; do
        for ep in $EPOCHS; do
          for t in $SHRINKS; do
            for seed in ${GRID_SEEDS:-1 2 3}; do
              "$S" train "$BASE" --method orthonormal --holdout 0.1 --seed "$seed" --dim "$dim" \
                --degree-exp "$g" --rated-weight "$w" --epochs "$ep" --shrink "$t" -q 2>&1 |
                awk '/^precision@10/ {p = $2} /^ndcg@10/ {n = $2} END {print n, p}'
            done | awk -v s="dim=$dim degree-exp=$g rated-weight=$w epochs=$ep shrink=$t" \
              '{n += $1; p += $2} END {printf "%.5f %.5f %s\n", n / NR, p / NR, s}'
          done
        done
      done
    done
  done
} | sort -rn | awk -v n="$(echo ${GRID_SEEDS:-1 2 3} | wc -w)" 'BEGIN {print "ndcg@10 p@10 setting (mean over " n " validation holdouts of ua.base)"} {print}'
