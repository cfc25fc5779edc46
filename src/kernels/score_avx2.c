/* AVX2 + FMA scoring kernels: the GEMM micro-kernel of score_avx512.c
 * with 16 ymm registers. A tile is MR users x one group of two vectors
 * (16 float items: a panel; 8 double items: half a panel); 6 x 2
 * accumulators plus two item vectors and a broadcast fill the registers,
 * at 12 FMAs per 8 loads. Packing transposes 8 x 8 (float) or 4 x 4
 * (double) blocks in registers. */
#pragma GCC target("fma")
#include "kernels.h"

#include <immintrin.h>
#include <math.h>

#define SM_INLINE static inline __attribute__((always_inline))
#define SM_UNROLL _Pragma("GCC unroll 16")

#include "score_pack.h"

/* Lane masks for the first n (< lane count) elements. */
SM_INLINE __m256i head_mask32(size_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}
SM_INLINE __m256i head_mask64(size_t n)
{
    const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), idx);
}

/* ---------------------------------------------------------------- */
/* Packing                                                          */
/* ---------------------------------------------------------------- */

SM_INLINE void transpose8_f32(__m256 r[8])
{
    __m256 a[8], b[8];
    SM_UNROLL for (int i = 0; i < 8; i += 2)
    {
        a[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        a[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    SM_UNROLL for (int g = 0; g < 8; g += 4)
    {
        b[g] = _mm256_shuffle_ps(a[g], a[g + 2], 0x44);     /* t = 0 | 4 */
        b[g + 1] = _mm256_shuffle_ps(a[g], a[g + 2], 0xEE); /* t = 1 | 5 */
        b[g + 2] = _mm256_shuffle_ps(a[g + 1], a[g + 3], 0x44);
        b[g + 3] = _mm256_shuffle_ps(a[g + 1], a[g + 3], 0xEE);
    }
    SM_UNROLL for (int c = 0; c < 4; ++c)
    {
        r[c] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x31);
    }
}

SM_PACK_PANELS(sm_pack_avx2_f32, float, __m256, 8, __m256i, head_mask32, _mm256_maskload_ps,
               _mm256_setzero_ps, transpose8_f32, _mm256_store_ps)

SM_INLINE void transpose4_f64(__m256d r[4])
{
    __m256d a0 = _mm256_unpacklo_pd(r[0], r[1]), a1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d a2 = _mm256_unpacklo_pd(r[2], r[3]), a3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(a0, a2, 0x20);
    r[1] = _mm256_permute2f128_pd(a1, a3, 0x20);
    r[2] = _mm256_permute2f128_pd(a0, a2, 0x31);
    r[3] = _mm256_permute2f128_pd(a1, a3, 0x31);
}

SM_PACK_PANELS(sm_pack_avx2_f64, double, __m256d, 4, __m256i, head_mask64, _mm256_maskload_pd,
               _mm256_setzero_pd, transpose4_f64, _mm256_store_pd)

/* ---------------------------------------------------------------- */
/* Micro-kernels                                                    */
/* ---------------------------------------------------------------- */

/* A group: G = 2 * lanes items at q (panel-row stride SM_PANEL); `last`
 * of them (1..G) are real and stored. */
#define SM_TILE_AVX2(NAME, T, V, LANES, ZERO, LOAD, SET1, FMA, STORE, MSTORE, MASK)                \
    SM_INLINE void NAME(const T *P, size_t ldp, const T *q, size_t dim, T *S, size_t lds,          \
                        const int mr, unsigned last)                                               \
    {                                                                                              \
        V acc[6][2];                                                                               \
        SM_UNROLL for (int u = 0; u < mr; ++u) acc[u][0] = acc[u][1] = ZERO();                     \
        for (size_t t = 0; t < dim; ++t) {                                                         \
            V q0 = LOAD(q + t * SM_PANEL), q1 = LOAD(q + t * SM_PANEL + LANES);                    \
            SM_UNROLL for (int u = 0; u < mr; ++u)                                                 \
            {                                                                                      \
                V p = SET1(P[(size_t)u * ldp + t]);                                                \
                acc[u][0] = FMA(p, q0, acc[u][0]);                                                 \
                acc[u][1] = FMA(p, q1, acc[u][1]);                                                 \
            }                                                                                      \
        }                                                                                          \
        if (last >= 2 * LANES) {                                                                   \
            SM_UNROLL for (int u = 0; u < mr; ++u)                                                 \
            {                                                                                      \
                STORE(S + (size_t)u * lds, acc[u][0]);                                             \
                STORE(S + (size_t)u * lds + LANES, acc[u][1]);                                     \
            }                                                                                      \
        } else {                                                                                   \
            __m256i m0 = MASK(last < LANES ? last : LANES);                                        \
            __m256i m1 = MASK(last > LANES ? last - LANES : 0);                                    \
            SM_UNROLL for (int u = 0; u < mr; ++u)                                                 \
            {                                                                                      \
                MSTORE(S + (size_t)u * lds, m0, acc[u][0]);                                        \
                MSTORE(S + (size_t)u * lds + LANES, m1, acc[u][1]);                                \
            }                                                                                      \
        }                                                                                          \
    }

SM_TILE_AVX2(tile_f32, float, __m256, 8, _mm256_setzero_ps, _mm256_load_ps, _mm256_set1_ps,
             _mm256_fmadd_ps, _mm256_storeu_ps, _mm256_maskstore_ps, head_mask32)
SM_TILE_AVX2(tile_f64, double, __m256d, 4, _mm256_setzero_pd, _mm256_load_pd, _mm256_set1_pd,
             _mm256_fmadd_pd, _mm256_storeu_pd, _mm256_maskstore_pd, head_mask64)

/* MR users against all ni items, a group of G items at a time; group g
 * starts at item g * G, in panel g * G / 16 at offset g * G % 16. */
#define SM_STRIP_AVX2(NAME, T, G, TILE)                                                            \
    static void NAME(const T *P, size_t ldp, const T *Qp, size_t ni, size_t dim, T *S, size_t lds, \
                     const int mr)                                                                 \
    {                                                                                              \
        for (size_t j = 0; j < ni; j += G) {                                                       \
            const T *q = Qp + j / SM_PANEL * dim * SM_PANEL + j % SM_PANEL;                        \
            unsigned last = (unsigned)(ni - j < G ? ni - j : G);                                   \
            switch (mr) {                                                                          \
            case 6:                                                                                \
                TILE(P, ldp, q, dim, S + j, lds, 6, last);                                         \
                break;                                                                             \
            case 4:                                                                                \
                TILE(P, ldp, q, dim, S + j, lds, 4, last);                                         \
                break;                                                                             \
            case 2:                                                                                \
                TILE(P, ldp, q, dim, S + j, lds, 2, last);                                         \
                break;                                                                             \
            default:                                                                               \
                TILE(P, ldp, q, dim, S + j, lds, 1, last);                                         \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    }
SM_STRIP_AVX2(strip_f32, float, 16, tile_f32)
SM_STRIP_AVX2(strip_f64, double, 8, tile_f64)

#define SM_SCORE_AVX2(NAME, T, STRIP)                                                              \
    static void NAME(const T *P, size_t ldp, size_t nu, const T *Qp, size_t ni, size_t dim, T *S,  \
                     size_t lds)                                                                   \
    {                                                                                              \
        size_t u = 0;                                                                              \
        for (; u + 6 <= nu; u += 6)                                                                \
            STRIP(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 6);                             \
        if (u + 4 <= nu) {                                                                         \
            STRIP(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 4);                             \
            u += 4;                                                                                \
        }                                                                                          \
        if (u + 2 <= nu) {                                                                         \
            STRIP(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 2);                             \
            u += 2;                                                                                \
        }                                                                                          \
        if (u < nu)                                                                                \
            STRIP(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 1);                             \
    }
SM_SCORE_AVX2(sm_score_avx2_f32, float, strip_f32)
SM_SCORE_AVX2(sm_score_avx2_f64, double, strip_f64)

/* Selection helpers (kernels.h). A group's exclusion bits become lane
 * masks by testing a broadcast of them against each lane's bit. */
static float sm_emax_avx2_f32(const float *S, size_t ng, const uint16_t *ex)
{
    const __m256i lo = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i hi = _mm256_slli_epi32(lo, 8);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf;
    for (size_t g = 0; g < ng; ++g) {
        __m256i e = _mm256_set1_epi32(ex[g]);
        __m256 k0 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(e, lo), lo));
        __m256 k1 = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(e, hi), hi));
        /* excluded lanes become -inf; max returns its second operand, the
         * running maximum, when the score is NaN */
        m0 = _mm256_max_ps(_mm256_blendv_ps(_mm256_loadu_ps(S + 16 * g), ninf, k0), m0);
        m1 = _mm256_max_ps(_mm256_blendv_ps(_mm256_loadu_ps(S + 16 * g + 8), ninf, k1), m1);
    }
    __m256 m = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}
static double sm_emax_avx2_f64(const double *S, size_t ng, const uint16_t *ex)
{
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d m[4] = {ninf, ninf, ninf, ninf};
    for (size_t g = 0; g < ng; ++g) {
        __m256i e = _mm256_set1_epi64x(ex[g]);
        for (int v = 0; v < 4; ++v) {
            __m256i bit =
                _mm256_setr_epi64x(1 << (4 * v), 2 << (4 * v), 4 << (4 * v), 8 << (4 * v));
            __m256d k = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(e, bit), bit));
            m[v] =
                _mm256_max_pd(_mm256_blendv_pd(_mm256_loadu_pd(S + 16 * g + 4 * v), ninf, k), m[v]);
        }
    }
    __m256d a = _mm256_max_pd(_mm256_max_pd(m[0], m[1]), _mm256_max_pd(m[2], m[3]));
    __m128d h = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    h = _mm_max_sd(h, _mm_unpackhi_pd(h, h));
    return _mm_cvtsd_f64(h);
}
/* A group's candidate bits to positions. Groups without one, the common
 * case, cost a well-predicted branch. */
static inline size_t emit(unsigned m, size_t base, uint16_t *pos, size_t n)
{
    while (m != 0) {
        pos[n++] = (uint16_t)(base + (size_t)__builtin_ctz(m));
        m &= m - 1;
    }
    return n;
}
static size_t sm_screen_avx2_f32(const float *S, size_t ng, float thr, const uint16_t *ex,
                                 uint16_t *pos)
{
    const __m256 t = _mm256_set1_ps(thr);
    size_t n = 0;
    for (size_t g = 0; g < ng; ++g) {
        unsigned a = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(S + 16 * g), t, _CMP_NLT_UQ));
        unsigned b = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(S + 16 * g + 8), t, _CMP_NLT_UQ));
        n = emit((a | b << 8) & ~(unsigned)ex[g], 16 * g, pos, n);
    }
    return n;
}
static size_t sm_screen_avx2_f64(const double *S, size_t ng, double thr, const uint16_t *ex,
                                 uint16_t *pos)
{
    const __m256d t = _mm256_set1_pd(thr);
    size_t n = 0;
    for (size_t g = 0; g < ng; ++g) {
        unsigned b = 0;
        for (int v = 0; v < 4; ++v)
            b |= (unsigned)_mm256_movemask_pd(
                     _mm256_cmp_pd(_mm256_loadu_pd(S + 16 * g + 4 * v), t, _CMP_NLT_UQ))
                 << (4 * v);
        n = emit(b & ~(unsigned)ex[g], 16 * g, pos, n);
    }
    return n;
}

void sm_score_init_avx2(sm_kernels *k)
{
    k->emax_f32 = sm_emax_avx2_f32;
    k->emax_f64 = sm_emax_avx2_f64;
    k->screen_f32 = sm_screen_avx2_f32;
    k->screen_f64 = sm_screen_avx2_f64;
    k->pack_f32 = sm_pack_avx2_f32;
    k->pack_f64 = sm_pack_avx2_f64;
    k->score_f32 = sm_score_avx2_f32;
    k->score_f64 = sm_score_avx2_f64;
}
