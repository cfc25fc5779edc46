/* signmf convert: a model with its factors in another precision (bf16 to
 * serve from half the bytes). */
#include "cli.h"

#include <string.h>

static const cli_command convert_cmd = {
    "convert",
    "Usage: signmf convert MODEL --precision P OUT\n"
    "\n"
    "Write MODEL to OUT with its factors in precision P: bf16 (half the\n"
    "bytes of f32, rounded to nearest even; for serving: recommend, similar,\n"
    "eval and export read it, train --resume does not), f32 or f64.\n"
    "\n"
    "Options:\n"
    "  --precision P      bf16, f32 or f64 (required)\n"
    "  -h, --help         show this help\n",
};

int cmd_convert(int argc, char **argv)
{
    const char *precision = NULL;
    const cli_opt opts[] = {
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(&convert_cmd, argc, argv, opts, pos, 2, 2, &npos);
    if (rc >= 0)
        return rc;
    if (precision == NULL)
        return cli_usage_error(&convert_cmd, "--precision is required");
    signmf_precision to = SIGNMF_F32;
    if ((rc = cli_parse_precision(&convert_cmd, precision, &to)) >= 0)
        return rc;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL, *c = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st == SIGNMF_OK)
        st = signmf_model_convert(m, to, &c, &err);
    signmf_model_free(m);
    if (st == SIGNMF_OK)
        st = signmf_model_save(c, pos[1], &err);
    signmf_model_free(c);
    return st == SIGNMF_OK ? CLI_OK : cli_lib_error(st, &err);
}
