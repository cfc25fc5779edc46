/* AVX-512 scoring kernels: a GEMM micro-kernel over packed items.
 *
 * A tile is MR users x NP panels of 16 items. Each (user, 16 items) pair
 * owns one vector accumulator whose lanes are items; per t the kernel
 * loads the NP panel rows once, broadcasts each user's p[t] once and does
 * MR * NP FMAs, so every lane follows the canonical order of kernels.h
 * (one fma per t, in increasing t) and no reduction is needed. Shapes keep
 * 2 FMAs per load or better in 32 registers: 8 x 3 for float (24
 * accumulators), 6 x 2 panels (24 vectors of 8) for double.
 *
 * Packing transposes 16 x 16 (float) or 8 x 8 (double) blocks in
 * registers, so it runs at about the cost of reading the rows. */
#pragma GCC target("fma")
#include "kernels.h"

#include <immintrin.h>
#include <math.h>

#define SM_INLINE static inline __attribute__((always_inline))
#define SM_UNROLL _Pragma("GCC unroll 16")
/* Unrolling the k loop by 4 lets the broadcasts use constant offsets and
 * spreads the loop overhead: 125 -> 150 GFLOPS per core on an 8 x 3 tile
 * held in L2 (Xeon, AVX-512). */
#define SM_UNROLL_T _Pragma("GCC unroll 4")

#include "score_pack.h"

/* ---------------------------------------------------------------- */
/* Packing                                                          */
/* ---------------------------------------------------------------- */

/* r[i] = 16 consecutive elements of row i in; r[t] = element t of rows
 * 0..15 out. */
SM_INLINE void transpose16_f32(__m512 r[16])
{
    __m512 a[16], b[16];
    SM_UNROLL for (int i = 0; i < 16; i += 2)
    {
        a[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    SM_UNROLL for (int i = 0; i < 16; i += 4)
    {
        __m512d x0 = _mm512_castps_pd(a[i]), x1 = _mm512_castps_pd(a[i + 1]);
        __m512d x2 = _mm512_castps_pd(a[i + 2]), x3 = _mm512_castps_pd(a[i + 3]);
        b[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, x2));
        b[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, x2));
        b[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, x3));
        b[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, x3));
    }
    /* b[4g + c] holds, in 128-bit lane L, element 4L + c of rows 4g..4g+3 */
    SM_UNROLL for (int c = 0; c < 4; ++c)
    {
        __m512 x0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x88);
        __m512 x1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xDD);
        __m512 y0 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x88);
        __m512 y1 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
}

/* Masks of the first n (<= 16) elements, and loads in the argument order
 * of score_pack.h. */
SM_INLINE __mmask16 head16(size_t n)
{
    return (__mmask16)((1u << n) - 1);
}
SM_INLINE __mmask8 head8(size_t n)
{
    return (__mmask8)((1u << n) - 1);
}
SM_INLINE __m512 load16(const float *p, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, p);
}
SM_INLINE __m512d load8(const double *p, __mmask8 m)
{
    return _mm512_maskz_loadu_pd(m, p);
}

SM_PACK_PANELS(sm_pack_avx512_f32, float, __m512, 16, __mmask16, head16, load16, _mm512_setzero_ps,
               transpose16_f32, _mm512_store_ps)

/* r[i] = 8 consecutive elements of row i in; r[t] = element t of rows
 * 0..7 out. */
SM_INLINE void transpose8_f64(__m512d r[8])
{
    __m512d a[8], b[4], c[4];
    SM_UNROLL for (int i = 0; i < 8; i += 2)
    {
        a[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);     /* lane L: t = 2L */
        a[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]); /* lane L: t = 2L + 1 */
    }
    b[0] = _mm512_shuffle_f64x2(a[0], a[2], 0x88); /* t = 0, 4 of rows 0-3 */
    b[1] = _mm512_shuffle_f64x2(a[0], a[2], 0xDD); /* t = 2, 6 */
    b[2] = _mm512_shuffle_f64x2(a[4], a[6], 0x88); /* rows 4-7 */
    b[3] = _mm512_shuffle_f64x2(a[4], a[6], 0xDD);
    c[0] = _mm512_shuffle_f64x2(a[1], a[3], 0x88); /* t = 1, 5 */
    c[1] = _mm512_shuffle_f64x2(a[1], a[3], 0xDD); /* t = 3, 7 */
    c[2] = _mm512_shuffle_f64x2(a[5], a[7], 0x88);
    c[3] = _mm512_shuffle_f64x2(a[5], a[7], 0xDD);
    r[0] = _mm512_shuffle_f64x2(b[0], b[2], 0x88);
    r[4] = _mm512_shuffle_f64x2(b[0], b[2], 0xDD);
    r[2] = _mm512_shuffle_f64x2(b[1], b[3], 0x88);
    r[6] = _mm512_shuffle_f64x2(b[1], b[3], 0xDD);
    r[1] = _mm512_shuffle_f64x2(c[0], c[2], 0x88);
    r[5] = _mm512_shuffle_f64x2(c[0], c[2], 0xDD);
    r[3] = _mm512_shuffle_f64x2(c[1], c[3], 0x88);
    r[7] = _mm512_shuffle_f64x2(c[1], c[3], 0xDD);
}

SM_PACK_PANELS(sm_pack_avx512_f64, double, __m512d, 8, __mmask8, head8, load8, _mm512_setzero_pd,
               transpose8_f64, _mm512_store_pd)

/* ---------------------------------------------------------------- */
/* Micro-kernels                                                    */
/* ---------------------------------------------------------------- */

/* MR users (P, P + ldp, ...) x NP panels (Qp, Qp + dim * 16, ...); `last`
 * items (1..16) of the last panel are real and stored. */
SM_INLINE void tile_f32(const float *P, size_t ldp, const float *Qp, size_t dim, float *S,
                        size_t lds, const int mr, const int np, unsigned last)
{
    __m512 acc[8][4];
    SM_UNROLL for (int u = 0; u < mr; ++u) SM_UNROLL for (int v = 0; v < np; ++v) acc[u][v] =
        _mm512_setzero_ps();
    SM_UNROLL_T for (size_t t = 0; t < dim; ++t)
    {
        __m512 q[4];
        SM_UNROLL for (int v = 0; v < np; ++v) q[v] =
            _mm512_load_ps(Qp + (size_t)v * dim * SM_PANEL + t * SM_PANEL);
        SM_UNROLL for (int u = 0; u < mr; ++u)
        {
            __m512 p = _mm512_set1_ps(P[(size_t)u * ldp + t]);
            SM_UNROLL for (int v = 0; v < np; ++v) acc[u][v] = _mm512_fmadd_ps(p, q[v], acc[u][v]);
        }
    }
    __mmask16 lm = (__mmask16)(last >= 16 ? 0xFFFFu : (1u << last) - 1);
    SM_UNROLL for (int u = 0; u < mr; ++u) SM_UNROLL for (int v = 0; v < np; ++v)
    {
        float *s = S + (size_t)u * lds + (size_t)v * SM_PANEL;
        if (v < np - 1)
            _mm512_storeu_ps(s, acc[u][v]);
        else
            _mm512_mask_storeu_ps(s, lm, acc[u][v]);
    }
}

/* The strip and score drivers, one per element type: MR users against all
 * ni items, NP panels at a time and then one; users go MR at a time, then
 * 4, 2 and 1. One function per shape, so each gets its own fully
 * unrolled, register-resident loop. */
#define SM_SCORE_AVX512(SFX, T, TILE, MR, NPMR, NP4, NP2, NP1)                                     \
    SM_INLINE void strip_##SFX(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S,   \
                               size_t lds, const int mr, const int np)                             \
    {                                                                                              \
        size_t npan = (ni + SM_PANEL - 1) / SM_PANEL;                                              \
        unsigned tail = (unsigned)(ni - (npan - 1) * SM_PANEL);                                    \
        size_t b = 0;                                                                              \
        for (; b + (size_t)np <= npan; b += (size_t)np)                                            \
            TILE(P, ldp, Qp + b * dim * SM_PANEL, dim, S + b * SM_PANEL, lds, mr, np,              \
                 b + (size_t)np == npan ? tail : 16);                                              \
        for (; b < npan; ++b)                                                                      \
            TILE(P, ldp, Qp + b * dim * SM_PANEL, dim, S + b * SM_PANEL, lds, mr, 1,               \
                 b + 1 == npan ? tail : 16);                                                       \
    }                                                                                              \
    static void strip_##SFX##_mr(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S, \
                                 size_t lds)                                                       \
    {                                                                                              \
        strip_##SFX(P, ldp, Qp, ni, dim, S, lds, MR, NPMR);                                        \
    }                                                                                              \
    static void strip_##SFX##_4(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S,  \
                                size_t lds)                                                        \
    {                                                                                              \
        strip_##SFX(P, ldp, Qp, ni, dim, S, lds, 4, NP4);                                          \
    }                                                                                              \
    static void strip_##SFX##_2(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S,  \
                                size_t lds)                                                        \
    {                                                                                              \
        strip_##SFX(P, ldp, Qp, ni, dim, S, lds, 2, NP2);                                          \
    }                                                                                              \
    static void strip_##SFX##_1(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S,  \
                                size_t lds)                                                        \
    {                                                                                              \
        strip_##SFX(P, ldp, Qp, ni, dim, S, lds, 1, NP1);                                          \
    }                                                                                              \
    static void sm_score_avx512_##SFX(const T *P, size_t ldp, size_t nu, const T *Qp, size_t ni,   \
                                      size_t dim, T *S, size_t lds)                                \
    {                                                                                              \
        if (ni == 0)                                                                               \
            return;                                                                                \
        size_t u = 0;                                                                              \
        for (; u + (MR) <= nu; u += (MR))                                                          \
            strip_##SFX##_mr(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds);                     \
        if (u + 4 <= nu) {                                                                         \
            strip_##SFX##_4(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds);                      \
            u += 4;                                                                                \
        }                                                                                          \
        if (u + 2 <= nu) {                                                                         \
            strip_##SFX##_2(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds);                      \
            u += 2;                                                                                \
        }                                                                                          \
        if (u < nu)                                                                                \
            strip_##SFX##_1(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds);                      \
    }

SM_SCORE_AVX512(f32, float, tile_f32, 8, 3, 4, 4, 4)

/* Double: a panel is two vectors of 8 items. */
SM_INLINE void tile_f64(const double *P, size_t ldp, const double *Qp, size_t dim, double *S,
                        size_t lds, const int mr, const int np, unsigned last)
{
    __m512d acc[6][8];
    SM_UNROLL for (int u = 0; u < mr; ++u) SM_UNROLL for (int v = 0; v < 2 * np; ++v) acc[u][v] =
        _mm512_setzero_pd();
    SM_UNROLL_T for (size_t t = 0; t < dim; ++t)
    {
        __m512d q[8];
        SM_UNROLL for (int v = 0; v < 2 * np; ++v) q[v] =
            _mm512_load_pd(Qp + (size_t)(v / 2) * dim * SM_PANEL + t * SM_PANEL + 8 * (v % 2));
        SM_UNROLL for (int u = 0; u < mr; ++u)
        {
            __m512d p = _mm512_set1_pd(P[(size_t)u * ldp + t]);
            SM_UNROLL for (int v = 0; v < 2 * np; ++v) acc[u][v] =
                _mm512_fmadd_pd(p, q[v], acc[u][v]);
        }
    }
    __mmask8 m0 = (__mmask8)(last >= 8 ? 0xFFu : (1u << last) - 1);
    __mmask8 m1 = (__mmask8)(last >= 16 ? 0xFFu : last > 8 ? (1u << (last - 8)) - 1 : 0u);
    SM_UNROLL for (int u = 0; u < mr; ++u) SM_UNROLL for (int v = 0; v < 2 * np; ++v)
    {
        double *s = S + (size_t)u * lds + (size_t)v * 8;
        if (v < 2 * np - 2)
            _mm512_storeu_pd(s, acc[u][v]);
        else
            _mm512_mask_storeu_pd(s, v % 2 ? m1 : m0, acc[u][v]);
    }
}

SM_SCORE_AVX512(f64, double, tile_f64, 6, 2, 2, 2, 4)

/* Selection helpers (kernels.h): the exclusion bits are a lane mask as
 * they are. The masked max keeps the running maximum in excluded lanes,
 * and returns it, its second operand, where the score is NaN. emax calls
 * see about a dozen groups, so the max's latency, not its throughput,
 * bounds them: pairs of groups go to separate chains. */
static float sm_emax_avx512_f32(const float *S, size_t ng, const uint16_t *ex)
{
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    size_t g = 0;
    for (; g + 2 <= ng; g += 2) {
        m0 = _mm512_mask_max_ps(m0, (__mmask16)~ex[g], _mm512_loadu_ps(S + 16 * g), m0);
        m1 = _mm512_mask_max_ps(m1, (__mmask16)~ex[g + 1], _mm512_loadu_ps(S + 16 * g + 16), m1);
    }
    if (g < ng)
        m0 = _mm512_mask_max_ps(m0, (__mmask16)~ex[g], _mm512_loadu_ps(S + 16 * g), m0);
    /* both operands are NaN-free here */
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}
static double sm_emax_avx512_f64(const double *S, size_t ng, const uint16_t *ex)
{
    __m512d m0 = _mm512_set1_pd(-INFINITY), m1 = m0;
    for (size_t g = 0; g < ng; ++g) {
        m0 = _mm512_mask_max_pd(m0, (__mmask8)~ex[g], _mm512_loadu_pd(S + 16 * g), m0);
        m1 = _mm512_mask_max_pd(m1, (__mmask8)(~ex[g] >> 8), _mm512_loadu_pd(S + 16 * g + 8), m1);
    }
    return _mm512_reduce_max_pd(_mm512_max_pd(m0, m1));
}
/* Positions are compressed in a register and stored as a whole group:
 * no branch on the data. (A compressing store to memory would write only
 * the count, but it is microcoded and slow on Zen 4.) */
static inline size_t emit(__mmask16 m, size_t base, uint16_t *pos, size_t n)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i p =
        _mm512_maskz_compress_epi32(m, _mm512_add_epi32(lane, _mm512_set1_epi32((int)base)));
    _mm256_storeu_si256((__m256i *)(pos + n), _mm512_cvtepi32_epi16(p));
    return n + (size_t)__builtin_popcount((unsigned)m);
}
/* Bit i set when s[i] is not below t (a NaN counts) and bit i of `keep`
 * is set, i < 16. */
SM_INLINE __mmask16 not_below16_f32(const float *s, __m512 t, __mmask16 keep)
{
    return _mm512_mask_cmp_ps_mask(keep, _mm512_loadu_ps(s), t, _CMP_NLT_UQ);
}
SM_INLINE __mmask16 not_below16_f64(const double *s, __m512d t, __mmask16 keep)
{
    unsigned lo = _mm512_mask_cmp_pd_mask((__mmask8)keep, _mm512_loadu_pd(s), t, _CMP_NLT_UQ);
    unsigned hi =
        _mm512_mask_cmp_pd_mask((__mmask8)(keep >> 8), _mm512_loadu_pd(s + 8), t, _CMP_NLT_UQ);
    return (__mmask16)(lo | hi << 8);
}
#define SM_SCREEN_AVX512(NAME, T, V, SET1, NOT_BELOW)                                              \
    static size_t NAME(const T *S, size_t ng, T thr, const uint16_t *ex, uint16_t *pos)            \
    {                                                                                              \
        const V t = SET1(thr);                                                                     \
        size_t n = 0;                                                                              \
        for (size_t g = 0; g < ng; ++g)                                                            \
            n = emit(NOT_BELOW(S + 16 * g, t, (__mmask16)~ex[g]), 16 * g, pos, n);                 \
        return n;                                                                                  \
    }
SM_SCREEN_AVX512(sm_screen_avx512_f32, float, __m512, _mm512_set1_ps, not_below16_f32)
SM_SCREEN_AVX512(sm_screen_avx512_f64, double, __m512d, _mm512_set1_pd, not_below16_f64)

void sm_score_init_avx512(sm_kernels *k)
{
    k->emax_f32 = sm_emax_avx512_f32;
    k->emax_f64 = sm_emax_avx512_f64;
    k->screen_f32 = sm_screen_avx512_f32;
    k->screen_f64 = sm_screen_avx512_f64;
    /* every AVX-512F CPU has FMA, but the OS check is the dispatcher's */
    k->pack_f32 = sm_pack_avx512_f32;
    k->pack_f64 = sm_pack_avx512_f64;
    k->score_f32 = sm_score_avx512_f32;
    k->score_f64 = sm_score_avx512_f64;
}
