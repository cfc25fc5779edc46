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
 * and k = 512 unless --k is given.
 *
 * --degree-order users|items|both [--rounds N]: issue 13's locality probe.
 * Each configuration builds two trainers, the second with the rows of the
 * named sides stored in descending order of degree (sm_degree_order), and
 * times their passes interleaved, A B then B A, N rounds (default 21), so
 * that a slow spell of the shared machine lands on both; it prints both
 * medians, the median of the per-round ratios B / A, and whether B's next
 * state and loss are A's bits (rows compared at their slots).
 * users-resort|items-resort|both-resort: the same, and every row's segments
 * sorted by slot with the blocks cut in slot order (the hottest rows in
 * block 0): another sum order, so other bits; for measurement only.
 *
 * The same interleaved A/B timing, B as configured and A:
 *   --vs-f32             A in float32 (with --prec bf16: the bf16 / f32
 *                        epoch ratio of issue 13, from one process);
 *   --b-env NAME=VALUE   B built with that variable set (SIGNMF_PANEL,
 *                        SIGNMF_BLOCK_ROWS, ...). */
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

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* B's spare state (the next one) against A's, row r of a side at B's slot. */
static bool same_next_state(const signmf_trainer *A, const signmf_trainer *B)
{
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? A->items : A->users;
        for (size_t c = 0; c < A->npanels; ++c) {
            size_t w = sm_panel_width(A, c), off = sm_panel_offset(A, rows, c);
            const char *a =
                (const char *)(side ? A->Q[1 - A->cur] : A->P[1 - A->cur]) + off * A->esize;
            const char *b =
                (const char *)(side ? B->Q[1 - B->cur] : B->P[1 - B->cur]) + off * B->esize;
            for (size_t r = 0; r < rows; ++r) {
                size_t q = B->slot[side] ? B->slot[side][r] : r;
                if (memcmp(a + r * w * A->esize, b + q * w * B->esize, w * A->esize))
                    return false;
            }
            if (A->Pb[0]) {
                const uint16_t *ah = (side ? A->Qb[1 - A->cur] : A->Pb[1 - A->cur]) + off;
                const uint16_t *bh = (side ? B->Qb[1 - B->cur] : B->Pb[1 - B->cur]) + off;
                for (size_t r = 0; r < rows; ++r) {
                    size_t q = B->slot[side] ? B->slot[side][r] : r;
                    if (memcmp(ah + r * w, bh + q * w, w * sizeof *ah))
                        return false;
                }
            }
        }
    }
    return true;
}

/* A: a trainer of `pa`; B: one of `p`, with its rows in degree order
 * (sides != 0) and the environment variable b_env ("NAME=VALUE") set while
 * it is built (b_env != NULL). */
static int degree_probe(const signmf_ratings *r, const sm_kernels *k, signmf_params pa,
                        signmf_params p, int sides, const char *b_env, int rounds,
                        const char *prec_name)
{
    signmf_error err;
    signmf_trainer *t[2];
    char name[64] = "";
    const char *eq = b_env ? strchr(b_env, '=') : NULL;
    if (eq && (size_t)(eq - b_env) < sizeof name)
        memcpy(name, b_env, (size_t)(eq - b_env));
    const char *old = *name ? getenv(name) : NULL;
    char *keep = old ? strdup(old) : NULL;
    if (signmf_trainer_create(r, &pa, &t[0], &err) != SIGNMF_OK) {
        fprintf(stderr, "bench_epoch: %s\n", err.message);
        return 1;
    }
    if (*name)
        setenv(name, eq + 1, 1);
    signmf_status st = signmf_trainer_create(r, &p, &t[1], &err);
    if (*name && keep)
        setenv(name, keep, 1);
    else if (*name)
        unsetenv(name);
    free(keep);
    if (st != SIGNMF_OK || (sides && sm_degree_order(t[1], sides, &err) != SIGNMF_OK)) {
        fprintf(stderr, "bench_epoch: %s\n", err.message);
        return 1;
    }
    double a = 1e-3, loss[2] = {0, 0};
    double *tm[2] = {malloc((size_t)rounds * sizeof(double)),
                     malloc((size_t)rounds * sizeof(double))};
    double *ratio = malloc((size_t)rounds * sizeof(double));
    for (int i = 0; i < 2; ++i) /* warm both */
        for (int j = 0; j < 2; ++j)
            sm_train_pass(t[j], k, &a, 1.0, &loss[j]);
    for (int i = 0; i < rounds; ++i) {
        for (int h = 0; h < 2; ++h) {
            int j = (i & 1) ? 1 - h : h;
            double t0 = sm_now();
            sm_train_pass(t[j], k, &a, 1.0, &loss[j]);
            tm[j][i] = sm_now() - t0;
        }
        ratio[i] = tm[1][i] / tm[0][i];
    }
    bool comparable = pa.precision == p.precision && !b_env && !(sides & 4);
    bool same = comparable && same_next_state(t[0], t[1]) &&
                memcmp(&loss[0], &loss[1], sizeof loss[0]) == 0;
    qsort(tm[0], (size_t)rounds, sizeof(double), cmp_d);
    qsort(tm[1], (size_t)rounds, sizeof(double), cmp_d);
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_d);
    printf("%-8s %-4s %3d %5zu %7s %10.3f %10.3f %8.3f %8.3f %8.3f %4s\n", k->name, prec_name,
           p.threads, p.dim,
           !sides             ? "index"
           : (sides & 3) == 3 ? (sides & 4 ? "both-r" : "both")
           : (sides & 3) == 1 ? (sides & 4 ? "users-r" : "users")
                              : (sides & 4 ? "items-r" : "items"),
           tm[0][rounds / 2] * 1e3, tm[1][rounds / 2] * 1e3, ratio[rounds / 2], ratio[rounds / 4],
           ratio[rounds * 3 / 4],
           !comparable ? "-"
           : same      ? "yes"
                       : "NO");
    fflush(stdout);
    free(tm[0]);
    free(tm[1]);
    free(ratio);
    signmf_trainer_free(t[0]);
    signmf_trainer_free(t[1]);
    return same || !comparable ? 0 : 1;
}

int main(int argc, char **argv)
{
    int degree = 0, rounds = 21, vs_f32 = 0;
    const char *b_env = NULL;
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
        } else if (!strcmp(argv[i], "--degree-order") && i + 1 < argc) {
            ++i;
            degree = strstr(argv[i], "users") ? 1 : strstr(argv[i], "items") ? 2 : 3;
            degree |= 8; /* set, even where the order turns out empty */
            if (strstr(argv[i], "-resort"))
                degree |= 4;
        } else if (!strcmp(argv[i], "--vs-f32")) {
            vs_f32 = 1;
        } else if (!strcmp(argv[i], "--b-env") && i + 1 < argc) {
            b_env = argv[++i];
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1)
                rounds = 1;
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
    if (degree || vs_f32 || b_env) {
        printf("%-8s %-4s %3s %5s %7s %10s %10s %8s %8s %8s %4s\n", "isa", "prec", "thr", "k",
               "order", vs_f32 ? "f32_ms" : "A_ms", "B_ms", "ratio", "r_q1", "r_q3", "bits");
        int rc = 0;
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
                        signmf_params pa = p;
                        if (vs_f32)
                            pa.precision = SIGNMF_F32;
                        rc |=
                            degree_probe(r, k, pa, p, degree & 7, b_env, rounds, prec_names[prec]);
                    }
        }
        signmf_ratings_free(r);
        return rc;
    }
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
