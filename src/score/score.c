/* Top-k recommendations: score every unrated item of a user and keep the k
 * best in a small heap. */
#include "../model/model.h"

#include <math.h>

typedef struct cand {
    double score;
    size_t index;
} cand;

/* Strict total order "a ranks before b": higher score first, NaN last, ties
 * to the lower item index. */
static bool ranks_before(cand a, cand b)
{
    bool an = isnan(a.score), bn = isnan(b.score);
    if (an != bn)
        return bn;
    if (!an && a.score != b.score)
        return a.score > b.score;
    return a.index < b.index;
}

/* Min-heap on rank: the root is the worst kept candidate. */
static void sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ranks_before(h[w], h[l]))
            w = l;
        if (r < n && ranks_before(h[w], h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(cand *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ranks_before(h[p], h[i]))
            return;
        cand t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static double dot_f32(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t d = 0; d < n; d++)
        s += (double)a[d] * (double)b[d];
    return s;
}

static double dot_f64(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t d = 0; d < n; d++)
        s += a[d] * b[d];
    return s;
}

SIGNMF_API signmf_status signmf_recommend(const signmf_model *m, int64_t user, size_t k,
                                          signmf_rec *out, size_t *count, signmf_error *err)
{
    if (count != NULL)
        *count = 0;
    if (m == NULL || count == NULL || (k > 0 && out == NULL))
        return sm_fail(err, SIGNMF_EINVAL, "signmf_recommend: model, out and count must be set");
    size_t u;
    if (sm_idmap_index(&m->user_map, user, &u) != SIGNMF_OK || u >= m->users)
        return sm_fail(err, SIGNMF_ENOTFOUND,
                       "signmf_recommend: expected a user id of the model, found %lld",
                       (long long)user);
    if (k == 0)
        return SIGNMF_OK;
    size_t cap = k < m->items ? k : m->items;
    cand *heap = sm_alloc(cap ? cap : 1, sizeof *heap);
    if (heap == NULL)
        return sm_fail(err, SIGNMF_ENOMEM, "signmf_recommend: out of memory for %zu results", k);

    const size_t dim = m->dim;
    const uint32_t *rated = m->rated_idx + m->rated_ptr[u];
    const uint32_t *rated_end = m->rated_idx + m->rated_ptr[u + 1];
    size_t n = 0;
    for (size_t j = 0; j < m->items; j++) {
        /* rated rows are sorted: walk them alongside j */
        while (rated < rated_end && *rated < j)
            rated++;
        if (rated < rated_end && *rated == j)
            continue;
        cand c;
        c.index = j;
        if (m->precision == SIGNMF_F64)
            c.score = dot_f64((const double *)m->P + u * dim, (const double *)m->Qt + j * dim, dim);
        else
            c.score = dot_f32((const float *)m->P + u * dim, (const float *)m->Qt + j * dim, dim);
        if (n < cap) {
            heap[n] = c;
            sift_up(heap, n);
            n++;
        } else if (ranks_before(c, heap[0])) {
            heap[0] = c;
            sift_down(heap, n, 0);
        }
    }
    /* Pop worst-first into the back of out: best ends up first. */
    for (size_t i = n; i > 0; i--) {
        out[i - 1].item = sm_idmap_id(&m->item_map, heap[0].index);
        out[i - 1].score = heap[0].score;
        heap[0] = heap[i - 1];
        sift_down(heap, i - 1, 0);
    }
    *count = n;
    sm_free(heap);
    return SIGNMF_OK;
}
