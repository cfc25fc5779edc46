/* Dense algebra for the orthonormal method (linalg.h). */
#include "linalg.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Below this many multiply-adds a parallel region costs more than it
 * saves: its barrier, on a loaded 2-core VM, is worth tens of
 * microseconds (ua.base at k = 20: 48 % of the run in libgomp's spin
 * loops with every region parallel). Results never depend on it. */
#define SM_PAR_MIN ((double)(1 << 21))

/* Column strips of a Gram product: as wide as an AVX-512 vector of
 * doubles, so each kernel call still fills its vectors. */
#define SM_STRIP 8

static const sm_kernels *kern(const sm_kernels *k)
{
    return k ? k : sm_kernels_active();
}

size_t sm_xty_block_rows(size_t n, size_t k1, size_t k2)
{
    size_t most = (size_t)32 << 20, per = k1 * k2 * sizeof(double) + 1;
    size_t nb = most / per;
    if (nb > 64)
        nb = 64;
    if (nb < 1)
        nb = 1;
    size_t rows = (n + nb - 1) / nb;
    return rows < 256 ? 256 : rows;
}

signmf_status sm_xty(const sm_kernels *k, const double *X, size_t ldx, const double *Y, size_t ldy,
                     size_t n, size_t k1, size_t k2, int threads, double *C)
{
    return sm_xty_split(k, X, ldx, Y, ldy, n, k1, k2, threads, NULL, C);
}

signmf_status sm_xty_split(const sm_kernels *k, const double *X, size_t ldx, const double *Y,
                           size_t ldy, size_t n, size_t k1, size_t k2, int threads,
                           const sm_split *split, double *C)
{
    k = kern(k);
    size_t br = sm_xty_block_rows(n, k1, k2), nb = n ? (n + br - 1) / br : 0, kk = k1 * k2;
    memset(C, 0, kk * sizeof *C);
    if (nb == 0)
        return SIGNMF_OK;
    double *part = sm_calloc(nb * kk, sizeof *part);
    if (!part)
        return SIGNMF_ENOMEM;
    /* A Gram matrix is symmetric to the bit (x_a x_b = x_b x_a, and each
     * entry has its own chain of adds in row order), so only the strips
     * on and above the diagonal are computed and the rest is mirrored. */
    const bool gram = X == Y && ldx == ldy && k1 == k2;
    bool shared = split && split->parts > 1;
    size_t b0 = shared ? nb * split->part / split->parts : 0;
    size_t b1 = shared ? nb * (split->part + 1) / split->parts : nb;
#pragma omp parallel for num_threads(threads)                                                      \
    schedule(dynamic, 1) if (b1 - b0 > 1 && (double)n * (double)kk >= SM_PAR_MIN)
    for (size_t b = b0; b < b1; ++b) {
        size_t r0 = b * br, r1 = r0 + br < n ? r0 + br : n;
        if (!gram) {
            k->xty_f64(X + r0 * ldx, ldx, Y + r0 * ldy, ldy, r1 - r0, k1, k2, part + b * kk, k2);
            continue;
        }
        for (size_t a0 = 0; a0 < k1; a0 += SM_STRIP) {
            size_t w = a0 + SM_STRIP < k1 ? SM_STRIP : k1 - a0;
            k->xty_f64(X + r0 * ldx + a0, ldx, X + r0 * ldx + a0, ldx, r1 - r0, w, k2 - a0,
                       part + b * kk + a0 * k2 + a0, k2);
        }
    }
    if (shared && split->gather(split->ctx, part, nb, kk * sizeof *part) != 0) {
        sm_free(part);
        return SIGNMF_ENOMEM;
    }
    for (size_t b = 0; b < nb; ++b)
        for (size_t i = 0; i < kk; ++i)
            C[i] += part[b * kk + i];
    if (gram)
        for (size_t a = 1; a < k1; ++a)
            for (size_t c = 0; c < a; ++c)
                C[a * k2 + c] = C[c * k2 + a];
    sm_free(part);
    return SIGNMF_OK;
}

void sm_mul_small(const sm_kernels *k, const double *X, size_t ldx, size_t n, size_t k1,
                  const double *T, size_t k2, double *Y, size_t ldy, int threads)
{
    k = kern(k);
    const size_t chunk = 256;
    size_t nc = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads)                                                      \
    schedule(static) if (nc > 1 && (double)n * (double)k1 * (double)k2 >= SM_PAR_MIN)
    for (size_t c = 0; c < nc; ++c) {
        size_t r0 = c * chunk, r1 = r0 + chunk < n ? r0 + chunk : n;
        k->mul_small_f64(X + r0 * ldx, ldx, r1 - r0, k1, T, k2, Y + r0 * ldy, ldy);
    }
}

/* Upper R with G = R^T R (G symmetric, kk x kk, overwritten by R below
 * the diagonal being zeroed). 0 on success, -1 at a pivot that is not
 * positive and finite, or below rel * G's largest diagonal. */
static int cholesky(double *G, size_t kk, double rel)
{
    double big = 0;
    for (size_t i = 0; i < kk; ++i)
        big = fmax(big, G[i * kk + i]);
    for (size_t j = 0; j < kk; ++j) {
        double d = G[j * kk + j];
        for (size_t i = 0; i < j; ++i)
            d -= G[i * kk + j] * G[i * kk + j];
        if (!(d > rel * big) || !isfinite(d))
            return -1;
        double rjj = sqrt(d);
        G[j * kk + j] = rjj;
        for (size_t c = j + 1; c < kk; ++c) {
            double s = G[j * kk + c];
            for (size_t i = 0; i < j; ++i)
                s -= G[i * kk + j] * G[i * kk + c];
            G[j * kk + c] = s / rjj;
        }
        for (size_t c = 0; c < j; ++c)
            G[j * kk + c] = 0.0;
    }
    return 0;
}

/* R^-1 of an upper triangular R, in place (back substitution, column by
 * column). */
static void upper_inverse(double *R, size_t kk)
{
    for (size_t j = kk; j-- > 0;) {
        R[j * kk + j] = 1.0 / R[j * kk + j];
        for (size_t i = j; i-- > 0;) {
            double s = 0.0;
            for (size_t m = i + 1; m <= j; ++m)
                s += R[i * kk + m] * R[m * kk + j];
            R[i * kk + j] = -s / R[i * kk + i];
        }
    }
}

/* X <- X T with T kk x kk, through a row buffer per chunk. (Skipping T's
 * zero lower triangle by column strips keeps the bits but, at dim 20,
 * ran 34 % more instructions in the kernel calls than it saved.) */
static signmf_status apply_right(const sm_kernels *k, double *X, size_t n, size_t kk, size_t ld,
                                 const double *T, int threads)
{
    const size_t chunk = 128;
    size_t nc = (n + chunk - 1) / chunk;
    int bad = 0;
#pragma omp parallel num_threads(threads) if (nc > 1 && (double)n * (double)kk * (double)kk >=     \
                                                            SM_PAR_MIN) reduction(|                \
                                                                                  : bad)
    {
        double *buf = sm_alloc(chunk * kk + 1, sizeof *buf);
        if (!buf)
            bad = 1;
#pragma omp for schedule(static)
        for (size_t c = 0; c < nc; ++c) {
            if (!buf)
                continue;
            size_t r0 = c * chunk, r1 = r0 + chunk < n ? r0 + chunk : n;
            k->mul_small_f64(X + r0 * ld, ld, r1 - r0, kk, T, kk, buf, kk);
            for (size_t r = r0; r < r1; ++r)
                memcpy(X + r * ld, buf + (r - r0) * kk, kk * sizeof *buf);
        }
        sm_free(buf);
    }
    return bad ? SIGNMF_ENOMEM : SIGNMF_OK;
}

/* One CholeskyQR pass: 0 done, 1 Cholesky failed (X unchanged), < 0 on
 * ENOMEM. With `shift`, the Gram's diagonal is shifted first. *dev gets
 * max |R - I|: X^T X = R^T R, so a pass that finds R near I shows that X
 * was orthonormal to about that before it. */
static int cholqr_pass(const sm_kernels *k, double *X, size_t n, size_t kk, size_t ld, int threads,
                       const sm_split *split, double *G, bool shift, double *dev)
{
    if (sm_xty_split(k, X, ld, X, ld, n, kk, kk, threads, split, G) != SIGNMF_OK)
        return -1;
    if (shift) {
        double tr = 0;
        for (size_t i = 0; i < kk; ++i)
            tr += G[i * kk + i];
        double s = 11.0 * ((double)n * (double)kk + (double)kk * (double)(kk + 1)) * 0x1p-53 * tr;
        for (size_t i = 0; i < kk; ++i)
            G[i * kk + i] += s;
    }
    if (cholesky(G, kk, shift ? 0.0 : 1e-15) != 0)
        return 1;
    *dev = 0;
    for (size_t a = 0; a < kk; ++a)
        for (size_t b = a; b < kk; ++b)
            *dev = fmax(*dev, fabs(G[a * kk + b] - (a == b ? 1.0 : 0.0)));
    upper_inverse(G, kk);
    return apply_right(k, X, n, kk, ld, G, threads) == SIGNMF_OK ? 0 : -1;
}

static double gram_error(const sm_kernels *k, const double *X, size_t n, size_t kk, size_t ld,
                         int threads, const sm_split *split, double *G)
{
    if (sm_xty_split(k, X, ld, X, ld, n, kk, kk, threads, split, G) != SIGNMF_OK)
        return INFINITY;
    double worst = 0;
    for (size_t a = 0; a < kk; ++a)
        for (size_t b = 0; b < kk; ++b)
            worst = fmax(worst, fabs(G[a * kk + b] - (a == b ? 1.0 : 0.0)));
    return isnan(worst) ? INFINITY : worst;
}

/* Column j of X against columns [0, j), twice; returns its norm after. */
static double mgs_column(double *X, size_t n, size_t ld, size_t j)
{
    for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i < j; ++i) {
            double d = 0;
            for (size_t r = 0; r < n; ++r)
                d += X[r * ld + i] * X[r * ld + j];
            for (size_t r = 0; r < n; ++r)
                X[r * ld + j] -= d * X[r * ld + i];
        }
    double s = 0;
    for (size_t r = 0; r < n; ++r)
        s += X[r * ld + j] * X[r * ld + j];
    return sqrt(s);
}

static void mgs(double *X, size_t n, size_t kk, size_t ld, size_t *replaced)
{
    size_t next_e = 0;
    for (size_t j = 0; j < kk; ++j) {
        double before = 0;
        for (size_t r = 0; r < n; ++r)
            before += X[r * ld + j] * X[r * ld + j];
        before = sqrt(before);
        double after = mgs_column(X, n, ld, j);
        if (!(after > 1e-10 * before) || before == 0) {
            ++*replaced;
            /* some e_m keeps more than half its norm: the kept columns
             * span j < n dimensions */
            for (; next_e < n; ++next_e) {
                for (size_t r = 0; r < n; ++r)
                    X[r * ld + j] = r == next_e ? 1.0 : 0.0;
                after = mgs_column(X, n, ld, j);
                if (after > 0.5)
                    break;
            }
            ++next_e;
        }
        for (size_t r = 0; r < n; ++r)
            X[r * ld + j] /= after;
    }
}

signmf_status sm_orthonormalize(const sm_kernels *k, double *X, size_t n, size_t kk, size_t ld,
                                int threads, size_t *replaced)
{
    return sm_orthonormalize_split(k, X, n, kk, ld, threads, NULL, replaced);
}

signmf_status sm_orthonormalize_split(const sm_kernels *k, double *X, size_t n, size_t kk,
                                      size_t ld, int threads, const sm_split *split,
                                      size_t *replaced)
{
    k = kern(k);
    *replaced = 0;
    if (n < kk || ld < kk)
        return SIGNMF_EINVAL;
    if (kk == 0)
        return SIGNMF_OK;
    for (size_t r = 0; r < n; ++r)
        for (size_t c = 0; c < kk; ++c)
            if (!isfinite(X[r * ld + c]))
                return SIGNMF_EINVAL;
    double *G = sm_alloc(kk * kk, sizeof *G), *copy = NULL;
    size_t bytes;
    if (!G || sm_mul_overflows(n, ld, &bytes) || !(copy = sm_alloc(bytes, sizeof *copy))) {
        sm_free(G);
        return SIGNMF_ENOMEM;
    }
    memcpy(copy, X, bytes * sizeof *copy);
    signmf_status st = SIGNMF_OK;
    double dev = INFINITY;
    int r = cholqr_pass(k, X, n, kk, ld, threads, split, G, false, &dev), passes = 1;
    if (r == 1) {
        r = cholqr_pass(k, X, n, kk, ld, threads, split, G, true, &dev);
        passes = 2; /* a third pass follows the shifted one */
    }
    for (int p = 0; r == 0 && p < passes; ++p)
        r = cholqr_pass(k, X, n, kk, ld, threads, split, G, false, &dev);
    /* the last pass's R was within dev of I; dev^2-sized errors remain */
    if (r == 0 && !(dev <= 1e-5))
        r = gram_error(k, X, n, kk, ld, threads, split, G) > 1e-10 ? 1 : 0;
    if (r < 0)
        st = SIGNMF_ENOMEM;
    else if (r > 0) {
        memcpy(X, copy, bytes * sizeof *copy);
        mgs(X, n, kk, ld, replaced);
    }
    sm_free(copy);
    sm_free(G);
    return st;
}

signmf_status sm_svd_small(const double *A, size_t kk, double *U, double *s, double *V)
{
    double *W = sm_alloc(kk * kk + 1, sizeof *W), *V0 = sm_alloc(kk * kk + 1, sizeof *V0);
    double *norm = sm_alloc(kk + 1, sizeof *norm);
    size_t *ord = sm_alloc(kk + 1, sizeof *ord);
    if (!W || !V0 || !norm || !ord) {
        sm_free(W), sm_free(V0), sm_free(norm), sm_free(ord);
        return SIGNMF_ENOMEM;
    }
    memcpy(W, A, kk * kk * sizeof *W);
    for (size_t i = 0; i < kk * kk; ++i)
        V0[i] = (i / kk == i % kk) ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 80; ++sweep) {
        bool rotated = false;
        for (size_t p = 0; p < kk; ++p)
            for (size_t q = p + 1; q < kk; ++q) {
                double a = 0, b = 0, c = 0;
                for (size_t r = 0; r < kk; ++r) {
                    double x = W[r * kk + p], y = W[r * kk + q];
                    a += x * x;
                    b += y * y;
                    c += x * y;
                }
                if (c == 0 || fabs(c) <= 1e-15 * sqrt(a) * sqrt(b))
                    continue;
                rotated = true;
                double z = (b - a) / (2 * c);
                double t = (z >= 0 ? 1.0 : -1.0) / (fabs(z) + sqrt(1 + z * z));
                double cs = 1 / sqrt(1 + t * t), sn = cs * t;
                for (size_t r = 0; r < kk; ++r) {
                    double x = W[r * kk + p], y = W[r * kk + q];
                    W[r * kk + p] = cs * x - sn * y;
                    W[r * kk + q] = sn * x + cs * y;
                    x = V0[r * kk + p], y = V0[r * kk + q];
                    V0[r * kk + p] = cs * x - sn * y;
                    V0[r * kk + q] = sn * x + cs * y;
                }
            }
        if (!rotated)
            break;
    }
    for (size_t j = 0; j < kk; ++j) {
        double nn = 0;
        for (size_t r = 0; r < kk; ++r)
            nn += W[r * kk + j] * W[r * kk + j];
        norm[j] = sqrt(nn);
        ord[j] = j;
    }
    /* stable insertion sort, descending */
    for (size_t i = 1; i < kk; ++i) {
        size_t o = ord[i], j = i;
        while (j > 0 && norm[ord[j - 1]] < norm[o]) {
            ord[j] = ord[j - 1];
            --j;
        }
        ord[j] = o;
    }
    double top = kk ? norm[ord[0]] : 0;
    size_t rank = 0;
    for (size_t j = 0; j < kk; ++j) {
        size_t o = ord[j];
        s[j] = norm[o];
        for (size_t r = 0; r < kk; ++r)
            V[r * kk + j] = V0[r * kk + o];
        /* a direction that is numerically null gets no U of its own */
        bool live = norm[o] > 1e-13 * top && norm[o] > 0;
        for (size_t r = 0; r < kk; ++r)
            U[r * kk + j] = live ? W[r * kk + o] / norm[o] : 0.0;
        if (live)
            rank = j + 1;
        else
            s[j] = norm[o];
    }
    if (rank < kk) {
        size_t rep;
        /* U's live columns are orthonormal: only the null ones are
         * replaced */
        for (size_t j = rank; j < kk; ++j)
            for (size_t r = 0; r < kk; ++r)
                U[r * kk + j] = 0.0;
        mgs(U, kk, kk, kk, &rep);
    }
    for (size_t j = 0; j < kk; ++j) {
        size_t at = 0;
        for (size_t r = 1; r < kk; ++r)
            if (fabs(V[r * kk + j]) > fabs(V[at * kk + j]))
                at = r;
        if (V[at * kk + j] < 0)
            for (size_t r = 0; r < kk; ++r) {
                V[r * kk + j] = -V[r * kk + j];
                U[r * kk + j] = -U[r * kk + j];
            }
    }
    sm_free(W), sm_free(V0), sm_free(norm), sm_free(ord);
    return SIGNMF_OK;
}
