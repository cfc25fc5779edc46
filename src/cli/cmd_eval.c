/* signmf eval: ranking metrics of a saved model on a test ratings file,
 * beside a popularity baseline. */
#include "cli_eval.h"

#include <math.h>
#include <string.h>

static const cli_command eval_cmd = {
    "eval",
    "Usage: signmf eval MODEL TEST [options]\n"
    "\n"
    "Rank every unrated item for each test user and report precision@k,\n"
    "recall@k, NDCG@k, MAP@k, hit rate@k, AUC and catalogue coverage, beside\n"
    "the same figures for a ranking by training popularity. TEST is a ratings\n"
    "file in any supported format with the model's original ids. A test pair\n"
    "is relevant when its rating is >= the --relevant threshold; users without\n"
    "a relevant pair are not evaluated. Pairs with an unknown user or item, or\n"
    "rated in training, are counted and left out. Definitions: docs/evaluation.md.\n"
    "\n"
    "Options:\n"
    "  -k, --top K        list length (default 10)\n"
    "  --relevant R       a rating >= R is relevant (default 4)\n"
    "  --threads N        worker threads (default: all cores)\n"
    "  --json             one JSON object instead of the table\n"
    "  --no-mmap          read the model into memory instead of mapping it\n"
    "  --format F         format of TEST: auto, tsv, csv, mm, npy or npz\n"
    "  --npz-key NAME     array to read from an .npz TEST\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n",
};

int cli_parse_metric(const cli_command *cmd, const char *s, signmf_metric *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i)
        if (strcmp(s, signmf_metric_name((signmf_metric)i)) == 0) {
            *out = (signmf_metric)i;
            return -1;
        }
    return cli_usage_error(cmd,
                           "--metric expects ndcg, precision, recall, map, hit, auc or coverage, "
                           "found '%s'",
                           s);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void json_metrics(FILE *f, const signmf_metrics *m)
{
    fputc('{', f);
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i) {
        fprintf(f, "%s\"%s\": ", i ? ", " : "", signmf_metric_name((signmf_metric)i));
        json_num(f, signmf_metric_value(m, (signmf_metric)i));
    }
    fputc('}', f);
}

void cli_eval_print_json(FILE *f, const signmf_eval_result *r)
{
    fprintf(f, "{\"k\": %zu, \"relevant\": ", r->k);
    json_num(f, r->relevant);
    fputs(", \"model\": ", f);
    json_metrics(f, &r->model);
    fputs(", \"popularity\": ", f);
    json_metrics(f, &r->popularity);
    fprintf(f,
            ", \"counts\": {\"test_pairs\": %zu, \"unknown_user_pairs\": %zu, "
            "\"unknown_item_pairs\": %zu, \"train_pairs\": %zu, \"relevant_pairs\": %zu, "
            "\"test_users\": %zu, \"users\": %zu, \"auc_users\": %zu}}",
            r->test_pairs, r->unknown_user_pairs, r->unknown_item_pairs, r->train_pairs,
            r->relevant_pairs, r->test_users, r->users, r->auc_users);
}

void cli_eval_print_text(FILE *f, const signmf_eval_result *r, const char *title)
{
    if (title != NULL)
        fprintf(f, "%s\n", title);
    fprintf(f, "%-14s %10s %10s\n", "metric", "model", "popularity");
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i) {
        char name[32];
        signmf_metric w = (signmf_metric)i;
        if (w == SIGNMF_METRIC_AUC || w == SIGNMF_METRIC_COVERAGE)
            snprintf(name, sizeof name, "%s", signmf_metric_name(w));
        else
            snprintf(name, sizeof name, "%s@%zu", signmf_metric_name(w), r->k);
        fprintf(f, "%-14s %10.4f %10.4f\n", name, signmf_metric_value(&r->model, w),
                signmf_metric_value(&r->popularity, w));
    }
    fprintf(f,
            "users evaluated %zu (auc %zu) of %zu test users; test pairs %zu: relevant (>= %g) "
            "%zu, unknown user %zu, unknown item %zu, rated in training %zu\n",
            r->users, r->auc_users, r->test_users, r->test_pairs, r->relevant, r->relevant_pairs,
            r->unknown_user_pairs, r->unknown_item_pairs, r->train_pairs);
}

int cmd_eval(int argc, char **argv)
{
    uint64_t k = 10, threads = 0;
    double relevant = 4.0;
    bool json = false, no_mmap = false;
    cli_load_args la = {0};
    const cli_opt opts[] = {
        {"top", 'k', CLI_UINT, &k, 1, UINT32_MAX, 0, 0, NULL},
        {"relevant", 0, CLI_DOUBLE, &relevant, 0, 0, -1e300, 1e300, NULL},
        {"threads", 0, CLI_UINT, &threads, 0, 4096, 0, 0, NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, 0, 0, NULL},
        {"no-mmap", 0, CLI_FLAG, &no_mmap, 0, 0, 0, 0, NULL},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(&eval_cmd, argc, argv, opts, pos, 2, 2, &npos);
    if (rc >= 0)
        return rc;
    signmf_load_options lo;
    if ((rc = cli_load_options(&eval_cmd, &la, &lo)) >= 0)
        return rc;

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_ratings *test = NULL;
    signmf_status st = signmf_model_open(pos[0], no_mmap ? 0u : SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    st = signmf_ratings_load(pos[1], &lo, &test, &err);
    if (st != SIGNMF_OK) {
        signmf_model_free(m);
        return cli_lib_error(st, &err);
    }
    signmf_eval_options o = signmf_eval_options_default();
    o.k = (size_t)k;
    o.relevant = relevant;
    o.threads = (int)threads;
    signmf_eval_result res;
    st = signmf_evaluate(m, test, &o, &res, &err);
    if (st != SIGNMF_OK) {
        rc = cli_lib_error(st, &err);
    } else {
        if (json) {
            cli_eval_print_json(stdout, &res);
            fputc('\n', stdout);
        } else {
            cli_eval_print_text(stdout, &res, NULL);
        }
        rc = fflush(stdout) == 0 && !ferror(stdout) ? CLI_OK
                                                    : cli_error("cannot write to standard output");
    }
    signmf_ratings_free(test);
    signmf_model_free(m);
    return rc;
}
