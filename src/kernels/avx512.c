/* AVX-512 gather kernels.
 *
 * A row's signed sum runs over a strip of up to SM_NV vectors held in
 * registers: a src row costs SM_NV loads and adds and no stores. One row
 * alone is a chain of dependent adds per register, so rows go in pairs
 * whose sign lists are walked side by side: twice the independent chains,
 * and the per-element order is still each row's own, the portable one.
 *
 * The _pf variants also prefetch rows SM_PFD signs ahead, for src panels
 * beyond L2; prefetching changes no arithmetic. */
#include "bf16.h"
#include "dense.h"
#include "kernels.h"

#include <immintrin.h>

#define SM_NV     4
#define SM_PFD    16
#define SM_INLINE static inline __attribute__((always_inline))

/* Folds 8 double lanes pairwise: h = 4, 2, 1. */
SM_INLINE double fold8(__m512d v)
{
    __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

SM_INLINE void prefetch_ahead(const uint32_t *p, const uint32_t *end, const char *src,
                              size_t row_bytes, int lines)
{
    const uint32_t *q = p + SM_PFD < end ? p + SM_PFD : end - 1;
    const char *f = src + (size_t)*q * row_bytes;
    for (int l = 0; l < lines; ++l)
        _mm_prefetch(f + 64 * l, _MM_HINT_T0);
}

/* The element type enters only through these few operations. */
#define SM_DEFINE_TYPE(SFX, T, V, LANES, LOAD, ADD, SUB)                                           \
    /* n signs of one row: acc (sub ? -= : +=) src rows */                                         \
    SM_INLINE void run1_##SFX(V *acc, const uint32_t *p, size_t n, const uint32_t *end,            \
                              const T *src, size_t w, const int sub, const int nv, const int pf)   \
    {                                                                                              \
        for (size_t i = 0; i < n; ++i) {                                                           \
            if (pf)                                                                                \
                prefetch_ahead(p + i, end, (const char *)src, w * sizeof(T), nv);                  \
            const T *x = src + (size_t)p[i] * w;                                                   \
            for (int v = 0; v < nv; ++v)                                                           \
                acc[v] =                                                                           \
                    sub ? SUB(acc[v], LOAD(x + LANES * v)) : ADD(acc[v], LOAD(x + LANES * v));     \
        }                                                                                          \
    }                                                                                              \
    /* n signs of each of two rows, interleaved */                                                 \
    SM_INLINE void run2_##SFX(V *a, V *b, const uint32_t *pa, const uint32_t *pb, size_t n,        \
                              const uint32_t *end, const T *src, size_t w, const int sa,           \
                              const int sb, const int nv, const int pf)                            \
    {                                                                                              \
        for (size_t i = 0; i < n; ++i) {                                                           \
            if (pf) {                                                                              \
                prefetch_ahead(pa + i, end, (const char *)src, w * sizeof(T), nv);                 \
                prefetch_ahead(pb + i, end, (const char *)src, w * sizeof(T), nv);                 \
            }                                                                                      \
            const T *xa = src + (size_t)pa[i] * w, *xb = src + (size_t)pb[i] * w;                  \
            for (int v = 0; v < nv; ++v) {                                                         \
                a[v] = sa ? SUB(a[v], LOAD(xa + LANES * v)) : ADD(a[v], LOAD(xa + LANES * v));     \
                b[v] = sb ? SUB(b[v], LOAD(xb + LANES * v)) : ADD(b[v], LOAD(xb + LANES * v));     \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* Row A: +1 entries [pa0, pa1), -1 entries [ma0, ma1); row B likewise                         \
     * (may be empty). Walk both while both have signs, in runs where neither                      \
     * changes segment, then finish each alone. */                                                 \
    SM_INLINE void acc2_##SFX(V *a, V *b, const uint32_t *pa0, const uint32_t *pa1,                \
                              const uint32_t *ma0, const uint32_t *ma1, const uint32_t *pb0,       \
                              const uint32_t *pb1, const uint32_t *mb0, const uint32_t *mb1,       \
                              const uint32_t *end, const T *src, size_t w, const int nv,           \
                              const int pf)                                                        \
    {                                                                                              \
        const uint32_t *xa = pa0, *ya = pa1, *xb = pb0, *yb = pb1;                                 \
        int sa = 0, sb = 0;                                                                        \
        if (xa == ya)                                                                              \
            xa = ma0, ya = ma1, sa = 1;                                                            \
        if (xb == yb)                                                                              \
            xb = mb0, yb = mb1, sb = 1;                                                            \
        while (xa < ya && xb < yb) {                                                               \
            size_t na = (size_t)(ya - xa), nb = (size_t)(yb - xb), n = na < nb ? na : nb;          \
            switch (sa * 2 + sb) {                                                                 \
            case 0:                                                                                \
                run2_##SFX(a, b, xa, xb, n, end, src, w, 0, 0, nv, pf);                            \
                break;                                                                             \
            case 1:                                                                                \
                run2_##SFX(a, b, xa, xb, n, end, src, w, 0, 1, nv, pf);                            \
                break;                                                                             \
            case 2:                                                                                \
                run2_##SFX(a, b, xa, xb, n, end, src, w, 1, 0, nv, pf);                            \
                break;                                                                             \
            default:                                                                               \
                run2_##SFX(a, b, xa, xb, n, end, src, w, 1, 1, nv, pf);                            \
                break;                                                                             \
            }                                                                                      \
            xa += n, xb += n;                                                                      \
            if (xa == ya && !sa)                                                                   \
                xa = ma0, ya = ma1, sa = 1;                                                        \
            if (xb == yb && !sb)                                                                   \
                xb = mb0, yb = mb1, sb = 1;                                                        \
        }                                                                                          \
        if (xa < ya)                                                                               \
            run1_##SFX(a, xa, (size_t)(ya - xa), end, src, w, sa, nv, pf);                         \
        if (!sa && ma0 < ma1)                                                                      \
            run1_##SFX(a, ma0, (size_t)(ma1 - ma0), end, src, w, 1, nv, pf);                       \
        if (xb < yb)                                                                               \
            run1_##SFX(b, xb, (size_t)(yb - xb), end, src, w, sb, nv, pf);                         \
        if (!sb && mb0 < mb1)                                                                      \
            run1_##SFX(b, mb0, (size_t)(mb1 - mb0), end, src, w, 1, nv, pf);                       \
    }

SM_DEFINE_TYPE(f32, float, __m512, 16, _mm512_loadu_ps, _mm512_add_ps, _mm512_sub_ps)
SM_DEFINE_TYPE(f64, double, __m512d, 8, _mm512_loadu_pd, _mm512_add_pd, _mm512_sub_pd)

/* out = (self - a*acc) * sc and the canonical dot, for one strip. */
SM_INLINE void finish_f32(const __m512 *acc, const float *me, float *o, __m512 va, __m512 vsc,
                          __m512d *dlo, __m512d *dhi, __m512 *bad, const int nv)
{
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

SM_INLINE void finish_f64(const __m512d *acc, const double *me, double *o, __m512d va, __m512d vsc,
                          __m512d *dl, __m512d *unused, __m512d *bad, const int nv)
{
    (void)unused;
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

/* Rows r and r+1 (when pair) over one strip [t0, t0 + nv*LANES). */
#define SM_DEFINE_STRIP(SFX, T, V, VD, LANES, ZERO)                                                \
    SM_INLINE void strip_##SFX(const sm_signs *s, size_t r, int pair, size_t w, size_t t0,         \
                               const T *src, const T *self, T *out, V va, V vsc, VD *dl, VD *dh,   \
                               V *bad, const int nv, const int pf)                                 \
    {                                                                                              \
        const uint32_t *end = s->idx + s->nnz;                                                     \
        V a[SM_NV], b[SM_NV];                                                                      \
        for (int v = 0; v < nv; ++v)                                                               \
            a[v] = ZERO(), b[v] = ZERO();                                                          \
        const uint32_t *ia = s->idx + s->ptr[r], *ma = s->idx + s->mid[r],                         \
                       *ea = s->idx + s->ptr[r + 1];                                               \
        const uint32_t *ib = ea, *mb = ea, *eb = ea;                                               \
        if (pair)                                                                                  \
            ib = ea, mb = s->idx + s->mid[r + 1], eb = s->idx + s->ptr[r + 2];                     \
        acc2_##SFX(a, b, ia, ma, ma, ea, ib, mb, mb, eb, end, src + t0, w, nv, pf);                \
        finish_##SFX(a, self + r * w + t0, out ? out + r * w + t0 : NULL, va, vsc,                 \
                     dl ? &dl[0] : NULL, &dh[0], bad, nv);                                         \
        if (pair)                                                                                  \
            finish_##SFX(b, self + (r + 1) * w + t0, out ? out + (r + 1) * w + t0 : NULL, va, vsc, \
                         dl ? &dl[1] : NULL, &dh[1], bad, nv);                                     \
    }

SM_DEFINE_STRIP(f32, float, __m512, __m512d, 16, _mm512_setzero_ps)
SM_DEFINE_STRIP(f64, double, __m512d, __m512d, 8, _mm512_setzero_pd)

/* The driver over rows: pairs, then a last odd row; strips of SM_NV
 * vectors, then a tail strip. f32 dots keep lanes 0-7 in dl, 8-15 in dh;
 * f64 dots use dl only. */
#define SM_DEFINE_GATHER(SFX, T, V, LANES, SET1, ZERO, NANMASK, DOTFOLD)                           \
    SM_INLINE int gather_##SFX(const sm_signs *s, size_t r0, size_t r1, size_t w, const T *src,    \
                               const T *self, T *out, T a, T sc, double *dot, const int pf)        \
    {                                                                                              \
        const V va = SET1(a), vsc = SET1(sc);                                                      \
        V bad = ZERO();                                                                            \
        for (size_t r = r0; r < r1; r += 2) {                                                      \
            int pair = r + 1 < r1;                                                                 \
            __m512d dl[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};                            \
            __m512d dh[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};                            \
            __m512d *pl = dot ? dl : NULL;                                                         \
            size_t t0 = 0;                                                                         \
            for (; t0 + LANES * SM_NV <= w; t0 += LANES * SM_NV)                                   \
                strip_##SFX(s, r, pair, w, t0, src, self, out, va, vsc, pl, dh, &bad, SM_NV, pf);  \
            switch ((w - t0) / LANES) {                                                            \
            case 1:                                                                                \
                strip_##SFX(s, r, pair, w, t0, src, self, out, va, vsc, pl, dh, &bad, 1, pf);      \
                break;                                                                             \
            case 2:                                                                                \
                strip_##SFX(s, r, pair, w, t0, src, self, out, va, vsc, pl, dh, &bad, 2, pf);      \
                break;                                                                             \
            case 3:                                                                                \
                strip_##SFX(s, r, pair, w, t0, src, self, out, va, vsc, pl, dh, &bad, 3, pf);      \
                break;                                                                             \
            default:                                                                               \
                break;                                                                             \
            }                                                                                      \
            if (dot) {                                                                             \
                dot[r] = DOTFOLD(dl[0], dh[0]);                                                    \
                if (pair)                                                                          \
                    dot[r + 1] = DOTFOLD(dl[1], dh[1]);                                            \
            }                                                                                      \
        }                                                                                          \
        return NANMASK(bad) != 0;                                                                  \
    }

#define SM_FOLD_F32(l, h) fold8(_mm512_add_pd(l, h))
#define SM_FOLD_F64(l, h) fold8(l)
#define SM_NAN_F32(v)     _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)
#define SM_NAN_F64(v)     _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q)
SM_DEFINE_GATHER(f32, float, __m512, 16, _mm512_set1_ps, _mm512_setzero_ps, SM_NAN_F32, SM_FOLD_F32)
SM_DEFINE_GATHER(f64, double, __m512d, 8, _mm512_set1_pd, _mm512_setzero_pd, SM_NAN_F64,
                 SM_FOLD_F64)

/* Blocked accumulate: acc rows ra (and rb) over one strip. */
#define SM_DEFINE_ACCUM(SFX, T, V, LANES, LOAD, STORE, ZERO)                                       \
    SM_INLINE void accum_strip_##SFX(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,  \
                                     const uint32_t *mb0, const uint32_t *mb1, size_t ra,          \
                                     size_t rb, int pair, size_t w, size_t t0, const T *src,       \
                                     T *acc, int first, const int nv)                              \
    {                                                                                              \
        V a[SM_NV], b[SM_NV];                                                                      \
        T *xa = acc + ra * w + t0, *xb = acc + rb * w + t0;                                        \
        for (int v = 0; v < nv; ++v) {                                                             \
            a[v] = first ? ZERO() : LOAD(xa + LANES * v);                                          \
            b[v] = (first || !pair) ? ZERO() : LOAD(xb + LANES * v);                               \
        }                                                                                          \
        const uint32_t *pa = s->idx + s->ptr[ra], *ma = s->idx + s->mid[ra];                       \
        const uint32_t *pb = pa, *mb = pa;                                                         \
        if (pair)                                                                                  \
            pb = s->idx + s->ptr[rb], mb = s->idx + s->mid[rb];                                    \
        acc2_##SFX(a, b, pa + pb0[ra], pa + pb1[ra], ma + mb0[ra], ma + mb1[ra],                   \
                   pair ? pb + pb0[rb] : pa, pair ? pb + pb1[rb] : pa, pair ? mb + mb0[rb] : pa,   \
                   pair ? mb + mb1[rb] : pa, s->idx + s->nnz, src + t0, w, nv, 0);                 \
        for (int v = 0; v < nv; ++v) {                                                             \
            STORE(xa + LANES * v, a[v]);                                                           \
            if (pair)                                                                              \
                STORE(xb + LANES * v, b[v]);                                                       \
        }                                                                                          \
    }                                                                                              \
    SM_INLINE void accum_rows_##SFX(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,   \
                                    const uint32_t *mb0, const uint32_t *mb1, size_t ra,           \
                                    size_t rb, int pair, size_t w, const T *src, T *acc,           \
                                    int first)                                                     \
    {                                                                                              \
        size_t t0 = 0;                                                                             \
        for (; t0 + LANES * SM_NV <= w; t0 += LANES * SM_NV)                                       \
            accum_strip_##SFX(s, pb0, pb1, mb0, mb1, ra, rb, pair, w, t0, src, acc, first, SM_NV); \
        switch ((w - t0) / LANES) {                                                                \
        case 1:                                                                                    \
            accum_strip_##SFX(s, pb0, pb1, mb0, mb1, ra, rb, pair, w, t0, src, acc, first, 1);     \
            break;                                                                                 \
        case 2:                                                                                    \
            accum_strip_##SFX(s, pb0, pb1, mb0, mb1, ra, rb, pair, w, t0, src, acc, first, 2);     \
            break;                                                                                 \
        case 3:                                                                                    \
            accum_strip_##SFX(s, pb0, pb1, mb0, mb1, ra, rb, pair, w, t0, src, acc, first, 3);     \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    /* A row with nothing in this block keeps its accumulator (adding                              \
     * nothing changes no bit), so it is skipped, or zeroed in the first                           \
     * block; the rows that do have entries go in pairs. */                                        \
    static void sm_accum_avx512_##SFX(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1, \
                                      const uint32_t *mb0, const uint32_t *mb1, size_t r0,         \
                                      size_t r1, size_t w, const T *src, T *acc, int first)        \
    {                                                                                              \
        size_t pend = r1;                                                                          \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1);                                     \
            if (pb1[r] == pb0[r] && mb1[r] == mb0[r]) {                                            \
                if (first)                                                                         \
                    for (size_t t = 0; t < w; t += LANES)                                          \
                        STORE(acc + r * w + t, ZERO());                                            \
                continue;                                                                          \
            }                                                                                      \
            if (pend == r1) {                                                                      \
                pend = r;                                                                          \
                continue;                                                                          \
            }                                                                                      \
            accum_rows_##SFX(s, pb0, pb1, mb0, mb1, pend, r, 1, w, src, acc, first);               \
            pend = r1;                                                                             \
        }                                                                                          \
        if (pend != r1)                                                                            \
            accum_rows_##SFX(s, pb0, pb1, mb0, mb1, pend, pend, 0, w, src, acc, first);            \
    }                                                                                              \
    static int sm_update_avx512_##SFX(size_t r0, size_t r1, size_t w, const T *self, const T *acc, \
                                      T *out, T a, T sc, double *dot)                              \
    {                                                                                              \
        const V va = SET1_##SFX(a), vsc = SET1_##SFX(sc);                                          \
        V bad = ZERO();                                                                            \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            __m512d dl = _mm512_setzero_pd(), dh = _mm512_setzero_pd();                            \
            size_t t0 = 0;                                                                         \
            for (; t0 < w; t0 += LANES * SM_NV) {                                                  \
                int nv = (int)((w - t0) / LANES < SM_NV ? (w - t0) / LANES : SM_NV);               \
                V x[SM_NV];                                                                        \
                for (int v = 0; v < nv; ++v)                                                       \
                    x[v] = LOAD(acc + r * w + t0 + LANES * v);                                     \
                finish_##SFX(x, self + r * w + t0, out ? out + r * w + t0 : NULL, va, vsc,         \
                             dot ? &dl : NULL, &dh, &bad, nv);                                     \
            }                                                                                      \
            if (dot)                                                                               \
                dot[r] = FOLD_##SFX(dl, dh);                                                       \
        }                                                                                          \
        return NAN_##SFX(bad) != 0;                                                                \
    }

#define SET1_f32 _mm512_set1_ps
#define SET1_f64 _mm512_set1_pd
#define FOLD_f32 SM_FOLD_F32
#define FOLD_f64 SM_FOLD_F64
#define NAN_f32  SM_NAN_F32
#define NAN_f64  SM_NAN_F64
SM_DEFINE_ACCUM(f32, float, __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_setzero_ps)
SM_DEFINE_ACCUM(f64, double, __m512d, 8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_setzero_pd)

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

SM_DENSE_DEFINE(avx512)

/* bf16 (kernels.h, bf16.h). The narrowing emulated with AVX-512F integer
 * lanes, for AVX-512 CPUs without AVX512-BF16. */
SM_INLINE __m256i bf16_narrow16(__m512i u)
{
    const __m512i top = _mm512_srli_epi32(u, 16);
    __m512i rne = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                                                     _mm512_and_si512(top, _mm512_set1_epi32(1))),
                                    16);
    __mmask16 isnan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                              _mm512_set1_epi32(0x7f800000));
    __mmask16 iszd = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    __m512i r = _mm512_mask_mov_epi32(rne, isnan, _mm512_or_si512(top, _mm512_set1_epi32(0x40)));
    r = _mm512_mask_mov_epi32(r, iszd, _mm512_and_si512(top, _mm512_set1_epi32(0x8000)));
    return _mm512_cvtepi32_epi16(r);
}

static void sm_cvt_bf16_avx512(const float *x, size_t n, uint16_t *y)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            bf16_narrow16(_mm512_loadu_si512((const void *)(x + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, bf16_narrow16(_mm512_maskz_loadu_epi32(m, x + i)));
    }
}

/* The instruction itself, tail included, so that the test that compares
 * it with sm_bf16_from_f32 covers every lane it is used on. Only ever
 * called where CPUID reports AVX512-BF16 (dispatch.c). */
__attribute__((target("avx512bf16"))) void sm_cvt_bf16_avx512bf16(const float *x, size_t n,
                                                                  uint16_t *y)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m,
                                 (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* The f32 update, then the shadow of each row written. The gathers and
 * the blocked accumulate of bf16 rows are the AVX2 ones (dispatch.c): a
 * bf16 strip of 16 floats is one 32-byte load either way. */
static int sm_update_avx512_bf16(size_t r0, size_t r1, size_t w, const float *self,
                                 const float *acc, float *out, uint16_t *outb, float a, float sc,
                                 double *dot)
{
    int bad = 0;
    for (size_t r = r0; r < r1; ++r) {
        bad |= sm_update_avx512_f32(r, r + 1, w, self, acc, out, a, sc, dot);
        if (out)
            sm_cvt_bf16_avx512(out + r * w, w, outb + r * w);
    }
    return bad;
}

void sm_kernels_init_avx512(sm_kernels *k)
{
    k->xty_f64 = sm_xty_f64_avx512;
    k->mul_small_f64 = sm_mul_small_f64_avx512;
    k->name = "avx512";
    k->isa = SM_ISA_AVX512;
    k->gather_f32 = sm_gather_avx512_f32;
    k->gather_f64 = sm_gather_avx512_f64;
    k->gather_pf_f32 = sm_gather_avx512_pf_f32;
    k->gather_pf_f64 = sm_gather_avx512_pf_f64;
    k->accum_f32 = sm_accum_avx512_f32;
    k->accum_f64 = sm_accum_avx512_f64;
    k->update_f32 = sm_update_avx512_f32;
    k->update_f64 = sm_update_avx512_f64;
    k->cvt_bf16 = sm_cvt_bf16_avx512;
    k->update_bf16 = sm_update_avx512_bf16;
    sm_score_init_avx512(k);
}
