/* AVX2 kernels: the AVX-512 design on 16 ymm registers, with every slot
 * filled (gather, its prefetching form, and the blocked accumulate and
 * update), so that no AVX2 machine falls back to portable code on large
 * data. The canonical 16-lane (float) and 8-lane (double) dot order is kept
 * by giving each group of lanes its own double accumulator. The blocked
 * accumulate does not prefetch the rows it gathers: a row's segment in one
 * block is short, and a prefetch SM_PFD signs ahead lands in the next
 * block's list as often as not (measured slower on the 25M-shaped set); it
 * prefetches the accumulator rows instead (SM_PREFETCH_ACCUM_ROW, kernels.h). */
#include "bf16.h"
#include "kernels.h"

#include <immintrin.h>

#define SM_NV     8
#define SM_PFD    16
#define SM_INLINE static inline __attribute__((always_inline))

/* 4 double lanes folded h = 2, 1. */
SM_INLINE double fold4(__m256d a)
{
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* Per-type pieces for the shared drivers below. LANES is elements per
 * vector; the dot's double lanes fold to one double as the canonical order
 * says. */
SM_INLINE double dot_f32(const __m256d *d)
{
    /* h = 8: lanes 0-7 += lanes 8-15; h = 4: 0-3 += 4-7; then 2, 1 */
    return fold4(_mm256_add_pd(_mm256_add_pd(d[0], d[2]), _mm256_add_pd(d[1], d[3])));
}
SM_INLINE double dot_f64(const __m256d *d)
{
    return fold4(_mm256_add_pd(d[0], d[1]));
}
#define LANES_f32   8
#define LANES_f64   4
#define ZERO_f32    _mm256_setzero_ps
#define ZERO_f64    _mm256_setzero_pd
#define SET1_f32    _mm256_set1_ps
#define SET1_f64    _mm256_set1_pd
#define LOAD_f32    _mm256_loadu_ps
#define LOAD_f64    _mm256_loadu_pd
#define STORE_f32   _mm256_storeu_ps
#define STORE_f64   _mm256_storeu_pd
#define ADD_f32     _mm256_add_ps
#define ADD_f64     _mm256_add_pd
#define SUB_f32     _mm256_sub_ps
#define SUB_f64     _mm256_sub_pd
#define NANS_f32(v) _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))
#define NANS_f64(v) _mm256_movemask_pd(_mm256_cmp_pd(v, v, _CMP_UNORD_Q))

/* A row's strip once its sum is in acc: the dot and the update.
 * d[0..3] hold double lanes 0-3, 4-7, 8-11, 12-15 of the float dot. */
SM_INLINE void finish_f32(const __m256 *acc, const float *me, float *o, __m256 va, __m256 vsc,
                          __m256d *d, __m256 *bad, const int nv)
{
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

/* d[0], d[1] hold double lanes 0-3 and 4-7. */
SM_INLINE void finish_f64(const __m256d *acc, const double *me, double *o, __m256d va, __m256d vsc,
                          __m256d *d, __m256d *bad, const int nv)
{
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

/* run_*: adds (sub = 0) or subtracts the src rows listed in [p, e) into
 * acc. With pf it also prefetches the row SM_PFD signs ahead, for src
 * panels beyond L2; prefetching changes no arithmetic.
 * strip_*: a row's whole strip: its +1 rows, its -1 rows, then finish_*. */
#define SM_DEFINE_RUN(SFX, T, V)                                                                   \
    SM_INLINE void run_##SFX(V *acc, const uint32_t *p, const uint32_t *e, const uint32_t *end,    \
                             const T *src, size_t w, const int sub, const int nv, const int pf)    \
    {                                                                                              \
        for (; p < e; ++p) {                                                                       \
            if (pf) {                                                                              \
                const uint32_t *q = p + SM_PFD < end ? p + SM_PFD : end - 1;                       \
                const char *f = (const char *)(src + (size_t)*q * w);                              \
                for (int l = 0; l < nv / 2; ++l)                                                   \
                    _mm_prefetch(f + 64 * l, _MM_HINT_T0);                                         \
            }                                                                                      \
            const T *x = src + (size_t)*p * w;                                                     \
            for (int v = 0; v < nv; ++v)                                                           \
                acc[v] = sub ? SUB_##SFX(acc[v], LOAD_##SFX(x + LANES_##SFX * v))                  \
                             : ADD_##SFX(acc[v], LOAD_##SFX(x + LANES_##SFX * v));                 \
        }                                                                                          \
    }                                                                                              \
    SM_INLINE void strip_##SFX(const uint32_t *ib, const uint32_t *im, const uint32_t *ie,         \
                               const uint32_t *end, const T *src, size_t w, const T *me, T *o,     \
                               V va, V vsc, __m256d *d, V *bad, const int nv, const int pf)        \
    {                                                                                              \
        V acc[SM_NV];                                                                              \
        for (int v = 0; v < nv; ++v)                                                               \
            acc[v] = ZERO_##SFX();                                                                 \
        run_##SFX(acc, ib, im, end, src, w, 0, nv, pf);                                            \
        run_##SFX(acc, im, ie, end, src, w, 1, nv, pf);                                            \
        finish_##SFX(acc, me, o, va, vsc, d, bad, nv);                                             \
    }
SM_DEFINE_RUN(f32, float, __m256)
SM_DEFINE_RUN(f64, double, __m256d)

/* Panels are multiples of 16 floats or 8 doubles wide, so after the full
 * strips of SM_NV vectors the tail is 2, 4 or 6 vectors; the switch gives
 * each a strip with a constant vector count. */
#define SM_STRIPS(SFX, W, CALL)                                                                    \
    do {                                                                                           \
        size_t t0 = 0;                                                                             \
        for (; t0 + LANES_##SFX * SM_NV <= (W); t0 += LANES_##SFX * SM_NV)                         \
            CALL(t0, SM_NV);                                                                       \
        switch (((W)-t0) / LANES_##SFX) {                                                          \
        case 2:                                                                                    \
            CALL(t0, 2);                                                                           \
            break;                                                                                 \
        case 4:                                                                                    \
            CALL(t0, 4);                                                                           \
            break;                                                                                 \
        case 6:                                                                                    \
            CALL(t0, 6);                                                                           \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

#define SM_DEFINE_AVX2(SFX, T, V)                                                                  \
    SM_INLINE int gather_##SFX(const sm_signs *s, size_t r0, size_t r1, size_t w, const T *src,    \
                               const T *self, T *out, T a, T sc, double *dot, const int pf)        \
    {                                                                                              \
        const V va = SET1_##SFX(a), vsc = SET1_##SFX(sc);                                          \
        V bad = ZERO_##SFX();                                                                      \
        const uint32_t *end = s->idx + s->nnz;                                                     \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            const uint32_t *ib = s->idx + s->ptr[r];                                               \
            const uint32_t *im = s->idx + s->mid[r];                                               \
            const uint32_t *ie = s->idx + s->ptr[r + 1];                                           \
            __m256d d[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),         \
                            _mm256_setzero_pd()};                                                  \
            __m256d *pd = dot ? d : NULL;                                                          \
            T *o = out ? out + r * w : NULL;                                                       \
            SM_STRIPS(SFX, w, GATHER_STRIP_##SFX);                                                 \
            if (dot)                                                                               \
                dot[r] = dot_##SFX(d);                                                             \
        }                                                                                          \
        return NANS_##SFX(bad) != 0;                                                               \
    }                                                                                              \
    static int sm_gather_avx2_##SFX(const sm_signs *s, size_t r0, size_t r1, size_t w,             \
                                    const T *src, const T *self, T *out, T a, T sc, double *dot)   \
    {                                                                                              \
        return gather_##SFX(s, r0, r1, w, src, self, out, a, sc, dot, 0);                          \
    }                                                                                              \
    static int sm_gather_avx2_pf_##SFX(const sm_signs *s, size_t r0, size_t r1, size_t w,          \
                                       const T *src, const T *self, T *out, T a, T sc,             \
                                       double *dot)                                                \
    {                                                                                              \
        return gather_##SFX(s, r0, r1, w, src, self, out, a, sc, dot, 1);                          \
    }                                                                                              \
    /* A row with nothing in this block keeps its accumulator (adding                              \
     * nothing changes no bit), so it is skipped, or zeroed in the first                           \
     * block. */                                                                                   \
    static void sm_accum_avx2_##SFX(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,   \
                                    const uint32_t *mb0, const uint32_t *mb1, size_t r0,           \
                                    size_t r1, size_t w, const T *src, T *acc, int first)          \
    {                                                                                              \
        const uint32_t *end = s->idx + s->nnz;                                                     \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            T *ac = acc + r * w;                                                                   \
            SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1);                                     \
            if (pb1[r] == pb0[r] && mb1[r] == mb0[r]) {                                            \
                if (first)                                                                         \
                    for (size_t t = 0; t < w; t += LANES_##SFX)                                    \
                        STORE_##SFX(ac + t, ZERO_##SFX());                                         \
                continue;                                                                          \
            }                                                                                      \
            const uint32_t *ip = s->idx + s->ptr[r], *im = s->idx + s->mid[r];                     \
            SM_STRIPS(SFX, w, ACCUM_STRIP_##SFX);                                                  \
        }                                                                                          \
    }                                                                                              \
    static int sm_update_avx2_##SFX(size_t r0, size_t r1, size_t w, const T *self, const T *acc,   \
                                    T *out, T a, T sc, double *dot)                                \
    {                                                                                              \
        const V va = SET1_##SFX(a), vsc = SET1_##SFX(sc);                                          \
        V bad = ZERO_##SFX();                                                                      \
        for (size_t r = r0; r < r1; ++r) {                                                         \
            __m256d d[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),         \
                            _mm256_setzero_pd()};                                                  \
            __m256d *pd = dot ? d : NULL;                                                          \
            T *o = out ? out + r * w : NULL;                                                       \
            SM_STRIPS(SFX, w, UPDATE_STRIP_##SFX);                                                 \
            if (dot)                                                                               \
                dot[r] = dot_##SFX(d);                                                             \
        }                                                                                          \
        return NANS_##SFX(bad) != 0;                                                               \
    }

/* The strip bodies, with t0 and the constant nv. */
#define GATHER_STRIP(SFX, t0, nv)                                                                  \
    strip_##SFX(ib, im, ie, end, src + (t0), w, self + r * w + (t0), o ? o + (t0) : NULL, va, vsc, \
                pd, &bad, nv, pf)
#define ACCUM_STRIP(SFX, V, t0, nv)                                                                \
    do {                                                                                           \
        V x[SM_NV];                                                                                \
        for (int v = 0; v < (nv); ++v)                                                             \
            x[v] = first ? ZERO_##SFX() : LOAD_##SFX(ac + (t0) + LANES_##SFX * v);                 \
        run_##SFX(x, ip + pb0[r], ip + pb1[r], end, src + (t0), w, 0, nv, 0);                      \
        run_##SFX(x, im + mb0[r], im + mb1[r], end, src + (t0), w, 1, nv, 0);                      \
        for (int v = 0; v < (nv); ++v)                                                             \
            STORE_##SFX(ac + (t0) + LANES_##SFX * v, x[v]);                                        \
    } while (0)
#define UPDATE_STRIP(SFX, V, t0, nv)                                                               \
    do {                                                                                           \
        V x[SM_NV];                                                                                \
        for (int v = 0; v < (nv); ++v)                                                             \
            x[v] = LOAD_##SFX(acc + r * w + (t0) + LANES_##SFX * v);                               \
        finish_##SFX(x, self + r * w + (t0), o ? o + (t0) : NULL, va, vsc, pd, &bad, nv);          \
    } while (0)
#define GATHER_STRIP_f32(t0, nv) GATHER_STRIP(f32, t0, nv)
#define GATHER_STRIP_f64(t0, nv) GATHER_STRIP(f64, t0, nv)
#define ACCUM_STRIP_f32(t0, nv)  ACCUM_STRIP(f32, __m256, t0, nv)
#define ACCUM_STRIP_f64(t0, nv)  ACCUM_STRIP(f64, __m256d, t0, nv)
#define UPDATE_STRIP_f32(t0, nv) UPDATE_STRIP(f32, __m256, t0, nv)
#define UPDATE_STRIP_f64(t0, nv) UPDATE_STRIP(f64, __m256d, t0, nv)

SM_DEFINE_AVX2(f32, float, __m256)
SM_DEFINE_AVX2(f64, double, __m256d)

/* The dense kernels of src/linalg with each output tile held in
 * registers across its whole chain of adds: dense.h's loops reload and
 * store every entry once per step (per 4 rows in xty, per term in mul),
 * so a chain waits on store forwarding. The order per entry is dense.h's
 * (and kernels.h's): separate mul and add roundings, terms ascending, so
 * the bits are the portable kernels'. A tile is NA rows of the output by
 * NV vectors of 4 columns. The columns go in strips of whole vectors, and
 * a last strip of one masked vector takes a tail of 1-3 columns: masked
 * loads and stores are slow on AMD's cores (at 32 columns, strips whose
 * last vector was always masked ran 1.2-1.3x slower in bench_dense). */
#define DENSE_NA 4
#define DENSE_NV 3

SM_INLINE __m256i dense_mask(size_t left)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(left < 4 ? left : 4)),
                              _mm256_setr_epi64x(0, 1, 2, 3));
}

SM_INLINE __m256d dense_load(const double *p, int masked, __m256i m)
{
    return masked ? _mm256_maskload_pd(p, m) : _mm256_loadu_pd(p);
}

SM_INLINE void dense_store(double *p, int masked, __m256i m, __m256d v)
{
    if (masked)
        _mm256_maskstore_pd(p, m, v);
    else
        _mm256_storeu_pd(p, v);
}

/* C rows [0, na) (X columns from X's a0), columns [b0, b0 + 4 nv) (the
 * masked tail when mk): C += X^T Y over rows [0, n). */
SM_INLINE void xty_tile(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n, int na,
                        int nv, int mk, __m256i m, double *C, size_t ldc)
{
    __m256d acc[DENSE_NA][DENSE_NV];
    for (int i = 0; i < na; ++i)
        for (int v = 0; v < nv; ++v)
            acc[i][v] = dense_load(C + i * ldc + 4 * v, mk, m);
    for (size_t r = 0; r < n; ++r) {
        const double *x = X + r * ldx, *y = Y + r * ldy;
        __m256d yv[DENSE_NV];
        for (int v = 0; v < nv; ++v)
            yv[v] = dense_load(y + 4 * v, mk, m);
        for (int i = 0; i < na; ++i) {
            __m256d xa = _mm256_broadcast_sd(x + i);
            for (int v = 0; v < nv; ++v)
                acc[i][v] = _mm256_add_pd(acc[i][v], _mm256_mul_pd(xa, yv[v]));
        }
    }
    for (int i = 0; i < na; ++i)
        for (int v = 0; v < nv; ++v)
            dense_store(C + i * ldc + 4 * v, mk, m, acc[i][v]);
}

/* Y rows [0, na), columns [0, 4 nv) (the masked tail when mk), = X T. */
SM_INLINE void mul_tile(const double *X, size_t ldx, size_t k1, const double *T, size_t k2, int na,
                        int nv, int mk, __m256i m, double *Y, size_t ldy)
{
    __m256d acc[DENSE_NA][DENSE_NV];
    for (int i = 0; i < na; ++i)
        for (int v = 0; v < nv; ++v)
            acc[i][v] = _mm256_setzero_pd();
    for (size_t a = 0; a < k1; ++a) {
        const double *t = T + a * k2;
        __m256d tv[DENSE_NV];
        for (int v = 0; v < nv; ++v)
            tv[v] = dense_load(t + 4 * v, mk, m);
        for (int i = 0; i < na; ++i) {
            __m256d xa = _mm256_broadcast_sd(X + i * ldx + a);
            for (int v = 0; v < nv; ++v)
                acc[i][v] = _mm256_add_pd(acc[i][v], _mm256_mul_pd(xa, tv[v]));
        }
    }
    for (int i = 0; i < na; ++i)
        for (int v = 0; v < nv; ++v)
            dense_store(Y + i * ldy + 4 * v, mk, m, acc[i][v]);
}

/* The tile shapes as constants, so that each call unrolls into registers:
 * NV whole vectors, or (mk) the one masked vector of the tail. */
#define DENSE_ROWS(CALL, NA, nv, mk)                                                               \
    do {                                                                                           \
        if (mk)                                                                                    \
            CALL(NA, 1, 1);                                                                        \
        else if ((nv) == 3)                                                                        \
            CALL(NA, 3, 0);                                                                        \
        else if ((nv) == 2)                                                                        \
            CALL(NA, 2, 0);                                                                        \
        else                                                                                       \
            CALL(NA, 1, 0);                                                                        \
    } while (0)
#define DENSE_SHAPES(CALL, na, nv, mk)                                                             \
    do {                                                                                           \
        if ((na) == DENSE_NA)                                                                      \
            DENSE_ROWS(CALL, DENSE_NA, nv, mk);                                                    \
        else                                                                                       \
            DENSE_ROWS(CALL, 1, nv, mk);                                                           \
    } while (0)

/* The strip of columns from b0: up to DENSE_NV whole vectors, or the tail
 * of fewer than 4 columns as one masked vector (*mk). */
SM_INLINE int dense_strip(size_t k2, size_t b0, int *mk)
{
    size_t left = k2 - b0;
    *mk = left < 4;
    return left < 4 ? 1 : left / 4 < DENSE_NV ? (int)(left / 4) : DENSE_NV;
}

/* Rows go through in chunks that stay in L1 while every tile of C passes
 * over them (each entry still adds its rows in ascending order). */
static void xty_chunk(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n, size_t k1,
                      size_t k2, double *C, size_t ldc)
{
    const __m256i m = dense_mask(k2 % 4);
    for (size_t b0 = 0; b0 < k2;) {
        int mk, nv = dense_strip(k2, b0, &mk);
        for (size_t a0 = 0; a0 < k1;) {
            int na = k1 - a0 >= DENSE_NA ? DENSE_NA : 1;
#define XTY_CALL(NA, NV, MK)                                                                       \
    xty_tile(X + a0, ldx, Y + b0, ldy, n, NA, NV, MK, m, C + a0 * ldc + b0, ldc)
            DENSE_SHAPES(XTY_CALL, na, nv, mk);
#undef XTY_CALL
            a0 += (size_t)na;
        }
        b0 += mk ? k2 - b0 : 4 * (size_t)nv;
    }
}

static void sm_xty_f64_avx2(const double *X, size_t ldx, const double *Y, size_t ldy, size_t n,
                            size_t k1, size_t k2, double *C, size_t ldc)
{
    size_t per = (k1 + k2) * sizeof(double), rows = per ? (24u << 10) / per : n;
    if (rows < 16)
        rows = 16;
    for (size_t r0 = 0; r0 < n; r0 += rows)
        xty_chunk(X + r0 * ldx, ldx, Y + r0 * ldy, ldy, n - r0 < rows ? n - r0 : rows, k1, k2, C,
                  ldc);
}

static void sm_mul_small_f64_avx2(const double *X, size_t ldx, size_t n, size_t k1, const double *T,
                                  size_t k2, double *Y, size_t ldy)
{
    const __m256i m = dense_mask(k2 % 4);
    for (size_t r0 = 0; r0 < n;) {
        int na = n - r0 >= DENSE_NA ? DENSE_NA : 1;
        for (size_t b0 = 0; b0 < k2;) {
            int mk, nv = dense_strip(k2, b0, &mk);
#define MUL_CALL(NA, NV, MK)                                                                       \
    mul_tile(X + r0 * ldx, ldx, k1, T + b0, k2, NA, NV, MK, m, Y + r0 * ldy + b0, ldy)
            DENSE_SHAPES(MUL_CALL, na, nv, mk);
#undef MUL_CALL
            b0 += mk ? k2 - b0 : 4 * (size_t)nv;
        }
        r0 += (size_t)na;
    }
}

/* bf16 (kernels.h, bf16.h). The narrowing of VCVTNEPS2BF16 in integer
 * lanes: each dword ends up holding its bf16 in the low 16 bits. */
SM_INLINE __m256i bf16_bits8(__m256 x)
{
    const __m256i u = _mm256_castps_si256(x), expm = _mm256_set1_epi32(0x7f800000);
    const __m256i top = _mm256_srli_epi32(u, 16);
    __m256i lsb = _mm256_and_si256(top, _mm256_set1_epi32(1));
    __m256i rne = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
    __m256i qnan = _mm256_or_si256(top, _mm256_set1_epi32(0x40));
    __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), expm);
    __m256i iszd = _mm256_cmpeq_epi32(_mm256_and_si256(u, expm), _mm256_setzero_si256());
    __m256i zero = _mm256_and_si256(top, _mm256_set1_epi32(0x8000));
    return _mm256_blendv_epi8(_mm256_blendv_epi8(rne, qnan, isnan), zero, iszd);
}

/* 16 floats to 16 bf16 in order: packus works within 128-bit halves, the
 * permute puts the quarters back. Values are below 2^16, so it is exact. */
SM_INLINE __m256i bf16_pack16(__m256 a, __m256 b)
{
    return _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16_bits8(a), bf16_bits8(b)), 0xd8);
}

static void sm_cvt_bf16_avx2(const float *x, size_t n, uint16_t *y)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            bf16_pack16(_mm256_loadu_ps(x + i), _mm256_loadu_ps(x + i + 8)));
    for (; i < n; ++i)
        y[i] = sm_bf16_from_f32(x[i]);
}

/* finish_f32, then the shadow of what it wrote (nv is even; the rows are
 * still in L1, and narrowing from the registers measured no faster). */
SM_INLINE void finish_bf16(const __m256 *acc, const float *me, float *o, uint16_t *ob, __m256 va,
                           __m256 vsc, __m256d *d, __m256 *bad, const int nv)
{
    finish_f32(acc, me, o, va, vsc, d, bad, nv);
    for (int v = 0; o && v < nv; v += 2)
        _mm256_storeu_si256((__m256i *)(ob + 8 * v), bf16_pack16(_mm256_loadu_ps(o + 8 * v),
                                                                 _mm256_loadu_ps(o + 8 * v + 8)));
}

/* Widening 16 bf16 (one 32-byte load) as two vectors: the even elements
 * shifted up by 16 bits, the odd ones by masking off the low 16 bits; a
 * shift and an AND, where unpacking against zeros would send both to the
 * shuffle pipes (on Zen 3 two of the four FP pipes, one of which also
 * adds). The sums run in that order, element by element as in the f32
 * kernels: x[2j] holds the even, x[2j + 1] the odd elements of the j-th
 * 16, put back in order once per strip. */
SM_INLINE void bf16_to_natural(__m256 *x, const int nv)
{
    for (int v = 0; v < nv; v += 2) {
        /* elements 0-3 | 8-11, and 4-7 | 12-15 */
        __m256 a = _mm256_unpacklo_ps(x[v], x[v + 1]), b = _mm256_unpackhi_ps(x[v], x[v + 1]);
        x[v] = _mm256_permute2f128_ps(a, b, 0x20);
        x[v + 1] = _mm256_permute2f128_ps(a, b, 0x31);
    }
}
SM_INLINE void bf16_from_natural(__m256 *x, const int nv)
{
    for (int v = 0; v < nv; v += 2) {
        __m256 a = _mm256_permute2f128_ps(x[v], x[v + 1], 0x20);
        __m256 b = _mm256_permute2f128_ps(x[v], x[v + 1], 0x31);
        x[v] = _mm256_shuffle_ps(a, b, 0x88);
        x[v + 1] = _mm256_shuffle_ps(a, b, 0xdd);
    }
}

SM_INLINE void run_bf16(__m256 *acc, const uint32_t *p, const uint32_t *e, const uint32_t *end,
                        const uint16_t *src, size_t w, const int sub, const int nv, const int pf)
{
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    for (; p < e; ++p) {
        if (pf) {
            const uint32_t *q = p + SM_PFD < end ? p + SM_PFD : end - 1;
            const char *f = (const char *)(src + (size_t)*q * w);
            for (int l = 0; l < (nv + 3) / 4; ++l)
                _mm_prefetch(f + 64 * l, _MM_HINT_T0);
        }
        const uint16_t *x = src + (size_t)*p * w;
        for (int v = 0; v < nv; v += 2) {
            __m256i h = _mm256_loadu_si256((const __m256i *)(x + 8 * v));
            /* one load for both halves: GCC 12 otherwise folds a second
             * load of the same 32 bytes into the AND, and the load ports,
             * not the FP pipes, become the limit */
            __asm__("" : "+x"(h));
            __m256 ev = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
            __m256 od = _mm256_castsi256_ps(_mm256_and_si256(h, hi));
            acc[v] = sub ? _mm256_sub_ps(acc[v], ev) : _mm256_add_ps(acc[v], ev);
            acc[v + 1] = sub ? _mm256_sub_ps(acc[v + 1], od) : _mm256_add_ps(acc[v + 1], od);
        }
    }
}

/* The strip body, with t0 and the constant nv. */
#define GATHER_STRIP_bf16(t0, nv)                                                                  \
    do {                                                                                           \
        __m256 x[SM_NV];                                                                           \
        for (int v = 0; v < (nv); ++v)                                                             \
            x[v] = _mm256_setzero_ps();                                                            \
        run_bf16(x, ib, im, end, src + (t0), w, 0, nv, pf);                                        \
        run_bf16(x, im, ie, end, src + (t0), w, 1, nv, pf);                                        \
        bf16_to_natural(x, nv);                                                                    \
        finish_bf16(x, self + r * w + (t0), o ? o + (t0) : NULL, o ? ob + (t0) : NULL, va, vsc,    \
                    pd, &bad, nv);                                                                 \
    } while (0)

SM_INLINE int gather_bf16(const sm_signs *s, size_t r0, size_t r1, size_t w, const uint16_t *src,
                          const float *self, float *out, uint16_t *outb, float a, float sc,
                          double *dot, const int pf)
{
    const __m256 va = _mm256_set1_ps(a), vsc = _mm256_set1_ps(sc);
    __m256 bad = _mm256_setzero_ps();
    const uint32_t *end = s->idx + s->nnz;
    for (size_t r = r0; r < r1; ++r) {
        const uint32_t *ib = s->idx + s->ptr[r];
        const uint32_t *im = s->idx + s->mid[r];
        const uint32_t *ie = s->idx + s->ptr[r + 1];
        __m256d d[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                        _mm256_setzero_pd()};
        __m256d *pd = dot ? d : NULL;
        float *o = out ? out + r * w : NULL;
        uint16_t *ob = out ? outb + r * w : NULL;
        SM_STRIPS(f32, w, GATHER_STRIP_bf16);
        if (dot)
            dot[r] = dot_f32(d);
    }
    return NANS_f32(bad) != 0;
}

static int sm_gather_avx2_bf16(const sm_signs *s, size_t r0, size_t r1, size_t w,
                               const uint16_t *src, const float *self, float *out, uint16_t *outb,
                               float a, float sc, double *dot)
{
    return gather_bf16(s, r0, r1, w, src, self, out, outb, a, sc, dot, 0);
}
static int sm_gather_avx2_pf_bf16(const sm_signs *s, size_t r0, size_t r1, size_t w,
                                  const uint16_t *src, const float *self, float *out,
                                  uint16_t *outb, float a, float sc, double *dot)
{
    return gather_bf16(s, r0, r1, w, src, self, out, outb, a, sc, dot, 1);
}

#define ACCUM_STRIP_bf16(t0, nv)                                                                   \
    do {                                                                                           \
        __m256 x[SM_NV];                                                                           \
        for (int v = 0; v < (nv); ++v)                                                             \
            x[v] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(ac + (t0) + 8 * v);               \
        if (!first)                                                                                \
            bf16_from_natural(x, nv);                                                              \
        run_bf16(x, ip + pb0[r], ip + pb1[r], end, src + (t0), w, 0, nv, 0);                       \
        run_bf16(x, im + mb0[r], im + mb1[r], end, src + (t0), w, 1, nv, 0);                       \
        bf16_to_natural(x, nv);                                                                    \
        for (int v = 0; v < (nv); ++v)                                                             \
            _mm256_storeu_ps(ac + (t0) + 8 * v, x[v]);                                             \
    } while (0)

static void sm_accum_avx2_bf16(const sm_signs *s, const uint32_t *pb0, const uint32_t *pb1,
                               const uint32_t *mb0, const uint32_t *mb1, size_t r0, size_t r1,
                               size_t w, const uint16_t *src, float *acc, int first)
{
    const uint32_t *end = s->idx + s->nnz;
    for (size_t r = r0; r < r1; ++r) {
        float *ac = acc + r * w;
        SM_PREFETCH_ACCUM_ROW(s, pb0, mb0, acc, w, r, r1);
        if (pb1[r] == pb0[r] && mb1[r] == mb0[r]) {
            if (first)
                for (size_t t = 0; t < w; t += 8)
                    _mm256_storeu_ps(ac + t, _mm256_setzero_ps());
            continue;
        }
        const uint32_t *ip = s->idx + s->ptr[r], *im = s->idx + s->mid[r];
        SM_STRIPS(f32, w, ACCUM_STRIP_bf16);
    }
}

static int sm_update_avx2_bf16(size_t r0, size_t r1, size_t w, const float *self, const float *acc,
                               float *out, uint16_t *outb, float a, float sc, double *dot)
{
    int bad = 0;
    for (size_t r = r0; r < r1; ++r) {
        bad |= sm_update_avx2_f32(r, r + 1, w, self, acc, out, a, sc, dot);
        if (out)
            sm_cvt_bf16_avx2(out + r * w, w, outb + r * w);
    }
    return bad;
}

void sm_kernels_init_avx2(sm_kernels *k)
{
    k->xty_f64 = sm_xty_f64_avx2;
    k->mul_small_f64 = sm_mul_small_f64_avx2;
    k->name = "avx2";
    k->isa = SM_ISA_AVX2;
    k->gather_f32 = sm_gather_avx2_f32;
    k->gather_f64 = sm_gather_avx2_f64;
    k->gather_pf_f32 = sm_gather_avx2_pf_f32;
    k->gather_pf_f64 = sm_gather_avx2_pf_f64;
    k->accum_f32 = sm_accum_avx2_f32;
    k->accum_f64 = sm_accum_avx2_f64;
    k->update_f32 = sm_update_avx2_f32;
    k->update_f64 = sm_update_avx2_f64;
    k->cvt_bf16 = sm_cvt_bf16_avx2;
    k->gather_bf16 = sm_gather_avx2_bf16;
    k->gather_pf_bf16 = sm_gather_avx2_pf_bf16;
    k->accum_bf16 = sm_accum_avx2_bf16;
    k->update_bf16 = sm_update_avx2_bf16;
    sm_score_init_avx2(k);
}
