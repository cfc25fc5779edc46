/* The small dense algebra of the orthonormal method (src/linalg's two
 * kernels, kernels.h): X^T X of an n x k panel of doubles and X T with T
 * k x k, per kernel set, on the shapes an epoch meets (ua.base's users and
 * items at the default k = 20, and wider). Each figure is the median of
 * --reps calls; the ratio is the portable kernel's median over this one's,
 * timed in the same run. Every set's output is checked against the
 * portable bits first.
 *
 *   bench_dense [--reps N] [--shapes n:k,n:k,...]
 */
#include "bench_common.h"
#include "kernels/kernels.h"

typedef struct shape {
    size_t n, k;
} shape;

static double median_call(const sm_kernels *kn, int which, const double *X, const double *T,
                          double *out, size_t n, size_t k, int reps)
{
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t)
        return -1;
    for (int r = 0; r < reps; ++r) {
        double t0 = bench_now();
        if (which == 0) {
            memset(out, 0, k * k * sizeof *out);
            kn->xty_f64(X, k, X, k, n, k, k, out, k);
        } else {
            kn->mul_small_f64(X, k, n, k, T, k, out, k);
        }
        t[r] = bench_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
    double m = t[reps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int reps = 201;
    shape shapes[16] = {{943, 20}, {1682, 20}, {1682, 64}, {59047, 20}, {10000, 128}};
    size_t nshapes = 5;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--shapes") == 0 && i + 1 < argc) {
            nshapes = 0;
            for (char *s = strtok(argv[++i], ","); s && nshapes < 16; s = strtok(NULL, ",")) {
                unsigned long n, k;
                if (sscanf(s, "%lu:%lu", &n, &k) != 2 || n == 0 || k == 0) {
                    fprintf(stderr, "bench_dense: bad shape '%s' (want n:k)\n", s);
                    return 2;
                }
                shapes[nshapes++] = (shape){n, k};
            }
        } else {
            fprintf(stderr, "usage: bench_dense [--reps N] [--shapes n:k,...]\n");
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE);
    printf("dense kernels, double, median of %d calls; ratio = portable / this set\n", reps);
    printf("%-8s %8s %5s %-10s %10s %8s %7s\n", "kernel", "n", "k", "set", "us/call", "GFLOP/s",
           "ratio");
    int status = 0;
    for (size_t s = 0; s < nshapes; ++s) {
        size_t n = shapes[s].n, k = shapes[s].k;
        double *X = malloc(n * k * sizeof *X), *T = malloc(k * k * sizeof *T);
        double *ref_out = malloc((n > k ? n : k) * k * sizeof *ref_out);
        double *out = malloc((n > k ? n : k) * k * sizeof *out);
        if (!X || !T || !ref_out || !out) {
            fprintf(stderr, "bench_dense: out of memory at %zu x %zu\n", n, k);
            return 1;
        }
        uint64_t x = 88172645463325252ull;
        for (size_t i = 0; i < n * k; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            X[i] = (double)(x >> 11) / 9007199254740992.0 - 0.5;
        }
        for (size_t i = 0; i < k * k; ++i)
            T[i] = X[i % (n * k)] * 2.0;
        for (int which = 0; which < 2; ++which) {
            const char *name = which ? "X T" : "X^T X";
            size_t outn = (which ? n : k) * k;
            median_call(ref, which, X, T, ref_out, n, k, 1);
            double tref = median_call(ref, which, X, T, ref_out, n, k, reps);
            double flops = 2.0 * (double)n * (double)k * (double)k;
            for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
                const sm_kernels *kn = sm_kernels_for((sm_isa)isa);
                if (!kn)
                    continue;
                double t = isa == 0 ? tref : median_call(kn, which, X, T, out, n, k, reps);
                if (isa != 0 && memcmp(out, ref_out, outn * sizeof *out) != 0) {
                    fprintf(stderr, "bench_dense: %s %s differs from portable at %zu x %zu\n",
                            kn->name, name, n, k);
                    status = 1;
                }
                printf("%-8s %8zu %5zu %-10s %10.2f %8.2f %7.2f\n", name, n, k, kn->name, t * 1e6,
                       flops / t * 1e-9, tref / t);
            }
        }
        free(X), free(T), free(ref_out), free(out);
    }
    return status;
}
