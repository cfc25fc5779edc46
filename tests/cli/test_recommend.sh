#!/usr/bin/env bash
# End-to-end checks of recommend (--user, --users, --all, --ratings) and
# similar. Usage: test_recommend.sh PATH/TO/signmf [--numpy]
# With --numpy only the numpy cross-check runs (exit 77 when numpy is
# missing): recommend --json / --all against numpy's ranking of the
# exported P and Q with the rated items removed, fold-in against the
# formula, similar against numpy cosine.
set -u

mode=${2:-}
py=/usr/bin/python3
if [ "$mode" = --numpy ] && ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "skip - numpy not available in $py"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
cli_setup rec "${1:-}"
# expect RC DESC ARGS...; for a failure also a "signmf" message and, when
# given, a word the message must contain (EXPECT_WORD).
expect() {
    local want=$1 desc=$2
    shift 2
    run "$@"
    if [ "$rc" -ne "$want" ]; then
        bad "$desc (exit $rc, expected $want)"
    elif [ "$want" -ne 0 ] && ! grep -q '^signmf' err; then
        bad "$desc (no 'signmf' message on stderr)"
    elif [ -n "${EXPECT_WORD:-}" ] && ! grep -q -- "$EXPECT_WORD" err; then
        bad "$desc (stderr does not name '$EXPECT_WORD')"
    else
        ok "$desc"
    fi
    EXPECT_WORD=
}

# A small synthetic set with direct ids: rows of P / columns of Q are id - 1.
"$exe" synth --users 120 --items 300 --ratings 4000 --seed 3 >r.tsv 2>err || {
    bad "synth"
    exit 1
}
"$exe" train r.tsv --dim 40 --epochs 5 --ids direct --quiet --out m.smf 2>err || {
    bad "train"
    exit 1
}
printf '1|Caf\xe9 Society (1999)|x\n2|Plain|y\n' >items.txt

if [ "$mode" = --numpy ]; then
    "$exe" export m.smf np 2>err || bad "export"
    "$exe" recommend m.smf --users 1,7,120,33 -k 12 --json >users.json 2>err || bad "--users --json"
    "$exe" recommend m.smf --user 5 -k 300 --json >u5.json 2>err ||
        bad "--user --json with k = items"
    "$exe" recommend m.smf --all -k 10 --json >all.json 2>err || bad "--all --json"
    "$exe" recommend m.smf --all -k 10 >all.tsv 2>err || bad "--all"
    "$exe" similar m.smf --item 17 -k 20 >sim.tsv 2>err || bad "similar"
    "$exe" recommend m.smf --ratings 10:5,20:1,30:4,40:3,50:2 -k 15 --json >fold.json 2>err ||
        bad "--ratings --json"
    "$exe" similar m.smf --item 17 -k 20 --json >sim.json 2>err || bad "similar --json"
    if "$py" - <<'PY'; then ok "numpy: recommend, --all, fold-in, similar"; else bad "numpy cross-check"; fi
import json, sys
import numpy as np
P = np.load("np/P.npy").astype(np.float64)   # users x k
Q = np.load("np/Q.npy").astype(np.float64)   # k x items
S = P @ Q
rated = {}
for line in open("r.tsv"):
    u, i = line.split()[:2]
    rated.setdefault(int(u) - 1, set()).add(int(i) - 1)
# float32 sums over k = 40 terms: tolerance for near-ties
scale = np.abs(P).max() * np.abs(Q).max() * P.shape[1]
tol = 1e-5 * scale
errors = []
def check(name, row, got, excluded):
    s = row.copy()
    s[list(excluded)] = -np.inf
    order = sorted(range(len(s)), key=lambda j: (-s[j], j))
    order = [j for j in order if j not in excluded][: len(got)]
    for r, (g, j) in enumerate(zip(got, order)):
        if abs(g["score"] - row[g["item"] - 1]) > tol:
            errors.append(f"{name} rank {r}: score {g['score']} vs numpy {row[g['item'] - 1]}")
        if g["item"] - 1 != j and abs(row[g["item"] - 1] - row[j]) > tol:
            errors.append(f"{name} rank {r}: item {g['item']} vs numpy {j + 1}")
    want = min(len(row) - len(excluded), len(order))
    if len(got) != want:
        errors.append(f"{name}: {len(got)} items, numpy has {want}")
for obj in json.load(open("users.json")):
    u = obj["user"] - 1
    check(f"user {u + 1}", S[u], obj["items"], rated.get(u, set()))
one = json.load(open("u5.json"))
check("user 5 (all items)", S[4], one["items"], rated.get(4, set()))
allj = json.load(open("all.json"))
if [o["user"] for o in allj] != list(range(1, P.shape[0] + 1)):
    errors.append("--all: users not 1..n in order")
for obj in allj:
    u = obj["user"] - 1
    check(f"--all user {u + 1}", S[u], obj["items"], rated.get(u, set()))
tsv = [l.rstrip("\n").split("\t") for l in open("all.tsv")]
flat = [[str(o["user"]), str(it["rank"]), str(it["item"]), repr(it["score"])] for o in allj for it in o["items"]]
if [r[:3] for r in tsv] != [f[:3] for f in flat]:
    errors.append("--all TSV and --all --json disagree")
# fold-in: mean 3 -> 10, 30 liked (D = -1), 20, 50 disliked, 40 neutral
p = Q[:, 9] + Q[:, 29] - Q[:, 19] - Q[:, 49]
fold = json.load(open("fold.json"))
if fold["user"] is not None:
    errors.append("fold-in: user should be null")
check("fold-in", p @ Q, fold["items"], {9, 19, 29, 39, 49})
# similar: cosine of the item columns
n = np.linalg.norm(Q, axis=0)
cos = (Q[:, 16] @ Q) / (n[16] * n)
sim = json.load(open("sim.json"))
check("similar", cos, sim["items"], {16})
# The writer's scores (text and JSON alike): the shortest decimal that
# reads back to the kernel's double (Python's repr is an independent
# shortest round-trip), laid out as %.17g, byte-identical to %.17g with 17
# digits, and never longer than it.
import re
from decimal import Decimal
def check_score(where, s):
    v = float(s)
    old = "%.17g" % v
    if Decimal(s) != Decimal(repr(v)):
        errors.append(f"{where}: score {s} is not the shortest round-trip {repr(v)}")
    digits = len(re.sub(r"^[-0.]+|e.*$", "", s).replace(".", "").rstrip("0"))
    if len(s) > len(old) or (digits == 17 and s != old):
        errors.append(f"{where}: score {s} against %.17g {old}")
    x = Decimal(s).adjusted()
    sci = "e" in s
    if sci != (x < -4 or x >= 17) or not re.fullmatch(r"-?(\d+(\.\d*[1-9])?|\d(\.\d*[1-9])?e[-+]\d\d+)", s):
        errors.append(f"{where}: score {s} not in %g layout")
for r in tsv:
    check_score(f"--all user {r[0]} rank {r[1]}", r[3])
for r in [l.rstrip("\n").split("\t") for l in open("sim.tsv")]:
    check_score(f"similar rank {r[0]}", r[2])
# JSON carries the same digits as text (json.load keeps the double)
if [float(r[3]) for r in tsv] != [it["score"] for o in allj for it in o["items"]]:
    errors.append("--all TSV and --all --json scores differ")
raw = open("all.json").read()
for s in re.findall(r'"score":([^,}]+)', raw):
    check_score("--all --json", s)
for e in errors[:20]:
    print("   ", e)
sys.exit(1 if errors else 0)
PY
    echo "# $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

expect 0 "recommend --user" recommend m.smf --user 3 -k 4
[ "$(wc -l <out)" -eq 4 ] && [ "$(cut -f1 out | tr '\n' ' ')" = "1 2 3 4 " ] &&
    ok "--user prints rank, item, score lines" || bad "--user output: $(head -2 out)"
cp out single.txt
expect 0 "recommend --users" recommend m.smf --users 3,1 -k 4
[ "$(grep -c '^3	' out)" -eq 4 ] && [ "$(head -1 out | cut -f1,2)" = "3	1" ] &&
    ok "--users prints user, rank, item, score" || bad "--users output: $(head -2 out)"
[ "$(grep '^3	' out | cut -f2-)" = "$(cat single.txt)" ] &&
    ok "--users agrees with --user" || bad "--users vs --user"
expect 0 "recommend --all" recommend m.smf --all -k 3
[ "$(wc -l <out)" -eq 360 ] && [ "$(cut -f1 out | uniq | wc -l)" -eq 120 ] &&
    ok "--all: 3 lines for each of 120 users" || bad "--all line count $(wc -l <out)"
[ "$(grep '^3	' out | cut -f2-)" = "$(head -3 single.txt)" ] &&
    ok "--all agrees with --user" || bad "--all vs --user"
cp out all1.tsv
expect 0 "--all --threads 1" recommend m.smf --all -k 3 --threads 1
cmp -s out all1.tsv && ok "--all output independent of threads" || bad "--all threads differ"
# past the 256 KiB output buffer: 36,000 lines, the streamed and the batch
# paths byte for byte
expect 0 "--all -k 300 (several buffer drains)" recommend m.smf --all -k 300
cp out all300.tsv
[ "$(wc -l <all300.tsv)" -eq $((120 * 300 - $(wc -l <r.tsv))) ] &&
    ok "--all -k 300: every unrated item of every user" || bad "--all -k 300: $(wc -l <all300.tsv) lines"
expect 0 "--users 1..120 -k 300" recommend m.smf --users "$(seq -s, 1 120)" -k 300
cmp -s out all300.tsv && ok "--all and --users write the same bytes" || bad "--all vs --users bytes"
expect 0 "--all -k 300 --json" recommend m.smf --all -k 300 --json
head -c 2 out | grep -q '^\[' && [ "$(tail -c 4 out)" = "$(printf '}\n]')" ] &&
    [ "$(grep -c '^{"user": ' out)" -eq 120 ] && ok "--all --json: an array of 120 objects" ||
    bad "--all --json shape: $(head -c 60 out)"
# write errors: exit 1 with the reason, for the streamed and the single path
for args in "--all" "--all --json" "--all -k 300" "--user 3" "--users 1,2 --json"; do
    "$exe" recommend m.smf $args >/dev/full 2>err
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q '^signmf: cannot write to standard output: No space left' err; then
        ok "recommend $args > /dev/full: exit 1 with the reason"
    else
        bad "recommend $args > /dev/full: exit $rc, $(head -1 err)"
    fi
done
"$exe" similar m.smf --item 4 >/dev/full 2>err
[ $? -eq 1 ] && grep -q '^signmf: cannot write to standard output: No space left' err &&
    ok "similar > /dev/full: exit 1 with the reason" ||
    bad "similar > /dev/full"
# a closed pipe with SIGPIPE ignored: the write error stops the run
if (trap '' PIPE; "$exe" recommend m.smf --all -k 300 2>err | head -c 1 >/dev/null); then :; fi
grep -q 'cannot write to standard output: Broken pipe' err &&
    ok "--all into a closed pipe, SIGPIPE ignored: reported" || bad "--all into a closed pipe"
if timeout 60 bash -c "'$exe' recommend m.smf --all -k 50 | head -1" >out 2>err &&
    [ "$(wc -l <out)" -eq 1 ]; then ok "--all | head -1 stops early"; else bad "--all | head -1"; fi
expect 0 "recommend --json" recommend m.smf --user 2 -k 2 --json
grep -q '^{"user": 2, "items": \[{"rank":1,"item":' out && ok "--json shape" || bad "--json: $(cat out)"
expect 0 "--items titles (Latin-1 to UTF-8)" recommend m.smf --ratings 2:5,3:1 -k 300 --items items.txt
grep -q "$(printf 'Caf\xc3\xa9 Society')" out && ok "title converted to UTF-8" || bad "title: $(grep Caf out)"
expect 0 "recommend --ratings" recommend m.smf --ratings 10:5,20:1,30:4 -k 5
[ "$(wc -l <out)" -eq 5 ] && ! cut -f2 out | grep -qx -e 10 -e 20 -e 30 &&
    ok "fold-in leaves out the rated items" || bad "fold-in output: $(cat out)"
expect 0 "similar" similar m.smf --item 4 -k 6 --items items.txt
[ "$(wc -l <out)" -eq 6 ] && ! cut -f2 out | grep -qx 4 && ok "similar leaves the item out" ||
    bad "similar output: $(cat out)"
expect 0 "similar --json" similar m.smf --item 4 -k 2 --json
grep -q '^{"item": 4, "items": \[' out && ok "similar --json shape" || bad "similar --json: $(cat out)"

EXPECT_WORD=77777 expect 1 "unknown user" recommend m.smf --user 77777
EXPECT_WORD=555 expect 1 "unknown user in --users" recommend m.smf --users 1,555
EXPECT_WORD=9999 expect 1 "unknown item in --ratings" recommend m.smf --ratings 1:4,9999:2
EXPECT_WORD=9999 expect 1 "unknown item for similar" similar m.smf --item 9999
expect 1 "-k beyond the item count" recommend m.smf --user 1 -k 301
expect 0 "-k equal to the item count" recommend m.smf --user 1 -k 300
expect 1 "similar -k beyond the other items" similar m.smf --item 1 -k 300
EXPECT_WORD="'7x5'" expect 1 "malformed --ratings token" recommend m.smf --ratings 1:4,7x5
EXPECT_WORD="'3:'" expect 1 "--ratings missing a rating" recommend m.smf --ratings 3:
EXPECT_WORD="'4:0'" expect 1 "--ratings zero rating" recommend m.smf --ratings 4:0
EXPECT_WORD="'a'" expect 1 "malformed --users" recommend m.smf --users 1,a
expect 2 "two modes at once" recommend m.smf --user 1 --all
expect 2 "no mode" recommend m.smf
expect 2 "similar without --item" similar m.smf
expect 1 "item given twice in --ratings" recommend m.smf --ratings 5:4,5:2
expect 0 "recommend --help" recommend --help
grep -q 'p = -(D row) Q^T' out && ok "help documents the fold-in" || bad "help lacks fold-in"

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
