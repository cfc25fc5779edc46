#!/usr/bin/env bash
# signmf split. Usage: test_split.sh PATH/TO/signmf
# The split's sizes (floor(F x n) per user), that train and test partition
# the input, that the files read back as the same triplets, that training on
# the train file gives the model `train --holdout` gives (model file and
# exported P/Q byte for byte), atomic writes, and the usage and input
# errors. With SIGNMF_DATA_DIR set (the directory holding ml-100k/), the
# sizes and the model identity on ua.base too.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cli_setup split "${1:-}"

expect() { # STATUS DESC ARGS...: exit status, and a 'signmf' message on failure
    local want=$1 desc=$2
    shift 2
    run "$@"
    if [ "$rc" -ne "$want" ]; then
        bad "$desc (exit $rc, expected $want)"
    elif [ "$want" -ne 0 ] && ! grep -q '^signmf' err; then
        bad "$desc (no 'signmf' message on stderr)"
    else
        ok "$desc"
    fi
}
has() { # DESC PATTERN: ./err contains PATTERN (fixed string)
    if grep -qF -- "$2" err; then ok "$1"; else bad "$1: stderr lacks '$2'"; fi
}

# sizes PART_TRAIN PART_TEST INPUT F: per user, test = floor(F n) and
# train + test = n (awk's doubles floor as the library's do)
sizes() {
    awk -v f="$4" '
        FILENAME == ARGV[1] { n[$1]++; next }
        FILENAME == ARGV[2] { tr[$1]++; next }
        { te[$1]++ }
        END {
            for (u in n) {
                h = int(f * n[u])
                if (te[u] + 0 != h || tr[u] + te[u] != n[u]) {
                    print "user " u ": n " n[u] " train " tr[u] + 0 " test " te[u] + 0 " want " h
                    bad = 1
                }
            }
            for (u in tr) if (!(u in n)) { print "unknown user " u; bad = 1 }
            exit bad
        }' "$3" "$1" "$2"
}
# triplets FILE: "user item rating" lines, sorted, ratings as Python floats
triplets() {
    awk '{ print $1 "\t" $2 "\t" $3 }' "$1" | sort
}

"$exe" synth --users 150 --items 400 --ratings 6000 --seed 5 >r.tsv 2>err || {
    bad "synth"
    exit 1
}

# ---- usage and bad input --------------------------------------------------
expect 0 "split --help" split --help
grep -q -- '--holdout F' out && ok "help names --holdout" || bad "help names --holdout"
"$exe" --help | grep -q '^  split RATINGS' && ok "split is listed in signmf --help" ||
    bad "split missing from signmf --help"
expect 2 "split without arguments" split
expect 2 "split without --holdout" split r.tsv --train a.tsv --test b.tsv
has "missing --holdout is named" "--holdout F is required"
expect 2 "split without --train" split r.tsv --holdout 0.1 --test b.tsv
expect 2 "split without --test" split r.tsv --holdout 0.1 --train a.tsv
has "missing outputs are named" "--train OUT1 and --test OUT2 are both required"
expect 2 "split with --train equal to --test" split r.tsv --holdout 0.1 --train a.tsv --test a.tsv
has "same output is named" "name the same file 'a.tsv'"
expect 2 "split with an unknown option" split r.tsv --holdout 0.1 --train a.tsv --test b.tsv --bogus
expect 2 "split with two inputs" split r.tsv r.tsv --holdout 0.1 --train a.tsv --test b.tsv
expect 1 "split --holdout 1" split r.tsv --holdout 1 --train a.tsv --test b.tsv
has "--holdout 1 says [0, 1)" "--holdout expects a fraction in [0, 1), found 1"
expect 1 "split --holdout 1.5" split r.tsv --holdout 1.5 --train a.tsv --test b.tsv
expect 1 "split --holdout -0.1" split r.tsv --holdout -0.1 --train a.tsv --test b.tsv
expect 1 "split --holdout abc" split r.tsv --holdout abc --train a.tsv --test b.tsv
expect 1 "split --seed -1" split r.tsv --holdout 0.1 --seed -1 --train a.tsv --test b.tsv
expect 1 "split --seed 2^32" split r.tsv --holdout 0.1 --seed 4294967296 --train a.tsv --test b.tsv
expect 1 "split --format bogus" split r.tsv --holdout 0.1 --format bogus --train a.tsv --test b.tsv
expect 1 "split of a missing file" split nope.tsv --holdout 0.1 --train a.tsv --test b.tsv
has "missing input is named" "nope.tsv: cannot open"
printf '1\t2\t5\n1\tx\t3\n' >badline.tsv
expect 1 "split of a malformed file" split badline.tsv --holdout 0.1 --train a.tsv --test b.tsv
has "file, line and column of the bad field" "badline.tsv:2:3: expected item id"
printf '1\t2\t5\n1\t2\t3\n' >dup.tsv
expect 1 "split of a file with a duplicate pair" split dup.tsv --holdout 0.1 --train a.tsv --test b.tsv
has "duplicate is reported with its line" "dup.tsv:2"
expect 1 "split into a missing directory" split r.tsv --holdout 0.1 --train nodir/a.tsv --test b.tsv
has "missing directory is named" "cannot write into directory 'nodir'"
mkdir adir
expect 1 "split onto a directory" split r.tsv --holdout 0.1 --train a.tsv --test adir
has "directory output is named" "adir: is a directory"
[ ! -e a.tsv ] && [ ! -e b.tsv ] && ok "failed runs create no output" || bad "failed runs left output"

# A write that fails midway (file size limit: EFBIG instead of SIGXFSZ)
# leaves the previous files as they were and no temporary file behind.
echo old-train >a.tsv
echo old-test >b.tsv
(
    ulimit -f 8
    trap '' XFSZ
    exec "$exe" split r.tsv --holdout 0.1 --train a.tsv --test b.tsv
) >out 2>err
rc=$?
[ "$rc" -eq 1 ] && grep -q '^signmf: a.tsv: cannot write' err && ok "a failed write exits 1 naming the file" ||
    bad "failed write (exit $rc)"
[ "$(cat a.tsv)" = old-train ] && [ "$(cat b.tsv)" = old-test ] &&
    ok "a failed write replaces neither file" || bad "a failed write changed an output"
ls | grep -q '\.tmp\.' && bad "temporary files left: $(ls | grep '\.tmp\.')" ||
    ok "a failed write leaves no temporary file"
rm -f a.tsv b.tsv

# ---- the split -----------------------------------------------------------
expect 0 "split --holdout 0.2 --seed 3" split r.tsv --holdout 0.2 --seed 3 --train a.tsv --test b.tsv
has "summary names both parts" "to a.tsv"
if sizes a.tsv b.tsv r.tsv 0.2 >sz.txt; then ok "floor(0.2 n) ratings of each user held out"; else
    bad "split sizes"
    head -5 sz.txt
fi
triplets r.tsv >all.txt
sort -m <(triplets a.tsv) <(triplets b.tsv) | sort >parts.txt
cmp -s all.txt parts.txt && ok "train and test together are the input" || bad "parts differ from input"
[ -z "$(comm -12 <(triplets a.tsv) <(triplets b.tsv))" ] && ok "train and test are disjoint" ||
    bad "a pair is in both parts"
awk -F'\t' 'NF != 3 { exit 1 }' a.tsv b.tsv && ok "three tab-separated columns" || bad "layout"
sort -c -k1,1n -k2,2n a.tsv 2>/dev/null && ok "sorted by user, then item" || bad "order"
perm=$(stat -c %a a.tsv)
[ "$perm" != 600 ] && ok "outputs get the usual mode ($perm), not mkstemp's 0600" ||
    bad "output mode 0600"
"$exe" split r.tsv --holdout 0.2 --seed 3 --train a2.tsv --test b2.tsv --quiet 2>err
[ ! -s err ] && ok "--quiet prints nothing" || bad "--quiet printed"
cmp -s a.tsv a2.tsv && cmp -s b.tsv b2.tsv && ok "same seed, same files" || bad "not deterministic"
"$exe" split r.tsv --holdout 0.2 --seed 4 --train a3.tsv --test b3.tsv --quiet 2>err
cmp -s b.tsv b3.tsv && bad "seeds 3 and 4 give the same split" || ok "the split depends on the seed"
"$exe" split r.tsv --holdout 0.2 --train a4.tsv --test b4.tsv --quiet 2>err
"$exe" split r.tsv --holdout 0.2 --seed 1 --train a5.tsv --test b5.tsv --quiet 2>err
cmp -s b4.tsv b5.tsv && ok "default seed is 1, as train's" || bad "default seed"
"$exe" split r.tsv --holdout 0 --train a6.tsv --test b6.tsv --quiet 2>err
cmp -s <(triplets a6.tsv) all.txt && [ ! -s b6.tsv ] && ok "--holdout 0 holds nothing out" ||
    bad "--holdout 0"

# Re-reading: splitting a written file with --holdout 0 writes it again
# byte for byte, and ratings that are not small integers survive exactly.
"$exe" split a.tsv --holdout 0 --train a7.tsv --test b7.tsv --quiet 2>err
cmp -s a.tsv a7.tsv && ok "the train file reads back as the same triplets" || bad "re-read differs"
printf '3\t9\t0.1\n3\t2\t3.5\n1\t7\t-2.25\n1\t5\t1e-07\n2\t4\t0.33333333333333331\n2\t8\t123456789.125\n1\t1\t4\n7\t3\t6.02e-300\n' >frac.tsv
"$exe" split frac.tsv --holdout 0 --train f1.tsv --test f2.tsv --quiet 2>err || bad "split frac"
"$exe" split f1.tsv --holdout 0 --train f3.tsv --test f4.tsv --quiet 2>err || bad "split f1"
cmp -s f1.tsv f3.tsv && ok "fractional ratings round-trip through the file" || bad "fraction round trip"
if /usr/bin/python3 - frac.tsv f1.tsv <<'EOF' >cmp.txt 2>&1; then
import sys
def read(p):
    return {(int(a), int(b)): float(c) for a, b, c in (l.split() for l in open(p))}
a, b = read(sys.argv[1]), read(sys.argv[2])
assert a == b, (a, b)
assert all(float(l.split()[2]).hex() == float(repr(float(l.split()[2]))).hex() for l in open(sys.argv[2]))
EOF
    ok "written ratings equal the input's doubles exactly"
else
    bad "written ratings differ"
    head -3 cmp.txt
fi
grep -q $'^2\t4\t0.3333333333333333$' f1.tsv && grep -q $'^3\t9\t0.1$' f1.tsv &&
    ok "ratings in their shortest exact form" || bad "rating format: $(head -3 f1.tsv)"

# ---- the same split as train --holdout ------------------------------------
# model_identity IN F SEED TAG: train --holdout on IN, train on the split's
# train file, compare the model files and the exported P and Q byte for byte.
model_identity() {
    local in=$1 f=$2 s=$3 tag=$4 opts="--dim 24 --epochs 4 --lr 0.01 --threads 2 --quiet"
    "$exe" split "$in" --holdout "$f" --seed "$s" --train "$tag-tr.tsv" --test "$tag-te.tsv" \
        2>"$tag-split.txt" || bad "$tag: split"
    if grep -q '^note:' "$tag-split.txt"; then
        skipped "$tag: an item had every rating held out, the identity does not apply"
        return
    fi
    "$exe" train "$in" --holdout "$f" --seed "$s" $opts --out "$tag-h.smf" >"$tag-h.txt" 2>err ||
        bad "$tag: train --holdout"
    "$exe" train "$tag-tr.tsv" --seed "$s" $opts --out "$tag-s.smf" 2>err || bad "$tag: train split"
    cmp -s "$tag-h.smf" "$tag-s.smf" && ok "$tag: model files are identical" ||
        bad "$tag: model files differ"
    "$exe" export "$tag-h.smf" "$tag-eh" >/dev/null 2>err
    "$exe" export "$tag-s.smf" "$tag-es" >/dev/null 2>err
    cmp -s "$tag-eh/P.npy" "$tag-es/P.npy" && cmp -s "$tag-eh/Q.npy" "$tag-es/Q.npy" &&
        ok "$tag: exported P.npy and Q.npy are identical" || bad "$tag: P or Q differ"
    # the test file is exactly the held-out part: none of it was trained on,
    # and the holdout table counts as many pairs
    "$exe" eval "$tag-h.smf" "$tag-te.tsv" --json >"$tag-ev.json" 2>err || bad "$tag: eval"
    local n
    n=$(wc -l <"$tag-te.tsv")
    grep -q "\"test_pairs\": $n, \"unknown_user_pairs\": 0, \"unknown_item_pairs\": 0, \"train_pairs\": 0" \
        "$tag-ev.json" && ok "$tag: the test file is the held-out part ($n pairs, none trained on)" ||
        bad "$tag: eval counts $(head -c 300 "$tag-ev.json")"
    grep -q "test pairs $n:" "$tag-h.txt" && ok "$tag: train --holdout held out $n pairs too" ||
        bad "$tag: holdout table: $(grep 'test pairs' "$tag-h.txt")"
}
model_identity r.tsv 0.2 3 synth
# Items whose every rating is held out: the train file then reads back
# narrower than the input, and the summary says so.
for u in $(seq 1 20); do printf '%d\t%d\t4\n%d\t%d\t2\n' "$u" "$u" "$u" $((1000 + u)); done >lone.tsv
expect 0 "split of a file where items lose all ratings" split lone.tsv --holdout 0.5 --ids compact \
    --train l1.tsv --test l2.tsv
has "the summary notes the narrower train file" "l1.tsv reads back as 20 x 20, the input is 20 x 40"

data=${SIGNMF_DATA_DIR:-}
if [ -n "$data" ] && [ -f "$data/ml-100k/ua.base" ]; then
    ua=$data/ml-100k/ua.base
    "$exe" split "$ua" --holdout 0.1 --seed 7 --train ua-tr.tsv --test ua-te.tsv --quiet 2>err ||
        bad "split ua.base"
    if sizes ua-tr.tsv ua-te.tsv "$ua" 0.1 >sz.txt; then ok "ua.base: floor(0.1 n) per user"; else
        bad "ua.base sizes"
        head -5 sz.txt
    fi
    model_identity "$ua" 0.1 7 ua.base
else
    echo "note - SIGNMF_DATA_DIR not set: ua.base checks not run"
fi

echo "split: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
