/* Portable reference kernels. Written for clarity of the canonical order
 * first, with the sums in GNU C vector types so that any target's baseline
 * vector unit runs them. */
#include "bf16.h"
#include "dense.h"
#include "kernels.h"

#include <math.h>

/* Columns per pass over a row's index list: 8 vectors of 16 bytes, which
 * the baseline's 16 vector registers (SSE2, and NEON's 32) hold. */
#define SM_PSTRIP_F32 32
#define SM_PSTRIP_F64 16
#define SM_PSTRIP_MAX 32

static void sm_kernels_init_portable_blocked(sm_kernels *k);
static void sm_kernels_init_portable_bf16(sm_kernels *k);

static double fold_lanes(double *lane, int lanes)
{
    for (int h = lanes / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; ++l)
            lane[l] += lane[l + h];
    return lane[0];
}

/* The signed sum of one strip of n columns (a compile-time constant at
 * each call), written to acc: start from init (NULL: +0), add the src rows
 * of [pb, pe), subtract those of [mb, me). GNU C vector types (16 bytes:
 * SSE2, NEON, or scalar code where there is neither) because compilers
 * scalarise a plain array accumulator instead of vectorising it (GCC 12
 * kept 16 float registers and ran 6x slower). */
#if defined(__GNUC__)
#define SM_VBYTES 16
typedef float sm_vf __attribute__((vector_size(SM_VBYTES), aligned(4), may_alias));
typedef double sm_vd __attribute__((vector_size(SM_VBYTES), aligned(8), may_alias));
#define SM_VSUM(T, V, acc, init, pb, pe, mb, me, src, w, t0, n)                                    \
    do {                                                                                           \
        enum { VL = SM_VBYTES / sizeof(T) };                                                       \
        V v[SM_PSTRIP_MAX / VL];                                                                   \
        for (size_t j = 0; j < (n) / VL; ++j)                                                      \
            v[j] = (init) ? ((const V *)(init))[j] : (V){0};                                       \
        for (const uint32_t *p = (pb); p < (pe); ++p) {                                            \
            const V *x = (const V *)((src) + (size_t)*p * (w) + (t0));                             \
            for (size_t j = 0; j < (n) / VL; ++j)                                                  \
                v[j] += x[j];                                                                      \
        }                                                                                          \
        for (const uint32_t *p = (mb); p < (me); ++p) {                                            \
            const V *x = (const V *)((src) + (size_t)*p * (w) + (t0));                             \
            for (size_t j = 0; j < (n) / VL; ++j)                                                  \
                v[j] -= x[j];                                                                      \
        }                                                                                          \
        for (size_t j = 0; j < (n) / VL; ++j)                                                      \
            for (size_t l = 0; l < VL; ++l)                                                        \
                (acc)[j * VL + l] = v[j][l];                                                       \
    } while (0)
#else
typedef float sm_vf;
typedef double sm_vd;
#define SM_VSUM(T, V, acc, init, pb, pe, mb, me, src, w, t0, n)                                    \
    do {                                                                                           \
        for (size_t t = 0; t < (n); ++t)                                                           \
            (acc)[t] = (init) ? (init)[t] : (T)0;                                                  \
        for (const uint32_t *p = (pb); p < (pe); ++p)                                              \
            for (size_t t = 0; t < (n); ++t)                                                       \
                (acc)[t] += (src)[(size_t)*p * (w) + (t0) + t];                                    \
        for (const uint32_t *p = (mb); p < (me); ++p)                                              \
            for (size_t t = 0; t < (n); ++t)                                                       \
                (acc)[t] -= (src)[(size_t)*p * (w) + (t0) + t];                                    \
    } while (0)
#endif

/* A gather strip: the sum, then the row's dot lanes and update. */
#define SM_STRIP_PORTABLE(NAME, T, V, LANES)                                                       \
    static inline __attribute__((always_inline)) int NAME(                                         \
        const uint32_t *ib, const uint32_t *im, const uint32_t *ie, const T *src, size_t w,        \
        size_t t0, const T *me, T *o, T a, T sc, double *lane, const size_t n)                     \
    {                                                                                              \
        T acc[SM_PSTRIP_MAX];                                                                      \
        SM_VSUM(T, V, acc, (const T *)NULL, ib, im, im, ie, src, w, t0, n);                        \
        if (lane)                                                                                  \
            for (size_t t = 0; t < n; ++t)                                                         \
                lane[(t0 + t) % LANES] += (double)me[t0 + t] * (double)acc[t];                     \
        int bad = 0;                                                                               \
        if (o)                                                                                     \
            for (size_t t = 0; t < n; ++t) {                                                       \
                T step = a * acc[t];                                                               \
                o[t0 + t] = (me[t0 + t] - step) * sc;                                              \
                bad |= !isfinite(o[t0 + t]);                                                       \
            }                                                                                      \
        return bad;                                                                                \
    }

/* Strips of PS columns; panels are multiples of LANES wide, so the tail
 * goes in strips of LANES. */
#define SM_GATHER_PORTABLE(NAME, STRIP, T, LANES, PS)                                              \
    static int NAME(const sm_signs *s, size_t r0, size_t r1, size_t w, const T *src,               \
                    const T *self, T *out, T a, T sc, double *dot)                                 \
    {                                                                                              \
        int bad = 0;                                                                               \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const uint32_t *ib = s->idx + s->ptr[r];                                               \
            const uint32_t *im = s->idx + s->mid[r];                                               \
            const uint32_t *ie = s->idx + s->ptr[r + 1];                                           \
            const T *me = self + r * w;                                                            \
            T *o = out ? out + r * w : NULL;                                                       \
            double lane[LANES] = {0};                                                              \
            double *ln = dot ? lane : NULL;                                                        \
            size_t t0 = 0;                                                                         \
            for (; t0 + PS <= w; t0 += PS)                                                         \
                bad |= STRIP(ib, im, ie, src, w, t0, me, o, a, sc, ln, PS);                        \
            for (; t0 < w; t0 += LANES)                                                            \
                bad |= STRIP(ib, im, ie, src, w, t0, me, o, a, sc, ln, LANES);                     \
            if (dot)                                                                               \
                dot[r] = fold_lanes(lane, LANES);                                                  \
        }                                                                                          \
        return bad;                                                                                \
    }

SM_STRIP_PORTABLE(strip_portable_f32, float, sm_vf, SM_LANES_F32)
SM_STRIP_PORTABLE(strip_portable_f64, double, sm_vd, SM_LANES_F64)
SM_GATHER_PORTABLE(sm_gather_portable_f32, strip_portable_f32, float, SM_LANES_F32, SM_PSTRIP_F32)
SM_GATHER_PORTABLE(sm_gather_portable_f64, strip_portable_f64, double, SM_LANES_F64, SM_PSTRIP_F64)

SM_DENSE_DEFINE(portable)

void sm_kernels_init_portable(sm_kernels *k)
{
    k->xty_f64 = sm_xty_f64_portable;
    k->mul_small_f64 = sm_mul_small_f64_portable;
    k->name = "portable";
    k->isa = SM_ISA_PORTABLE;
    k->gather_f32 = sm_gather_portable_f32;
    k->gather_f64 = sm_gather_portable_f64;
    k->gather_pf_f32 = sm_gather_portable_f32;
    k->gather_pf_f64 = sm_gather_portable_f64;
    sm_kernels_init_portable_blocked(k);
    sm_kernels_init_portable_bf16(k);
    sm_score_init_portable(k);
}

#define SM_ACCUM_PORTABLE(NAME, T, V, LANES, PS)                                                   \
    static void NAME(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,                  \
                     const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1, size_t w,     \
                     const T *src, T *acc, int first)                                              \
    {                                                                                              \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const uint32_t *ip = s->idx + s->ptr[r], *im = s->idx + s->mid[r];                     \
            T *ac = acc + r * w;                                                                   \
            SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1);                                     \
            size_t t0 = 0;                                                                         \
            for (; t0 + PS <= w; t0 += PS)                                                         \
                SM_VSUM(T, V, ac + t0, first ? NULL : ac + t0, ip + pb0[r], ip + pb1[r],           \
                        im + mb0[r], im + mb1[r], src, w, t0, PS);                                 \
            for (; t0 < w; t0 += LANES)                                                            \
                SM_VSUM(T, V, ac + t0, first ? NULL : ac + t0, ip + pb0[r], ip + pb1[r],           \
                        im + mb0[r], im + mb1[r], src, w, t0, LANES);                              \
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

SM_ACCUM_PORTABLE(sm_accum_portable_f32, float, sm_vf, SM_LANES_F32, SM_PSTRIP_F32)
SM_ACCUM_PORTABLE(sm_accum_portable_f64, double, sm_vd, SM_LANES_F64, SM_PSTRIP_F64)
SM_UPDATE_PORTABLE(sm_update_portable_f32, float, SM_LANES_F32)
SM_UPDATE_PORTABLE(sm_update_portable_f64, double, SM_LANES_F64)

static void sm_kernels_init_portable_blocked(sm_kernels *k)
{
    k->accum_f32 = sm_accum_portable_f32;
    k->accum_f64 = sm_accum_portable_f64;
    k->update_f32 = sm_update_portable_f32;
    k->update_f64 = sm_update_portable_f64;
}

/* bf16 source rows (kernels.h): the f32 strip's sum with each element
 * widened as it is read. The widening is done four at a time in a GNU C
 * vector (8 bytes in, 16 out), for the reason SM_VSUM gives. */
#if defined(__GNUC__)
typedef uint16_t sm_vh __attribute__((vector_size(8), aligned(2), may_alias));
typedef uint32_t sm_vu __attribute__((vector_size(16)));
#define SM_WIDEN4(p) ((sm_vf)(__builtin_convertvector(*(const sm_vh *)(p), sm_vu) << 16))
#define SM_HSUM(acc, init, pb, pe, mb, me, src, w, t0, n)                                          \
    do {                                                                                           \
        sm_vf v[SM_PSTRIP_F32 / 4];                                                                \
        for (size_t j = 0; j < (n) / 4; ++j)                                                       \
            v[j] = (init) ? ((const sm_vf *)(init))[j] : (sm_vf){0};                               \
        for (const uint32_t *p = (pb); p < (pe); ++p) {                                            \
            const uint16_t *x = (src) + (size_t)*p * (w) + (t0);                                   \
            for (size_t j = 0; j < (n) / 4; ++j)                                                   \
                v[j] += SM_WIDEN4(x + 4 * j);                                                      \
        }                                                                                          \
        for (const uint32_t *p = (mb); p < (me); ++p) {                                            \
            const uint16_t *x = (src) + (size_t)*p * (w) + (t0);                                   \
            for (size_t j = 0; j < (n) / 4; ++j)                                                   \
                v[j] -= SM_WIDEN4(x + 4 * j);                                                      \
        }                                                                                          \
        for (size_t j = 0; j < (n) / 4; ++j)                                                       \
            for (size_t l = 0; l < 4; ++l)                                                         \
                (acc)[j * 4 + l] = v[j][l];                                                        \
    } while (0)
#else
#define SM_HSUM(acc, init, pb, pe, mb, me, src, w, t0, n)                                          \
    do {                                                                                           \
        for (size_t t = 0; t < (n); ++t)                                                           \
            (acc)[t] = (init) ? (init)[t] : 0.0f;                                                  \
        for (const uint32_t *p = (pb); p < (pe); ++p)                                              \
            for (size_t t = 0; t < (n); ++t)                                                       \
                (acc)[t] += sm_bf16_to_f32((src)[(size_t)*p * (w) + (t0) + t]);                    \
        for (const uint32_t *p = (mb); p < (me); ++p)                                              \
            for (size_t t = 0; t < (n); ++t)                                                       \
                (acc)[t] -= sm_bf16_to_f32((src)[(size_t)*p * (w) + (t0) + t]);                    \
    } while (0)
#endif

static void sm_cvt_bf16_portable(const float *x, size_t n, uint16_t *y)
{
    for (size_t i = 0; i < n; ++i)
        y[i] = sm_bf16_from_f32(x[i]);
}

static inline __attribute__((always_inline)) int
strip_portable_bf16(const uint32_t *ib, const uint32_t *im, const uint32_t *ie, const uint16_t *src,
                    size_t w, size_t t0, const float *me, float *o, uint16_t *ob, float a, float sc,
                    double *lane, const size_t n)
{
    float acc[SM_PSTRIP_F32];
    SM_HSUM(acc, (const float *)NULL, ib, im, im, ie, src, w, t0, n);
    if (lane)
        for (size_t t = 0; t < n; ++t)
            lane[(t0 + t) % SM_LANES_F32] += (double)me[t0 + t] * (double)acc[t];
    int bad = 0;
    if (o)
        for (size_t t = 0; t < n; ++t) {
            float step = a * acc[t];
            o[t0 + t] = (me[t0 + t] - step) * sc;
            ob[t0 + t] = sm_bf16_from_f32(o[t0 + t]);
            bad |= !isfinite(o[t0 + t]);
        }
    return bad;
}

static int sm_gather_portable_bf16(const sm_signs *s, size_t r0, size_t r1, size_t w,
                                   const uint16_t *src, const float *self, float *out,
                                   uint16_t *outb, float a, float sc, double *dot)
{
    int bad = 0;
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        const float *me = self + r * w;
        float *o = out ? out + r * w : NULL;
        uint16_t *ob = out ? outb + r * w : NULL;
        double lane[SM_LANES_F32] = {0};
        double *ln = dot ? lane : NULL;
        size_t t0 = 0;
        for (; t0 + SM_PSTRIP_F32 <= w; t0 += SM_PSTRIP_F32)
            bad |= strip_portable_bf16(ib, im, ie, src, w, t0, me, o, ob, a, sc, ln, SM_PSTRIP_F32);
        for (; t0 < w; t0 += SM_LANES_F32)
            bad |= strip_portable_bf16(ib, im, ie, src, w, t0, me, o, ob, a, sc, ln, SM_LANES_F32);
        if (dot)
            dot[r] = fold_lanes(lane, SM_LANES_F32);
    }
    return bad;
}

static void sm_accum_portable_bf16(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,
                                   const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1,
                                   size_t w, const uint16_t *src, float *acc, int first)
{
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ip = s->idx + s->ptr[r], *im = s->idx + s->mid[r];
        float *ac = acc + r * w;
        SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1);
        size_t t0 = 0;
        for (; t0 + SM_PSTRIP_F32 <= w; t0 += SM_PSTRIP_F32)
            SM_HSUM(ac + t0, first ? NULL : ac + t0, ip + pb0[r], ip + pb1[r], im + mb0[r],
                    im + mb1[r], src, w, t0, SM_PSTRIP_F32);
        for (; t0 < w; t0 += SM_LANES_F32)
            SM_HSUM(ac + t0, first ? NULL : ac + t0, ip + pb0[r], ip + pb1[r], im + mb0[r],
                    im + mb1[r], src, w, t0, SM_LANES_F32);
    }
}

/* The f32 update, then the shadow of each row it wrote. */
static int sm_update_portable_bf16(size_t r0, size_t r1, size_t w, const float *self,
                                   const float *acc, float *out, uint16_t *outb, float a, float sc,
                                   double *dot)
{
    int bad = 0;
    for (size_t r = r0; r < r1; ++r) {
        bad |= sm_update_portable_f32(r, r + 1, w, self, acc, out, a, sc, dot);
        if (out)
            sm_cvt_bf16_portable(out + r * w, w, outb + r * w);
    }
    return bad;
}

static void sm_kernels_init_portable_bf16(sm_kernels *k)
{
    k->cvt_bf16 = sm_cvt_bf16_portable;
    k->gather_bf16 = sm_gather_portable_bf16;
    k->gather_pf_bf16 = sm_gather_portable_bf16;
    k->accum_bf16 = sm_accum_portable_bf16;
    k->update_bf16 = sm_update_portable_bf16;
}
