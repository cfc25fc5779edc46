/* signmf demo: train on MovieLens 100k when it is around, else on the
 * built-in synthetic set, and show a few recommendations. */
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
    "Train on MovieLens 100k (ml-100k/ua.base) when found, else on the\n"
    "built-in synthetic set (as 'signmf synth' with its defaults), showing\n"
    "progress, then print sample recommendations for users 1 to 3.\n"
    "MovieLens is looked for under --data DIR, $SIGNMF_DATA_DIR, ./data and\n"
    "../shared/data, in that order.\n"
    "\n"
    "Options:\n"
    "  --data DIR         directory containing ml-100k/\n"
    "  --dim K            embedding dimension (default 512)\n"
    "  --epochs N         gradient steps (default 20)\n"
    "  --lr A             learning rate (default 1e-3)\n"
    "  --seed S           numpy-compatible seed (default 1)\n"
    "  --threads T        worker threads (default: all cores)\n"
    "  --precision P      f32 or f64 (default f32)\n"
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

    signmf_ratings *r = NULL;
    cli_titles *titles = NULL;
    char *ml = find_movielens(data);
    if (ml != NULL) {
        char *base = join(ml, "ua.base"), *item = join(ml, "u.item");
        signmf_load_options lo = signmf_load_options_default();
        lo.format = SIGNMF_FORMAT_TSV;
        lo.ids = SIGNMF_IDS_DIRECT;
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = base ? signmf_ratings_load(base, &lo, &r, &err) : SIGNMF_ENOMEM;
        if (st != SIGNMF_OK)
            rc = cli_lib_error(st, &err);
        else
            printf("data: MovieLens 100k, %s (%zu users x %zu items, %zu ratings)\n", base,
                   signmf_ratings_users(r), signmf_ratings_items(r), signmf_ratings_count(r));
        if (rc < 0 && item != NULL && access(item, R_OK) == 0) {
            int trc = cli_titles_load(item, &titles);
            if (trc != CLI_OK)
                rc = trc;
        }
        free(base);
        free(item);
        free(ml);
    } else {
        cli_synth_params sp = {943, 1682, 100000, 1};
        if (cli_synth_ratings(&sp, &r) != CLI_OK)
            rc = CLI_ERROR;
        else
            printf("data: synthetic MovieLens-like set, as 'signmf synth' (%zu users x %zu items, "
                   "%zu ratings); no ml-100k/ua.base found\n",
                   signmf_ratings_users(r), signmf_ratings_items(r), signmf_ratings_count(r));
    }
    fflush(stdout);
    if (rc >= 0) {
        signmf_ratings_free(r);
        cli_titles_free(titles);
        return rc;
    }

    cli_train_job job = {r, params, epochs, quiet, NULL, NULL, NULL, 0, NULL, NULL};
    signmf_model *m = NULL;
    rc = cli_train(&job, &m);
    if (rc == CLI_OK) {
        signmf_rec *recs = malloc((size_t)k * sizeof *recs);
        if (recs == NULL)
            rc = cli_error("out of memory");
        for (int64_t user = 1; user <= 3 && rc == CLI_OK; user++) {
            size_t n = 0;
            signmf_error err;
            memset(&err, 0, sizeof err);
            signmf_status st = signmf_recommend(m, user, (size_t)k, recs, &n, &err);
            if (st == SIGNMF_ENOTFOUND)
                continue;
            if (st != SIGNMF_OK) {
                rc = cli_lib_error(st, &err);
                break;
            }
            printf("\nuser %" PRId64 ": top %zu unrated items\n", user, n);
            cli_print_recs_text(stdout, recs, n, titles, false);
        }
        free(recs);
        if (rc == CLI_OK && fflush(stdout) != 0)
            rc = cli_error("cannot write to standard output");
    }
    signmf_model_free(m);
    cli_titles_free(titles);
    return rc;
}
