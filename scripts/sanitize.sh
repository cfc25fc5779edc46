#!/usr/bin/env bash
# Memory-safety checks (issue 5):
#  1. the whole test suite built a second time with AddressSanitizer +
#     UndefinedBehaviorSanitizer (gcc, build-asan/) and run by meson test;
#  2. valgrind memcheck (--leak-check=full --error-exitcode=1) on a plain
#     build (build-valgrind/) of a short `signmf train`, `recommend` (single
#     user, --all, fold-in), `similar`, `export`, `loss` and, when the
#     command exists, `eval`.
#
# Usage: scripts/sanitize.sh [asan|valgrind|all]   (default all)
# Env:   ASAN_BUILD (build-asan), VALGRIND_BUILD (build-valgrind),
#        MESON_TEST_ARGS (extra arguments for meson test, e.g. "--suite unit")
# Exit status non-zero when a build, a test or a memcheck run fails.
set -uo pipefail

what=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
asan=${ASAN_BUILD:-$root/build-asan}
vgb=${VALGRIND_BUILD:-$root/build-valgrind}
status=0

run_asan() {
    if [ ! -f "$asan/build.ninja" ]; then
        # b_lundef=false: the sanitizer runtimes resolve symbols at load time.
        meson setup "$asan" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
            -Dbuildtype=debugoptimized -Dwerror_ci=true || return 1
    fi
    ninja -C "$asan" || return 1
    # halt_on_error makes any UBSan report a test failure; leaks fail too.
    # Sanitized code runs several times slower: stretch the timeouts.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        meson test -C "$asan" --print-errorlogs --timeout-multiplier 4 ${MESON_TEST_ARGS:-}
}

run_valgrind() {
    command -v valgrind >/dev/null || { echo "sanitize.sh: valgrind not found" >&2; return 1; }
    if [ ! -f "$vgb/build.ninja" ]; then
        meson setup "$vgb" "$root" -Dbuildtype=debugoptimized -Dtests=false || return 1
    fi
    ninja -C "$vgb" src/cli/signmf || return 1
    local exe=$vgb/src/cli/signmf tmp rc=0
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/signmf-vg.XXXXXX")
    # valgrind does not emulate AVX-512 (it hides it from cpuid, so the
    # dispatcher picks AVX2 by itself); GOMP_SPINCOUNT=0 stops libgomp
    # spinning, which valgrind serialises very slowly.
    export GOMP_SPINCOUNT=0
    local vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
        --track-origins=yes --quiet)
    "$exe" synth --users 60 --items 80 --ratings 1500 --seed 2 >"$tmp/r.tsv" || return 1
    head -n 1200 "$tmp/r.tsv" >"$tmp/train.tsv"
    tail -n 300 "$tmp/r.tsv" >"$tmp/test.tsv"
    step() { # DESC ARGS...
        local desc=$1
        shift
        if "${vg[@]}" "$exe" "$@" >"$tmp/out" 2>"$tmp/err"; then
            echo "valgrind ok   - $desc"
        else
            echo "valgrind FAIL - $desc" >&2
            sed 's/^/    /' "$tmp/err" | head -40 >&2
            rc=1
        fi
    }
    step "train" train "$tmp/train.tsv" --dim 16 --epochs 3 --threads 2 --quiet \
        --out "$tmp/m.smf" --log "$tmp/log.csv"
    step "train --rescale --checkpoint-every" train "$tmp/train.tsv" --dim 8 --epochs 4 \
        --threads 2 --rescale --quiet --out "$tmp/m2.smf" --checkpoint-every 2
    step "train --resume" train "$tmp/train.tsv" --resume "$tmp/m2.smf" --epochs 6 --quiet \
        --out "$tmp/m3.smf"
    step "loss --model" loss "$tmp/train.tsv" --model "$tmp/m.smf" --threads 2
    step "recommend --user" recommend "$tmp/m.smf" --user 1 -k 5
    step "recommend --all --json" recommend "$tmp/m.smf" --all -k 3 --json --threads 2
    step "recommend --ratings" recommend "$tmp/m.smf" --ratings 1:5,2:1,3:4 -k 5
    step "similar" similar "$tmp/m.smf" --item 1 -k 5
    step "export" export "$tmp/m.smf" "$tmp/npy"
    if "$exe" eval --help >/dev/null 2>&1; then
        step "eval" eval "$tmp/m.smf" "$tmp/test.tsv"
    else
        echo "valgrind skip - eval (no eval command in this build)"
    fi
    # rejected input: the error paths must not leak either
    printf '1\t1\t5\n1\tx\t3\n' >"$tmp/bad.tsv"
    if "${vg[@]}" "$exe" train "$tmp/bad.tsv" --quiet >/dev/null 2>"$tmp/err"; then
        echo "valgrind FAIL - bad input was accepted" >&2
        rc=1
    elif grep -q "ERROR SUMMARY: [1-9]\|definitely lost: [1-9]" "$tmp/err"; then
        echo "valgrind FAIL - errors on the rejection path" >&2
        rc=1
    else
        echo "valgrind ok   - rejection path"
    fi
    rm -rf "$tmp"
    return $rc
}

case $what in
asan) run_asan || status=1 ;;
valgrind) run_valgrind || status=1 ;;
all)
    run_asan || status=1
    run_valgrind || status=1
    ;;
*)
    echo "usage: scripts/sanitize.sh [asan|valgrind|all]" >&2
    exit 2
    ;;
esac
exit $status
