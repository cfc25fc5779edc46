#include "linalg.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
void sm_xty(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n, size_t k1,
            size_t k2, int threads, double *C)
{
    (void)threads;
    memset(C, 0, k1 * k2 * sizeof *C);
    for (size_t r = 0; r < n; ++r)
        for (size_t a = 0; a < k1; ++a)
            for (size_t b = 0; b < k2; ++b)
                C[a * k2 + b] += X[r * ldx + a] * Y[r * ldy + b];
}
void sm_mul_small(const double *X, size_t ldx, size_t n, size_t k1, const double *T, size_t k2,
                  double *Y, size_t ldy, int threads)
{
    (void)threads;
    for (size_t r = 0; r < n; ++r)
        for (size_t b = 0; b < k2; ++b) {
            double s = 0;
            for (size_t a = 0; a < k1; ++a)
                s += X[r * ldx + a] * T[a * k2 + b];
            Y[r * ldy + b] = s;
        }
}
signmf_status sm_orthonormalize(double *X, size_t n, size_t k, size_t ld, int threads,
                                size_t *replaced)
{
    (void)threads;
    *replaced = 0;
    for (int pass = 0; pass < 2; ++pass)
        for (size_t j = 0; j < k; ++j) {
            for (size_t i = 0; i < j; ++i) {
                double d = 0;
                for (size_t r = 0; r < n; ++r)
                    d += X[r * ld + i] * X[r * ld + j];
                for (size_t r = 0; r < n; ++r)
                    X[r * ld + j] -= d * X[r * ld + i];
            }
            double nn = 0;
            for (size_t r = 0; r < n; ++r)
                nn += X[r * ld + j] * X[r * ld + j];
            nn = sqrt(nn);
            if (nn < 1e-300) {
                (*replaced)++;
                nn = 1;
            }
            for (size_t r = 0; r < n; ++r)
                X[r * ld + j] /= nn;
        }
    return SIGNMF_OK;
}
signmf_status sm_svd_small(const double *A, size_t k, double *U, double *s, double *V)
{
    double *W = malloc(k * k * sizeof *W);
    memcpy(W, A, k * k * sizeof *W);
    for (size_t i = 0; i < k * k; ++i)
        V[i] = 0;
    for (size_t i = 0; i < k; ++i)
        V[i * k + i] = 1;
    for (int sweep = 0; sweep < 60; ++sweep) {
        double off = 0;
        for (size_t p = 0; p < k; ++p)
            for (size_t q = p + 1; q < k; ++q) {
                double a = 0, b = 0, c = 0;
                for (size_t r = 0; r < k; ++r) {
                    a += W[r * k + p] * W[r * k + p];
                    b += W[r * k + q] * W[r * k + q];
                    c += W[r * k + p] * W[r * k + q];
                }
                if (fabs(c) <= 1e-15 * sqrt(a * b) || c == 0)
                    continue;
                off += c * c / (a * b);
                double z = (b - a) / (2 * c), t = (z >= 0 ? 1 : -1) / (fabs(z) + sqrt(1 + z * z));
                double cs = 1 / sqrt(1 + t * t), sn = cs * t;
                for (size_t r = 0; r < k; ++r) {
                    double x = W[r * k + p], y = W[r * k + q];
                    W[r * k + p] = cs * x - sn * y;
                    W[r * k + q] = sn * x + cs * y;
                    x = V[r * k + p], y = V[r * k + q];
                    V[r * k + p] = cs * x - sn * y;
                    V[r * k + q] = sn * x + cs * y;
                }
            }
        if (off < 1e-30)
            break;
    }
    size_t *ord = malloc(k * sizeof *ord);
    double *sv = malloc(k * sizeof *sv);
    for (size_t j = 0; j < k; ++j) {
        double nn = 0;
        for (size_t r = 0; r < k; ++r)
            nn += W[r * k + j] * W[r * k + j];
        sv[j] = sqrt(nn);
        ord[j] = j;
    }
    for (size_t i = 0; i < k; ++i)
        for (size_t j = i + 1; j < k; ++j)
            if (sv[ord[j]] > sv[ord[i]]) {
                size_t x = ord[i];
                ord[i] = ord[j];
                ord[j] = x;
            }
    double *V2 = malloc(k * k * sizeof *V2);
    for (size_t j = 0; j < k; ++j) {
        size_t o = ord[j];
        s[j] = sv[o];
        for (size_t r = 0; r < k; ++r) {
            U[r * k + j] = sv[o] > 0 ? W[r * k + o] / sv[o] : (r == j);
            V2[r * k + j] = V[r * k + o];
        }
    }
    memcpy(V, V2, k * k * sizeof *V);
    free(V2);
    free(W);
    free(ord);
    free(sv);
    return SIGNMF_OK;
}
