/* Ratings from caller arrays (signmf_ratings_from_dense / _csr), the model's
 * factor and loss accessors, and signmf_recommend_many_ex: what the Python
 * binding relies on, checked without Python. */
#include "model/model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { R = 7, C = 9 };

/* A dense matrix with a zero row and column, so their places must survive. */
static void fill(double *w)
{
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            w[i * C + j] =
                (i == 3 || j == 5 || (i * 7 + j * 3) % 4 == 0) ? 0.0 : 1 + (i + 2 * j) % 5;
}

static void same_set(const signmf_ratings *a, const signmf_ratings *b)
{
    cr_assert_eq(a->users, b->users);
    cr_assert_eq(a->items, b->items);
    cr_assert_eq(a->count, b->count);
    for (size_t k = 0; k < a->count; k++) {
        cr_assert_eq(a->user[k], b->user[k]);
        cr_assert_eq(a->item[k], b->item[k]);
        cr_assert_eq(a->value[k], b->value[k]);
    }
}

Test(arrays, dense_in_any_layout_matches_triplets)
{
    double w[R * C];
    fill(w);
    int64_t u[R * C], it[R * C];
    double v[R * C];
    size_t n = 0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            if (w[i * C + j] != 0) {
                u[n] = i + 1;
                it[n] = j + 1;
                v[n++] = w[i * C + j];
            }
    signmf_error err;
    signmf_ratings *t, *d, *f;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, v, n, SIGNMF_IDS_DIRECT, &t, &err), SIGNMF_OK);
    cr_assert_eq(signmf_ratings_from_dense(w, SIGNMF_DTYPE_F64, R, C, C * 8, 8, 1, &d, &err),
                 SIGNMF_OK, "%s", err.message);
    /* the transpose in float32, read through swapped strides */
    float wt[C * R];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            wt[j * R + i] = (float)w[i * C + j];
    cr_assert_eq(signmf_ratings_from_dense(wt, SIGNMF_DTYPE_F32, R, C, 4, R * 4, 1, &f, &err),
                 SIGNMF_OK, "%s", err.message);
    cr_assert_eq(d->users, R); /* the last user rated something; the zero row stays */
    same_set(t, d);
    same_set(t, f);
    cr_assert(d->user_map.direct && d->item_map.direct);
    signmf_ratings_free(t);
    signmf_ratings_free(d);
    signmf_ratings_free(f);
}

Test(arrays, csr_unsorted_with_zeros_matches_dense_and_index_ids)
{
    double w[R * C];
    fill(w);
    int32_t indptr[R + 1];
    int64_t idx[R * C + R];
    float val[R * C + R];
    size_t n = 0;
    for (int i = 0; i < R; i++) {
        indptr[i] = (int32_t)n;
        idx[n] = 5; /* a stored zero first: skipped like the dense zeros */
        val[n++] = 0.0f;
        for (int j = C - 1; j >= 0; j--) /* descending: every row needs sorting */
            if (w[i * C + j] != 0) {
                idx[n] = j;
                val[n++] = (float)w[i * C + j];
            }
    }
    indptr[R] = (int32_t)n;
    signmf_error err;
    signmf_ratings *d, *s;
    cr_assert_eq(signmf_ratings_from_dense(w, SIGNMF_DTYPE_F64, R, C, C * 8, 8, 0, &d, &err),
                 SIGNMF_OK, "%s", err.message);
    cr_assert_eq(signmf_ratings_from_csr(R, C, indptr, SIGNMF_DTYPE_I32, idx, SIGNMF_DTYPE_I64, val,
                                         SIGNMF_DTYPE_F32, 0, &s, &err),
                 SIGNMF_OK, "%s", err.message);
    same_set(d, s);
    cr_assert(!s->user_map.direct && s->user_map.count == R && s->item_map.count == C);
    for (size_t i = 0; i < R; i++)
        cr_assert_eq(s->user_map.ids[i], (int64_t)i);
    /* the index ids travel into the model */
    signmf_params p = signmf_params_default();
    p.dim = 4;
    signmf_trainer *tr;
    cr_assert_eq(signmf_trainer_create(s, &p, &tr, &err), SIGNMF_OK, "%s", err.message);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_into_model(&tr, &m), SIGNMF_OK);
    cr_assert_eq(signmf_model_user_id(m, 0), 0);
    size_t ix;
    cr_assert_eq(signmf_model_item_index(m, 8, &ix), SIGNMF_OK);
    cr_assert_eq(ix, 8);
    signmf_model_free(m);
    signmf_ratings_free(d);
    signmf_ratings_free(s);
}

Test(arrays, bad_arrays_are_named)
{
    double w[R * C];
    fill(w);
    w[1 * C + 2] = NAN;
    signmf_error err;
    signmf_ratings *r = (signmf_ratings *)&err;
    cr_assert_eq(signmf_ratings_from_dense(w, SIGNMF_DTYPE_F64, R, C, C * 8, 8, 0, &r, &err),
                 SIGNMF_ERANGE);
    cr_assert_null(r);
    cr_assert(strstr(err.message, "[1, 2]") != NULL, "%s", err.message);
    double z[4] = {0, 0, 0, 0};
    cr_assert_eq(signmf_ratings_from_dense(z, SIGNMF_DTYPE_F64, 2, 2, 16, 8, 0, &r, &err),
                 SIGNMF_EEMPTY);
    cr_assert_eq(signmf_ratings_from_dense(z, SIGNMF_DTYPE_I32, 2, 2, 16, 8, 0, &r, &err),
                 SIGNMF_EUNSUPPORTED);

    int64_t ip[3] = {0, 2, 3}, ix[3] = {1, 1, 0};
    double v[3] = {4, 5, 3};
    cr_assert_eq(signmf_ratings_from_csr(2, 3, ip, SIGNMF_DTYPE_I64, ix, SIGNMF_DTYPE_I64, v,
                                         SIGNMF_DTYPE_F64, 0, &r, &err),
                 SIGNMF_EDUPLICATE);
    cr_assert(strstr(err.message, "row 0: column 1") != NULL, "%s", err.message);
    ix[1] = 3;
    cr_assert_eq(signmf_ratings_from_csr(2, 3, ip, SIGNMF_DTYPE_I64, ix, SIGNMF_DTYPE_I64, v,
                                         SIGNMF_DTYPE_F64, 0, &r, &err),
                 SIGNMF_ERANGE);
    cr_assert(strstr(err.message, "found 3") != NULL, "%s", err.message);
    ix[1] = -1;
    cr_assert_eq(signmf_ratings_from_csr(2, 3, ip, SIGNMF_DTYPE_I64, ix, SIGNMF_DTYPE_I64, v,
                                         SIGNMF_DTYPE_F64, 0, &r, &err),
                 SIGNMF_ERANGE);
    ix[1] = 2;
    ip[0] = 1;
    cr_assert_eq(signmf_ratings_from_csr(2, 3, ip, SIGNMF_DTYPE_I64, ix, SIGNMF_DTYPE_I64, v,
                                         SIGNMF_DTYPE_F64, 0, &r, &err),
                 SIGNMF_EFORMAT);
    ip[0] = 0;
    ip[1] = 3;
    ip[2] = 2;
    cr_assert_eq(signmf_ratings_from_csr(2, 3, ip, SIGNMF_DTYPE_I64, ix, SIGNMF_DTYPE_I64, v,
                                         SIGNMF_DTYPE_F64, 0, &r, &err),
                 SIGNMF_EFORMAT);
    cr_assert(strstr(err.message, "non-decreasing") != NULL, "%s", err.message);
}

Test(arrays, model_accessors_and_include_rated)
{
    double w[R * C];
    fill(w);
    signmf_error err;
    signmf_ratings *r;
    cr_assert_eq(signmf_ratings_from_dense(w, SIGNMF_DTYPE_F64, R, C, C * 8, 8, 1, &r, &err),
                 SIGNMF_OK);
    signmf_params p = signmf_params_default();
    p.dim = 6;
    p.precision = SIGNMF_F64;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create_consume(&r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
    cr_assert_eq(signmf_trainer_run(t, 3, NULL, NULL, &err), SIGNMF_OK);
    double loss;
    cr_assert_eq(signmf_trainer_loss(t, &loss), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_into_model(&t, &m), SIGNMF_OK);
    cr_assert_eq(signmf_model_loss(m), loss);
    const double *P = signmf_model_user_factors(m), *Qt = signmf_model_item_factors(m);
    /* the first user's top item by the factors themselves, rated items too */
    size_t best = 0;
    double bs = -INFINITY;
    for (size_t j = 0; j < C; j++) {
        double s = 0;
        for (size_t t2 = 0; t2 < 6; t2++)
            s = fma(P[t2], Qt[j * 6 + t2], s);
        if (s > bs) {
            bs = s;
            best = j;
        }
    }
    signmf_rec out[C];
    size_t counts[1];
    int64_t user = 1;
    cr_assert_eq(
        signmf_recommend_many_ex(m, &user, 1, C, 1, SIGNMF_REC_INCLUDE_RATED, out, counts, &err),
        SIGNMF_OK, "%s", err.message);
    cr_assert_eq(counts[0], C);
    cr_assert_eq(out[0].item, (int64_t)best + 1);
    cr_assert_eq(out[0].score, bs);
    size_t rated = 0;
    for (int j = 0; j < C; j++)
        rated += w[j] != 0;
    cr_assert_eq(signmf_recommend_many_ex(m, &user, 1, C, 1, 0, out, counts, &err), SIGNMF_OK);
    cr_assert_eq(counts[0], C - rated);
    cr_assert_eq(signmf_recommend_many_ex(m, &user, 1, C, 1, 4u, out, counts, &err), SIGNMF_EINVAL);
    cr_assert(isnan(signmf_model_loss(NULL)));
    signmf_model_free(m);
}
