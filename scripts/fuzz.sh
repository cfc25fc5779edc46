#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan), fuzz each one for a
# bounded time, then replay every seed corpus file and every saved crash
# regression as a test. Exits non-zero on any crash, leak, UB report or
# timeout.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60; 0 = replay only)
# Env:   FUZZ_BUILD (default build-fuzz), FUZZ_JOBS (parallel targets, default 2)
#
# New interesting inputs go to $FUZZ_BUILD/fuzz-corpus/<target>/, never into
# the committed seeds. A crash leaves crash-* files in $FUZZ_BUILD/fuzz-out/;
# once fixed, copy the input to tests/fuzz/regressions/<target>/.
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${FUZZ_JOBS:-2}
targets=(tsv csv mm npy npz model cli_args ratings_list)

command -v clang >/dev/null || { echo "fuzz.sh: clang not found" >&2; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
    # The library must carry coverage instrumentation as well, hence the
    # CFLAGS; -mfma because clang ignores the '#pragma GCC target("fma")' of
    # src/kernels/score_avx2.c.
    CC=clang CFLAGS="-fsanitize=fuzzer-no-link -mfma" \
        meson setup "$build" "$root" -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" $(for t in "${targets[@]}"; do echo "tests/fuzz/fuzz_$t"; done) >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$build/fuzz-out"
status=0

run_one() { # TARGET: fuzz for $secs seconds
    local t=$1 work=$build/fuzz-corpus/$1
    mkdir -p "$work"
    "$build/tests/fuzz/fuzz_$t" "$work" "$root/tests/fuzz/corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -close_fd_mask=3 \
        -artifact_prefix="$build/fuzz-out/$t-" -print_final_stats=1 \
        >"$build/fuzz-out/$t.log" 2>&1
}

if [ "$secs" -gt 0 ]; then
    pids=()
    names=()
    for t in "${targets[@]}"; do
        run_one "$t" &
        pids+=($!)
        names+=("$t")
        if [ "${#pids[@]}" -ge "$jobs" ]; then
            if wait "${pids[0]}"; then
                echo "fuzz ${names[0]}: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-out/${names[0]}.log" | grep -o '[0-9]*$') runs)"
            else
                echo "fuzz ${names[0]}: FAILED, see $build/fuzz-out/${names[0]}.log" >&2
                status=1
            fi
            pids=("${pids[@]:1}")
            names=("${names[@]:1}")
        fi
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            echo "fuzz ${names[$i]}: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-out/${names[$i]}.log" | grep -o '[0-9]*$') runs)"
        else
            echo "fuzz ${names[$i]}: FAILED, see $build/fuzz-out/${names[$i]}.log" >&2
            status=1
        fi
    done
fi

# Replay: every committed seed and regression input, one run each.
for t in "${targets[@]}"; do
    files=()
    for d in "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && while IFS= read -r -d '' f; do files+=("$f"); done \
            < <(find "$d" -type f -print0 | sort -z)
    done
    [ "${#files[@]}" -gt 0 ] || continue
    if "$build/tests/fuzz/fuzz_$t" -runs=1 -close_fd_mask=3 "${files[@]}" >"$build/fuzz-out/$t.replay.log" 2>&1; then
        echo "replay $t: ${#files[@]} inputs ok"
    else
        echo "replay $t: FAILED, see $build/fuzz-out/$t.replay.log" >&2
        status=1
    fi
done
exit $status
