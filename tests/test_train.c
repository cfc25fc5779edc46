/* Training driver: numpy-compatible initialisation, determinism across
 * threads, kernels and panel widths, the loss identity, callbacks,
 * non-finite handling and resume. */
#include "rng/rng.h"
#include "train/train.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static signmf_ratings *make_ratings(size_t users, size_t items, size_t per, unsigned seed)
{
    size_t n = 0, cap = users * per;
    int64_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
    double *r = malloc(cap * sizeof *r);
    unsigned char *seen = calloc(items, 1);
    srand(seed);
    for (size_t i = 0; i < users; ++i) {
        if (i == 2)
            continue; /* a user with no ratings */
        memset(seen, 0, items);
        size_t want = per < items ? per : items;
        for (size_t c = 0; c < want; ++c) {
            size_t j = (size_t)rand() % items;
            if (seen[j])
                continue;
            seen[j] = 1;
            u[n] = (int64_t)i + 1, it[n] = (int64_t)j + 1, r[n] = 1 + rand() % 5;
            ++n;
        }
    }
    /* keep the largest ids present so direct mode gives users x items */
    u[n] = (int64_t)users, it[n] = (int64_t)items, r[n] = 3;
    for (size_t e = 0; e < n; ++e)
        if (u[e] == (int64_t)users && it[e] == (int64_t)items)
            r[n] = 0;
    if (r[n] != 0)
        ++n;
    signmf_ratings *out = NULL;
    signmf_error err;
    cr_assert_eq(signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_DIRECT, &out, &err),
                 SIGNMF_OK, "%s", err.message);
    free(u), free(it), free(r), free(seen);
    return out;
}

static signmf_model *train(const signmf_ratings *r, signmf_params p, uint64_t epochs)
{
    signmf_trainer *t;
    signmf_error err;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK, "%s", err.message);
    cr_assert_eq(signmf_trainer_run(t, epochs, NULL, NULL, &err), SIGNMF_OK, "%s", err.message);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    signmf_trainer_free(t);
    return m;
}

static void assert_same_model(const signmf_model *a, const signmf_model *b)
{
    size_t es = sm_elem_size(a->precision);
    cr_assert_eq(memcmp(a->P, b->P, a->users * a->dim * es), 0, "P differs");
    cr_assert_eq(memcmp(a->Qt, b->Qt, a->items * a->dim * es), 0, "Q differs");
}

Test(train, init_is_numpy_draw_order)
{
    signmf_ratings *r = make_ratings(11, 13, 5, 1);
    signmf_params p = signmf_params_default();
    p.dim = 21; /* not a multiple of any lane count */
    p.precision = SIGNMF_F64;
    p.seed = 1;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    sm_rng g;
    sm_rng_seed(&g, 1);
    const double *P = m->P, *Qt = m->Qt;
    for (size_t i = 0; i < 11 * 21; ++i)
        cr_assert_eq(P[i], sm_rng_gauss(&g));
    for (size_t kk = 0; kk < 21; ++kk)
        for (size_t j = 0; j < 13; ++j)
            cr_assert_eq(Qt[j * 21 + kk], sm_rng_gauss(&g));
    signmf_model_free(m);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

Test(train, identical_for_any_thread_count)
{
    signmf_ratings *r = make_ratings(90, 70, 20, 2);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = signmf_params_default();
        p.dim = 200;
        p.precision = prec ? SIGNMF_F64 : SIGNMF_F32;
        p.threads = 1;
        signmf_model *ref = train(r, p, 6);
        for (int th = 2; th <= 5; ++th) {
            p.threads = th;
            signmf_model *m = train(r, p, 6);
            assert_same_model(ref, m);
            cr_assert_eq(memcmp(&ref->last_loss, &m->last_loss, sizeof(double)), 0,
                         "loss differs with %d threads", th);
            signmf_model_free(m);
        }
        signmf_model_free(ref);
    }
    signmf_ratings_free(r);
}

Test(train, identical_for_every_kernel_set)
{
    signmf_ratings *r = make_ratings(60, 50, 15, 3);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = signmf_params_default();
        p.dim = 77;
        p.threads = 2;
        p.precision = prec ? SIGNMF_F64 : SIGNMF_F32;
        signmf_trainer *t[SM_ISA_COUNT] = {0};
        double loss[SM_ISA_COUNT], a = 1e-2;
        for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
            const sm_kernels *k = sm_kernels_for((sm_isa)isa);
            if (!k)
                continue;
            cr_assert_eq(signmf_trainer_create(r, &p, &t[isa], NULL), SIGNMF_OK);
            for (int e = 0; e < 4; ++e) {
                sm_train_pass(t[isa], k, &a, 1.0, &loss[isa]);
                t[isa]->cur = 1 - t[isa]->cur;
            }
            if (isa > 0) {
                size_t es = t[0]->esize;
                cr_assert_eq(memcmp(t[0]->P[t[0]->cur], t[isa]->P[t[isa]->cur],
                                    t[0]->users * t[0]->kpad * es),
                             0, "%s P differs", k->name);
                cr_assert_eq(memcmp(t[0]->Q[t[0]->cur], t[isa]->Q[t[isa]->cur],
                                    t[0]->items * t[0]->kpad * es),
                             0, "%s Q differs", k->name);
                cr_assert_eq(memcmp(&loss[0], &loss[isa], sizeof(double)), 0);
            }
        }
        for (int isa = 0; isa < SM_ISA_COUNT; ++isa)
            signmf_trainer_free(t[isa]);
    }
    signmf_ratings_free(r);
}

Test(train, panel_width_does_not_change_embeddings)
{
    signmf_ratings *r = make_ratings(40, 45, 12, 4);
    signmf_params p = signmf_params_default();
    p.dim = 300;
    p.threads = 2;
    setenv("SIGNMF_PANEL", "16", 1);
    signmf_model *a = train(r, p, 3);
    setenv("SIGNMF_PANEL", "512", 1);
    signmf_model *b = train(r, p, 3);
    unsetenv("SIGNMF_PANEL");
    assert_same_model(a, b);
    cr_assert_float_eq(a->last_loss, b->last_loss, 1e-6 * fabs(a->last_loss));
    signmf_model_free(a);
    signmf_model_free(b);
    signmf_ratings_free(r);
}

/* L = sum_i P_i . gradP_i = sum_j Q_j . gradQ_j = sum_ij D_ij (PQ)_ij. */
Test(train, loss_identity)
{
    signmf_ratings *r = make_ratings(30, 25, 10, 5);
    signmf_params p = signmf_params_default();
    p.dim = 40;
    p.precision = SIGNMF_F64;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    double loss;
    cr_assert_eq(signmf_trainer_loss(t, &loss), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    const double *P = m->P, *Q = m->Qt;
    double byq = 0, direct = 0;
    for (size_t j = 0; j < t->items; ++j) {
        double g[40] = {0};
        for (size_t e = t->by_item.ptr[j]; e < t->by_item.ptr[j + 1]; ++e) {
            double sgn = e < t->by_item.mid[j] ? 1.0 : -1.0;
            for (size_t kk = 0; kk < 40; ++kk)
                g[kk] += sgn * P[t->by_item.idx[e] * 40 + kk];
        }
        for (size_t kk = 0; kk < 40; ++kk)
            byq += Q[j * 40 + kk] * g[kk];
    }
    for (size_t i = 0; i < t->users; ++i)
        for (size_t e = t->by_user.ptr[i]; e < t->by_user.ptr[i + 1]; ++e) {
            size_t j = t->by_user.idx[e];
            double sgn = e < t->by_user.mid[i] ? 1.0 : -1.0, pq = 0;
            for (size_t kk = 0; kk < 40; ++kk)
                pq += P[i * 40 + kk] * Q[j * 40 + kk];
            direct += sgn * pq;
        }
    cr_assert_float_eq(loss, byq, 1e-10 * fabs(loss));
    cr_assert_float_eq(loss, direct, 1e-10 * fabs(loss));
    signmf_model_free(m);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

static int count_cb(void *u, uint64_t epoch, double loss, double ls, double sec)
{
    (void)ls, (void)sec;
    int *n = u;
    cr_assert_eq(epoch, (uint64_t)*n);
    cr_assert(isfinite(loss));
    ++*n;
    return 0;
}

static int stop_cb(void *u, uint64_t epoch, double loss, double ls, double sec)
{
    (void)loss, (void)ls, (void)sec, (void)u;
    return epoch == 2;
}

Test(train, progress_reports_every_epoch_and_can_stop)
{
    signmf_ratings *r = make_ratings(20, 20, 8, 6);
    signmf_params p = signmf_params_default();
    p.dim = 16;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    int n = 0;
    cr_assert_eq(signmf_trainer_run(t, 5, count_cb, &n, NULL), SIGNMF_OK);
    cr_assert_eq(n, 6, "loss before each of 5 epochs and after the last");
    signmf_trainer_free(t);
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 5, stop_cb, NULL, NULL), SIGNMF_EINTERRUPTED);
    cr_assert_eq(signmf_trainer_epochs_done(t), 2);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

Test(train, nonfinite_stops_and_keeps_last_finite_model)
{
    signmf_ratings *r = make_ratings(30, 30, 15, 7);
    signmf_params p = signmf_params_default();
    p.dim = 32;
    p.lr = 1e6;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    signmf_error err;
    cr_assert_eq(signmf_trainer_run(t, 1000, NULL, NULL, &err), SIGNMF_ENONFINITE);
    cr_assert(strstr(err.message, "last finite") != NULL, "%s", err.message);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    const float *P = m->P, *Q = m->Qt;
    for (size_t i = 0; i < m->users * m->dim; ++i)
        cr_assert(isfinite(P[i]));
    for (size_t i = 0; i < m->items * m->dim; ++i)
        cr_assert(isfinite(Q[i]));
    cr_assert_gt(m->epochs, 0);
    signmf_model_free(m);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

Test(train, resume_is_bit_identical)
{
    signmf_ratings *r = make_ratings(50, 40, 12, 8);
    signmf_params p = signmf_params_default();
    p.dim = 48;
    p.precision = SIGNMF_F64;
    signmf_model *full = train(r, p, 7);
    signmf_model *half = train(r, p, 3);
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_resume(r, half, 2, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 4, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    cr_assert_eq(m->epochs, 7);
    assert_same_model(full, m);
    signmf_model_free(m);
    signmf_model_free(full);
    signmf_model_free(half);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

Test(train, rejects_bad_parameters)
{
    signmf_ratings *r = make_ratings(5, 5, 3, 9);
    signmf_params p = signmf_params_default();
    signmf_trainer *t;
    p.dim = 0;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_EINVAL);
    p = signmf_params_default();
    p.lr = NAN;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_EINVAL);
    p = signmf_params_default();
    p.threads = -1;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_EINVAL);
    p = signmf_params_default();
    p.dim = SIZE_MAX / 2;
    signmf_error err;
    signmf_status st = signmf_trainer_create(r, &p, &t, &err);
    cr_assert(st == SIGNMF_EOVERFLOW || st == SIGNMF_ENOMEM, "%d", st);
    signmf_ratings_free(r);
}

/* --rescale divides P and Q by powers of two: the scaled run times
 * 2^(log_scale / ln 2) is the unscaled run, bit for bit, so every ranking
 * is the same wherever the unscaled run is finite. */
Test(train, rescale_is_exact_in_direction)
{
    signmf_ratings *r = make_ratings(40, 30, 12, 10);
    signmf_params p = signmf_params_default();
    p.dim = 24;
    p.lr = 0.2;
    p.precision = SIGNMF_F64;
    signmf_model *plain = train(r, p, 30);
    p.rescale = 1;
    signmf_model *scaled = train(r, p, 30);
    cr_assert_gt(scaled->log_scale, 10.0, "the run grew enough to be rescaled");
    int shift = (int)lround(scaled->log_scale / M_LN2);
    cr_assert_float_eq(shift * M_LN2, scaled->log_scale, 1e-9);
    const double *a = plain->P, *b = scaled->P;
    double maxb = 0;
    for (size_t i = 0; i < plain->users * plain->dim; ++i) {
        cr_assert_eq(a[i], ldexp(b[i], shift), "P[%zu]", i);
        maxb = fmax(maxb, fabs(b[i]));
    }
    const double *qa = plain->Qt, *qb = scaled->Qt;
    for (size_t i = 0; i < plain->items * plain->dim; ++i)
        cr_assert_eq(qa[i], ldexp(qb[i], shift), "Q[%zu]", i);
    cr_assert_lt(maxb, 1e6, "norms stay bounded");
    signmf_model_free(plain);
    signmf_model_free(scaled);
    signmf_ratings_free(r);
}

/* The rescale decisions are part of the optimiser position: a run cut in
 * two and resumed takes the same decisions as the uninterrupted run. */
Test(train, resume_with_rescale_is_bit_identical)
{
    signmf_ratings *r = make_ratings(40, 30, 12, 11);
    signmf_params p = signmf_params_default();
    p.dim = 24;
    p.lr = 0.2;
    p.rescale = 1;
    signmf_model *full = train(r, p, 25);
    signmf_model *part = train(r, p, 11);
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_resume(r, part, 1, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 14, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    cr_assert_gt(full->log_scale, 1.0);
    cr_assert_eq(m->log_scale, full->log_scale);
    assert_same_model(full, m);
    signmf_model_free(m);
    signmf_model_free(full);
    signmf_model_free(part);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

/* Sources cut into blocks: the order becomes block by block, so the bits
 * may differ from the unblocked run by rounding only, and they are still
 * the same for every thread count and kernel set. */
Test(train, blocked_sources_are_deterministic_and_close)
{
    signmf_ratings *r = make_ratings(70, 60, 25, 12);
    signmf_params p = signmf_params_default();
    p.dim = 40;
    p.precision = SIGNMF_F64;
    p.threads = 1;
    signmf_model *plain = train(r, p, 5);
    setenv("SIGNMF_BLOCK_ROWS", "7", 1);
    signmf_model *b1 = train(r, p, 5);
    p.threads = 3;
    signmf_model *b3 = train(r, p, 5);
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_gt(t->nblocks[0], 1);
    cr_assert_gt(t->nblocks[1], 1);
    double a = p.lr, loss[SM_ISA_COUNT];
    void *P0 = NULL;
    for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
        const sm_kernels *k = sm_kernels_for((sm_isa)isa);
        if (!k)
            continue;
        sm_train_pass(t, k, &a, 1.0, &loss[isa]);
        size_t bytes = t->users * t->kpad * t->esize;
        if (!P0) {
            P0 = malloc(bytes);
            memcpy(P0, t->P[1 - t->cur], bytes);
        } else {
            cr_assert_eq(memcmp(P0, t->P[1 - t->cur], bytes), 0, "%s blocked P differs", k->name);
            cr_assert_eq(memcmp(&loss[0], &loss[isa], sizeof(double)), 0);
        }
    }
    free(P0);
    signmf_trainer_free(t);
    unsetenv("SIGNMF_BLOCK_ROWS");
    assert_same_model(b1, b3);
    const double *x = plain->P, *y = b1->P;
    double num = 0, den = 0;
    for (size_t i = 0; i < plain->users * plain->dim; ++i) {
        num = fmax(num, fabs(x[i] - y[i]));
        den = fmax(den, fabs(x[i]));
    }
    cr_assert_lt(num / den, 1e-13, "blocked and plain runs differ by more than rounding");
    cr_assert_float_eq(plain->last_loss, b1->last_loss, 1e-12 * fabs(plain->last_loss));
    signmf_model_free(plain);
    signmf_model_free(b1);
    signmf_model_free(b3);
    signmf_ratings_free(r);
}

/* Consuming the ratings and turning the trainer into its model change no
 * result: same P, Q, rated rows and fingerprint as the copying calls, the
 * rated rows are exactly the training pairs (zero-sign ones included),
 * and the ratings pointer is cleared. */
Test(train, consume_and_into_model_match_copies)
{
    signmf_ratings *r = make_ratings(60, 45, 14, 21);
    signmf_ratings *own = make_ratings(60, 45, 14, 21);
    signmf_params p = signmf_params_default();
    p.dim = 20;
    p.threads = 2;
    signmf_model *ref = train(r, p, 4);
    signmf_trainer *t;
    signmf_error err;
    cr_assert_eq(signmf_trainer_create_consume(&own, &p, &t, &err), SIGNMF_OK, "%s", err.message);
    cr_assert_null(own);
    cr_assert_gt(t->zero.nnz, 0, "the case should have ratings equal to their user's mean");
    cr_assert_eq(signmf_trainer_run(t, 4, NULL, NULL, &err), SIGNMF_OK, "%s", err.message);
    signmf_model *copy, *m;
    cr_assert_eq(signmf_trainer_model(t, &copy), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_into_model(&t, &m), SIGNMF_OK);
    cr_assert_null(t);
    signmf_model *both[2] = {copy, m};
    for (int i = 0; i < 2; ++i) {
        signmf_model *x = both[i];
        assert_same_model(ref, x);
        cr_assert_eq(x->data_crc, ref->data_crc);
        cr_assert_eq(x->epochs, 4);
        cr_assert_eq(memcmp(&x->last_loss, &ref->last_loss, sizeof(double)), 0);
        cr_assert_eq(memcmp(x->rated_ptr, ref->rated_ptr, (r->users + 1) * sizeof(size_t)), 0);
        cr_assert_eq(x->rated_ptr[r->users], r->count);
        cr_assert_eq(memcmp(x->rated_idx, r->item, r->count * sizeof(uint32_t)), 0);
        cr_assert_eq(x->user_map.count, r->users);
        cr_assert_eq(x->item_map.count, r->items);
    }
    /* resume consuming equals resume copying */
    signmf_ratings *own2 = make_ratings(60, 45, 14, 21);
    signmf_trainer *a, *b;
    cr_assert_eq(signmf_trainer_resume(r, m, 1, &a, &err), SIGNMF_OK, "%s", err.message);
    cr_assert_eq(signmf_trainer_resume_consume(&own2, m, 3, &b, &err), SIGNMF_OK, "%s",
                 err.message);
    cr_assert_null(own2);
    cr_assert_eq(signmf_trainer_run(a, 2, NULL, NULL, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(b, 2, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *ma, *mb;
    cr_assert_eq(signmf_trainer_into_model(&a, &ma), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_into_model(&b, &mb), SIGNMF_OK);
    assert_same_model(ma, mb);
    /* a failed consuming call still frees the ratings */
    signmf_ratings *own3 = make_ratings(5, 5, 3, 2);
    p.dim = 0;
    cr_assert_eq(signmf_trainer_create_consume(&own3, &p, &t, NULL), SIGNMF_EINVAL);
    cr_assert_null(own3);
    cr_assert_null(t);
    signmf_model_free(ma), signmf_model_free(mb);
    signmf_model_free(ref), signmf_model_free(copy), signmf_model_free(m);
    signmf_ratings_free(r);
}

/* Blocked sides accumulate in the spare state buffer: loss-only passes
 * between epochs (which use it too) must not disturb the state, in f32 and
 * f64. */
Test(train, blocked_accumulator_leaves_state_alone)
{
    signmf_ratings *r = make_ratings(70, 60, 25, 13);
    setenv("SIGNMF_BLOCK_ROWS", "9", 1);
    for (int prec = 0; prec < 2; ++prec) {
        signmf_params p = signmf_params_default();
        p.dim = 36;
        p.threads = 2;
        p.precision = prec ? SIGNMF_F64 : SIGNMF_F32;
        signmf_model *plain = train(r, p, 4);
        signmf_trainer *t;
        cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
        cr_assert_gt(t->nblocks[0], 1);
        cr_assert_gt(t->nblocks[1], 1);
        double l0, l1;
        for (int e = 0; e < 4; ++e) {
            cr_assert_eq(signmf_trainer_loss(t, &l0), SIGNMF_OK);
            cr_assert_eq(signmf_trainer_loss(t, &l1), SIGNMF_OK);
            cr_assert_eq(memcmp(&l0, &l1, sizeof l0), 0);
            cr_assert_eq(signmf_trainer_run(t, 1, NULL, NULL, NULL), SIGNMF_OK);
        }
        signmf_model *m;
        cr_assert_eq(signmf_trainer_into_model(&t, &m), SIGNMF_OK);
        assert_same_model(plain, m);
        signmf_model_free(plain), signmf_model_free(m);
    }
    unsetenv("SIGNMF_BLOCK_ROWS");
    signmf_ratings_free(r);
}

/* bf16 (signmf.h): the shadows are always the narrowing of the master. */
static void assert_shadows(const signmf_trainer *t)
{
    const sm_kernels *k = sm_kernels_for(SM_ISA_PORTABLE);
    for (int side = 0; side < 2; ++side) {
        size_t n = (side ? t->items : t->users) * t->kpad;
        uint16_t *want = malloc(n * sizeof *want + 1);
        k->cvt_bf16((const float *)(side ? t->Q : t->P)[t->cur], n, want);
        cr_assert_eq(memcmp(want, (side ? t->Qb : t->Pb)[t->cur], n * sizeof *want), 0,
                     "side %d: shadow is not the master narrowed", side);
        free(want);
    }
}

/* Same bits for every thread count, kernel set and blocking of the same
 * shape; the shadows track the master. */
Test(train, bf16_identical_for_threads_kernels_and_schedules)
{
    signmf_ratings *r = make_ratings(90, 70, 20, 31);
    for (int blocked = 0; blocked < 2; ++blocked) {
        if (blocked)
            setenv("SIGNMF_BLOCK_ROWS", "9", 1);
        signmf_params p = signmf_params_default();
        p.dim = 93; /* padded to 96: not a multiple of the AVX2 strip */
        p.precision = SIGNMF_BF16;
        p.lr = 1e-2;
        signmf_model *ref = NULL;
        for (int th = 1; th <= 3; ++th) {
            p.threads = th;
            signmf_model *m = train(r, p, 5);
            cr_assert_eq(m->precision, SIGNMF_F32);
            cr_assert_eq(m->params.precision, SIGNMF_BF16);
            if (!ref) {
                ref = m;
                continue;
            }
            assert_same_model(ref, m);
            cr_assert_eq(memcmp(&ref->last_loss, &m->last_loss, sizeof(double)), 0);
            signmf_model_free(m);
        }
        p.threads = 2;
        signmf_trainer *t[SM_ISA_COUNT] = {0};
        double loss[SM_ISA_COUNT], a = p.lr;
        for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
            const sm_kernels *k = sm_kernels_for((sm_isa)isa);
            if (!k)
                continue;
            cr_assert_eq(signmf_trainer_create(r, &p, &t[isa], NULL), SIGNMF_OK);
            cr_assert_eq(t[isa]->nblocks[0] > 1, blocked);
            for (int e = 0; e < 5; ++e) {
                sm_train_pass(t[isa], k, &a, 1.0, &loss[isa]);
                t[isa]->cur = 1 - t[isa]->cur;
                assert_shadows(t[isa]);
            }
            cr_assert_eq(
                memcmp(t[0]->P[t[0]->cur], t[isa]->P[t[isa]->cur], t[0]->users * t[0]->kpad * 4), 0,
                "%s P differs", k->name);
            cr_assert_eq(
                memcmp(t[0]->Q[t[0]->cur], t[isa]->Q[t[isa]->cur], t[0]->items * t[0]->kpad * 4), 0,
                "%s Q differs", k->name);
            cr_assert_eq(memcmp(&loss[0], &loss[isa], sizeof(double)), 0);
            /* and the epoch loop gives the same state as the bare passes */
            float *rows = malloc(t[isa]->users * p.dim * sizeof *rows);
            sm_from_panels(t[isa], t[isa]->P[t[isa]->cur], rows, t[isa]->users);
            cr_assert_eq(memcmp(ref->P, rows, t[isa]->users * p.dim * sizeof *rows), 0);
            free(rows);
        }
        for (int isa = 0; isa < SM_ISA_COUNT; ++isa)
            signmf_trainer_free(t[isa]);
        signmf_model_free(ref);
        unsetenv("SIGNMF_BLOCK_ROWS");
    }
    signmf_ratings_free(r);
}

/* A bf16 run is an f32 run with 8-bit gathered rows: close to it, not
 * equal to it. */
Test(train, bf16_is_close_to_f32_and_not_equal)
{
    signmf_ratings *r = make_ratings(80, 60, 20, 32);
    signmf_params p = signmf_params_default();
    p.dim = 64;
    p.threads = 2;
    signmf_model *f = train(r, p, 4);
    p.precision = SIGNMF_BF16;
    signmf_model *b = train(r, p, 4);
    const float *x = f->P, *y = b->P;
    double num = 0, den = 0;
    for (size_t i = 0; i < f->users * f->dim; ++i) {
        num = fmax(num, fabs((double)x[i] - y[i]));
        den = fmax(den, fabs((double)x[i]));
    }
    cr_assert_gt(num, 0.0, "bf16 gave the f32 run's bits: the shadow is not read");
    cr_assert_lt(num / den, 2e-2, "bf16 strays from f32 by %g of the largest entry", num / den);
    cr_assert_float_eq(f->last_loss, b->last_loss, 1e-2 * fabs(f->last_loss));
    signmf_model_free(f);
    signmf_model_free(b);
    signmf_ratings_free(r);
}

/* Resume continues a bf16 run bit for bit, through a model file too. */
Test(train, bf16_resume_is_bit_identical)
{
    signmf_ratings *r = make_ratings(50, 40, 12, 33);
    signmf_params p = signmf_params_default();
    p.dim = 48;
    p.precision = SIGNMF_BF16;
    p.lr = 1e-2;
    signmf_model *full = train(r, p, 7);
    signmf_model *half = train(r, p, 3);
    char path[] = "/tmp/signmf-bf16-resume-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    signmf_error err;
    cr_assert_eq(signmf_model_save(half, path, &err), SIGNMF_OK, "%s", err.message);
    signmf_model *back;
    cr_assert_eq(signmf_model_open(path, 0, &back, &err), SIGNMF_OK, "%s", err.message);
    unlink(path);
    cr_assert_eq(signmf_model_params(back).precision, SIGNMF_BF16);
    cr_assert_eq(signmf_model_precision(back), SIGNMF_F32);
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_resume(r, back, 2, &t, NULL), SIGNMF_OK);
    cr_assert_eq(t->params.precision, SIGNMF_BF16);
    cr_assert_eq(signmf_trainer_run(t, 4, NULL, NULL, NULL), SIGNMF_OK);
    signmf_model *m;
    cr_assert_eq(signmf_trainer_model(t, &m), SIGNMF_OK);
    assert_same_model(full, m);
    signmf_model_free(m), signmf_model_free(full), signmf_model_free(half);
    signmf_model_free(back);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
}

/* The orthonormal method in bf16: the same bits for any thread count and
 * blocking of the same shape, close to f32 and not equal to it. */
Test(train, bf16_orthonormal_is_deterministic_and_close_to_f32)
{
    signmf_ratings *r = make_ratings(80, 60, 20, 34);
    for (int blocked = 0; blocked < 2; ++blocked) {
        if (blocked)
            setenv("SIGNMF_BLOCK_ROWS", "11", 1);
        signmf_params p = signmf_params_for(SIGNMF_METHOD_ORTHONORMAL);
        p.dim = 6;
        p.threads = 1;
        signmf_model *f = train(r, p, 8);
        p.precision = SIGNMF_BF16;
        signmf_model *b1 = train(r, p, 8);
        p.threads = 3;
        signmf_model *b3 = train(r, p, 8);
        assert_same_model(b1, b3);
        cr_assert_eq(b1->precision, SIGNMF_F32);
        const float *x = f->P, *y = b1->P;
        double num = 0, den = 0;
        for (size_t i = 0; i < f->users * f->dim; ++i) {
            num = fmax(num, fabs((double)x[i] - y[i]));
            den = fmax(den, fabs((double)x[i]));
        }
        cr_assert_gt(num, 0.0, "bf16 gave the f32 run's bits");
        cr_assert_lt(num / den, 5e-2, "bf16 strays from f32 by %g", num / den);
        signmf_model_free(f), signmf_model_free(b1), signmf_model_free(b3);
        unsetenv("SIGNMF_BLOCK_ROWS");
    }
    signmf_params p = signmf_params_default();
    p.precision = (signmf_precision)3;
    signmf_trainer *t = NULL;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_EINVAL);
    signmf_ratings_free(r);
}

/* Row r of side `side` of B's current state (and shadow) at B's slot is
 * row r of A's. */
static bool same_at_slots(const signmf_trainer *A, const signmf_trainer *B)
{
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? A->items : A->users;
        for (size_t c = 0; c < A->npanels; ++c) {
            size_t w = sm_panel_width(A, c), off = sm_panel_offset(A, rows, c), es = A->esize;
            const char *a = (const char *)(side ? A->Q : A->P)[A->cur] + off * es;
            const char *b = (const char *)(side ? B->Q : B->P)[B->cur] + off * es;
            const uint16_t *ah = A->Pb[0] ? (side ? A->Qb : A->Pb)[A->cur] + off : NULL;
            const uint16_t *bh = A->Pb[0] ? (side ? B->Qb : B->Pb)[B->cur] + off : NULL;
            for (size_t r = 0; r < rows; ++r) {
                size_t q = B->slot[side] ? B->slot[side][r] : r;
                if (memcmp(a + r * w * es, b + q * w * es, w * es) ||
                    (ah && memcmp(ah + r * w, bh + q * w, w * sizeof *ah)))
                    return false;
            }
        }
    }
    return true;
}

/* bench_epoch --degree-order: rows stored in degree order, the sums in
 * their old order, give the same bits at the new places and the same loss,
 * for every precision, blocking and kernel set; sorting the sums by slot
 * instead adds in another order. */
Test(train, degree_order_keeps_every_bit)
{
    /* skewed degrees, so that the order moves rows */
    signmf_ratings *r = make_ratings(90, 70, 20, 41);
    for (int blocked = 0; blocked < 2; ++blocked) {
        if (blocked)
            setenv("SIGNMF_BLOCK_ROWS", "9", 1);
        for (int prec = 0; prec < 3; ++prec)
            for (int sides = 1; sides <= 3; ++sides)
                for (int isa = 0; isa < SM_ISA_COUNT; ++isa) {
                    const sm_kernels *k = sm_kernels_for((sm_isa)isa);
                    if (!k)
                        continue;
                    signmf_params p = signmf_params_default();
                    p.dim = 40;
                    p.threads = 2;
                    p.lr = 1e-2;
                    p.precision = prec == 0 ? SIGNMF_F32 : prec == 1 ? SIGNMF_BF16 : SIGNMF_F64;
                    signmf_trainer *A, *B;
                    signmf_error err;
                    cr_assert_eq(signmf_trainer_create(r, &p, &A, NULL), SIGNMF_OK);
                    cr_assert_eq(signmf_trainer_create(r, &p, &B, NULL), SIGNMF_OK);
                    cr_assert_eq(sm_degree_order(B, sides, &err), SIGNMF_OK, "%s", err.message);
                    cr_assert_eq(sm_degree_order(B, sides, &err), SIGNMF_EINVAL);
                    cr_assert_eq(A->nblocks[0] > 1, blocked);
                    size_t moved = 0;
                    for (int side = 0; side < 2; ++side)
                        for (size_t i = 0; B->slot[side] && i < (side ? B->items : B->users); ++i)
                            moved += B->slot[side][i] != i;
                    cr_assert_gt(moved, 10);
                    double a = p.lr, la, lb;
                    for (int e = 0; e < 4; ++e) {
                        sm_train_pass(A, k, &a, 1.0, &la);
                        sm_train_pass(B, k, &a, 1.0, &lb);
                        A->cur = 1 - A->cur;
                        B->cur = 1 - B->cur;
                        cr_assert_eq(memcmp(&la, &lb, sizeof la), 0, "%s prec %d sides %d loss",
                                     k->name, prec, sides);
                        cr_assert(same_at_slots(A, B), "%s prec %d sides %d epoch %d", k->name,
                                  prec, sides, e);
                    }
                    signmf_trainer_free(A);
                    signmf_trainer_free(B);
                }
        /* resorted sums: other bits, the same loss to rounding */
        signmf_params p = signmf_params_default();
        p.dim = 40;
        p.threads = 2;
        p.lr = 1e-2;
        signmf_trainer *A, *B;
        cr_assert_eq(signmf_trainer_create(r, &p, &A, NULL), SIGNMF_OK);
        cr_assert_eq(signmf_trainer_create(r, &p, &B, NULL), SIGNMF_OK);
        cr_assert_eq(sm_degree_order(B, 2 | 4, NULL), SIGNMF_OK);
        double a = p.lr, la, lb;
        for (int e = 0; e < 4; ++e) {
            sm_train_pass(A, A->kern, &a, 1.0, &la);
            sm_train_pass(B, B->kern, &a, 1.0, &lb);
            A->cur = 1 - A->cur;
            B->cur = 1 - B->cur;
        }
        cr_assert(fabs(la - lb) <= 1e-5 * fabs(la), "%.17g %.17g", la, lb);
        cr_assert(!same_at_slots(A, B));
        signmf_trainer_free(A);
        signmf_trainer_free(B);
        unsetenv("SIGNMF_BLOCK_ROWS");
    }
    signmf_ratings_free(r);
}
