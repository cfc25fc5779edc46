/* Dense kernels of the small algebra (src/linalg), one source compiled
 * into every kernel library with that library's flags: the loops run
 * across output columns, each output entry keeping its own chain of
 * roundings, so every vector width (and the compiler's choice of it) gives
 * the same bits. Included once per ISA file, after kernels.h. */
#ifndef SM_DENSE_H
#define SM_DENSE_H

#include "kernels.h"

/* C += X^T Y over rows [0, n) in ascending row order (kernels.h). Four
 * rows at a time, so each C row is loaded and stored once per four: the
 * adds stay one per row, in order. */
static inline void sm_dense_xty(const double *restrict X, size_t ldx, const double *restrict Y,
                                size_t ldy, size_t n, size_t k1, size_t k2, double *restrict C,
                                size_t ldc)
{
    size_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const double *x0 = X + r * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        const double *y0 = Y + r * ldy, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
        for (size_t a = 0; a < k1; ++a) {
            const double a0 = x0[a], a1 = x1[a], a2 = x2[a], a3 = x3[a];
            double *c = C + a * ldc;
            for (size_t b = 0; b < k2; ++b) {
                double s = c[b];
                s += a0 * y0[b];
                s += a1 * y1[b];
                s += a2 * y2[b];
                s += a3 * y3[b];
                c[b] = s;
            }
        }
    }
    for (; r < n; ++r) {
        const double *x0 = X + r * ldx, *y0 = Y + r * ldy;
        for (size_t a = 0; a < k1; ++a) {
            const double a0 = x0[a];
            double *c = C + a * ldc;
            for (size_t b = 0; b < k2; ++b)
                c[b] += a0 * y0[b];
        }
    }
}

/* Y = X T for n rows: Y[r][b] = +0, then += X[r][a] T[a][b] for a
 * ascending (kernels.h). */
static inline void sm_dense_mul(const double *restrict X, size_t ldx, size_t n, size_t k1,
                                const double *restrict T, size_t k2, double *restrict Y, size_t ldy)
{
    for (size_t r = 0; r < n; ++r) {
        double *y = Y + r * ldy;
        const double *x = X + r * ldx;
        for (size_t b = 0; b < k2; ++b)
            y[b] = 0.0;
        for (size_t a = 0; a < k1; ++a) {
            const double xa = x[a];
            const double *t = T + a * k2;
            for (size_t b = 0; b < k2; ++b)
                y[b] += xa * t[b];
        }
    }
}

#define SM_DENSE_DEFINE(isa)                                                                       \
    static void sm_xty_f64_##isa(const double *X, size_t ldx, const double *Y, size_t ldy,         \
                                 size_t n, size_t k1, size_t k2, double *C, size_t ldc)            \
    {                                                                                              \
        sm_dense_xty(X, ldx, Y, ldy, n, k1, k2, C, ldc);                                           \
    }                                                                                              \
    static void sm_mul_small_f64_##isa(const double *X, size_t ldx, size_t n, size_t k1,           \
                                       const double *T, size_t k2, double *Y, size_t ldy)          \
    {                                                                                              \
        sm_dense_mul(X, ldx, n, k1, T, k2, Y, ldy);                                                \
    }

#endif
