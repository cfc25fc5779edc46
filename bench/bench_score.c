/* Serving benchmark: top-k for every user (signmf_recommend_many) side by
 * side with OpenBLAS cblas_sgemm/dgemm of the same P Q product (which
 * writes the full score matrix and selects nothing), plus top-k for one
 * user at a time. The model is ua.base's shape and rated sets
 * (SIGNMF_DATA_DIR, else a synthetic set of that shape) with the trainer's
 * initial P and Q.
 *
 *   bench_score [--dim K] [--threads T] [--k K] [--reps R] [--f64]
 *
 * OpenBLAS spins its threads for a while after a call, which steals the
 * cores from OpenMP; so the two never interleave rep by rep. They run in
 * three alternating rounds with a pause between, and the ratio is the
 * median of the rounds' ratios, so that a slow spell of the shared machine
 * does not land on one side only.
 * The BLAS line names the kernel OpenBLAS picked: a DYNAMIC_ARCH build
 * that does not know the CPU falls back to an old one (Debian's 0.3.21
 * says "Prescott" on Sapphire Rapids); OPENBLAS_CORETYPE=SkylakeX (or
 * Haswell) forces its fast kernels for a fair comparison. */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "score/score.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    size_t dim = 512, k = 10;
    int threads = 2, reps = 21;
    bool f64 = false;
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
        else {
            fprintf(stderr,
                    "usage: bench_score [--dim K] [--threads T] [--k K] [--reps R] [--f64]\n");
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
    size_t NU = m->users, NI = m->items;
    printf("# %s: %zu users x %zu items x dim %zu, %s, top-%zu, %d threads, kernels %s, %d reps\n",
           src, NU, NI, dim, f64 ? "f64" : "f32", k, threads, signmf_kernel_name(), reps);

    signmf_rec *out = malloc(NU * k * sizeof *out);
    size_t *counts = malloc(NU * sizeof *counts);
    double *t = malloc((size_t)(reps > 200 ? reps : 200) * sizeof *t);
    /* Ours and the sgemm comparator run in alternating rounds of `reps`
     * each, with a pause between, so that the shared machine's slow spells
     * hit both and neither runs while the other's idle threads still spin
     * (OpenBLAS workers spin for a while after a call). The ratio quoted is
     * the median over rounds of each round's ratio of medians. */
    const int rounds = 3;
    double ours_r[3], blas_r[3], ratio_r[3], ours_min = 1e30, blas_min = 1e30;
#if defined(SM_HAVE_OPENBLAS)
    openblas_set_num_threads(threads);
    void *C = sm_alloc(NU * NI, f64 ? 8 : 4);
#endif
    for (int rd = 0; rd < rounds; ++rd) {
        for (int i = -2; i < reps; ++i) {
            double t0 = sm_now();
            if (signmf_recommend_many(m, NULL, NU, k, threads, out, counts, &err) != SIGNMF_OK) {
                fprintf(stderr, "bench_score: %s\n", err.message);
                return 1;
            }
            if (i >= 0)
                t[i] = sm_now() - t0;
        }
        ours_r[rd] = median(t, reps);
        ours_min = t[0] < ours_min ? t[0] : ours_min;
        pause_ms(200);
#if defined(SM_HAVE_OPENBLAS)
        for (int i = -2; i < reps; ++i) {
            double tb = time_blas(f64, NU, NI, dim, m, C);
            if (i >= 0)
                t[i] = tb;
        }
        blas_r[rd] = median(t, reps);
        blas_min = t[0] < blas_min ? t[0] : blas_min;
        ratio_r[rd] = ours_r[rd] / blas_r[rd];
        pause_ms(200);
#else
        blas_r[rd] = ratio_r[rd] = 0;
#endif
    }
    double ours = median(ours_r, rounds);
    printf("all-users top-%zu (signmf)    median %8.3f ms  min %8.3f ms\n", k, ours * 1e3,
           ours_min * 1e3);

    /* The products alone, through the same kernel, strips and L2 blocks as
     * the engine (score.c) but with no selection: what top-k adds is the
     * difference from the line above. */
    double *tp = malloc((size_t)reps * sizeof *tp);
    {
        const sm_kernels *kern = sm_kernels_active();
        const size_t strip = SM_STRIP, es = f64 ? 8 : 4, blk = sm_item_block(m);
        size_t nstrips = (NU + strip - 1) / strip;
        for (int i = -2; i < reps; ++i) {
            double t0 = sm_now();
#pragma omp parallel num_threads(threads)
            {
                void *S = sm_alloc(strip * blk, es);
                int T = omp_get_num_threads(), me = omp_get_thread_num();
                size_t s0 = nstrips * (size_t)me / (size_t)T;
                size_t s1 = nstrips * (size_t)(me + 1) / (size_t)T;
                for (size_t j0 = 0; j0 < NI; j0 += blk) {
                    size_t nj = NI - j0 < blk ? NI - j0 : blk;
                    for (size_t st = s0; st < s1; ++st) {
                        size_t u0 = st * strip, nu = NU - u0 < strip ? NU - u0 : strip;
                        if (f64)
                            kern->score_f64((const double *)m->P + u0 * dim, dim, nu,
                                            (const double *)m->Qp + j0 * dim, nj, dim, S, blk);
                        else
                            kern->score_f32((const float *)m->P + u0 * dim, dim, nu,
                                            (const float *)m->Qp + j0 * dim, nj, dim, S, blk);
                    }
                }
                sm_free(S);
            }
            if (i >= 0)
                tp[i] = sm_now() - t0;
        }
    }
    double prod = median(tp, reps);
    printf("products alone (no top-k)     median %8.3f ms  min %8.3f ms\n", prod * 1e3,
           tp[0] * 1e3);

    /* one user at a time, cycling through users so no answer is cached;
     * with 1 thread and with `threads` (the items split between them) */
    int singles = 200;
    for (int pass = 0; pass < 2; ++pass) {
        int th = pass ? threads : 1;
        for (int i = -20; i < singles; ++i) {
            size_t n;
            int64_t uid = signmf_model_user_id(m, (size_t)(i + 20) * 37 % NU);
            double t0 = sm_now();
            signmf_recommend_many(m, &uid, 1, k, th, out, &n, NULL);
            if (i >= 0)
                t[i] = sm_now() - t0;
        }
        double one = median(t, singles);
        printf("one-user top-%zu, %d thread%s    median %8.4f ms  min %8.4f ms\n", k, th,
               th > 1 ? "s" : " ", one * 1e3, t[0] * 1e3);
    }

#if defined(SM_HAVE_OPENBLAS)
    double blas = median(blas_r, rounds);
    printf("%s alone (OpenBLAS %s) median %8.3f ms  min %8.3f ms\n", f64 ? "dgemm" : "sgemm",
           openblas_get_corename(), blas * 1e3, blas_min * 1e3);
    /* median() sorts in place: keep the rounds' ratios in run order */
    double ratio_sorted[3];
    memcpy(ratio_sorted, ratio_r, sizeof ratio_r);
    printf("ratio signmf / %s: %.3f (median of %d rounds:", f64 ? "dgemm" : "sgemm",
           median(ratio_sorted, rounds), rounds);
    for (int rd = 0; rd < rounds; ++rd)
        printf(" %.3f", ratio_r[rd]);
    printf("), %.3f (mins)\n", ours_min / blas_min);
    printf("ratio products alone / %s: %.3f (medians)\n", f64 ? "dgemm" : "sgemm", prod / blas);
    sm_free(C);
#else
    printf("(built without OpenBLAS: no sgemm comparison)\n");
#endif
    free(tp);
    free(out);
    free(counts);
    free(t);
    signmf_model_free(m);
    return 0;
}
