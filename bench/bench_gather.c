/* The gather roofline behind the training pass: random rows (one panel
 * row: 64, 128 or 256 bytes of float32) summed into registers, from tables
 * of growing size, as the gradient kernels gather source rows. The rate in
 * GB/s of gathered rows is the ceiling for an epoch whose sources come
 * from a table of that size; `bench_epoch` reports the achieved rate as
 * signs x k per second (x 4 bytes for float32). Tables sit on transparent
 * huge pages where the kernel allows, as the trainer's embeddings do.
 *
 *   bench_gather [--threads T] [--gathers N] [--row-bytes 64|128|256]
 *                [--degree-order]
 *
 * --degree-order (issue 13's locality probe): rows are drawn with
 * power-law popularity (row of rank i with weight 1 / (i + 1), like the
 * items of MovieLens and of `signmf synth`) and each table is gathered
 * twice per repetition, interleaved: with the ranks scattered over the
 * table by a random permutation (index order) and with rank i stored at
 * row i (degree order, the hot rows together). A row is at least one
 * cache line, so placement can only matter through pages, DRAM rows and
 * the prefetchers.
 *
 * AVX-512 or AVX2 loads when the CPU has them (chosen at run time), else
 * plain C that the compiler vectorises for the baseline. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
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

__attribute__((target("avx2"), always_inline)) static inline float
sum_avx2_nv(const float *T, const uint32_t *idx, size_t n, const int nv)
{
    __m256 a[8];
    for (int v = 0; v < 8; ++v)
        a[v] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; ++i) {
        const float *r = T + (size_t)idx[i] * 8 * (size_t)nv;
        for (int v = 0; v < nv; ++v)
            a[v] = _mm256_add_ps(a[v], _mm256_load_ps(r + 8 * v));
    }
    for (int v = 1; v < 8; ++v)
        a[0] = _mm256_add_ps(a[0], a[v]);
    float o[8];
    _mm256_storeu_ps(o, a[0]);
    return o[0] + o[1] + o[2] + o[3] + o[4] + o[5] + o[6] + o[7];
}

__attribute__((target("avx2"))) static float sum_avx2(const float *T, const uint32_t *idx, size_t n,
                                                      size_t row_floats)
{
    switch (row_floats) {
    case 16:
        return sum_avx2_nv(T, idx, n, 2);
    case 32:
        return sum_avx2_nv(T, idx, n, 4);
    default:
        return sum_avx2_nv(T, idx, n, 8);
    }
}
#endif

static float sum_plain(const float *T, const uint32_t *idx, size_t n, size_t rf)
{
    float acc[64] = {0};
    for (size_t i = 0; i < n; ++i) {
        const float *r = T + (size_t)idx[i] * rf;
        for (size_t t = 0; t < rf; ++t)
            acc[t] += r[t];
    }
    float s = 0;
    for (size_t t = 0; t < rf; ++t)
        s += acc[t];
    return s;
}

static double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* One timed pass: the n rows listed in idx gathered, split evenly over
 * the threads; the sums go to *sink so that nothing is optimised away. */
static double timed_sums(const float *T, const uint32_t *idx, size_t n, size_t rf, int isa,
                         int threads, float *sink_out)
{
    float sink = 0;
    double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        size_t T0 = (size_t)omp_get_thread_num(), TN = (size_t)omp_get_num_threads();
        size_t a = n * T0 / TN, b = n * (T0 + 1) / TN;
#if defined(__x86_64__)
        sink += isa == 2   ? sum_avx512(T, idx + a, b - a)
                : isa == 1 ? sum_avx2(T, idx + a, b - a, rf)
                           : sum_plain(T, idx + a, b - a, rf);
#else
        (void)isa;
        sink += sum_plain(T, idx + a, b - a, rf);
#endif
    }
    double t = now() - t0;
    *sink_out += sink;
    return t;
}

int main(int argc, char **argv)
{
    int threads = 2;
    size_t n = 20000000, row_bytes = 256;
    int degree = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gathers") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--row-bytes") && i + 1 < argc)
            row_bytes = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--degree-order"))
            degree = 1;
        else {
            fprintf(stderr, "usage: bench_gather [--threads T] [--gathers N] "
                            "[--row-bytes 64|128|256] [--degree-order]\n");
            return 2;
        }
    }
    if (row_bytes != 64 && row_bytes != 128 && row_bytes != 256) {
        fprintf(stderr, "bench_gather: --row-bytes must be 64, 128 or 256\n");
        return 2;
    }
    size_t rf = row_bytes / 4;
    int isa = 0; /* 0 baseline, 1 AVX2, 2 AVX-512 */
#if defined(__x86_64__)
    __builtin_cpu_init();
    isa = __builtin_cpu_supports("avx512f") && rf == 64 ? 2
          : __builtin_cpu_supports("avx2")              ? 1
                                                        : 0;
#endif
    /* the same bytes per row count, whatever the row width */
    const size_t sizes[] = {256u << 10, 512u << 10, 1u << 20, 2u << 20,
                            4u << 20,   16u << 20,  64u << 20};
    uint32_t *idx = malloc(n * sizeof *idx), *sorted = degree ? malloc(n * sizeof *idx) : NULL;
    if (idx == NULL || threads < 1 || (degree && !sorted))
        return 1;
    printf("# random %zu-byte row gathers, %d threads, %s loads\n", row_bytes, threads,
           isa == 2   ? "AVX-512"
           : isa == 1 ? "AVX2"
                      : "baseline");
    if (degree)
        printf("%9s %9s %12s %12s %8s\n", "rows", "MB", "index_GBps", "degree_GBps", "t_ratio");
    else
        printf("%9s %9s %12s\n", "rows", "MB", "GB_per_s");
    uint64_t x = 88172645463325252ull;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s) {
        size_t R = sizes[s] / row_bytes,
               bytes = (R * row_bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
        float *T = aligned_alloc(2u << 20, bytes);
        if (T == NULL)
            return 1;
#if defined(MADV_HUGEPAGE)
        madvise(T, bytes, MADV_HUGEPAGE);
#endif
        for (size_t i = 0; i < R * rf; ++i)
            T[i] = 1.0f;
        for (size_t i = 0; i < n && !degree; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            idx[i] = (uint32_t)(x % R);
        }
        if (degree) {
            /* ranks by inverting the cumulative 1/(i+1) weights, then a
             * random placement of the ranks */
            double *cum = malloc(R * sizeof *cum);
            uint32_t *place = malloc(R * sizeof *place);
            if (!cum || !place)
                return 1;
            double c = 0;
            for (size_t i = 0; i < R; ++i)
                cum[i] = c += 1.0 / (double)(i + 1);
            for (size_t i = 0; i < R; ++i)
                place[i] = (uint32_t)i;
            for (size_t i = R - 1; i > 0; --i) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t j = x % (i + 1);
                uint32_t t = place[i];
                place[i] = place[j], place[j] = t;
            }
            for (size_t i = 0; i < n; ++i) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                double u = (double)(x >> 11) * 0x1p-53 * c;
                size_t lo = 0, hi = R - 1;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (cum[mid] < u)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                sorted[i] = (uint32_t)lo;
                idx[i] = place[lo];
            }
            free(cum);
            free(place);
        }
        double best = 1e30, bests = 1e30;
        float sink = 0;
        /* even repetitions gather in degree order first, odd ones second */
        for (int rep = 0; rep < (degree ? 10 : 5); ++rep) {
            if (degree && rep % 2 == 0)
                bests = dmin(bests, timed_sums(T, sorted, n, rf, isa, threads, &sink));
            best = dmin(best, timed_sums(T, idx, n, rf, isa, threads, &sink));
            if (degree && rep % 2 == 1)
                bests = dmin(bests, timed_sums(T, sorted, n, rf, isa, threads, &sink));
        }
        if (degree)
            printf("%9zu %9.2f %12.1f %12.1f %8.3f%s\n", R, (double)R * row_bytes / 1e6,
                   (double)n * row_bytes / best / 1e9, (double)n * row_bytes / bests / 1e9,
                   bests / best, sink == 0 ? " (?)" : "");
        else
            printf("%9zu %9.2f %12.1f%s\n", R, (double)R * row_bytes / 1e6,
                   (double)n * row_bytes / best / 1e9, sink == 0 ? " (?)" : "");
        free(T);
    }
    free(idx);
    free(sorted);
    return 0;
}
