/* The gather roofline behind the blocked training pass: random 256-byte
 * rows (one float32 panel row) summed into registers, from tables of
 * growing size, as the gradient kernels gather source rows. The rate in
 * GB/s of gathered rows is the ceiling for an epoch whose sources come
 * from a table of that size; `bench_epoch` reports the achieved rate as
 * signs x k per second (x 4 bytes for float32).
 *
 *   bench_gather [--threads T] [--gathers N]
 *
 * AVX-512 loads when the CPU has them (chosen at run time), else plain C
 * that the compiler vectorises for the baseline. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float sum_avx512(const float *T, const uint32_t *idx,
                                                           size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; ++i) {
        const float *r = T + (size_t)idx[i] * 64;
        a0 = _mm512_add_ps(a0, _mm512_load_ps(r));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(r + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(r + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(r + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
#endif

static float sum_plain(const float *T, const uint32_t *idx, size_t n)
{
    float acc[64] = {0};
    for (size_t i = 0; i < n; ++i) {
        const float *r = T + (size_t)idx[i] * 64;
        for (int t = 0; t < 64; ++t)
            acc[t] += r[t];
    }
    float s = 0;
    for (int t = 0; t < 64; ++t)
        s += acc[t];
    return s;
}

int main(int argc, char **argv)
{
    int threads = 2;
    size_t n = 20000000;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gathers") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_gather [--threads T] [--gathers N]\n");
            return 2;
        }
    }
    int wide = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    wide = __builtin_cpu_supports("avx512f");
#endif
    const size_t rows[] = {1024, 4096, 8192, 16384, 65536, 262144};
    uint32_t *idx = malloc(n * sizeof *idx);
    if (idx == NULL || threads < 1)
        return 1;
    printf("# random 256-byte row gathers, %d threads, %s loads\n", threads,
           wide ? "AVX-512" : "baseline");
    printf("%9s %9s %12s\n", "rows", "MB", "GB_per_s");
    uint64_t x = 88172645463325252ull;
    for (size_t s = 0; s < sizeof rows / sizeof *rows; ++s) {
        size_t R = rows[s];
        float *T = aligned_alloc(64, R * 256);
        if (T == NULL)
            return 1;
        for (size_t i = 0; i < R * 64; ++i)
            T[i] = 1.0f;
        for (size_t i = 0; i < n; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            idx[i] = (uint32_t)(x % R);
        }
        double best = 1e30;
        float sink = 0;
        for (int rep = 0; rep < 5; ++rep) {
            double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
            {
                size_t T0 = (size_t)omp_get_thread_num(), TN = (size_t)omp_get_num_threads();
                size_t a = n * T0 / TN, b = n * (T0 + 1) / TN;
#if defined(__x86_64__)
                sink += wide ? sum_avx512(T, idx + a, b - a) : sum_plain(T, idx + a, b - a);
#else
                sink += sum_plain(T, idx + a, b - a);
#endif
            }
            double t = now() - t0;
            best = t < best ? t : best;
        }
        printf("%9zu %9.1f %12.1f%s\n", R, (double)R * 256 / 1e6, (double)n * 256 / best / 1e9,
               sink == 0 ? " (?)" : "");
        free(T);
    }
    free(idx);
    return 0;
}
