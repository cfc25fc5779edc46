/* signmf export: a model's P and Q as .npy files for numpy. */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const cli_command export_cmd = {
    "export",
    "Usage: signmf export MODEL DIR\n"
    "\n"
    "Write DIR/P.npy (users x k) and DIR/Q.npy (k x items) in the model's\n"
    "precision, the numpy notebook's orientation. DIR is created if missing.\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help\n",
};

int cmd_export(int argc, char **argv)
{
    const cli_opt opts[] = {CLI_OPT_END};
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(&export_cmd, argc, argv, opts, pos, 2, 2, &npos);
    if (rc >= 0)
        return rc;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    if (mkdir(pos[1], 0777) != 0 && errno != EEXIST) {
        int e = errno;
        signmf_model_free(m);
        return cli_error("%s: cannot create directory: %s", pos[1], strerror(e));
    }
    st = signmf_model_export_npy(m, pos[1], &err);
    signmf_model_free(m);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    return CLI_OK;
}
