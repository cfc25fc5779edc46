/* libFuzzer target: the CLI option parser (src/cli/args.c) with the train
 * command's option table, plus the sub-value parsers behind it. The input
 * is split into argv at NUL bytes. */
#include "cli/cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command fuzz_cmd = {"train", "usage\n"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[64];
    int argc = 0;
    argv[argc++] = "train";
    for (size_t i = 0; i <= size && argc < 63;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;

    uint64_t dim = 512, epochs = 20, seed = 1, threads = 0, every = 0;
    double lr = 1e-3;
    int64_t user = 0;
    bool quiet = false, rescale = false, seen = false;
    const char *precision = NULL, *rule = NULL, *out = NULL;
    cli_load_args la = {0};
    const cli_opt opts[] = {
        {"dim", 0, CLI_UINT, &dim, 1, UINT32_MAX, 0, 0, NULL},
        {"epochs", 0, CLI_UINT, &epochs, 0, UINT64_MAX, 0, 0, NULL},
        {"lr", 0, CLI_DOUBLE, &lr, 0, 0, 0, 1e300, NULL},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 1, INT_MAX, 0, 0, NULL},
        {"user", 'u', CLI_INT, &user, 0, 0, 0, 0, &seen},
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, NULL},
        {"sign-rule", 0, CLI_STR, &rule, 0, 0, 0, 0, NULL},
        {"rescale", 0, CLI_FLAG, &rescale, 0, 0, 0, 0, NULL},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"rating-range", 0, CLI_STR, &la.rating_range, 0, 0, 0, 0, NULL},
        {"checkpoint-every", 0, CLI_UINT, &every, 1, UINT64_MAX, 0, 0, NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[2];
    size_t npos = 0;
    int rc = cli_parse(&fuzz_cmd, argc, argv, opts, pos, 0, 2, &npos);
    if (rc < 0) {
        if (npos > 2)
            abort();
        signmf_params p = signmf_params_default();
        signmf_load_options lo;
        (void)cli_parse_precision(&fuzz_cmd, precision, &p.precision);
        (void)cli_parse_sign_rule(&fuzz_cmd, rule, &p);
        rc = cli_load_options(&fuzz_cmd, &la, &lo);
        if (rc < 0 && !(lo.rating_min <= lo.rating_max))
            abort(); /* an accepted range must be ordered and finite */
        if (!(lr >= 0 && lr <= 1e300) || dim < 1 || dim > UINT32_MAX)
            abort();
    }
    free(buf);
    return 0;
}
