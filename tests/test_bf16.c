/* bf16: the narrowing against VCVTNEPS2BF16's definition (and the
 * instruction itself where the CPU has it) on all 2^32 inputs; the bf16
 * score kernels against the f32 order; converted models served, saved,
 * mapped and refused for resume. (The bf16 training kernels are checked
 * in test_kernels.c, bf16 training in test_train.c.) */
#include "kernels/bf16.h"
#include "kernels/kernels.h"
#include "model/model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Hand-checked cases of the instruction's pseudo-code (Intel SDM,
 * VCVTNEPS2BF16: convert_fp32_to_bfloat16). */
Test(bf16, narrowing_follows_the_instruction)
{
    static const uint32_t in[][2] = {
        {0x3f800000u, 0x3f80u}, /* 1 */
        {0x3f808000u, 0x3f80u}, /* tie, even below: stays */
        {0x3f818000u, 0x3f82u}, /* tie, odd below: up */
        {0x3f808001u, 0x3f81u}, /* above the tie */
        {0x3f807fffu, 0x3f80u}, /* below the tie */
        {0xbf818000u, 0xbf82u}, /* sign does not change the rounding */
        {0x00000001u, 0x0000u}, /* denormal: zero (DAZ) */
        {0x807fffffu, 0x8000u}, /* negative denormal: -0 */
        {0x80000000u, 0x8000u}, /* -0 */
        {0x00800000u, 0x0080u}, /* smallest normal */
        {0x7f7fffffu, 0x7f80u}, /* largest finite rounds to infinity */
        {0x7f800000u, 0x7f80u}, /* infinity */
        {0xff800000u, 0xff80u}, /* -infinity */
        {0x7f800001u, 0x7fc0u}, /* signalling NaN, low payload: quietened */
        {0x7fbfffffu, 0x7fffu}, /* top payload bits kept, quiet bit set */
        {0xffc00000u, 0xffc0u}, /* negative quiet NaN */
        {0xffffffffu, 0xffffu},
    };
    for (size_t i = 0; i < sizeof in / sizeof *in; ++i)
        cr_assert_eq(sm_bf16_from_f32(from_bits(in[i][0])), in[i][1], "%08x -> %04x, expected %04x",
                     in[i][0], sm_bf16_from_f32(from_bits(in[i][0])), in[i][1]);
    /* widening is exact: every bf16 survives the round trip */
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        uint32_t u = h << 16;
        bool denormal = (u & 0x7f800000u) == 0 && (u & 0x7fffffu) != 0;
        bool snan = (u & 0x7fffffffu) > 0x7f800000u && !(u & 0x400000u);
        if (!denormal && !snan)
            cr_assert_eq(sm_bf16_from_f32(sm_bf16_to_f32((uint16_t)h)), h);
    }
}

/* All 2^32 float bit patterns through `cvt`, against sm_bf16_from_bits.
 * The chunk is a multiple of 16; the tails are checked separately. */
static void sweep(sm_cvt_bf16_fn cvt)
{
    enum { N = 1 << 16 };
    uint32_t *x = malloc(N * sizeof *x);
    uint16_t *y = malloc(N * sizeof *y), *want = malloc(N * sizeof *want);
    cr_assert(x && y && want);
    for (uint64_t base = 0; base < (1ull << 32); base += N) {
        for (uint32_t i = 0; i < N; ++i) {
            x[i] = (uint32_t)base + i;
            want[i] = sm_bf16_from_bits(x[i]);
        }
        cvt((const float *)x, N, y);
        if (memcmp(y, want, sizeof *y * N) != 0)
            for (uint32_t i = 0; i < N; ++i)
                cr_assert_eq(y[i], want[i], "%08x -> %04x, expected %04x", x[i], y[i], want[i]);
    }
    /* every tail length, each element a hard case, and no write past n */
    static const uint32_t hard[] = {0x3f818000u, 0x00000001u, 0x7f800001u, 0x7f7fffffu,
                                    0x80400000u, 0xffc00001u, 0x3f808000u};
    for (size_t n = 0; n <= 40; ++n) {
        for (size_t i = 0; i < 48; ++i) {
            x[i] = hard[i % 7] + (uint32_t)(i / 7);
            y[i] = 0x1234;
        }
        cvt((const float *)x, n, y);
        for (size_t i = 0; i < 48; ++i)
            cr_assert_eq(y[i], i < n ? sm_bf16_from_bits(x[i]) : 0x1234, "n %zu, element %zu", n,
                         i);
    }
    free(x), free(y), free(want);
}

/* No per-test .timeout on these: Criterion 2.4 leaks the timeout record
 * of a test that skips (LeakSanitizer: 48 bytes), and meson's timeout of
 * the whole binary bounds them anyway. */
Test(bf16, portable_narrowing_all_inputs)
{
    sweep(sm_kernels_for(SM_ISA_PORTABLE)->cvt_bf16);
}

Test(bf16, avx2_narrowing_all_inputs)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_AVX2);
    if (!k)
        cr_skip_test("this CPU cannot run the avx2 kernels");
    sweep(k->cvt_bf16);
}

Test(bf16, avx512_narrowing_all_inputs)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_AVX512);
    if (!k)
        cr_skip_test("this CPU cannot run the avx512 kernels");
    sweep(k->cvt_bf16);
}

Test(bf16, vcvtneps2bf16_all_inputs)
{
    sm_cvt_bf16_fn f = sm_cvt_bf16_native();
    if (!f)
        cr_skip_test("this CPU has no AVX512-BF16 (VCVTNEPS2BF16)");
    sweep(f);
}

/* ---- serving ----------------------------------------------------------- */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Random bf16 values with varied exponents, signs and zeros. */
static void fill_bf16(uint16_t *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; ++i) {
        uint64_t r = lcg(&seed);
        float v = (float)((int)(r % 2001) - 1000) * 0x1p-9f * (float)(1 << (r >> 20) % 8);
        x[i] = r % 17 == 0 ? 0x8000u : sm_bf16_from_f32(v);
    }
}

/* Each ISA's bf16 pack and score equal the portable ones, and the
 * portable score is the f32 kernel on the widened values (the canonical
 * order), on shapes that leave partial tiles and panels. */
Test(bf16, score_kernels_match_portable_and_the_f32_order)
{
    const sm_kernels *ref = sm_kernels_for(SM_ISA_PORTABLE);
    static const size_t shapes[][3] = {{1, 1, 1},    {1, 17, 5},    {7, 16, 33},
                                       {13, 40, 2},  {6, 33, 64},   {3, 1, 129},
                                       {11, 64, 16}, {5, 20, 1100}, {7, 18, 2053}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; ++si) {
        size_t nu = shapes[si][0], ni = shapes[si][1], dim = shapes[si][2];
        size_t np = sm_packed_elems(ni, dim);
        uint16_t *P = malloc(nu * dim * 2), *Qt = malloc(ni * dim * 2);
        uint16_t *Qp = sm_alloc(np, 2), *Qp2 = sm_alloc(np, 2);
        float *Pf = malloc(nu * dim * 4), *Qtf = malloc(ni * dim * 4), *Qpf = sm_alloc(np, 4);
        float *S0 = malloc(nu * ni * 4), *S1 = malloc(nu * ni * 4), *S2 = malloc(nu * ni * 4);
        fill_bf16(P, nu * dim, 1 + si);
        fill_bf16(Qt, ni * dim, 100 + si);
        for (size_t i = 0; i < nu * dim; ++i)
            Pf[i] = sm_bf16_to_f32(P[i]);
        for (size_t i = 0; i < ni * dim; ++i)
            Qtf[i] = sm_bf16_to_f32(Qt[i]);
        ref->pack_bf16(Qt, dim, ni, dim, Qp);
        ref->pack_f32(Qtf, dim, ni, dim, Qpf);
        for (size_t i = 0; i < np; ++i)
            cr_assert_eq(sm_bf16_to_f32(Qp[i]), Qpf[i], "pack differs at %zu", i);
        ref->score_f32(Pf, dim, nu, Qpf, ni, dim, S0, ni);
        ref->score_bf16(P, dim, nu, Qp, ni, dim, S1, ni);
        cr_assert_eq(memcmp(S0, S1, nu * ni * 4), 0, "portable bf16 is not the f32 order");
        for (int isa = 1; isa < SM_ISA_COUNT; ++isa) {
            const sm_kernels *k = sm_kernels_for((sm_isa)isa);
            if (!k)
                continue;
            memset(Qp2, 0xff, np * 2);
            k->pack_bf16(Qt, dim, ni, dim, Qp2);
            cr_assert_eq(memcmp(Qp, Qp2, np * 2), 0);
            memset(S2, 0, nu * ni * 4);
            k->score_bf16(P, dim, nu, Qp, ni, dim, S2, ni);
            cr_assert_eq(memcmp(S1, S2, nu * ni * 4), 0, "%s bf16 scores differ on shape %zu",
                         k->name, si);
        }
        free(P), free(Qt), sm_free(Qp), sm_free(Qp2), free(Pf), free(Qtf), sm_free(Qpf);
        free(S0), free(S1), free(S2);
    }
}

Test(bf16, avx2_score_kernel_exists)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_AVX2);
    if (!k)
        cr_skip_test("this CPU cannot run the avx2 kernels");
    cr_assert_neq((void *)k->score_bf16, (void *)sm_kernels_for(SM_ISA_PORTABLE)->score_bf16,
                  "the avx2 table scores bf16 with the portable kernel");
}

static signmf_ratings *ratings(size_t users, size_t items, size_t per, uint64_t seed)
{
    size_t cap = users * per, n = 0;
    int64_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
    double *r = malloc(cap * sizeof *r);
    unsigned char *seen = calloc(items, 1);
    for (size_t i = 0; i < users; ++i) {
        memset(seen, 0, items);
        for (size_t c = 0; c < per; ++c) {
            size_t j = lcg(&seed) % items;
            if (seen[j])
                continue;
            seen[j] = 1;
            u[n] = (int64_t)i + 1, it[n] = (int64_t)j + 1, r[n] = 1 + (double)(lcg(&seed) % 5);
            ++n;
        }
    }
    signmf_ratings *out;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_COMPACT, &out, NULL),
                 SIGNMF_OK);
    free(u), free(it), free(r), free(seen);
    return out;
}

static signmf_model *trained(const signmf_ratings *r, signmf_method method, size_t dim)
{
    signmf_params p = signmf_params_for(method);
    p.dim = dim;
    p.threads = 2;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 5, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_into_model(&t, &m), SIGNMF_OK);
    return m;
}

/* The top k of a bf16 model is the brute-force ranking of the canonical
 * scores (f32 order on widened factors, sigma applied as documented). */
static void check_recs(const signmf_model *m, size_t u, const signmf_rec *got, size_t n)
{
    size_t dim = m->dim, items = m->items;
    const uint16_t *P = (const uint16_t *)m->P + u * dim, *Qt = m->Qt;
    float *s = malloc(items * sizeof *s);
    for (size_t j = 0; j < items; ++j) {
        float a = 0;
        for (size_t t = 0; t < dim; ++t) {
            float q = sm_bf16_to_f32(Qt[j * dim + t]);
            if (m->params.method == SIGNMF_METHOD_ORTHONORMAL)
                q = sm_bf16_to_f32(sm_bf16_from_f32((float)(m->sigma[t] * (double)q)));
            a = fmaf(sm_bf16_to_f32(P[t]), q, a);
        }
        s[j] = a;
    }
    for (size_t i = m->rated_ptr[u]; i < m->rated_ptr[u + 1]; ++i)
        s[m->rated_idx[i]] = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
        size_t best = 0;
        for (size_t j = 1; j < items; ++j)
            if (s[j] > s[best])
                best = j;
        cr_assert_eq(got[i].item, signmf_model_item_id(m, best), "user %zu rank %zu", u, i);
        cr_assert_eq(got[i].score, (double)s[best]);
        s[best] = -INFINITY;
    }
    free(s);
}

Test(bf16, converted_models_serve_save_map_and_refuse_resume, .timeout = 60)
{
    signmf_ratings *r = ratings(40, 70, 15, 5);
    for (int meth = 0; meth < 2; ++meth) {
        signmf_model *f = trained(r, (signmf_method)meth, 37), *b;
        signmf_error err;
        cr_assert_eq(signmf_model_convert(f, SIGNMF_BF16, &b, &err), SIGNMF_OK, "%s", err.message);
        cr_assert_eq(signmf_model_precision(b), SIGNMF_BF16);
        cr_assert_eq(signmf_model_params(b).method, (signmf_method)meth);
        for (size_t i = 0; i < f->users * f->dim; ++i)
            cr_assert_eq(((const uint16_t *)b->P)[i], sm_bf16_from_f32(((const float *)f->P)[i]));
        char path[] = "/tmp/signmf-bf16-model-XXXXXX", fpath[] = "/tmp/signmf-f32-model-XXXXXX";
        int fd = mkstemp(path), fd2 = mkstemp(fpath);
        cr_assert(fd >= 0 && fd2 >= 0);
        close(fd), close(fd2);
        cr_assert_eq(signmf_model_save(b, path, &err), SIGNMF_OK, "%s", err.message);
        cr_assert_eq(signmf_model_save(f, fpath, &err), SIGNMF_OK, "%s", err.message);
        struct stat sb, sf;
        stat(path, &sb), stat(fpath, &sf);
        cr_assert_lt((double)sb.st_size, 0.62 * (double)sf.st_size, "%lld vs %lld bytes",
                     (long long)sb.st_size, (long long)sf.st_size);
        signmf_model *mm, *rd;
        cr_assert_eq(signmf_model_open(path, SIGNMF_OPEN_MMAP, &mm, &err), SIGNMF_OK, "%s",
                     err.message);
        cr_assert_eq(signmf_model_open(path, 0, &rd, &err), SIGNMF_OK, "%s", err.message);
        unlink(path), unlink(fpath);
        const signmf_model *all[3] = {b, mm, rd};
        signmf_rec recs[3][8];
        for (size_t u = 0; u < b->users; u += 3) {
            for (int v = 0; v < 3; ++v) {
                size_t n;
                cr_assert_eq(
                    signmf_recommend(all[v], signmf_model_user_id(b, u), 8, recs[v], &n, &err),
                    SIGNMF_OK, "%s", err.message);
                cr_assert_eq(n, 8);
            }
            cr_assert_eq(memcmp(recs[0], recs[1], sizeof recs[0]), 0);
            cr_assert_eq(memcmp(recs[0], recs[2], sizeof recs[0]), 0);
            check_recs(b, u, recs[0], 8);
        }
        /* the batch call (strips of users, threads) agrees with the single one */
        signmf_rec *many = malloc(b->users * 8 * sizeof *many);
        size_t *counts = malloc(b->users * sizeof *counts);
        cr_assert_eq(signmf_recommend_many(mm, NULL, b->users, 8, 2, many, counts, &err),
                     SIGNMF_OK);
        for (size_t u = 0; u < b->users; ++u)
            check_recs(b, u, many + u * 8, counts[u]);
        free(many), free(counts);
        size_t n;
        int64_t items[2] = {signmf_model_item_id(b, 3), signmf_model_item_id(b, 9)};
        double vals[2] = {5, 1};
        cr_assert_eq(signmf_recommend_foldin(mm, items, vals, 2, 5, recs[0], &n, &err), SIGNMF_OK,
                     "%s", err.message);
        cr_assert_eq(signmf_similar(mm, items[0], 5, recs[1], &n, &err), SIGNMF_OK, "%s",
                     err.message);
        signmf_trainer *t = NULL;
        cr_assert_eq(signmf_trainer_resume(r, mm, 1, &t, &err), SIGNMF_EUNSUPPORTED);
        cr_assert_null(t);
        signmf_model_free(rd), signmf_model_free(mm), signmf_model_free(b), signmf_model_free(f);
    }
    signmf_ratings_free(r);
}
