/* Evaluation: hand-computed figures, agreement with the serving path
 * (signmf_recommend_many), mmapped models, thread invariance, the holdout
 * split. */
#include "model/model.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A pseudo-random ratings set over users x items with about `per` ratings
 * per user, ids direct (1-based). */
static signmf_ratings *make_ratings(size_t users, size_t items, size_t per, uint64_t seed,
                                    size_t skip_mod)
{
    size_t cap = users * items, n = 0;
    int64_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
    double *v = malloc(cap * sizeof *v);
    cr_assert(u && it && v);
    for (size_t a = 0; a < users; a++)
        for (size_t j = 0; j < items; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t x = seed >> 33;
            if (x % items >= per || (skip_mod && (a + j) % skip_mod == 0))
                continue;
            u[n] = (int64_t)a + 1;
            it[n] = (int64_t)j + 1;
            v[n] = (double)(1 + (x >> 8) % 5);
            n++;
        }
    signmf_ratings *r = NULL;
    signmf_error err;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, v, n, SIGNMF_IDS_DIRECT, &r, &err), SIGNMF_OK,
                 "%s", err.message);
    free(u);
    free(it);
    free(v);
    return r;
}

static signmf_model *train(const signmf_ratings *r, signmf_precision prec, size_t dim,
                           uint64_t epochs)
{
    signmf_params p = signmf_params_default();
    p.dim = dim;
    p.lr = 0.01;
    p.precision = prec;
    p.threads = 2;
    signmf_trainer *t = NULL;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, epochs, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m = NULL;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    signmf_trainer_free(t);
    return m;
}

/* One user, five items, scores fixed by hand: P = [1], Qt = [5, 4, 3, 2, 1]
 * per item, item 2 (score 4) rated in training. */
Test(eval, hand_computed)
{
    signmf_model m;
    memset(&m, 0, sizeof m);
    double P[1] = {1.0}, Qt[5] = {5, 4, 3, 2, 1};
    _Alignas(64) double Qp[16] = {5, 4, 3, 2, 1}; /* one panel, dim 1 */
    size_t ptr[2] = {0, 1};
    uint32_t idx[1] = {1};
    m.users = 1;
    m.items = 5;
    m.dim = 1;
    m.precision = SIGNMF_F64;
    m.P = P;
    m.Qt = Qt;
    m.Qp = Qp;
    m.rated_ptr = ptr;
    m.rated_idx = idx;
    m.user_map = (sm_idmap){true, 1, NULL};
    m.item_map = (sm_idmap){true, 5, NULL};
    /* ranking of unrated items: 1 (5), 3 (3), 4 (2), 5 (1). Test: item 3
     * rated 5 (relevant), item 5 rated 4 (relevant), item 4 rated 2, item 2
     * (in training), user 7 (unknown), item 9 (unknown). */
    int64_t tu[] = {1, 1, 1, 1, 7, 1};
    int64_t ti[] = {3, 5, 4, 2, 1, 9};
    double tv[] = {5, 4, 2, 5, 5, 5};
    signmf_ratings *test = NULL;
    cr_assert_eq(signmf_ratings_from_triplets(tu, ti, tv, 6, SIGNMF_IDS_COMPACT, &test, NULL),
                 SIGNMF_OK);
    signmf_eval_options o = signmf_eval_options_default();
    o.k = 2;
    signmf_eval_result r;
    cr_assert_eq(signmf_evaluate(&m, test, &o, &r, NULL), SIGNMF_OK);
    /* top-2 = [1, 3]: one hit at rank 1 (0-based) */
    cr_assert_float_eq(r.model.precision, 0.5, 1e-15);
    cr_assert_float_eq(r.model.recall, 0.5, 1e-15);
    cr_assert_float_eq(r.model.ndcg, (1 / log2(3.0)) / (1 + 1 / log2(3.0)), 1e-15);
    cr_assert_float_eq(r.model.map, (1.0 / 2) / 2, 1e-15);
    cr_assert_float_eq(r.model.hit, 1.0, 1e-15);
    /* N = {1, 4}: item 3 beats 4, not 1; item 5 beats neither: 1/4 */
    cr_assert_float_eq(r.model.auc, 0.25, 1e-15);
    cr_assert_float_eq(r.model.coverage, 2.0 / 5, 1e-15);
    /* popularity: only item 2 has a rating, so the order is 1, 3, 4, 5 by
     * index: the same figures here */
    cr_assert_float_eq(r.popularity.ndcg, r.model.ndcg, 1e-15);
    cr_assert_eq(r.test_pairs, 6);
    cr_assert_eq(r.unknown_user_pairs, 1);
    cr_assert_eq(r.unknown_item_pairs, 1);
    cr_assert_eq(r.train_pairs, 1);
    cr_assert_eq(r.relevant_pairs, 2);
    cr_assert_eq(r.users, 1);
    cr_assert_eq(r.auc_users, 1);
    signmf_ratings_free(test);
}

/* The figures that depend only on the top-k lists, recomputed from
 * signmf_recommend_many: eval ranks and excludes exactly as serving does. */
static void check_against_serving(signmf_precision prec, size_t k)
{
    signmf_ratings *r = make_ratings(60, 150, 30, 7, 0);
    signmf_ratings *t = make_ratings(60, 150, 20, 99, 0);
    signmf_model *m = train(r, prec, 24, 4);
    signmf_eval_options o = signmf_eval_options_default();
    o.k = k;
    o.relevant = 3;
    signmf_eval_result res;
    cr_assert_eq(signmf_evaluate(m, t, &o, &res, NULL), SIGNMF_OK);

    size_t nu = m->users, ni = m->items;
    signmf_rec *recs = calloc(nu * k, sizeof *recs);
    size_t *counts = calloc(nu, sizeof *counts);
    cr_assert_eq(signmf_recommend_many(m, NULL, nu, k, 1, recs, counts, NULL), SIGNMF_OK);
    char *covered = calloc(ni, 1);
    double sp = 0, sr = 0, sn = 0, sm = 0, sh = 0;
    size_t users = 0;
    for (size_t u = 0; u < nu; u++) {
        /* relevant: test pairs of u, rating >= 3, not rated in training */
        char *rel = calloc(ni, 1);
        size_t nrel = 0;
        for (size_t i = 0; i < t->count; i++) {
            if (t->user[i] != u || t->value[i] < 3)
                continue;
            bool trained = false;
            for (size_t q = m->rated_ptr[u]; q < m->rated_ptr[u + 1]; q++)
                trained |= m->rated_idx[q] == t->item[i];
            if (!trained && t->item[i] < ni) {
                rel[t->item[i]] = 1;
                nrel++;
            }
        }
        if (nrel > 0) {
            users++;
            size_t hits = 0;
            double dcg = 0, ap = 0, idcg = 0;
            for (size_t i = 0; i < counts[u]; i++) {
                size_t j = (size_t)recs[u * k + i].item - 1;
                covered[j] = 1;
                if (rel[j]) {
                    hits++;
                    dcg += 1 / log2(i + 2.0);
                    ap += (double)hits / (i + 1.0);
                }
            }
            size_t mk = k < nrel ? k : nrel;
            for (size_t i = 0; i < mk; i++)
                idcg += 1 / log2(i + 2.0);
            sp += (double)hits / k;
            sr += (double)hits / nrel;
            sn += dcg / idcg;
            sm += ap / mk;
            sh += hits > 0;
        }
        free(rel);
    }
    size_t cov = 0;
    for (size_t j = 0; j < ni; j++)
        cov += covered[j];
    cr_assert_eq(res.users, users);
    cr_assert_gt(users, 10);
    cr_assert_float_eq(res.model.precision, sp / users, 1e-14);
    cr_assert_float_eq(res.model.recall, sr / users, 1e-14);
    cr_assert_float_eq(res.model.ndcg, sn / users, 1e-14);
    cr_assert_float_eq(res.model.map, sm / users, 1e-14);
    cr_assert_float_eq(res.model.hit, sh / users, 1e-14);
    cr_assert_float_eq(res.model.coverage, (double)cov / ni, 1e-15);
    free(covered);
    free(recs);
    free(counts);
    signmf_model_free(m);
    signmf_ratings_free(r);
    signmf_ratings_free(t);
}

Test(eval, lists_equal_serving_f32)
{
    check_against_serving(SIGNMF_F32, 10);
}
Test(eval, lists_equal_serving_f64)
{
    check_against_serving(SIGNMF_F64, 7);
}
Test(eval, lists_equal_serving_long_k)
{
    check_against_serving(SIGNMF_F32, 140);
}

Test(eval, mmap_and_threads_give_identical_figures)
{
    signmf_ratings *r = make_ratings(80, 200, 40, 3, 0);
    signmf_ratings *t = make_ratings(80, 200, 25, 11, 0);
    signmf_model *m = train(r, SIGNMF_F32, 48, 3);
    char path[] = "/tmp/signmf-test-eval-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(signmf_model_save(m, path, NULL), SIGNMF_OK);
    signmf_model *mm = NULL, *mr = NULL;
    cr_assert_eq(signmf_model_open(path, SIGNMF_OPEN_MMAP, &mm, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_model_open(path, 0, &mr, NULL), SIGNMF_OK);
    cr_assert(mm->map_base != NULL, "the model should be mapped");
    signmf_eval_result a, b, c, d;
    signmf_eval_options o = signmf_eval_options_default();
    o.threads = 2;
    cr_assert_eq(signmf_evaluate(m, t, &o, &a, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_evaluate(mm, t, &o, &b, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_evaluate(mr, t, &o, &c, NULL), SIGNMF_OK);
    o.threads = 1;
    cr_assert_eq(signmf_evaluate(mm, t, &o, &d, NULL), SIGNMF_OK);
    cr_assert(memcmp(&a, &b, sizeof a) == 0, "mmapped model gives other figures");
    cr_assert(memcmp(&a, &c, sizeof a) == 0, "read model gives other figures");
    cr_assert(memcmp(&a, &d, sizeof a) == 0, "thread count changes the figures");
    cr_assert(a.users > 0 && isfinite(a.model.auc));
    unlink(path);
    signmf_model_free(mm);
    signmf_model_free(mr);
    signmf_model_free(m);
    signmf_ratings_free(r);
    signmf_ratings_free(t);
}

Test(eval, rejects_bad_arguments)
{
    signmf_ratings *r = make_ratings(10, 20, 8, 1, 0);
    signmf_model *m = train(r, SIGNMF_F32, 4, 1);
    signmf_eval_result res;
    signmf_error err;
    signmf_eval_options o = signmf_eval_options_default();
    cr_assert_eq(signmf_evaluate(NULL, r, &o, &res, &err), SIGNMF_EINVAL);
    cr_assert_eq(signmf_evaluate(m, NULL, &o, &res, &err), SIGNMF_EINVAL);
    o.k = 0;
    cr_assert_eq(signmf_evaluate(m, r, &o, &res, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "k >= 1") != NULL, "%s", err.message);
    /* evaluating on the training set itself: every pair is a training pair */
    o = signmf_eval_options_default();
    cr_assert_eq(signmf_evaluate(m, r, &o, &res, NULL), SIGNMF_OK);
    cr_assert_eq(res.train_pairs, signmf_ratings_count(r));
    cr_assert_eq(res.users, 0);
    cr_assert(isnan(res.model.ndcg));
    cr_assert_str_eq(signmf_metric_name(SIGNMF_METRIC_AUC), "auc");
    cr_assert_null(signmf_metric_name(SIGNMF_METRIC_COUNT_));
    signmf_model_free(m);
    signmf_ratings_free(r);
}

Test(eval, holdout_split)
{
    signmf_ratings *r = make_ratings(50, 100, 30, 5, 0);
    signmf_ratings *tr = NULL, *ho = NULL, *tr2 = NULL, *ho2 = NULL, *tr3 = NULL, *ho3 = NULL;
    cr_assert_eq(signmf_ratings_split(r, 0.25, 9, &tr, &ho, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_ratings_split(r, 0.25, 9, &tr2, &ho2, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_ratings_split(r, 0.25, 10, &tr3, &ho3, NULL), SIGNMF_OK);
    cr_assert_eq(tr->count + ho->count, r->count);
    cr_assert_eq(tr->users, r->users);
    cr_assert_eq(tr->items, r->items);
    /* deterministic, seed-dependent */
    cr_assert_eq(ho->count, ho2->count);
    cr_assert(memcmp(ho->item, ho2->item, ho->count * sizeof *ho->item) == 0);
    cr_assert(memcmp(ho->item, ho3->item, ho->count * sizeof *ho->item) != 0);
    /* per user: floor(0.25 n) held out, disjoint, union is the input, both
     * sorted by (user, item) */
    size_t a = 0, b = 0;
    for (size_t i = 0; i < r->count;) {
        size_t e = i;
        while (e < r->count && r->user[e] == r->user[i])
            e++;
        size_t n = e - i, h = 0;
        for (size_t q = i; q < e; q++) {
            bool in_h = b < ho->count && ho->user[b] == r->user[q] && ho->item[b] == r->item[q];
            if (in_h) {
                cr_assert_eq(ho->value[b], r->value[q]);
                b++;
                h++;
            } else {
                cr_assert(a < tr->count && tr->user[a] == r->user[q] && tr->item[a] == r->item[q]);
                cr_assert_eq(tr->value[a], r->value[q]);
                a++;
            }
        }
        cr_assert_eq(h, (size_t)floor(0.25 * (double)n), "user %u: %zu of %zu", r->user[i], h, n);
        i = e;
    }
    cr_assert_eq(a, tr->count);
    cr_assert_eq(b, ho->count);
    signmf_ratings_free(tr2);
    signmf_ratings_free(ho2);
    cr_assert_eq(signmf_ratings_split(r, 1.0, 1, &tr2, &ho2, NULL), SIGNMF_ERANGE);
    cr_assert_null(tr2);
    signmf_ratings_free(r);
    signmf_ratings_free(tr);
    signmf_ratings_free(ho);
    signmf_ratings_free(tr3);
    signmf_ratings_free(ho3);
}
