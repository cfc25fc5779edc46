/* AVX-512 gather kernels. Each row's signed sum runs over a strip of up to
 * SM_NV vectors held in registers, so a src row costs SM_NV loads and adds
 * and no stores; the per-element order is the portable kernel's.
 *
 * The _pf variants also prefetch the row SM_PFD signs ahead. They are for
 * sources that do not fit in L2, where the gathers would otherwise wait on
 * L3 or DRAM latency one row at a time; prefetching changes no arithmetic. */
#include "kernels.h"

#include <immintrin.h>

#define SM_NV     8
#define SM_PFD    16
#define SM_INLINE static inline __attribute__((always_inline))

/* Folds 8 double lanes pairwise: h = 4, 2, 1. */
SM_INLINE double fold8(__m512d v)
{
    __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* Prefetch `lines` cache lines of the src row SM_PFD signs after p. */
SM_INLINE void prefetch_ahead(const uint32_t *p, const uint32_t *end, const char *src,
                              size_t row_bytes, int lines)
{
    const uint32_t *q = p + SM_PFD < end ? p + SM_PFD : end - 1;
    const char *f = src + (size_t)*q * row_bytes;
    for (int l = 0; l < lines; ++l)
        _mm_prefetch(f + 64 * l, _MM_HINT_T0);
}

SM_INLINE void strip_f32(const uint32_t *ib, const uint32_t *im, const uint32_t *ie,
                         const uint32_t *end, const float *src, size_t w, const float *me, float *o,
                         __m512 va, __m512 vsc, __m512d *dlo, __m512d *dhi, __m512 *bad,
                         const int nv, const int pf)
{
    __m512 acc[SM_NV];
    for (int v = 0; v < nv; ++v)
        acc[v] = _mm512_setzero_ps();
    for (const uint32_t *p = ib; p < im; ++p) {
        if (pf)
            prefetch_ahead(p, end, (const char *)src, w * sizeof(float), nv);
        const float *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm512_add_ps(acc[v], _mm512_loadu_ps(x + 16 * v));
    }
    for (const uint32_t *p = im; p < ie; ++p) {
        if (pf)
            prefetch_ahead(p, end, (const char *)src, w * sizeof(float), nv);
        const float *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm512_sub_ps(acc[v], _mm512_loadu_ps(x + 16 * v));
    }
    for (int v = 0; v < nv; ++v) {
        __m512 m = _mm512_loadu_ps(me + 16 * v);
        if (dlo) {
            __m512d mlo = _mm512_cvtps_pd(_mm512_castps512_ps256(m));
            __m512d mhi =
                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(m), 1)));
            __m512d alo = _mm512_cvtps_pd(_mm512_castps512_ps256(acc[v]));
            __m512d ahi = _mm512_cvtps_pd(
                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[v]), 1)));
            *dlo = _mm512_add_pd(*dlo, _mm512_mul_pd(mlo, alo));
            *dhi = _mm512_add_pd(*dhi, _mm512_mul_pd(mhi, ahi));
        }
        if (o) {
            __m512 r = _mm512_mul_ps(_mm512_sub_ps(m, _mm512_mul_ps(va, acc[v])), vsc);
            _mm512_storeu_ps(o + 16 * v, r);
            *bad = _mm512_add_ps(*bad, _mm512_sub_ps(r, r));
        }
    }
}

SM_INLINE int gather_f32(const sm_signs *s, size_t r0, size_t r1, size_t w, const float *src,
                         const float *self, float *out, float a, float sc, double *dot,
                         const int pf)
{
    const __m512 va = _mm512_set1_ps(a), vsc = _mm512_set1_ps(sc);
    __m512 bad = _mm512_setzero_ps();
    const uint32_t *end = s->idx + s->nnz;
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        __m512d dlo = _mm512_setzero_pd(), dhi = _mm512_setzero_pd();
        __m512d *pl = dot ? &dlo : NULL;
        const float *me = self + r * w;
        float *o = out ? out + r * w : NULL;
        size_t t0 = 0;
        for (; t0 + 16 * SM_NV <= w; t0 += 16 * SM_NV)
            strip_f32(ib, im, ie, end, src + t0, w, me + t0, o ? o + t0 : NULL, va, vsc, pl, &dhi,
                      &bad, SM_NV, pf);
        switch ((w - t0) / 16) {
#define SM_TAIL(n)                                                                                 \
    case n:                                                                                        \
        strip_f32(ib, im, ie, end, src + t0, w, me + t0, o ? o + t0 : NULL, va, vsc, pl, &dhi,     \
                  &bad, n, pf);                                                                    \
        break;
            SM_TAIL(1)
            SM_TAIL(2) SM_TAIL(3) SM_TAIL(4) SM_TAIL(5) SM_TAIL(6) SM_TAIL(7)
#undef SM_TAIL
                default : break;
        }
        if (dot)
            dot[r] = fold8(_mm512_add_pd(dlo, dhi));
    }
    return _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0;
}

SM_INLINE void strip_f64(const uint32_t *ib, const uint32_t *im, const uint32_t *ie,
                         const uint32_t *end, const double *src, size_t w, const double *me,
                         double *o, __m512d va, __m512d vsc, __m512d *dl, __m512d *bad,
                         const int nv, const int pf)
{
    __m512d acc[SM_NV];
    for (int v = 0; v < nv; ++v)
        acc[v] = _mm512_setzero_pd();
    for (const uint32_t *p = ib; p < im; ++p) {
        if (pf)
            prefetch_ahead(p, end, (const char *)src, w * sizeof(double), nv);
        const double *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm512_add_pd(acc[v], _mm512_loadu_pd(x + 8 * v));
    }
    for (const uint32_t *p = im; p < ie; ++p) {
        if (pf)
            prefetch_ahead(p, end, (const char *)src, w * sizeof(double), nv);
        const double *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; ++v)
            acc[v] = _mm512_sub_pd(acc[v], _mm512_loadu_pd(x + 8 * v));
    }
    for (int v = 0; v < nv; ++v) {
        __m512d m = _mm512_loadu_pd(me + 8 * v);
        if (dl)
            *dl = _mm512_add_pd(*dl, _mm512_mul_pd(m, acc[v]));
        if (o) {
            __m512d r = _mm512_mul_pd(_mm512_sub_pd(m, _mm512_mul_pd(va, acc[v])), vsc);
            _mm512_storeu_pd(o + 8 * v, r);
            *bad = _mm512_add_pd(*bad, _mm512_sub_pd(r, r));
        }
    }
}

SM_INLINE int gather_f64(const sm_signs *s, size_t r0, size_t r1, size_t w, const double *src,
                         const double *self, double *out, double a, double sc, double *dot,
                         const int pf)
{
    const __m512d va = _mm512_set1_pd(a), vsc = _mm512_set1_pd(sc);
    __m512d bad = _mm512_setzero_pd();
    const uint32_t *end = s->idx + s->nnz;
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        __m512d dl = _mm512_setzero_pd();
        __m512d *pl = dot ? &dl : NULL;
        const double *me = self + r * w;
        double *o = out ? out + r * w : NULL;
        size_t t0 = 0;
        for (; t0 + 8 * SM_NV <= w; t0 += 8 * SM_NV)
            strip_f64(ib, im, ie, end, src + t0, w, me + t0, o ? o + t0 : NULL, va, vsc, pl, &bad,
                      SM_NV, pf);
        switch ((w - t0) / 8) {
#define SM_TAIL(n)                                                                                 \
    case n:                                                                                        \
        strip_f64(ib, im, ie, end, src + t0, w, me + t0, o ? o + t0 : NULL, va, vsc, pl, &bad, n,  \
                  pf);                                                                             \
        break;
            SM_TAIL(1)
            SM_TAIL(2) SM_TAIL(3) SM_TAIL(4) SM_TAIL(5) SM_TAIL(6) SM_TAIL(7)
#undef SM_TAIL
                default : break;
        }
        if (dot)
            dot[r] = fold8(dl);
    }
    return _mm512_cmp_pd_mask(bad, bad, _CMP_UNORD_Q) != 0;
}

#define SM_DEFINE(name, T, body, pf)                                                               \
    static int name(const sm_signs *s, size_t r0, size_t r1, size_t w, const T *src,               \
                    const T *self, T *out, T a, T sc, double *dot)                                 \
    {                                                                                              \
        return body(s, r0, r1, w, src, self, out, a, sc, dot, pf);                                 \
    }
SM_DEFINE(sm_gather_avx512_f32, float, gather_f32, 0)
SM_DEFINE(sm_gather_avx512_pf_f32, float, gather_f32, 1)
SM_DEFINE(sm_gather_avx512_f64, double, gather_f64, 0)
SM_DEFINE(sm_gather_avx512_pf_f64, double, gather_f64, 1)

void sm_kernels_init_avx512(sm_kernels *k)
{
    k->name = "avx512";
    k->isa = SM_ISA_AVX512;
    k->gather_f32 = sm_gather_avx512_f32;
    k->gather_f64 = sm_gather_avx512_f64;
    k->gather_pf_f32 = sm_gather_avx512_pf_f32;
    k->gather_pf_f64 = sm_gather_avx512_pf_f64;
    sm_score_init_avx512(k);
}
