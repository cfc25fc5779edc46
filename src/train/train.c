/* The training driver: layout, numpy-compatible initialisation, the
 * parallel schedule of fused passes, and the epoch loop. The arithmetic
 * lives in the kernels; this file only decides who computes what, so any
 * schedule (and any thread count) gives the same bits. */
#include "train.h"

#include "../rng/rng.h"
#include "ortho.h"
#include "part.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

signmf_params signmf_params_default(void)
{
    signmf_params p;
    memset(&p, 0, sizeof p);
    p.dim = 512;
    p.lr = 1e-3;
    p.seed = 1;
    p.threads = 0;
    p.precision = SIGNMF_F32;
    p.sign_rule = SIGNMF_SIGN_MEAN;
    p.threshold = 4.0;
    p.rescale = 0;
    p.method = SIGNMF_METHOD_NOTEBOOK;
    p.rated_weight = 0.0;
    p.degree_exp = 0.0;
    p.shrink = 0.0;
    return p;
}

signmf_params signmf_params_for(signmf_method method)
{
    signmf_params p = signmf_params_default();
    if (method == SIGNMF_METHOD_ORTHONORMAL) {
        p.method = method;
        p.dim = 32;
        p.lr = 1.0;
        p.rated_weight = 3.0;
        p.degree_exp = 0.2;
        p.shrink = 0.75;
    }
    return p;
}

const char *signmf_method_name(signmf_method method)
{
    switch (method) {
    case SIGNMF_METHOD_NOTEBOOK:
        return "notebook";
    case SIGNMF_METHOD_ORTHONORMAL:
        return "orthonormal";
    }
    return NULL;
}

static signmf_status check_params(const signmf_params *p, signmf_error *err)
{
    if (p->dim == 0)
        return sm_fail(err, SIGNMF_EINVAL, "dimension must be at least 1, found 0");
    if (!isfinite(p->lr) || p->lr < 0)
        return sm_fail(err, SIGNMF_EINVAL, "learning rate must be finite and >= 0, found %g",
                       p->lr);
    if (p->threads < 0)
        return sm_fail(err, SIGNMF_EINVAL, "threads must be >= 0, found %d", p->threads);
    if (p->precision != SIGNMF_F32 && p->precision != SIGNMF_F64 && p->precision != SIGNMF_BF16)
        return sm_fail(err, SIGNMF_EINVAL, "unknown precision %d", (int)p->precision);
    if (p->sign_rule > SIGNMF_SIGN_OBSERVED)
        return sm_fail(err, SIGNMF_EINVAL, "unknown sign rule %d", (int)p->sign_rule);
    if (p->sign_rule == SIGNMF_SIGN_THRESHOLD && !isfinite(p->threshold))
        return sm_fail(err, SIGNMF_EINVAL, "threshold must be finite");
    if (p->method != SIGNMF_METHOD_NOTEBOOK && p->method != SIGNMF_METHOD_ORTHONORMAL)
        return sm_fail(err, SIGNMF_EINVAL, "unknown method %d", (int)p->method);
    if (p->method == SIGNMF_METHOD_NOTEBOOK) {
        if (p->rated_weight != 0.0 || p->degree_exp != 0.0 || p->shrink != 0.0)
            return sm_fail(err, SIGNMF_EINVAL,
                           "rated_weight, degree_exp and shrink apply to the orthonormal method "
                           "only (found %g, %g and %g with the notebook method)",
                           p->rated_weight, p->degree_exp, p->shrink);
        return SIGNMF_OK;
    }
    if (!isfinite(p->rated_weight) || p->rated_weight < 0)
        return sm_fail(err, SIGNMF_EINVAL, "rated weight must be finite and >= 0, found %g",
                       p->rated_weight);
    if (!(p->degree_exp >= 0 && p->degree_exp <= 1))
        return sm_fail(err, SIGNMF_EINVAL, "degree exponent must be in [0, 1], found %g",
                       p->degree_exp);
    if (!(p->shrink >= 0 && p->shrink <= 1))
        return sm_fail(err, SIGNMF_EINVAL, "shrink must be in [0, 1], found %g", p->shrink);
    if (p->rescale)
        return sm_fail(err, SIGNMF_EINVAL,
                       "rescale does not apply to the orthonormal method (its factors stay "
                       "orthonormal)");
    return SIGNMF_OK;
}

void signmf_trainer_free(signmf_trainer *t)
{
    if (!t)
        return;
    sm_signs_release(&t->by_user);
    sm_signs_release(&t->by_item);
    for (int i = 0; i < 2; ++i) {
        sm_free(t->P[i]);
        sm_free(t->Q[i]);
        sm_free(t->Pb[i]);
        sm_free(t->Qb[i]);
    }
    sm_free(t->dots);
    for (int side = 0; side < 2; ++side) {
        sm_free(t->pofs[side]);
        sm_free(t->mofs[side]);
    }
    free(t->tasks);
    sm_idmap_release(&t->user_map);
    sm_idmap_release(&t->item_map);
    sm_zeros_release(&t->zero);
    sm_zeros_release(&t->part_zero);
    sm_ortho_free(t->orth);
    sm_free(t->slot[0]);
    sm_free(t->slot[1]);
    free(t);
}

/* Per-core L2 in bytes, 0 when unknown. */
static size_t l2_bytes(void)
{
#if defined(_SC_LEVEL2_CACHE_SIZE)
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? (size_t)v : 0;
#else
    return 0;
#endif
}

/* Panel width: wide enough to give the kernels full register strips, and
 * small enough that a panel of the larger side stays in half the L2 beside
 * the rows being written: 256-byte rows where that fits (or where nothing
 * does, and blocking takes over), else 128-byte rows. On a 512 KiB L2 (Zen
 * 3) ua.base at k = 512 takes 3.5-3.9 ms an epoch in 128-byte rows against
 * 4.5-6.6 ms in 256-byte ones. The width never changes the embeddings, only
 * the order in which the loss's per-panel parts are added (its last bits).
 * SIGNMF_PANEL overrides it for benchmarks. */
static size_t choose_panel(size_t lanes, size_t kpad, signmf_precision prec, size_t rows)
{
    /* in bf16 the gathered rows are the 2-byte shadow */
    size_t es = prec == SIGNMF_F64 ? 8 : prec == SIGNMF_BF16 ? 2 : 4, w = 256 / es, l2 = l2_bytes();
    if (l2 > 0 && rows > l2 / 2 / 256 && rows <= l2 / 2 / 128)
        w = 128 / es;
    const char *env = getenv("SIGNMF_PANEL");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && v >= lanes && v <= 4096)
            w = v / lanes * lanes;
    }
    if (w < lanes)
        w = lanes;
    return w < kpad ? w : kpad;
}

/* Cut each side of each panel into blocks of about equal work so that the
 * pass can be split across threads; the split never changes results. */
static signmf_status build_tasks(signmf_trainer *t)
{
    size_t want = 8 * (size_t)t->threads;
    size_t per_all = (want + 2 * t->npanels - 1) / (2 * t->npanels);
    if (per_all < 1)
        per_all = 1;
    size_t most = per_all;
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? t->items : t->users;
        if (t->nblocks[side] > 1 && most < (rows + SM_TASK_ROWS - 1) / SM_TASK_ROWS)
            most = (rows + SM_TASK_ROWS - 1) / SM_TASK_ROWS;
    }
    size_t cap = 2 * t->npanels * most;
    free(t->tasks);
    t->tasks = calloc(cap, sizeof *t->tasks);
    if (!t->tasks)
        return SIGNMF_ENOMEM;
    t->ntasks = 0;
    for (size_t c = 0; c < t->npanels; ++c)
        for (uint32_t side = 0; side < 2; ++side) {
            const sm_signs *s = side ? &t->by_item : &t->by_user;
            /* only the owned rows; all of them in a whole trainer */
            size_t lo = t->own[side][0], hi = t->own[side][1], base = s->ptr[lo] + lo;
            size_t total = s->ptr[hi] + hi - base, r = lo, per = per_all;
            /* a blocked side's task keeps its gradient rows in L2 beside
             * the source block */
            if (t->nblocks[side] > 1 && per < (s->rows + SM_TASK_ROWS - 1) / SM_TASK_ROWS)
                per = (s->rows + SM_TASK_ROWS - 1) / SM_TASK_ROWS;
            for (size_t b = 0; b < per && r < hi; ++b) {
                size_t goal = (b + 1 == per) ? total : total / per * (b + 1);
                size_t r0 = r;
                while (r < hi && s->ptr[r] + r - base < goal)
                    ++r;
                if (b + 1 == per)
                    r = hi;
                if (r > r0)
                    t->tasks[t->ntasks++] = (sm_task){side, (uint32_t)c, r0, r};
            }
        }
    return SIGNMF_OK;
}

/* How many source blocks a side uses. A fixed function of the data's
 * shape, never of threads, ISA or cache size, because blocking fixes the
 * summation order (block by block) and so the bits. SIGNMF_BLOCKED=0
 * turns it off, for benchmarks. */
static size_t side_blocks(const signmf_trainer *t, size_t src_rows)
{
    size_t br = t->block_rows;
    return src_rows <= br ? 1 : (src_rows + br - 1) / br;
}

/* Offsets, per row, of each block's first entry within the row's +1 and -1
 * segments (each sorted ascending, so a block is a contiguous run). */
signmf_status sm_build_block_tables(const signmf_trainer *t, const sm_signs *s, size_t nb,
                                    uint32_t **pop, uint32_t **mop, signmf_error *err)
{
    size_t rows = s->rows, n;
    if (sm_mul_overflows(nb + 1, rows, &n))
        return sm_fail(err, SIGNMF_EOVERFLOW, "block table size overflows");
    *pop = sm_alloc(n ? n : 1, sizeof(uint32_t));
    *mop = sm_alloc(n ? n : 1, sizeof(uint32_t));
    if (!*pop || !*mop)
        return sm_fail(err, SIGNMF_ENOMEM, "cannot allocate the block tables of %zu rows", rows);
    uint32_t *po = *pop, *mo = *mop;
#pragma omp parallel for num_threads(t->threads) schedule(static)
    for (size_t r = 0; r < rows; ++r) {
        size_t e = s->ptr[r], f = s->mid[r];
        for (size_t b = 0; b < nb; ++b) {
            size_t lim = b * t->block_rows;
            while (e < s->mid[r] && s->idx[e] < lim)
                ++e;
            while (f < s->ptr[r + 1] && s->idx[f] < lim)
                ++f;
            po[b * rows + r] = (uint32_t)(e - s->ptr[r]);
            mo[b * rows + r] = (uint32_t)(f - s->mid[r]);
        }
        po[nb * rows + r] = (uint32_t)(s->mid[r] - s->ptr[r]);
        mo[nb * rows + r] = (uint32_t)(s->ptr[r + 1] - s->mid[r]);
    }
    return SIGNMF_OK;
}

static signmf_status alloc_layout(signmf_trainer *t, signmf_error *err)
{
    size_t lanes = t->params.precision == SIGNMF_F64 ? SM_LANES_F64 : SM_LANES_F32;
    if (t->dim > SIZE_MAX - lanes)
        return sm_fail(err, SIGNMF_EOVERFLOW, "dimension %zu is too large", t->dim);
    t->kpad = (t->dim + lanes - 1) / lanes * lanes;
    t->panel = choose_panel(lanes, t->kpad, t->params.precision,
                            t->users > t->items ? t->users : t->items);
    t->npanels = (t->kpad + t->panel - 1) / t->panel;
    t->esize = t->params.precision == SIGNMF_F64 ? 8 : 4; /* bf16: the f32 master */
    size_t pn, qn, dn;
    if (sm_mul_overflows(t->users, t->kpad, &pn) || sm_mul_overflows(t->items, t->kpad, &qn) ||
        sm_mul_overflows(t->npanels, t->users, &dn) || pn > SIZE_MAX / 16 || qn > SIZE_MAX / 16)
        return sm_fail(err, SIGNMF_EOVERFLOW, "embedding size %zu x %zu / %zu x %zu overflows",
                       t->users, t->dim, t->items, t->dim);
    for (int i = 0; i < 2; ++i) {
        t->P[i] = sm_calloc_huge(pn ? pn : 1, t->esize);
        t->Q[i] = sm_calloc_huge(qn ? qn : 1, t->esize);
        if (!t->P[i] || !t->Q[i])
            return sm_fail(err, SIGNMF_ENOMEM,
                           "cannot allocate embeddings of %zu x %zu and %zu x %zu (%s)", t->users,
                           t->dim, t->items, t->dim, t->esize == 8 ? "float64" : "float32");
        if (t->params.precision == SIGNMF_BF16) {
            t->Pb[i] = sm_calloc_huge(pn ? pn : 1, sizeof(uint16_t));
            t->Qb[i] = sm_calloc_huge(qn ? qn : 1, sizeof(uint16_t));
            if (!t->Pb[i] || !t->Qb[i])
                return sm_fail(err, SIGNMF_ENOMEM,
                               "cannot allocate the bf16 shadows of %zu x %zu and %zu x %zu",
                               t->users, t->dim, t->items, t->dim);
        }
    }
    t->dots = sm_calloc(dn ? dn : 1, sizeof(double));
    if (!t->dots)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory");
    t->block_rows = SM_BLOCK_ROWS;
    const char *env = getenv("SIGNMF_BLOCK_ROWS");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && v > 0)
            t->block_rows = v;
    }
    t->nblocks[0] = side_blocks(t, t->items);
    t->nblocks[1] = side_blocks(t, t->users);
    for (int side = 0; side < 2; ++side)
        if (t->nblocks[side] > 1) {
            signmf_status st =
                sm_build_block_tables(t, side ? &t->by_item : &t->by_user, t->nblocks[side],
                                      &t->pofs[side], &t->mofs[side], err);
            if (st != SIGNMF_OK)
                return st;
        }
    if (build_tasks(t) != SIGNMF_OK)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory");
    return SIGNMF_OK;
}

static inline size_t panel_index(const signmf_trainer *t, size_t rows, size_t r, size_t col)
{
    size_t c = col / t->panel;
    return sm_panel_offset(t, rows, c) + r * sm_panel_width(t, c) + col % t->panel;
}

void sm_to_panels(const signmf_trainer *t, const void *rowmajor, void *panels, size_t rows)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < t->npanels; ++c) {
            size_t w = sm_panel_width(t, c), col0 = c * t->panel;
            size_t n = col0 + w <= t->dim ? w : (col0 < t->dim ? t->dim - col0 : 0);
            char *dst = (char *)panels + (sm_panel_offset(t, rows, c) + r * w) * t->esize;
            memcpy(dst, (const char *)rowmajor + (r * t->dim + col0) * t->esize, n * t->esize);
            memset(dst + n * t->esize, 0, (w - n) * t->esize);
        }
}

void sm_from_panels(const signmf_trainer *t, const void *panels, void *rowmajor, size_t rows)
{
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < t->npanels; ++c) {
            size_t w = sm_panel_width(t, c), col0 = c * t->panel;
            size_t n = col0 + w <= t->dim ? w : (col0 < t->dim ? t->dim - col0 : 0);
            const char *src =
                (const char *)panels + (sm_panel_offset(t, rows, c) + r * w) * t->esize;
            memcpy((char *)rowmajor + (r * t->dim + col0) * t->esize, src, n * t->esize);
        }
}

void sm_refresh_shadows(signmf_trainer *t)
{
    if (t->params.precision != SIGNMF_BF16)
        return;
    const int c = t->cur;
    t->kern->cvt_bf16((const float *)t->P[c], t->users * t->kpad, t->Pb[c]);
    t->kern->cvt_bf16((const float *)t->Q[c], t->items * t->kpad, t->Qb[c]);
}

/* n draws into a side (`rows` rows) in panel layout, the i-th at row
 * r0 + i (along = rows) or column c0 + i (along columns), from row r0,
 * column c0. */
static void draw_run(const signmf_trainer *t, sm_rng *rng, double *buf, size_t n, void *side,
                     size_t rows, size_t r0, size_t c0, bool along_rows)
{
    sm_rng_gauss_fill(rng, buf, n);
    for (size_t i = 0; i < n; ++i) {
        size_t at =
            along_rows ? panel_index(t, rows, r0 + i, c0) : panel_index(t, rows, r0, c0 + i);
        if (t->params.precision == SIGNMF_F64)
            ((double *)side)[at] = buf[i];
        else
            ((float *)side)[at] = (float)buf[i];
    }
}

/* np.random.seed(s); Usr = normal(size=(users, k)); Itm = normal(size=(k,
 * items)) -- the same draws, in the same order, into the panel layout: a
 * row of P or of Q at a time (one draw at a time if the buffer cannot be
 * had). */
static void init_embeddings(signmf_trainer *t)
{
    sm_rng rng;
    sm_rng_seed(&rng, t->params.seed);
    void *P = t->P[t->cur], *Q = t->Q[t->cur];
    size_t most = t->dim > t->items ? t->dim : t->items;
    double one, *buf = most > 1 ? malloc(most * sizeof *buf) : NULL;
    size_t chunk = buf ? most : 1;
    if (!buf)
        buf = &one;
    for (size_t i = 0; i < t->users; ++i)
        for (size_t k0 = 0; k0 < t->dim; k0 += chunk)
            draw_run(t, &rng, buf, t->dim - k0 < chunk ? t->dim - k0 : chunk, P, t->users, i, k0,
                     false);
    for (size_t kk = 0; kk < t->dim; ++kk)
        for (size_t j0 = 0; j0 < t->items; j0 += chunk)
            draw_run(t, &rng, buf, t->items - j0 < chunk ? t->items - j0 : chunk, Q, t->items, j0,
                     kk, true);
    if (buf != &one)
        free(buf);
}

/* threads = 0: every core, unless an epoch is too small to pay for a
 * second thread (signmf.h, signmf_params.threads). Below SM_SMALL_EPOCH
 * row-element adds the barriers of one epoch's parallel regions cost more
 * than the split saves, and far more when another process holds a core
 * and a worker is descheduled. ua.base, --method orthonormal at dim 20
 * (1.8M adds), AVX2 EPYC: 0.12-0.13 s on one thread against 0.13-0.15 s
 * on two when quiet, 0.12-0.24 s against 0.39-0.86 s beside two compiles;
 * at dim 64 (5.8M) the notebook method's two threads take 0.05 s against
 * 0.07-0.08 s. The orthonormal method's epoch adds the dense algebra
 * and more parallel regions, so its second core pays later: on ua.base
 * (Zen 3, quiet, 2026-12-04) at dim 32 (2.9M adds) two threads took 104 ms
 * against 93 ms on one, at dim 48 (4.3M) 153 ms against 175 ms, at dim
 * 64 (5.8M) 239 ms against 262 ms. The choice never changes results (the
 * split does not). */
#define SM_SMALL_EPOCH       ((size_t)1 << 21)
#define SM_SMALL_EPOCH_ORTHO ((size_t)1 << 22)
static int resolve_threads(int threads, size_t entries, size_t dim, signmf_method method)
{
    if (threads > 0)
        return threads;
    size_t small = method == SIGNMF_METHOD_ORTHONORMAL ? SM_SMALL_EPOCH_ORTHO : SM_SMALL_EPOCH;
    if (entries <= small / (dim ? dim : 1))
        return 1;
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

/* With `own` (== &r), the ratings are freed as soon as D by user is built,
 * before its transpose and the embeddings take memory, and in every case
 * *own is NULL on return. */
static signmf_status trainer_new(const signmf_ratings *r, signmf_ratings **own,
                                 const signmf_params *p, signmf_trainer **out, signmf_error *err)
{
    *out = NULL;
    signmf_trainer *t = NULL;
    signmf_status st = SIGNMF_OK;
    if (!r || !p) {
        st = sm_fail(err, SIGNMF_EINVAL, "ratings and parameters are required");
        goto fail;
    }
    if ((st = check_params(p, err)) != SIGNMF_OK)
        goto fail;
    t = calloc(1, sizeof *t);
    if (!t) {
        st = sm_fail(err, SIGNMF_ENOMEM, "out of memory");
        goto fail;
    }
    t->params = *p;
    t->users = r->users;
    t->items = r->items;
    t->own[0][1] = r->users;
    t->own[1][1] = r->items;
    t->dim = p->dim;
    t->kern = sm_kernels_active();
    const char *pf = getenv("SIGNMF_PREFETCH");
    t->prefetch = pf && *pf ? (strcmp(pf, "0") != 0) : -1;
    t->last_loss = NAN;
    sm_sign_options so = {p->sign_rule, p->threshold};
    if (sm_idmap_copy(&r->user_map, &t->user_map) != SIGNMF_OK ||
        sm_idmap_copy(&r->item_map, &t->item_map) != SIGNMF_OK) {
        st = sm_fail(err, SIGNMF_ENOMEM, "out of memory");
        goto fail;
    }
    t->data_crc = sm_ratings_crc(r);
    if ((st = sm_signs_build_rows(r, &so, &t->by_user, &t->zero, err)) != SIGNMF_OK)
        goto fail;
    if (own) {
        signmf_ratings_free(*own);
        *own = NULL;
    }
    t->threads = resolve_threads(p->threads, t->by_user.nnz + t->zero.nnz, t->dim, p->method);
    if ((st = sm_signs_transpose(&t->by_user, &t->by_item, err)) != SIGNMF_OK ||
        (st = alloc_layout(t, err)) != SIGNMF_OK)
        goto fail;
    if (p->method == SIGNMF_METHOD_ORTHONORMAL && (st = sm_ortho_setup(t, err)) != SIGNMF_OK)
        goto fail;
    *out = t;
    return SIGNMF_OK;
fail:
    signmf_trainer_free(t);
    if (own) {
        signmf_ratings_free(*own);
        *own = NULL;
    }
    return st;
}

/* The draws, and for the orthonormal method their orthonormalisation;
 * on failure the trainer is freed. */
static signmf_status init_state(signmf_trainer **t, signmf_error *err)
{
    init_embeddings(*t);
    sm_refresh_shadows(*t);
    if (!(*t)->orth)
        return SIGNMF_OK;
    signmf_status st = sm_ortho_init_from_draws(*t, err);
    if (st != SIGNMF_OK) {
        signmf_trainer_free(*t);
        *t = NULL;
    }
    return st;
}

signmf_status signmf_trainer_create(const signmf_ratings *r, const signmf_params *p,
                                    signmf_trainer **out, signmf_error *err)
{
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "out must not be NULL");
    signmf_status st = trainer_new(r, NULL, p, out, err);
    if (st == SIGNMF_OK)
        st = init_state(out, err);
    return st;
}

signmf_status signmf_trainer_create_consume(signmf_ratings **r, const signmf_params *p,
                                            signmf_trainer **out, signmf_error *err)
{
    if (!r) {
        if (out)
            *out = NULL;
        return sm_fail(err, SIGNMF_EINVAL, "ratings must not be NULL");
    }
    if (!out) {
        signmf_ratings_free(*r);
        *r = NULL;
        return sm_fail(err, SIGNMF_EINVAL, "out must not be NULL");
    }
    signmf_status st = trainer_new(*r, r, p, out, err);
    if (st == SIGNMF_OK)
        st = init_state(out, err);
    return st;
}

/* A run of tasks on a blocked side (consecutive rows of one side and
 * panel, all of one thread): block after block, every task of the run
 * accumulates that block into its gradient rows, then every task updates.
 * Block-outer order keeps one source block in L2 for all the run's rows;
 * a row still receives its blocks in order, so the bits do not depend on
 * how rows are cut into tasks or runs. */
static void blocked_run(const signmf_trainer *t, const sm_kernels *k, const sm_task *run,
                        size_t nrun, size_t nb, const sm_signs *s, size_t w, size_t rows,
                        const void *self, const void *src, void *out, uint16_t *outb, void *grad,
                        double a, double sc, double *dot, int *bad)
{
    const uint32_t *po = t->pofs[run->side], *mo = t->mofs[run->side];
    const bool bf16 = t->params.precision == SIGNMF_BF16;
    /* src rows are indexed globally: block b is simply where its indices
     * point */
    for (size_t b = 0; b < nb; ++b)
        for (size_t i = 0; i < nrun; ++i) {
            const sm_task *tk = &run[i];
            const uint32_t *p0 = po + b * rows, *p1 = po + (b + 1) * rows;
            const uint32_t *m0 = mo + b * rows, *m1 = mo + (b + 1) * rows;
            if (t->esize == 8)
                k->accum_f64(s, p0, p1, m0, m1, tk->r0, tk->r1, w, (const double *)src,
                             (double *)grad, b == 0);
            else if (bf16)
                k->accum_bf16(s, p0, p1, m0, m1, tk->r0, tk->r1, w, (const uint16_t *)src,
                              (float *)grad, b == 0);
            else
                k->accum_f32(s, p0, p1, m0, m1, tk->r0, tk->r1, w, (const float *)src,
                             (float *)grad, b == 0);
        }
    for (size_t i = 0; i < nrun; ++i) {
        const sm_task *tk = &run[i];
        if (t->esize == 8)
            *bad |= k->update_f64(tk->r0, tk->r1, w, (const double *)self, (const double *)grad,
                                  (double *)out, a, sc, dot);
        else if (bf16)
            *bad |= k->update_bf16(tk->r0, tk->r1, w, (const float *)self, (const float *)grad,
                                   (float *)out, outb, (float)a, (float)sc, dot);
        else
            *bad |= k->update_f32(tk->r0, tk->r1, w, (const float *)self, (const float *)grad,
                                  (float *)out, (float)a, (float)sc, dot);
    }
}

/* Work of a task, for splitting a pass evenly: its signs plus a row each. */
static inline size_t task_cost(const signmf_trainer *t, const sm_task *tk)
{
    const sm_signs *s = tk->side ? &t->by_item : &t->by_user;
    return s->ptr[tk->r1] - s->ptr[tk->r0] + (tk->r1 - tk->r0);
}

int sm_train_pass(signmf_trainer *t, const sm_kernels *k, const double *a, double sc, double *loss)
{
    int bad = 0;
    const int cur = t->cur;
    const size_t ntasks = t->ntasks;
    const bool f64 = t->params.precision == SIGNMF_F64;
    const bool bf16 = t->params.precision == SIGNMF_BF16;
    /* contiguous slices of the task list, balanced by work, keep a thread
     * on the same panels for both sides */
    size_t total = 0;
    for (size_t i = 0; i < ntasks; ++i) {
        const sm_task *tk = &t->tasks[i];
        if (!a && tk->side)
            continue;
        total += task_cost(t, tk);
    }
#pragma omp parallel num_threads(t->threads) reduction(| : bad)
    {
        size_t nth = (size_t)omp_get_num_threads(), tid = (size_t)omp_get_thread_num();
        size_t lo = total * tid / nth, hi = total * (tid + 1) / nth, pos = 0;
        for (size_t i = 0; i < ntasks; ++i) {
            const sm_task *tk = &t->tasks[i];
            if (!a && tk->side)
                continue;
            const sm_signs *s = tk->side ? &t->by_item : &t->by_user;
            size_t cost = task_cost(t, tk);
            size_t mine = pos >= lo && pos < hi;
            pos += cost;
            if (!mine)
                continue;
            /* on a blocked side, this thread's following tasks of the same
             * side and panel go with this one, as a run */
            size_t nrun = 1;
            if (t->nblocks[tk->side] > 1)
                while (i + nrun < ntasks && tk[nrun].side == tk->side &&
                       tk[nrun].panel == tk->panel && pos < hi) {
                    pos += task_cost(t, &tk[nrun]);
                    nrun++;
                }
            i += nrun - 1;
            size_t c = tk->panel, w = sm_panel_width(t, c);
            size_t rows = tk->side ? t->items : t->users;
            size_t other = tk->side ? t->users : t->items;
            void *selfb = tk->side ? t->Q[cur] : t->P[cur];
            void *srcb = tk->side ? t->P[cur] : t->Q[cur];
            void *outb = tk->side ? t->Q[1 - cur] : t->P[1 - cur];
            size_t so = sm_panel_offset(t, rows, c), oo = sm_panel_offset(t, other, c);
            double *dot = tk->side ? NULL : t->dots + c * t->users;
            /* gathers from a panel beyond L2 wait on memory latency
             * unless rows are prefetched ahead */
            /* bf16: the gathered rows are the other side's shadow, and
             * the shadow of the rows written goes beside them */
            const uint16_t *srch = NULL;
            uint16_t *outh = NULL;
            if (bf16) {
                srch = (tk->side ? t->Pb[cur] : t->Qb[cur]) + oo;
                outh = (tk->side ? t->Qb[1 - cur] : t->Pb[1 - cur]) + so;
            }
            size_t src_es = bf16 ? sizeof(uint16_t) : t->esize;
            bool pf = t->prefetch > 0 || (t->prefetch < 0 && other * w * src_es > SM_PF_BYTES);
            size_t nb = t->nblocks[tk->side];
            if (nb > 1) {
                blocked_run(t, k, tk, nrun, nb, s, w, rows, (const char *)selfb + so * t->esize,
                            bf16 ? (const void *)srch : (const char *)srcb + oo * t->esize,
                            a ? (char *)outb + so * t->esize : NULL, a ? outh : NULL,
                            (char *)outb + so * t->esize, a ? *a : 0.0, sc, dot, &bad);
                continue;
            }
            if (bf16) {
                const float *self = (const float *)selfb + so;
                float *out = a ? (float *)outb + so : NULL;
                bad |= (pf ? k->gather_pf_bf16
                           : k->gather_bf16)(s, tk->r0, tk->r1, w, srch, self, out, a ? outh : NULL,
                                             a ? (float)*a : 0.0f, (float)sc, dot);
            } else if (f64) {
                const double *self = (const double *)selfb + so, *src = (const double *)srcb + oo;
                double *out = a ? (double *)outb + so : NULL;
                bad |= (pf ? k->gather_pf_f64 : k->gather_f64)(s, tk->r0, tk->r1, w, src, self, out,
                                                               a ? *a : 0.0, sc, dot);
            } else {
                const float *self = (const float *)selfb + so, *src = (const float *)srcb + oo;
                float *out = a ? (float *)outb + so : NULL;
                bad |= (pf ? k->gather_pf_f32 : k->gather_f32)(
                    s, tk->r0, tk->r1, w, src, self, out, a ? (float)*a : 0.0f, (float)sc, dot);
            }
        }
    }
    if (t->hooks.gather) {
        /* every process needs every row of the next state, and the loss
         * parts of every user so that all add them in the one order */
        for (size_t c = 0; c < t->npanels; ++c) {
            size_t rb = sm_panel_width(t, c) * t->esize;
            if (a) {
                sm_part_gather(
                    t, 0, (char *)t->P[1 - cur] + sm_panel_offset(t, t->users, c) * t->esize, rb);
                sm_part_gather(
                    t, 1, (char *)t->Q[1 - cur] + sm_panel_offset(t, t->items, c) * t->esize, rb);
                if (t->Pb[1 - cur]) {
                    /* the owners' shadows: narrowing is exact, so these are
                     * the bits this process would have written */
                    size_t hb = sm_panel_width(t, c) * sizeof(uint16_t);
                    sm_part_gather(t, 0, t->Pb[1 - cur] + sm_panel_offset(t, t->users, c), hb);
                    sm_part_gather(t, 1, t->Qb[1 - cur] + sm_panel_offset(t, t->items, c), hb);
                }
            }
            sm_part_gather(t, 0, t->dots + c * t->users, sizeof(double));
        }
        bad = sm_part_any(t, bad | t->hook_failed);
    }
    /* fixed order: panel by panel, user by user */
    double sum = 0.0;
    if (t->slot[0]) {
        for (size_t c = 0; c < t->npanels; ++c)
            for (size_t u = 0; u < t->users; ++u)
                sum += t->dots[c * t->users + t->slot[0][u]];
    } else {
        size_t n = t->npanels * t->users;
        for (size_t i = 0; i < n; ++i)
            sum += t->dots[i];
    }
    *loss = sum;
    return bad;
}

typedef struct deg_key {
    size_t deg;
    uint32_t row;
} deg_key;

static int deg_cmp(const void *x, const void *y)
{
    const deg_key *a = x, *b = y;
    if (a->deg != b->deg)
        return a->deg > b->deg ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

/* The rows of `s` at their slots (row_at[slot] = row; NULL keeps rows),
 * every index through col_slot (NULL keeps indices), in the same order. */
static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static signmf_status permute_signs(const sm_signs *s, const uint32_t *row_at,
                                   const uint32_t *col_slot, bool resort, sm_signs *o)
{
    o->rows = s->rows, o->cols = s->cols, o->nnz = s->nnz;
    o->ptr = sm_alloc(s->rows + 1, sizeof *o->ptr);
    o->mid = sm_alloc(s->rows ? s->rows : 1, sizeof *o->mid);
    o->idx = sm_alloc(s->nnz ? s->nnz : 1, sizeof *o->idx);
    if (!o->ptr || !o->mid || !o->idx)
        return SIGNMF_ENOMEM;
    size_t e = 0;
    o->ptr[0] = 0;
    for (size_t q = 0; q < s->rows; ++q) {
        size_t r = row_at ? row_at[q] : q;
        o->mid[q] = e + (s->mid[r] - s->ptr[r]);
        for (size_t i = s->ptr[r]; i < s->ptr[r + 1]; ++i)
            o->idx[e++] = col_slot ? col_slot[s->idx[i]] : s->idx[i];
        o->ptr[q + 1] = e;
        if (resort && col_slot) {
            qsort(o->idx + o->ptr[q], o->mid[q] - o->ptr[q], sizeof *o->idx, u32_cmp);
            qsort(o->idx + o->mid[q], o->ptr[q + 1] - o->mid[q], sizeof *o->idx, u32_cmp);
        }
    }
    return SIGNMF_OK;
}

/* Rows of `n` elements of `es` bytes moved to their slots. */
static signmf_status permute_rows(void *base, size_t rows, size_t n, size_t es,
                                  const uint32_t *slot)
{
    size_t rb = n * es;
    char *tmp = malloc(rows * rb > 0 ? rows * rb : 1);
    if (!tmp)
        return SIGNMF_ENOMEM;
    for (size_t r = 0; r < rows; ++r)
        memcpy(tmp + (size_t)slot[r] * rb, (char *)base + r * rb, rb);
    memcpy(base, tmp, rows * rb);
    free(tmp);
    return SIGNMF_OK;
}

signmf_status sm_degree_order(signmf_trainer *t, int sides, signmf_error *err)
{
    if (t->orth || t->hooks.gather || t->slot[0] || t->slot[1])
        return sm_fail(err, SIGNMF_EINVAL, "degree order: only once, on a whole notebook trainer");
    uint32_t *row_at[2] = {NULL, NULL};
    signmf_status st = SIGNMF_OK;
    for (int side = 0; side < 2; ++side) {
        if (!(sides & (1 << side)))
            continue;
        const sm_signs *s = side ? &t->by_item : &t->by_user;
        deg_key *key = malloc((s->rows ? s->rows : 1) * sizeof *key);
        row_at[side] = sm_alloc(s->rows ? s->rows : 1, sizeof(uint32_t));
        t->slot[side] = sm_alloc(s->rows ? s->rows : 1, sizeof(uint32_t));
        if (!key || !row_at[side] || !t->slot[side]) {
            free(key);
            st = SIGNMF_ENOMEM;
            goto done;
        }
        for (size_t r = 0; r < s->rows; ++r)
            key[r] = (deg_key){s->ptr[r + 1] - s->ptr[r], (uint32_t)r};
        qsort(key, s->rows, sizeof *key, deg_cmp);
        for (size_t q = 0; q < s->rows; ++q) {
            row_at[side][q] = key[q].row;
            t->slot[side][key[q].row] = (uint32_t)q;
        }
        free(key);
    }
    sm_signs bu = {0}, bi = {0};
    const bool resort = sides & 4;
    if ((st = permute_signs(&t->by_user, row_at[0], t->slot[1], resort, &bu)) != SIGNMF_OK ||
        (st = permute_signs(&t->by_item, row_at[1], t->slot[0], resort, &bi)) != SIGNMF_OK) {
        sm_signs_release(&bu);
        sm_signs_release(&bi);
        goto done;
    }
    sm_signs_release(&t->by_user);
    sm_signs_release(&t->by_item);
    t->by_user = bu, t->by_item = bi;
    for (int side = 0; side < 2; ++side) {
        if (!t->slot[side])
            continue;
        size_t rows = side ? t->items : t->users;
        for (int i = 0; i < 2 && st == SIGNMF_OK; ++i)
            for (size_t c = 0; c < t->npanels && st == SIGNMF_OK; ++c) {
                size_t w = sm_panel_width(t, c), off = sm_panel_offset(t, rows, c);
                void *X = side ? t->Q[i] : t->P[i];
                uint16_t *Xb = side ? t->Qb[i] : t->Pb[i];
                st = permute_rows((char *)X + off * t->esize, rows, w, t->esize, t->slot[side]);
                if (st == SIGNMF_OK && Xb)
                    st = permute_rows(Xb + off, rows, w, sizeof *Xb, t->slot[side]);
            }
        /* the block tables are offsets into each row's segments, which
         * kept their order: only the rows move */
        for (size_t b = 0;
             !resort && t->nblocks[side] > 1 && b <= t->nblocks[side] && st == SIGNMF_OK; ++b) {
            st = permute_rows(t->pofs[side] + b * rows, rows, 1, sizeof(uint32_t), t->slot[side]);
            if (st == SIGNMF_OK)
                st = permute_rows(t->mofs[side] + b * rows, rows, 1, sizeof(uint32_t),
                                  t->slot[side]);
        }
    }
    /* resorted: blocks are runs of slots, the hottest rows in block 0 */
    for (int side = 0; resort && side < 2 && st == SIGNMF_OK; ++side)
        if (t->nblocks[side] > 1) {
            sm_free(t->pofs[side]);
            sm_free(t->mofs[side]);
            st = sm_build_block_tables(t, side ? &t->by_item : &t->by_user, t->nblocks[side],
                                       &t->pofs[side], &t->mofs[side], err);
        }
    if (st == SIGNMF_OK && build_tasks(t) != SIGNMF_OK)
        st = SIGNMF_ENOMEM;
done:
    sm_free(row_at[0]);
    sm_free(row_at[1]);
    if (st != SIGNMF_OK)
        return sm_fail(err, st, "degree order: out of memory");
    return SIGNMF_OK;
}

signmf_status signmf_trainer_loss(signmf_trainer *t, double *loss)
{
    if (!t || !loss)
        return SIGNMF_EINVAL;
    if (t->orth) {
        if (sm_ortho_pass(t, false, true, loss) < 0)
            return SIGNMF_ENOMEM;
        t->last_loss = *loss;
        return isfinite(*loss) ? SIGNMF_OK : SIGNMF_ENONFINITE;
    }
    sm_train_pass(t, t->kern, NULL, 1.0, loss);
    t->last_loss = *loss;
    return isfinite(*loss) ? SIGNMF_OK : SIGNMF_ENONFINITE;
}

/* --rescale: the update is linear in (P, Q), so scaling both by 2^-s
 * scales every later state by exactly 2^-s (a power of two is exact in
 * floating point). Choosing s from the last loss keeps it in [1, 4), so the
 * norms stay bounded while the direction, and every ranking, is the
 * unscaled run's bit for bit. */
static int rescale_shift(const signmf_trainer *t)
{
    if (!t->params.rescale || !isfinite(t->scale_ref) || t->scale_ref == 0.0)
        return 0;
    int e;
    frexp(fabs(t->scale_ref), &e); /* |L| in [2^(e-1), 2^e) */
    int s = (e - 1) / 2;
    return s > 0 ? s : 0;
}

size_t signmf_trainer_replaced_columns(const signmf_trainer *t)
{
    return t && t->orth ? t->orth->replaced : 0;
}

signmf_status signmf_trainer_run(signmf_trainer *t, uint64_t epochs, signmf_progress_fn progress,
                                 void *user, signmf_error *err)
{
    if (!t)
        return sm_fail(err, SIGNMF_EINVAL, "trainer must not be NULL");
    /* One loop for both methods: the orthonormal one has its own pass and,
     * once the report has accepted the epoch, its own commit; it never
     * rescales. */
    double t0 = sm_now(), loss;
    for (uint64_t e = 0; e < epochs; ++e) {
        int shift = t->orth ? 0 : rescale_shift(t);
        int bad = t->orth ? sm_ortho_pass(t, true, false, &loss)
                          : sm_train_pass(t, t->kern, &t->params.lr, ldexp(1.0, -shift), &loss);
        if (bad < 0)
            return sm_fail(err, SIGNMF_ENOMEM, "out of memory at epoch %llu",
                           (unsigned long long)t->epochs);
        t->last_loss = loss;
        if (!isfinite(loss))
            return sm_fail(err, SIGNMF_ENONFINITE,
                           "loss became non-finite (%g) at epoch %llu; kept the model of epoch "
                           "%llu, the last finite one",
                           loss, (unsigned long long)t->epochs, (unsigned long long)t->epochs);
        if (progress && progress(user, t->epochs, loss, t->log_scale, sm_now() - t0))
            return sm_fail(err, SIGNMF_EINTERRUPTED, "stopped by the caller after epoch %llu",
                           (unsigned long long)t->epochs);
        if (bad)
            return sm_fail(err, SIGNMF_ENONFINITE,
                           "epoch %llu produced non-finite embeddings; kept the model of epoch "
                           "%llu, the last finite one",
                           (unsigned long long)(t->epochs + 1), (unsigned long long)t->epochs);
        if (t->orth) {
            if (sm_ortho_commit(t) < 0)
                return sm_fail(err, SIGNMF_ENOMEM, "out of memory while orthonormalising");
            t->epochs++;
            continue;
        }
        t->cur = 1 - t->cur;
        t->epochs++;
        t->log_scale += shift * M_LN2;
        /* Only the epoch loop moves the reference, never a loss-only pass,
         * so that a run cut into pieces (checkpoints, resume) takes the
         * same decisions as one uninterrupted run. */
        t->scale_ref = ldexp(loss, -2 * shift);
    }
    /* the orthonormal final pass also gives the Rayleigh-Ritz matrix */
    if (!t->orth)
        sm_train_pass(t, t->kern, NULL, 1.0, &loss);
    else if (sm_ortho_pass(t, false, true, &loss) < 0)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory after epoch %llu",
                       (unsigned long long)t->epochs);
    t->last_loss = loss;
    if (progress)
        progress(user, t->epochs, loss, t->log_scale, sm_now() - t0);
    if (!isfinite(loss))
        return sm_fail(err, SIGNMF_ENONFINITE, "loss became non-finite (%g) after epoch %llu", loss,
                       (unsigned long long)t->epochs);
    return SIGNMF_OK;
}

uint64_t signmf_trainer_epochs_done(const signmf_trainer *t)
{
    return t ? t->epochs : 0;
}

/* Fill a model allocated for `t`. With `release`, each part of the trainer
 * is freed as soon as it has been copied, so that the model's pages are
 * touched only after the trainer's have been given back. */
static signmf_status fill_model(signmf_trainer *t, signmf_model *m, bool release,
                                const size_t *rated_ptr, const uint32_t *rated_idx)
{
    /* the Rayleigh-Ritz step may need a pass, so it comes before anything
     * is released */
    if (t->orth) {
        signmf_status st = sm_model_alloc_ortho(m);
        if (st == SIGNMF_OK)
            st = sm_ortho_fill_model(t, m);
        if (st != SIGNMF_OK)
            return st;
        release = false;
    }
    if (rated_ptr) {
        memcpy(m->rated_ptr, rated_ptr, (t->users + 1) * sizeof *rated_ptr);
        if (rated_ptr[t->users])
            memcpy(m->rated_idx, rated_idx, rated_ptr[t->users] * sizeof *rated_idx);
    } else {
        m->rated_ptr[0] = 0;
        for (size_t u = 0; u < t->users; ++u)
            m->rated_ptr[u + 1] = m->rated_ptr[u] + sm_rated_count(&t->by_user, &t->zero, u);
#pragma omp parallel for num_threads(t->threads) schedule(dynamic, 1024)
        for (size_t u = 0; u < t->users; ++u)
            sm_rated_row(&t->by_user, &t->zero, u, m->rated_idx + m->rated_ptr[u]);
    }
    if (release) {
        sm_signs_release(&t->by_user);
        sm_signs_release(&t->by_item);
        sm_zeros_release(&t->zero);
    }
    if (!t->orth) {
        sm_from_panels(t, t->P[t->cur], m->P, t->users);
        if (release) {
            sm_free(t->P[t->cur]);
            t->P[t->cur] = NULL;
        }
        sm_from_panels(t, t->Q[t->cur], m->Qt, t->items);
    }
    m->params = t->params;
    sm_model_pack(m);
    m->epochs = t->epochs;
    m->log_scale = t->log_scale;
    m->last_loss = t->last_loss;
    m->scale_ref = t->scale_ref;
    m->data_crc = t->data_crc;
    if (release) {
        m->user_map = t->user_map;
        m->item_map = t->item_map;
        t->user_map = t->item_map = (sm_idmap){.direct = true, .count = 0, .ids = NULL};
        return SIGNMF_OK;
    }
    if (sm_idmap_copy(&t->user_map, &m->user_map) != SIGNMF_OK ||
        sm_idmap_copy(&t->item_map, &m->item_map) != SIGNMF_OK)
        return SIGNMF_ENOMEM;
    return SIGNMF_OK;
}

/* A bf16 run's model holds its float32 master. */
static signmf_precision storage_precision(const signmf_trainer *t)
{
    return t->params.precision == SIGNMF_F64 ? SIGNMF_F64 : SIGNMF_F32;
}

static size_t rated_total(const signmf_trainer *t)
{
    return t->by_user.nnz + t->zero.nnz;
}

/* A copy of the trainer's model; the rated rows are the trainer's own, or
 * (a share) the given ones. Without `release` nothing in t changes. */
static signmf_status model_copy(const signmf_trainer *t, size_t rated, const size_t *rated_ptr,
                                const uint32_t *rated_idx, signmf_model **out)
{
    signmf_model *m;
    signmf_status st = sm_model_alloc(t->users, t->items, t->dim, storage_precision(t), rated, &m);
    if (st != SIGNMF_OK)
        return st;
    st = fill_model((signmf_trainer *)t, m, false, rated_ptr, rated_idx);
    if (st != SIGNMF_OK) {
        signmf_model_free(m);
        return st;
    }
    *out = m;
    return SIGNMF_OK;
}

signmf_status signmf_trainer_model(const signmf_trainer *t, signmf_model **out)
{
    if (!t || !out)
        return SIGNMF_EINVAL;
    *out = NULL;
    return model_copy(t, rated_total(t), NULL, NULL, out);
}

signmf_status signmf_trainer_into_model(signmf_trainer **tp, signmf_model **out)
{
    if (!tp || !*tp || !out) {
        if (out)
            *out = NULL;
        return SIGNMF_EINVAL;
    }
    signmf_trainer *t = *tp;
    *tp = NULL;
    *out = NULL;
    if (t->orth) {
        /* its spare buffers are the pass's accumulators */
        signmf_status st = signmf_trainer_model(t, out);
        signmf_trainer_free(t);
        return st;
    }
    /* scratch first: the spare state, loss partials and block tables */
    const int spare = 1 - t->cur;
    sm_free(t->P[spare]);
    sm_free(t->Q[spare]);
    t->P[spare] = t->Q[spare] = NULL;
    for (int i = 0; i < 2; ++i) {
        sm_free(t->Pb[i]);
        sm_free(t->Qb[i]);
        t->Pb[i] = t->Qb[i] = NULL;
    }
    sm_free(t->dots);
    t->dots = NULL;
    for (int side = 0; side < 2; ++side) {
        sm_free(t->pofs[side]);
        sm_free(t->mofs[side]);
        t->pofs[side] = t->mofs[side] = NULL;
    }
    signmf_model *m;
    signmf_status st =
        sm_model_alloc(t->users, t->items, t->dim, storage_precision(t), rated_total(t), &m);
    if (st == SIGNMF_OK)
        st = fill_model(t, m, true, NULL, NULL);
    signmf_trainer_free(t);
    if (st != SIGNMF_OK)
        return st;
    *out = m;
    return SIGNMF_OK;
}

/* The state of a model (of this trainer's data and settings) into t. */
static signmf_status resume_state(signmf_trainer *t, const signmf_model *m, signmf_error *err)
{
    if (t->orth) {
        if (!m->Pst || !m->Qst)
            return sm_fail(err, SIGNMF_EINVAL,
                           "the model holds no orthonormal training state to resume from");
        sm_ortho_set_state(t, m->Pst, m->Qst, err);
    } else {
        sm_to_panels(t, m->P, t->P[t->cur], t->users);
        sm_to_panels(t, m->Qt, t->Q[t->cur], t->items);
        sm_refresh_shadows(t);
    }
    t->epochs = m->epochs;
    t->log_scale = m->log_scale;
    t->last_loss = m->last_loss;
    t->scale_ref = m->scale_ref;
    return SIGNMF_OK;
}

/* What a resume needs of the model and of the ratings it continues on,
 * shared by the whole trainer and a share of one (sm_part_trainer). */
static signmf_status resume_check(const signmf_model *m, size_t users, size_t items,
                                  signmf_error *err)
{
    if (users != m->users || items != m->items)
        return sm_fail(err, SIGNMF_EINVAL,
                       "the ratings are %zu x %zu but the model was trained on %zu x %zu", users,
                       items, m->users, m->items);
    if (m->precision == SIGNMF_BF16)
        return sm_fail(err, SIGNMF_EUNSUPPORTED,
                       "the model holds bf16 factors (a converted serving model); resume from the "
                       "f32 or f64 model it was converted from");
    return SIGNMF_OK;
}

/* Same shape but other ratings (another split, an edited file) would
 * silently continue on different data; the model's fingerprint tells. */
static signmf_status resume_crc_check(uint32_t have, const signmf_model *m, signmf_error *err)
{
    if (have == m->data_crc)
        return SIGNMF_OK;
    return sm_fail(err, SIGNMF_EINVAL,
                   "the ratings differ from those the model was trained on (CRC-32 %08x, "
                   "model %08x)",
                   have, m->data_crc);
}

static signmf_params resume_params(const signmf_model *m, int threads)
{
    signmf_params p = m->params;
    p.dim = m->dim;
    /* a bf16 run stores its float32 master */
    if (!(m->params.precision == SIGNMF_BF16 && m->precision == SIGNMF_F32))
        p.precision = m->precision;
    if (threads >= 0)
        p.threads = threads;
    return p;
}

static signmf_status trainer_resume(const signmf_ratings *r, signmf_ratings **own,
                                    const signmf_model *m, int threads, signmf_trainer **out,
                                    signmf_error *err)
{
    *out = NULL;
    signmf_status st = SIGNMF_OK;
    if (!m || !r)
        st = sm_fail(err, SIGNMF_EINVAL, "ratings and model must not be NULL");
    else
        st = resume_check(m, r->users, r->items, err);
    if (st != SIGNMF_OK) {
        if (own) {
            signmf_ratings_free(*own);
            *own = NULL;
        }
        return st;
    }
    signmf_params p = resume_params(m, threads);
    signmf_trainer *t;
    st = trainer_new(r, own, &p, &t, err);
    if (st != SIGNMF_OK)
        return st;
    if ((st = resume_crc_check(t->data_crc, m, err)) != SIGNMF_OK ||
        (st = resume_state(t, m, err)) != SIGNMF_OK) {
        signmf_trainer_free(t);
        return st;
    }
    *out = t;
    return SIGNMF_OK;
}

signmf_status signmf_trainer_resume(const signmf_ratings *r, const signmf_model *m, int threads,
                                    signmf_trainer **out, signmf_error *err)
{
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "model and out must not be NULL");
    return trainer_resume(r, NULL, m, threads, out, err);
}

signmf_status signmf_trainer_resume_consume(signmf_ratings **r, const signmf_model *m, int threads,
                                            signmf_trainer **out, signmf_error *err)
{
    if (!r || !out) {
        if (r) {
            signmf_ratings_free(*r);
            *r = NULL;
        }
        return sm_fail(err, SIGNMF_EINVAL, "ratings and out must not be NULL");
    }
    return trainer_resume(*r, r, m, threads, out, err);
}

/* ------------------------------------------------------------------ */
/* Partitioned runs (part.h)                                           */
/* ------------------------------------------------------------------ */

int sm_part_gather(signmf_trainer *t, int side, void *base, size_t row_bytes)
{
    if (!t->hooks.gather)
        return 0;
    if (t->hooks.gather(t->hooks.ctx, side, base, row_bytes) != 0) {
        t->hook_failed = 1;
        return -1;
    }
    return 0;
}

int sm_part_any(signmf_trainer *t, int v)
{
    return t->hooks.any ? t->hooks.any(t->hooks.ctx, v) : v;
}

static void part_input_release(sm_part_input *in)
{
    sm_signs_release(&in->by_user);
    sm_zeros_release(&in->zero);
    sm_signs_release(&in->cols);
    sm_zeros_release(&in->cols_zero);
    sm_idmap_release(&in->user_map);
    sm_idmap_release(&in->item_map);
}

signmf_status sm_part_trainer(sm_part_input *in, const signmf_params *pin,
                              const signmf_model *resume, int threads, signmf_trainer **out,
                              signmf_error *err)
{
    *out = NULL;
    signmf_status st;
    signmf_params p = resume ? resume_params(resume, threads) : *pin;
    if (resume && ((st = resume_check(resume, in->users, in->items, err)) != SIGNMF_OK ||
                   (st = resume_crc_check(in->data_crc, resume, err)) != SIGNMF_OK)) {
        part_input_release(in);
        return st;
    }
    if (!in->hooks.gather || !in->hooks.any || in->own[0][0] > in->own[0][1] ||
        in->own[0][1] > in->users || in->own[1][0] > in->own[1][1] || in->own[1][1] > in->items ||
        in->by_user.rows != in->users || in->cols.rows != in->users) {
        part_input_release(in);
        return sm_fail(err, SIGNMF_EINVAL, "partitioned trainer: inconsistent input");
    }
    if ((st = check_params(&p, err)) != SIGNMF_OK) {
        part_input_release(in);
        return st;
    }

    signmf_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        part_input_release(in);
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory");
    }
    t->params = p;
    t->users = in->users;
    t->items = in->items;
    t->dim = p.dim;
    t->kern = sm_kernels_active();
    const char *pf = getenv("SIGNMF_PREFETCH");
    t->prefetch = pf && *pf ? (strcmp(pf, "0") != 0) : -1;
    t->last_loss = NAN;
    memcpy(t->own, in->own, sizeof t->own);
    t->hooks = in->hooks;
    t->by_user = in->by_user;
    t->zero = in->zero;
    t->threads = resolve_threads(p.threads, t->by_user.nnz + t->zero.nnz, t->dim, p.method);
    t->part_zero = in->cols_zero;
    t->user_map = in->user_map;
    t->item_map = in->item_map;
    t->data_crc = in->data_crc;
    memset(&in->by_user, 0, sizeof in->by_user);
    memset(&in->zero, 0, sizeof in->zero);
    memset(&in->cols_zero, 0, sizeof in->cols_zero);
    in->user_map = in->item_map = (sm_idmap){.direct = true, .count = 0, .ids = NULL};
    /* the owned items' rows, with every user's entries in user order */
    st = sm_signs_transpose(&in->cols, &t->by_item, err);
    sm_signs_release(&in->cols);
    if (st == SIGNMF_OK)
        st = alloc_layout(t, err);
    if (st == SIGNMF_OK && p.method == SIGNMF_METHOD_ORTHONORMAL)
        st = sm_ortho_setup(t, err);
    sm_zeros_release(&t->part_zero);
    if (st == SIGNMF_OK && t->hook_failed)
        st = sm_fail(err, SIGNMF_EIO, "partitioned trainer: gathering the rows' degrees failed");
    if (st == SIGNMF_OK) {
        if (resume)
            st = resume_state(t, resume, err);
        else {
            init_embeddings(t);
            sm_refresh_shadows(t);
            if (t->orth)
                st = sm_ortho_init_from_draws(t, err);
        }
    }
    if (st != SIGNMF_OK) {
        signmf_trainer_free(t);
        return st;
    }
    *out = t;
    return SIGNMF_OK;
}

signmf_status sm_part_model(const signmf_trainer *t, const size_t *rated_ptr,
                            const uint32_t *rated_idx, signmf_model **out)
{
    if (!t || !rated_ptr || !out)
        return SIGNMF_EINVAL;
    *out = NULL;
    if (t->orth && !t->orth->b_valid)
        return SIGNMF_EINVAL;
    return model_copy(t, rated_ptr[t->users], rated_ptr, rated_idx, out);
}
