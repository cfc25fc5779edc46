#!/usr/bin/env bash
# Compare the sign rules on MovieLens 100k ua.base / ua.test: for each rule
# and learning rate, one float32 run with evaluation every 5 epochs; prints
# a Markdown table of the test figures at the chosen epochs, plus the
# popularity baseline. docs/sign-rules.md holds its output.
#
# Usage: scripts/sign-rules.sh [SIGNMF] [DATA_DIR]
#   SIGNMF    the signmf binary (default: build/src/cli/signmf)
#   DATA_DIR  directory holding ml-100k/ (default: $SIGNMF_DATA_DIR, else
#             /work/shared/data)
# Environment: DIM (512), LRS ("1e-3 1e-2"), EPOCHS ("5 20 50"),
#   RULES ("mean threshold:4 threshold:3 observed"), K (10), THREADS (2).
set -eu

exe=${1:-build/src/cli/signmf}
data=${2:-${SIGNMF_DATA_DIR:-/work/shared/data}}
ml=$data/ml-100k
dim=${DIM:-512}
lrs=${LRS:-"1e-3 1e-2"}
epochs=${EPOCHS:-"5 20 50"}
rules=${RULES:-"mean threshold:4 threshold:3 observed"}
k=${K:-10}
threads=${THREADS:-2}
[ -f "$ml/ua.base" ] || {
    echo "sign-rules.sh: $ml/ua.base not found" >&2
    exit 1
}
max=0
for e in $epochs; do [ "$e" -gt "$max" ] && max=$e; done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/signmf-rules.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "ua.base -> ua.test, dim $dim, float32, $threads threads, k $k, relevant >= 4;"
echo "$("$exe" --version)"
echo
echo "| rule | lr | epochs | precision@$k | recall@$k | ndcg@$k | map@$k | hit@$k | auc | coverage |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for rule in $rules; do
    for lr in $lrs; do
        log=$tmp/log.csv
        "$exe" train "$ml/ua.base" --dim "$dim" --lr "$lr" --epochs "$max" --precision f32 \
            --threads "$threads" --sign-rule "$rule" --test "$ml/ua.test" --eval-every 5 \
            --eval-k "$k" --quiet --log "$log" --out "$tmp/m.smf" >"$tmp/table.txt"
        for e in $epochs; do
            awk -F, -v e="$e" -v rule="$rule" -v lr="$lr" '
                NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                $1 == e && $col["ndcg"] != "" {
                    printf "| %s | %s | %s", rule, lr, e
                    n = split("precision recall ndcg map hit auc coverage", names, " ")
                    for (i = 1; i <= n; i++) printf " | %.4f", $col[names[i]]
                    printf " |\n"
                }' "$log"
        done
    done
done
# The popularity ranking depends only on the training data.
awk -v k="$k" '
    $1 ~ /@/ || $1 == "auc" || $1 == "coverage" { v[$1] = $3 }
    END {
        printf "| popularity | - | - | %s | %s | %s | %s | %s | %s | %s |\n",
            v["precision@" k], v["recall@" k], v["ndcg@" k], v["map@" k], v["hit@" k],
            v["auc"], v["coverage"]
    }' "$tmp/table.txt"
