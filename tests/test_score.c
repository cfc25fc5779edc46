/* Serving: kernels against the portable one and the canonical order,
 * signmf_recommend / batch / fold-in / similar against brute force. */
#include "kernels/kernels.h"
#include "model/model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct built {
    signmf_model m;
    int64_t user_ids[8], item_ids[64];
    size_t ptr[9];
    uint32_t idx[512];
} built;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* users x items x dim, values small integers so ties happen; rated items
 * chosen by `rate_mod` (user u rated j when (j + u) % rate_mod == 0). */
static built *build(size_t users, size_t items, size_t dim, signmf_precision prec, bool compact,
                    unsigned rate_mod, uint64_t seed)
{
    built *b = calloc(1, sizeof *b);
    cr_assert(b != NULL && users <= 8 && items <= 64);
    signmf_model *m = &b->m;
    m->users = users;
    m->items = items;
    m->dim = dim;
    m->precision = prec;
    size_t es = sm_elem_size(prec);
    m->P = calloc(users * dim, es);
    m->Qt = calloc(items * dim, es);
    for (size_t i = 0; i < users * dim; i++) {
        double v = (double)((int)lcg(&seed) % 5 - 2);
        if (prec == SIGNMF_F64)
            ((double *)m->P)[i] = v;
        else
            ((float *)m->P)[i] = (float)v;
    }
    for (size_t i = 0; i < items * dim; i++) {
        double v = (double)((int)lcg(&seed) % 5 - 2) * 0.5;
        if (prec == SIGNMF_F64)
            ((double *)m->Qt)[i] = v;
        else
            ((float *)m->Qt)[i] = (float)v;
    }
    size_t n = 0;
    for (size_t u = 0; u < users; u++) {
        b->ptr[u] = n;
        for (size_t j = 0; j < items; j++)
            if (rate_mod != 0 && (j + u) % rate_mod == 0)
                b->idx[n++] = (uint32_t)j;
    }
    b->ptr[users] = n;
    m->Qp = sm_alloc(sm_packed_elems(items, dim), es);
    cr_assert(m->Qp != NULL);
    sm_model_pack(m);
    m->rated_ptr = b->ptr;
    m->rated_idx = b->idx;
    if (compact) {
        for (size_t u = 0; u < users; u++)
            b->user_ids[u] = 1000 + 7 * (int64_t)u;
        for (size_t j = 0; j < items; j++)
            b->item_ids[j] = 193000 + 11 * (int64_t)j;
        m->user_map = (sm_idmap){false, users, b->user_ids};
        m->item_map = (sm_idmap){false, items, b->item_ids};
    } else {
        m->user_map = (sm_idmap){true, users, NULL};
        m->item_map = (sm_idmap){true, items, NULL};
    }
    return b;
}

static void destroy(built *b)
{
    free(b->m.P);
    free(b->m.Qt);
    sm_free(b->m.Qp);
    free(b);
}

typedef struct ref {
    double score;
    size_t j;
} ref;

static int cmp_ref(const void *x, const void *y)
{
    const ref *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* Brute force: every unrated item, sorted, truncated to k. */
static size_t brute(const built *b, size_t u, size_t k, ref *out)
{
    const signmf_model *m = &b->m;
    size_t n = 0;
    for (size_t j = 0; j < m->items; j++) {
        bool rated = false;
        for (size_t p = m->rated_ptr[u]; p < m->rated_ptr[u + 1]; p++)
            rated |= m->rated_idx[p] == j;
        if (rated)
            continue;
        double s = 0;
        for (size_t d = 0; d < m->dim; d++) {
            size_t pi = u * m->dim + d, qi = j * m->dim + d;
            if (m->precision == SIGNMF_F64)
                s += ((double *)m->P)[pi] * ((double *)m->Qt)[qi];
            else
                s += (double)((float *)m->P)[pi] * (double)((float *)m->Qt)[qi];
        }
        out[n++] = (ref){s, j};
    }
    qsort(out, n, sizeof *out, cmp_ref);
    return n < k ? n : k;
}

static void check_all(built *b)
{
    const signmf_model *m = &b->m;
    for (size_t u = 0; u < m->users; u++) {
        int64_t uid = m->user_map.direct ? (int64_t)u + 1 : b->user_ids[u];
        for (size_t k = 1; k <= m->items + 2; k++) {
            signmf_rec got[80];
            ref want[80];
            size_t n = 99;
            signmf_error err;
            cr_assert_eq(signmf_recommend(m, uid, k, got, &n, &err), SIGNMF_OK, "%s", err.message);
            size_t wn = brute(b, u, k, want);
            cr_assert_eq(n, wn, "user %zu k %zu: %zu results, expected %zu", u, k, n, wn);
            for (size_t i = 0; i < n; i++) {
                int64_t id = sm_idmap_id(&m->item_map, want[i].j);
                cr_assert_eq(got[i].item, id, "user %zu k %zu rank %zu: item %lld, expected %lld",
                             u, k, i, (long long)got[i].item, (long long)id);
                cr_assert_eq(got[i].score, want[i].score);
            }
        }
    }
}

Test(score, matches_brute_force_f64)
{
    built *b = build(5, 37, 6, SIGNMF_F64, false, 3, 1);
    check_all(b);
    destroy(b);
}

Test(score, matches_brute_force_f32)
{
    built *b = build(4, 50, 9, SIGNMF_F32, false, 4, 2);
    check_all(b);
    destroy(b);
}

Test(score, compact_ids_speak_original_ids)
{
    built *b = build(3, 20, 3, SIGNMF_F64, true, 2, 3);
    check_all(b);
    signmf_rec r[3];
    size_t n = 0;
    signmf_error err;
    cr_assert_eq(signmf_recommend(&b->m, 1007, 3, r, &n, &err), SIGNMF_OK);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_assert(r[i].item >= 193000 && (r[i].item - 193000) % 11 == 0);
    cr_assert_eq(signmf_recommend(&b->m, 1, 3, r, &n, &err), SIGNMF_ENOTFOUND);
    cr_assert(strstr(err.message, "1") != NULL);
    destroy(b);
}

Test(score, ties_go_to_the_lower_index)
{
    built *b = build(1, 10, 2, SIGNMF_F64, false, 0, 4);
    double *q = b->m.Qt;
    for (size_t i = 0; i < 20; i++)
        q[i] = 1.0; /* every item scores the same */
    sm_model_pack(&b->m);
    signmf_rec r[10];
    size_t n = 0;
    cr_assert_eq(signmf_recommend(&b->m, 1, 4, r, &n, NULL), SIGNMF_OK);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(r[i].item, (int64_t)i + 1);
    destroy(b);
}

Test(score, nan_scores_rank_last)
{
    built *b = build(1, 6, 1, SIGNMF_F64, false, 0, 5);
    double *q = b->m.Qt, *p = b->m.P;
    p[0] = 1;
    double v[6] = {1, NAN, 3, NAN, -2, 0};
    memcpy(q, v, sizeof v);
    sm_model_pack(&b->m);
    signmf_rec r[6];
    size_t n = 0;
    cr_assert_eq(signmf_recommend(&b->m, 1, 6, r, &n, NULL), SIGNMF_OK);
    cr_assert_eq(n, 6);
    int64_t want[6] = {3, 1, 6, 5, 2, 4};
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(r[i].item, want[i]);
    destroy(b);
}

Test(score, edge_cases)
{
    built *b = build(2, 4, 2, SIGNMF_F64, false, 1, 6); /* every item rated */
    signmf_rec r[4];
    size_t n = 7;
    cr_assert_eq(signmf_recommend(&b->m, 1, 4, r, &n, NULL), SIGNMF_OK);
    cr_assert_eq(n, 0);
    n = 7;
    cr_assert_eq(signmf_recommend(&b->m, 2, 0, NULL, &n, NULL), SIGNMF_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(signmf_recommend(&b->m, 1, 2, NULL, &n, NULL), SIGNMF_EINVAL);
    cr_assert_eq(signmf_recommend(NULL, 1, 2, r, &n, NULL), SIGNMF_EINVAL);
    cr_assert_eq(signmf_recommend(&b->m, 1, 2, r, NULL, NULL), SIGNMF_EINVAL);
    cr_assert_eq(signmf_recommend(&b->m, 0, 2, r, &n, NULL), SIGNMF_ENOTFOUND);
    cr_assert_eq(signmf_recommend(&b->m, 3, 2, r, &n, NULL), SIGNMF_ENOTFOUND);
    destroy(b);
}

/* ---- kernels, engine, batch, fold-in, similar --------------------------- */

/* A model of any shape through sm_model_alloc; values are multiples of
 * 1/64 in [-2, 2) (so float sums stay exact and ties happen) unless `wide`
 * asks for arbitrary floats. User u rated item j when rate(u, j). */
typedef bool (*rate_fn)(size_t u, size_t j, size_t items);

static bool rate_none(size_t u, size_t j, size_t items)
{
    (void)u, (void)j, (void)items;
    return false;
}
/* user 0 rated nothing, user 1 everything but 3 items, others ~1 in 5 */
static bool rate_mixed(size_t u, size_t j, size_t items)
{
    if (u == 0)
        return false;
    if (u == 1)
        return j != 0 && j != items / 2 && j != items - 1;
    return (j * 7 + u * 3) % 5 == 0;
}

static signmf_model *model(size_t users, size_t items, size_t dim, signmf_precision prec,
                           rate_fn rate, bool wide, uint64_t seed)
{
    size_t nr = 0;
    for (size_t u = 0; u < users; u++)
        for (size_t j = 0; j < items; j++)
            nr += rate(u, j, items);
    signmf_model *m = NULL;
    cr_assert_eq(sm_model_alloc(users, items, dim, prec, nr ? nr : 1, &m), SIGNMF_OK);
    m->user_map.count = users;
    m->item_map.count = items;
    for (int side = 0; side < 2; side++) {
        size_t n = (side ? items : users) * dim;
        void *a = side ? m->Qt : m->P;
        for (size_t i = 0; i < n; i++) {
            double v;
            if (wide)
                v = ((double)lcg(&seed) / 2147483648.0 - 0.5) * 3.0;
            else
                v = (double)((int)(lcg(&seed) % 256) - 128) / 64.0;
            if (prec == SIGNMF_F64)
                ((double *)a)[i] = v;
            else
                ((float *)a)[i] = (float)v;
        }
    }
    size_t n = 0;
    for (size_t u = 0; u < users; u++) {
        m->rated_ptr[u] = n;
        for (size_t j = 0; j < items; j++)
            if (rate(u, j, items))
                m->rated_idx[n++] = (uint32_t)j;
    }
    m->rated_ptr[users] = n;
    sm_model_pack(m);
    return m;
}

/* The canonical score of kernels.h, written independently of the kernels:
 * one fma per element, in increasing t, from +0. */
static double canon(const signmf_model *m, const void *p, size_t j)
{
    size_t dim = m->dim;
    if (m->precision == SIGNMF_F64) {
        const double *a = p, *b = (const double *)m->Qt + j * dim;
        double s = 0;
        for (size_t t = 0; t < dim; t++)
            s = fma(a[t], b[t], s);
        return s;
    }
    const float *a = p, *b = (const float *)m->Qt + j * dim;
    float s = 0;
    for (size_t t = 0; t < dim; t++)
        s = fmaf(a[t], b[t], s);
    return s;
}

/* Exact-ish reference: the dot product in long double. */
static double exact_dot(const signmf_model *m, const void *p, size_t j)
{
    long double s = 0;
    for (size_t t = 0; t < m->dim; t++) {
        if (m->precision == SIGNMF_F64)
            s += (long double)((const double *)p)[t] * ((const double *)m->Qt)[j * m->dim + t];
        else
            s += (long double)((const float *)p)[t] * ((const float *)m->Qt)[j * m->dim + t];
    }
    return (double)s;
}

static const void *prow(const signmf_model *m, size_t u)
{
    return (const char *)m->P + u * m->dim * sm_elem_size(m->precision);
}

/* Brute force over a score function; excluded: sorted list. */
static size_t brute_rank(const signmf_model *m, const void *p, const uint32_t *ex, size_t nex,
                         double (*score)(const signmf_model *, const void *, size_t), size_t k,
                         ref *out)
{
    size_t n = 0, e = 0;
    for (size_t j = 0; j < m->items; j++) {
        while (e < nex && ex[e] < j)
            e++;
        if (e < nex && ex[e] == j)
            continue;
        out[n++] = (ref){score(m, p, j), j};
    }
    qsort(out, n, sizeof *out, cmp_ref);
    return n < k ? n : k;
}

static void expect_exact(const signmf_model *m, const signmf_rec *got, size_t n, const ref *want,
                         size_t wn, const char *what)
{
    cr_assert_eq(n, wn, "%s: %zu results, expected %zu", what, n, wn);
    for (size_t i = 0; i < n; i++) {
        int64_t id = sm_idmap_id(&m->item_map, want[i].j);
        cr_assert_eq(got[i].item, id, "%s rank %zu: item %lld, expected %lld", what, i,
                     (long long)got[i].item, (long long)id);
        cr_assert_eq(got[i].score, want[i].score, "%s rank %zu: score %.17g, expected %.17g", what,
                     i, got[i].score, want[i].score);
    }
}

/* Against an exact ranking: same items except where the exact scores of
 * the two items at a position are within tol. */
static void expect_near(const signmf_model *m, const signmf_rec *got, size_t n, const ref *want,
                        size_t wn, double tol, const char *what)
{
    cr_assert_eq(n, wn, "%s: %zu results, expected %zu", what, n, wn);
    for (size_t i = 0; i < n; i++) {
        int64_t id = sm_idmap_id(&m->item_map, want[i].j);
        if (got[i].item == id)
            continue;
        cr_assert(fabs(got[i].score - want[i].score) <= tol,
                  "%s rank %zu: item %lld (%.9g), expected %lld (%.9g), beyond tol %g", what, i,
                  (long long)got[i].item, got[i].score, (long long)id, want[i].score, tol);
    }
}

/* Packing is pure data movement: every ISA gives the portable layout,
 * including the zero padding of a last partial panel. */
static void pack_matches(const sm_kernels *ref_k, const sm_kernels *k, const signmf_model *m,
                         int prec, void *want, void *got)
{
    size_t n = sm_packed_elems(m->items, m->dim), es = prec ? 8 : 4;
    memset(want, 0x5a, n * es);
    memset(got, 0xa5, n * es);
    if (prec) {
        ref_k->pack_f64(m->Qt, m->dim, m->items, m->dim, want);
        k->pack_f64(m->Qt, m->dim, m->items, m->dim, got);
    } else {
        ref_k->pack_f32(m->Qt, m->dim, m->items, m->dim, want);
        k->pack_f32(m->Qt, m->dim, m->items, m->dim, got);
    }
    cr_assert(memcmp(want, got, n * es) == 0, "%s pack f%d: dim %zu items %zu", k->name,
              prec ? 64 : 32, m->dim, m->items);
    for (size_t j = 0; j < (m->items + SM_PANEL - 1) / SM_PANEL * SM_PANEL; j++)
        for (size_t t = 0; t < m->dim; t++) {
            size_t at = j / SM_PANEL * m->dim * SM_PANEL + t * SM_PANEL + j % SM_PANEL;
            double v = prec ? ((double *)want)[at] : ((float *)want)[at];
            double e = j >= m->items ? 0.0
                       : prec        ? ((double *)m->Qt)[j * m->dim + t]
                                     : ((float *)m->Qt)[j * m->dim + t];
            if (v != e) /* assert only on failure: --full-stats logs every assert */
                cr_assert_fail("portable pack: item %zu t %zu", j, t);
        }
}

Test(score_kernels, every_isa_matches_portable_bit_for_bit)
{
    const sm_kernels *ref_k = sm_kernels_for(SM_ISA_PORTABLE);
    cr_assert(ref_k != NULL);
    /* dims around the vector widths; users across the 8 / 6 / 4 / 2 / 1
     * row shapes; items across panels, partial panels and multi-panel
     * tiles (48 = 3 float panels, 32 = 2 double panels) */
    size_t dims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100};
    size_t nus[] = {1, 2, 3, 4, 5, 6, 7, 9, 13, 25};
    size_t nis[] = {1, 2, 5, 15, 16, 17, 33, 47, 48, 49, 81};
    enum { MAXU = 25, MAXI = 81, LDS = MAXI + 3, MAXD = 100 };
    static double want[MAXU * LDS], got[MAXU * LDS];
    static float wf[MAXU * LDS], gf[MAXU * LDS];
    _Alignas(64) static double pw[(MAXI + 15) / 16 * 16 * MAXD], pg[(MAXI + 15) / 16 * 16 * MAXD];
    for (int isa = 0; isa < SM_ISA_COUNT; isa++) {
        const sm_kernels *k = sm_kernels_for((sm_isa)isa);
        if (k == NULL)
            continue;
        for (int prec = 0; prec < 2; prec++)
            for (size_t a = 0; a < sizeof dims / sizeof *dims; a++)
                for (size_t b = 0; b < sizeof nus / sizeof *nus; b++)
                    for (size_t c = 0; c < sizeof nis / sizeof *nis; c++) {
                        size_t dim = dims[a], nu = nus[b], ni = nis[c];
                        signmf_model *m = model(nu, ni, dim, prec ? SIGNMF_F64 : SIGNMF_F32,
                                                rate_none, true, dim * 131 + nu * 7 + ni);
                        pack_matches(ref_k, k, m, prec, pw, pg);
                        /* the kernel writes nu x ni of S and nothing else */
                        memset(want, 0x7f, sizeof want);
                        memset(got, 0x7f, sizeof got);
                        memset(wf, 0x7f, sizeof wf);
                        memset(gf, 0x7f, sizeof gf);
                        if (prec) {
                            ref_k->score_f64(m->P, dim, nu, pw, ni, dim, want, LDS);
                            k->score_f64(m->P, dim, nu, pg, ni, dim, got, LDS);
                            cr_assert(memcmp(want, got, sizeof got) == 0,
                                      "%s f64 dim %zu nu %zu ni %zu", k->name, dim, nu, ni);
                        } else {
                            ref_k->score_f32(m->P, dim, nu, (float *)pw, ni, dim, wf, LDS);
                            k->score_f32(m->P, dim, nu, (float *)pg, ni, dim, gf, LDS);
                            cr_assert(memcmp(wf, gf, sizeof gf) == 0,
                                      "%s f32 dim %zu nu %zu ni %zu", k->name, dim, nu, ni);
                        }
                        uint32_t sentinel;
                        memset(&sentinel, 0x7f, sizeof sentinel);
                        for (size_t u = 0; u < MAXU; u++)
                            for (size_t j = 0; j < LDS; j++) {
                                uint32_t bits;
                                memcpy(&bits, prec ? (void *)&got[u * LDS + j] : &gf[u * LDS + j],
                                       4);
                                bool inside = u < nu && j < ni;
                                if (inside) {
                                    /* and the portable kernel is the canonical order */
                                    double w = canon(m, prow(m, u), j);
                                    double g = prec ? want[u * LDS + j] : (double)wf[u * LDS + j];
                                    if (!(w == g || (isnan(w) && isnan(g))))
                                        cr_assert_fail("portable vs canonical, dim %zu (%zu,%zu)",
                                                       dim, u, j);
                                } else if (bits != sentinel) {
                                    cr_assert_fail("%s f%d wrote outside nu x ni at (%zu,%zu)",
                                                   k->name, prec ? 64 : 32, u, j);
                                }
                            }
                        signmf_model_free(m);
                    }
    }
}

Test(score_kernels, sign_of_zero_survives)
{
    /* Tiny negative products round to -0, and fma(-tiny, tiny, -0) stays
     * -0, so the score is -0; a kernel that added a padded lane or started
     * from anything else would turn it into +0. */
    for (int isa = 0; isa < SM_ISA_COUNT; isa++) {
        const sm_kernels *k = sm_kernels_for((sm_isa)isa);
        if (k == NULL)
            continue;
        float pf[20], qf[20], sf = 1;
        _Alignas(64) float qpf[16 * 20];
        double pd[12], qd[12], sd = 1;
        _Alignas(64) double qpd[16 * 12];
        for (int t = 0; t < 20; t++)
            pf[t] = -1e-30f, qf[t] = 1e-30f;
        for (int t = 0; t < 12; t++)
            pd[t] = -1e-200, qd[t] = 1e-200;
        k->pack_f32(qf, 20, 1, 20, qpf);
        k->pack_f64(qd, 12, 1, 12, qpd);
        k->score_f32(pf, 20, 1, qpf, 1, 20, &sf, 1);
        k->score_f64(pd, 12, 1, qpd, 1, 12, &sd, 1);
        cr_assert(sf == 0 && signbit(sf), "%s f32: %g", k->name, (double)sf);
        cr_assert(sd == 0 && signbit(sd), "%s f64: %g", k->name, sd);
    }
}

/* Every user through signmf_recommend against the brute-force ranking of
 * the canonical scores (exact) and of long-double dots (near ties only). */
static void check_model(signmf_model *m, double tol)
{
    size_t ks[] = {1, 3, 10, m->items, m->items + 5};
    ref *want = malloc((m->items + 1) * sizeof *want);
    signmf_rec *got = malloc((m->items + 5) * sizeof *got);
    for (size_t u = 0; u < m->users; u++)
        for (size_t a = 0; a < sizeof ks / sizeof *ks; a++) {
            size_t k = ks[a], n = 0;
            signmf_error err;
            int64_t uid = sm_idmap_id(&m->user_map, u);
            cr_assert_eq(signmf_recommend(m, uid, k, got, &n, &err), SIGNMF_OK, "%s", err.message);
            const uint32_t *ex = m->rated_idx + m->rated_ptr[u];
            size_t nex = m->rated_ptr[u + 1] - m->rated_ptr[u];
            size_t wn = brute_rank(m, prow(m, u), ex, nex, canon, k, want);
            expect_exact(m, got, n, want, wn, "canonical");
            wn = brute_rank(m, prow(m, u), ex, nex, exact_dot, k, want);
            expect_near(m, got, n, want, wn, tol, "exact");
        }
    free(want);
    free(got);
}

Test(score, edge_shapes_f32)
{
    size_t shapes[][3] = {{6, 1, 5}, {6, 3, 17}, {7, 40, 33}, {5, 150, 64}, {9, 37, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        signmf_model *m =
            model(shapes[s][0], shapes[s][1], shapes[s][2], SIGNMF_F32, rate_mixed, true, s + 1);
        check_model(m, 1e-4);
        signmf_model_free(m);
    }
}

Test(score, edge_shapes_f64)
{
    size_t shapes[][3] = {{6, 1, 3}, {6, 3, 9}, {7, 40, 17}, {5, 150, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        signmf_model *m =
            model(shapes[s][0], shapes[s][1], shapes[s][2], SIGNMF_F64, rate_mixed, true, s + 11);
        check_model(m, 1e-12);
        signmf_model_free(m);
    }
}

Test(score, ties_to_lower_index_across_blocks)
{
    /* small-integer values: many exact ties, in a model wider than one
     * item block */
    signmf_model *m = model(5, 700, 1024, SIGNMF_F32, rate_mixed, false, 99);
    check_model(m, 0);
    signmf_model_free(m);
}

Test(score, rows_over_several_tiles_and_chunks_f64)
{
    /* dim 1024 in float64: 48-item blocks, 1,344-item tile rows, so 1,500
     * items take two tile rows and three selection chunks */
    signmf_model *m = model(3, 1500, 1024, SIGNMF_F64, rate_mixed, false, 41);
    check_model(m, 0);
    signmf_model_free(m);
}

/* Groups of 16 in the selection helpers' trials. */
#define SEL_NG 9

/* screen_* against kernels.h: the positions, in order, of the scores not
 * below thr (NaN included) outside the exclusions; nothing else counts. */
#define SCREEN_CHECK(NAME, T, SCREEN)                                                              \
    static void NAME(const sm_kernels *k, const T *S, size_t ng, const uint16_t *ex, T thr,        \
                     int trial)                                                                    \
    {                                                                                              \
        uint16_t pos[16 * SEL_NG];                                                                 \
        size_t n = k->SCREEN(S, ng, thr, ex, pos), want = 0;                                       \
        for (size_t i = 0; i < 16 * ng; i++) {                                                     \
            if (((ex[i / 16] >> (i % 16)) & 1u) || S[i] < thr)                                     \
                continue;                                                                          \
            /* one assertion per check, not per position: --full-stats                             \
             * reports every assertion, and this loop runs a million times */                      \
            if (want >= n || pos[want] != i)                                                       \
                cr_assert_fail("%s %s trial %d ng %zu: position %zu not %zu", k->name, #SCREEN,    \
                               trial, ng, want, i);                                                \
            want++;                                                                                \
        }                                                                                          \
        if (n != want)                                                                             \
            cr_assert_fail("%s %s trial %d ng %zu: %zu positions, expected %zu", k->name, #SCREEN, \
                           trial, ng, n, want);                                                    \
    }
SCREEN_CHECK(screen_check_f32, float, screen_f32)
SCREEN_CHECK(screen_check_f64, double, screen_f64)

static void screen_check(const sm_kernels *k, const float *sf, const double *sd, size_t ng,
                         const uint16_t *ex, double thr, int trial)
{
    screen_check_f32(k, sf, ng, ex, (float)thr, trial);
    screen_check_f64(k, sd, ng, ex, thr, trial);
}

/* The selection helpers against their definitions (kernels.h), in every
 * ISA, on values that make comparisons hard: NaN, infinities, signed
 * zeros, ties, and every exclusion pattern density. */
Test(score_kernels, selection_helpers_match_their_definition)
{
    enum { NG = SEL_NG };
    float sf[16 * NG];
    double sd[16 * NG];
    uint16_t ex[NG];
    const double pool[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 0.5};
    uint64_t x = 88172645463325252u;
    for (int trial = 0; trial < 400; trial++) {
        for (int i = 0; i < 16 * NG; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            double v = (x % 3 == 0) ? pool[(x >> 8) % 10] : (double)((int64_t)(x >> 20) % 7) / 4;
            sf[i] = (float)v, sd[i] = v;
        }
        for (int g = 0; g < NG; g++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* none, all, or sparse to dense */
            ex[g] = trial % 5 == 0   ? 0
                    : trial % 5 == 1 ? 0xFFFF
                                     : (uint16_t)(x & (x >> 16) & (x >> 32));
        }
        for (size_t ng = 0; ng <= NG; ng++) {
            double wf = -INFINITY, wd = -INFINITY;
            for (size_t i = 0; i < 16 * ng; i++)
                if (!((ex[i / 16] >> (i % 16)) & 1u)) {
                    if (sf[i] > wf)
                        wf = sf[i];
                    if (sd[i] > wd)
                        wd = sd[i];
                }
            double thr = pool[trial % 10];
            for (int isa = 0; isa < SM_ISA_COUNT; isa++) {
                const sm_kernels *k = sm_kernels_for((sm_isa)isa);
                if (k == NULL)
                    continue;
                float gf = k->emax_f32(sf, ng, ex);
                double gd = k->emax_f64(sd, ng, ex);
                /* == : +0 and -0 are the same threshold */
                cr_assert(gf == wf, "%s emax f32 trial %d ng %zu: %g, expected %g", k->name, trial,
                          ng, (double)gf, wf);
                cr_assert(gd == wd, "%s emax f64 trial %d ng %zu: %g, expected %g", k->name, trial,
                          ng, gd, wd);
                screen_check(k, sf, sd, ng, ex, thr, trial);
            }
        }
    }
}

static int collect(void *ctx, int64_t user, const signmf_rec *recs, size_t count)
{
    signmf_rec *dst = ctx;
    size_t u = (size_t)(user - 1);
    memcpy(dst + u * 10, recs, count * sizeof *recs);
    for (size_t i = count; i < 10; i++)
        dst[u * 10 + i] = (signmf_rec){-1, 0};
    return 0;
}

static int stop_at_3(void *ctx, int64_t user, const signmf_rec *recs, size_t count)
{
    (void)recs, (void)count;
    *(int64_t *)ctx = user;
    return user == 3;
}

Test(score, batch_is_thread_invariant_and_equals_single)
{
    signmf_model *m = model(61, 203, 77, SIGNMF_F32, rate_mixed, true, 5);
    size_t U = m->users, k = 10;
    signmf_rec *ref1 = calloc(U * k, sizeof *ref1), *got = calloc(U * k, sizeof *got);
    size_t *c1 = calloc(U, sizeof *c1), *cg = calloc(U, sizeof *cg);
    signmf_error err;
    cr_assert_eq(signmf_recommend_many(m, NULL, U, k, 1, ref1, c1, &err), SIGNMF_OK, "%s",
                 err.message);
    for (int t = 2; t <= 5; t++) {
        memset(got, 0, U * k * sizeof *got);
        cr_assert_eq(signmf_recommend_many(m, NULL, U, k, t, got, cg, &err), SIGNMF_OK);
        cr_assert(memcmp(c1, cg, U * sizeof *cg) == 0, "threads %d", t);
        cr_assert(memcmp(ref1, got, U * k * sizeof *got) == 0, "threads %d", t);
    }
    for (size_t u = 0; u < U; u++) {
        signmf_rec one[10];
        size_t n;
        cr_assert_eq(signmf_recommend(m, (int64_t)u + 1, k, one, &n, NULL), SIGNMF_OK);
        cr_assert_eq(n, c1[u]);
        cr_assert(memcmp(one, ref1 + u * k, n * sizeof *one) == 0, "user %zu", u);
    }
    /* a list of users, in any order and with repeats */
    int64_t ids[5] = {7, 2, 61, 7, 1};
    signmf_rec lst[50];
    size_t cl[5];
    cr_assert_eq(signmf_recommend_many(m, ids, 5, k, 2, lst, cl, NULL), SIGNMF_OK);
    for (size_t i = 0; i < 5; i++)
        cr_assert(memcmp(lst + i * k, ref1 + (size_t)(ids[i] - 1) * k, cl[i] * sizeof *lst) == 0);
    /* streaming: every user, in order, same results */
    memset(got, 0, U * k * sizeof *got);
    cr_assert_eq(signmf_recommend_all(m, k, 2, collect, got, NULL), SIGNMF_OK);
    for (size_t u = 0; u < U; u++)
        cr_assert(memcmp(got + u * k, ref1 + u * k, c1[u] * sizeof *got) == 0);
    int64_t last = 0;
    cr_assert_eq(signmf_recommend_all(m, k, 2, stop_at_3, &last, &err), SIGNMF_EINTERRUPTED);
    cr_assert_eq(last, 3);
    int64_t bad[2] = {3, 62};
    cr_assert_eq(signmf_recommend_many(m, bad, 2, k, 1, lst, cl, &err), SIGNMF_ENOTFOUND);
    cr_assert(strstr(err.message, "62") != NULL, "%s", err.message);
    free(ref1), free(got), free(c1), free(cg);
    signmf_model_free(m);
}

Test(score, foldin_matches_the_formula)
{
    for (int prec = 0; prec < 2; prec++) {
        signmf_model *m =
            model(3, 90, 37, prec ? SIGNMF_F64 : SIGNMF_F32, rate_none, true, 17 + prec);
        int64_t items[6] = {40, 3, 77, 12, 90, 5};
        double ratings[6] = {5, 1, 4, 3, 2, 3}; /* mean 3: 40, 77 liked; 3, 90 disliked */
        double p[37], naive[37];
        signmf_error err;
        cr_assert_eq(signmf_foldin_embedding(m, items, ratings, 6, p, &err), SIGNMF_OK, "%s",
                     err.message);
        for (size_t t = 0; t < 37; t++) {
            double s = 0;
            for (int i = 0; i < 6; i++) {
                double mean = 3.0;
                int d = ratings[i] > mean ? -1 : ratings[i] < mean ? 1 : 0;
                size_t j = (size_t)items[i] - 1;
                double q =
                    prec ? ((double *)m->Qt)[j * 37 + t] : (double)((float *)m->Qt)[j * 37 + t];
                s -= d * q;
            }
            naive[t] = s;
            cr_assert(fabs(p[t] - s) <= (prec ? 1e-12 : 1e-5), "p[%zu] %g vs %g", t, p[t], s);
        }
        /* ranking: the kernel's scores of p, given items excluded */
        float pf[37];
        for (size_t t = 0; t < 37; t++)
            pf[t] = (float)p[t];
        const void *pv = prec ? (const void *)p : (const void *)pf;
        uint32_t ex[6] = {2, 4, 11, 39, 76, 89};
        ref want[90];
        signmf_rec got[90];
        size_t n;
        cr_assert_eq(signmf_recommend_foldin(m, items, ratings, 6, 90, got, &n, &err), SIGNMF_OK);
        size_t wn = brute_rank(m, pv, ex, 6, canon, 90, want);
        expect_exact(m, got, n, want, wn, "fold-in");
        cr_assert_eq(n, 84);
        (void)naive;
        /* errors */
        int64_t dup[2] = {4, 4}, unk[1] = {91};
        double r2[2] = {1, 2}, zero[1] = {0};
        cr_assert_eq(signmf_recommend_foldin(m, dup, r2, 2, 5, got, &n, &err), SIGNMF_EDUPLICATE);
        cr_assert_eq(signmf_recommend_foldin(m, unk, r2, 1, 5, got, &n, &err), SIGNMF_ENOTFOUND);
        cr_assert(strstr(err.message, "91") != NULL);
        cr_assert_eq(signmf_recommend_foldin(m, items, zero, 1, 5, got, &n, &err), SIGNMF_ERANGE);
        signmf_model_free(m);
    }
}

static double cosine(const signmf_model *m, const void *p, size_t j)
{
    size_t i =
        (size_t)((const char *)p - (const char *)m->Qt) / (m->dim * sm_elem_size(m->precision));
    long double d = 0, a = 0, b = 0;
    for (size_t t = 0; t < m->dim; t++) {
        long double x, y;
        if (m->precision == SIGNMF_F64)
            x = ((double *)m->Qt)[i * m->dim + t], y = ((double *)m->Qt)[j * m->dim + t];
        else
            x = ((float *)m->Qt)[i * m->dim + t], y = ((float *)m->Qt)[j * m->dim + t];
        d += x * y, a += x * x, b += y * y;
    }
    return a > 0 && b > 0 ? (double)(d / sqrtl(a * b)) : 0.0;
}

Test(score, similar_matches_brute_force_cosine)
{
    for (int prec = 0; prec < 2; prec++) {
        signmf_model *m =
            model(2, 120, 45, prec ? SIGNMF_F64 : SIGNMF_F32, rate_none, true, 23 + prec);
        /* a zero item: cosine 0 with everything */
        size_t es = sm_elem_size(m->precision);
        memset((char *)m->Qt + 7 * 45 * es, 0, 45 * es);
        sm_model_pack(m); /* serving reads the panels */
        for (size_t i = 0; i < 120; i += 13) {
            signmf_rec got[120];
            ref want[120];
            size_t n;
            signmf_error err;
            cr_assert_eq(signmf_similar(m, (int64_t)i + 1, 119, got, &n, &err), SIGNMF_OK, "%s",
                         err.message);
            uint32_t self = (uint32_t)i;
            const void *qi = (const char *)m->Qt + i * 45 * es;
            size_t wn = brute_rank(m, qi, &self, 1, cosine, 119, want);
            expect_near(m, got, n, want, wn, prec ? 1e-12 : 1e-5, "similar");
            for (size_t r = 0; r < n; r++)
                cr_assert(got[r].item != (int64_t)i + 1);
        }
        signmf_rec r1[3];
        size_t n;
        cr_assert_eq(signmf_similar(m, 121, 3, r1, &n, NULL), SIGNMF_ENOTFOUND);
        signmf_model_free(m);
    }
}

Test(score, one_user_split_over_threads)
{
    /* large enough for run_one to split the items between threads */
    signmf_model *m = model(3, 1000, 160, SIGNMF_F32, rate_mixed, true, 31);
    check_model(m, 1e-4);
    for (size_t u = 0; u < 3; u++) {
        int64_t id = (int64_t)u + 1;
        signmf_rec want[40], got[40];
        size_t nw, ng;
        cr_assert_eq(signmf_recommend_many(m, &id, 1, 40, 1, want, &nw, NULL), SIGNMF_OK);
        for (int t = 2; t <= 5; t++) {
            cr_assert_eq(signmf_recommend_many(m, &id, 1, 40, t, got, &ng, NULL), SIGNMF_OK);
            cr_assert_eq(ng, nw);
            cr_assert(memcmp(got, want, nw * sizeof *got) == 0, "user %zu threads %d", u, t);
        }
    }
    signmf_model_free(m);
}
