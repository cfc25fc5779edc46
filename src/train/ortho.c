/* The orthonormal method: the notebook's step with the weighted,
 * degree-normalised sign matrix D~ (signmf.h), computed by the blocked
 * signed-sum kernels one class at a time, then CholeskyQR2 of both sides
 * in double (src/linalg). Every sum has one order, fixed by the data's
 * shape alone (the trainer's tasks only decide who computes a row), so the
 * bits do not depend on threads or ISA. */
#include "ortho.h"

#include "../linalg/linalg.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void sm_ortho_free(sm_ortho *o)
{
    if (!o)
        return;
    for (int s = 0; s < 2; ++s) {
        sm_signs_release(&o->neu[s]);
        sm_free(o->dofs[s]);
        sm_free(o->dmofs[s]);
        sm_free(o->nofs[s]);
        sm_free(o->nmofs[s]);
        sm_free(o->scale[s]);
        sm_free(o->degree[s]);
        sm_free(o->state[s]);
        sm_free(o->acc[s][0]);
        sm_free(o->acc[s][1]);
        sm_free(o->y[s]);
    }
    sm_free(o->rowdot);
    sm_free(o->B);
    free(o);
}

/* The neutral entries as a sign structure whose every entry is in the +1
 * segment, so that the accumulate kernels sum them. */
static signmf_status neutral_rows(const sm_zeros *z, size_t cols, sm_signs *s)
{
    memset(s, 0, sizeof *s);
    s->rows = z->rows;
    s->cols = cols;
    s->nnz = z->nnz;
    s->ptr = sm_alloc(z->rows + 1, sizeof *s->ptr);
    s->mid = sm_alloc(z->rows ? z->rows : 1, sizeof *s->mid);
    s->idx = sm_alloc(z->nnz ? z->nnz : 1, sizeof *s->idx);
    if (!s->ptr || !s->mid || !s->idx)
        return SIGNMF_ENOMEM;
    memcpy(s->ptr, z->ptr, (z->rows + 1) * sizeof *s->ptr);
    for (size_t r = 0; r < z->rows; ++r)
        s->mid[r] = z->ptr[r + 1];
    if (z->nnz)
        memcpy(s->idx, z->idx, z->nnz * sizeof *s->idx);
    return SIGNMF_OK;
}

static inline size_t panel_at(const signmf_trainer *t, size_t rows, size_t r, size_t col)
{
    size_t c = col / t->panel;
    return sm_panel_offset(t, rows, c) + r * sm_panel_width(t, c) + col % t->panel;
}

static inline double ld_elem(const void *base, size_t i, bool f64)
{
    return f64 ? ((const double *)base)[i] : (double)((const float *)base)[i];
}

static inline void st_elem(void *base, size_t i, double v, bool f64)
{
    if (f64)
        ((double *)base)[i] = v;
    else
        ((float *)base)[i] = (float)v;
}

/* The source panels of the next pass: state rows times their scale, each
 * product rounded once to the precision; padding columns stay zero. */
static void fill_sources(signmf_trainer *t)
{
    sm_ortho *o = t->orth;
    const bool f64 = t->esize == 8;
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? t->items : t->users;
        void *pan = side ? t->Q[t->cur] : t->P[t->cur];
        const void *st = o->state[side];
        const double *sc = o->scale[side];
#pragma omp parallel for num_threads(t->threads) schedule(static) if (rows * t->dim >= (1u << 18))
        for (size_t r = 0; r < rows; ++r) {
            const double f = sc[r];
            for (size_t pc = 0; pc < t->npanels; ++pc) {
                size_t c0 = pc * t->panel, w = sm_panel_width(t, pc);
                size_t nc = c0 + w <= t->dim ? w : t->dim - c0;
                size_t base = sm_panel_offset(t, rows, pc) + r * w, from = r * t->dim + c0;
                if (f64)
                    for (size_t j = 0; j < nc; ++j)
                        ((double *)pan)[base + j] = f * ((const double *)st)[from + j];
                else
                    for (size_t j = 0; j < nc; ++j)
                        ((float *)pan)[base + j] =
                            (float)(f * (double)((const float *)st)[from + j]);
            }
        }
        /* bf16: the class sums gather the sources' shadow (signmf.h) */
        if (t->params.precision == SIGNMF_BF16)
            t->kern->cvt_bf16((const float *)pan, rows * t->kpad, (side ? t->Qb : t->Pb)[t->cur]);
    }
}

/* Round the orthonormalised y of a side into its state. */
static void store_state(signmf_trainer *t, int side)
{
    sm_ortho *o = t->orth;
    const bool f64 = t->esize == 8;
    size_t n = (side ? t->items : t->users) * t->dim;
    for (size_t i = 0; i < n; ++i)
        st_elem(o->state[side], i, o->y[side][i], f64);
}

/* A share's Gram blocks are computed by their processes (NULL: all here). */
static const sm_split *gram_split(const signmf_trainer *t, sm_split *sp)
{
    if (!t->hooks.gather_even || t->hooks.parts < 2)
        return NULL;
    *sp = (sm_split){t->hooks.part, t->hooks.parts, t->hooks.ctx, t->hooks.gather_even};
    return sp;
}

static signmf_status orthonormalize_side(signmf_trainer *t, int side, size_t *replaced)
{
    size_t rows = side ? t->items : t->users, rep = 0;
    sm_split sp;
    signmf_status st = sm_orthonormalize_split(t->kern, t->orth->y[side], rows, t->dim, t->dim,
                                               t->threads, gram_split(t, &sp), &rep);
    *replaced += rep;
    return st;
}

signmf_status sm_ortho_setup(signmf_trainer *t, signmf_error *err)
{
    const signmf_params *p = &t->params;
    if (t->dim > t->users || t->dim > t->items)
        return sm_fail(err, SIGNMF_EINVAL,
                       "the orthonormal method needs dim <= min(users, items) = %zu, found %zu",
                       t->users < t->items ? t->users : t->items, t->dim);
    sm_ortho *o = calloc(1, sizeof *o);
    if (!o)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory");
    t->orth = o;
    signmf_status st = neutral_rows(&t->zero, t->items, &o->neu[0]);
    if (st == SIGNMF_OK && t->hooks.gather) {
        /* a share: the owned items' rows come from every user's entries */
        sm_signs cols;
        st = neutral_rows(&t->part_zero, t->items, &cols);
        if (st == SIGNMF_OK)
            st = sm_signs_transpose(&cols, &o->neu[1], err);
        sm_signs_release(&cols);
    } else if (st == SIGNMF_OK)
        st = sm_signs_transpose(&o->neu[0], &o->neu[1], err);
    if (st != SIGNMF_OK)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory for the neutral ratings");
    const size_t dim = t->dim;
    for (int side = 0; side < 2; ++side) {
        const sm_signs *d = side ? &t->by_item : &t->by_user;
        size_t rows = d->rows, nb = t->nblocks[side] > 1 ? t->nblocks[side] : 1;
        if (t->nblocks[side] <= 1 &&
            (st = sm_build_block_tables(t, d, 1, &o->dofs[side], &o->dmofs[side], err)) !=
                SIGNMF_OK)
            return st;
        if ((st = sm_build_block_tables(t, &o->neu[side], nb, &o->nofs[side], &o->nmofs[side],
                                        err)) != SIGNMF_OK)
            return st;
        o->scale[side] = sm_alloc(rows ? rows : 1, sizeof(double));
        o->degree[side] = sm_alloc(rows ? rows : 1, sizeof(uint32_t));
        size_t n;
        if (sm_mul_overflows(rows, dim, &n))
            return sm_fail(err, SIGNMF_EOVERFLOW, "embedding size overflows");
        o->state[side] = sm_calloc_huge(n ? n : 1, t->esize);
        o->y[side] = sm_calloc_huge(n ? n : 1, sizeof(double));
        size_t pn = rows * t->kpad;
        o->acc[side][0] = sm_calloc_huge(pn ? pn : 1, t->esize);
        o->acc[side][1] = sm_calloc_huge(pn ? pn : 1, t->esize);
        if (!o->scale[side] || !o->degree[side] || !o->state[side] || !o->y[side] ||
            !o->acc[side][0] || !o->acc[side][1])
            return sm_fail(err, SIGNMF_ENOMEM,
                           "cannot allocate the orthonormal method's buffers of %zu x %zu", rows,
                           dim);
        for (size_t r = t->own[side][0]; r < t->own[side][1]; ++r)
            o->degree[side][r] = (uint32_t)(d->ptr[r + 1] - d->ptr[r] + o->neu[side].ptr[r + 1] -
                                            o->neu[side].ptr[r]);
        /* the sources of every row are scaled, not only the owned ones */
        sm_part_gather(t, side, o->degree[side], sizeof(uint32_t));
        for (size_t r = 0; r < rows; ++r) {
            size_t deg = o->degree[side][r];
            o->scale[side][r] =
                p->degree_exp == 0.0 ? 1.0 : pow(deg ? (double)deg : 1.0, -p->degree_exp);
        }
    }
    o->rowdot = sm_alloc(t->users ? t->users : 1, sizeof(double));
    o->B = sm_alloc(dim * dim, sizeof(double));
    if (!o->rowdot || !o->B)
        return sm_fail(err, SIGNMF_ENOMEM, "out of memory");
    return SIGNMF_OK;
}

signmf_status sm_ortho_init_from_draws(signmf_trainer *t, signmf_error *err)
{
    sm_ortho *o = t->orth;
    const bool f64 = t->esize == 8;
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? t->items : t->users;
        const void *pan = side ? t->Q[t->cur] : t->P[t->cur];
        for (size_t r = 0; r < rows; ++r)
            for (size_t c = 0; c < t->dim; ++c)
                o->y[side][r * t->dim + c] = ld_elem(pan, panel_at(t, rows, r, c), f64);
        size_t rep = 0;
        if (orthonormalize_side(t, side, &rep) != SIGNMF_OK)
            return sm_fail(err, SIGNMF_ENOMEM, "out of memory while orthonormalising");
        store_state(t, side);
    }
    o->replaced = 0;
    o->b_valid = false;
    fill_sources(t);
    return SIGNMF_OK;
}

signmf_status sm_ortho_set_state(signmf_trainer *t, const void *P, const void *Qt,
                                 signmf_error *err)
{
    (void)err;
    sm_ortho *o = t->orth;
    memcpy(o->state[0], P, t->users * t->dim * t->esize);
    memcpy(o->state[1], Qt, t->items * t->dim * t->esize);
    o->b_valid = false;
    fill_sources(t);
    return SIGNMF_OK;
}

/* The three class sums of every row of a task, block by block: into
 * acc_d (the spare buffer) the D = +1 rows, into acc_l minus the D = -1
 * rows, into acc_n the neutral rows, each in ascending source order. */
static void class_sums(const signmf_trainer *t, const sm_task *tk)
{
    const sm_ortho *o = t->orth;
    const int side = (int)tk->side;
    const sm_signs *d = side ? &t->by_item : &t->by_user, *nu = &o->neu[side];
    size_t c = tk->panel, w = sm_panel_width(t, c);
    size_t rows = side ? t->items : t->users, other = side ? t->users : t->items;
    size_t so = sm_panel_offset(t, rows, c) * t->esize,
           oo = sm_panel_offset(t, other, c) * t->esize;
    const char *src = (const char *)(side ? t->P[t->cur] : t->Q[t->cur]) + oo;
    char *ad = (char *)(side ? t->Q[1 - t->cur] : t->P[1 - t->cur]) + so;
    char *al = (char *)o->acc[side][0] + so, *an = (char *)o->acc[side][1] + so;
    size_t nb = t->nblocks[side] > 1 ? t->nblocks[side] : 1;
    const uint32_t *po = t->nblocks[side] > 1 ? t->pofs[side] : o->dofs[side];
    const uint32_t *mo = t->nblocks[side] > 1 ? t->mofs[side] : o->dmofs[side];
    const uint32_t *npo = o->nofs[side], *nmo = o->nmofs[side];
    const sm_kernels *k = t->kern;
    const uint16_t *srch = t->params.precision != SIGNMF_BF16
                               ? NULL
                               : (side ? t->Pb : t->Qb)[t->cur] + sm_panel_offset(t, other, c);
    for (size_t b = 0; b < nb; ++b) {
        const uint32_t *p0 = po + b * rows, *p1 = po + (b + 1) * rows;
        const uint32_t *m0 = mo + b * rows, *m1 = mo + (b + 1) * rows;
        const uint32_t *n0 = npo + b * rows, *n1 = npo + (b + 1) * rows;
        const uint32_t *nm = nmo + b * rows;
        if (t->esize == 8) {
            k->accum_f64(d, p0, p1, m0, m0, tk->r0, tk->r1, w, (const double *)src, (double *)ad,
                         b == 0);
            k->accum_f64(d, p0, p0, m0, m1, tk->r0, tk->r1, w, (const double *)src, (double *)al,
                         b == 0);
            k->accum_f64(nu, n0, n1, nm, nm, tk->r0, tk->r1, w, (const double *)src, (double *)an,
                         b == 0);
        } else if (srch) {
            k->accum_bf16(d, p0, p1, m0, m0, tk->r0, tk->r1, w, srch, (float *)ad, b == 0);
            k->accum_bf16(d, p0, p0, m0, m1, tk->r0, tk->r1, w, srch, (float *)al, b == 0);
            k->accum_bf16(nu, n0, n1, nm, nm, tk->r0, tk->r1, w, srch, (float *)an, b == 0);
        } else {
            k->accum_f32(d, p0, p1, m0, m0, tk->r0, tk->r1, w, (const float *)src, (float *)ad,
                         b == 0);
            k->accum_f32(d, p0, p0, m0, m1, tk->r0, tk->r1, w, (const float *)src, (float *)al,
                         b == 0);
            k->accum_f32(nu, n0, n1, nm, nm, tk->r0, tk->r1, w, (const float *)src, (float *)an,
                         b == 0);
        }
    }
}

/* Row r of a side's gradient of -L~ (so that the step is state + a g):
 *   g = r_scale * (((w + 1) * liked + w * neutral) + (w - 1) * disliked)
 * in double, t by t; y = state + a * g, or g itself when `grad_only`.
 * The user side's row r also gives loss part -state . g (t ascending). */
/* side_epilogue's pieces, per element type. The gradient and the step
 * are elementwise and vectorise; each row's dot, -sum_c s_c g_c in column
 * order, is a serial chain of adds, so a group of rows runs its chains
 * side by side. */
#define EPI_GROUP 4

/* All n finite: an exponent of all ones (inf, NaN) carries into bit 63
 * when 1 is added above the mantissa. Integer lanes, so it vectorises. */
static inline bool epi_finite(const double *y, size_t n)
{
    const uint64_t e = 0x7ff0000000000000u, one = (uint64_t)1 << 52;
    uint64_t any = 0;
    for (size_t j = 0; j < n; ++j) {
        uint64_t u;
        memcpy(&u, y + j, sizeof u);
        any |= (u & e) + one;
    }
    return (any >> 63) == 0;
}
#define EPI_DEFINE(T)                                                                              \
    static inline void epi_grad_##T(const T *restrict al, const T *restrict an,                    \
                                    const T *restrict ad, size_t nc, double sc, double w_,         \
                                    double *restrict y)                                            \
    {                                                                                              \
        const double wl = w_ + 1.0, wd = w_ - 1.0;                                                 \
        for (size_t j = 0; j < nc; ++j) {                                                          \
            double liked = -(double)al[j], neu = (double)an[j], dis = (double)ad[j];               \
            y[j] = sc * ((wl * liked + w_ * neu) + wd * dis);                                      \
        }                                                                                          \
    }                                                                                              \
    static inline void epi_dots_##T(const T *restrict s, const double *restrict y, size_t dim,     \
                                    size_t nr, double *restrict dot)                               \
    {                                                                                              \
        double d[EPI_GROUP] = {0.0, 0.0, 0.0, 0.0};                                                \
        if (nr == EPI_GROUP) {                                                                     \
            for (size_t c = 0; c < dim; ++c)                                                       \
                for (size_t i = 0; i < EPI_GROUP; ++i)                                             \
                    d[i] -= (double)s[i * dim + c] * y[i * dim + c];                               \
        } else {                                                                                   \
            for (size_t i = 0; i < nr; ++i)                                                        \
                for (size_t c = 0; c < dim; ++c)                                                   \
                    d[i] -= (double)s[i * dim + c] * y[i * dim + c];                               \
        }                                                                                          \
        for (size_t i = 0; i < nr; ++i)                                                            \
            dot[i] = d[i];                                                                         \
    }                                                                                              \
    static inline int epi_step_##T(const T *restrict s, double *restrict y, size_t n, double a,    \
                                   bool grad_only)                                                 \
    {                                                                                              \
        if (!grad_only)                                                                            \
            for (size_t j = 0; j < n; ++j)                                                         \
                y[j] = (double)s[j] + a * y[j];                                                    \
        return !epi_finite(y, n);                                                                  \
    }
EPI_DEFINE(float)
EPI_DEFINE(double)

static int side_epilogue(signmf_trainer *t, int side, bool grad_only, bool want_dot)
{
    sm_ortho *o = t->orth;
    const bool f64 = t->esize == 8;
    size_t rows = side ? t->items : t->users, dim = t->dim;
    const void *ad = side ? t->Q[1 - t->cur] : t->P[1 - t->cur];
    const void *al = o->acc[side][0], *an = o->acc[side][1];
    const double w_ = t->params.rated_weight, a = t->params.lr;
    int bad = 0;
    const size_t lo = t->own[side][0], hi = t->own[side][1];
    const size_t ng = (hi - lo + EPI_GROUP - 1) / EPI_GROUP;
#pragma omp parallel for num_threads(t->threads) schedule(static)                                  \
    reduction(|                                                                                    \
              : bad) if ((hi - lo) * dim >= (1u << 18))
    for (size_t gi = 0; gi < ng; ++gi) {
        size_t r0 = lo + gi * EPI_GROUP, nr = hi - r0 < EPI_GROUP ? hi - r0 : EPI_GROUP;
        double *y = o->y[side] + r0 * dim;
        for (size_t r = r0; r < r0 + nr; ++r)
            for (size_t pc = 0; pc < t->npanels; ++pc) {
                size_t c0 = pc * t->panel, w = sm_panel_width(t, pc);
                size_t nc = c0 + w <= dim ? w : dim - c0;
                size_t base = sm_panel_offset(t, rows, pc) + r * w;
                double sc = o->scale[side][r], *yr = o->y[side] + r * dim + c0;
                if (f64)
                    epi_grad_double((const double *)al + base, (const double *)an + base,
                                    (const double *)ad + base, nc, sc, w_, yr);
                else
                    epi_grad_float((const float *)al + base, (const float *)an + base,
                                   (const float *)ad + base, nc, sc, w_, yr);
            }
        if (f64) {
            const double *st = (const double *)o->state[side] + r0 * dim;
            if (want_dot)
                epi_dots_double(st, y, dim, nr, o->rowdot + r0);
            bad |= epi_step_double(st, y, nr * dim, a, grad_only);
        } else {
            const float *st = (const float *)o->state[side] + r0 * dim;
            if (want_dot)
                epi_dots_float(st, y, dim, nr, o->rowdot + r0);
            bad |= epi_step_float(st, y, nr * dim, a, grad_only);
        }
    }
    /* a share: orthonormalising needs every row of the step */
    if (t->hooks.gather) {
        sm_part_gather(t, side, o->y[side], dim * sizeof(double));
        if (want_dot)
            sm_part_gather(t, side, o->rowdot, sizeof(double));
        bad = sm_part_any(t, bad | t->hook_failed);
    }
    return bad;
}

int sm_ortho_pass(signmf_trainer *t, bool step, bool want_b, double *loss)
{
    sm_ortho *o = t->orth;
    const size_t ntasks = t->ntasks;
#pragma omp parallel for num_threads(t->threads) schedule(dynamic, 1)
    for (size_t i = 0; i < ntasks; ++i) {
        if (!step && t->tasks[i].side)
            continue;
        class_sums(t, &t->tasks[i]);
    }
    int bad = side_epilogue(t, 0, !step, true);
    double sum = 0.0;
    for (size_t r = 0; r < t->users; ++r)
        sum += o->rowdot[r];
    *loss = sum;
    if (!step) {
        if (want_b && !bad && isfinite(sum)) {
            /* B = P^T G: the state in double beside G (in y[0]); y[1] is
             * free and large enough only when items >= users, so the
             * state goes to a buffer of its own. */
            double *pd = sm_alloc(t->users * t->dim + 1, sizeof(double));
            if (!pd)
                return -1;
            const bool f64 = t->esize == 8;
            for (size_t i = 0; i < t->users * t->dim; ++i)
                pd[i] = ld_elem(o->state[0], i, f64);
            sm_split sp;
            signmf_status xs = sm_xty_split(t->kern, pd, t->dim, o->y[0], t->dim, t->users, t->dim,
                                            t->dim, t->threads, gram_split(t, &sp), o->B);
            sm_free(pd);
            if (xs != SIGNMF_OK)
                return -1;
            o->b_valid = true;
        }
        return bad || !isfinite(sum);
    }
    bad |= side_epilogue(t, 1, false, false);
    return bad || !isfinite(sum);
}

int sm_ortho_commit(signmf_trainer *t)
{
    sm_ortho *o = t->orth;
    size_t rep = 0;
    for (int side = 0; side < 2; ++side)
        if (orthonormalize_side(t, side, &rep) != SIGNMF_OK)
            return -1;
    for (int side = 0; side < 2; ++side)
        store_state(t, side);
    o->replaced = rep;
    o->b_valid = false;
    fill_sources(t);
    return 0;
}

signmf_status sm_ortho_fill_model(signmf_trainer *t, signmf_model *m)
{
    sm_ortho *o = t->orth;
    const size_t dim = t->dim;
    if (!o->b_valid) {
        double loss;
        int r = sm_ortho_pass(t, false, true, &loss);
        if (r < 0)
            return SIGNMF_ENOMEM;
        if (r > 0)
            return SIGNMF_ENONFINITE;
    }
    double *U = sm_alloc(dim * dim, sizeof(double)), *V = sm_alloc(dim * dim, sizeof(double));
    double *tmp = NULL;
    size_t most = t->users > t->items ? t->users : t->items, n;
    signmf_status st = SIGNMF_OK;
    if (!U || !V || sm_mul_overflows(most, dim, &n) || !(tmp = sm_alloc(n ? n : 1, sizeof(double))))
        st = SIGNMF_ENOMEM;
    if (st == SIGNMF_OK)
        st = sm_svd_small(o->B, dim, U, m->sigma, V);
    /* The shrink (signmf.h): sigma is descending, so with t <= 1 no value
     * goes below 0 and sigma + tau gives the Ritz values back for fold-in. */
    m->sigma_tau = 0.0;
    if (st == SIGNMF_OK && t->params.shrink > 0.0 && dim > 0) {
        const double tau = t->params.shrink * m->sigma[dim - 1];
        for (size_t c = 0; c < dim; ++c)
            m->sigma[c] -= tau;
        m->sigma_tau = tau;
    }
    const bool f64 = t->esize == 8;
    for (int side = 0; side < 2 && st == SIGNMF_OK; ++side) {
        size_t rows = side ? t->items : t->users;
        /* state (precision) widened into y, rotated into tmp */
        for (size_t i = 0; i < rows * dim; ++i)
            o->y[side][i] = ld_elem(o->state[side], i, f64);
        sm_mul_small(t->kern, o->y[side], dim, rows, dim, side ? V : U, dim, tmp, dim, t->threads);
        void *dst = side ? m->Qt : m->P;
        const double ge = t->params.degree_exp;
        for (size_t r = 0; r < rows; ++r) {
            uint32_t deg = o->degree[side][r];
            double un = ge == 0.0 ? 1.0 : pow(deg ? (double)deg : 1.0, ge);
            for (size_t c = 0; c < dim; ++c)
                st_elem(dst, r * dim + c, un * tmp[r * dim + c], f64);
        }
        memcpy(side ? m->Qst : m->Pst, o->state[side], rows * dim * t->esize);
    }
    if (st == SIGNMF_OK)
        memcpy(m->item_degree, o->degree[1], t->items * sizeof(uint32_t));
    /* y held copies only: the next step recomputes it */
    sm_free(U);
    sm_free(V);
    sm_free(tmp);
    return st;
}
