/* The small dense algebra of the orthonormal method: Gram products with a
 * fixed blocking, CholeskyQR2 and a one-sided Jacobi SVD, in double. No
 * BLAS (the design card), and every result is a fixed function of the
 * input: the row blocking depends on the shape only, never on the thread
 * count, and the kernels (kernels.h, xty_f64 / mul_small_f64) give the
 * same bits on every ISA. `k` selects a kernel table (NULL: the active
 * one); `threads` >= 1. All matrices are row-major. */
#ifndef SM_LINALG_H
#define SM_LINALG_H

#include "../kernels/kernels.h"

/* Rows per block of sm_xty for n rows of k1 x k2: at least 256, and at
 * most 64 blocks (fewer when k1 x k2 is large: the blocks' partial sums
 * stay within 32 MiB). */
size_t sm_xty_block_rows(size_t n, size_t k1, size_t k2);

/* C (k1 x k2, dense) = X^T Y for X n x k1 (row stride ldx), Y n x k2 (ldy).
 * Sum order: rows cut into consecutive blocks of sm_xty_block_rows; each
 * block's partial starts from +0 and adds its rows in ascending order
 * (xty_f64); the partials are then added in block order, entry by entry,
 * to +0. ENOMEM when the partials cannot be allocated. */
signmf_status sm_xty(const sm_kernels *k, const double *X, size_t ldx, const double *Y, size_t ldy,
                     size_t n, size_t k1, size_t k2, int threads, double *C);

/* Partitioned runs (train/part.h): the blocks of every sm_xty are shared
 * out, process `part` of `parts` computing blocks [nb part / parts,
 * nb (part + 1) / parts), and `gather` then fills in every other process's
 * (count elements of elem_bytes, split the same way), so the partials, and
 * their sum in block order, are the whole computation's. */
typedef struct sm_split {
    size_t part, parts;
    void *ctx;
    int (*gather)(void *ctx, void *base, size_t count, size_t elem_bytes);
} sm_split;

/* sm_xty with its blocks shared out (split NULL: all computed here). ENOMEM
 * also when the gather fails. */
signmf_status sm_xty_split(const sm_kernels *k, const double *X, size_t ldx, const double *Y,
                           size_t ldy, size_t n, size_t k1, size_t k2, int threads,
                           const sm_split *split, double *C);

/* Y = X T (n x k1 times k1 x k2) row by row (mul_small_f64), rows split
 * over threads; Y must not overlap X or T. */
void sm_mul_small(const sm_kernels *k, const double *X, size_t ldx, size_t n, size_t k1,
                  const double *T, size_t k2, double *Y, size_t ldy, int threads);

/* Orthonormalise the columns of X (n x kk, n >= kk, row stride ld) in
 * place. CholeskyQR2: G = X^T X (sm_xty), G = R^T R, X <- X R^-1, twice.
 * When the Gram is too ill-conditioned for Cholesky, the first pass adds
 * the shift s = 11 (n kk + kk (kk + 1)) 2^-53 trace(G) to its diagonal
 * and a third pass follows (shifted CholeskyQR3, Fukaya et al. 2020). If
 * the result is still not orthonormal to 1e-10, or X had (numerically)
 * dependent columns, modified Gram-Schmidt with reorthogonalisation takes
 * over from the original X: a column left with less than 1e-10 of its
 * norm is replaced by the first unit vector e_m (m ascending) that keeps
 * more than half of its norm after orthogonalisation. *replaced counts
 * those columns. The result is never NaN for finite input. EINVAL for
 * n < kk or non-finite input, ENOMEM. */
signmf_status sm_orthonormalize(const sm_kernels *k, double *X, size_t n, size_t kk, size_t ld,
                                int threads, size_t *replaced);
/* The same with every Gram product's blocks shared out (sm_xty_split); X
 * must be whole on every process, and the result is. */
signmf_status sm_orthonormalize_split(const sm_kernels *k, double *X, size_t n, size_t kk,
                                      size_t ld, int threads, const sm_split *split,
                                      size_t *replaced);

/* A (kk x kk) = U diag(s) V^T: one-sided Jacobi on the columns of A with
 * cyclic sweeps (p < q, row by row) until every pair is orthogonal to
 * 1e-15 relative (at most 80 sweeps). s descending (ties keep column
 * order) and >= 0; U and V orthogonal; columns of U for zero singular
 * values completed as in sm_orthonormalize. Signs: the entry of largest
 * magnitude (the first of equals) of each column of V is positive. ENOMEM. */
signmf_status sm_svd_small(const double *A, size_t kk, double *U, double *s, double *V);

#endif
