/* Evaluation: ranking metrics of a model and of a popularity baseline on
 * held-out ratings, and a deterministic per-user validation split.
 *
 * Each evaluated user's scores come from the serving kernel (same
 * canonical sum order, hence the same bits as signmf_recommend_many), over
 * all items once; the top-k list and AUC both read that row, with the
 * serving order (descending score, ties to the lower index, NaN last) and
 * the serving exclusions (the model's rated rows). test_eval checks the
 * lists against signmf_recommend_many. Per-user figures land in arrays and
 * are summed in user order, so the result does not depend on the thread
 * count.
 */
#include "eval.h"

#include "../kernels/kernels.h"
#include "../rng/rng.h"
#include "../score/score.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Users scored together. Fewer than the engine's SM_STRIP: each group's
 * whole score rows (EV_GROUP x items per thread) are kept for the metrics.
 * Item blocks are the engine's (sm_item_block), over the packed Q. */
#define EV_GROUP 24

SIGNMF_API signmf_eval_options signmf_eval_options_default(void)
{
    signmf_eval_options o = {10, 4.0, 0};
    return o;
}

SIGNMF_API double signmf_metric_value(const signmf_metrics *v, signmf_metric which)
{
    if (v == NULL)
        return NAN;
    switch (which) {
    case SIGNMF_METRIC_PRECISION:
        return v->precision;
    case SIGNMF_METRIC_RECALL:
        return v->recall;
    case SIGNMF_METRIC_NDCG:
        return v->ndcg;
    case SIGNMF_METRIC_MAP:
        return v->map;
    case SIGNMF_METRIC_HIT:
        return v->hit;
    case SIGNMF_METRIC_AUC:
        return v->auc;
    case SIGNMF_METRIC_COVERAGE:
        return v->coverage;
    default:
        return NAN;
    }
}

SIGNMF_API const char *signmf_metric_name(signmf_metric which)
{
    static const char *const names[SIGNMF_METRIC_COUNT_] = {"precision", "recall", "ndcg",    "map",
                                                            "hit",       "auc",    "coverage"};
    return (unsigned)which < SIGNMF_METRIC_COUNT_ ? names[which] : NULL;
}

/* "a ranks before b" in the serving order. */
static inline bool before(double sa, size_t a, double sb, size_t b)
{
    bool an = isnan(sa), bn = isnan(sb);
    if (an != bn)
        return bn;
    if (!an && sa != sb)
        return sa > sb;
    return a < b;
}

typedef struct cand {
    double score;
    uint32_t index;
} cand;

/* Min-heap on rank: the root is the worst kept candidate. */
static void sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(h[w].score, h[w].index, h[l].score, h[l].index))
            w = l;
        if (r < n && before(h[w].score, h[w].index, h[r].score, h[r].index))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The k best items not rated in training (mask bit 1), best first, into
 * list; returns how many. */
static size_t top_k(const double *s, size_t items, const unsigned char *mask, size_t k, cand *h,
                    uint32_t *list)
{
    size_t n = 0;
    for (size_t j = 0; j < items; ++j) {
        if (mask[j] & 1)
            continue;
        if (n < k) {
            /* sift up */
            size_t i = n++;
            h[i] = (cand){s[j], (uint32_t)j};
            while (i > 0) {
                size_t p = (i - 1) / 2;
                if (!before(h[p].score, h[p].index, h[i].score, h[i].index))
                    break;
                cand t = h[i];
                h[i] = h[p];
                h[p] = t;
                i = p;
            }
        } else if (before(s[j], j, h[0].score, h[0].index)) {
            h[0] = (cand){s[j], (uint32_t)j};
            sift_down(h, n, 0);
        }
    }
    for (size_t i = n; i > 0; --i) {
        list[i - 1] = h[0].index;
        h[0] = h[i - 1];
        sift_down(h, i - 1, 0);
    }
    return n;
}

/* List metrics from the ranked list `list` (c item indices) and the
 * relevance mask (mask[j] & 2). */
static void list_metrics(const uint32_t *list, size_t c, size_t k, size_t nrel,
                         const unsigned char *mask, double *v)
{
    double dcg = 0, ap = 0;
    size_t hits = 0;
    for (size_t i = 0; i < c; ++i) {
        if (mask[list[i]] & 2) {
            hits++;
            dcg += 1.0 / log2((double)i + 2.0);
            ap += (double)hits / (double)(i + 1);
        }
    }
    size_t ideal_n = k < nrel ? k : nrel;
    double idcg = 0;
    for (size_t i = 0; i < ideal_n; ++i)
        idcg += 1.0 / log2((double)i + 2.0);
    v[0] = (double)hits / (double)k;
    v[1] = (double)hits / (double)nrel;
    v[2] = dcg / idcg;
    v[3] = ap / (double)ideal_n;
    v[4] = hits > 0 ? 1.0 : 0.0;
}

/* How many of b[0..n) are above t (or equal, with ge). Written with GNU C
 * vectors because compilers leave the plain count loop scalar (a compare,
 * a set and an add a number: most of eval's time, by perf, before). */
static size_t count_above(const double *b, size_t n, double t, int ge)
{
    size_t i = 0, cnt = 0;
#if defined(__GNUC__)
    typedef double v2d __attribute__((vector_size(16), aligned(8), may_alias));
    typedef long long v2l __attribute__((vector_size(16)));
    const v2d tv = {t, t};
    v2l a0 = {0, 0}, a1 = {0, 0};
    if (ge)
        for (; i + 4 <= n; i += 4) {
            a0 -= (v2l)(*(const v2d *)(b + i) >= tv);
            a1 -= (v2l)(*(const v2d *)(b + i + 2) >= tv);
        }
    else
        for (; i + 4 <= n; i += 4) {
            a0 -= (v2l)(*(const v2d *)(b + i) > tv);
            a1 -= (v2l)(*(const v2d *)(b + i + 2) > tv);
        }
    v2l a = a0 + a1;
    cnt = (size_t)(a[0] + a[1]);
#endif
    for (; i < n; ++i)
        cnt += ge ? b[i] >= t : b[i] > t;
    return cnt;
}

/* AUC over the unrated items (mask 0 = in N, 2 = relevant, 1 = rated in
 * training) with scores `s`; `buf` has room for `items` doubles. */
static double user_auc(const double *s, size_t items, const unsigned char *mask,
                       const uint32_t *rel, size_t nrel, size_t nneg, double *buf)
{
    if (nneg == 0)
        return NAN;
    size_t n = 0;
    bool nan = false;
    for (size_t j = 0; j < items; ++j)
        if (mask[j] == 0) {
            buf[n] = s[j];
            nan |= isnan(s[j]);
            n++;
        }
    for (size_t a = 0; a < nrel; ++a)
        nan |= isnan(s[rel[a]]);
    double pairs_above = 0;
    if (nan) {
        for (size_t a = 0; a < nrel; ++a) {
            size_t r = rel[a], cnt = 0;
            for (size_t j = 0; j < items; ++j)
                cnt += (mask[j] == 0) & before(s[j], j, s[r], r);
            pairs_above += (double)cnt;
        }
    } else {
        /* buf is in index order, so the N items below index r are a prefix:
         * there a tie also ranks before r, after it only a higher score. */
        size_t pre = 0, j = 0;
        for (size_t a = 0; a < nrel; ++a) {
            size_t r = rel[a];
            for (; j < r; ++j)
                pre += mask[j] == 0;
            double sr = s[r];
            pairs_above +=
                (double)(count_above(buf, pre, sr, 1) + count_above(buf + pre, n - pre, sr, 0));
        }
    }
    return 1.0 - pairs_above / ((double)nrel * (double)nneg);
}

/* The same for the popularity ranking, a global order (pos[j] = place of
 * item j): the N items after r are all items after it minus the training
 * and relevant ones after it, so no pass over the catalogue is needed. */
static double pop_auc(const uint32_t *pos, size_t items, const uint32_t *tr, size_t ntr,
                      const uint32_t *rel, size_t nrel, size_t nneg)
{
    if (nneg == 0)
        return NAN;
    double below = 0;
    for (size_t a = 0; a < nrel; ++a) {
        uint32_t pr = pos[rel[a]];
        size_t after = items - 1 - pr;
        for (size_t i = 0; i < ntr; ++i)
            after -= pos[tr[i]] > pr;
        for (size_t i = 0; i < nrel; ++i)
            after -= pos[rel[i]] > pr;
        below += (double)after;
    }
    return below / ((double)nrel * (double)nneg);
}

/* Test pairs grouped by model user. */
typedef struct grouped {
    size_t *ptr;   /* users + 1 */
    uint32_t *rel; /* relevant item indices, by user */
    size_t *eval_users;
    size_t n_eval;
} grouped;

static void grouped_free(grouped *g)
{
    sm_free(g->ptr);
    sm_free(g->rel);
    sm_free(g->eval_users);
}

static bool rated_in_training(const signmf_model *m, size_t u, size_t j)
{
    const uint32_t *a = m->rated_idx + m->rated_ptr[u];
    size_t lo = 0, hi = m->rated_ptr[u + 1] - m->rated_ptr[u];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->rated_ptr[u + 1] - m->rated_ptr[u] && a[lo] == j;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static signmf_status group_test(const signmf_model *m, const signmf_ratings *test, double relevant,
                                signmf_eval_result *res, grouped *g, signmf_error *err)
{
    static const char fn[] = "signmf_evaluate";
    size_t n = test->count;
    memset(g, 0, sizeof *g);
    size_t *mu = sm_alloc(n ? n : 1, sizeof *mu); /* model user per pair, or SIZE_MAX */
    uint32_t *mi = sm_alloc(n ? n : 1, sizeof *mi);
    unsigned char *tu = sm_calloc(m->users ? m->users : 1, 1);
    g->ptr = sm_calloc(m->users + 1, sizeof *g->ptr);
    if (mu == NULL || mi == NULL || tu == NULL || g->ptr == NULL) {
        sm_free(mu);
        sm_free(mi);
        sm_free(tu);
        grouped_free(g);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu test pairs", fn, n);
    }
    size_t nrel = 0;
    for (size_t i = 0; i < n; ++i) {
        mu[i] = SIZE_MAX;
        size_t u, j;
        int64_t uid = sm_idmap_id(&test->user_map, test->user[i]);
        int64_t iid = sm_idmap_id(&test->item_map, test->item[i]);
        if (sm_idmap_index(&m->user_map, uid, &u) != SIGNMF_OK || u >= m->users) {
            res->unknown_user_pairs++;
            continue;
        }
        if (sm_idmap_index(&m->item_map, iid, &j) != SIGNMF_OK || j >= m->items) {
            res->unknown_item_pairs++;
            continue;
        }
        if (rated_in_training(m, u, j)) {
            res->train_pairs++;
            continue;
        }
        tu[u] = 1;
        if (!(test->value[i] >= relevant))
            continue;
        mu[i] = u;
        mi[i] = (uint32_t)j;
        g->ptr[u + 1]++;
        nrel++;
    }
    res->relevant_pairs = nrel;
    for (size_t u = 0; u < m->users; ++u) {
        res->test_users += tu[u];
        if (g->ptr[u + 1] > 0)
            g->n_eval++;
        g->ptr[u + 1] += g->ptr[u];
    }
    sm_free(tu);
    g->rel = sm_alloc(nrel ? nrel : 1, sizeof *g->rel);
    g->eval_users = sm_alloc(g->n_eval ? g->n_eval : 1, sizeof *g->eval_users);
    size_t *fill = sm_alloc(m->users ? m->users : 1, sizeof *fill);
    if (g->rel == NULL || g->eval_users == NULL || fill == NULL) {
        sm_free(mu);
        sm_free(mi);
        sm_free(fill);
        grouped_free(g);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu relevant pairs", fn, nrel);
    }
    memcpy(fill, g->ptr, m->users * sizeof *fill);
    for (size_t i = 0; i < n; ++i)
        if (mu[i] != SIZE_MAX)
            g->rel[fill[mu[i]]++] = mi[i];
    size_t e = 0;
    for (size_t u = 0; u < m->users; ++u) {
        size_t c = g->ptr[u + 1] - g->ptr[u];
        if (c > 0) {
            qsort(g->rel + g->ptr[u], c, sizeof *g->rel, cmp_u32);
            g->eval_users[e++] = u;
        }
    }
    sm_free(fill);
    sm_free(mu);
    sm_free(mi);
    return SIGNMF_OK;
}

/* Popularity: the global order of items by training count (descending),
 * ties to the lower index. */
typedef struct pop_item {
    double count;
    uint32_t index;
} pop_item;

static int cmp_pop(const void *a, const void *b)
{
    const pop_item *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int thread_count(int threads)
{
    int t = threads > 0 ? threads : omp_get_max_threads();
    return t < 1 ? 1 : t;
}

void sm_eval_share_free(sm_eval_share *s)
{
    sm_free(s->fig);
    sm_free(s->cov);
    s->fig = NULL;
    s->cov = NULL;
    s->users = 0;
}

signmf_status sm_evaluate_share(const signmf_model *m, const signmf_ratings *test,
                                const signmf_eval_options *opt, const double *pop_count,
                                signmf_eval_result *out, sm_eval_share *share, signmf_error *err)
{
    static const char fn[] = "signmf_evaluate";
    memset(share, 0, sizeof *share);
    if (m == NULL || test == NULL || out == NULL)
        return sm_fail(err, SIGNMF_EINVAL, "%s: model, test set and result must be set", fn);
    signmf_eval_options o = opt ? *opt : signmf_eval_options_default();
    if (o.k < 1 || o.threads < 0 || isnan(o.relevant))
        return sm_fail(err, SIGNMF_EINVAL,
                       "%s: expected k >= 1, threads >= 0 and a relevance threshold, found k %zu, "
                       "threads %d, relevant %g",
                       fn, o.k, o.threads, o.relevant);
    memset(out, 0, sizeof *out);
    out->k = o.k;
    out->relevant = o.relevant;
    out->test_pairs = test->count;
    const size_t items = m->items, k = o.k;
    /* no list is longer than the catalogue: stride and heap by kc */
    const size_t kc = k < items ? k : (items ? items : 1);
    grouped g;
    signmf_status st = group_test(m, test, o.relevant, out, &g, err);
    if (st != SIGNMF_OK)
        return st;
    out->users = g.n_eval;

    size_t ne = g.n_eval, listn;
    size_t *counts = sm_alloc(ne ? ne : 1, sizeof *counts);
    sm_eval_fig *fig = sm_alloc(ne ? ne : 1, sizeof *fig);
    pop_item *pop = sm_alloc(items ? items : 1, sizeof *pop);
    uint32_t *popos = sm_alloc(items ? items : 1, sizeof *popos);
    unsigned char *cov = sm_calloc(2 * (items ? items : 1), 1);
    size_t *pcounts = sm_alloc(ne ? ne : 1, sizeof *pcounts);
    uint32_t *mlists = NULL, *plists = NULL;
    if (!sm_mul_overflows(ne ? ne : 1, kc, &listn)) {
        mlists = sm_alloc(listn, sizeof *mlists);
        plists = sm_alloc(listn, sizeof *plists);
    }
    if (counts == NULL || fig == NULL || pop == NULL || popos == NULL || cov == NULL ||
        plists == NULL || mlists == NULL || pcounts == NULL) {
        st =
            sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu users x %zu results", fn, ne, k);
        goto done;
    }
    for (size_t j = 0; j < items; ++j) {
        pop[j].count = pop_count ? pop_count[j] : 0;
        pop[j].index = (uint32_t)j;
    }
    if (pop_count == NULL)
        for (size_t i = 0; i < m->rated_ptr[m->users]; ++i)
            pop[m->rated_idx[i]].count += 1;
    qsort(pop, items, sizeof *pop, cmp_pop);
    for (size_t i = 0; i < items; ++i)
        popos[pop[i].index] = (uint32_t)i;

    const sm_kernels *kern = sm_kernels_active();
    const size_t dim = m->dim, es = sm_elem_size(m->precision);
    int nt = thread_count(o.threads);
    if ((size_t)nt > ne)
        nt = ne > 0 ? (int)ne : 1;
    /* users go in groups so the kernel scores several rows per pass over
     * an item block (a one-row call streams Qt for a single user) */
    const size_t grp = EV_GROUP, ngrp = (ne + grp - 1) / grp;
    const size_t blk = sm_item_block(m);
    const void *qpk = m->Qp;
    int failed = 0;
#pragma omp parallel num_threads(nt) reduction(| : failed)
    {
        /* per thread: mask (1 = rated in training, 2 = relevant), a user's
         * scores as double, the AUC buffer, the kernel tile and packed rows */
        unsigned char *mask = sm_calloc(items ? items : 1, 1);
        double *s = sm_alloc(items ? items : 1, sizeof *s);
        double *buf = sm_alloc(items ? items : 1, sizeof *buf);
        void *tile = sm_alloc(grp * (items ? items : 1), sm_score_size(m->precision));
        void *pack = sm_alloc(grp * (dim ? dim : 1), es);
        cand *heap = sm_alloc(kc, sizeof *heap);
        if (mask == NULL || s == NULL || buf == NULL || tile == NULL || pack == NULL ||
            heap == NULL)
            failed = 1;
#pragma omp for schedule(dynamic, 2)
        for (size_t gi = 0; gi < ngrp; ++gi) {
            if (failed)
                continue;
            size_t e0 = gi * grp, gn = ne - e0 < grp ? ne - e0 : grp;
            for (size_t r = 0; r < gn; ++r)
                memcpy((char *)pack + r * dim * es,
                       (const char *)m->P + g.eval_users[e0 + r] * dim * es, dim * es);
            for (size_t j0 = 0; j0 < items; j0 += blk) {
                size_t nj = items - j0 < blk ? items - j0 : blk;
                if (m->precision == SIGNMF_F64)
                    kern->score_f64((const double *)pack, dim, gn, (const double *)qpk + j0 * dim,
                                    nj, dim, (double *)tile + j0, items);
                else if (m->precision == SIGNMF_BF16)
                    kern->score_bf16((const uint16_t *)pack, dim, gn,
                                     (const uint16_t *)qpk + j0 * dim, nj, dim, (float *)tile + j0,
                                     items);
                else
                    kern->score_f32((const float *)pack, dim, gn, (const float *)qpk + j0 * dim, nj,
                                    dim, (float *)tile + j0, items);
            }
            for (size_t r = 0; r < gn; ++r) {
                size_t e = e0 + r, u = g.eval_users[e];
                const uint32_t *rel = g.rel + g.ptr[u];
                size_t nrel = g.ptr[u + 1] - g.ptr[u];
                const uint32_t *tr = m->rated_idx + m->rated_ptr[u];
                size_t ntr = m->rated_ptr[u + 1] - m->rated_ptr[u];
                for (size_t i = 0; i < ntr; ++i)
                    mask[tr[i]] = 1;
                for (size_t i = 0; i < nrel; ++i)
                    mask[rel[i]] = 2;
                size_t nneg = items - ntr - nrel;

                if (m->precision == SIGNMF_F64) {
                    memcpy(s, (const double *)tile + r * items, items * sizeof *s);
                } else {
                    const float *row = (const float *)tile + r * items;
                    for (size_t j = 0; j < items; ++j)
                        s[j] = (double)row[j];
                }
                /* model: the serving ranking (same scores, same order,
                 * same exclusions as signmf_recommend_many) */
                uint32_t *list = mlists + e * kc;
                counts[e] = top_k(s, items, mask, kc, heap, list);
                list_metrics(list, counts[e], k, nrel, mask, fig[e].model);
                fig[e].model[5] = user_auc(s, items, mask, rel, nrel, nneg, buf);

                /* popularity: walk the global order skipping training items */
                size_t pc = 0;
                list = plists + e * kc;
                for (size_t i = 0; i < items && pc < k; ++i)
                    if (!(mask[pop[i].index] & 1))
                        list[pc++] = pop[i].index;
                list_metrics(list, pc, k, nrel, mask, fig[e].pop);
                fig[e].pop[5] = pop_auc(popos, items, tr, ntr, rel, nrel, nneg);
                pcounts[e] = pc;

                for (size_t i = 0; i < ntr; ++i)
                    mask[tr[i]] = 0;
                for (size_t i = 0; i < nrel; ++i)
                    mask[rel[i]] = 0;
            }
        }
        sm_free(mask);
        sm_free(s);
        sm_free(buf);
        sm_free(tile);
        sm_free(pack);
        sm_free(heap);
    }
    if (failed) {
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for per-thread rows of %zu items", fn,
                     items);
        goto done;
    }
    for (size_t e = 0; e < ne; ++e) {
        for (size_t i = 0; i < counts[e]; ++i)
            cov[mlists[e * kc + i]] = 1;
        for (size_t i = 0; i < pcounts[e]; ++i)
            cov[items + plists[e * kc + i]] = 1;
    }
    share->users = ne;
    share->fig = fig;
    share->cov = cov;
    fig = NULL;
    cov = NULL;
done:
    sm_free(counts);
    sm_free(fig);
    sm_free(pop);
    sm_free(popos);
    sm_free(cov);
    sm_free(mlists);
    sm_free(plists);
    sm_free(pcounts);
    grouped_free(&g);
    return st;
}

void sm_eval_combine(const sm_eval_fig *fig, size_t ne, const unsigned char *cov, size_t items,
                     signmf_eval_result *out)
{
    double sm[6] = {0}, sp[6] = {0};
    size_t auc_n = 0;
    for (size_t e = 0; e < ne; ++e) {
        for (int q = 0; q < 5; ++q) {
            sm[q] += fig[e].model[q];
            sp[q] += fig[e].pop[q];
        }
        if (!isnan(fig[e].model[5])) {
            sm[5] += fig[e].model[5];
            sp[5] += fig[e].pop[5];
            auc_n++;
        }
    }
    out->users = ne;
    out->auc_users = auc_n;
    size_t cm = 0, cp = 0;
    for (size_t j = 0; j < items; ++j) {
        cm += cov[j];
        cp += cov[items + j];
    }
    double dn = ne ? (double)ne : NAN, da = auc_n ? (double)auc_n : NAN;
    out->model = (signmf_metrics){sm[0] / dn,
                                  sm[1] / dn,
                                  sm[2] / dn,
                                  sm[3] / dn,
                                  sm[4] / dn,
                                  sm[5] / da,
                                  ne ? (double)cm / (double)items : NAN};
    out->popularity = (signmf_metrics){sp[0] / dn,
                                       sp[1] / dn,
                                       sp[2] / dn,
                                       sp[3] / dn,
                                       sp[4] / dn,
                                       sp[5] / da,
                                       ne ? (double)cp / (double)items : NAN};
}

SIGNMF_API signmf_status signmf_evaluate(const signmf_model *m, const signmf_ratings *test,
                                         const signmf_eval_options *opt, signmf_eval_result *out,
                                         signmf_error *err)
{
    sm_eval_share sh;
    signmf_status st = sm_evaluate_share(m, test, opt, NULL, out, &sh, err);
    if (st != SIGNMF_OK)
        return st;
    sm_eval_combine(sh.fig, sh.users, sh.cov, m->items, out);
    sm_eval_share_free(&sh);
    return SIGNMF_OK;
}
