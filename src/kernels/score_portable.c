/* Portable scoring kernels: the packing and the canonical score order
 * written out plainly (see kernels.h). fma()/fmaf() give the single
 * rounding the SIMD kernels get from their FMA instructions, so every ISA
 * agrees bit for bit. */
#include "bf16.h"
#include "kernels.h"

#include <math.h>

#define SM_PACK_PORTABLE(NAME, T)                                                                  \
    static void NAME(const T *Qt, size_t ldq, size_t ni, size_t dim, T *Qp)                        \
    {                                                                                              \
        for (size_t b = 0; b * SM_PANEL < ni; ++b) {                                               \
            T *o = Qp + b * dim * SM_PANEL;                                                        \
            size_t j0 = b * SM_PANEL, nr = ni - j0 < SM_PANEL ? ni - j0 : SM_PANEL;                \
            for (size_t t = 0; t < dim; ++t) {                                                     \
                for (size_t l = 0; l < nr; ++l)                                                    \
                    o[t * SM_PANEL + l] = Qt[(j0 + l) * ldq + t];                                  \
                for (size_t l = nr; l < SM_PANEL; ++l)                                             \
                    o[t * SM_PANEL + l] = 0;                                                       \
            }                                                                                      \
        }                                                                                          \
    }

#define SM_SCORE_PORTABLE(NAME, T, FMA)                                                            \
    static void NAME(const T *P, size_t ldp, size_t nu, const T *Qp, size_t ni, size_t dim, T *S,  \
                     size_t lds)                                                                   \
    {                                                                                              \
        for (size_t u = 0; u < nu; ++u) {                                                          \
            const T *p = P + u * ldp;                                                              \
            for (size_t j = 0; j < ni; ++j) {                                                      \
                const T *q = Qp + j / SM_PANEL * dim * SM_PANEL + j % SM_PANEL;                    \
                T s = 0;                                                                           \
                for (size_t t = 0; t < dim; ++t)                                                   \
                    s = FMA(p[t], q[t * SM_PANEL], s);                                             \
                S[u * lds + j] = s;                                                                \
            }                                                                                      \
        }                                                                                          \
    }

SM_PACK_PORTABLE(sm_pack_portable_f32, float)
SM_PACK_PORTABLE(sm_pack_portable_f64, double)
SM_PACK_PORTABLE(sm_pack_portable_bf16, uint16_t)
SM_SCORE_PORTABLE(sm_score_portable_f32, float, fmaf)
SM_SCORE_PORTABLE(sm_score_portable_f64, double, fma)

static void sm_score_portable_bf16(const uint16_t *P, size_t ldp, size_t nu, const uint16_t *Qp,
                                   size_t ni, size_t dim, float *S, size_t lds)
{
    for (size_t u = 0; u < nu; ++u) {
        const uint16_t *p = P + u * ldp;
        for (size_t j = 0; j < ni; ++j) {
            const uint16_t *q = Qp + j / SM_PANEL * dim * SM_PANEL + j % SM_PANEL;
            float s = 0;
            for (size_t t = 0; t < dim; ++t)
                s = fmaf(sm_bf16_to_f32(p[t]), sm_bf16_to_f32(q[t * SM_PANEL]), s);
            S[u * lds + j] = s;
        }
    }
}

#define SM_SELECT_PORTABLE(EMAX, SCREEN, T)                                                        \
    static T EMAX(const T *S, size_t ng, const uint16_t *ex)                                       \
    {                                                                                              \
        T m = -(T)INFINITY;                                                                        \
        for (size_t g = 0; g < ng; ++g)                                                            \
            for (unsigned i = 0; i < 16; ++i) {                                                    \
                T v = ((ex[g] >> i) & 1u) ? -(T)INFINITY : S[16 * g + i];                          \
                m = v > m ? v : m; /* NaN never wins */                                            \
            }                                                                                      \
        return m;                                                                                  \
    }                                                                                              \
    static size_t SCREEN(const T *S, size_t ng, T thr, const uint16_t *ex, uint16_t *pos)          \
    {                                                                                              \
        size_t n = 0;                                                                              \
        for (size_t i = 0; i < 16 * ng; ++i)                                                       \
            if (!((ex[i / 16] >> (i % 16)) & 1u) && !(S[i] < thr))                                 \
                pos[n++] = (uint16_t)i;                                                            \
        return n;                                                                                  \
    }
SM_SELECT_PORTABLE(sm_emax_portable_f32, sm_screen_portable_f32, float)
SM_SELECT_PORTABLE(sm_emax_portable_f64, sm_screen_portable_f64, double)

void sm_score_init_portable(sm_kernels *k)
{
    k->emax_f32 = sm_emax_portable_f32;
    k->emax_f64 = sm_emax_portable_f64;
    k->screen_f32 = sm_screen_portable_f32;
    k->screen_f64 = sm_screen_portable_f64;
    k->pack_f32 = sm_pack_portable_f32;
    k->pack_f64 = sm_pack_portable_f64;
    k->score_f32 = sm_score_portable_f32;
    k->score_f64 = sm_score_portable_f64;
    k->pack_bf16 = sm_pack_portable_bf16;
    k->score_bf16 = sm_score_portable_bf16;
}
