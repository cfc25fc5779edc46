/* recommend --all's writer against the library call it reports on: top-k
 * for every user through signmf_recommend_all with a callback that does
 * nothing, side by side with the CLI's own callback (cli_rec_stream_fn,
 * out.c) writing into /dev/null through the same 256 KiB buffer.
 *
 *   bench_writer [MODEL] [--k K] [--threads T] [--reps R] [--json]
 *   bench_writer MODEL --once     one no-op call and exit: the library side
 *                                 of an end-to-end comparison with
 *                                 `signmf recommend MODEL --all`
 *                                 (bench/writer.sh)
 *
 * Without MODEL: a k = 512 float32 model trained 20 epochs on
 * ml-100k/ua.base under SIGNMF_DATA_DIR, else on a synthetic set of its
 * shape. The sides alternate, each after one untimed call of its own, and
 * the ratio quoted is the median of the pairs' own ratios, with quartiles:
 * a slow spell of the shared machine then lands on both sides of a pair. */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int noop(void *ctx, int64_t user, const signmf_rec *recs, size_t count)
{
    /* keep the results observable, so that nothing is optimised away */
    size_t *sum = ctx;
    *sum += (size_t)user + count + (count ? (size_t)recs[0].item : 0);
    return 0;
}

typedef struct side {
    const signmf_model *m;
    size_t k;
    int threads;
    bool json;
    FILE *null;
    char *buf;
} side;

static double run(const side *s, bool writer)
{
    signmf_error err;
    memset(&err, 0, sizeof err);
    size_t sum = 0;
    double t0 = bench_now();
    signmf_status st;
    if (writer) {
        cli_out out;
        cli_out_init(&out, s->null, s->buf, 256 * 1024);
        cli_rec_stream sc = {&out, NULL, s->json, true};
        st = signmf_recommend_all(s->m, s->k, s->threads, cli_rec_stream_fn, &sc, &err);
        if (s->json)
            cli_out_write(&out, sc.first ? "[]\n" : "\n]\n", 3);
        if (st == SIGNMF_OK && !cli_out_flush(&out)) {
            fprintf(stderr, "bench_writer: /dev/null: write failed\n");
            exit(1);
        }
    } else {
        st = signmf_recommend_all(s->m, s->k, s->threads, noop, &sum, &err);
    }
    double t = bench_now() - t0;
    if (st != SIGNMF_OK) {
        fprintf(stderr, "bench_writer: %s\n", err.message);
        exit(1);
    }
    return t;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static signmf_model *train_default(void)
{
    const char *what = NULL;
    signmf_ratings *r = bench_data("bench_writer", NULL, 96, &what);
    if (r == NULL)
        return NULL;
    signmf_params p = signmf_params_default();
    p.dim = 512;
    p.precision = SIGNMF_F32;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_trainer *t = NULL;
    signmf_model *m = NULL;
    signmf_status st = signmf_trainer_create_consume(&r, &p, &t, &err);
    if (st == SIGNMF_OK)
        st = signmf_trainer_run(t, 20, NULL, NULL, &err);
    if (st == SIGNMF_OK)
        st = signmf_trainer_into_model(&t, &m);
    signmf_trainer_free(t);
    signmf_ratings_free(r);
    if (st != SIGNMF_OK) {
        fprintf(stderr, "bench_writer: training failed: %s\n", err.message);
        return NULL;
    }
    printf("model: k = 512 float32, 20 epochs on %s\n", what);
    return m;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    side s = {NULL, 10, 0, false, NULL, NULL};
    int reps = 21;
    bool once = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--k") == 0 && i + 1 < argc)
            s.k = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            s.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            s.json = true;
        else if (strcmp(argv[i], "--once") == 0)
            once = true;
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else {
            fprintf(stderr, "usage: bench_writer [MODEL] [--k K] [--threads T] [--reps R] "
                            "[--json] [--once]\n");
            return 2;
        }
    }
    if (reps < 1 || s.k == 0 || (once && path == NULL)) {
        fprintf(stderr, "bench_writer: --reps and --k must be positive; --once needs MODEL\n");
        return 2;
    }
    signmf_model *m = NULL;
    if (path != NULL) {
        signmf_error err;
        memset(&err, 0, sizeof err);
        if (signmf_model_open(path, SIGNMF_OPEN_MMAP, &m, &err) != SIGNMF_OK) {
            fprintf(stderr, "bench_writer: %s\n", err.message);
            return 1;
        }
    } else if ((m = train_default()) == NULL) {
        return 1;
    }
    s.m = m;
    if (once) {
        run(&s, false);
        signmf_model_free(m);
        return 0;
    }
    s.null = fopen("/dev/null", "w");
    s.buf = malloc(256 * 1024);
    if (s.null == NULL || s.buf == NULL) {
        fprintf(stderr, "bench_writer: cannot open /dev/null or allocate the buffer\n");
        return 1;
    }
    double *lib = malloc((size_t)reps * sizeof *lib), *wr = malloc((size_t)reps * sizeof *wr),
           *ratio = malloc((size_t)reps * sizeof *ratio);
    if (lib == NULL || wr == NULL || ratio == NULL)
        return 1;
    printf("%zu users x %zu items, k = %zu, top %zu, %s, %d reps\n", signmf_model_users(m),
           signmf_model_items(m), signmf_model_dim(m), s.k, s.json ? "--json" : "text", reps);
    for (int r = 0; r < reps; r++) {
        /* each side's first call after the other's runs colder; the
         * untimed call gives both the same start */
        run(&s, false);
        lib[r] = run(&s, false);
        run(&s, true);
        wr[r] = run(&s, true);
        ratio[r] = wr[r] / lib[r];
    }
    double lm = median(lib, reps), wm = median(wr, reps), rm = median(ratio, reps);
    double q1 = ratio[(reps - 1) / 4], q3 = ratio[(3 * (reps - 1) + 3) / 4];
    printf("library, no-op callback: %9.3f ms median\n", 1e3 * lm);
    printf("CLI writer to /dev/null: %9.3f ms median (+%.3f ms)\n", 1e3 * wm, 1e3 * (wm - lm));
    printf("writer / library: %.3f median of pairs (quartiles %.3f-%.3f)\n", rm, q1, q3);
    free(lib);
    free(wr);
    free(ratio);
    free(s.buf);
    fclose(s.null);
    signmf_model_free(m);
    return 0;
}
