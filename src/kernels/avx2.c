/* AVX2 gather kernels: the AVX-512 design on 16 ymm registers. The
 * canonical 16-lane (float) and 8-lane (double) dot order is kept by giving
 * each group of lanes its own double accumulator. */
#include "kernels.h"

#include <immintrin.h>

#define SM_NV     8
#define SM_INLINE static inline __attribute__((always_inline))

/* 4 double lanes folded h = 2, 1. */
SM_INLINE double fold4(__m256d a)
{
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* d[0..3] hold double lanes 0-3, 4-7, 8-11, 12-15 of the float dot. */
SM_INLINE void strip_f32(const uint32_t *ib, const uint32_t *im, const uint32_t *ie,
                         const float *src, size_t w, const float *me, float *o, __m256 va,
                         __m256 vsc, __m256d *d, __m256 *bad, const int nv)
{
    __m256 acc[SM_NV];
    for (int v = 0; v < nv; ++v)
        acc[v] = _mm256_setzero_ps();
    for (const uint32_t *p = ib; p < im; ++p) {
        const float *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm256_add_ps(acc[v], _mm256_loadu_ps(x + 8 * v));
    }
    for (const uint32_t *p = im; p < ie; ++p) {
        const float *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm256_sub_ps(acc[v], _mm256_loadu_ps(x + 8 * v));
    }
    for (int v = 0; v < nv; ++v) {
        __m256 m = _mm256_loadu_ps(me + 8 * v);
        if (d) {
            /* vector v covers float lanes 8*(v%2) .. 8*(v%2)+7 */
            __m256d *dd = d + 2 * (v & 1);
            __m256d mlo = _mm256_cvtps_pd(_mm256_castps256_ps128(m));
            __m256d mhi = _mm256_cvtps_pd(_mm256_extractf128_ps(m, 1));
            __m256d alo = _mm256_cvtps_pd(_mm256_castps256_ps128(acc[v]));
            __m256d ahi = _mm256_cvtps_pd(_mm256_extractf128_ps(acc[v], 1));
            dd[0] = _mm256_add_pd(dd[0], _mm256_mul_pd(mlo, alo));
            dd[1] = _mm256_add_pd(dd[1], _mm256_mul_pd(mhi, ahi));
        }
        if (o) {
            __m256 r = _mm256_mul_ps(_mm256_sub_ps(m, _mm256_mul_ps(va, acc[v])), vsc);
            _mm256_storeu_ps(o + 8 * v, r);
            *bad = _mm256_add_ps(*bad, _mm256_sub_ps(r, r));
        }
    }
}

static int sm_gather_avx2_f32(const sm_signs *s, size_t r0, size_t r1, size_t w, const float *src,
                              const float *self, float *out, float a, float sc, double *dot)
{
    const __m256 va = _mm256_set1_ps(a), vsc = _mm256_set1_ps(sc);
    __m256 bad = _mm256_setzero_ps();
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        __m256d d[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                        _mm256_setzero_pd()};
        __m256d *pd = dot ? d : NULL;
        size_t t0 = 0;
        for (; t0 + 8 * SM_NV <= w; t0 += 8 * SM_NV)
            strip_f32(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, SM_NV);
        /* w and t0 are multiples of 16 floats: tails are 2, 4 or 6 vectors */
        switch ((w - t0) / 8) {
        case 0:
            break;
        case 2:
            strip_f32(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 2);
            break;
        case 4:
            strip_f32(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 4);
            break;
        default:
            strip_f32(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 6);
            break;
        }
        if (dot) {
            /* h = 8: lanes 0-7 += lanes 8-15; h = 4: 0-3 += 4-7; then 2, 1 */
            __m256d a0 = _mm256_add_pd(d[0], d[2]);
            __m256d a1 = _mm256_add_pd(d[1], d[3]);
            dot[r] = fold4(_mm256_add_pd(a0, a1));
        }
    }
    __m256 u = _mm256_cmp_ps(bad, bad, _CMP_UNORD_Q);
    return _mm256_movemask_ps(u) != 0;
}

/* d[0], d[1] hold double lanes 0-3 and 4-7. */
SM_INLINE void strip_f64(const uint32_t *ib, const uint32_t *im, const uint32_t *ie,
                         const double *src, size_t w, const double *me, double *o, __m256d va,
                         __m256d vsc, __m256d *d, __m256d *bad, const int nv)
{
    __m256d acc[SM_NV];
    for (int v = 0; v < nv; ++v)
        acc[v] = _mm256_setzero_pd();
    for (const uint32_t *p = ib; p < im; ++p) {
        const double *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm256_add_pd(acc[v], _mm256_loadu_pd(x + 4 * v));
    }
    for (const uint32_t *p = im; p < ie; ++p) {
        const double *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm256_sub_pd(acc[v], _mm256_loadu_pd(x + 4 * v));
    }
    for (int v = 0; v < nv; ++v) {
        __m256d m = _mm256_loadu_pd(me + 4 * v);
        if (d)
            d[v & 1] = _mm256_add_pd(d[v & 1], _mm256_mul_pd(m, acc[v]));
        if (o) {
            __m256d r = _mm256_mul_pd(_mm256_sub_pd(m, _mm256_mul_pd(va, acc[v])), vsc);
            _mm256_storeu_pd(o + 4 * v, r);
            *bad = _mm256_add_pd(*bad, _mm256_sub_pd(r, r));
        }
    }
}

static int sm_gather_avx2_f64(const sm_signs *s, size_t r0, size_t r1, size_t w, const double *src,
                              const double *self, double *out, double a, double sc, double *dot)
{
    const __m256d va = _mm256_set1_pd(a), vsc = _mm256_set1_pd(sc);
    __m256d bad = _mm256_setzero_pd();
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        __m256d d[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
        __m256d *pd = dot ? d : NULL;
        size_t t0 = 0;
        for (; t0 + 4 * SM_NV <= w; t0 += 4 * SM_NV)
            strip_f64(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, SM_NV);
        switch ((w - t0) / 4) {
        case 0:
            break;
        case 2:
            strip_f64(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 2);
            break;
        case 4:
            strip_f64(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 4);
            break;
        default:
            strip_f64(ib, im, ie, src + t0, w, self + r * w + t0, out ? out + r * w + t0 : NULL, va,
                      vsc, pd, &bad, 6);
            break;
        }
        if (dot)
            dot[r] = fold4(_mm256_add_pd(d[0], d[1]));
    }
    __m256d u = _mm256_cmp_pd(bad, bad, _CMP_UNORD_Q);
    return _mm256_movemask_pd(u) != 0;
}

void sm_kernels_init_avx2(sm_kernels *k)
{
    k->name = "avx2";
    k->isa = SM_ISA_AVX2;
    k->gather_f32 = sm_gather_avx2_f32;
    k->gather_f64 = sm_gather_avx2_f64;
    k->gather_pf_f32 = sm_gather_avx2_f32;
    k->gather_pf_f64 = sm_gather_avx2_f64;
    sm_score_init_avx2(k);
}
