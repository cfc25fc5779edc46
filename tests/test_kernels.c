/* Every kernel variant against the portable reference, bit for bit, on
 * edge shapes; and the portable kernel against a naive dense computation. */
#include "kernels/kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A random sign structure with rows x cols, about `density` filled; row
 * `empty_row` (if < rows) has no entries. Dense copy in `dense` (rows x
 * cols of -1/0/+1) for the naive check. */
static void random_signs(sm_signs *s, size_t rows, size_t cols, double density, size_t empty_row,
                         unsigned seed, signed char *dense)
{
    srand(seed);
    s->rows = rows;
    s->cols = cols;
    s->ptr = calloc(rows + 1, sizeof(size_t));
    s->mid = calloc(rows ? rows : 1, sizeof(size_t));
    s->idx = malloc((rows * cols + 1) * sizeof(uint32_t));
    size_t n = 0;
    for (size_t r = 0; r < rows; ++r) {
        s->ptr[r] = n;
        signed char *d = dense + r * cols;
        for (size_t c = 0; c < cols; ++c) {
            double u = rand() / (double)RAND_MAX;
            d[c] = (r == empty_row || u >= density) ? 0 : (rand() & 1 ? 1 : -1);
        }
        for (size_t c = 0; c < cols; ++c)
            if (d[c] == 1)
                s->idx[n++] = (uint32_t)c;
        s->mid[r] = n;
        for (size_t c = 0; c < cols; ++c)
            if (d[c] == -1)
                s->idx[n++] = (uint32_t)c;
    }
    s->ptr[rows] = n;
    s->nnz = n;
}

static void free_signs(sm_signs *s)
{
    free(s->ptr);
    free(s->mid);
    free(s->idx);
}

static float *randf(size_t n, unsigned seed)
{
    float *x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
    srand(seed);
    for (size_t i = 0; i < n; ++i)
        x[i] = (float)(rand() / (double)RAND_MAX * 2.0 - 1.0);
    return x;
}

static double *randd(size_t n, unsigned seed)
{
    double *x = aligned_alloc(64, (n * sizeof(double) + 63) / 64 * 64 + 64);
    srand(seed);
    for (size_t i = 0; i < n; ++i)
        x[i] = rand() / (double)RAND_MAX * 2.0 - 1.0;
    return x;
}

struct shape {
    size_t rows, cols, w;
    double density;
    size_t empty;
};

/* w is the panel width: a multiple of the lane count, including ones that
 * are not a multiple of any register strip. */
static const struct shape shapes_f32[] = {
    {1, 1, 16, 1.0, 99},   {7, 1, 16, 0.7, 3},      {13, 29, 48, 0.3, 0},  {50, 40, 112, 0.2, 49},
    {31, 17, 128, 0.5, 5}, {20, 33, 144, 0.4, 7},   {9, 64, 256, 0.1, 99}, {0, 5, 16, 0.5, 99},
    {40, 3, 80, 0.9, 1},   {17, 50, 208, 0.25, 16},
};
static const struct shape shapes_f64[] = {
    {1, 1, 8, 1.0, 99},   {7, 1, 8, 0.7, 3},       {13, 29, 24, 0.3, 0},  {50, 40, 56, 0.2, 49},
    {31, 17, 64, 0.5, 5}, {20, 33, 72, 0.4, 7},    {9, 64, 128, 0.1, 99}, {0, 5, 8, 0.5, 99},
    {40, 3, 40, 0.9, 1},  {17, 50, 104, 0.25, 16},
};

static void check_isa_f32(sm_isa isa)
{
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE), *k = sm_kernels_for(isa);
    if (!k)
        cr_skip_test("this CPU cannot run the %s kernels", sm_isa_name(isa));
    for (size_t si = 0; si < sizeof shapes_f32 / sizeof *shapes_f32; ++si) {
        struct shape sh = shapes_f32[si];
        signed char *dense = calloc(sh.rows * sh.cols + 1, 1);
        sm_signs s;
        random_signs(&s, sh.rows, sh.cols, sh.density, sh.empty, 11 + (unsigned)si, dense);
        float *src = randf(sh.cols * sh.w, 3), *self = randf(sh.rows * sh.w + 1, 4);
        float *o1 = randf(sh.rows * sh.w + 1, 5), *o2 = randf(sh.rows * sh.w + 1, 5);
        double *d1 = calloc(sh.rows + 1, sizeof(double)), *d2 = calloc(sh.rows + 1, sizeof(double));
        int b1 = ref->gather_f32(&s, 0, sh.rows, sh.w, src, self, o1, 0.125f, 0.5f, d1);
        int b2 = k->gather_f32(&s, 0, sh.rows, sh.w, src, self, o2, 0.125f, 0.5f, d2);
        {
            /* the prefetching variant computes exactly the same */
            float *o3 = randf(sh.rows * sh.w + 1, 6);
            double *d3 = calloc(sh.rows + 1, sizeof(double));
            cr_assert_eq(k->gather_pf_f32(&s, 0, sh.rows, sh.w, src, self, o3, 0.125f, 0.5f, d3),
                         b1);
            cr_assert_eq(memcmp(o1, o3, sh.rows * sh.w * sizeof(float)), 0);
            cr_assert_eq(memcmp(d1, d3, sh.rows * sizeof(double)), 0);
            free(o3), free(d3);
        }
        cr_assert_eq(b1, b2);
        cr_assert_eq(memcmp(o1, o2, sh.rows * sh.w * sizeof(float)), 0,
                     "%s f32 out differs on shape %zu", k->name, si);
        cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0, "%s f32 dot differs on shape %zu",
                     k->name, si);
        /* loss-only mode: out == NULL gives the same dots */
        memset(d2, 0, (sh.rows + 1) * sizeof(double));
        k->gather_f32(&s, 0, sh.rows, sh.w, src, self, NULL, 0.0f, 1.0f, d2);
        cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0);
        free_signs(&s);
        free(dense), free(src), free(self), free(o1), free(o2), free(d1), free(d2);
    }
}

static void check_isa_f64(sm_isa isa)
{
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE), *k = sm_kernels_for(isa);
    if (!k)
        cr_skip_test("this CPU cannot run the %s kernels", sm_isa_name(isa));
    for (size_t si = 0; si < sizeof shapes_f64 / sizeof *shapes_f64; ++si) {
        struct shape sh = shapes_f64[si];
        signed char *dense = calloc(sh.rows * sh.cols + 1, 1);
        sm_signs s;
        random_signs(&s, sh.rows, sh.cols, sh.density, sh.empty, 21 + (unsigned)si, dense);
        double *src = randd(sh.cols * sh.w, 3), *self = randd(sh.rows * sh.w + 1, 4);
        double *o1 = randd(sh.rows * sh.w + 1, 5), *o2 = randd(sh.rows * sh.w + 1, 5);
        double *d1 = calloc(sh.rows + 1, sizeof(double)), *d2 = calloc(sh.rows + 1, sizeof(double));
        int b1 = ref->gather_f64(&s, 0, sh.rows, sh.w, src, self, o1, 0.125, 0.25, d1);
        int b2 = k->gather_f64(&s, 0, sh.rows, sh.w, src, self, o2, 0.125, 0.25, d2);
        {
            double *o3 = randd(sh.rows * sh.w + 1, 6);
            double *d3 = calloc(sh.rows + 1, sizeof(double));
            cr_assert_eq(k->gather_pf_f64(&s, 0, sh.rows, sh.w, src, self, o3, 0.125, 0.25, d3),
                         b1);
            cr_assert_eq(memcmp(o1, o3, sh.rows * sh.w * sizeof(double)), 0);
            cr_assert_eq(memcmp(d1, d3, sh.rows * sizeof(double)), 0);
            free(o3), free(d3);
        }
        cr_assert_eq(b1, b2);
        cr_assert_eq(memcmp(o1, o2, sh.rows * sh.w * sizeof(double)), 0,
                     "%s f64 out differs on shape %zu", k->name, si);
        cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0, "%s f64 dot differs on shape %zu",
                     k->name, si);
        free_signs(&s);
        free(dense), free(src), free(self), free(o1), free(o2), free(d1), free(d2);
    }
}

Test(kernels, avx2_f32_matches_portable)
{
    check_isa_f32(SM_ISA_AVX2);
}
Test(kernels, avx512_f32_matches_portable)
{
    check_isa_f32(SM_ISA_AVX512);
}
Test(kernels, avx2_f64_matches_portable)
{
    check_isa_f64(SM_ISA_AVX2);
}
Test(kernels, avx512_f64_matches_portable)
{
    check_isa_f64(SM_ISA_AVX512);
}

/* The portable kernel is the specification: check it against the plain
 * dense formulas gradP = D Q^T, out = P - a gradP, dot = P . gradP. */
Test(kernels, portable_matches_dense_formula)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_PORTABLE);
    size_t rows = 23, cols = 31, w = 40;
    signed char *dense = calloc(rows * cols, 1);
    sm_signs s;
    random_signs(&s, rows, cols, 0.4, 6, 99, dense);
    double *src = randd(cols * w, 1), *self = randd(rows * w, 2), *out = randd(rows * w, 3);
    double dot[23];
    k->gather_f64(&s, 0, rows, w, src, self, out, 0.5, 1.0, dot);
    for (size_t r = 0; r < rows; ++r) {
        double dd = 0;
        for (size_t t = 0; t < w; ++t) {
            double g = 0;
            for (size_t c = 0; c < cols; ++c)
                g += dense[r * cols + c] * src[c * w + t];
            cr_assert_float_eq(out[r * w + t], self[r * w + t] - 0.5 * g, 1e-12);
            dd += self[r * w + t] * g;
        }
        cr_assert_float_eq(dot[r], dd, 1e-10);
    }
    for (size_t t = 0; t < w; ++t)
        cr_assert_eq(out[6 * w + t], self[6 * w + t], "an empty row keeps its embedding");
    free_signs(&s);
    free(dense), free(src), free(self), free(out);
}

/* L = sum_i P_i . gradP_i = sum_j Q_j . gradQ_j, with gradQ from the
 * transposed structure. */
Test(kernels, loss_identity_both_sides)
{
    const sm_kernels *k = sm_kernels_active();
    size_t m = 37, n = 53, w = 24;
    signed char *dense = calloc(m * n, 1);
    sm_signs byu, byi;
    random_signs(&byu, m, n, 0.3, 4, 7, dense);
    /* transpose */
    byi.rows = n;
    byi.cols = m;
    byi.ptr = calloc(n + 1, sizeof(size_t));
    byi.mid = calloc(n, sizeof(size_t));
    byi.idx = malloc((byu.nnz + 1) * sizeof(uint32_t));
    size_t e = 0;
    for (size_t j = 0; j < n; ++j) {
        byi.ptr[j] = e;
        for (size_t i = 0; i < m; ++i)
            if (dense[i * n + j] == 1)
                byi.idx[e++] = (uint32_t)i;
        byi.mid[j] = e;
        for (size_t i = 0; i < m; ++i)
            if (dense[i * n + j] == -1)
                byi.idx[e++] = (uint32_t)i;
    }
    byi.ptr[n] = e;
    byi.nnz = e;
    double *P = randd(m * w, 1), *Q = randd(n * w, 2);
    double *dp = calloc(m, sizeof(double)), *dq = calloc(n, sizeof(double));
    k->gather_f64(&byu, 0, m, w, Q, P, NULL, 0, 1.0, dp);
    k->gather_f64(&byi, 0, n, w, P, Q, NULL, 0, 1.0, dq);
    double lp = 0, lq = 0, direct = 0;
    for (size_t i = 0; i < m; ++i)
        lp += dp[i];
    for (size_t j = 0; j < n; ++j)
        lq += dq[j];
    for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < n; ++j) {
            double pq = 0;
            for (size_t t = 0; t < w; ++t)
                pq += P[i * w + t] * Q[j * w + t];
            direct += dense[i * n + j] * pq;
        }
    cr_assert_float_eq(lp, lq, 1e-9 * fabs(lp));
    cr_assert_float_eq(lp, direct, 1e-9 * fabs(lp));
    free_signs(&byu);
    free_signs(&byi);
    free(dense), free(P), free(Q), free(dp), free(dq);
}

Test(kernels, nonfinite_output_is_flagged)
{
    for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
        const sm_kernels *k = sm_kernels_for((sm_isa)isa);
        if (!k)
            continue;
        size_t rows = 3, cols = 2, w = 32;
        signed char dense[6];
        sm_signs s;
        random_signs(&s, rows, cols, 1.0, 99, 5, dense);
        float *src = randf(cols * w, 1), *self = randf(rows * w, 2), *out = randf(rows * w, 3);
        cr_assert_eq(k->gather_f32(&s, 0, rows, w, src, self, out, 1.0f, 1.0f, NULL), 0);
        src[w + 17] = INFINITY;
        cr_assert_eq(k->gather_f32(&s, 0, rows, w, src, self, out, 1.0f, 1.0f, NULL), 1, "%s",
                     k->name);
        free_signs(&s);
        free(src), free(self), free(out);
    }
}

Test(kernels, forced_isa_is_honoured_or_reported)
{
    const sm_kernels *k = sm_kernels_active();
    const char *want = getenv("SIGNMF_ISA");
    cr_assert_not_null(k);
    if (want && *want && sm_kernels_for(SM_ISA_AVX512) && strcmp(want, "avx512") == 0)
        cr_assert_str_eq(k->name, "avx512");
    if (want && strcmp(want, "portable") == 0)
        cr_assert_str_eq(k->name, "portable");
}

/* Offsets of column block b within each row's +1 and -1 segments, as the
 * training driver builds them: pofs[b * rows + r], b = 0 .. nb. */
static void block_offsets(const sm_signs *s, size_t bcols, size_t nb, uint32_t *pofs,
                          uint32_t *mofs)
{
    for (size_t r = 0; r < s->rows; ++r)
        for (size_t b = 0; b <= nb; ++b) {
            size_t lim = b * bcols;
            uint32_t np = 0, nm = 0;
            for (size_t e = s->ptr[r]; e < s->mid[r]; ++e)
                np += s->idx[e] < lim;
            for (size_t e = s->mid[r]; e < s->ptr[r + 1]; ++e)
                nm += s->idx[e] < lim;
            pofs[b * s->rows + r] = b == nb ? (uint32_t)(s->mid[r] - s->ptr[r]) : np;
            mofs[b * s->rows + r] = b == nb ? (uint32_t)(s->ptr[r + 1] - s->mid[r]) : nm;
        }
}

/* Blocked accumulate + update: every ISA equals the portable one bit for
 * bit for any blocking, and one block equals the fused gather. */
Test(kernels, blocked_accumulate_matches_portable_and_fused)
{
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE);
    for (size_t si = 0; si < sizeof shapes_f32 / sizeof *shapes_f32; ++si) {
        struct shape sh = shapes_f32[si];
        signed char *dense = calloc(sh.rows * sh.cols + 1, 1);
        sm_signs s;
        random_signs(&s, sh.rows, sh.cols, sh.density, sh.empty, 31 + (unsigned)si, dense);
        float *src = randf(sh.cols * sh.w, 3), *self = randf(sh.rows * sh.w + 1, 4);
        for (size_t bcols = 1; bcols <= sh.cols + 1; bcols = bcols * 3 + 1) {
            size_t nb = (sh.cols + bcols - 1) / bcols;
            if (nb == 0)
                nb = 1;
            uint32_t *pofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
            uint32_t *mofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
            block_offsets(&s, bcols, nb, pofs, mofs);
            float *o[SM_ISA_COUNT] = {0};
            double *d[SM_ISA_COUNT] = {0};
            for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
                const sm_kernels *k = sm_kernels_for((sm_isa)isa);
                if (!k)
                    continue;
                float *acc = randf(sh.rows * sh.w + 1, 9);
                o[isa] = randf(sh.rows * sh.w + 1, 10);
                d[isa] = calloc(sh.rows + 1, sizeof(double));
                for (size_t b = 0; b < nb; ++b)
                    k->accum_f32(&s, pofs + b * sh.rows, pofs + (b + 1) * sh.rows,
                                 mofs + b * sh.rows, mofs + (b + 1) * sh.rows, 0, sh.rows, sh.w,
                                 src, acc, b == 0);
                k->update_f32(0, sh.rows, sh.w, self, acc, o[isa], 0.125f, 0.5f, d[isa]);
                /* the trainer accumulates in the output rows themselves */
                float *io = malloc((sh.rows * sh.w + 1) * sizeof(float));
                double *id = calloc(sh.rows + 1, sizeof(double));
                memcpy(io, acc, (sh.rows * sh.w + 1) * sizeof(float));
                k->update_f32(0, sh.rows, sh.w, self, io, io, 0.125f, 0.5f, id);
                cr_assert_eq(memcmp(io, o[isa], sh.rows * sh.w * sizeof(float)), 0,
                             "%s in-place update differs (shape %zu)", k->name, si);
                cr_assert_eq(memcmp(id, d[isa], sh.rows * sizeof(double)), 0);
                free(io), free(id);
                if (isa > 0) {
                    cr_assert_eq(memcmp(o[0], o[isa], sh.rows * sh.w * sizeof(float)), 0,
                                 "%s blocked out differs (shape %zu, %zu blocks)", k->name, si, nb);
                    cr_assert_eq(memcmp(d[0], d[isa], sh.rows * sizeof(double)), 0);
                }
                if (nb == 1) {
                    float *g = randf(sh.rows * sh.w + 1, 11);
                    double *gd = calloc(sh.rows + 1, sizeof(double));
                    k->gather_f32(&s, 0, sh.rows, sh.w, src, self, g, 0.125f, 0.5f, gd);
                    cr_assert_eq(memcmp(g, o[isa], sh.rows * sh.w * sizeof(float)), 0,
                                 "one block differs from the fused gather (%s)", k->name);
                    cr_assert_eq(memcmp(gd, d[isa], sh.rows * sizeof(double)), 0);
                    free(g), free(gd);
                }
                free(acc);
            }
            (void)ref;
            for (int isa = 0; isa < SM_ISA_COUNT; ++isa)
                free(o[isa]), free(d[isa]);
            free(pofs), free(mofs);
        }
        free_signs(&s);
        free(dense), free(src), free(self);
    }
}

Test(kernels, blocked_accumulate_f64_matches_portable)
{
    for (size_t si = 0; si < sizeof shapes_f64 / sizeof *shapes_f64; ++si) {
        struct shape sh = shapes_f64[si];
        signed char *dense = calloc(sh.rows * sh.cols + 1, 1);
        sm_signs s;
        random_signs(&s, sh.rows, sh.cols, sh.density, sh.empty, 41 + (unsigned)si, dense);
        double *src = randd(sh.cols * sh.w, 3), *self = randd(sh.rows * sh.w + 1, 4);
        size_t bcols = 4, nb = (sh.cols + bcols - 1) / bcols;
        uint32_t *pofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
        uint32_t *mofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
        block_offsets(&s, bcols, nb, pofs, mofs);
        double *o0 = NULL, *d0 = NULL;
        for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
            const sm_kernels *k = sm_kernels_for((sm_isa)isa);
            if (!k)
                continue;
            double *acc = randd(sh.rows * sh.w + 1, 9), *o = randd(sh.rows * sh.w + 1, 10);
            double *d = calloc(sh.rows + 1, sizeof(double));
            for (size_t b = 0; b < nb; ++b)
                k->accum_f64(&s, pofs + b * sh.rows, pofs + (b + 1) * sh.rows, mofs + b * sh.rows,
                             mofs + (b + 1) * sh.rows, 0, sh.rows, sh.w, src, acc, b == 0);
            k->update_f64(0, sh.rows, sh.w, self, acc, o, 0.125, 0.25, d);
            double *io = malloc((sh.rows * sh.w + 1) * sizeof(double));
            double *id = calloc(sh.rows + 1, sizeof(double));
            memcpy(io, acc, (sh.rows * sh.w + 1) * sizeof(double));
            k->update_f64(0, sh.rows, sh.w, self, io, io, 0.125, 0.25, id);
            cr_assert_eq(memcmp(io, o, sh.rows * sh.w * sizeof(double)), 0,
                         "%s in-place update differs (shape %zu)", k->name, si);
            cr_assert_eq(memcmp(id, d, sh.rows * sizeof(double)), 0);
            free(io), free(id);
            /* against the dense formula */
            for (size_t r = 0; r < sh.rows; ++r)
                for (size_t t = 0; t < sh.w; ++t) {
                    double g = 0;
                    for (size_t c = 0; c < sh.cols; ++c)
                        g += dense[r * sh.cols + c] * src[c * sh.w + t];
                    cr_assert_float_eq(o[r * sh.w + t], (self[r * sh.w + t] - 0.125 * g) * 0.25,
                                       1e-12);
                }
            if (!o0) {
                o0 = o, d0 = d;
            } else {
                cr_assert_eq(memcmp(o0, o, sh.rows * sh.w * sizeof(double)), 0, "%s", k->name);
                cr_assert_eq(memcmp(d0, d, sh.rows * sizeof(double)), 0, "%s", k->name);
                free(o), free(d);
            }
            free(acc);
        }
        free(o0), free(d0), free(pofs), free(mofs);
        free_signs(&s);
        free(dense), free(src), free(self);
    }
}

/* bf16 kernels (kernels.h): on a source that is the widening of its bf16
 * shadow, each is its f32 namesake (the portable f32 kernel, the
 * specification) bit for bit, and its shadow output is the narrowing of
 * its f32 output; fused, prefetching, loss-only and blocked (in place
 * too, as the trainer runs it). */
static void check_isa_bf16(sm_isa isa)
{
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE), *k = sm_kernels_for(isa);
    if (!k)
        cr_skip_test("this CPU cannot run the %s kernels", sm_isa_name(isa));
    for (size_t si = 0; si < sizeof shapes_f32 / sizeof *shapes_f32; ++si) {
        struct shape sh = shapes_f32[si];
        size_t n = sh.rows * sh.w + 1, bytes = sh.rows * sh.w * sizeof(float);
        signed char *dense = calloc(sh.rows * sh.cols + 1, 1);
        sm_signs s;
        random_signs(&s, sh.rows, sh.cols, sh.density, sh.empty, 41 + (unsigned)si, dense);
        float *srcf = randf(sh.cols * sh.w + 1, 3), *self = randf(n, 4);
        uint16_t *srcb = malloc((sh.cols * sh.w + 1) * sizeof *srcb);
        ref->cvt_bf16(srcf, sh.cols * sh.w, srcb);
        for (size_t i = 0; i < sh.cols * sh.w; ++i) {
            uint32_t u = (uint32_t)srcb[i] << 16;
            memcpy(&srcf[i], &u, sizeof u);
        }
        float *o1 = randf(n, 5), *o2 = randf(n, 5);
        uint16_t *b1 = calloc(n, sizeof *b1), *b2 = calloc(n, sizeof *b2);
        double *d1 = calloc(sh.rows + 1, sizeof(double)), *d2 = calloc(sh.rows + 1, sizeof(double));
        int bad1 = ref->gather_f32(&s, 0, sh.rows, sh.w, srcf, self, o1, 0.125f, 0.5f, d1);
        ref->cvt_bf16(o1, sh.rows * sh.w, b1);
        for (int pf = 0; pf < 2; ++pf) {
            memset(b2, 0, n * sizeof *b2);
            int bad2 = (pf ? k->gather_pf_bf16 : k->gather_bf16)(&s, 0, sh.rows, sh.w, srcb, self,
                                                                 o2, b2, 0.125f, 0.5f, d2);
            cr_assert_eq(bad1, bad2);
            cr_assert_eq(memcmp(o1, o2, bytes), 0, "%s bf16 out differs on shape %zu (pf %d)",
                         k->name, si, pf);
            cr_assert_eq(memcmp(b1, b2, sh.rows * sh.w * sizeof *b1), 0,
                         "%s bf16 shadow differs on shape %zu", k->name, si);
            cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0,
                         "%s bf16 dot differs on shape %zu", k->name, si);
        }
        memset(d2, 0, (sh.rows + 1) * sizeof(double));
        k->gather_bf16(&s, 0, sh.rows, sh.w, srcb, self, NULL, NULL, 0.0f, 1.0f, d2);
        cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0);
        for (size_t bcols = 1; bcols <= sh.cols + 1; bcols = bcols * 3 + 1) {
            size_t nb = (sh.cols + bcols - 1) / bcols;
            if (nb == 0)
                nb = 1;
            uint32_t *pofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
            uint32_t *mofs = calloc((nb + 1) * (sh.rows + 1), sizeof(uint32_t));
            block_offsets(&s, bcols, nb, pofs, mofs);
            float *acc1 = randf(n, 9), *acc2 = randf(n, 9);
            for (size_t b = 0; b < nb; ++b) {
                ref->accum_f32(&s, pofs + b * sh.rows, pofs + (b + 1) * sh.rows, mofs + b * sh.rows,
                               mofs + (b + 1) * sh.rows, 0, sh.rows, sh.w, srcf, acc1, b == 0);
                k->accum_bf16(&s, pofs + b * sh.rows, pofs + (b + 1) * sh.rows, mofs + b * sh.rows,
                              mofs + (b + 1) * sh.rows, 0, sh.rows, sh.w, srcb, acc2, b == 0);
            }
            cr_assert_eq(memcmp(acc1, acc2, bytes), 0, "%s bf16 accumulate differs (shape %zu)",
                         k->name, si);
            memset(d1, 0, (sh.rows + 1) * sizeof(double));
            memset(d2, 0, (sh.rows + 1) * sizeof(double));
            ref->update_f32(0, sh.rows, sh.w, self, acc1, o1, 0.125f, 0.5f, d1);
            ref->cvt_bf16(o1, sh.rows * sh.w, b1);
            /* in place, as the trainer runs it */
            memset(b2, 0, n * sizeof *b2);
            cr_assert_eq(k->update_bf16(0, sh.rows, sh.w, self, acc2, acc2, b2, 0.125f, 0.5f, d2),
                         0);
            cr_assert_eq(memcmp(o1, acc2, bytes), 0, "%s bf16 update differs (shape %zu)", k->name,
                         si);
            cr_assert_eq(memcmp(b1, b2, sh.rows * sh.w * sizeof *b1), 0);
            cr_assert_eq(memcmp(d1, d2, sh.rows * sizeof(double)), 0);
            free(acc1), free(acc2), free(pofs), free(mofs);
        }
        free_signs(&s);
        free(dense), free(srcf), free(srcb), free(self), free(o1), free(o2), free(b1), free(b2),
            free(d1), free(d2);
    }
}

Test(kernels, portable_bf16_is_f32_on_widened_rows)
{
    check_isa_bf16(SM_ISA_PORTABLE);
}
Test(kernels, avx2_bf16_matches_portable)
{
    check_isa_bf16(SM_ISA_AVX2);
}
Test(kernels, avx512_bf16_matches_portable)
{
    check_isa_bf16(SM_ISA_AVX512);
}
