/* AVX2 + FMA scoring kernels. The canonical 16 float (8 double) lanes of a
 * pair live in two ymm registers, low and high; a tile is 6 pairs (2 users
 * x 3 items or 1 x 6), which with the shared loads fills the 16 ymm
 * registers. Each pair then folds on its own: h = 8 (4 for double) is the
 * low + high add, the rest is within one register. */
#pragma GCC target("fma")
#include "kernels.h"

#include <immintrin.h>

#define SM_INLINE static inline __attribute__((always_inline))

SM_INLINE float fold_f32(__m256 lo, __m256 hi)
{
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

SM_INLINE double fold_f64(__m256d lo, __m256d hi)
{
    __m256d a = _mm256_add_pd(lo, hi);
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* Lane masks for a tail of n < W elements split over two registers. */
SM_INLINE __m256i tail_mask32(size_t n, size_t first)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - (int)first), idx);
}
SM_INLINE __m256i tail_mask64(size_t n, size_t first)
{
    const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n - (long long)first), idx);
}

SM_INLINE void tile_f32(const float *P, size_t ldp, const float *const *q, size_t dim, const int mr,
                        const int nr, float *out)
{
    __m256 lo[6], hi[6];
    for (int i = 0; i < 6; ++i)
        lo[i] = hi[i] = _mm256_setzero_ps();
    size_t t = 0;
    for (; t + 16 <= dim; t += 16) {
        for (int h = 0; h < 2; ++h) {
            __m256 *acc = h ? hi : lo;
            __m256 p[2];
            for (int u = 0; u < mr; ++u)
                p[u] = _mm256_loadu_ps(P + u * ldp + t + 8 * h);
            for (int j = 0; j < nr; ++j) {
                __m256 qv = _mm256_loadu_ps(q[j] + t + 8 * h);
                for (int u = 0; u < mr; ++u)
                    acc[u * nr + j] = _mm256_fmadd_ps(p[u], qv, acc[u * nr + j]);
            }
        }
    }
    if (t < dim) {
        for (int h = 0; h < 2; ++h) {
            /* blend so that lanes past dim keep their accumulator bits */
            __m256i mi = tail_mask32(dim - t, 8 * (size_t)h);
            __m256 m = _mm256_castsi256_ps(mi);
            __m256 *acc = h ? hi : lo;
            __m256 p[2];
            for (int u = 0; u < mr; ++u)
                p[u] = _mm256_maskload_ps(P + u * ldp + t + 8 * h, mi);
            for (int j = 0; j < nr; ++j) {
                __m256 qv = _mm256_maskload_ps(q[j] + t + 8 * h, mi);
                for (int u = 0; u < mr; ++u)
                    acc[u * nr + j] = _mm256_blendv_ps(
                        acc[u * nr + j], _mm256_fmadd_ps(p[u], qv, acc[u * nr + j]), m);
            }
        }
    }
    for (int i = 0; i < mr * nr; ++i)
        out[i] = fold_f32(lo[i], hi[i]);
}

SM_INLINE void tile_f64(const double *P, size_t ldp, const double *const *q, size_t dim,
                        const int mr, const int nr, double *out)
{
    __m256d lo[6], hi[6];
    for (int i = 0; i < 6; ++i)
        lo[i] = hi[i] = _mm256_setzero_pd();
    size_t t = 0;
    for (; t + 8 <= dim; t += 8) {
        for (int h = 0; h < 2; ++h) {
            __m256d *acc = h ? hi : lo;
            __m256d p[2];
            for (int u = 0; u < mr; ++u)
                p[u] = _mm256_loadu_pd(P + u * ldp + t + 4 * h);
            for (int j = 0; j < nr; ++j) {
                __m256d qv = _mm256_loadu_pd(q[j] + t + 4 * h);
                for (int u = 0; u < mr; ++u)
                    acc[u * nr + j] = _mm256_fmadd_pd(p[u], qv, acc[u * nr + j]);
            }
        }
    }
    if (t < dim) {
        for (int h = 0; h < 2; ++h) {
            __m256i mi = tail_mask64(dim - t, 4 * (size_t)h);
            __m256d m = _mm256_castsi256_pd(mi);
            __m256d *acc = h ? hi : lo;
            __m256d p[2];
            for (int u = 0; u < mr; ++u)
                p[u] = _mm256_maskload_pd(P + u * ldp + t + 4 * h, mi);
            for (int j = 0; j < nr; ++j) {
                __m256d qv = _mm256_maskload_pd(q[j] + t + 4 * h, mi);
                for (int u = 0; u < mr; ++u)
                    acc[u * nr + j] = _mm256_blendv_pd(
                        acc[u * nr + j], _mm256_fmadd_pd(p[u], qv, acc[u * nr + j]), m);
            }
        }
    }
    for (int i = 0; i < mr * nr; ++i)
        out[i] = fold_f64(lo[i], hi[i]);
}

#define SM_SCORE_AVX2(NAME, T, TILE)                                                               \
    static void NAME(const T *P, size_t ldp, size_t nu, const T *Qt, size_t ldq, size_t ni,        \
                     size_t dim, T *S, size_t lds)                                                 \
    {                                                                                              \
        if (ni == 0)                                                                               \
            return;                                                                                \
        for (size_t u = 0; u < nu;) {                                                              \
            const int mr = nu - u >= 2 ? 2 : 1;                                                    \
            const int nr = 6 / mr;                                                                 \
            const T *pu = P + u * ldp;                                                             \
            for (size_t j = 0; j < ni; j += (size_t)nr) {                                          \
                const T *q[6];                                                                     \
                for (int c = 0; c < nr; ++c)                                                       \
                    q[c] = Qt + (j + (size_t)c < ni ? j + (size_t)c : ni - 1) * ldq;               \
                T tmp[6];                                                                          \
                if (mr == 2)                                                                       \
                    TILE(pu, ldp, q, dim, 2, 3, tmp);                                              \
                else                                                                               \
                    TILE(pu, ldp, q, dim, 1, 6, tmp);                                              \
                size_t nv = ni - j < (size_t)nr ? ni - j : (size_t)nr;                             \
                for (int r = 0; r < mr; ++r)                                                       \
                    for (size_t c = 0; c < nv; ++c)                                                \
                        S[(u + (size_t)r) * lds + j + c] = tmp[r * nr + (int)c];                   \
            }                                                                                      \
            u += (size_t)mr;                                                                       \
        }                                                                                          \
    }

SM_SCORE_AVX2(sm_score_avx2_f32, float, tile_f32)
SM_SCORE_AVX2(sm_score_avx2_f64, double, tile_f64)

void sm_score_init_avx2(sm_kernels *k)
{
    /* The dispatcher checks AVX2 only; without FMA keep the portable
     * scorer rather than fault. */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma"))
        return;
    k->score_f32 = sm_score_avx2_f32;
    k->score_f64 = sm_score_avx2_f64;
}
