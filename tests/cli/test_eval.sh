#!/usr/bin/env bash
# signmf eval and train's evaluation options. Usage: test_eval.sh PATH/TO/signmf
# Every figure of `eval --json` is checked against an independent numpy
# computation (eval_numpy.py) from the exported P and Q and the raw files;
# exit 77 when numpy is missing. With SIGNMF_DATA_DIR set (the directory
# holding ml-100k/), the same on ua.base / ua.test.
set -u

here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "skip - numpy not available in $py"
    exit 77
fi
. "$here/lib.sh"
cli_setup eval "${1:-}"
expect() {
    local want=$1 desc=$2
    shift 2
    "$exe" "$@" >out 2>err
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        bad "$desc (exit $rc, expected $want)"
    elif [ "$want" -ne 0 ] && ! grep -q '^signmf' err; then
        bad "$desc (no 'signmf' message on stderr)"
    else
        ok "$desc"
    fi
}
# same_json A B TOL DESC: every number of A equals B's within TOL (and the
# same nulls)
same_json() {
    if "$py" - "$1" "$2" "$3" >cmp.txt 2>&1 <<'EOF'; then
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); tol = float(sys.argv[3])
bad = []
def walk(x, y, path):
    if isinstance(x, dict):
        if set(x) != set(y):
            bad.append(f"{path}: keys {sorted(x)} vs {sorted(y)}")
        for key in x:
            if key in y:
                walk(x[key], y[key], path + "." + key)
    elif x is None or y is None:
        if x is not y:
            bad.append(f"{path}: {x} vs {y}")
    elif abs(float(x) - float(y)) > tol:
        bad.append(f"{path}: {x!r} vs {y!r}")
walk(a, b, "")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
        ok "$4"
    else
        bad "$4"
        sed 's/^/       /' cmp.txt | head -8
    fi
}

# ---- usage and errors ------------------------------------------------------
expect 2 "eval without arguments" eval
expect 0 "eval --help" eval --help
grep -q "precision@k" out && ok "help names the metrics" || bad "help names the metrics"
expect 1 "eval of a missing model" eval nope.smf nope.tsv

"$exe" synth --users 120 --items 300 --ratings 4000 --seed 3 >r.tsv 2>err || {
    bad "synth"
    exit 1
}
# A test set from another seed: some pairs are in r.tsv (rated in training),
# plus one pair with an unknown user and one with an unknown item.
"$exe" synth --users 120 --items 300 --ratings 3000 --seed 4 >t.tsv 2>err || bad "synth test"
printf '9999\t1\t5\t0\n1\t9999\t5\t0\n' >>t.tsv
expect 2 "train --early-stop without --test" train r.tsv --early-stop 2
expect 2 "train --test with --holdout" train r.tsv --test t.tsv --holdout 0.1
expect 2 "train --metric unknown" train r.tsv --test t.tsv --metric bogus
expect 1 "train --holdout out of range" train r.tsv --holdout 1.5
expect 1 "train --test missing file" train r.tsv --test nope.tsv --epochs 1 --dim 4 --quiet

# ---- figures against numpy ---------------------------------------------------
for prec in f64 f32; do
    "$exe" train r.tsv --dim 40 --epochs 5 --lr 0.01 --ids direct --precision $prec --quiet \
        --out m$prec.smf 2>err || bad "train $prec"
    "$exe" export m$prec.smf e$prec >/dev/null 2>err || bad "export $prec"
done
for args in "-k 10 --relevant 4" "-k 5 --relevant 3" "-k 300 --relevant 1"; do
    set -- $args
    expect 0 "eval --json $args (f64)" eval mf64.smf t.tsv --json "$@"
    cp out got.json
    "$py" "$here/eval_numpy.py" ef64 r.tsv t.tsv "$2" "$4" >want.json 2>err || bad "numpy"
    same_json got.json want.json 1e-12 "f64 figures $args equal numpy's"
done
grep -q '"unknown_user_pairs": 1, "unknown_item_pairs": 1' got.json &&
    ok "unknown user and item pairs are counted" || bad "unknown pairs counted"
"$exe" eval mf32.smf t.tsv --json >got.json 2>err || bad "eval f32"
"$py" "$here/eval_numpy.py" ef32 r.tsv t.tsv 10 4 >want.json 2>err || bad "numpy f32"
same_json got.json want.json 1e-12 "f32 figures equal numpy's (float64 ranking)"
"$exe" eval mf32.smf t.tsv --json --threads 1 >got1.json 2>err
cmp -s got.json got1.json && ok "figures do not depend on threads" || bad "thread invariance"
"$exe" eval mf32.smf t.tsv --json --no-mmap >got2.json 2>err
cmp -s got.json got2.json && ok "mmapped and read model give identical figures" ||
    bad "mmap vs read"
expect 0 "eval text table" eval mf32.smf t.tsv
grep -q '^ndcg@10' out && grep -q 'popularity' out && ok "table has ndcg@10 and popularity" ||
    bad "table layout"

# ---- train --test / --eval-every / --early-stop / --holdout ------------------
"$exe" train r.tsv --dim 40 --epochs 6 --lr 0.01 --ids direct --quiet --out c.smf \
    --test t.tsv --eval-every 2 --log c.csv >table.txt 2>err || bad "train --test --eval-every"
"$exe" train r.tsv --dim 40 --epochs 6 --lr 0.01 --ids direct --quiet --out d.smf 2>err
"$exe" export c.smf ec >/dev/null 2>&1
"$exe" export d.smf ed >/dev/null 2>&1
cmp -s ec/P.npy ed/P.npy && cmp -s ec/Q.npy ed/Q.npy && ok "evaluating every 2 epochs leaves the model bit-identical" ||
    bad "chunked run differs"
head -1 c.csv | grep -q '^epoch,loss,seconds,precision,recall,ndcg,map,hit,auc,coverage$' &&
    ok "log has metric columns" || bad "log header: $(head -1 c.csv)"
"$exe" eval c.smf t.tsv --json >got.json 2>err
"$py" - c.csv got.json <<'EOF' >cmp.txt 2>&1 && ok "log's last metrics equal eval of the saved model" || bad "log vs eval"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ev = [r for r in rows if r["ndcg"] != ""]
assert [int(r["epoch"]) for r in ev] == [0, 2, 4, 6], [r["epoch"] for r in ev]
assert all(r["ndcg"] == "" for r in rows if int(r["epoch"]) % 2)
got = json.load(open(sys.argv[2]))["model"]
for k, v in got.items():
    assert float(ev[-1][k]) == v, (k, ev[-1][k], v)
EOF
grep -q '^ndcg@10' table.txt && ok "train --test prints the table" || bad "train table"

"$exe" train r.tsv --dim 40 --epochs 30 --lr 0.05 --ids direct --quiet --out e.smf \
    --test t.tsv --early-stop 2 --metric ndcg --log e.csv >/dev/null 2>err || bad "train --early-stop"
"$exe" eval e.smf t.tsv --json >got.json 2>err
"$py" - e.csv got.json <<'EOF' >cmp.txt 2>&1 && ok "early stop keeps the best epoch's model" || { bad "early stop"; cat cmp.txt; }
import csv, json, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["ndcg"] != ""]
vals = [float(r["ndcg"]) for r in rows]
best = max(range(len(vals)), key=lambda i: (vals[i], -i))
# stopped after 2 evaluations without a strict gain, or at the end
assert len(vals) - 1 - best <= 2, vals
got = json.load(open(sys.argv[2]))["model"]
assert float(rows[best]["ndcg"]) == got["ndcg"], (rows[best]["ndcg"], got["ndcg"])
EOF

for s in 1 1 2; do
    "$exe" train r.tsv --dim 16 --epochs 2 --ids direct --quiet --holdout 0.2 --seed $s \
        --log h$s.csv >h$s.txt 2>err || bad "train --holdout seed $s"
done
grep -q 'holdout at epoch 2' h1.txt && ok "holdout table" || bad "holdout table"
grep 'test pairs' h1.txt >h1a
"$exe" train r.tsv --dim 16 --epochs 2 --ids direct --quiet --holdout 0.2 --seed 1 >h1b.txt 2>err
grep 'test pairs' h1b.txt >h1b
cmp -s h1a h1b && ok "holdout split is deterministic" || bad "holdout determinism"
cmp -s h1.txt h2.txt && bad "holdout seeds 1 and 2 give the same figures" ||
    ok "holdout split depends on the seed"

# ---- MovieLens 100k ------------------------------------------------------------
data=${SIGNMF_DATA_DIR:-}
if [ -n "$data" ] && [ -f "$data/ml-100k/ua.base" ]; then
    ml=$data/ml-100k
    "$exe" train "$ml/ua.base" --dim 64 --epochs 10 --quiet --out ua.smf 2>err || bad "train ua"
    "$exe" export ua.smf eua >/dev/null 2>&1
    "$exe" eval ua.smf "$ml/ua.test" --json >got.json 2>err || bad "eval ua"
    "$py" "$here/eval_numpy.py" eua "$ml/ua.base" "$ml/ua.test" 10 4 >want.json 2>err
    same_json got.json want.json 1e-12 "ua.test figures equal numpy's"
else
    echo "note - SIGNMF_DATA_DIR not set: ua.base/ua.test check not run"
fi

echo "eval: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
