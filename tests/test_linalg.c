/* The dense algebra (src/linalg): kernels identical on every ISA, sums
 * independent of the thread count, CholeskyQR2 on good, ill-conditioned
 * and rank-deficient input, and the Jacobi SVD. numpy agreement is shown
 * through the whole method in tests/parity/test_ortho_numpy.py. */
#include "linalg/linalg.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *randm(size_t n, size_t m, unsigned seed)
{
    double *a = malloc((n * m + 1) * sizeof *a);
    srand(seed);
    for (size_t i = 0; i < n * m; ++i)
        a[i] = (double)rand() / RAND_MAX * 2 - 1;
    return a;
}

Test(linalg, dense_kernels_identical_on_every_isa)
{
    const size_t ns[] = {0, 1, 3, 4, 17, 1000}, ks[] = {1, 3, 8, 16, 17, 20, 33, 64, 130};
    /* output widths: every tail of 0-3 columns beside whole strips of 1-3
     * vectors (the AVX2 tiles) */
    const size_t k2s[] = {1, 2, 3, 4, 7, 8, 12, 17, 20, 30, 32, 33, 130};
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE);
    int compared = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; ++a)
        for (size_t b = 0; b < sizeof ks / sizeof *ks; ++b)
            for (size_t c = 0; c < sizeof k2s / sizeof *k2s; ++c) {
                size_t n = ns[a], k1 = ks[b], k2 = k2s[c], ldx = k1 + 3, ldy = k2 + 1;
                double *X = randm(n, ldx, 1 + (unsigned)a), *Y = randm(n, ldy, 7 + (unsigned)b);
                double *T = randm(k1, k2, 3);
                double *C0 = randm(k1, k2, 9), *C1 = malloc(k1 * k2 * sizeof *C1);
                double *Y0 = malloc((n * k2 + 1) * sizeof *Y0),
                       *Y1 = malloc((n * k2 + 1) * sizeof *Y1);
                memcpy(C1, C0, k1 * k2 * sizeof *C1);
                ref->xty_f64(X, ldx, Y, ldy, n, k1, k2, C0, k2);
                ref->mul_small_f64(X, ldx, n, k1, T, k2, Y0, k2);
                for (int isa = 1; isa < SM_ISA_COUNT; ++isa) {
                    const sm_kernels *k = sm_kernels_for((sm_isa)isa);
                    if (!k)
                        continue;
                    double *C = malloc(k1 * k2 * sizeof *C);
                    double *Cin = randm(k1, k2, 9);
                    memcpy(C, Cin, k1 * k2 * sizeof *C);
                    k->xty_f64(X, ldx, Y, ldy, n, k1, k2, C, k2);
                    k->mul_small_f64(X, ldx, n, k1, T, k2, Y1, k2);
                    cr_assert_eq(memcmp(C, C0, k1 * k2 * sizeof *C), 0, "%s xty %zu x %zu x %zu",
                                 k->name, n, k1, k2);
                    cr_assert_eq(memcmp(Y1, Y0, n * k2 * sizeof *Y0), 0, "%s mul %zu x %zu x %zu",
                                 k->name, n, k1, k2);
                    compared++;
                    free(C), free(Cin);
                }
                /* the portable order, spelt out */
                if (n > 0 && k1 > 2 && k2 > 2) {
                    double *Cin = randm(k1, k2, 9), s = Cin[2 * k2 + 1];
                    for (size_t r = 0; r < n; ++r)
                        s += X[r * ldx + 2] * Y[r * ldy + 1];
                    cr_assert_eq(s, C0[2 * k2 + 1]);
                    free(Cin);
                }
                free(X), free(Y), free(T), free(C0), free(C1), free(Y0), free(Y1);
            }
    if (compared == 0)
        cr_skip_test("only the portable kernels run on this CPU");
}

Test(linalg, xty_and_orthonormalize_ignore_threads)
{
    size_t n = 5000, k = 37;
    double *X = randm(n, k, 4), *C1 = malloc(k * k * sizeof *C1), *Cn = malloc(k * k * sizeof *Cn);
    cr_assert_gt(n / sm_xty_block_rows(n, k, k), 1, "the test needs several blocks");
    cr_assert_eq(sm_xty(NULL, X, k, X, k, n, k, k, 1, C1), SIGNMF_OK);
    double *A = malloc(n * k * sizeof *A), *B = malloc(n * k * sizeof *B);
    memcpy(A, X, n * k * sizeof *A);
    size_t rep;
    cr_assert_eq(sm_orthonormalize(NULL, A, n, k, k, 1, &rep), SIGNMF_OK);
    for (int th = 2; th <= 8; th *= 2) {
        cr_assert_eq(sm_xty(NULL, X, k, X, k, n, k, k, th, Cn), SIGNMF_OK);
        cr_assert_eq(memcmp(C1, Cn, k * k * sizeof *Cn), 0, "%d threads", th);
        memcpy(B, X, n * k * sizeof *B);
        cr_assert_eq(sm_orthonormalize(NULL, B, n, k, k, th, &rep), SIGNMF_OK);
        cr_assert_eq(memcmp(A, B, n * k * sizeof *B), 0, "%d threads", th);
    }
    free(X), free(C1), free(Cn), free(A), free(B);
}

static double gram_dev(const double *X, size_t n, size_t k, size_t ld)
{
    double w = 0;
    for (size_t a = 0; a < k; ++a)
        for (size_t b = 0; b < k; ++b) {
            double s = 0;
            for (size_t r = 0; r < n; ++r)
                s += X[r * ld + a] * X[r * ld + b];
            w = fmax(w, fabs(s - (a == b)));
        }
    return w;
}

/* span(X) = span(Q): the residual of X after projecting on Q */
static double span_residual(const double *X, const double *Q, size_t n, size_t k)
{
    double worst = 0, scale = 0;
    for (size_t j = 0; j < k; ++j) {
        double *x = malloc(n * sizeof *x);
        for (size_t r = 0; r < n; ++r)
            x[r] = X[r * k + j], scale = fmax(scale, fabs(x[r]));
        for (size_t i = 0; i < k; ++i) {
            double d = 0;
            for (size_t r = 0; r < n; ++r)
                d += Q[r * k + i] * x[r];
            for (size_t r = 0; r < n; ++r)
                x[r] -= d * Q[r * k + i];
        }
        for (size_t r = 0; r < n; ++r)
            worst = fmax(worst, fabs(x[r]));
        free(x);
    }
    return worst / scale;
}

Test(linalg, orthonormalize_good_and_ill_conditioned)
{
    size_t n = 300, k = 12;
    for (int c = 0; c < 3; ++c) {
        double *X = randm(n, k, 11 + (unsigned)c), *Q = malloc(n * k * sizeof *Q);
        /* columns scaled over 1e0 .. 1e-12 (c = 1) or nearly parallel (c = 2) */
        for (size_t r = 0; r < n; ++r)
            for (size_t j = 0; j < k; ++j) {
                if (c == 1)
                    X[r * k + j] *= pow(10.0, -(double)j);
                if (c == 2 && j > 0)
                    X[r * k + j] = X[r * k] + 1e-9 * X[r * k + j];
            }
        memcpy(Q, X, n * k * sizeof *Q);
        size_t rep = 99;
        cr_assert_eq(sm_orthonormalize(NULL, Q, n, k, k, 2, &rep), SIGNMF_OK);
        cr_assert_eq(rep, 0, "case %d replaced %zu columns", c, rep);
        cr_assert_lt(gram_dev(Q, n, k, k), 1e-12, "case %d: %g", c, gram_dev(Q, n, k, k));
        if (c == 0)
            cr_assert_lt(span_residual(X, Q, n, k), 1e-12);
        free(X), free(Q);
    }
}

Test(linalg, orthonormalize_rank_deficient_is_finite)
{
    size_t n = 40, k = 6;
    for (int c = 0; c < 3; ++c) {
        double *X = randm(n, k, 5);
        for (size_t r = 0; r < n; ++r) {
            if (c == 0)
                X[r * k + 2] = 0; /* a zero column */
            if (c == 1)
                X[r * k + 4] = X[r * k + 1]; /* a repeated one */
            if (c == 2)
                for (size_t j = 0; j < k; ++j)
                    X[r * k + j] = 0; /* nothing at all */
        }
        size_t rep;
        cr_assert_eq(sm_orthonormalize(NULL, X, n, k, k, 2, &rep), SIGNMF_OK);
        cr_assert_eq(rep, c == 2 ? k : 1, "case %d: %zu replaced", c, rep);
        for (size_t i = 0; i < n * k; ++i)
            cr_assert(isfinite(X[i]));
        cr_assert_lt(gram_dev(X, n, k, k), 1e-12);
        free(X);
    }
    double x[4] = {1, 2, 3, 4};
    size_t rep;
    cr_assert_eq(sm_orthonormalize(NULL, x, 1, 2, 2, 1, &rep), SIGNMF_EINVAL, "n < k");
    x[1] = NAN;
    cr_assert_eq(sm_orthonormalize(NULL, x, 2, 2, 2, 1, &rep), SIGNMF_EINVAL, "NaN");
}

static void check_svd(const double *A, size_t k, const char *what)
{
    double *U = malloc(k * k * sizeof *U), *V = malloc(k * k * sizeof *V),
           *s = malloc(k * sizeof *s);
    cr_assert_eq(sm_svd_small(A, k, U, s, V), SIGNMF_OK);
    double big = 0;
    for (size_t i = 0; i < k * k; ++i)
        big = fmax(big, fabs(A[i]));
    for (size_t j = 0; j < k; ++j) {
        cr_assert(s[j] >= 0, "%s: s[%zu] = %g", what, j, s[j]);
        if (j)
            cr_assert_geq(s[j - 1], s[j], "%s: not descending", what);
        size_t at = 0;
        for (size_t r = 1; r < k; ++r)
            if (fabs(V[r * k + j]) > fabs(V[at * k + j]))
                at = r;
        cr_assert_gt(V[at * k + j], 0, "%s: sign convention", what);
    }
    cr_assert_lt(gram_dev(U, k, k, k), 1e-12, "%s: U", what);
    cr_assert_lt(gram_dev(V, k, k, k), 1e-12, "%s: V", what);
    for (size_t a = 0; a < k; ++a)
        for (size_t b = 0; b < k; ++b) {
            double r = 0;
            for (size_t c = 0; c < k; ++c)
                r += U[a * k + c] * s[c] * V[b * k + c];
            cr_assert(fabs(r - A[a * k + b]) <= 1e-12 * (big > 0 ? big : 1), "%s: A[%zu][%zu]",
                      what, a, b);
        }
    free(U), free(V), free(s);
}

Test(linalg, svd_small)
{
    const size_t ks[] = {1, 2, 7, 64, 200};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; ++i) {
        size_t k = ks[i];
        double *A = randm(k, k, 3 + (unsigned)k);
        check_svd(A, k, "random");
        for (size_t r = 0; r < k; ++r) /* rank one */
            for (size_t c = 0; c < k; ++c)
                A[r * k + c] = (double)(r + 1) * (double)(k - c);
        check_svd(A, k, "rank one");
        memset(A, 0, k * k * sizeof *A);
        check_svd(A, k, "zero");
        for (size_t r = 0; r < k; ++r)
            A[r * k + r] = -(double)(r % 3);
        check_svd(A, k, "negative diagonal with zeros");
        free(A);
    }
    double A[4] = {3, 0, 0, 5}, U[4], s[2], V[4];
    cr_assert_eq(sm_svd_small(A, 2, U, s, V), SIGNMF_OK);
    cr_assert_eq(s[0], 5);
    cr_assert_eq(s[1], 3);
}
