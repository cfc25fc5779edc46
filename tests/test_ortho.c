/* The orthonormal method (signmf.h, signmf_method): orthonormal state, the
 * constrained loss against a dense computation of D~, the Rayleigh-Ritz
 * model, determinism across threads, kernel sets and blocking, resume,
 * fold-in, and degenerate data. */
#include "model_file.h"
#include "train/ortho.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct dense {
    size_t users, items;
    double *W; /* users x items, 0 = unrated */
} dense;

/* Random ratings with ids 1.., an empty user (index 2) and, when items >
 * 4, an empty item (index 3); ties to the mean occur (integer ratings). */
static signmf_ratings *make(size_t users, size_t items, size_t per, unsigned seed, dense *d)
{
    size_t cap = users * per + 1, n = 0;
    int64_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
    double *r = malloc(cap * sizeof *r);
    d->users = users;
    d->items = items;
    d->W = calloc(users * items, sizeof *d->W);
    srand(seed);
    for (size_t i = 0; i < users; ++i) {
        if (i == 2 && users > 3)
            continue;
        for (size_t c = 0; c < per; ++c) {
            size_t j = (size_t)rand() % items;
            if ((j == 3 && items > 4) || d->W[i * items + j] != 0)
                continue;
            double v = 1 + rand() % 5;
            d->W[i * items + j] = v;
            u[n] = (int64_t)i + 1, it[n] = (int64_t)j + 1, r[n] = v;
            ++n;
        }
    }
    if (d->W[users * items - 1] == 0) {
        d->W[users * items - 1] = 4;
        u[n] = (int64_t)users, it[n] = (int64_t)items, r[n] = 4;
        ++n;
    }
    signmf_ratings *out = NULL;
    signmf_error err;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_DIRECT, &out, &err),
                 SIGNMF_OK, "%s", err.message);
    cr_assert_eq(signmf_ratings_users(out), users);
    cr_assert_eq(signmf_ratings_items(out), items);
    free(u), free(it), free(r);
    return out;
}

/* -D~ = diag(n_u^-g) (w O + S) diag(n_i^-g) from the dense ratings, with the
 * mean rule computed here independently of signs.c. */
static double *minus_dtilde(const dense *d, double w, double g)
{
    size_t U = d->users, I = d->items;
    double *M = calloc(U * I, sizeof *M), *cu = calloc(U, sizeof *cu), *ci = calloc(I, sizeof *ci);
    for (size_t i = 0; i < U; ++i)
        for (size_t j = 0; j < I; ++j)
            if (d->W[i * I + j] != 0)
                cu[i]++, ci[j]++;
    for (size_t i = 0; i < U; ++i) {
        double sum = 0;
        for (size_t j = 0; j < I; ++j)
            sum += d->W[i * I + j];
        double mean = cu[i] > 0 ? sum / cu[i] : 0;
        for (size_t j = 0; j < I; ++j) {
            double v = d->W[i * I + j];
            if (v == 0)
                continue;
            double s = v > mean ? 1 : v < mean ? -1 : 0;
            M[i * I + j] =
                pow(cu[i] > 0 ? cu[i] : 1, -g) * (w + s) * pow(ci[j] > 0 ? ci[j] : 1, -g);
        }
    }
    free(cu), free(ci);
    return M;
}

static signmf_params ortho_params(size_t dim, signmf_precision prec)
{
    signmf_params p = signmf_params_for(SIGNMF_METHOD_ORTHONORMAL);
    p.dim = dim;
    p.precision = prec;
    p.threads = 2;
    return p;
}

static double elem(const void *a, size_t i, signmf_precision prec)
{
    return prec == SIGNMF_F64 ? ((const double *)a)[i] : (double)((const float *)a)[i];
}

static double max_gram_error(const void *X, size_t n, size_t k, signmf_precision prec)
{
    double worst = 0;
    for (size_t a = 0; a < k; ++a)
        for (size_t b = 0; b < k; ++b) {
            double s = 0;
            for (size_t r = 0; r < n; ++r)
                s += elem(X, r * k + a, prec) * elem(X, r * k + b, prec);
            worst = fmax(worst, fabs(s - (a == b)));
        }
    return worst;
}

/* sum D~ (P Q) of the state, densely */
static double dense_loss(const double *M, const signmf_trainer *t)
{
    const sm_ortho *o = t->orth;
    double L = 0;
    for (size_t i = 0; i < t->users; ++i)
        for (size_t j = 0; j < t->items; ++j) {
            if (M[i * t->items + j] == 0)
                continue;
            double s = 0;
            for (size_t c = 0; c < t->dim; ++c)
                s += elem(o->state[0], i * t->dim + c, t->params.precision) *
                     elem(o->state[1], j * t->dim + c, t->params.precision);
            L -= M[i * t->items + j] * s;
        }
    return L;
}

Test(ortho, state_is_orthonormal_and_loss_is_dense_dtilde)
{
    dense d;
    signmf_ratings *r = make(40, 30, 12, 5, &d);
    for (int prec = 0; prec < 2; ++prec) {
        const double tol = prec ? 1e-12 : 2e-6;
        /* w = g = 0 is the notebook's D; the defaults weight and normalise */
        const double wg[3][2] = {{0, 0}, {5, 0.3}, {0.5, 1}};
        for (int c = 0; c < 3; ++c) {
            signmf_params p = ortho_params(7, prec ? SIGNMF_F64 : SIGNMF_F32);
            p.rated_weight = wg[c][0];
            p.degree_exp = wg[c][1];
            double *M = minus_dtilde(&d, p.rated_weight, p.degree_exp);
            signmf_trainer *t;
            signmf_error err;
            cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
            for (int e = 0; e < 4; ++e) {
                cr_assert_lt(max_gram_error(t->orth->state[0], t->users, t->dim, p.precision), tol);
                cr_assert_lt(max_gram_error(t->orth->state[1], t->items, t->dim, p.precision), tol);
                double loss, want = dense_loss(M, t);
                cr_assert_eq(signmf_trainer_loss(t, &loss), SIGNMF_OK);
                cr_assert(fabs(loss - want) <= (prec ? 1e-9 : 1e-5) * (1 + fabs(want)),
                          "w %g g %g epoch %d: loss %.17g, dense %.17g", p.rated_weight,
                          p.degree_exp, e, loss, want);
                cr_assert_eq(signmf_trainer_run(t, 1, NULL, NULL, &err), SIGNMF_OK, "%s",
                             err.message);
            }
            signmf_trainer_free(t);
            free(M);
        }
    }
    free(d.W);
    signmf_ratings_free(r);
}

/* The model is the Rayleigh-Ritz step: P diag(sigma) Qt equals
 * diag(n_u^g) P_s B Q_s^T diag(n_i^g) with B = P_s^T (-D~) Q_s^T. */
Test(ortho, model_is_rayleigh_ritz_of_the_state)
{
    dense d;
    signmf_ratings *r = make(35, 28, 10, 8, &d);
    signmf_params p = ortho_params(6, SIGNMF_F64);
    double *M = minus_dtilde(&d, p.rated_weight, p.degree_exp);
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 6, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    const size_t k = p.dim, U = t->users, I = t->items;
    const double *Ps = t->orth->state[0], *Qs = t->orth->state[1], *sg = signmf_model_sigma(m);
    cr_assert_eq(signmf_model_method(m), SIGNMF_METHOD_ORTHONORMAL);
    for (size_t c = 0; c < k; ++c) {
        cr_assert(sg[c] >= 0 && isfinite(sg[c]));
        if (c)
            cr_assert_geq(sg[c - 1], sg[c]);
    }
    /* the shrink: sigma is the Ritz values less tau = t * the smallest */
    const double tau = signmf_model_shrink_tau(m);
    cr_assert_gt(p.shrink, 0);
    cr_assert_gt(tau, 0);
    cr_assert_float_eq(tau, p.shrink * (sg[k - 1] + tau), 1e-12 * tau);
    double *B = calloc(k * k, sizeof *B);
    for (size_t a = 0; a < k; ++a)
        for (size_t b = 0; b < k; ++b)
            for (size_t i = 0; i < U; ++i)
                for (size_t j = 0; j < I; ++j)
                    B[a * k + b] += Ps[i * k + a] * M[i * I + j] * Qs[j * k + b];
    double worst = 0, scale = 0;
    for (size_t i = 0; i < U; ++i)
        for (size_t j = 0; j < I; ++j) {
            double want = 0, got = 0;
            for (size_t a = 0; a < k; ++a)
                for (size_t b = 0; b < k; ++b)
                    want += Ps[i * k + a] * B[a * k + b] * Qs[j * k + b];
            want *=
                t->orth->scale[0][i] == 0 ? 0 : 1 / (t->orth->scale[0][i] * t->orth->scale[1][j]);
            for (size_t c = 0; c < k; ++c)
                got += ((const double *)m->P)[i * k + c] * (sg[c] + tau) *
                       ((const double *)m->Qt)[j * k + c];
            worst = fmax(worst, fabs(got - want));
            scale = fmax(scale, fabs(want));
        }
    cr_assert_lt(worst, 1e-11 * scale, "Rayleigh-Ritz scores off by %g (scale %g)", worst, scale);
    /* the served scores use Qt times sigma, and equal the product above */
    signmf_rec rec[28];
    size_t cnt;
    cr_assert_eq(signmf_recommend(m, 1, 5, rec, &cnt, NULL), SIGNMF_OK);
    cr_assert_gt(cnt, 0);
    size_t j = (size_t)rec[0].item - 1;
    double s = 0;
    for (size_t c = 0; c < k; ++c)
        s = fma(((const double *)m->P)[c], ((const double *)m->Qt)[j * k + c] * sg[c], s);
    cr_assert_eq(s, rec[0].score);
    free(B);
    free(M);
    free(d.W);
    signmf_model_free(m);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

static signmf_model *run_model(const signmf_ratings *r, signmf_params p, const sm_kernels *k,
                               uint64_t epochs)
{
    signmf_trainer *t;
    signmf_error err;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
    if (k)
        t->kern = k;
    cr_assert_eq(signmf_trainer_run(t, epochs, NULL, NULL, &err), SIGNMF_OK, "%s", err.message);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    signmf_trainer_free(t);
    return m;
}

static void same_model(const signmf_model *a, const signmf_model *b, const char *what)
{
    size_t es = sm_elem_size(a->precision);
    cr_assert_eq(memcmp(a->P, b->P, a->users * a->dim * es), 0, "%s: P differs", what);
    cr_assert_eq(memcmp(a->Qt, b->Qt, a->items * a->dim * es), 0, "%s: Qt differs", what);
    cr_assert_eq(memcmp(a->Pst, b->Pst, a->users * a->dim * es), 0, "%s: state differs", what);
    cr_assert_eq(memcmp(a->sigma, b->sigma, a->dim * sizeof(double)), 0, "%s: sigma differs", what);
    cr_assert_eq(memcmp(&a->last_loss, &b->last_loss, sizeof(double)), 0, "%s: loss differs", what);
}

Test(ortho, identical_for_threads_kernel_sets_and_blocking)
{
    dense d;
    signmf_ratings *r = make(80, 60, 20, 9, &d);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = ortho_params(19, prec ? SIGNMF_F64 : SIGNMF_F32);
        p.threads = 1;
        signmf_model *ref = run_model(r, p, sm_kernels_for(SM_ISA_PORTABLE), 5);
        for (int th = 2; th <= 3; ++th) {
            p.threads = th;
            signmf_model *m = run_model(r, p, NULL, 5);
            same_model(ref, m, "threads");
            signmf_model_free(m);
        }
        for (int isa = 1; isa < SM_ISA_COUNT; ++isa) {
            const sm_kernels *k = sm_kernels_for((sm_isa)isa);
            if (!k)
                continue;
            signmf_model *m = run_model(r, p, k, 5);
            same_model(ref, m, k->name);
            signmf_model_free(m);
        }
        /* blocked sources sum block by block: other bits, same threads rule */
        setenv("SIGNMF_BLOCK_ROWS", "7", 1);
        p.threads = 1;
        signmf_model *b1 = run_model(r, p, NULL, 5);
        p.threads = 3;
        signmf_model *b3 = run_model(r, p, NULL, 5);
        unsetenv("SIGNMF_BLOCK_ROWS");
        same_model(b1, b3, "blocked");
        double worst = 0;
        for (size_t c = 0; c < p.dim; ++c)
            worst = fmax(worst, fabs(b1->sigma[c] - ref->sigma[c]) / ref->sigma[0]);
        cr_assert_lt(worst, prec ? 1e-12 : 1e-4, "blocked sigma off by %g", worst);
        signmf_model_free(b1);
        signmf_model_free(b3);
        signmf_model_free(ref);
    }
    free(d.W);
    signmf_ratings_free(r);
}

Test(ortho, resume_and_save_are_bit_identical)
{
    dense d;
    signmf_ratings *r = make(50, 40, 15, 4, &d);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = ortho_params(9, prec ? SIGNMF_F64 : SIGNMF_F32);
        signmf_model *whole = run_model(r, p, NULL, 9), *half = run_model(r, p, NULL, 4);
        char path[] = "/tmp/signmf_orthoXXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        close(fd);
        cr_assert_eq(signmf_model_save(half, path, NULL), SIGNMF_OK);
        for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags += SIGNMF_OPEN_MMAP) {
            signmf_model *back;
            signmf_error err;
            cr_assert_eq(signmf_model_open(path, flags, &back, &err), SIGNMF_OK, "%s", err.message);
            same_model(half, back, "saved");
            cr_assert_eq(
                memcmp(half->Qp, back->Qp,
                       (half->items + 15) / 16 * 16 * half->dim * sm_elem_size(half->precision)),
                0);
            cr_assert_eq(back->params.rated_weight, p.rated_weight);
            cr_assert_eq(back->params.degree_exp, p.degree_exp);
            cr_assert_eq(back->params.shrink, p.shrink);
            cr_assert_eq(memcmp(&back->sigma_tau, &half->sigma_tau, sizeof(double)), 0);
            signmf_trainer *t;
            cr_assert_eq(signmf_trainer_resume(r, back, -1, &t, &err), SIGNMF_OK, "%s",
                         err.message);
            cr_assert_eq(signmf_trainer_run(t, 5, NULL, NULL, &err), SIGNMF_OK, "%s", err.message);
            signmf_model *m;
            cr_assert_eq(signmf_trainer_into_model(&t, &m), SIGNMF_OK);
            same_model(whole, m, "resumed");
            signmf_model_free(m);
            signmf_model_free(back);
        }
        unlink(path);
        signmf_model_free(whole);
        signmf_model_free(half);
    }
    free(d.W);
    signmf_ratings_free(r);
}

/* At convergence a trained user's own ratings fold in to its row of P. */
Test(ortho, foldin_of_a_trained_user_gives_its_row)
{
    dense d;
    signmf_ratings *r = make(30, 25, 14, 21, &d);
    signmf_params p = ortho_params(3, SIGNMF_F64);
    signmf_model *m = run_model(r, p, NULL, 3000);
    size_t k = p.dim, I = d.items;
    for (size_t u = 0; u < d.users; u += 7) {
        int64_t items[25];
        double ratings[25];
        size_t n = 0;
        for (size_t j = 0; j < I; ++j)
            if (d.W[u * I + j] != 0)
                items[n] = (int64_t)j + 1, ratings[n++] = d.W[u * I + j];
        if (n == 0)
            continue;
        double v[3];
        signmf_error err;
        cr_assert_eq(signmf_foldin_embedding(m, items, ratings, n, v, &err), SIGNMF_OK, "%s",
                     err.message);
        double norm = 0;
        for (size_t c = 0; c < k; ++c)
            norm = fmax(norm, fabs(((const double *)m->P)[u * k + c]));
        for (size_t c = 0; c < k; ++c) {
            double want = ((const double *)m->P)[u * k + c];
            cr_assert(fabs(v[c] - want) <= 1e-9 * norm, "user %zu dim %zu: %.12g, P %.12g", u, c,
                      v[c], want);
        }
    }
    signmf_model_free(m);
    free(d.W);
    signmf_ratings_free(r);
}

/* Tiny and degenerate data: an empty user and item, dim = min(users,
 * items), a constant rating matrix: orthonormal, finite, never NaN. */
Test(ortho, degenerate_data_stays_finite)
{
    dense d;
    signmf_ratings *r = make(6, 5, 3, 2, &d);
    for (int prec = 0; prec < 2; ++prec)
        for (size_t dim = 1; dim <= 5; dim += 2) {
            signmf_params p = ortho_params(dim, prec ? SIGNMF_F64 : SIGNMF_F32);
            signmf_trainer *t;
            signmf_error err;
            cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
            cr_assert_eq(signmf_trainer_run(t, 20, NULL, NULL, &err), SIGNMF_OK, "%s", err.message);
            cr_assert_lt(max_gram_error(t->orth->state[1], t->items, dim, p.precision),
                         prec ? 1e-10 : 1e-5);
            signmf_model *m;
            cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
            for (size_t i = 0; i < m->users * dim; ++i)
                cr_assert(isfinite(elem(m->P, i, p.precision)));
            for (size_t i = 0; i < m->items * dim; ++i)
                cr_assert(isfinite(elem(m->Qt, i, p.precision)));
            for (size_t c = 0; c < dim; ++c)
                cr_assert(isfinite(m->sigma[c]) && m->sigma[c] >= 0);
            signmf_model_free(m);
            signmf_trainer_free(t);
        }
    free(d.W);
    signmf_ratings_free(r);
    /* every rating the same: one class, a rank-one D~ */
    int64_t u[4] = {1, 1, 2, 3}, it[4] = {1, 2, 2, 3};
    double v[4] = {3, 3, 3, 3};
    signmf_ratings *c;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, v, 4, SIGNMF_IDS_DIRECT, &c, NULL), SIGNMF_OK);
    signmf_params p = ortho_params(3, SIGNMF_F64);
    signmf_model *m = run_model(c, p, NULL, 10);
    for (size_t i = 0; i < 9; ++i)
        cr_assert(isfinite(((double *)m->P)[i]) && isfinite(((double *)m->Qt)[i]));
    signmf_model_free(m);
    signmf_ratings_free(c);
}

/* A step that overflows is caught in the epilogue's finiteness check (an
 * integer test on the exponent bits), whichever element of whichever row
 * it is, and the last finite state is kept. */
Test(ortho, overflowing_step_is_reported)
{
    dense d;
    signmf_ratings *r = make(20, 17, 6, 4, &d);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = ortho_params(5, prec ? SIGNMF_F64 : SIGNMF_F32);
        p.lr = 1e308;
        p.rated_weight = 1e10;
        signmf_trainer *t;
        signmf_error err;
        cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
        cr_assert_eq(signmf_trainer_run(t, 3, NULL, NULL, &err), SIGNMF_ENONFINITE);
        signmf_model *m;
        cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
        for (size_t i = 0; i < m->users * 5; ++i)
            cr_assert(isfinite(elem(m->P, i, p.precision)));
        for (size_t i = 0; i < m->items * 5; ++i)
            cr_assert(isfinite(elem(m->Qt, i, p.precision)));
        signmf_model_free(m);
        signmf_trainer_free(t);
    }
    free(d.W);
    signmf_ratings_free(r);
}

Test(ortho, rejects_what_does_not_apply)
{
    dense d;
    signmf_ratings *r = make(6, 5, 3, 2, &d);
    signmf_trainer *t;
    signmf_error err;
    signmf_params p = ortho_params(6, SIGNMF_F32);
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "min(users, items) = 5"), "%s", err.message);
    p = ortho_params(2, SIGNMF_F32);
    p.rescale = 1;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    p = ortho_params(2, SIGNMF_F32);
    p.degree_exp = 1.5;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    p.degree_exp = 0.3;
    p.rated_weight = NAN;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    const double bad_shrink[] = {-0.1, 1.5, NAN};
    for (size_t i = 0; i < 3; ++i) {
        p = ortho_params(2, SIGNMF_F32);
        p.shrink = bad_shrink[i];
        cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
        cr_assert(strstr(err.message, "shrink must be in [0, 1]"), "%s", err.message);
    }
    p = signmf_params_default();
    p.dim = 2;
    p.shrink = 0.5;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "orthonormal method only"), "%s", err.message);
    p = signmf_params_default();
    p.dim = 2;
    p.rated_weight = 1;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "orthonormal method only"), "%s", err.message);
    p.rated_weight = 0;
    p.method = (signmf_method)7;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_EINVAL);
    cr_assert_str_eq(signmf_method_name(SIGNMF_METHOD_ORTHONORMAL), "orthonormal");
    cr_assert_null(signmf_method_name((signmf_method)7));
    free(d.W);
    signmf_ratings_free(r);
}

/* The shrink changes sigma only: the factors are those of shrink 0, sigma
 * is the Ritz values less t times the smallest (the same double
 * arithmetic), and fold-in, which divides by the Ritz values, gives the
 * same embedding. */
Test(ortho, shrink_soft_thresholds_sigma_only)
{
    dense d;
    signmf_ratings *r = make(40, 30, 12, 5, &d);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = ortho_params(6, prec ? SIGNMF_F64 : SIGNMF_F32);
        p.shrink = 0;
        signmf_model *plain = run_model(r, p, NULL, 30);
        cr_assert_eq(signmf_model_shrink_tau(plain), 0.0);
        const double ts[] = {0.25, 0.75, 1.0};
        for (size_t i = 0; i < 3; ++i) {
            p.shrink = ts[i];
            signmf_model *m = run_model(r, p, NULL, 30);
            size_t es = sm_elem_size(m->precision), k = m->dim;
            cr_assert_eq(memcmp(plain->P, m->P, m->users * k * es), 0);
            cr_assert_eq(memcmp(plain->Qt, m->Qt, m->items * k * es), 0);
            const double *s0 = signmf_model_sigma(plain), *s1 = signmf_model_sigma(m);
            const double tau = ts[i] * s0[k - 1];
            cr_assert_eq(signmf_model_shrink_tau(m), tau);
            for (size_t c = 0; c < k; ++c)
                cr_assert_eq(s1[c], s0[c] - tau, "t %g sigma[%zu] %.17g, want %.17g", ts[i], c,
                             s1[c], s0[c] - tau);
            if (ts[i] == 1.0)
                cr_assert_eq(s1[k - 1], 0.0);
            int64_t items[] = {1, 4, 9, 17};
            double ratings[] = {5, 1, 3, 4};
            double a[6], b[6];
            cr_assert_eq(signmf_foldin_embedding(plain, items, ratings, 4, a, NULL), SIGNMF_OK);
            cr_assert_eq(signmf_foldin_embedding(m, items, ratings, 4, b, NULL), SIGNMF_OK);
            for (size_t c = 0; c < k; ++c)
                cr_assert(fabs(a[c] - b[c]) <= 1e-6 * fabs(a[c]) + 1e-12,
                          "t %g fold-in[%zu] %.9g against %.9g", ts[i], c, b[c], a[c]);
            signmf_model_free(m);
        }
        signmf_model_free(plain);
    }
    free(d.W);
    signmf_ratings_free(r);
}

/* A format 3 file (an orthonormal model from before the shrink: zeros where
 * format 4 keeps t and tau) opens with no shrink, serves the same lists,
 * and is saved again as format 4 with nothing else changed. */
Test(ortho, version_3_still_opens)
{
    dense d;
    signmf_ratings *r = make(30, 24, 10, 6, &d);
    signmf_params p = ortho_params(5, SIGNMF_F32);
    p.shrink = 0;
    signmf_model *m = run_model(r, p, NULL, 12);
    char path[] = "/tmp/signmf_v3XXXXXX", again[] = "/tmp/signmf_v4XXXXXX";
    int fd = mkstemp(path), fd2 = mkstemp(again);
    cr_assert(fd >= 0 && fd2 >= 0);
    close(fd);
    close(fd2);
    cr_assert_eq(signmf_model_save(m, path, NULL), SIGNMF_OK);
    size_t len;
    unsigned char *buf = slurp(path, &len), *four = malloc(len);
    memcpy(four, buf, len);
    uint32_t v;
    memcpy(&v, buf + 8, 4);
    cr_assert_eq(v, 4u);
    v = 3;
    memcpy(buf + 8, &v, 4);
    reseal(buf, len);
    spit(path, buf, len);
    for (unsigned flags = 0; flags <= SIGNMF_OPEN_MMAP; flags += SIGNMF_OPEN_MMAP) {
        signmf_model *o;
        signmf_error err;
        cr_assert_eq(signmf_model_open(path, flags, &o, &err), SIGNMF_OK, "%s", err.message);
        same_model(m, o, "format 3");
        cr_assert_eq(signmf_model_params(o).shrink, 0.0);
        cr_assert_eq(signmf_model_shrink_tau(o), 0.0);
        signmf_rec a[5], b[5];
        size_t na, nb;
        cr_assert_eq(signmf_recommend(m, 2, 5, a, &na, NULL), SIGNMF_OK);
        cr_assert_eq(signmf_recommend(o, 2, 5, b, &nb, NULL), SIGNMF_OK);
        cr_assert(na == nb && memcmp(a, b, na * sizeof *a) == 0);
        cr_assert_eq(signmf_model_save(o, again, &err), SIGNMF_OK, "%s", err.message);
        signmf_model_free(o);
    }
    size_t alen;
    unsigned char *back = slurp(again, &alen);
    cr_assert_eq(alen, len);
    cr_assert(memcmp(back, four, len) == 0, "saved again, a format 3 model is the format 4 file");
    unlink(path);
    unlink(again);
    free(back);
    free(buf);
    free(four);
    signmf_model_free(m);
    free(d.W);
    signmf_ratings_free(r);
}

/* A model file whose parameters block holds a shrink outside [0, 1] or a
 * negative tau, with valid CRCs (a buggy or hostile writer), is refused
 * with a message that names the parameters. */
Test(ortho, bad_shrink_in_a_model_file_is_refused)
{
    dense d;
    signmf_ratings *r = make(30, 24, 10, 8, &d);
    signmf_params p = ortho_params(4, SIGNMF_F32);
    signmf_model *m = run_model(r, p, NULL, 5);
    char path[] = "/tmp/signmf_badshrinkXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(signmf_model_save(m, path, NULL), SIGNMF_OK);
    size_t len;
    unsigned char *buf = slurp(path, &len), *bad = malloc(len);
    /* the parameters block: rated weight, degree exponent, shrink, tau */
    double want[3] = {p.rated_weight, p.degree_exp, p.shrink};
    size_t at = 0;
    for (size_t i = 256; i + sizeof want <= len && !at; i += 8)
        if (memcmp(buf + i, want, sizeof want) == 0)
            at = i;
    cr_assert_gt(at, 0, "parameters block not found");
    const double patches[][2] = {{2.0, 0.0}, {-0.5, 0.0}, {0.75, -1.0}, {0.75, NAN}};
    for (size_t c = 0; c < 4; ++c) {
        memcpy(bad, buf, len);
        double sh = patches[c][0], tau = patches[c][1];
        memcpy(bad + at + 16, &sh, 8);
        if (c >= 2)
            memcpy(bad + at + 24, &tau, 8);
        reseal(bad, len);
        spit(path, bad, len);
        signmf_model *o = NULL;
        signmf_error err;
        cr_assert_eq(signmf_model_open(path, 0, &o, &err), SIGNMF_EFORMAT, "case %zu", c);
        cr_assert(strstr(err.message, "expected a shrink in [0, 1] and a finite tau >= 0"), "%s",
                  err.message);
        cr_assert_null(o);
    }
    unlink(path);
    free(buf);
    free(bad);
    signmf_model_free(m);
    free(d.W);
    signmf_ratings_free(r);
}
