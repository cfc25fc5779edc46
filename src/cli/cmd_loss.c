/* signmf loss: the sign loss of the initial embeddings, or of a saved
 * model's, on a ratings file. */
#include "cli.h"

#include <limits.h>
#include <string.h>

static const cli_command loss_cmd = {
    "loss",
    "Usage: signmf loss RATINGS [options]\n"
    "\n"
    "Print the sign loss (17 significant digits) of the initial embeddings\n"
    "drawn as numpy would, or with --model of a saved model, on RATINGS.\n"
    "\n"
    "Options:\n"
    "  --model MODEL      evaluate this model instead of a fresh initialisation\n"
    "  --dim K            embedding dimension (default 512; ignored with --model)\n"
    "  --seed S           numpy-compatible seed (default 1; ignored with --model)\n"
    "  --precision P      f32, f64 or bf16 (default f32; ignored with --model)\n"
    "  --sign-rule R      mean, threshold:T or observed (default mean)\n"
    "  --threads T        worker threads (default: all cores)\n"
    "  --format F         auto, tsv, csv, mm, npy or npz (default auto)\n"
    "  --ids M            auto, direct or compact (default auto)\n"
    "  --npz-key NAME     array to read from an .npz file\n"
    "  --rating-range MIN:MAX  reject ratings outside [MIN, MAX]\n"
    "  -h, --help         show this help\n",
};

int cmd_loss(int argc, char **argv)
{
    uint64_t dim = 512, seed = 1, threads = 0;
    const char *precision = NULL, *rule = NULL, *model_path = NULL;
    cli_load_args la = {0};
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model_path, 0, 0, 0, 0, NULL},
        {"dim", 0, CLI_UINT, &dim, 1, UINT32_MAX, 0, 0, NULL},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 1, INT_MAX, 0, 0, NULL},
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, NULL},
        {"sign-rule", 0, CLI_STR, &rule, 0, 0, 0, 0, NULL},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"rating-range", 0, CLI_STR, &la.rating_range, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&loss_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    signmf_params params = signmf_params_default();
    params.dim = (size_t)dim;
    params.seed = (uint32_t)seed;
    params.threads = (int)threads;
    params.precision = SIGNMF_F32;
    signmf_load_options lo;
    if ((rc = cli_parse_precision(&loss_cmd, precision, &params.precision)) >= 0 ||
        (rc = cli_parse_sign_rule(&loss_cmd, rule, &params)) >= 0 ||
        (rc = cli_load_options(&loss_cmd, &la, &lo)) >= 0)
        return rc;

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *model = NULL;
    if (model_path != NULL) {
        signmf_status st = signmf_model_open(model_path, SIGNMF_OPEN_MMAP, &model, &err);
        if (st != SIGNMF_OK)
            return cli_lib_error(st, &err);
    }
    signmf_ratings *r = NULL;
    signmf_status st = signmf_ratings_load(pos[0], &lo, &r, &err);
    if (st != SIGNMF_OK) {
        signmf_model_free(model);
        return cli_lib_error(st, &err);
    }
    signmf_trainer *t = NULL;
    if (model != NULL)
        st = signmf_trainer_resume_consume(&r, model, params.threads, &t, &err);
    else
        st = signmf_trainer_create_consume(&r, &params, &t, &err);
    signmf_model_free(model);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    double loss = 0;
    st = signmf_trainer_loss(t, &loss);
    signmf_trainer_free(t);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, NULL);
    printf("%.17g\n", loss);
    return fflush(stdout) == 0 ? CLI_OK : cli_error("cannot write to standard output");
}
