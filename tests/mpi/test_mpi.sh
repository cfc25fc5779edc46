#!/usr/bin/env bash
# signmf-mpi against signmf: the same model bytes for any number of
# processes and threads, the same messages for bad input, a killed process
# ending the job, --resume across process counts, and two "hosts" (network
# namespaces joined by a veth pair) over TCP.
# Usage: test_mpi.sh MODE PATH/TO/signmf PATH/TO/signmf-mpi
#   MODE: identity | movielens | eval | badinput | badformat | kill | oom | signal | resume | twohosts
# Exit 77 (skipped) when mpirun is missing or, for twohosts, when network
# namespaces cannot be made here.
set -u

mode=${1:?usage: test_mpi.sh MODE SIGNMF SIGNMF_MPI}
. "$(dirname "$0")/../cli/lib.sh"
cli_setup "mpi-$mode" "${2:-}"
mexe=${3:?usage: test_mpi.sh MODE SIGNMF SIGNMF_MPI}
case $mexe in /*) ;; *) mexe=$OLDPWD/$mexe ;; esac

if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip - mpirun not found (Debian: openmpi-bin)"
    exit 77
fi
# CI runs as root, which Open MPI refuses unless told
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# a loaded 2-core machine: never bind, never wait for a free slot
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_rmaps_base_oversubscribe=1

mrun() { # N ARGS...: signmf-mpi on N processes, stdout ./mout, stderr ./merr, status $mrc
    local n=$1
    shift
    timeout 120 mpirun --oversubscribe -n "$n" "$mexe" "$@" >mout 2>merr
    mrc=$?
}
same_export() { # A B: signmf export of the two models, every .npy byte for byte
    rm -rf xa xb
    "$exe" export "$1" xa >/dev/null 2>>err && "$exe" export "$2" xb >/dev/null 2>>err || return 1
    local f
    for f in xa/*.npy; do
        cmp -s "$f" "xb/${f#xa/}" || return 1
    done
}
same_both() { # REF A B
    same_export "$1" "$2" && same_export "$1" "$3"
}
same_ok() { # A B: the last mrun succeeded and A, B export the same bytes
    [ "$mrc" -eq 0 ] && same_export "$1" "$2"
}

"$exe" synth --users 300 --items 400 --ratings 12000 --seed 3 >s.tsv 2>err || {
    bad "synth"
    exit 1
}

# mknpy TSV OUT DESCR C|F [ROW COL VALUE]: the ratings as a dense .npy (a
# spare empty row), optionally with one cell overwritten; python3's
# standard library only
mknpy() {
    python3 - "$@" <<'PY'
import struct, sys
src, out, descr, order = sys.argv[1:5]
cell = {}
for line in open(src):
    u, i, r = line.split('\t')[:3]
    cell[(int(u) - 1, int(i) - 1)] = float(r)
if len(sys.argv) > 7:
    cell[(int(sys.argv[5]), int(sys.argv[6]))] = float(sys.argv[7])
R = max(u for u, _ in cell) + 2
C = max(i for _, i in cell) + 1
code = {'<f4': '<f', '<f8': '<d', '|u1': 'B', '<i2': '<h'}[descr]
conv = float if descr[1] == 'f' else int
hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (
    descr, 'True' if order == 'F' else 'False', R, C)
hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\n'
keys = ([(r, c) for r in range(R) for c in range(C)] if order == 'C'
        else [(r, c) for c in range(C) for r in range(R)])
with open(out, 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
    f.write(b''.join(struct.pack(code, conv(cell.get(k, 0))) for k in keys))
PY
}

# mknpz OUT stored|deflated MEMBER=FILE...: a zip of .npy members, as
# numpy.savez / savez_compressed write them; python3's standard library only
mknpz() {
    python3 - "$@" <<'PY'
import sys, zipfile
out, how = sys.argv[1:3]
method = zipfile.ZIP_STORED if how == 'stored' else zipfile.ZIP_DEFLATED
with zipfile.ZipFile(out, 'w', method) as z:
    for m in sys.argv[3:]:
        name, src = m.split('=', 1)
        z.write(src, name)
PY
}

identity() {
    local name=$1 data=$2
    shift 2
    "$exe" train "$data" "$@" --threads 2 --out one.smf --quiet 2>err ||
        { bad "$name: signmf train"; return; }
    local nt n th all=1
    for nt in $runs; do
        n=${nt%:*} th=${nt#*:}
        mrun "$n" train "$data" "$@" --threads "$th" --out m.smf --quiet
        if [ "$mrc" -ne 0 ] || ! same_export one.smf m.smf; then
            all=0
            cp merr err
            bad "$name: -n $n --threads $th differs from signmf train"
        fi
        # the model records its thread count; with the same one, the
        # whole file is the same
        if [ "$mrc" -eq 0 ] && [ "$th" -eq 2 ] && ! cmp -s one.smf m.smf; then
            all=0
            bad "$name: -n $n --threads 2: the model file differs from signmf train's"
        fi
    done
    [ "$all" -eq 1 ] &&
        ok "$name: (processes:threads) $runs export the bytes of signmf train (whole file at 2 threads)"
}
# every process count and both thread counts, in 4 runs (all 8 for f32)
runs="1:2 2:1 3:2 4:1"

# FILE: signmf train's message and status, once, from any process count
same_error() {
    local name=$1 file=$2 n
    "$exe" train "$file" --dim 4 --epochs 1 --quiet 2>one.err
    local rc1=$? want
    want=$(head -1 one.err)
    for n in 1 3 4; do
        mrun "$n" train "$file" --dim 4 --epochs 1 --quiet
        if [ "$rc1" -ne 1 ] || [ "$mrc" -ne "$rc1" ] ||
            [ "$(grep -cF -- "$want" merr)" -ne 1 ] || [ "$(grep -c '^signmf' merr)" -ne 1 ]; then
            cp merr err
            bad "$name: -n $n: expected '$want' once and status $rc1, found status $mrc"
            return
        fi
    done
    ok "$name: '$want', once, status 1, on 1, 3 and 4 processes"
}
# the evaluation lines and table, the log's metric columns (%.17g) and the
# kept model of signmf train with the same options, for each run
evaluation() {
    local name=$1 data=$2
    shift 2
    "$exe" train "$data" "$@" --threads 2 --out one.smf --log one.csv >one.out 2>one.err ||
        { cp one.err err; bad "$name: signmf train"; return; }
    grep -E '^(eval|early)' one.err >one.ev
    [ -s one.ev ] && [ -s one.out ] || { bad "$name: signmf train printed no evaluation"; return; }
    local nt n th all=1
    for nt in $runs; do
        n=${nt%:*} th=${nt#*:}
        rm -f m.smf m.csv
        timeout 120 mpirun --oversubscribe -n "$n" "$mexe" train "$data" "$@" --threads "$th" \
            --out m.smf --log m.csv >mout 2>merr
        mrc=$?
        grep -E '^(eval|early)' merr >m.ev
        if [ "$mrc" -ne 0 ] || ! cmp -s one.out mout || ! cmp -s one.ev m.ev ||
            ! cmp -s <(cut -d, -f1,2,4- one.csv) <(cut -d, -f1,2,4- m.csv) ||
            ! same_export one.smf m.smf; then
            all=0
            cp merr err
            bad "$name: -n $n --threads $th: evaluation or model differs from signmf train"
        elif [ "$th" -eq 2 ] && ! cmp -s one.smf m.smf; then
            all=0
            bad "$name: -n $n --threads 2: the model file differs from signmf train's"
        fi
    done
    [ "$all" -eq 1 ] &&
        ok "$name: (processes:threads) $runs print signmf train's evaluation and keep its model"
}

case $mode in
identity)
    runs="1:1 1:2 2:1 2:2 3:1 3:2 4:1 4:2" identity "f32" s.tsv --dim 24 --epochs 5
    identity "f64" s.tsv --dim 24 --epochs 4 --precision f64
    identity "orthonormal f32" s.tsv --method orthonormal --dim 8 --epochs 10
    identity "orthonormal f64" s.tsv --method orthonormal --dim 8 --epochs 6 --precision f64
    identity "bf16" s.tsv --dim 24 --epochs 4 --precision bf16
    identity "orthonormal bf16" s.tsv --method orthonormal --dim 8 --epochs 6 --precision bf16
    identity "--rescale, threshold signs" s.tsv --dim 16 --epochs 6 --rescale --sign-rule threshold:3
    # ids that need a compact map, through a CSV header
    awk -F'\t' 'BEGIN{print "userId,movieId,rating,timestamp"}
        {printf "%d,%d,%s,%s\n", $1 * 1000 + 7, $2 * 3, $3, $4}' s.tsv >c.csv
    identity "CSV, compact ids" c.csv --dim 16 --epochs 3
    # Matrix Market: a size line larger than the ids, comments and a blank
    # line among the entries, integer values
    awk -F'\t' 'BEGIN{print "%%MatrixMarket matrix coordinate real general"; print "% from s.tsv"
        print "310 420 12000"} {print $1, $2, $3; if (NR == 5000) print "% a comment"
        if (NR == 7000) print ""}' s.tsv >s.mtx
    runs="1:2 2:1 3:2 4:1" identity "Matrix Market" s.mtx --dim 16 --epochs 3
    # dense .npy: every process reads its rows (Fortran order: a strided
    # read per column)
    mknpy s.tsv c.npy '<f4' C && mknpy s.tsv f.npy '<f8' F && mknpy s.tsv u.npy '|u1' C ||
        bad "making the .npy files"
    runs="1:2 2:1 3:2 4:1" identity ".npy f4, C order" c.npy --dim 16 --epochs 3
    runs="1:1 2:2 3:1 4:2" identity ".npy f8, Fortran order" f.npy --dim 16 --epochs 3
    runs="3:2" identity ".npy u1" u.npy --dim 16 --epochs 3
    # .npz: every process streams the member, stored or deflated, keeping
    # its rows (the members span several of the reader's 256 KiB chunks)
    mknpz s.npz stored data.npy=c.npy && mknpz d.npz deflated data.npy=f.npy &&
        mknpz k.npz deflated other.npy=u.npy ratings.npy=c.npy || bad "making the .npz files"
    runs="1:2 2:1 3:2 4:1" identity ".npz stored, f4 C order" s.npz --dim 16 --epochs 3
    runs="1:1 2:2 3:1 4:2" identity ".npz deflated, f8 Fortran order" d.npz --dim 16 --epochs 3
    runs="2:2 3:1" identity ".npz deflated, --npz-key" k.npz --npz-key ratings --dim 16 --epochs 3
    sed '1s/real/integer/' s.mtx >int.mtx
    runs="2:2 3:1" identity "Matrix Market integer, compact ids" int.mtx --dim 16 --epochs 3 \
        --ids compact
    # the blocked kernels (sources cut into row blocks), forced small;
    # local processes inherit mpirun's environment
    export SIGNMF_BLOCK_ROWS=64
    identity "blocked sources" s.tsv --dim 16 --epochs 3
    identity "blocked sources, orthonormal" s.tsv --method orthonormal --dim 8 --epochs 4
    unset SIGNMF_BLOCK_ROWS
    ;;
movielens)
    if [ -z "${SIGNMF_DATA_DIR:-}" ] || [ ! -f "$SIGNMF_DATA_DIR/ml-100k/ua.base" ]; then
        echo "skip - SIGNMF_DATA_DIR/ml-100k/ua.base not found"
        exit 77
    fi
    identity "ua.base orthonormal (defaults)" "$SIGNMF_DATA_DIR/ml-100k/ua.base" --method orthonormal
    runs="1:2 3:1" evaluation "ua.base --test ua.test, orthonormal" \
        "$SIGNMF_DATA_DIR/ml-100k/ua.base" --method orthonormal --epochs 30 \
        --test "$SIGNMF_DATA_DIR/ml-100k/ua.test" --eval-every 10
    ;;
eval)
    evaluation "--holdout, every 2 epochs" s.tsv --dim 16 --epochs 6 --holdout 0.2 --eval-every 2
    evaluation "--early-stop on auc (stops at epoch 2, keeps epoch 0)" s.tsv --dim 16 --epochs 8 \
        --holdout 0.25 --early-stop 2 --metric auc
    grep -q '^early stop at epoch 2' one.err ||
        bad "  the early stop case no longer stops early (pick another case)"
    "$exe" split s.tsv --holdout 0.2 --seed 5 --train tr.tsv --test te.tsv 2>err
    # a pair of an unknown user and one of an unknown item, counted by one process
    printf '9999\t1\t5\n1\t99999\t5\n' >>te.tsv
    evaluation "--test FILE (unknown user and item pairs)" tr.tsv --dim 16 --epochs 4 \
        --test te.tsv --eval-every 1 --eval-k 5
    evaluation "orthonormal f64, epoch 0 evaluated" s.tsv --method orthonormal --dim 8 \
        --epochs 6 --precision f64 --holdout 0.3 --eval-every 1
    evaluation "orthonormal, --early-stop 1 on map" s.tsv --method orthonormal --dim 8 \
        --epochs 10 --holdout 0.3 --early-stop 1 --metric map
    evaluation "bf16, --relevant 3 --rescale" s.tsv --dim 16 --epochs 4 --precision bf16 \
        --holdout 0.2 --eval-every 1 --relevant 3 --rescale
    # --resume with --holdout splits by the model's seed, as signmf train does
    "$exe" train s.tsv --dim 16 --epochs 6 --seed 7 --holdout 0.2 --out ref.smf --quiet 2>err
    mrun 3 train s.tsv --dim 16 --epochs 3 --seed 7 --holdout 0.2 --out half.smf --quiet
    mrun 2 train s.tsv --resume half.smf --epochs 6 --holdout 0.2 --out r.smf --quiet
    check "--holdout: 3 epochs on 3 processes, resumed to 6 on 2: signmf train's bytes" \
        same_ok ref.smf r.smf
    "$exe" train s.tsv --holdout 1.5 2>one.err
    rc1=$?
    mrun 3 train s.tsv --holdout 1.5
    check "B44: --holdout 1.5: signmf train's message, once, and status ($rc1)" \
        bash -c "[ $rc1 -ne 0 ] && [ $mrc -eq $rc1 ] && grep -qF \"\$(head -1 one.err)\" merr &&
            [ \$(grep -c '^signmf' merr) -eq 1 ]"
    mrun 3 train s.tsv --eval-every 2
    check "B44: --eval-every without --test or --holdout: status 2" \
        bash -c "[ $mrc -eq 2 ] && grep -q 'need --test or --holdout' merr"
    "$exe" train s.tsv --test missing.tsv 2>one.err
    rm -f m.smf
    mrun 3 train s.tsv --test missing.tsv --out m.smf
    check "B44: --test of a missing file: signmf train's message, once, status 1, no model" \
        bash -c "[ $mrc -eq 1 ] && grep -qF \"\$(head -1 one.err)\" merr &&
            [ \$(grep -c '^signmf' merr) -eq 1 ] && [ ! -e m.smf ]"
    ;;
badformat)
    # Matrix Market and .npy files: signmf train's message, once
    awk -F'\t' 'BEGIN{print "%%MatrixMarket matrix coordinate real general"
        print "300 400 12000"} {print $1, $2, $3}' s.tsv >s.mtx
    sed '2s/12000/11990/' s.mtx >over.mtx
    same_error "Matrix Market: more entries than the size line says" over.mtx
    sed '2s/12000/12010/' s.mtx >under.mtx
    same_error "Matrix Market: fewer entries than the size line says" under.mtx
    sed '9000s/.*/1 401 3/' s.mtx >range.mtx
    same_error "Matrix Market: a column index beyond the size line" range.mtx
    sed '9000s/.*/1 1 0/' s.mtx >zero.mtx
    same_error "Matrix Market: an explicit 0" zero.mtx
    (cat s.mtx; sed -n 100p s.mtx) | sed '2s/12000/12001/' >dupm.mtx
    same_error "Matrix Market: a duplicate in another process's range" dupm.mtx
    sed '1s/general/symmetric/' s.mtx >sym.mtx
    same_error "Matrix Market: a symmetric banner" sym.mtx
    mknpy s.tsv nan.npy '<f4' C 290 300 nan && same_error ".npy: a NaN in a late row" nan.npy
    mknpy s.tsv neg.npy '<f8' F 250 3 -2 && head -c 100000 neg.npy >trunc.npy &&
        same_error ".npy: truncated data" trunc.npy
    (cat neg.npy; printf 'x') >trail.npy && same_error ".npy: trailing data" trail.npy
    "$exe" train neg.npy --dim 4 --epochs 1 --rating-range 1:5 --quiet 2>one.err
    mrun 3 train neg.npy --dim 4 --epochs 1 --rating-range 1:5 --quiet
    check ".npy: a rating outside --rating-range, Fortran order: signmf train's message, once" \
        bash -c "[ $mrc -eq 1 ] && grep -qF \"\$(head -1 one.err)\" merr &&
            [ \$(grep -c '^signmf' merr) -eq 1 ]"
    printf '\x93NUMPY\x01\x00' >m.npy
    same_error ".npy: a cut header" m.npy
    # .npz: the archive's, the stream's and the member's errors
    printf '\x93NUMPY\x01\x00' >cut.npy
    mknpy s.tsv c.npy '<f4' C && mknpz s.npz stored data.npy=c.npy &&
        mknpz d.npz deflated data.npy=c.npy && mknpz two.npz deflated a.npy=c.npy b.npy=c.npy &&
        mknpz cut.npz deflated data.npy=cut.npy && python3 - <<'PY' || bad "making the bad .npz files"
for src, dst, at in (('s.npz', 'crc.npz', 300000), ('d.npz', 'deflate.npz', 2000)):
    b = bytearray(open(src, 'rb').read())
    b[at] ^= 0x5A
    open(dst, 'wb').write(b)
b = open('d.npz', 'rb').read()
open('half.npz', 'wb').write(b[:len(b) // 2])
PY
    same_error ".npz: a CRC-32 mismatch late in a stored member" crc.npz
    same_error ".npz: corrupt deflate data" deflate.npz
    same_error ".npz: cut in half (no central directory)" half.npz
    same_error ".npz: no 'data' member among two" two.npz
    same_error ".npz: a member with a cut .npy header" cut.npz
    ;;
badinput)
    sed '9000s/.*/12\tabc\t3/' s.tsv >bad1.tsv
    same_error "a bad id late in the file" bad1.tsv
    sed '2s/.*/1\t2\tx/' s.tsv >bad2.tsv
    same_error "a bad rating on line 2" bad2.tsv
    sed '6000s/.*//' s.tsv >blank.tsv
    same_error "a blank line before more ratings" blank.tsv
    (cat s.tsv; sed -n 100p s.tsv) >dup.tsv
    same_error "a duplicate in another process's range" dup.tsv
    : >empty.tsv
    same_error "an empty file" empty.tsv
    same_error "a missing file" missing.tsv
    awk -F'\t' 'BEGIN{print "userId,movieId,rating"} {printf "%d,%d,%s\n", $1, $2, $3}' s.tsv |
        sed '9000s/$/,5/' >bad.csv
    same_error "CSV: a 4th field after a 3-field header" bad.csv
    (cat s.tsv; printf '\n\n') >tail.tsv
    "$exe" train tail.tsv --dim 8 --epochs 2 --out one.smf --quiet 2>err
    mrun 3 train tail.tsv --dim 8 --epochs 2 --out m.smf --quiet
    check "blank lines at the end are accepted, as by signmf train" \
        same_ok one.smf m.smf
    printf 'PK\x03\x04' >m.npz
    same_error "B43: a 4-byte .npz" m.npz
    timeout 60 mpirun --oversubscribe -n 1 "$mexe" train s.tsv --dim 4 : -n 1 "$mexe" train s.tsv \
        --dim 5 >mout 2>merr
    mrc=$?
    check "B45: processes started with different arguments: status 2" \
        bash -c "[ $mrc -eq 2 ] && grep -q 'different arguments' merr"
    mrun 2 train s.tsv --dim 0
    check "--dim 0: status 1, one message" \
        bash -c "[ $mrc -eq 1 ] && [ \$(grep -c '^signmf' merr) -eq 1 ]"
    ;;
kill)
    "$exe" synth --users 20000 --items 4000 --ratings 400000 --seed 5 >k.tsv 2>err
    mkdir pids
    SIGNMF_MPI_PID_DIR=$PWD/pids timeout 300 mpirun --oversubscribe -n 3 "$mexe" train k.tsv \
        --dim 64 --epochs 100000 --threads 1 --checkpoint-every 5 --checkpoint ck.smf \
        --out never.smf --quiet >mout 2>merr &
    job=$!
    for i in $(seq 1 1200); do
        [ -s ck.smf ] && [ -s pids/rank-1.pid ] && break
        sleep 0.05
    done
    if [ ! -s ck.smf ] || [ ! -s pids/rank-1.pid ]; then
        kill -9 $job 2>/dev/null
        bad "no checkpoint or pid file within 60 s"
    else
        t0=$(date +%s)
        kill -9 "$(cat pids/rank-1.pid)"
        wait $job
        mrc=$?
        t1=$(date +%s)
        check "killing process 1 ends the job with a non-zero status ($mrc)" \
            test "$mrc" -ne 0 -a "$mrc" -ne 124
        check "  within 20 s ($((t1 - t0)) s)" test $((t1 - t0)) -le 20
        check "  and the job says so" grep -qi "signal\|killed\|terminated\|exited" merr
        check "  and no model claims to be final" test ! -e never.smf
        check "the last checkpoint exports" "$exe" export ck.smf ckx
        check "  and recommends" bash -c "\"$exe\" recommend ck.smf --user 1 -k 5 >/dev/null"
        # the checkpoint is epoch 5k; continued on other process counts to
        # epoch 40 it gives the uninterrupted bytes
        "$exe" train k.tsv --dim 64 --epochs 40 --threads 2 --out ref.smf --quiet 2>err
        mrun 2 train k.tsv --resume ck.smf --epochs 40 --out r2.smf --quiet
        check "  --resume on 2 processes gives the uninterrupted run's bytes" \
            same_ok ref.smf r2.smf
    fi
    ;;
oom)
    # process 1 under an address-space limit (ulimit -v, kB) that lets MPI
    # start but not the run: the job must end within seconds, non-zero,
    # saying which process ran out of memory, and write no model. Few malloc
    # arenas, one thread: the limit bites at the same place each run.
    oom_case() { # NAME "LIMIT_KB..." ARGS...: the first limit that stops the run is judged
        local name=$1 lims=$2 lim
        shift 2
        local t0 t1
        for lim in $lims; do
            rm -f o.smf
            t0=$(date +%s)
            MALLOC_ARENA_MAX=1 timeout 60 mpirun --oversubscribe -n 1 "$mexe" "$@" --out o.smf : \
                -n 1 sh -c "ulimit -v $lim && exec \"\$0\" \"\$@\"" "$mexe" "$@" --out o.smf \
                >mout 2>merr
            mrc=$?
            t1=$(date +%s)
            [ "$mrc" -ne 0 ] && break
        done
        cp merr err
        check "$name: ulimit -v $lim: status $mrc (neither 0 nor the timeout's 124) in $((t1 - t0)) s (<= 30)" \
            test "$mrc" -ne 0 -a "$mrc" -ne 124 -a $((t1 - t0)) -le 30
        check "  the message names process 1 and the memory" \
            grep -Eq 'process 1 of 2.*(memory|allocate)|allocate.*process 1 of 2' merr
        check "  no model is written" test ! -e o.smf
    }
    oom_case "embeddings too large for process 1 (the trainer's allocation)" "200000 300000" \
        train s.tsv --dim 100000 --epochs 2 --threads 1 --quiet
    check "  reported by the trainer, agreed by all" grep -q 'ran out of memory' merr
    "$exe" synth --users 50000 --items 5000 --ratings 1500000 --seed 2 >big.tsv 2>err
    oom_case "1.5M ratings too many for process 1 (the driver's buffers)" \
        "110000 120000 130000 100000" train big.tsv --dim 8 --epochs 1 --threads 1 --quiet
    check "  reported by the driver, MPI_Abort" grep -q 'ending the job' merr
    ;;
signal)
    # SIGUSR1 to mpirun, which forwards it to every process: they agree at
    # the next epoch's report, finish it, process 0 saves --out and
    # --checkpoint, status 1. The saved model is epoch N's exactly: resumed
    # by signmf train to N + 3 it gives the bytes of a run of N + 3.
    for spec in "notebook:--dim 16" "orthonormal:--method orthonormal --dim 8"; do
        name=${spec%%:*}
        read -r -a a <<<"${spec#*:}"
        rm -f sig.smf ck.smf
        mpirun --oversubscribe -n 3 "$mexe" train s.tsv "${a[@]}" --epochs 100000000 \
            --threads 1 --checkpoint-every 20 --checkpoint ck.smf --out sig.smf --quiet \
            >mout 2>merr &
        job=$!
        for i in $(seq 1 600); do
            [ -s ck.smf ] && break
            sleep 0.05
        done
        t0=$(date +%s)
        kill -USR1 $job
        for i in $(seq 1 600); do
            kill -0 $job 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 $job 2>/dev/null; then
            kill -9 $job
            bad "$name: SIGUSR1: the job still runs after 30 s"
            continue
        fi
        wait $job
        mrc=$?
        t1=$(date +%s)
        cp merr err
        n=$(sed -n 's/^signmf: interrupted after \([0-9]*\) epochs; model saved to sig.smf and ck.smf.*/\1/p' merr)
        check "$name: SIGUSR1 to mpirun: status 1 in $((t1 - t0)) s, 'interrupted after ${n:-?} epochs', saved to --out and --checkpoint, once" \
            bash -c "[ $mrc -eq 1 ] && [ -n '$n' ] && [ \$(grep -c 'interrupted after' merr) -eq 1 ] && [ -s sig.smf ] && [ -s ck.smf ]"
        [ -n "$n" ] || continue
        "$exe" train s.tsv "${a[@]}" --epochs $((n + 3)) --threads 1 --out ref.smf --quiet 2>err
        "$exe" train s.tsv --resume sig.smf --epochs $((n + 3)) --out r.smf --quiet 2>>err
        check "  the saved model is epoch $n's: resumed to $((n + 3)) it gives that run's bytes" \
            same_export ref.smf r.smf
        "$exe" train s.tsv --resume ck.smf --epochs $((n + 3)) --out r2.smf --quiet 2>>err
        check "  and so is the refreshed checkpoint" same_export ref.smf r2.smf
    done
    ;;
resume)
    for spec in "notebook:--dim 24" "orthonormal:--method orthonormal --dim 8" \
        "bf16:--dim 24 --precision bf16"; do
        name=${spec%%:*}
        read -r -a a <<<"${spec#*:}"
        "$exe" train s.tsv "${a[@]}" --epochs 8 --out ref.smf --quiet 2>err
        mrun 3 train s.tsv "${a[@]}" --epochs 4 --out half.smf --quiet
        mrun 2 train s.tsv --resume half.smf --epochs 8 --out r.smf --quiet
        check "$name: 4 epochs on 3 processes, 4 more on 2: the uninterrupted bytes" \
            same_ok ref.smf r.smf
        "$exe" train s.tsv "${a[@]}" --epochs 3 --out h1.smf --quiet 2>err
        mrun 4 train s.tsv --resume h1.smf --epochs 8 --out r4.smf --quiet
        check "$name: signmf's checkpoint continued on 4 processes" \
            same_ok ref.smf r4.smf
        mrun 2 train s.tsv "${a[@]}" --epochs 8 --checkpoint-every 3 --checkpoint ck.smf \
            --out full.smf --quiet
        "$exe" train s.tsv --resume ck.smf --epochs 8 --out r1.smf --quiet 2>err
        check "$name: signmf-mpi's checkpoint continued by signmf" \
            same_both ref.smf r1.smf full.smf
    done
    "$exe" synth --users 300 --items 400 --ratings 12000 --seed 4 >other.tsv
    mrun 2 train other.tsv --resume ref.smf --epochs 9 --out x.smf --quiet
    check "--resume on other ratings is refused (status 1)" \
        bash -c "[ $mrc -eq 1 ] && grep -q 'ratings differ' merr"
    "$exe" convert ref.smf --precision bf16 conv.smf 2>err
    mrun 2 train s.tsv --resume conv.smf --epochs 9 --out y.smf --quiet
    check "B42: --resume from a converted bf16 model is refused (status 1)" \
        bash -c "[ $mrc -eq 1 ] && grep -q 'bf16 factors' merr && [ ! -e y.smf ]"
    ;;
twohosts)
    # Two "hosts": network namespaces joined by a veth pair whose ends are
    # both called smveth0; mpirun starts in the first, and launches the
    # second's process through an rsh agent that enters its namespace.
    A=smmpi_a$$ B=smmpi_b$$
    if ! command -v ip >/dev/null 2>&1 || ! ip netns add "$A" 2>nserr; then
        echo "skip - cannot create network namespaces here: $(cat nserr 2>/dev/null || echo 'no ip (iproute2)')"
        exit 77
    fi
    trap 'ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null; chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
    if ! { ip netns add "$B" && ip link add smva$$ type veth peer name smvb$$ &&
        ip link set smva$$ netns "$A" && ip link set smvb$$ netns "$B" &&
        ip -n "$A" link set smva$$ name smveth0 && ip -n "$B" link set smvb$$ name smveth0 &&
        ip -n "$A" addr add 10.213.7.1/24 dev smveth0 && ip -n "$B" addr add 10.213.7.2/24 dev smveth0 &&
        ip -n "$A" link set smveth0 up && ip -n "$B" link set smveth0 up &&
        ip -n "$A" link set lo up && ip -n "$B" link set lo up; } 2>nserr; then
        echo "skip - cannot set up the veth pair here: $(cat nserr)"
        exit 77
    fi
    if ! ip netns exec "$A" true 2>nserr; then
        echo "skip - cannot enter a network namespace here: $(cat nserr)"
        exit 77
    fi
    cat >nsrsh <<AGENT
#!/bin/sh
# Open MPI's rsh agent: HOST COMMAND...; the host names the namespace
h=\$1
shift
case \$h in 10.213.7.1) ns=$A ;; 10.213.7.2) ns=$B ;; *) echo "nsrsh: unknown host \$h" >&2; exit 1 ;; esac
echo "\$h" >>"$PWD/launched"
exec ip netns exec "\$ns" sh -c "\$*"
AGENT
    chmod +x nsrsh
    tx() { ip -n "$1" -s link show smveth0 | awk '/TX:/ {getline; print $1}'; }
    tx0=$(tx "$A")
    "$exe" synth --users 2000 --items 1500 --ratings 60000 --seed 9 >t.tsv 2>err
    for spec in "f32:--dim 32 --epochs 4" "orthonormal:--method orthonormal --dim 8 --epochs 6"; do
        name=${spec%%:*}
        read -r -a a <<<"${spec#*:}"
        "$exe" train t.tsv "${a[@]}" --out one.smf --quiet 2>err
        timeout 120 ip netns exec "$A" mpirun -n 2 --host 10.213.7.1,10.213.7.2 \
            --mca plm_rsh_agent "$PWD/nsrsh" --mca btl tcp,self --mca btl_tcp_if_include smveth0 \
            --mca oob_tcp_if_include smveth0 "$mexe" train t.tsv "${a[@]}" --out m.smf --quiet \
            >mout 2>merr
        mrc=$?
        cp merr err
        check "$name: one process in each namespace, over TCP on the veth: signmf train's bytes" \
            same_ok one.smf m.smf
    done
    check "  the second process was launched into its namespace" grep -q 10.213.7.2 launched
    check "  and the rows went over the veth ($(($(tx "$A") - tx0)) bytes out of the first)" \
        test $(($(tx "$A") - tx0)) -gt 100000
    ;;
esac
echo "# mpi-$mode: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
