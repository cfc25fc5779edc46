/* The panel packing loop of kernels.h, shared by the SIMD score files: a
 * panel's 16 items go in groups of L rows (one vector of L elements per
 * row and step of t), each group loaded with a tail mask, transposed in
 * registers and stored as L panel rows. Items past ni load as zeros. The
 * ISA file supplies its vector type and operations:
 *   MASKT m = MASK(nt)   a mask of the first nt < L + 1 elements
 *   LOAD(p, m), ZERO(), TRANSPOSE(r) on V r[L], STORE(p, v) aligned. */
#ifndef SM_SCORE_PACK_H
#define SM_SCORE_PACK_H

#define SM_PACK_PANELS(NAME, T, V, L, MASKT, MASK, LOAD, ZERO, TRANSPOSE, STORE)                   \
    static void NAME(const T *Qt, size_t ldq, size_t ni, size_t dim, T *Qp)                        \
    {                                                                                              \
        for (size_t j0 = 0; j0 < ni; j0 += SM_PANEL) {                                             \
            T *o = Qp + j0 * dim;                                                                  \
            size_t nr = ni - j0 < SM_PANEL ? ni - j0 : SM_PANEL;                                   \
            for (size_t h = 0; h < SM_PANEL / (L); ++h) { /* items L*h .. L*h + L-1 */             \
                const T *q = Qt + (j0 + (L)*h) * ldq;                                              \
                size_t hr = nr > (L)*h ? nr - (L)*h : 0;                                           \
                for (size_t t = 0; t < dim; t += (L)) {                                            \
                    size_t nt = dim - t < (L) ? dim - t : (L);                                     \
                    MASKT m = MASK(nt);                                                            \
                    V r[L];                                                                        \
                    SM_UNROLL for (size_t i = 0; i < (L); ++i) r[i] =                              \
                        i < hr ? LOAD(q + i * ldq + t, m) : ZERO();                                \
                    TRANSPOSE(r);                                                                  \
                    for (size_t i = 0; i < nt; ++i)                                                \
                        STORE(o + (t + i) * SM_PANEL + (L)*h, r[i]);                               \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#endif
