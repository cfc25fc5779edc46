/* Serving benchmark: top-k for every user (signmf_recommend_many) side by
 * side with OpenBLAS cblas_sgemm/dgemm of the same P Q product (which
 * writes the full score matrix and selects nothing), plus top-k for one
 * user at a time. The model is ua.base's shape and rated sets
 * (SIGNMF_DATA_DIR, else a synthetic set of that shape) with the trainer's
 * initial P and Q.
 *
 *   bench_score [--dim K] [--threads T] [--k K] [--reps R] [--f64] [--bf16]
 *
 * --bf16 also converts the model to bf16 (signmf_model_convert) and times
 * its top-k and products in the same interleaved reps, beside the f32
 * ones and sgemm.
 *
 * Each rep is a triple, ours, the products alone and sgemm, with pauses
 * between (OpenBLAS spins its threads for a while after a call, which
 * would steal the cores from OpenMP), and each ratio quoted is the median
 * of the triples' own ratios, with quartiles: a slow spell of the shared
 * machine then lands on both sides of most ratios.
 * The BLAS line names the kernel OpenBLAS picked. A DYNAMIC_ARCH build
 * that does not know the CPU falls back to an old one (Debian's 0.3.21
 * says "Prescott" on Sapphire Rapids and on family 6 model 207, where its
 * sgemm then takes 50 ms instead of 8); unless OPENBLAS_CORETYPE is set,
 * the benchmark then re-runs itself with SkylakeX (AVX-512) or Haswell
 * (AVX2) kernels, so that the comparison is with OpenBLAS at its best. */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"
#include "model/model.h"
#include "score/score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#if defined(SM_HAVE_OPENBLAS)
#include <cblas.h>
#endif

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

#if defined(SM_HAVE_OPENBLAS)
static double time_blas(int f64, size_t NU, size_t NI, size_t dim, const signmf_model *m, void *C)
{
    double t0 = sm_now();
    if (f64)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)NU, (int)NI, (int)dim, 1.0, m->P,
                    (int)dim, m->Qt, (int)dim, 0.0, C, (int)NI);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)NU, (int)NI, (int)dim, 1.0f, m->P,
                    (int)dim, m->Qt, (int)dim, 0.0f, C, (int)NI);
    return sm_now() - t0;
}
#endif

/* First and third quartiles (sorts v). */
static void quartiles(double *v, int n, double *q1, double *q3)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    *q1 = v[(n - 1) / 4];
    *q3 = v[(3 * (n - 1) + 3) / 4];
}

/* OpenBLAS's workers spin for about 2^28 cycles after a call (its
 * THREAD_TIMEOUT), taking the cores from whatever runs next. */
#define SM_BLAS_SPIN_MS 150

/* The products alone, through the engine's own strips, blocks and tiles
 * (score.c) but with no selection: what top-k adds is the difference. */
static double time_products(const signmf_model *m, int threads)
{
    double t0 = sm_now();
    if (sm_score_products_only(m, threads) != SIGNMF_OK) {
        fprintf(stderr, "bench_score: out of memory\n");
        exit(1);
    }
    return sm_now() - t0;
}

/* One user's top-k on `th` threads, n timed calls after `warm` untimed
 * ones, cycling through users so that no answer is cached, with `idle_ms`
 * of idle before each call. The times go to t (sorted: t[0] is the
 * least); returns their median. */
static double time_one_user(const signmf_model *m, size_t k, int th, int n, int warm, int idle_ms,
                            signmf_rec *out, double *t)
{
    size_t users = signmf_model_users(m);
    for (int i = -warm; i < n; ++i) {
        size_t got;
        int64_t uid = signmf_model_user_id(m, (size_t)(i + warm) * 37 % users);
        if (idle_ms > 0)
            pause_ms(idle_ms);
        double t0 = sm_now();
        signmf_recommend_many(m, &uid, 1, k, th, out, &got, NULL);
        if (i >= 0)
            t[i] = sm_now() - t0;
    }
    return median(t, n);
}

#if defined(SM_HAVE_OPENBLAS)
/* Re-run under OPENBLAS_CORETYPE when OpenBLAS chose kernels older than
 * the CPU's vector width (it reads the variable only when it loads). */
static void prefer_fast_blas(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") != NULL)
        return;
    static const char *const wide[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2[] = {"Haswell",        "Zen", "SkylakeX", "Cooperlake",
                                       "SapphireRapids", NULL};
    const char *name = openblas_get_corename(), *want = NULL;
    const char *const *ok = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        ok = wide, want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ok = avx2, want = "Haswell";
    if (ok == NULL || name == NULL)
        return;
    for (; *ok != NULL; ++ok)
        if (strcasecmp(name, *ok) == 0)
            return;
    fprintf(stderr,
            "bench_score: OpenBLAS chose %s kernels; re-running with OPENBLAS_CORETYPE=%s\n", name,
            want);
    fflush(NULL);
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on as chosen */
}
#endif

int main(int argc, char **argv)
{
#if defined(SM_HAVE_OPENBLAS)
    prefer_fast_blas(argv);
#endif
    size_t dim = 512, k = 10;
    int threads = 2, reps = 31;
    bool f64 = false, bf16 = false;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            dim = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc)
            k = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--f64"))
            f64 = true;
        else if (!strcmp(argv[i], "--bf16"))
            bf16 = true;
        else {
            fprintf(stderr, "usage: bench_score [--dim K] [--threads T] [--k K] [--reps R] [--f64] "
                            "[--bf16]\n");
            return 2;
        }
    }
    if (reps < 1 || threads < 1 || dim < 1 || k < 1)
        return 2;
    const char *src = NULL;
    signmf_ratings *r = bench_data("bench_score", NULL, 96, &src);
    if (!r)
        return 1;
    signmf_params prm = signmf_params_default();
    prm.dim = dim;
    prm.threads = threads;
    prm.precision = f64 ? SIGNMF_F64 : SIGNMF_F32;
    signmf_trainer *tr = NULL;
    signmf_model *m = NULL;
    signmf_error err;
    if (signmf_trainer_create(r, &prm, &tr, &err) != SIGNMF_OK ||
        signmf_trainer_model(tr, &m) != SIGNMF_OK) {
        fprintf(stderr, "bench_score: %s\n", err.message);
        return 1;
    }
    signmf_trainer_free(tr);
    signmf_ratings_free(r);
    signmf_model *mb = NULL;
    if (bf16 && signmf_model_convert(m, SIGNMF_BF16, &mb, &err) != SIGNMF_OK) {
        fprintf(stderr, "bench_score: %s\n", err.message);
        return 1;
    }
    double *tb = malloc((size_t)reps * sizeof *tb), *tbp = malloc((size_t)reps * sizeof *tbp);
    double *rb = malloc((size_t)reps * sizeof *rb), *rbs = malloc((size_t)reps * sizeof *rbs);
    size_t NU = m->users, NI = m->items;
    printf("# %s: %zu users x %zu items x dim %zu, %s, top-%zu, %d threads, kernels %s, %d reps\n",
           src, NU, NI, dim, f64 ? "f64" : "f32", k, threads, signmf_kernel_name(), reps);

    signmf_rec *out = malloc(NU * k * sizeof *out);
    size_t *counts = malloc(NU * sizeof *counts);
    double *t = malloc((size_t)(reps > 200 ? reps : 200) * sizeof *t);
    double *tours = malloc((size_t)reps * sizeof *tours),
           *tprod = malloc((size_t)reps * sizeof *tprod);
    double *tblas = malloc((size_t)reps * sizeof *tblas),
           *ratio = malloc((size_t)reps * sizeof *ratio);
    double *pratio = malloc((size_t)reps * sizeof *pratio);
    void *C = NULL;
#if defined(SM_HAVE_OPENBLAS)
    openblas_set_num_threads(threads);
    C = sm_alloc(NU * NI, f64 ? 8 : 4);
#endif
    /* Interleaved triples: ours, the products alone, sgemm, each after a
     * pause, and the ratio quoted is the median of the triples' own
     * ratios, so that a slow spell of the shared machine (they last from
     * milliseconds to seconds) lands on both sides of most ratios. */
    for (int i = -2; i < reps; ++i) {
        double a = 0, b = 0, c = 0;
        /* each side is timed on the second of two back-to-back calls, so
         * that both run warm: caches, clocks and their own threads (the
         * first call after a pause is up to 1.4x slower) */
        for (int w = 0; w < 2; ++w) {
            double t0 = sm_now();
            if (signmf_recommend_many(m, NULL, NU, k, threads, out, counts, &err) != SIGNMF_OK) {
                fprintf(stderr, "bench_score: %s\n", err.message);
                return 1;
            }
            a = sm_now() - t0;
        }
        pause_ms(5);
        for (int w = 0; w < 2; ++w)
            b = time_products(m, threads);
        double d = 0, e = 0;
        for (int w = 0; mb && w < 2; ++w) {
            double t0 = sm_now();
            if (signmf_recommend_many(mb, NULL, NU, k, threads, out, counts, &err) != SIGNMF_OK) {
                fprintf(stderr, "bench_score: %s\n", err.message);
                return 1;
            }
            d = sm_now() - t0;
        }
        for (int w = 0; mb && w < 2; ++w)
            e = time_products(mb, threads);
#if defined(SM_HAVE_OPENBLAS)
        pause_ms(5);
        for (int w = 0; w < 2; ++w)
            c = time_blas(f64, NU, NI, dim, m, C);
        pause_ms(SM_BLAS_SPIN_MS);
#endif
        if (i >= 0) {
            tours[i] = a, tprod[i] = b, tblas[i] = c;
            ratio[i] = c > 0 ? a / c : 0, pratio[i] = c > 0 ? b / c : 0;
            tb[i] = d, tbp[i] = e, rb[i] = d / a, rbs[i] = c > 0 ? d / c : 0;
        }
    }
    double q1, q3;
    quartiles(tours, reps, &q1, &q3);
    printf("all-users top-%zu (signmf)    median %8.3f ms  quartiles %.3f-%.3f ms\n", k,
           median(tours, reps) * 1e3, q1 * 1e3, q3 * 1e3);
    quartiles(tprod, reps, &q1, &q3);
    printf("products alone (no top-k)     median %8.3f ms  quartiles %.3f-%.3f ms\n",
           median(tprod, reps) * 1e3, q1 * 1e3, q3 * 1e3);
    if (mb) {
        quartiles(tb, reps, &q1, &q3);
        printf("all-users top-%zu (signmf bf16) median %8.3f ms  quartiles %.3f-%.3f ms\n", k,
               median(tb, reps) * 1e3, q1 * 1e3, q3 * 1e3);
        quartiles(tbp, reps, &q1, &q3);
        printf("products alone bf16           median %8.3f ms  quartiles %.3f-%.3f ms\n",
               median(tbp, reps) * 1e3, q1 * 1e3, q3 * 1e3);
        quartiles(rb, reps, &q1, &q3);
        printf("ratio signmf bf16 / signmf f32: %.3f (median of %d interleaved ratios; quartiles "
               "%.3f-%.3f)\n",
               median(rb, reps), reps, q1, q3);
#if defined(SM_HAVE_OPENBLAS)
        quartiles(rbs, reps, &q1, &q3);
        printf("ratio signmf bf16 / sgemm: %.3f (quartiles %.3f-%.3f)\n", median(rbs, reps), q1,
               q3);
#endif
    }

    /* one user at a time, with 1 thread and with `threads` (the items
     * split between them): back to back, then after 20 ms idle, as
     * sporadic requests see it (Q has left the caches, and a second thread
     * has to be woken: OpenMP parks its workers after a short spin) */
    for (int pass = 0; pass < 2; ++pass) {
        int th = pass ? threads : 1;
        double one = time_one_user(m, k, th, 200, 20, 0, out, t);
        printf("one-user top-%zu, %d thread%s    median %8.4f ms  min %8.4f ms\n", k, th,
               th > 1 ? "s" : " ", one * 1e3, t[0] * 1e3);
    }
    for (int pass = 0; pass < 2 && threads > 1; ++pass) {
        int th = pass ? threads : 1;
        double one = time_one_user(m, k, th, 40, 0, 20, out, t);
        printf("one-user top-%zu after 20 ms idle, %d thread%s median %8.4f ms  min %8.4f ms\n", k,
               th, th > 1 ? "s" : " ", one * 1e3, t[0] * 1e3);
    }

#if defined(SM_HAVE_OPENBLAS)
    quartiles(tblas, reps, &q1, &q3);
    printf("%s alone (OpenBLAS %s) median %8.3f ms  quartiles %.3f-%.3f ms\n",
           f64 ? "dgemm" : "sgemm", openblas_get_corename(), median(tblas, reps) * 1e3, q1 * 1e3,
           q3 * 1e3);
    quartiles(ratio, reps, &q1, &q3);
    printf("ratio signmf / %s: %.3f (median of %d interleaved ratios; quartiles %.3f-%.3f)\n",
           f64 ? "dgemm" : "sgemm", median(ratio, reps), reps, q1, q3);
    quartiles(pratio, reps, &q1, &q3);
    printf("ratio products alone / %s: %.3f (quartiles %.3f-%.3f)\n", f64 ? "dgemm" : "sgemm",
           median(pratio, reps), q1, q3);
    sm_free(C);
#else
    (void)C;
    printf("(built without OpenBLAS: no sgemm comparison)\n");
#endif
    free(tours);
    free(tprod);
    free(tblas);
    free(ratio);
    free(pratio);
    free(out);
    free(counts);
    free(t);
    free(tb), free(tbp), free(rb), free(rbs);
    signmf_model_free(mb);
    signmf_model_free(m);
    return 0;
}
