#!/usr/bin/env bash
# The bf16 figures of the README (issue 13), each next to its f32 twin in
# the same run, so that a slow spell of the shared machine lands on both:
#   1. bench_epoch, ua.base k = 512: the fused epoch, f32 and bf16 rows;
#   2. the CLI's epoch, (t(201 epochs) - t(1 epoch)) / 200, the four runs
#      interleaved REPS times, medians;
#   3. the 25M-shaped synthetic set (bench/scale.sh's generator) at k = 128:
#      bench_epoch rows (--no-25m skips it);
#   4. quality on ua.test after 60 epochs at lr 1e-3 (p@10, NDCG@10), f32
#      against bf16 training, the same for the orthonormal defaults, and what `signmf convert --precision bf16`
#      costs the notebook and the orthonormal default models; file sizes;
#   5. bench_score --bf16: serving from a converted model beside f32 and sgemm.
# Needs SIGNMF_DATA_DIR (the directory holding ml-100k/).
#
#   bash bench/bf16.sh [--build DIR] [--threads 2] [--reps 5] [--no-25m]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=build THREADS=2 REPS=5 BIG=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --no-25m) BIG=0; shift ;;
    *) echo "bf16.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${SIGNMF_DATA_DIR:?set SIGNMF_DATA_DIR to the directory holding ml-100k/}"
D=$SIGNMF_DATA_DIR/ml-100k
S=$PWD/$BUILD/src/cli/signmf B=$PWD/$BUILD/bench/bench_epoch
tmp=$(mktemp -d /tmp/signmf-bf16.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, kernels $("$S" --version | sed 's/.*kernel //; s/)//')"

echo "## 1. bench_epoch --ratings ua.base --k 512 --threads $THREADS --prec f32 / bf16"
for p in f32 bf16; do
  "$B" --quick --ratings "$D/ua.base" --k 512 --threads "$THREADS" --prec $p | tail -1
done | tee "$tmp/epoch"
awk '{e[$2] = $5} END {printf "bf16 / f32 epoch: %.3f\n", e["bf16"] / e["f32"]}' "$tmp/epoch"

echo "## 2. CLI: (t(201) - t(1)) / 200, signmf train ua.base --dim 512 --threads $THREADS, $REPS interleaved rounds"
now() { date +%s.%N; }
for r in $(seq "$REPS"); do
  for p in f32 bf16; do
    for e in 1 201; do
      t0=$(now)
      "$S" train "$D/ua.base" --dim 512 --epochs $e --threads "$THREADS" --precision $p --quiet
      t1=$(now)
      echo "$p $e $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    done
  done
done >"$tmp/cli"
awk '{t[$1 " " $2] = t[$1 " " $2] " " $3}
  function med(s,   a, n, i, j, x) { n = split(s, a, " ");
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END { f = (med(t["f32 201"]) - med(t["f32 1"])) / 200; b = (med(t["bf16 201"]) - med(t["bf16 1"])) / 200;
        printf "f32 %.3f ms/epoch, bf16 %.3f ms/epoch (medians of %d), bf16 / f32 %.3f\n", f * 1e3, b * 1e3, '"$REPS"', b / f }' "$tmp/cli"

if [ "$BIG" = 1 ]; then
  echo "## 3. 25M-shaped set (signmf synth --users 162541 --items 59047 --ratings 25000095 --seed 1), k = 128"
  "$S" synth --users 162541 --items 59047 --ratings 25000095 --seed 1 >"$tmp/r25m.tsv"
  for p in f32 bf16; do
    "$B" --quick --ratings "$tmp/r25m.tsv" --k 128 --threads "$THREADS" --prec $p | tail -1
  done | tee "$tmp/big"
  awk '{e[$2] = $5} END {printf "bf16 / f32 epoch: %.3f\n", e["bf16"] / e["f32"]}' "$tmp/big"
  rm -f "$tmp/r25m.tsv"
fi

echo "## 4. quality on ua.test (eval -k 10 --relevant 4)"
ev() { "$S" eval "$1" "$D/ua.test" -k 10 --relevant 4 --json |
  /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["model"]; print("p@10 %.4f ndcg@10 %.4f" % (d["precision"], d["ndcg"]))'; }
for p in f32 bf16; do
  "$S" train "$D/ua.base" --dim 512 --epochs 60 --lr 1e-3 --seed 1 --threads "$THREADS" --precision $p --quiet --out "$tmp/nb-$p.smf"
  echo "notebook, 60 epochs, trained in $p: $(ev "$tmp/nb-$p.smf")"
done
for p in f32 bf16; do
  "$S" train "$D/ua.base" --method orthonormal --threads "$THREADS" --precision $p --quiet --out "$tmp/or-$p.smf"
  echo "orthonormal default, trained in $p: $(ev "$tmp/or-$p.smf")"
done
for m in nb-f32 or-f32; do
  "$S" convert "$tmp/$m.smf" --precision bf16 "$tmp/$m-bf16.smf"
  echo "$m converted to bf16: $(ev "$tmp/$m-bf16.smf"); file $(stat -c %s "$tmp/$m-bf16.smf") / $(stat -c %s "$tmp/$m.smf") bytes = $(awk -v a="$(stat -c %s "$tmp/$m-bf16.smf")" -v b="$(stat -c %s "$tmp/$m.smf")" 'BEGIN { printf "%.3f", a / b }')"
done

echo "## 5. bench_score --bf16 --threads $THREADS"
"$PWD/$BUILD/bench/bench_score" --bf16 --threads "$THREADS" --reps 21 | grep -v '^one-user'
