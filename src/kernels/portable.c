/* Portable reference kernels. Written for clarity of the canonical order
 * first; the compiler's baseline auto-vectorisation does the rest. */
#include "kernels.h"

#include <math.h>

/* Columns handled per pass over a row's index list. */
#define SM_PSTRIP 64

static void sm_kernels_init_portable_blocked(sm_kernels *k);

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
    sm_kernels_init_portable_blocked(k);
    sm_score_init_portable(k);
}

#define SM_ACCUM_PORTABLE(NAME, T)                                                                 \
    static void NAME(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,                  \
                     const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1, size_t w,     \
                     const T *src, T *acc, int first)                                              \
    {                                                                                              \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const uint32_t *ip = s->idx + s->ptr[r], *im = s->idx + s->mid[r];                     \
            T *ac = acc + r * w;                                                                   \
            for (size_t t0 = 0; t0 < w; t0 += SM_PSTRIP) {                                         \
                size_t tw = w - t0 < SM_PSTRIP ? w - t0 : SM_PSTRIP;                               \
                T a[SM_PSTRIP];                                                                    \
                for (size_t t = 0; t < tw; ++t)                                                    \
                    a[t] = first ? (T)0 : ac[t0 + t];                                              \
                for (const uint32_t *p = ip + pb0[r]; p < ip + pb1[r]; ++p) {                      \
                    const T *x = src + (size_t)*p * w + t0;                                        \
                    for (size_t t = 0; t < tw; ++t)                                                \
                        a[t] += x[t];                                                              \
                }                                                                                  \
                for (const uint32_t *p = im + mb0[r]; p < im + mb1[r]; ++p) {                      \
                    const T *x = src + (size_t)*p * w + t0;                                        \
                    for (size_t t = 0; t < tw; ++t)                                                \
                        a[t] -= x[t];                                                              \
                }                                                                                  \
                for (size_t t = 0; t < tw; ++t)                                                    \
                    ac[t0 + t] = a[t];                                                             \
            }                                                                                      \
        }                                                                                          \
    }

#define SM_UPDATE_PORTABLE(NAME, T, LANES)                                                         \
    static int NAME(size_t r0, size_t r1, size_t w, const T *self, const T *acc, T *out, T a,      \
                    T sc, double *dot)                                                             \
    {                                                                                              \
        int bad = 0;                                                                               \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const T *me = self + r * w, *ac = acc + r * w;                                         \
            double lane[LANES] = {0};                                                              \
            for (size_t t = 0; t < w; ++t) {                                                       \
                if (dot)                                                                           \
                    lane[t % LANES] += (double)me[t] * (double)ac[t];                              \
                if (out) {                                                                         \
                    T step = a * ac[t];                                                            \
                    T o = (me[t] - step) * sc;                                                     \
                    out[r * w + t] = o;                                                            \
                    bad |= !isfinite(o);                                                           \
                }                                                                                  \
            }                                                                                      \
            if (dot)                                                                               \
                dot[r] = fold_lanes(lane, LANES);                                                  \
        }                                                                                          \
        return bad;                                                                                \
    }

SM_ACCUM_PORTABLE(sm_accum_portable_f32, float)
SM_ACCUM_PORTABLE(sm_accum_portable_f64, double)
SM_UPDATE_PORTABLE(sm_update_portable_f32, float, SM_LANES_F32)
SM_UPDATE_PORTABLE(sm_update_portable_f64, double, SM_LANES_F64)

static void sm_kernels_init_portable_blocked(sm_kernels *k)
{
    k->accum_f32 = sm_accum_portable_f32;
    k->accum_f64 = sm_accum_portable_f64;
    k->update_f32 = sm_update_portable_f32;
    k->update_f64 = sm_update_portable_f64;
}
