/* Portable reference kernels. Written for clarity of the canonical order
 * first; the compiler's baseline auto-vectorisation does the rest. */
#include "kernels.h"

#include <math.h>

/* Columns handled per pass over a row's index list. */
#define SM_PSTRIP 64

static double fold_lanes(double *lane, int lanes)
{
    for (int h = lanes / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; ++l)
            lane[l] += lane[l + h];
    return lane[0];
}

#define SM_GATHER_PORTABLE(NAME, T, LANES)                                                         \
    static int NAME(const sm_signs *s, size_t r0, size_t r1, size_t w, const T *src,               \
                    const T *self, T *out, T a, T sc, double *dot)                                 \
    {                                                                                              \
        int bad = 0;                                                                               \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const uint32_t *ib = s->idx + s->ptr[r];                                               \
            const uint32_t *im = s->idx + s->mid[r];                                               \
            const uint32_t *ie = s->idx + s->ptr[r + 1];                                           \
            const T *me = self + r * w;                                                            \
            double lane[LANES] = {0};                                                              \
            for (size_t t0 = 0; t0 < w; t0 += SM_PSTRIP) {                                         \
                size_t tw = w - t0 < SM_PSTRIP ? w - t0 : SM_PSTRIP;                               \
                T acc[SM_PSTRIP] = {0};                                                            \
                for (const uint32_t *p = ib; p < im; ++p) {                                        \
                    const T *x = src + (size_t)*p * w + t0;                                        \
                    for (size_t t = 0; t < tw; ++t)                                                \
                        acc[t] += x[t];                                                            \
                }                                                                                  \
                for (const uint32_t *p = im; p < ie; ++p) {                                        \
                    const T *x = src + (size_t)*p * w + t0;                                        \
                    for (size_t t = 0; t < tw; ++t)                                                \
                        acc[t] -= x[t];                                                            \
                }                                                                                  \
                if (dot)                                                                           \
                    for (size_t t = 0; t < tw; ++t)                                                \
                        lane[(t0 + t) % LANES] += (double)me[t0 + t] * (double)acc[t];             \
                if (out) {                                                                         \
                    T *o = out + r * w + t0;                                                       \
                    for (size_t t = 0; t < tw; ++t) {                                              \
                        T step = a * acc[t];                                                       \
                        o[t] = (me[t0 + t] - step) * sc;                                           \
                        bad |= !isfinite(o[t]);                                                    \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            if (dot)                                                                               \
                dot[r] = fold_lanes(lane, LANES);                                                  \
        }                                                                                          \
        return bad;                                                                                \
    }

SM_GATHER_PORTABLE(sm_gather_portable_f32, float, SM_LANES_F32)
SM_GATHER_PORTABLE(sm_gather_portable_f64, double, SM_LANES_F64)

void sm_kernels_init_portable(sm_kernels *k)
{
    k->name = "portable";
    k->isa = SM_ISA_PORTABLE;
    k->gather_f32 = sm_gather_portable_f32;
    k->gather_f64 = sm_gather_portable_f64;
    k->gather_pf_f32 = sm_gather_portable_f32;
    k->gather_pf_f64 = sm_gather_portable_f64;
    sm_score_init_portable(k);
}
