/* AVX2 + FMA scoring kernels: the GEMM micro-kernel of score_avx512.c
 * with 16 ymm registers. A tile is MR users x one group of two vectors
 * (16 float items: a panel; 8 double items: half a panel); 6 x 2
 * accumulators plus two item vectors and a broadcast fill the registers,
 * at 12 FMAs per 8 loads. Packing transposes 8 x 8 (float) or 4 x 4
 * (double) blocks in registers. */
#pragma GCC target("fma")
#include "bf16.h"
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
/* bf16 (kernels.h). A panel row of 16 items is one 32-byte load; its
 * even items widen by a shift and its odd ones by an AND (no shuffle, so
 * the FMA pipes stay the limit), and each accumulator pair holds the even
 * and odd items, put in order at the store. The strip's user rows are
 * widened once, SM_PT elements at a time, so that each broadcast is a
 * plain load as in the float tile; past the first chunk a tile resumes
 * from its stored scores (a float store and load change no bit). */
#define SM_PT 1024
SM_INLINE __m256 widen8(const uint16_t *p)
{
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
SM_INLINE void tile_bf16(const float *pw, const uint16_t *q, size_t nt, float *S, size_t lds,
                         const int mr, unsigned last, int resume)
{
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256i m0 = head_mask32(last < 8 ? last : 8), m1 = head_mask32(last > 8 ? last - 8 : 0);
    __m256 acc[6][2];
    SM_UNROLL for (int u = 0; u < mr; ++u)
    {
        if (!resume) {
            acc[u][0] = acc[u][1] = _mm256_setzero_ps();
            continue;
        }
        __m256 lo = _mm256_maskload_ps(S + (size_t)u * lds, m0);
        __m256 hi8 = _mm256_maskload_ps(S + (size_t)u * lds + 8, m1);
        __m256 a = _mm256_permute2f128_ps(lo, hi8, 0x20), b = _mm256_permute2f128_ps(lo, hi8, 0x31);
        acc[u][0] = _mm256_shuffle_ps(a, b, 0x88);
        acc[u][1] = _mm256_shuffle_ps(a, b, 0xdd);
    }
    for (size_t t = 0; t < nt; ++t) {
        __m256i h = _mm256_load_si256((const __m256i *)(q + t * SM_PANEL));
        __m256 qe = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
        __m256 qo = _mm256_castsi256_ps(_mm256_and_si256(h, hi));
        SM_UNROLL for (int u = 0; u < mr; ++u)
        {
            __m256 p = _mm256_broadcast_ss(pw + (size_t)u * SM_PT + t);
            acc[u][0] = _mm256_fmadd_ps(p, qe, acc[u][0]);
            acc[u][1] = _mm256_fmadd_ps(p, qo, acc[u][1]);
        }
    }
    SM_UNROLL for (int u = 0; u < mr; ++u)
    {
        /* items 0-3 | 8-11 and 4-7 | 12-15, then in order */
        __m256 a = _mm256_unpacklo_ps(acc[u][0], acc[u][1]);
        __m256 b = _mm256_unpackhi_ps(acc[u][0], acc[u][1]);
        __m256 lo = _mm256_permute2f128_ps(a, b, 0x20), hi8 = _mm256_permute2f128_ps(a, b, 0x31);
        if (last >= 16) {
            _mm256_storeu_ps(S + (size_t)u * lds, lo);
            _mm256_storeu_ps(S + (size_t)u * lds + 8, hi8);
        } else {
            _mm256_maskstore_ps(S + (size_t)u * lds, m0, lo);
            _mm256_maskstore_ps(S + (size_t)u * lds + 8, m1, hi8);
        }
    }
}
static void strip_bf16(const uint16_t *P, size_t ldp, const uint16_t *Qp, size_t ni, size_t dim,
                       float *S, size_t lds, const int mr)
{
    float pw[6 * SM_PT];
    for (size_t t0 = 0; t0 < dim; t0 += SM_PT) {
        size_t nt = dim - t0 < SM_PT ? dim - t0 : SM_PT;
        for (int u = 0; u < mr; ++u) {
            const uint16_t *p = P + (size_t)u * ldp + t0;
            size_t t = 0;
            for (; t + 8 <= nt; t += 8)
                _mm256_storeu_ps(pw + (size_t)u * SM_PT + t, widen8(p + t));
            for (; t < nt; ++t)
                pw[(size_t)u * SM_PT + t] = sm_bf16_to_f32(p[t]);
        }
        for (size_t j = 0; j < ni; j += 16) {
            const uint16_t *q = Qp + j / SM_PANEL * dim * SM_PANEL + j % SM_PANEL + t0 * SM_PANEL;
            unsigned last = (unsigned)(ni - j < 16 ? ni - j : 16);
            int resume = t0 > 0;
            switch (mr) {
            case 6:
                tile_bf16(pw, q, nt, S + j, lds, 6, last, resume);
                break;
            case 4:
                tile_bf16(pw, q, nt, S + j, lds, 4, last, resume);
                break;
            case 2:
                tile_bf16(pw, q, nt, S + j, lds, 2, last, resume);
                break;
            default:
                tile_bf16(pw, q, nt, S + j, lds, 1, last, resume);
                break;
            }
        }
    }
}
static void sm_score_avx2_bf16(const uint16_t *P, size_t ldp, size_t nu, const uint16_t *Qp,
                               size_t ni, size_t dim, float *S, size_t lds)
{
    size_t u = 0;
    for (; u + 6 <= nu; u += 6)
        strip_bf16(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 6);
    if (u + 4 <= nu) {
        strip_bf16(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 4);
        u += 4;
    }
    if (u + 2 <= nu) {
        strip_bf16(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 2);
        u += 2;
    }
    if (u < nu)
        strip_bf16(P + u * ldp, ldp, Qp, ni, dim, S + u * lds, lds, 1);
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
/* Left-packing: for each 8-bit mask, the positions of its set bits, one
 * a byte, lowest first (the AVX2 stand-in for AVX-512's compress). */
static const uint64_t pack8[256] = {
    0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000001ull, 0x0000000000000100ull,
    0x0000000000000002ull, 0x0000000000000200ull, 0x0000000000000201ull, 0x0000000000020100ull,
    0x0000000000000003ull, 0x0000000000000300ull, 0x0000000000000301ull, 0x0000000000030100ull,
    0x0000000000000302ull, 0x0000000000030200ull, 0x0000000000030201ull, 0x0000000003020100ull,
    0x0000000000000004ull, 0x0000000000000400ull, 0x0000000000000401ull, 0x0000000000040100ull,
    0x0000000000000402ull, 0x0000000000040200ull, 0x0000000000040201ull, 0x0000000004020100ull,
    0x0000000000000403ull, 0x0000000000040300ull, 0x0000000000040301ull, 0x0000000004030100ull,
    0x0000000000040302ull, 0x0000000004030200ull, 0x0000000004030201ull, 0x0000000403020100ull,
    0x0000000000000005ull, 0x0000000000000500ull, 0x0000000000000501ull, 0x0000000000050100ull,
    0x0000000000000502ull, 0x0000000000050200ull, 0x0000000000050201ull, 0x0000000005020100ull,
    0x0000000000000503ull, 0x0000000000050300ull, 0x0000000000050301ull, 0x0000000005030100ull,
    0x0000000000050302ull, 0x0000000005030200ull, 0x0000000005030201ull, 0x0000000503020100ull,
    0x0000000000000504ull, 0x0000000000050400ull, 0x0000000000050401ull, 0x0000000005040100ull,
    0x0000000000050402ull, 0x0000000005040200ull, 0x0000000005040201ull, 0x0000000504020100ull,
    0x0000000000050403ull, 0x0000000005040300ull, 0x0000000005040301ull, 0x0000000504030100ull,
    0x0000000005040302ull, 0x0000000504030200ull, 0x0000000504030201ull, 0x0000050403020100ull,
    0x0000000000000006ull, 0x0000000000000600ull, 0x0000000000000601ull, 0x0000000000060100ull,
    0x0000000000000602ull, 0x0000000000060200ull, 0x0000000000060201ull, 0x0000000006020100ull,
    0x0000000000000603ull, 0x0000000000060300ull, 0x0000000000060301ull, 0x0000000006030100ull,
    0x0000000000060302ull, 0x0000000006030200ull, 0x0000000006030201ull, 0x0000000603020100ull,
    0x0000000000000604ull, 0x0000000000060400ull, 0x0000000000060401ull, 0x0000000006040100ull,
    0x0000000000060402ull, 0x0000000006040200ull, 0x0000000006040201ull, 0x0000000604020100ull,
    0x0000000000060403ull, 0x0000000006040300ull, 0x0000000006040301ull, 0x0000000604030100ull,
    0x0000000006040302ull, 0x0000000604030200ull, 0x0000000604030201ull, 0x0000060403020100ull,
    0x0000000000000605ull, 0x0000000000060500ull, 0x0000000000060501ull, 0x0000000006050100ull,
    0x0000000000060502ull, 0x0000000006050200ull, 0x0000000006050201ull, 0x0000000605020100ull,
    0x0000000000060503ull, 0x0000000006050300ull, 0x0000000006050301ull, 0x0000000605030100ull,
    0x0000000006050302ull, 0x0000000605030200ull, 0x0000000605030201ull, 0x0000060503020100ull,
    0x0000000000060504ull, 0x0000000006050400ull, 0x0000000006050401ull, 0x0000000605040100ull,
    0x0000000006050402ull, 0x0000000605040200ull, 0x0000000605040201ull, 0x0000060504020100ull,
    0x0000000006050403ull, 0x0000000605040300ull, 0x0000000605040301ull, 0x0000060504030100ull,
    0x0000000605040302ull, 0x0000060504030200ull, 0x0000060504030201ull, 0x0006050403020100ull,
    0x0000000000000007ull, 0x0000000000000700ull, 0x0000000000000701ull, 0x0000000000070100ull,
    0x0000000000000702ull, 0x0000000000070200ull, 0x0000000000070201ull, 0x0000000007020100ull,
    0x0000000000000703ull, 0x0000000000070300ull, 0x0000000000070301ull, 0x0000000007030100ull,
    0x0000000000070302ull, 0x0000000007030200ull, 0x0000000007030201ull, 0x0000000703020100ull,
    0x0000000000000704ull, 0x0000000000070400ull, 0x0000000000070401ull, 0x0000000007040100ull,
    0x0000000000070402ull, 0x0000000007040200ull, 0x0000000007040201ull, 0x0000000704020100ull,
    0x0000000000070403ull, 0x0000000007040300ull, 0x0000000007040301ull, 0x0000000704030100ull,
    0x0000000007040302ull, 0x0000000704030200ull, 0x0000000704030201ull, 0x0000070403020100ull,
    0x0000000000000705ull, 0x0000000000070500ull, 0x0000000000070501ull, 0x0000000007050100ull,
    0x0000000000070502ull, 0x0000000007050200ull, 0x0000000007050201ull, 0x0000000705020100ull,
    0x0000000000070503ull, 0x0000000007050300ull, 0x0000000007050301ull, 0x0000000705030100ull,
    0x0000000007050302ull, 0x0000000705030200ull, 0x0000000705030201ull, 0x0000070503020100ull,
    0x0000000000070504ull, 0x0000000007050400ull, 0x0000000007050401ull, 0x0000000705040100ull,
    0x0000000007050402ull, 0x0000000705040200ull, 0x0000000705040201ull, 0x0000070504020100ull,
    0x0000000007050403ull, 0x0000000705040300ull, 0x0000000705040301ull, 0x0000070504030100ull,
    0x0000000705040302ull, 0x0000070504030200ull, 0x0000070504030201ull, 0x0007050403020100ull,
    0x0000000000000706ull, 0x0000000000070600ull, 0x0000000000070601ull, 0x0000000007060100ull,
    0x0000000000070602ull, 0x0000000007060200ull, 0x0000000007060201ull, 0x0000000706020100ull,
    0x0000000000070603ull, 0x0000000007060300ull, 0x0000000007060301ull, 0x0000000706030100ull,
    0x0000000007060302ull, 0x0000000706030200ull, 0x0000000706030201ull, 0x0000070603020100ull,
    0x0000000000070604ull, 0x0000000007060400ull, 0x0000000007060401ull, 0x0000000706040100ull,
    0x0000000007060402ull, 0x0000000706040200ull, 0x0000000706040201ull, 0x0000070604020100ull,
    0x0000000007060403ull, 0x0000000706040300ull, 0x0000000706040301ull, 0x0000070604030100ull,
    0x0000000706040302ull, 0x0000070604030200ull, 0x0000070604030201ull, 0x0007060403020100ull,
    0x0000000000070605ull, 0x0000000007060500ull, 0x0000000007060501ull, 0x0000000706050100ull,
    0x0000000007060502ull, 0x0000000706050200ull, 0x0000000706050201ull, 0x0000070605020100ull,
    0x0000000007060503ull, 0x0000000706050300ull, 0x0000000706050301ull, 0x0000070605030100ull,
    0x0000000706050302ull, 0x0000070605030200ull, 0x0000070605030201ull, 0x0007060503020100ull,
    0x0000000007060504ull, 0x0000000706050400ull, 0x0000000706050401ull, 0x0000070605040100ull,
    0x0000000706050402ull, 0x0000070605040200ull, 0x0000070605040201ull, 0x0007060504020100ull,
    0x0000000706050403ull, 0x0000070605040300ull, 0x0000070605040301ull, 0x0007060504030100ull,
    0x0000070605040302ull, 0x0007060504030200ull, 0x0007060504030201ull, 0x0706050403020100ull,
};

/* A group's candidate bits to positions, with no branch on the data:
 * each half's packed positions are widened, offset and stored whole, and
 * the count advances by its population. */
static inline size_t emit(unsigned m, size_t base, uint16_t *pos, size_t n)
{
    for (unsigned h = 0; h < 2; ++h) {
        unsigned b = (m >> (8 * h)) & 0xFFu;
        __m128i p = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)pack8[b]));
        p = _mm_add_epi16(p, _mm_set1_epi16((short)(base + 8 * h)));
        _mm_storeu_si128((__m128i *)(pos + n), p);
        n += (size_t)__builtin_popcount(b);
    }
    return n;
}
/* Bit i set when s[i] is not below t (a NaN counts), i < 16. */
SM_INLINE unsigned not_below16_f32(const float *s, __m256 t)
{
    unsigned a = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s), t, _CMP_NLT_UQ));
    unsigned b =
        (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + 8), t, _CMP_NLT_UQ));
    return a | b << 8;
}
SM_INLINE unsigned not_below16_f64(const double *s, __m256d t)
{
    unsigned b = 0;
    for (int v = 0; v < 4; ++v)
        b |= (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(s + 4 * v), t, _CMP_NLT_UQ))
             << (4 * v);
    return b;
}
#define SM_SCREEN_AVX2(NAME, T, V, SET1, NOT_BELOW)                                                \
    static size_t NAME(const T *S, size_t ng, T thr, const uint16_t *ex, uint16_t *pos)            \
    {                                                                                              \
        const V t = SET1(thr);                                                                     \
        size_t n = 0;                                                                              \
        for (size_t g = 0; g < ng; ++g)                                                            \
            n = emit(NOT_BELOW(S + 16 * g, t) & ~(unsigned)ex[g], 16 * g, pos, n);                 \
        return n;                                                                                  \
    }
SM_SCREEN_AVX2(sm_screen_avx2_f32, float, __m256, _mm256_set1_ps, not_below16_f32)
SM_SCREEN_AVX2(sm_screen_avx2_f64, double, __m256d, _mm256_set1_pd, not_below16_f64)

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
    k->score_bf16 = sm_score_avx2_bf16;
}
