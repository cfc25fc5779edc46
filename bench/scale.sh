#!/usr/bin/env bash
# The 25M-rating scale check of issue 3: a MovieLens-25M-shaped synthetic
# set (162,541 users, 59,047 items, 25,000,095 ratings), its generation and
# load times, the epoch time at k = 128 as (t(E2 epochs) - t(E1 epochs)) /
# (E2 - E1) from the CLI's own progress lines, and peak memory under
# /usr/bin/time -v, next to the size of P, Q, their gradients and the signs;
# then the kernel epoch per sign x k against ua.base at k = 512 (bench_epoch,
# ua.base from SIGNMF_DATA_DIR, else a synthetic set of its shape).
#
#   bash bench/scale.sh [--build DIR] [--dim 128] [--threads 2] [--keep FILE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=build DIM=128 THREADS=2 KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --dim) DIM=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
S=$PWD/$BUILD/src/cli/signmf
tmp=$(mktemp -d /tmp/signmf-scale.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
data=${KEEP:-$tmp/r25m.tsv}
if [ ! -s "$data" ]; then
  t0=$(date +%s.%N)
  "$S" synth --users 162541 --items 59047 --ratings 25000095 --seed 1 >"$data"
  t1=$(date +%s.%N)
  printf 'synth: %.2f s (%s bytes)\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(stat -c %s "$data")"
fi
run() { # EPOCHS -> prints "load_s epoch_times..." and keeps time -v output
  /usr/bin/time -v "$S" train "$data" --dim "$DIM" --epochs "$1" --threads "$THREADS" \
    2>"$tmp/err.$1" >/dev/null
}
# loading dominates `loss --dim 1` (signs and a k = 1 pass are tiny)
t0=$(date +%s.%N)
"$S" loss "$data" --dim 1 --threads "$THREADS" >/dev/null
t1=$(date +%s.%N)
printf 'load (signmf loss --dim 1): %.2f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
run 6
# progress lines: "epoch E/N loss L T s"; line E is printed after the pass
# that computed epoch E's loss, so epoch times are differences of T.
awk '/^epoch [0-9]+\/6/ {split($2, a, "/"); t[a[1]] = $NF + 0} END {
  printf "first report (load, signs, init, first pass): %.3f s\n", t[0];
  printf "epoch time, median of passes 2..6: ";
  n = 0; for (e = 1; e <= 5; e++) d[n++] = t[e] - t[e - 1];
  for (i = 1; i < n; i++) for (j = i; j > 0 && d[j - 1] > d[j]; j--) { x = d[j]; d[j] = d[j - 1]; d[j - 1] = x }
  printf "%.3f s\n", d[int(n / 2)] }' "$tmp/err.6"
grep -E "Maximum resident|Elapsed" "$tmp/err.6" | sed 's/^\s*/time -v (6 epochs): /'
# What the data structures need: P, Q and gradients (f32), plus the signs.
/usr/bin/python3 - "$DIM" <<'PY'
import sys
k = int(sys.argv[1]); m, n, nnz = 162541, 59047, 25000095
pq = (m + n) * k * 4 * 2
signs = nnz * 4 * 2 + (m + n) * 16
print("needed: P, Q and gradients %.0f MB + signs (at most) %.0f MB = %.0f MB; 1.25x = %.0f MB"
      % (pq / 1e6, signs / 1e6, (pq + signs) / 1e6, 1.25 * (pq + signs) / 1e6))
PY
# Time per sign x k against ua.base at k = 512, side by side: the kernel
# epoch of bench_epoch (the library's own kernels, f32, same threads) on
# both sets, one after the other in this run.
B=$PWD/$BUILD/bench/bench_epoch
if [ -x "$B" ]; then
  # ua.base at k = 512 (the issue's reference) and at this run's k: the
  # second isolates what leaving the caches costs from what a smaller k
  # costs per sign
  small=$("$B" --quick --prec f32 --threads "$THREADS" --k 512 | awk '$1 !~ /^#|^isa/ {print $5, $7}')
  same=$("$B" --quick --prec f32 --threads "$THREADS" --k "$DIM" | awk '$1 !~ /^#|^isa/ {print $5, $7}')
  big=$("$B" --quick --prec f32 --threads "$THREADS" --k "$DIM" --ratings "$data" | awk '$1 !~ /^#|^isa/ {print $5, $7}')
  awk -v s="$small" -v m="$same" -v b="$big" -v k="$DIM" 'BEGIN {
    split(s, a, " "); split(m, d, " "); split(b, c, " ");
    printf "kernel epoch: ua.base k = 512 %.3f ms (%.2f G sign x k / s), k = %d %.3f ms (%.2f); this set k = %d %.1f ms (%.2f G sign x k / s, %.0f signs)\n",
      a[1], a[2], k, d[1], d[2], k, c[1], c[2], c[2] * 1e9 * c[1] / 1e3 / (2 * k);
    printf "time per sign x k: %.2fx the ua.base k = 512 figure (target: at most 2x); %.2fx ua.base at k = %d\n",
      a[2] / c[2], d[2] / c[2], k }'
fi
