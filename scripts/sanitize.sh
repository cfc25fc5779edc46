#!/usr/bin/env bash
# Memory-safety checks (issue 5):
#  1. the whole test suite built a second time with AddressSanitizer +
#     UndefinedBehaviorSanitizer (gcc, build-asan/) and run by meson test;
#  2. valgrind memcheck (--leak-check=full --error-exitcode=1) on a plain
#     build (build-valgrind/) of a short `signmf train`, `recommend` (single
#     user, --all, fold-in), `similar`, `export`, `loss` and, when the
#     command exists, `eval`;
#  3. ThreadSanitizer (clang, build-tsan/): `signmf train` and `recommend
#     --all` with 2 OpenMP threads, and a small driver (below) training two
#     models on two pthreads at once while four more threads serve
#     recommendations from one shared model. Criterion's arena cannot start
#     under TSan, hence the driver instead of tests/test_api.c.
#
# Usage: scripts/sanitize.sh [asan|valgrind|tsan|all]   (default all)
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
    local exe=${SIGNMF_EXE:-} tmp rc=0
    if [ -z "$exe" ]; then
        if [ ! -f "$vgb/build.ninja" ]; then
            meson setup "$vgb" "$root" -Dbuildtype=debugoptimized -Dtests=false || return 1
        fi
        ninja -C "$vgb" src/cli/signmf || return 1
        exe=$vgb/src/cli/signmf
    fi
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
    step "train --method orthonormal --checkpoint-every" train "$tmp/train.tsv" --method orthonormal \
        --dim 6 --epochs 4 --threads 2 --quiet --out "$tmp/o.smf" --checkpoint-every 2
    step "train --resume (orthonormal)" train "$tmp/train.tsv" --resume "$tmp/o.smf" --epochs 6 \
        --quiet --out "$tmp/o2.smf"
    step "recommend --ratings (orthonormal)" recommend "$tmp/o2.smf" --ratings 1:5,2:1,3:4 -k 5
    step "similar (orthonormal)" similar "$tmp/o2.smf" --item 1 -k 5
    step "export (orthonormal)" export "$tmp/o2.smf" "$tmp/onpy"
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

run_tsan() {
    command -v clang >/dev/null || { echo "sanitize.sh: clang not found" >&2; return 1; }
    local tsb=${TSAN_BUILD:-$root/build-tsan} tmp rc=0
    if [ ! -f "$tsb/build.ninja" ]; then
        # -mfma: clang ignores the '#pragma GCC target("fma")' of score_avx2.c
        CC=clang CFLAGS=-mfma meson setup "$tsb" "$root" -Db_sanitize=thread -Db_lundef=false \
            -Dbuildtype=debugoptimized -Dtests=false || return 1
    fi
    ninja -C "$tsb" src/cli/signmf src/libsignmf.a || return 1
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/signmf-tsan.XXXXXX")
    # libomp is not instrumented: its internal synchronisation is invisible
    # to TSan and would be reported as races.
    export TSAN_OPTIONS=${TSAN_OPTIONS:-ignore_noninstrumented_modules=1:halt_on_error=0:exitcode=66}
    cat >"$tmp/driver.c" <<'EOC'
#include "signmf.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static signmf_ratings *make(size_t users, size_t items, uint64_t seed)
{
    size_t cap = users * items, n = 0;
    int64_t *u = malloc(cap * 8), *it = malloc(cap * 8);
    double *r = malloc(cap * 8);
    uint64_t x = seed;
    for (size_t i = 0; i < users; i++)
        for (size_t j = 0; j < items; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            if ((x >> 60) < 4) {
                u[n] = (int64_t)i + 1, it[n] = (int64_t)j + 1;
                r[n++] = (double)(1 + (x >> 33) % 5);
            }
        }
    signmf_ratings *out = NULL;
    if (signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_AUTO, &out, NULL) != SIGNMF_OK)
        abort();
    free(u), free(it), free(r);
    return out;
}
typedef struct { signmf_ratings *r; size_t dim; signmf_model *m; } job;
static void *train(void *a)
{
    job *j = a;
    signmf_params p = signmf_params_default();
    p.dim = j->dim, p.threads = 2, p.rescale = 1;
    signmf_trainer *t;
    if (signmf_trainer_create(j->r, &p, &t, NULL) || signmf_trainer_run(t, 4, NULL, NULL, NULL) ||
        signmf_trainer_model(t, &j->m))
        abort();
    signmf_trainer_free(t);
    return NULL;
}
static signmf_model *shared;
static void *serve(void *a)
{
    (void)a;
    signmf_rec out[5];
    size_t n;
    for (size_t u = 0; u < signmf_model_users(shared); u++)
        if (signmf_recommend(shared, signmf_model_user_id(shared, u), 5, out, &n, NULL))
            abort();
    return NULL;
}
int main(void)
{
    job a = {make(120, 90, 1), 24, NULL}, b = {make(80, 150, 2), 17, NULL};
    train(&a);
    shared = a.m;
    a.m = NULL;
    pthread_t th[6];
    pthread_create(&th[0], NULL, train, &a);
    pthread_create(&th[1], NULL, train, &b);
    for (int i = 2; i < 6; i++)
        pthread_create(&th[i], NULL, serve, NULL);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    signmf_model_free(a.m), signmf_model_free(b.m), signmf_model_free(shared);
    signmf_ratings_free(a.r), signmf_ratings_free(b.r);
    puts("tsan driver done");
    return 0;
}
EOC
    if ! clang -O1 -g -fsanitize=thread -fopenmp -I"$root/include" "$tmp/driver.c" \
        "$tsb/src/libsignmf.a" -lz -lm -lpthread -o "$tmp/driver"; then
        rm -rf "$tmp"
        return 1
    fi
    local exe=$tsb/src/cli/signmf
    "$exe" synth --users 300 --items 400 --ratings 12000 >"$tmp/r.tsv" || return 1
    tstep() { # DESC CMD...
        local desc=$1
        shift
        if "$@" >"$tmp/out" 2>"$tmp/err" && ! grep -q "ThreadSanitizer" "$tmp/err"; then
            echo "tsan ok   - $desc"
        else
            echo "tsan FAIL - $desc" >&2
            grep -A20 "WARNING: ThreadSanitizer" "$tmp/err" | head -60 >&2
            rc=1
        fi
    }
    tstep "train, 2 OpenMP threads" "$exe" train "$tmp/r.tsv" --dim 40 --epochs 3 --threads 2 \
        --quiet --out "$tmp/m.smf"
    tstep "train --rescale f64, 2 OpenMP threads" "$exe" train "$tmp/r.tsv" --dim 33 --epochs 3 \
        --threads 2 --rescale --precision f64 --quiet --out "$tmp/m64.smf"
    tstep "recommend --all, 2 OpenMP threads" "$exe" recommend "$tmp/m.smf" --all -k 5 --threads 2
    tstep "two trainers + four recommenders on pthreads" "$tmp/driver"
    rm -rf "$tmp"
    return $rc
}

case $what in
asan) run_asan || status=1 ;;
valgrind) run_valgrind || status=1 ;;
tsan) run_tsan || status=1 ;;
all)
    run_asan || status=1
    run_valgrind || status=1
    run_tsan || status=1
    ;;
*)
    echo "usage: scripts/sanitize.sh [asan|valgrind|tsan|all]" >&2
    exit 2
    ;;
esac
exit $status
