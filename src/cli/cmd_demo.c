/* signmf demo: train the notebook's model and the orthonormal one on
 * MovieLens 100k when it is around, else on the built-in synthetic set,
 * and show each beside popularity on held-out ratings, with sample
 * recommendations and similar items. */
#include "cli.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command demo_cmd = {
    "demo",
    "Usage: signmf demo [options]\n"
    "\n"
    "Train two models on MovieLens 100k (ml-100k/ua.base) when found, else\n"
    "on the built-in synthetic set (as 'signmf synth' with its defaults, 10 %\n"
    "of each user's ratings held out): the notebook's (--method notebook)\n"
    "and the orthonormal method's with its defaults. Then show each beside\n"
    "popularity on the held-out ratings (ua.test), the recommendations of\n"
    "both for users 1 and 2, and the items most similar to item 50 (Star\n"
    "Wars in MovieLens), with titles when ml-100k/u.item is there.\n"
    "MovieLens is looked for under --data DIR, $SIGNMF_DATA_DIR, ./data and\n"
    "../shared/data, in that order.\n"
    "\n"
    "Options:\n"
    "  --data DIR         directory containing ml-100k/\n"
    "  --dim K            the notebook model's dimension (default 512)\n"
    "  --epochs N         its gradient steps (default 20)\n"
    "  --lr A             its learning rate (default 1e-3)\n"
    "  --seed S           numpy-compatible seed (default 1)\n"
    "  --threads T        worker threads (default: all cores)\n"
    "  --precision P      f32, f64 or bf16, both models (default f32)\n"
    "  -k, --top K        recommendations per user (default 5)\n"
    "  --quiet            no progress\n"
    "  -h, --help         show this help\n",
};

static char *join(const char *dir, const char *rel)
{
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (p != NULL) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, rel, b + 1);
    }
    return p;
}

/* The first candidate directory holding a readable ml-100k/ua.base. */
static char *find_movielens(const char *explicit_dir)
{
    const char *cands[4];
    size_t n = 0;
    if (explicit_dir != NULL)
        cands[n++] = explicit_dir;
    const char *env = getenv("SIGNMF_DATA_DIR");
    if (env != NULL && *env != '\0')
        cands[n++] = env;
    cands[n++] = "data";
    cands[n++] = "../shared/data";
    for (size_t i = 0; i < n; i++) {
        char *p = join(cands[i], "ml-100k");
        if (p == NULL)
            return NULL;
        char *base = join(p, "ua.base");
        bool ok = base != NULL && access(base, R_OK) == 0;
        free(base);
        if (ok)
            return p;
        free(p);
        if (i == 0 && explicit_dir != NULL)
            fprintf(stderr, "signmf demo: no readable %s/ml-100k/ua.base\n", explicit_dir);
    }
    return NULL;
}

/* Where the demo's data come from: MovieLens files, or the synthetic set
 * split into training and held-out parts. */
typedef struct demo_data {
    char *base, *test;     /* MovieLens: ua.base, ua.test */
    signmf_ratings *train; /* synthetic: the training part */
    signmf_ratings *held;  /* the held-out ratings, either way */
    cli_titles *titles;
} demo_data;

static void demo_free(demo_data *d)
{
    free(d->base);
    free(d->test);
    signmf_ratings_free(d->train);
    signmf_ratings_free(d->held);
    cli_titles_free(d->titles);
}

static int load_tsv(const char *path, signmf_ratings **r)
{
    signmf_load_options lo = signmf_load_options_default();
    lo.format = SIGNMF_FORMAT_TSV;
    lo.ids = SIGNMF_IDS_DIRECT;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st = signmf_ratings_load(path, &lo, r, &err);
    return st == SIGNMF_OK ? -1 : cli_lib_error(st, &err);
}

/* -1 when loaded, else an exit status (the error is reported). */
static int demo_load(const char *data, demo_data *d)
{
    char *ml = find_movielens(data);
    int rc = -1;
    if (ml != NULL) {
        d->base = join(ml, "ua.base");
        d->test = join(ml, "ua.test");
        char *item = join(ml, "u.item");
        free(ml);
        if (d->base == NULL || d->test == NULL || item == NULL) {
            free(item);
            return cli_error("out of memory");
        }
        signmf_ratings *r = NULL;
        if ((rc = load_tsv(d->base, &r)) < 0)
            printf("data: MovieLens 100k, %s (%zu users x %zu items, %zu ratings)\n", d->base,
                   signmf_ratings_users(r), signmf_ratings_items(r), signmf_ratings_count(r));
        signmf_ratings_free(r);
        if (rc < 0 && (rc = load_tsv(d->test, &d->held)) < 0)
            printf("held out: %s (%zu ratings)\n", d->test, signmf_ratings_count(d->held));
        if (rc < 0 && access(item, R_OK) == 0) {
            int trc = cli_titles_load(item, &d->titles);
            if (trc != CLI_OK)
                rc = trc;
        }
        free(item);
        return rc;
    }
    cli_synth_params sp = {943, 1682, 100000, 1};
    signmf_ratings *all = NULL;
    if (cli_synth_ratings(&sp, &all) != CLI_OK)
        return CLI_ERROR;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st = signmf_ratings_split(all, 0.1, 1, &d->train, &d->held, &err);
    signmf_ratings_free(all);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    printf("data: synthetic MovieLens-like set, as 'signmf synth' (%zu users x %zu items, %zu "
           "ratings for training, %zu held out); no ml-100k/ua.base found\n",
           signmf_ratings_users(d->train), signmf_ratings_items(d->train),
           signmf_ratings_count(d->train), signmf_ratings_count(d->held));
    return -1;
}

/* A training set of its own for each model (training consumes it). */
static int demo_ratings(const demo_data *d, signmf_ratings **r)
{
    if (d->base != NULL)
        return load_tsv(d->base, r);
    signmf_ratings *hold = NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    /* a split with nothing held out is a copy */
    signmf_status st = signmf_ratings_split(d->train, 0.0, 1, r, &hold, &err);
    signmf_ratings_free(hold);
    return st == SIGNMF_OK ? -1 : cli_lib_error(st, &err);
}

static int demo_report(const demo_data *d, signmf_model *const models[2],
                       const char *const names[2])
{
    signmf_eval_options eo = signmf_eval_options_default();
    signmf_eval_result res[2];
    for (int i = 0; i < 2; i++) {
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = signmf_evaluate(models[i], d->held, &eo, &res[i], &err);
        if (st != SIGNMF_OK)
            return cli_lib_error(st, &err);
    }
    printf("\n== held-out ratings: top-%zu lists, relevant = rating >= %g, %zu users "
           "(docs/evaluation.md)\n",
           eo.k, eo.relevant, res[0].users);
    printf("%-14s %10s %12s %11s\n", "metric", "notebook", "orthonormal", "popularity");
    for (int w = 0; w < SIGNMF_METRIC_COUNT_; w++) {
        signmf_metric mt = (signmf_metric)w;
        printf("%-14s %10.4f %12.4f %11.4f\n", signmf_metric_name(mt),
               signmf_metric_value(&res[0].model, mt), signmf_metric_value(&res[1].model, mt),
               signmf_metric_value(&res[0].popularity, mt));
    }
    size_t k = 5;
    signmf_rec recs[5];
    for (int64_t user = 1; user <= 2; user++)
        for (int i = 0; i < 2; i++) {
            size_t n = 0;
            signmf_error err;
            memset(&err, 0, sizeof err);
            signmf_status st = signmf_recommend(models[i], user, k, recs, &n, &err);
            if (st == SIGNMF_ENOTFOUND)
                break;
            if (st != SIGNMF_OK)
                return cli_lib_error(st, &err);
            printf("\nuser %" PRId64 ", %s model: top %zu unrated items\n", user, names[i], n);
            cli_print_recs_text(stdout, recs, n, d->titles, false);
        }
    const char *title = cli_titles_get(d->titles, 50);
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = signmf_similar(models[i], 50, k, recs, &n, &err);
        if (st == SIGNMF_ENOTFOUND)
            break;
        if (st != SIGNMF_OK)
            return cli_lib_error(st, &err);
        printf("\nitems most like item 50%s%s%s, %s model (cosine)\n", title ? " (" : "",
               title ? title : "", title ? ")" : "", names[i]);
        cli_print_recs_text(stdout, recs, n, d->titles, false);
    }
    return fflush(stdout) == 0 ? CLI_OK : cli_error("cannot write to standard output");
}

int cmd_demo(int argc, char **argv)
{
    uint64_t dim = 512, epochs = 20, seed = 1, threads = 0, k = 5;
    double lr = 1e-3;
    bool quiet = false;
    const char *data = NULL, *precision = NULL;
    const cli_opt opts[] = {
        {"data", 0, CLI_STR, &data, 0, 0, 0, 0, NULL},
        {"dim", 0, CLI_UINT, &dim, 1, UINT32_MAX, 0, 0, NULL},
        {"epochs", 0, CLI_UINT, &epochs, 0, UINT64_MAX, 0, 0, NULL},
        {"lr", 0, CLI_DOUBLE, &lr, 0, 0, 0, 1e300, NULL},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 1, INT_MAX, 0, 0, NULL},
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, NULL},
        {"top", 'k', CLI_UINT, &k, 1, 1000, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    size_t npos;
    int rc = cli_parse(&demo_cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc >= 0)
        return rc;
    signmf_params params = signmf_params_default();
    params.dim = (size_t)dim;
    params.lr = lr;
    params.seed = (uint32_t)seed;
    params.threads = (int)threads;
    params.precision = SIGNMF_F32;
    if ((rc = cli_parse_precision(&demo_cmd, precision, &params.precision)) >= 0)
        return rc;

    signmf_params ortho = signmf_params_for(SIGNMF_METHOD_ORTHONORMAL);
    ortho.seed = params.seed;
    ortho.threads = params.threads;
    ortho.precision = params.precision;

    demo_data d;
    memset(&d, 0, sizeof d);
    rc = demo_load(data, &d);
    signmf_model *models[2] = {NULL, NULL};
    const char *names[2] = {"notebook", "orthonormal"};
    for (int i = 0; i < 2 && rc < 0; i++) {
        signmf_ratings *r = NULL;
        rc = demo_ratings(&d, &r);
        if (rc >= 0)
            break;
        printf("\n== training the %s model: %s\n", names[i],
               i == 0 ? "the notebook's plain gradient step"
                      : "the same loss with orthonormal factors (docs/quality.md)");
        fflush(stdout);
        cli_train_job job = {r,
                             i == 0 ? params : ortho,
                             i == 0 ? epochs : SIGNMF_ORTHONORMAL_EPOCHS,
                             quiet,
                             NULL,
                             NULL,
                             NULL,
                             0,
                             NULL,
                             NULL};
        rc = cli_train(&job, &models[i]);
        if (rc == CLI_OK)
            rc = -1;
    }
    if (rc < 0)
        rc = demo_report(&d, models, names);
    signmf_model_free(models[0]);
    signmf_model_free(models[1]);
    demo_free(&d);
    return rc;
}
