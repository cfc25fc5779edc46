#!/usr/bin/env bash
# The validation grid behind the orthonormal method's defaults
# (docs/quality.md): every setting trained on ua.base less a 10 % per-user
# holdout (signmf train --holdout 0.1 --seed 1) and judged on that holdout
# only, never on ua.test. Prints one line per setting, best NDCG@10 first.
#
#   bash scripts/tune-ortho.sh [DATA_DIR]     (DATA_DIR holds ml-100k/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${1:-${SIGNMF_DATA_DIR:-../shared/data}}
BASE=$DATA/ml-100k/ua.base
[ -f "$BASE" ] || { echo "tune-ortho.sh: no $BASE" >&2; exit 1; }
[ -x build/src/cli/signmf ] || { meson setup build --buildtype=release >&2 && meson compile -C build >&2; }
S=build/src/cli/signmf
{
  for dim in 16 24 32 48; do
    for g in 0 0.2 0.3 0.4; do
      for w in 3 5 8; do
        for ep in 10 30; do
          out=$("$S" train "$BASE" --method orthonormal --holdout 0.1 --seed 1 --dim "$dim" \
            --degree-exp "$g" --rated-weight "$w" --epochs "$ep" -q 2>&1)
          p=$(awk '/^precision@10/ {print $2}' <<<"$out")
          n=$(awk '/^ndcg@10/ {print $2}' <<<"$out")
          echo "$n $p dim=$dim degree-exp=$g rated-weight=$w epochs=$ep"
        done
      done
    done
  done
} | sort -rn | awk 'BEGIN {print "ndcg@10 p@10 setting (validation holdout of ua.base)"} {print}'
