/* Epoch benchmark: the fused pass for every kernel set, precision, thread
 * count and k, on ua.base (SIGNMF_DATA_DIR) or a synthetic set of its shape.
 * Prints one table row per configuration with the median epoch time and
 * the rate in signs x k per second, plus the load-floor probe (the same
 * gathers with no dot and no stores).
 *
 *   bench_epoch [--quick] [--ratings FILE] [--k LIST] [--threads LIST] [--prec f32|f64|bf16]
 *
 * Without --prec every precision runs, bf16 beside f32 (same run, so the
 * ratio is fair on a shared machine).
 *
 * --quick: only the kernels the library would choose (SIGNMF_ISA applies),
 * and k = 512 unless --k is given. */
#include "bench_common.h"
#include "train/train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Median of reps passes; *best receives the fastest (the least disturbed
 * by other processes on a shared machine). */
static double time_pass(signmf_trainer *t, const sm_kernels *k, int reps, bool probe, double *best)
{
    double *times = malloc((size_t)reps * sizeof(double)), loss;
    double a = 1e-3;
    for (int i = 0; i < reps + 2; ++i) {
        double t0 = sm_now();
        if (probe) {
            /* load floor: every gathered row into registers, nothing else */
#pragma omp parallel for num_threads(t->threads) schedule(static)
            for (size_t q = 0; q < t->ntasks; ++q) {
                const sm_task *tk = &t->tasks[q];
                const sm_signs *s = tk->side ? &t->by_item : &t->by_user;
                size_t rows = tk->side ? t->items : t->users,
                       other = tk->side ? t->users : t->items;
                size_t w = sm_panel_width(t, tk->panel);
                const char *self = (const char *)(tk->side ? t->Q[0] : t->P[0]) +
                                   sm_panel_offset(t, rows, tk->panel) * t->esize;
                const char *src = (const char *)(tk->side ? t->P[0] : t->Q[0]) +
                                  sm_panel_offset(t, other, tk->panel) * t->esize;
                if (t->params.precision == SIGNMF_BF16)
                    k->gather_bf16(s, tk->r0, tk->r1, w,
                                   (tk->side ? t->Pb[0] : t->Qb[0]) +
                                       sm_panel_offset(t, other, tk->panel),
                                   (const float *)self, NULL, NULL, 0, 1.0f, NULL);
                else if (t->esize == 8)
                    k->gather_f64(s, tk->r0, tk->r1, w, (const double *)src, (const double *)self,
                                  NULL, 0, 1.0, NULL);
                else
                    k->gather_f32(s, tk->r0, tk->r1, w, (const float *)src, (const float *)self,
                                  NULL, 0, 1.0, NULL);
            }
        } else {
            sm_train_pass(t, k, &a, 1.0, &loss);
        }
        if (i >= 2)
            times[i - 2] = sm_now() - t0;
    }
    qsort(times, (size_t)reps, sizeof(double), bench_cmp_double);
    double med = times[reps / 2];
    if (best)
        *best = times[0];
    free(times);
    return med;
}

int main(int argc, char **argv)
{
    int quick = 0, k_given = 0, prec_lo = 0, prec_hi = 2;
    static const signmf_precision precs[3] = {SIGNMF_F32, SIGNMF_BF16, SIGNMF_F64};
    static const char *const prec_names[3] = {"f32", "bf16", "f64"};
    const char *file = NULL;
    size_t ks[16] = {16, 32, 64, 128, 256, 512, 1024}, nk = 7;
    int ths[4] = {1, 2}, nth = 2;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--ratings") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) {
            nk = 0;
            k_given = 1;
            for (char *s = strtok(argv[++i], ","); s && nk < 16; s = strtok(NULL, ","))
                ks[nk++] = strtoul(s, NULL, 10);
        } else if (!strcmp(argv[i], "--prec") && i + 1 < argc) {
            ++i;
            prec_lo = prec_hi = !strcmp(argv[i], "f64") ? 2 : !strcmp(argv[i], "bf16") ? 1 : 0;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nth = 0;
            for (char *s = strtok(argv[++i], ","); s && nth < 4; s = strtok(NULL, ","))
                ths[nth++] = atoi(s);
        }
    }
    if (quick && !k_given) {
        ks[0] = 512, nk = 1;
    }
    const char *what = NULL;
    signmf_ratings *r = bench_data("bench_epoch", file, 106, &what);
    if (!r)
        return 1;
    signmf_error err;
    printf("# data: %s (%zu x %zu, %zu ratings)\n", what, signmf_ratings_users(r),
           signmf_ratings_items(r), signmf_ratings_count(r));
    printf("%-8s %-4s %3s %5s %10s %10s %14s %8s %8s %6s\n", "isa", "prec", "thr", "k", "epoch_ms",
           "probe_ms", "Gsignk_per_s", "min_ms", "pmin_ms", "row_B");
    for (int isa = SM_ISA_COUNT - 1; isa >= 0; --isa) {
        const sm_kernels *k = sm_kernels_for((sm_isa)isa);
        if (!k || (quick && k != sm_kernels_active()))
            continue;
        for (int prec = prec_lo; prec <= prec_hi; ++prec)
            for (size_t ki = 0; ki < nk; ++ki)
                for (int ti = 0; ti < nth; ++ti) {
                    signmf_params p = signmf_params_default();
                    p.dim = ks[ki];
                    p.threads = ths[ti];
                    p.precision = precs[prec];
                    signmf_trainer *t;
                    if (signmf_trainer_create(r, &p, &t, &err) != SIGNMF_OK) {
                        fprintf(stderr, "bench_epoch: %s\n", err.message);
                        return 1;
                    }
                    size_t nnz = t->by_user.nnz;
                    double work = (double)nnz * (double)p.dim;
                    int reps = work > 2e9 ? 5 : work > 1e8 ? 21 : 51;
                    double emin, pmin;
                    double e = time_pass(t, k, reps, false, &emin);
                    double pr = time_pass(t, k, reps, true, &pmin);
                    printf("%-8s %-4s %3d %5zu %10.3f %10.3f %14.2f %8.3f %8.3f %6zu\n", k->name,
                           prec_names[prec], ths[ti], p.dim, e * 1e3, pr * 1e3,
                           2.0 * work / e * 1e-9, emin * 1e3, pmin * 1e3,
                           t->panel * (precs[prec] == SIGNMF_BF16 ? 2 : t->esize));
                    fflush(stdout);
                    signmf_trainer_free(t);
                }
    }
    signmf_ratings_free(r);
    return 0;
}
