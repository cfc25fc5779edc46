/* signmf eval: ranking metrics of a saved model on a test ratings file,
 * beside a popularity baseline. */
#include "cli_eval.h"

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
