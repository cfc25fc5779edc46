/* Portable scoring kernel: the canonical score order written out plainly
 * (see kernels.h). fma()/fmaf() give the single rounding the SIMD kernels
 * get from their FMA instructions, so every ISA agrees bit for bit. */
#include "kernels.h"

#include <math.h>

#define SM_SCORE_PORTABLE(NAME, T, LANES, FMA)                                                     \
    static void NAME(const T *P, size_t ldp, size_t nu, const T *Qt, size_t ldq, size_t ni,        \
                     size_t dim, T *S, size_t lds)                                                 \
    {                                                                                              \
        for (size_t u = 0; u < nu; ++u) {                                                          \
            const T *p = P + u * ldp;                                                              \
            for (size_t j = 0; j < ni; ++j) {                                                      \
                const T *q = Qt + j * ldq;                                                         \
                T lane[LANES] = {0};                                                               \
                for (size_t t = 0; t < dim; ++t)                                                   \
                    lane[t % LANES] = FMA(p[t], q[t], lane[t % LANES]);                            \
                for (int h = LANES / 2; h >= 1; h /= 2)                                            \
                    for (int l = 0; l < h; ++l)                                                    \
                        lane[l] += lane[l + h];                                                    \
                S[u * lds + j] = lane[0];                                                          \
            }                                                                                      \
        }                                                                                          \
    }

SM_SCORE_PORTABLE(sm_score_portable_f32, float, SM_LANES_F32, fmaf)
SM_SCORE_PORTABLE(sm_score_portable_f64, double, SM_LANES_F64, fma)

void sm_score_init_portable(sm_kernels *k)
{
    k->score_f32 = sm_score_portable_f32;
    k->score_f64 = sm_score_portable_f64;
}
