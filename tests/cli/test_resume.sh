#!/usr/bin/env bash
# Nothing lost: checkpoints, SIGINT/SIGTERM during training, --resume giving
# the bytes of an uninterrupted run, and kill -9 during a save leaving the
# previous model intact.
# Usage: test_resume.sh PATH/TO/signmf
set -u

. "$(dirname "$0")/lib.sh"
cli_setup resume "${1:-}"
same_model() { # A B: same model file and same exported P.npy / Q.npy
    rm -rf xa xb
    "$exe" export "$1" xa 2>>err && "$exe" export "$2" xb 2>>err &&
        cmp -s xa/P.npy xb/P.npy && cmp -s xa/Q.npy xb/Q.npy && cmp -s "$1" "$2"
}
# wait_for FILE: until FILE exists (a checkpoint was written), at most ~60 s
wait_for() {
    local i
    for i in $(seq 1 1200); do
        [ -e "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# Large enough that one epoch takes a noticeable fraction of a second, so a
# signal lands in the middle of the run, not after it.
"$exe" synth --users 20000 --items 4000 --ratings 1500000 --seed 3 >big.tsv 2>err ||
    { bad "synth"; exit 1; }
E=12
train=(train big.tsv --dim 128 --epochs $E --threads 2 --quiet)

"$exe" "${train[@]}" --out ref.smf 2>err
check "uninterrupted reference run" test $? -eq 0 -a -s ref.smf

# Checkpointing alone changes nothing.
rm -f ck.smf
"$exe" "${train[@]}" --out ckout.smf --checkpoint-every 5 --checkpoint ck.smf 2>err
check "--checkpoint-every gives the uninterrupted bytes" same_model ref.smf ckout.smf
check "a checkpoint file was written" test -s ck.smf

# A real signal in the middle of a run, then --resume: same bytes.
for sig in INT TERM; do
    rm -f part.smf cp.smf err
    "$exe" "${train[@]}" --out part.smf --checkpoint-every 1 --checkpoint cp.smf 2>err &
    pid=$!
    wait_for cp.smf
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    if [ "$rc" -ne 1 ]; then
        bad "SIG$sig: exit status 1 (got $rc)"
        continue
    fi
    check "SIG$sig: message names where the model was saved" \
        grep -q "^signmf: interrupted after [0-9]* epochs; model saved to part.smf and cp.smf" err
    done_epochs=$(sed -n 's/.*interrupted after \([0-9]*\) epochs.*/\1/p' err)
    check "SIG$sig: stopped mid-run ($done_epochs of $E epochs)" \
        test -n "$done_epochs" -a "${done_epochs:-0}" -lt $E
    check "SIG$sig: --out and --checkpoint hold the same model" cmp -s part.smf cp.smf
    "$exe" train big.tsv --resume part.smf --epochs $E --out resumed.smf --quiet 2>err
    check "SIG$sig: resume exits 0" test $? -eq 0
    check "SIG$sig: resumed run is bit-identical to the uninterrupted one" \
        same_model ref.smf resumed.smf
done

# Interrupt the resumed run too: chains of interruptions still add up.
rm -f c1.smf c2.smf
"$exe" train big.tsv --dim 128 --epochs 3 --threads 2 --quiet --out c1.smf 2>err
"$exe" train big.tsv --resume c1.smf --epochs $E --quiet --out c2.smf \
    --checkpoint-every 1 --checkpoint c2ck.smf 2>err &
pid=$!
wait_for c2ck.smf
kill -TERM "$pid"
wait "$pid"
"$exe" train big.tsv --resume c2.smf --epochs $E --quiet --out c3.smf 2>err
check "train 3, resume and interrupt, resume again: same bytes" same_model ref.smf c3.smf

# Resuming a finished model is a no-op that still writes the same model.
"$exe" train big.tsv --resume ref.smf --epochs $E --quiet --out again.smf 2>err
check "resume of a finished run reproduces it" same_model ref.smf again.smf

# Usage errors around --resume and --checkpoint-every.
"$exe" train big.tsv --resume ref.smf --dim 64 --out x.smf 2>err
check "--resume with --dim is a usage error (exit 2)" test $? -eq 2
check "  and nothing written" test ! -e x.smf
"$exe" train big.tsv --checkpoint-every 2 2>err
check "--checkpoint-every without --out/--checkpoint is a usage error" test $? -eq 2
"$exe" synth --users 30 --items 40 --ratings 300 >small.tsv 2>/dev/null
"$exe" train small.tsv --resume ref.smf --epochs $E --out x.smf 2>err
rc=$?
check "--resume on ratings of another shape fails with exit 1 and a message" \
    test $rc -eq 1 -a "$(grep -c '^signmf' err)" -eq 1
check "  and nothing written" test ! -e x.smf
# same shape, one rating changed: refused as well
sed '1s/\t[0-9]\t/\t9\t/' big.tsv >edited.tsv
"$exe" train edited.tsv --resume ref.smf --epochs $E --out x.smf 2>err
rc=$?
check "--resume on other ratings of the same shape fails (exit 1, one message)" \
    test $rc -eq 1 -a "$(grep -c 'ratings differ' err)" -eq 1
check "  and nothing written" test ! -e x.smf

# --rescale: the log carries log_scale, and resume continues it exactly.
"$exe" train big.tsv --dim 64 --epochs 6 --threads 2 --rescale --quiet --out rs.smf \
    --log rs.csv 2>err
check "--rescale log has a log_scale column" grep -q '^epoch,loss,seconds,log_scale$' rs.csv
"$exe" train big.tsv --dim 64 --epochs 2 --threads 2 --rescale --quiet --out rs2.smf 2>err
"$exe" train big.tsv --resume rs2.smf --epochs 6 --quiet --out rs3.smf --log rs3.csv 2>err
check "--rescale resume is bit-identical" same_model rs.smf rs3.smf
check "--rescale resume log continues at epoch 2 with log_scale" \
    grep -q '^2,.*,.*,' rs3.csv

# Numeric guards. --rescale is exact in direction: in float64 the rankings
# of a rescaled run are those of the unscaled run (still finite here).
"$exe" synth --users 200 --items 300 --ratings 8000 --seed 5 >mid.tsv 2>/dev/null
"$exe" train mid.tsv --dim 16 --epochs 30 --precision f64 --quiet --out u64.smf 2>err
"$exe" train mid.tsv --dim 16 --epochs 30 --precision f64 --rescale --quiet --out s64.smf \
    --log s64.csv 2>err
"$exe" recommend u64.smf --all -k 10 | cut -f1,2 >u.rank
"$exe" recommend s64.smf --all -k 10 | cut -f1,2 >s.rank
check "--rescale f64: same top-10 lists for every user as the unscaled run" \
    test -s u.rank -a "$(md5sum <u.rank)" = "$(md5sum <s.rank)"
check "--rescale: log_scale grows (norms were rescaled)" \
    awk -F, 'NR > 1 { last = $4 } END { exit !(last > 0) }' s64.csv
# A run that overflows stops at the first non-finite epoch, says so, and
# keeps (saves) the last finite model.
"$exe" train mid.tsv --dim 16 --epochs 40 --lr 1e20 --quiet --out nf.smf 2>err
rc=$?
check "overflowing run: exit 1" test $rc -eq 1
check "  says which epoch went non-finite and that the last finite model was kept" \
    grep -q 'non-finite.*kept the model of epoch [0-9]*' err
check "  and where it was saved" grep -q 'saved the last finite model .* to nf.smf' err
check "  the saved model opens" "$exe" export nf.smf nfx

# kill -9 at random moments while checkpoints are being written: the
# checkpoint file is always either absent or a complete, valid model.
"$exe" train big.tsv --dim 128 --epochs 1 --threads 2 --quiet --out k.smf 2>err
cp k.smf k0.smf
intact=0
for i in 1 2 3 4 5 6; do
    "$exe" train big.tsv --resume k.smf --epochs 40 --quiet --out k.smf \
        --checkpoint-every 1 2>err &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -rf kx
    if "$exe" export k.smf kx 2>err && [ -s kx/P.npy ]; then
        intact=$((intact + 1))
    fi
done
check "kill -9 during checkpoint saves: model intact after each of 6 kills ($intact/6)" \
    test $intact -eq 6
check "  and the surviving model still resumes" \
    "$exe" train big.tsv --resume k.smf --epochs 2 --quiet --out k2.smf

# --holdout with --resume: the split comes from the model's seed, so a
# resumed run evaluates on, and trains on, the same data as the original.
"$exe" synth --users 100 --items 200 --ratings 4000 --seed 3 >h.tsv
"$exe" train h.tsv --dim 16 --epochs 6 --holdout 0.1 --seed 7 --eval-every 2 --out hfull.smf \
    --quiet >/dev/null
"$exe" train h.tsv --dim 16 --epochs 3 --holdout 0.1 --seed 7 --eval-every 2 --out hhalf.smf \
    --quiet >/dev/null
check "--holdout --resume (non-default seed) continues" \
    "$exe" train h.tsv --resume hhalf.smf --epochs 6 --holdout 0.1 --eval-every 2 \
    --out hres.smf --quiet
"$exe" export hfull.smf hfx >/dev/null 2>&1
"$exe" export hres.smf hrx >/dev/null 2>&1
check "  and gives the uninterrupted run's P and Q byte for byte" \
    bash -c 'cmp -s hfx/P.npy hrx/P.npy && cmp -s hfx/Q.npy hrx/Q.npy'
echo "# resume: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
