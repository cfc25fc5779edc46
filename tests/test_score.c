/* signmf_recommend against a brute-force sort on hand-built models. */
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
