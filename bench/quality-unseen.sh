#!/usr/bin/env bash
# The orthonormal method's defaults on splits they were not chosen on
# (docs/quality-bench.md). The defaults come from validation holdouts of
# ua.base (scripts/tune-ortho.sh); here every method is tuned afresh on each
# set's own 10 % validation split and the untouched defaults are set beside
# the best tuned peer. The sets are built from u.data in build/ (never
# committed: the MovieLens licence forbids redistribution):
#
#   random20   every user's ratings, 20 % of them held out at random (seed 11)
#   temporal   every user's last 20 % of ratings by time held out (train on the past)
#   oddusers   only the users with odd ids (half the data), 20 % held out (seed 12)
#
#   bash bench/quality-unseen.sh [--data DIR] [--runs N] [SET ...]
#
# One table per set goes to build/quality-SET.md, the ratio lines to stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
DATA=""
RUNS=1
SETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    random20|temporal|oddusers) SETS+=("$1"); shift ;;
    *) echo "quality-unseen.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#SETS[@]} -gt 0 ] || SETS=(random20 temporal oddusers)
if [ -z "$DATA" ]; then
  for d in "${SIGNMF_DATA_DIR:-}" "$ROOT/../shared/data" "$ROOT/data"; do
    if [ -n "$d" ] && [ -f "$d/ml-100k/u.data" ]; then DATA=$d; break; fi
  done
fi
[ -n "$DATA" ] && [ -f "$DATA/ml-100k/u.data" ] || {
  echo "quality-unseen.sh: no ml-100k/u.data (--data DIR)" >&2
  exit 1
}
UDATA=$DATA/ml-100k/u.data
[ -d build ] || meson setup build --buildtype=release >&2
meson compile -C build >&2
S=$ROOT/build/src/cli/signmf
OUT=$ROOT/build/quality-unseen
mkdir -p "$OUT"

# Renumber users and items to 1..n in sorted order of the training file's
# ids, so that row = id - 1 for quality.py and signmf alike (its id map is
# sorted); test items the training part lacks get ids past n (unknown to
# every method).
renumber() { # base test -> base.tsv test.tsv (in place); mawk has no asorti
  cut -f1 "$1" | sort -un >"$1.users"
  cut -f2 "$1" | sort -un >"$1.items"
  awk -F'\t' -v OFS='\t' -v U="$1.users" -v I="$1.items" '
    BEGIN { while ((getline x < U) > 0) um[x] = ++nu
            while ((getline x < I) > 0) im[x] = ++ni
            extra = ni }
    { if (!($2 in im)) im[$2] = ++extra
      f = FILENAME ".renum"; print um[$1], im[$2], $3 (NF > 3 ? OFS $4 : "") > f }
  ' "$1" "$2"
  mv "$1.renum" "$1"
  mv "$2.renum" "$2"
  rm -f "$1.users" "$1.items"
}

for set in "${SETS[@]}"; do
  B=$OUT/$set.base
  T=$OUT/$set.test
  case "$set" in
    random20) "$S" split "$UDATA" --holdout 0.2 --seed 11 --train "$B" --test "$T" >&2 ;;
    oddusers)
      awk -F'\t' '$1 % 2 == 1' "$UDATA" >"$OUT/odd.data"
      "$S" split "$OUT/odd.data" --holdout 0.2 --seed 12 --train "$B" --test "$T" >&2
      ;;
    temporal)
      # by user, then time (ties by item): each user's last ceil(20 %) to the test
      sort -t$'\t' -k1,1n -k4,4n -k2,2n "$UDATA" | awk -F'\t' -v OFS='\t' -v B="$B" -v T="$T" '
        function flush(   k, h) { h = int((n * 2 + 9) / 10)
          for (k = 1; k <= n; k++) print row[k] > (k > n - h ? T : B); n = 0 }
        $1 != cur { if (n) flush(); cur = $1 }
        { row[++n] = $0 }
        END { if (n) flush() }'
      ;;
  esac
  renumber "$B" "$T"
  echo "quality-unseen.sh: $set: $(wc -l <"$B") training, $(wc -l <"$T") test ratings" >&2
  bash bench/quality.sh --data "$DATA" --runs "$RUNS" --base "$B" --test "$T" \
    --name "u.data $set (tuned on its own split)" --md "$ROOT/build/quality-$set.md" >/dev/null
  grep -- "- orthonormal defaults" "$ROOT/build/quality-$set.md" | sed "s/^/$set /"
done
