#!/usr/bin/env bash
# Issue 13's locality point: do rows stored in degree order (hot rows
# together) speed the epoch? Every figure is an A/B pair timed interleaved
# in one process (bench_epoch --degree-order, bench_gather --degree-order),
# so that a slow spell of the shared machine lands on both:
#   1. bench_gather --degree-order: power-law gathers, 256-byte rows;
#   2. ua.base (SIGNMF_DATA_DIR), k = 512: items, users, both, f32 and bf16;
#   3. the 25M-shaped set (signmf synth --users 162541 --items 59047
#      --ratings 25000095 --seed 1), k = 128: the same, plus items-resort
#      (segments sorted by slot, blocks in slot order: other bits);
#   4. the bf16 / f32 epoch ratio from one process (--vs-f32), both sets.
# Each pass of 2 and 3 runs REPS times; quote the medians of the ratio
# column across them. Nothing is written outside a temporary directory.
#
#   bash bench/locality.sh [--build DIR] [--threads 2] [--reps 3] [--no-25m]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=build THREADS=2 REPS=3 BIG=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --no-25m) BIG=0; shift ;;
    *) echo "locality.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${SIGNMF_DATA_DIR:?set SIGNMF_DATA_DIR to the directory holding ml-100k/}"
U=$SIGNMF_DATA_DIR/ml-100k/ua.base
S=$PWD/$BUILD/src/cli/signmf B=$PWD/$BUILD/bench/bench_epoch G=$PWD/$BUILD/bench/bench_gather
tmp=$(mktemp -d /tmp/signmf-locality.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## 1. $G --degree-order --threads $THREADS --row-bytes 256"
"$G" --degree-order --threads "$THREADS" --row-bytes 256

echo "## 2. ua.base, k = 512: $B --quick --ratings ua.base --k 512 --threads $THREADS --degree-order MODE --rounds 201 --prec P"
for r in $(seq "$REPS"); do
  for m in items users both; do
    for p in f32 bf16; do
      "$B" --quick --ratings "$U" --k 512 --threads "$THREADS" --degree-order $m --rounds 201 --prec $p | tail -1
    done
  done
done

if [ "$BIG" = 1 ]; then
  "$S" synth --users 162541 --items 59047 --ratings 25000095 --seed 1 >"$tmp/r25m.tsv"
  echo "## 3. 25M-shaped set, k = 128: $B --quick --ratings r25m.tsv --k 128 --threads $THREADS --degree-order MODE --rounds 9 --prec P"
  for r in $(seq "$REPS"); do
    for m in items users both items-resort; do
      for p in f32 bf16; do
        "$B" --quick --ratings "$tmp/r25m.tsv" --k 128 --threads "$THREADS" --degree-order $m --rounds 9 --prec $p | tail -1
      done
    done
  done
fi

echo "## 4. bf16 / f32 from one process: $B --quick --prec bf16 --vs-f32"
for r in $(seq "$REPS"); do
  "$B" --quick --ratings "$U" --k 512 --threads 1,"$THREADS" --prec bf16 --vs-f32 --rounds 301 | tail -2
  if [ "$BIG" = 1 ]; then
    "$B" --quick --ratings "$tmp/r25m.tsv" --k 128 --threads "$THREADS" --prec bf16 --vs-f32 --rounds 9 | tail -1
  fi
done
