/* TEMPORARY contract used by the trainer until the linalg branch lands. */
#ifndef SM_LINALG_H
#define SM_LINALG_H
#include "../common/common.h"
void sm_xty(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n, size_t k1,
            size_t k2, int threads, double *C);
signmf_status sm_orthonormalize(double *X, size_t n, size_t k, size_t ld, int threads,
                                size_t *replaced);
signmf_status sm_svd_small(const double *A, size_t k, double *U, double *s, double *V);
void sm_mul_small(const double *X, size_t ldx, size_t n, size_t k1, const double *T, size_t k2,
                  double *Y, size_t ldy, int threads);
#endif
