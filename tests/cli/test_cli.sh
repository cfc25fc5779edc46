#!/usr/bin/env bash
# End-to-end checks of the signmf command-line contract.
# Usage: test_cli.sh PATH/TO/signmf
# Prints one line per check; exits non-zero if any check failed.
set -u

. "$(dirname "$0")/lib.sh"
cli_setup cli "${1:-}"

# expect RC DESC ARGS...: exit code, plus for 1 and 2 a one-line
# "signmf..." message on stderr.
expect() {
    local want=$1 desc=$2
    shift 2
    run "$@"
    if [ "$rc" -ne "$want" ]; then
        bad "$desc (exit $rc, expected $want)"
        return
    fi
    if [ "$want" -ne 0 ] && ! grep -q '^signmf' err; then
        bad "$desc (no 'signmf' message on stderr)"
        return
    fi
    if [ "$want" -eq 2 ] && ! grep -q -- '--help' err; then
        bad "$desc (no usage hint on stderr)"
        return
    fi
    ok "$desc"
}

have_numpy=false
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then have_numpy=true; fi

# ---- usage and help ---------------------------------------------------
run
check "no command: exit 2" test "$rc" -eq 2
expect 2 "unknown command: exit 2" frobnicate
for h in --help -h; do
    run $h
    check "signmf $h: exit 0, usage on stdout" test "$rc" -eq 0 -a -s out
done
run --version
check "--version prints the version" grep -q '^signmf 0\.' out
for c in train loss recommend export synth demo; do
    for h in --help -h; do
        run $c $h
        if [ "$rc" -eq 0 ] && grep -q "^Usage: signmf $c" out && [ ! -s err ]; then
            ok "$c $h: exit 0, usage on stdout"
        else
            bad "$c $h (exit $rc)"
        fi
    done
done

# ---- wrong usage: exit 2 ------------------------------------------------
printf '1\t1\t5\n1\t2\t3\n2\t1\t4\n2\t2\t1\n' >tiny.tsv
expect 2 "train without RATINGS" train
expect 2 "train two RATINGS" train tiny.tsv tiny.tsv
expect 1 "--dim 0" train tiny.tsv --dim 0
expect 1 "--dim=0" train tiny.tsv --dim=0
expect 1 "--epochs -1" train tiny.tsv --epochs -1
expect 1 "--lr nan" train tiny.tsv --lr nan
expect 1 "--lr inf" train tiny.tsv --lr inf
expect 1 "--lr -1" train tiny.tsv --lr -1
expect 1 "--threads 0" train tiny.tsv --threads 0
expect 1 "--dim 12abc" train tiny.tsv --dim 12abc
expect 1 "--dim ' 12'" train tiny.tsv --dim ' 12'
expect 1 "--dim 0x10" train tiny.tsv --dim 0x10
expect 1 "--epochs overflow" train tiny.tsv --epochs 99999999999999999999999
expect 1 "--seed above 2^32-1" train tiny.tsv --seed 4294967296
expect 1 "--lr 1e999 overflow" train tiny.tsv --lr 1e999
expect 2 "missing option value" train tiny.tsv --dim
expect 2 "unknown option" train tiny.tsv --bogus
expect 2 "flag with a value" train tiny.tsv --quiet=yes
expect 1 "--precision f16" train tiny.tsv --precision f16
expect 1 "--sign-rule junk" train tiny.tsv --sign-rule junk
expect 1 "--sign-rule threshold:x" train tiny.tsv --sign-rule threshold:x
expect 1 "--format xls" train tiny.tsv --format xls
expect 1 "--ids sparse" train tiny.tsv --ids sparse
expect 2 "loss without RATINGS" loss
expect 2 "recommend without --user" recommend m.smf
expect 1 "recommend -k 0" recommend m.smf --user 1 -k 0
expect 1 "recommend --user abc" recommend m.smf --user abc
expect 2 "export with one argument" export m.smf
expect 1 "synth --ratings 1e5" synth --ratings 1e5
expect 1 "synth --users 0" synth --users 0
expect 1 "demo --dim 0" demo --dim 0

# ---- bad input: exit 1 --------------------------------------------------
expect 1 "train on a missing file" train no-such-file.tsv --quiet
check "  message names the file" grep -q 'no-such-file.tsv' err
printf '1\t1\t5\n1\tx\t3\n' >bad.tsv
expect 1 "train on a malformed file" train bad.tsv --quiet --format tsv
check "  message has file:line:col" grep -Eq 'bad\.tsv:2:[0-9]+' err
check "  message is one line" test "$(wc -l <err)" -eq 1
expect 1 "recommend with a missing model" recommend no-such.smf --user 1
expect 1 "export a missing model" export no-such.smf outdir
expect 1 "synth: fewer than 20 ratings per user" synth --users 10 --ratings 199
expect 1 "synth: more ratings than pairs" synth --users 10 --items 30 --ratings 301
expect 1 "train --out into a missing directory" train tiny.tsv --out no/such/dir/m.smf --quiet

# ---- synth ----------------------------------------------------------------
run synth
check "synth: exit 0" test "$rc" -eq 0
mv out ml.tsv
read -r lines users items minu dup badr <<<"$(awk -F'\t' '
    { n++; c[$1]++; it[$2]++; if (k[$1 SUBSEP $2]++) d++; if ($3 < 1 || $3 > 5 || NF != 4) b++ }
    END { m = 1e18; for (u in c) { nu++; if (c[u] < m) m = c[u] }; for (i in it) ni++
          print n, nu, ni, m, d + 0, b + 0 }' ml.tsv)"
check "synth: 100000 ratings" test "$lines" -eq 100000
check "synth: 943 users, 1682 items used" test "$users" -eq 943 -a "$items" -eq 1682
check "synth: every user has >= 20 ratings" test "$minu" -ge 20
check "synth: no duplicate pairs, ratings 1..5, 4 fields" test "$dup" -eq 0 -a "$badr" -eq 0
check "synth: sorted by user then item" sort -c -t "$(printf '\t')" -k1,1n -k2,2n ml.tsv
h1=$(md5sum <ml.tsv)
h2=$("$exe" synth | md5sum)
check "synth: deterministic (same hash twice)" test "$h1" = "$h2"
h3=$("$exe" synth --seed 2 | md5sum)
check "synth: another seed, other data" test "$h1" != "$h3"
top=$(cut -f2 ml.tsv | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')
check "synth: popularity skewed (top item rated by >= 200 users)" test "$top" -ge 200

# ---- train -> save -> recommend -> export ---------------------------------
"$exe" synth --users 60 --items 120 --ratings 3000 --seed 7 >small.tsv
expect 0 "train small synth set" train small.tsv --dim 8 --epochs 5 --out m.smf --log log.csv \
    --quiet --threads 2
check "  --quiet: nothing on stderr" test ! -s err
check "  model written" test -s m.smf
check "  log header" test "$(head -1 log.csv)" = "epoch,loss,seconds"
check "  log has 6 rows (epochs 0..5)" test "$(tail -n +2 log.csv | cut -d, -f1 | tr '\n' ' ')" = "0 1 2 3 4 5 "
check "  no temporary files left" test -z "$(find . -maxdepth 1 -iname '*tmp*')"

run train small.tsv --dim 8 --epochs 3 --threads 2
check "train: progress lines and summary on stderr (not a TTY)" \
    test "$rc" -eq 0 -a "$(grep -c '^epoch [0-3]/3 loss ' err)" -eq 4
check "  summary names the kernel" grep -Eq 'kernel (portable|avx2|avx512)' err

run loss small.tsv --dim 8 --threads 2
init=$(cat out)
check "loss at the initialisation: %.17g number" \
    grep -Eq '^-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?$' out
check "  equals the log's epoch 0 loss" \
    awk -v a="$init" -v b="$(awk -F, 'NR == 2 { print $2 }' log.csv)" \
    'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); exit !(d <= 1e-9 * m) }'
run loss small.tsv --model m.smf --threads 2
check "loss of the saved model equals the log's last loss" \
    awk -v a="$(cat out)" -v b="$(awk -F, 'END { print $2 }' log.csv)" \
    'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); exit !(a != "" && d <= 1e-9 * m) }'

run recommend m.smf --user 1 -k 5
check "recommend: 5 lines rank<TAB>item<TAB>score" \
    test "$rc" -eq 0 -a "$(awk -F'\t' 'NF == 3 && $1 == NR' out | wc -l)" -eq 5
check "  scores non-increasing" awk -F'\t' 'NR > 1 && $3 > p { exit 1 } { p = $3 }' out
rated=$(awk -F'\t' '$1 == 1 { print $2 }' small.tsv | tr '\n' ' ')
check "  only unrated items" awk -F'\t' -v r=" $rated" 'index(r, " " $2 " ") { exit 1 }' out
cp out rec5.txt
run recommend m.smf --user=1 --top=3
check "  --top=3 is a prefix of -k 5" test "$(cat out)" = "$(head -3 rec5.txt)"
expect 1 "recommend: unknown user" recommend m.smf --user 999999
check "  message names the user id" grep -q 999999 err
expect 1 "recommend: k larger than the items" recommend m.smf --user 1 -k 121
check "  message says k exceeds the items" grep -q 'k exceeds the 120 items' err

# titles: Latin-1 u.item with a quote and a backslash
awk 'BEGIN { for (i = 1; i <= 120; i++) printf "%d|Film %d (1995)|01-Jan-1995||http://x|0|1\n", i, i }' \
    >u.item
for i in $(cut -f2 rec5.txt); do
    sed -i "s/^$i|Film $i (1995)/$i|Caf\xe9 \"$i\" \\\\ (1995)/" u.item
done
run recommend m.smf --user 1 -k 5 --items u.item
first=$(cut -f2 rec5.txt | head -1)
check "recommend --items: Latin-1 title converted to UTF-8" \
    grep -q "$(printf "\t$first\t.*\tCaf\xc3\xa9 \"$first\"")" out
run recommend m.smf --user 1 -k 5 --items u.item --json
if $have_numpy; then
    check "recommend --json: valid JSON, 5 ranked items with titles" /usr/bin/python3 -c '
import json, sys
d = json.load(open("out"))
rec = [l.split("\t") for l in open("rec5.txt").read().split("\n") if l]
assert d["user"] == 1 and len(d["items"]) == 5
for r, x in zip(rec, d["items"]):
    assert x["rank"] == int(r[0]) and x["item"] == int(r[1]) and x["score"] == float(r[2])
    assert x["title"] == "Caf\u00e9 \"%s\" \\ (1995)" % r[1], x["title"]
'
else
    check "recommend --json: shape" grep -q '^{"user": 1, "items": \[{"rank":1,' out
fi
expect 1 "recommend --items missing file" recommend m.smf --user 1 --items no-such.item

expect 0 "export" export m.smf npy
check "  P.npy and Q.npy written" test -s npy/P.npy -a -s npy/Q.npy
if $have_numpy; then
    check "  shapes (60, 8) and (8, 120); numpy top-5 of P Q matches recommend" /usr/bin/python3 -c '
import numpy as np
P = np.load("npy/P.npy"); Q = np.load("npy/Q.npy")
assert P.shape == (60, 8) and Q.shape == (8, 120), (P.shape, Q.shape)
s = P.astype(np.float64)[0] @ Q.astype(np.float64)
rated = {int(l.split("\t")[1]) for l in open("small.tsv") if l.split("\t")[0] == "1"}
order = [j + 1 for j in sorted(range(120), key=lambda j: (-s[j], j)) if j + 1 not in rated][:5]
got = [int(l.split("\t")[1]) for l in open("rec5.txt")]
assert got == order, (got, order)
'
else
    skipped "export shapes (numpy not available)"
fi

# ---- sparse ids: outputs speak the file's ids ----------------------------
{
    echo "userId,movieId,rating,timestamp"
    for u in 3 610 9000; do
        for m in 1 50 296 2571 193609 5000 7000 99999; do
            [ "$u" = 610 ] && [ "$m" = 193609 ] && continue
            echo "$u,$m,$(((u + m) % 5 + 1)).5,964982703"
        done
    done
} >sparse.csv
expect 0 "train on a CSV with sparse ids" train sparse.csv --dim 4 --epochs 2 --out s.smf --quiet
run recommend s.smf --user 610 -k 1
check "  recommend speaks original ids (user 610 gets item 193609)" \
    test "$rc" -eq 0 -a "$(cut -f2 out)" = 193609
expect 1 "  user 4 is not in a compact model" recommend s.smf --user 4
run recommend s.smf --user 9000 -k 1
check "  a user who rated everything gets no items" test "$rc" -eq 0 -a ! -s out

# ---- non-finite training --------------------------------------------------
run train small.tsv --dim 8 --epochs 50 --lr 1e300 --out nf.smf --quiet
if [ "$rc" -eq 1 ] && grep -qi 'finite' err; then
    ok "non-finite loss: exit 1 with the library's message"
    check "  last finite model still saved" test -s nf.smf
else
    bad "non-finite loss (exit $rc)"
fi

# ---- demo (synthetic: no MovieLens reachable from here) -------------------
# The demo also looks in ./data and ../shared/data, so it runs two levels
# inside the scratch directory, where neither can exist whatever /tmp holds.
mkdir -p "$tmp/demo/cwd"
(
    unset SIGNMF_DATA_DIR
    cd "$tmp/demo/cwd" && "$exe" demo --data "$tmp/none" --dim 4 --epochs 2 --quiet >"$tmp/out" 2>"$tmp/err"
)
rc=$?
check "demo without MovieLens: synthetic data, both models beside popularity, recommendations" \
    test "$rc" -eq 0 -a "$(grep -c 'synthetic' out)" -ge 1 -a "$(grep -c '^user [12], .* model:' out)" -eq 4 \
    -a "$(grep -c '^metric  *notebook  *orthonormal  *popularity' out)" -eq 1 \
    -a "$(grep -c '^items most like item 50' out)" -eq 2

# ---- a catalogue smaller than the default top 10 -------------------------
printf '1\t1\t5\n1\t2\t3\n2\t1\t4\n2\t3\t2\n3\t2\t1\n3\t4\t4\n' >small.tsv
run train small.tsv --dim 4 --epochs 2 --quiet --out small.smf
run recommend small.smf --user 1
check "default top 10 shrinks to the 4 items (2 unrated)" test "$rc" -eq 0 -a "$(wc -l <out)" -eq 2
run recommend small.smf --user 1 -k 5
check "explicit -k 5 beyond 4 items: exit 1" test "$rc" -eq 1
run recommend small.smf --user 9
check "unknown user is named before k is checked" grep -q 'user 9 is not in the model' err
run similar small.smf --item 1
check "similar: default top 10 shrinks to the 3 other items" test "$rc" -eq 0 -a "$(wc -l <out)" -eq 3

echo "# $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
