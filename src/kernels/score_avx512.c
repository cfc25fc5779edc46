/* AVX-512 scoring kernels. A tile is 16 (user, item) pairs, MR users x NR
 * items with MR * NR = 16, each pair owning one vector accumulator of the
 * canonical lanes (kernels.h); the loop over dim is one FMA per pair and
 * vector, loads shared along rows and columns. At the end a transposing
 * reduction folds all 16 accumulators at once (lane l += lane l + h, as the
 * canonical order asks) and yields the tile's scores in one or two
 * vectors, which costs about 2 shuffles per pair instead of 8. */
#pragma GCC target("fma")
#include "kernels.h"

#include <immintrin.h>

#define SM_INLINE static inline __attribute__((always_inline))

/* Step-1 partners: chosen so that lane i of the result is accumulator i. */
static const int sm_f32_a[8] = {0, 8, 1, 9, 2, 10, 3, 11};
static const int sm_f32_b[8] = {4, 12, 5, 13, 6, 14, 7, 15};

SM_INLINE __m512 reduce16_f32(const __m512 *a)
{
    __m512 r[8], v[4], g[2];
    for (int i = 0; i < 8; ++i) { /* h = 8 */
        __m512 x = a[sm_f32_a[i]], y = a[sm_f32_b[i]];
        r[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
    }
    for (int i = 0; i < 4; ++i) /* h = 4 */
        v[i] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; ++i) /* h = 2 */
        g[i] = _mm512_add_ps(_mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(v[2 * i], v[2 * i + 1], 0xEE));
    /* h = 1 */
    return _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], 0x88), _mm512_shuffle_ps(g[0], g[1], 0xDD));
}

/* One tile: MR users (rows P, P + ldp, ...) against NR item rows q[].
 * The main loop uses plain loads (masked loads run at half the rate); the
 * last partial chunk is masked, so lanes past dim are never touched (a -0
 * there stays -0, as in the portable kernel). */
SM_INLINE __m512 tile_f32(const float *P, size_t ldp, const float *const *q, size_t dim,
                          const int mr, const int nr)
{
    __m512 acc[16];
    for (int i = 0; i < 16; ++i)
        acc[i] = _mm512_setzero_ps();
    size_t t = 0;
    for (; t + 16 <= dim; t += 16) {
        __m512 p[4];
        for (int u = 0; u < mr; ++u)
            p[u] = _mm512_loadu_ps(P + u * ldp + t);
        for (int c = 0; c < nr; ++c) {
            __m512 qv = _mm512_loadu_ps(q[c] + t);
            for (int u = 0; u < mr; ++u)
                acc[u * nr + c] = _mm512_fmadd_ps(p[u], qv, acc[u * nr + c]);
        }
    }
    if (t < dim) {
        __mmask16 m = (__mmask16)((1u << (dim - t)) - 1);
        __m512 p[4];
        for (int u = 0; u < mr; ++u)
            p[u] = _mm512_maskz_loadu_ps(m, P + u * ldp + t);
        for (int c = 0; c < nr; ++c) {
            __m512 qv = _mm512_maskz_loadu_ps(m, q[c] + t);
            for (int u = 0; u < mr; ++u)
                acc[u * nr + c] = _mm512_mask3_fmadd_ps(p[u], qv, acc[u * nr + c], m);
        }
    }
    return reduce16_f32(acc);
}

/* A strip of MR users against ni items: full tiles store their rows of the
 * result straight into S; a last partial tile repeats its last item and
 * drops the extra scores. One function per shape, so each gets its own
 * fully unrolled, register-resident loop. */
#define SM_STRIP_F32(NAME, MR, NR)                                                                 \
    static void NAME(const float *P, size_t ldp, const float *Qt, size_t ldq, size_t ni,           \
                     size_t dim, float *S, size_t lds)                                             \
    {                                                                                              \
        size_t j = 0;                                                                              \
        for (; j + NR <= ni; j += NR) {                                                            \
            const float *q[NR];                                                                    \
            for (int c = 0; c < NR; ++c)                                                           \
                q[c] = Qt + (j + (size_t)c) * ldq;                                                 \
            __m512 z = tile_f32(P, ldp, q, dim, MR, NR);                                           \
            if (MR == 1)                                                                           \
                _mm512_storeu_ps(S + j, z);                                                        \
            else if (MR == 2) {                                                                    \
                _mm256_storeu_ps(S + j, _mm512_castps512_ps256(z));                                \
                _mm256_storeu_ps(S + lds + j, _mm256_castpd_ps(_mm512_extractf64x4_pd(             \
                                                  _mm512_castps_pd(z), 1)));                       \
            } else {                                                                               \
                _mm_storeu_ps(S + j, _mm512_castps512_ps128(z));                                   \
                _mm_storeu_ps(S + lds + j, _mm512_extractf32x4_ps(z, 1));                          \
                _mm_storeu_ps(S + 2 * lds + j, _mm512_extractf32x4_ps(z, 2));                      \
                _mm_storeu_ps(S + 3 * lds + j, _mm512_extractf32x4_ps(z, 3));                      \
            }                                                                                      \
        }                                                                                          \
        if (j < ni) {                                                                              \
            const float *q[NR];                                                                    \
            for (int c = 0; c < NR; ++c)                                                           \
                q[c] = Qt + (j + (size_t)c < ni ? j + (size_t)c : ni - 1) * ldq;                   \
            float tmp[16];                                                                         \
            _mm512_storeu_ps(tmp, tile_f32(P, ldp, q, dim, MR, NR));                               \
            for (int r = 0; r < MR; ++r)                                                           \
                for (size_t c = 0; c < ni - j; ++c)                                                \
                    S[(size_t)r * lds + j + c] = tmp[r * NR + (int)c];                             \
        }                                                                                          \
    }
SM_STRIP_F32(strip_f32_4x4, 4, 4)
SM_STRIP_F32(strip_f32_2x8, 2, 8)
SM_STRIP_F32(strip_f32_1x16, 1, 16)

static void sm_score_avx512_f32(const float *P, size_t ldp, size_t nu, const float *Qt, size_t ldq,
                                size_t ni, size_t dim, float *S, size_t lds)
{
    if (ni == 0)
        return;
    size_t u = 0;
    for (; u + 4 <= nu; u += 4)
        strip_f32_4x4(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
    if (u + 2 <= nu) {
        strip_f32_2x8(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
        u += 2;
    }
    if (u < nu)
        strip_f32_1x16(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
}

/* Double: 8 lanes, so the 16 accumulators fold into two vectors. */
static const int sm_f64_a[8] = {0, 4, 1, 5, 8, 12, 9, 13};
static const int sm_f64_b[8] = {2, 6, 3, 7, 10, 14, 11, 15};

SM_INLINE void reduce16_f64(const __m512d *a, __m512d *out)
{
    __m512d r[8], v[4];
    for (int i = 0; i < 8; ++i) { /* h = 4 */
        __m512d x = a[sm_f64_a[i]], y = a[sm_f64_b[i]];
        r[i] = _mm512_add_pd(_mm512_shuffle_f64x2(x, y, 0x44), _mm512_shuffle_f64x2(x, y, 0xEE));
    }
    for (int i = 0; i < 4; ++i) /* h = 2 */
        v[i] = _mm512_add_pd(_mm512_shuffle_f64x2(r[2 * i], r[2 * i + 1], 0x88),
                             _mm512_shuffle_f64x2(r[2 * i], r[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; ++i) /* h = 1 */
        out[i] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]),
                               _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]));
}

SM_INLINE void tile_f64(const double *P, size_t ldp, const double *const *q, size_t dim,
                        const int mr, const int nr, __m512d *out)
{
    __m512d acc[16];
    for (int i = 0; i < 16; ++i)
        acc[i] = _mm512_setzero_pd();
    size_t t = 0;
    for (; t + 8 <= dim; t += 8) {
        __m512d p[4];
        for (int u = 0; u < mr; ++u)
            p[u] = _mm512_loadu_pd(P + u * ldp + t);
        for (int c = 0; c < nr; ++c) {
            __m512d qv = _mm512_loadu_pd(q[c] + t);
            for (int u = 0; u < mr; ++u)
                acc[u * nr + c] = _mm512_fmadd_pd(p[u], qv, acc[u * nr + c]);
        }
    }
    if (t < dim) {
        __mmask8 m = (__mmask8)((1u << (dim - t)) - 1);
        __m512d p[4];
        for (int u = 0; u < mr; ++u)
            p[u] = _mm512_maskz_loadu_pd(m, P + u * ldp + t);
        for (int c = 0; c < nr; ++c) {
            __m512d qv = _mm512_maskz_loadu_pd(m, q[c] + t);
            for (int u = 0; u < mr; ++u)
                acc[u * nr + c] = _mm512_mask3_fmadd_pd(p[u], qv, acc[u * nr + c], m);
        }
    }
    reduce16_f64(acc, out);
}

/* As for float; out[0] holds pairs 0-7, out[1] pairs 8-15. */
#define SM_STRIP_F64(NAME, MR, NR)                                                                 \
    static void NAME(const double *P, size_t ldp, const double *Qt, size_t ldq, size_t ni,         \
                     size_t dim, double *S, size_t lds)                                            \
    {                                                                                              \
        size_t j = 0;                                                                              \
        for (; j + NR <= ni; j += NR) {                                                            \
            const double *q[NR];                                                                   \
            for (int c = 0; c < NR; ++c)                                                           \
                q[c] = Qt + (j + (size_t)c) * ldq;                                                 \
            __m512d z[2];                                                                          \
            tile_f64(P, ldp, q, dim, MR, NR, z);                                                   \
            if (MR == 1) {                                                                         \
                _mm512_storeu_pd(S + j, z[0]);                                                     \
                _mm512_storeu_pd(S + j + 8, z[1]);                                                 \
            } else if (MR == 2) {                                                                  \
                _mm512_storeu_pd(S + j, z[0]);                                                     \
                _mm512_storeu_pd(S + lds + j, z[1]);                                               \
            } else {                                                                               \
                for (int r = 0; r < 4; ++r)                                                        \
                    _mm256_storeu_pd(S + (size_t)r * lds + j,                                      \
                                     (r & 1) ? _mm512_extractf64x4_pd(z[r / 2], 1)                 \
                                             : _mm512_castpd512_pd256(z[r / 2]));                  \
            }                                                                                      \
        }                                                                                          \
        if (j < ni) {                                                                              \
            const double *q[NR];                                                                   \
            for (int c = 0; c < NR; ++c)                                                           \
                q[c] = Qt + (j + (size_t)c < ni ? j + (size_t)c : ni - 1) * ldq;                   \
            __m512d z[2];                                                                          \
            tile_f64(P, ldp, q, dim, MR, NR, z);                                                   \
            double tmp[16];                                                                        \
            _mm512_storeu_pd(tmp, z[0]);                                                           \
            _mm512_storeu_pd(tmp + 8, z[1]);                                                       \
            for (int r = 0; r < MR; ++r)                                                           \
                for (size_t c = 0; c < ni - j; ++c)                                                \
                    S[(size_t)r * lds + j + c] = tmp[r * NR + (int)c];                             \
        }                                                                                          \
    }
SM_STRIP_F64(strip_f64_4x4, 4, 4)
SM_STRIP_F64(strip_f64_2x8, 2, 8)
SM_STRIP_F64(strip_f64_1x16, 1, 16)

static void sm_score_avx512_f64(const double *P, size_t ldp, size_t nu, const double *Qt,
                                size_t ldq, size_t ni, size_t dim, double *S, size_t lds)
{
    if (ni == 0)
        return;
    size_t u = 0;
    for (; u + 4 <= nu; u += 4)
        strip_f64_4x4(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
    if (u + 2 <= nu) {
        strip_f64_2x8(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
        u += 2;
    }
    if (u < nu)
        strip_f64_1x16(P + u * ldp, ldp, Qt, ldq, ni, dim, S + u * lds, lds);
}

void sm_score_init_avx512(sm_kernels *k)
{
    /* every AVX-512F CPU has FMA, but the OS check is the dispatcher's */
    k->score_f32 = sm_score_avx512_f32;
    k->score_f64 = sm_score_avx512_f64;
}
