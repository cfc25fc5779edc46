#!/usr/bin/env bash
# signmf-mpi on the MovieLens-25M-shaped synthetic set of bench/scale.sh
# (162,541 users, 59,047 items, 25,000,095 ratings) at k = 128, on 1..4
# processes of this machine: per process, the rows it owns, load time,
# compute and communication seconds per epoch and bytes sent per epoch
# (signmf-mpi --mpi-stats), peak RSS (VmHWM); and the one-process
# `signmf train` epoch beside it. The figures feed docs/scale-out.md.
#
#   bash bench/mpi.sh [--build DIR] [--dim 128] [--epochs 4] [--procs "1 2 3 4"]
#                     [--threads T] [--method notebook|orthonormal] [--keep FILE]
# --threads: per process (default: 2 for one process, 1 for more, on the
# 2-core machine this was written on: more processes than cores share them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=build DIM=128 EPOCHS=4 PROCS="1 2 3 4" THREADS="" METHOD=notebook KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --dim) DIM=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --procs) PROCS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --method) METHOD=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "mpi.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
S=$PWD/$BUILD/src/cli/signmf
M=$PWD/$BUILD/src/mpi/signmf-mpi
[ -x "$M" ] || { echo "mpi.sh: $M not built (meson setup -Dmpi=enabled)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d /tmp/signmf-mpi-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
data=${KEEP:-$tmp/r25m.tsv}
if [ ! -s "$data" ]; then
  "$S" synth --users 162541 --items 59047 --ratings 25000095 --seed 1 >"$data"
fi
echo "data: $data ($(stat -c %s "$data") bytes), dim $DIM, $EPOCHS epochs, method $METHOD"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $PROCS; do
  th=${THREADS:-$([ "$n" -eq 1 ] && echo 2 || echo 1)}
  echo "=== $n process(es), $th thread(s) each"
  t0=$(date +%s.%N)
  mpirun --oversubscribe --bind-to none -n "$n" "$M" train "$data" --method "$METHOD" --dim "$DIM" \
    --epochs "$EPOCHS" --threads "$th" --quiet --mpi-stats 2>"$tmp/err" >/dev/null
  t1=$(date +%s.%N)
  grep '^mpi-stats' "$tmp/err"
  printf 'wall: %.2f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
done
echo "=== signmf train (one process, 2 threads), for the same epochs"
/usr/bin/time -f 'signmf train: %e s wall, %M kB peak RSS' "$S" train "$data" --method "$METHOD" \
  --dim "$DIM" --epochs "$EPOCHS" --threads 2 2>&1 >/dev/null | grep -E '^epoch|signmf train:' | tail -3
