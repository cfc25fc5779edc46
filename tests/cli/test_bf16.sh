#!/usr/bin/env bash
# --precision bf16 and `signmf convert --precision bf16` through the CLI:
# training bit-identical across threads, forced kernel sets and resume
# (both methods) and different from f32; converted models smaller, serving
# the same bits on every kernel set and thread count, exporting float32.
#   test_bf16.sh PATH/TO/signmf
. "$(dirname "$0")/lib.sh"
cli_setup bf16 "${1:?usage: test_bf16.sh PATH/TO/signmf}"

"$exe" synth --users 300 --items 200 --ratings 9000 --seed 3 >s.tsv || exit 1
N=(--dim 64 --epochs 6 --lr 0.01 -q)
O=(--method orthonormal --dim 8 --epochs 12 -q)
exports() { "$exe" export "$1" "$2" >/dev/null; }
same() { cmp -s "$1"/P.npy "$2"/P.npy && cmp -s "$1"/Q.npy "$2"/Q.npy; }
# a kernel set this CPU lacks falls back to cpuid: that would compare a run
# with itself, so it is reported as skipped
has_isa() { SIGNMF_ISA=$1 SIGNMF_ISA_DEBUG=1 "$exe" --version 2>&1 >/dev/null | grep -q "kernels $1 (SIGNMF_ISA)"; }

for m in notebook orthonormal; do
    if [ $m = notebook ]; then A=("${N[@]}"); else A=("${O[@]}"); fi
    "$exe" train s.tsv "${A[@]}" --precision f32 --out f.smf && exports f.smf ef
    cp f.smf f-$m.smf
    "$exe" train s.tsv "${A[@]}" --precision bf16 --threads 1 --out b1.smf && exports b1.smf e1
    "$exe" train s.tsv "${A[@]}" --precision bf16 --threads 2 --out b2.smf && exports b2.smf e2
    check "$m: bf16 gives the same bytes with 1 and 2 threads" same e1 e2
    check "$m: bf16 differs from f32" eval '! same e1 ef'
    for isa in portable avx2 avx512; do
        if ! has_isa $isa; then
            skipped "$m: SIGNMF_ISA=$isa (this CPU cannot run it)"
            continue
        fi
        SIGNMF_ISA=$isa "$exe" train s.tsv "${A[@]}" --precision bf16 --threads 2 --out i.smf &&
            exports i.smf ei_$isa
        check "$m: SIGNMF_ISA=$isa gives the same bytes in bf16" same e1 ei_$isa
    done
done

# resume: 3 + 3 epochs of the notebook method in bf16 equal 6
"$exe" train s.tsv --dim 64 --epochs 3 --lr 0.01 -q --precision bf16 --out h.smf &&
    "$exe" train s.tsv --resume h.smf --epochs 6 -q --out r.smf && exports r.smf er
"$exe" train s.tsv "${N[@]}" --precision bf16 --out full.smf && exports full.smf efull
check "bf16 resume continues bit for bit" same er efull
run train s.tsv --dim 64 --epochs 2 --precision bf16 --out x.smf
check "the summary names bf16" grep -q "bf16, dim 64" err

# convert: half the factor bytes, the same recommendations on every kernel
# set and thread count, exports widened to float32
run convert f-notebook.smf --precision bf16 h16.smf
check "convert exits 0" test "$rc" -eq 0
# at k = 256 the factors dominate the file (the rated rows, ids and sigma
# do not shrink)
"$exe" train s.tsv --dim 256 --epochs 1 -q --out w.smf && "$exe" convert w.smf --precision bf16 w16.smf
check "at k = 256 the bf16 file is at most 0.55x the f32 one" \
    awk -v a="$(stat -c %s w16.smf)" -v b="$(stat -c %s w.smf)" 'BEGIN { exit !(a <= 0.55 * b) }'
"$exe" recommend h16.smf --all -k 7 --threads 1 >r1.txt
"$exe" recommend h16.smf --all -k 7 --threads 2 >r2.txt
check "recommend --all on a bf16 model: threads 1 and 2 agree" cmp -s r1.txt r2.txt
for isa in portable avx2 avx512; do
    if ! has_isa $isa; then
        skipped "convert: SIGNMF_ISA=$isa (this CPU cannot run it)"
        continue
    fi
    SIGNMF_ISA=$isa "$exe" recommend h16.smf --all -k 7 >ri.txt
    check "recommend --all on a bf16 model: SIGNMF_ISA=$isa agrees" cmp -s r1.txt ri.txt
done
run similar h16.smf --item 3 -k 5
check "similar on a bf16 model" test "$rc" -eq 0 -a "$(wc -l <out)" -eq 5
run eval h16.smf s.tsv -k 5
check "eval on a bf16 model" test "$rc" -eq 0
run export h16.smf e16
check "a bf16 model exports float32" grep -aq "'descr': '<f4'" e16/P.npy
run convert h16.smf --precision f32 back.smf
check "bf16 converts back to f32" test "$rc" -eq 0
# a model trained in bf16 (params say bf16) converts and opens too
run convert full.smf --precision bf16 fb.smf
check "a bf16-trained model converts" test "$rc" -eq 0
run recommend fb.smf --user 1 -k 3
check "and its bf16 model serves" test "$rc" -eq 0 -a "$(wc -l <out)" -eq 3
echo "# $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
