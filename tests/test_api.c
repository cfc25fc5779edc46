/* Reentrancy and concurrency of the public API (issue 5): trainers in
 * several threads of one process give the bytes they give alone; a shared
 * read-only model serves concurrent recommendations; an allocation failure
 * is SIGNMF_ENOMEM with a message, never a crash. */
#include "model/model.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* A deterministic ratings set (no MovieLens): a mix of liked and disliked
 * items per user, integer ratings 1..5. */
static signmf_ratings *make_ratings(size_t users, size_t items, uint64_t seed)
{
    size_t cap = users * items / 4 + 16, n = 0;
    int64_t *u = malloc(cap * sizeof *u), *it = malloc(cap * sizeof *it);
    double *r = malloc(cap * sizeof *r);
    cr_assert(u && it && r);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < users; i++)
        for (size_t j = 0; j < items && n < cap; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            if ((x >> 60) < 4) { /* about a quarter of the pairs */
                u[n] = (int64_t)i + 1;
                it[n] = (int64_t)j + 1;
                r[n] = (double)(1 + (x >> 33) % 5);
                n++;
            }
        }
    signmf_ratings *out = NULL;
    signmf_error err;
    signmf_status st = signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_AUTO, &out, &err);
    cr_assert_eq(st, SIGNMF_OK, "%s", err.message);
    free(u);
    free(it);
    free(r);
    return out;
}

typedef struct job {
    const signmf_ratings *ratings;
    signmf_params params;
    uint64_t epochs;
    signmf_model *model;
    signmf_status status;
} job;

static void *train_job(void *arg)
{
    job *j = arg;
    signmf_trainer *t = NULL;
    j->status = signmf_trainer_create(j->ratings, &j->params, &t, NULL);
    if (j->status == SIGNMF_OK)
        j->status = signmf_trainer_run(t, j->epochs, NULL, NULL, NULL);
    if (j->status == SIGNMF_OK)
        j->status = signmf_trainer_model(t, &j->model);
    signmf_trainer_free(t);
    return NULL;
}

static void assert_same_model(const signmf_model *a, const signmf_model *b, const char *what)
{
    cr_assert_eq(a->users, b->users);
    cr_assert_eq(a->items, b->items);
    cr_assert_eq(a->dim, b->dim);
    size_t es = sm_elem_size(a->precision);
    cr_assert(memcmp(a->P, b->P, a->users * a->dim * es) == 0, "%s: P differs", what);
    cr_assert(memcmp(a->Qt, b->Qt, a->items * a->dim * es) == 0, "%s: Q differs", what);
    cr_assert_eq(a->epochs, b->epochs);
    cr_assert(memcmp(&a->log_scale, &b->log_scale, sizeof a->log_scale) == 0);
}

static job make_job(const signmf_ratings *r, size_t dim, uint32_t seed, signmf_precision prec,
                    int rescale, int threads)
{
    job j = {0};
    j.ratings = r;
    j.params = signmf_params_default();
    j.params.dim = dim;
    j.params.seed = seed;
    j.params.precision = prec;
    j.params.rescale = rescale;
    j.params.threads = threads;
    j.params.lr = 1e-3;
    j.epochs = 6;
    return j;
}

Test(api, two_trainers_at_once_match_one_after_the_other, .timeout = 240)
{
    signmf_ratings *r1 = make_ratings(300, 200, 1), *r2 = make_ratings(250, 310, 2);
    /* Different shapes, precisions and settings, each with its own OpenMP
     * team inside its pthread. */
    job a = make_job(r1, 40, 7, SIGNMF_F32, 0, 2), b = make_job(r2, 33, 9, SIGNMF_F64, 1, 2);
    job a1 = a, b1 = b;
    train_job(&a1);
    train_job(&b1);
    cr_assert_eq(a1.status, SIGNMF_OK);
    cr_assert_eq(b1.status, SIGNMF_OK);
    for (int round = 0; round < 3; round++) {
        job a2 = a, b2 = b;
        pthread_t ta, tb;
        cr_assert_eq(pthread_create(&ta, NULL, train_job, &a2), 0);
        cr_assert_eq(pthread_create(&tb, NULL, train_job, &b2), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        cr_assert_eq(a2.status, SIGNMF_OK);
        cr_assert_eq(b2.status, SIGNMF_OK);
        assert_same_model(a1.model, a2.model, "model A");
        assert_same_model(b1.model, b2.model, "model B");
        signmf_model_free(a2.model);
        signmf_model_free(b2.model);
    }
    /* The same model in two threads at once, as well. */
    job c1 = a, c2 = a;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, train_job, &c1);
    pthread_create(&t2, NULL, train_job, &c2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_same_model(a1.model, c1.model, "twin 1");
    assert_same_model(a1.model, c2.model, "twin 2");
    signmf_model_free(c1.model);
    signmf_model_free(c2.model);
    signmf_model_free(a1.model);
    signmf_model_free(b1.model);
    signmf_ratings_free(r1);
    signmf_ratings_free(r2);
}

typedef struct rec_job {
    const signmf_model *m;
    size_t k;
    signmf_rec *out; /* users x k */
    size_t *counts;
    int fail;
} rec_job;

static void *rec_all(void *arg)
{
    rec_job *j = arg;
    size_t users = signmf_model_users(j->m);
    for (size_t u = 0; u < users; u++) {
        int64_t id = signmf_model_user_id(j->m, u);
        if (signmf_recommend(j->m, id, j->k, j->out + u * j->k, &j->counts[u], NULL) != SIGNMF_OK)
            j->fail++;
    }
    /* and the batch entry point, which runs its own OpenMP team */
    signmf_rec *batch = malloc(users * j->k * sizeof *batch);
    size_t *bc = malloc(users * sizeof *bc);
    if (!batch || !bc ||
        signmf_recommend_many(j->m, NULL, users, j->k, 2, batch, bc, NULL) != SIGNMF_OK ||
        memcmp(bc, j->counts, users * sizeof *bc) != 0 ||
        memcmp(batch, j->out, users * j->k * sizeof *batch) != 0)
        j->fail++;
    free(batch);
    free(bc);
    return NULL;
}

Test(api, concurrent_recommend_on_one_shared_model, .timeout = 240)
{
    signmf_ratings *r = make_ratings(200, 150, 3);
    job a = make_job(r, 24, 5, SIGNMF_F32, 0, 2);
    train_job(&a);
    cr_assert_eq(a.status, SIGNMF_OK);
    const size_t k = 7, users = signmf_model_users(a.model);
    enum { N = 4 };
    rec_job jobs[N + 1];
    for (int i = 0; i <= N; i++) {
        jobs[i] = (rec_job){a.model, k, calloc(users * k, sizeof(signmf_rec)),
                            calloc(users, sizeof(size_t)), 0};
        cr_assert(jobs[i].out && jobs[i].counts);
    }
    rec_all(&jobs[N]); /* the reference, alone */
    cr_assert_eq(jobs[N].fail, 0);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, rec_all, &jobs[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(jobs[i].fail, 0, "thread %d failed a call", i);
        cr_assert(memcmp(jobs[i].counts, jobs[N].counts, users * sizeof(size_t)) == 0);
        cr_assert(memcmp(jobs[i].out, jobs[N].out, users * k * sizeof(signmf_rec)) == 0,
                  "thread %d got other recommendations", i);
    }
    for (int i = 0; i <= N; i++) {
        free(jobs[i].out);
        free(jobs[i].counts);
    }
    signmf_model_free(a.model);
    signmf_ratings_free(r);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SM_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SM_TEST_SANITIZED 1
#endif
#endif

/* Criterion runs each test in its own process, so the lowered address-space
 * limit cannot hurt the other tests. */
Test(api, enomem_under_rlimit)
{
#ifdef SM_TEST_SANITIZED
    cr_skip("sanitizers reserve terabytes of shadow memory: RLIMIT_AS cannot apply");
#else
    signmf_ratings *r = make_ratings(50, 40, 4);
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    signmf_params p = signmf_params_default();
    p.threads = 1;
    size_t dims[] = {(size_t)UINT32_MAX, (size_t)1 << 26};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        p.dim = dims[i];
        signmf_trainer *t = (signmf_trainer *)1;
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = signmf_trainer_create(r, &p, &t, &err);
        cr_assert_eq(st, SIGNMF_ENOMEM, "dim %zu: status %d (%s)", dims[i], (int)st, err.message);
        cr_assert_null(t);
        cr_assert_neq(err.message[0], '\0', "ENOMEM without a message");
    }
    signmf_ratings_free(r);
#endif
}

/* Every size product is checked: a dimension whose P would not fit in
 * size_t fails cleanly (overflow or out of memory), never wraps. */
Test(api, huge_dims_never_wrap)
{
    signmf_ratings *r = make_ratings(20, 30, 5);
    signmf_params p = signmf_params_default();
    p.threads = 1;
    p.dim = SIZE_MAX / 2;
    signmf_trainer *t = NULL;
    signmf_status st = signmf_trainer_create(r, &p, &t, NULL);
    cr_assert(st == SIGNMF_EOVERFLOW || st == SIGNMF_ENOMEM || st == SIGNMF_EINVAL, "status %d",
              (int)st);
    cr_assert_null(t);
    signmf_ratings_free(r);
}

/* The library never prints, even under the variables that make the CLI
 * talk (SIGNMF_ISA_DEBUG) and on the error paths. Criterion runs each test
 * in its own process, so the dispatcher is set up here, after setenv. */
Test(api, library_never_writes_to_stderr_or_stdout, .init = cr_redirect_stderr)
{
    cr_redirect_stdout();
    setenv("SIGNMF_ISA_DEBUG", "1", 1);
    setenv("SIGNMF_ISA", "avx512", 1);
    cr_assert(signmf_kernel_name() != NULL);
    signmf_ratings *r = make_ratings(20, 15, 3);
    signmf_params p = signmf_params_default();
    p.dim = 8;
    signmf_trainer *t;
    cr_assert_eq(signmf_trainer_create(r, &p, &t, NULL), SIGNMF_OK);
    cr_assert_eq(signmf_trainer_run(t, 2, NULL, NULL, NULL), SIGNMF_OK);
    signmf_trainer_free(t);
    p.dim = 0;
    signmf_error err;
    cr_assert_neq(signmf_trainer_create(r, &p, &t, &err), SIGNMF_OK);
    signmf_model *m;
    cr_assert_neq(signmf_model_open("/nonexistent/model.smf", 0, &m, &err), SIGNMF_OK);
    signmf_ratings_free(r);
    fflush(stdout);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
    cr_assert_stdout_eq_str("");
}
