/* signmf train: fit embeddings to a ratings file and save the model. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const cli_command train_cmd = {
    "train",
    "Usage: signmf train RATINGS [options]\n"
    "\n"
    "Learn user and item embeddings from RATINGS by gradient descent on the\n"
    "sign loss, and optionally save the model.\n"
    "\n"
    "Options:\n"
    "  --dim K            embedding dimension (default 512)\n"
    "  --epochs N         gradient steps (default 20)\n"
    "  --lr A             learning rate, finite and >= 0 (default 1e-3)\n"
    "  --seed S           numpy-compatible seed, 0..4294967295 (default 1)\n"
    "  --threads T        worker threads (default: all cores)\n"
    "  --precision P      f32 or f64 (default f32)\n"
    "  --sign-rule R      mean, threshold:T or observed (default mean)\n"
    "  --rescale          rescale P and Q by a common factor each epoch\n"
    "  --format F         auto, tsv, csv, mm, npy or npz (default auto)\n"
    "  --ids M            auto, direct or compact (default auto)\n"
    "  --npz-key NAME     array to read from an .npz file\n"
    "  --out MODEL        write the trained model here (atomically)\n"
    "  --log CSV          write epoch,loss,seconds for every report\n"
    "  --quiet            no progress and no summary\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n",
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Fail before a long run rather than after it when an output cannot be
 * written: its directory must exist and be writable. */
int cli_check_output(const char *path)
{
    if (path == NULL)
        return -1;
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (dir == NULL)
        return cli_error("out of memory");
    int ok = access(dir, W_OK | X_OK);
    int e = errno;
    int rc = -1;
    if (ok != 0)
        rc = cli_error("%s: cannot write into directory '%s': %s", path, dir, strerror(e));
    free(dir);
    return rc;
}

static const char *precision_name(signmf_precision p)
{
    return p == SIGNMF_F64 ? "f64" : "f32";
}

int cli_train(const cli_train_job *job, signmf_model **model_out)
{
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_trainer *t = NULL;
    signmf_status st = signmf_trainer_create(job->ratings, &job->params, &t, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);

    cli_progress prog;
    cli_progress_init(&prog, job->epochs, job->quiet, job->log_path != NULL);
    prog.base = signmf_trainer_epochs_done(t);
    cli_install_sigint();
    double t0 = now_seconds();
    signmf_error run_err;
    memset(&run_err, 0, sizeof run_err);
    signmf_status run = signmf_trainer_run(t, job->epochs, cli_progress_cb, &prog, &run_err);
    double elapsed = now_seconds() - t0;
    /* Saving is quick: a Ctrl-C from now on should just stop the program. */
    signal(SIGINT, SIG_DFL);
    cli_progress_finish(&prog);

    int rc = CLI_OK;
    signmf_model *model = NULL;
    if (run == SIGNMF_OK || run == SIGNMF_ENONFINITE || run == SIGNMF_EINTERRUPTED) {
        /* Even a failed run keeps its last finite model: worth saving. */
        st = signmf_trainer_model(t, &model);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, NULL);
        } else if (job->out != NULL) {
            memset(&err, 0, sizeof err);
            st = signmf_model_save(model, job->out, &err);
            if (st != SIGNMF_OK)
                rc = cli_lib_error(st, &err);
        }
    }
    if (job->log_path != NULL) {
        char msg[512];
        if (prog.log_failed)
            rc = cli_error("%s: out of memory while collecting the log", job->log_path);
        else if (!cli_write_atomic(job->log_path, prog.log, prog.log_len, msg, sizeof msg))
            rc = cli_error("%s", msg);
    }
    uint64_t done = signmf_trainer_epochs_done(t);
    if (run == SIGNMF_OK) {
        if (!job->quiet && rc == CLI_OK) {
            double loss = prog.last_loss;
            if (prog.reports == 0)
                (void)signmf_trainer_loss(t, &loss);
            fprintf(stderr,
                    "trained %llu epochs in %.3fs: final loss %.4f (kernel %s, %s, dim %zu)%s%s\n",
                    (unsigned long long)done, elapsed, loss, signmf_kernel_name(),
                    precision_name(job->params.precision), job->params.dim,
                    job->out ? ", saved to " : "", job->out ? job->out : "");
        }
    } else if (run == SIGNMF_EINTERRUPTED) {
        cli_error("interrupted after %llu epochs%s%s", (unsigned long long)done,
                  job->out && model ? "; model saved to " : "", job->out && model ? job->out : "");
        rc = CLI_ERROR;
    } else {
        cli_lib_error(run, &run_err);
        if (run == SIGNMF_ENONFINITE && job->out != NULL && model != NULL && rc == CLI_OK)
            cli_error("saved the last finite model (%llu epochs) to %s", (unsigned long long)done,
                      job->out);
        rc = CLI_ERROR;
    }
    cli_progress_free(&prog);
    signmf_trainer_free(t);
    if (rc == CLI_OK && model_out != NULL)
        *model_out = model;
    else
        signmf_model_free(model);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    uint64_t dim = 512, epochs = 20, seed = 1, threads = 0;
    double lr = 1e-3;
    bool quiet = false, rescale = false;
    const char *precision = NULL, *rule = NULL, *out = NULL, *log_path = NULL;
    cli_load_args la = {0};
    const cli_opt opts[] = {
        {"dim", 0, CLI_UINT, &dim, 1, UINT32_MAX, 0, 0, NULL},
        {"epochs", 0, CLI_UINT, &epochs, 0, UINT64_MAX, 0, 0, NULL},
        {"lr", 0, CLI_DOUBLE, &lr, 0, 0, 0, 1e300, NULL},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 1, INT_MAX, 0, 0, NULL},
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, NULL},
        {"sign-rule", 0, CLI_STR, &rule, 0, 0, 0, 0, NULL},
        {"rescale", 0, CLI_FLAG, &rescale, 0, 0, 0, 0, NULL},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, 0, 0, NULL},
        {"log", 0, CLI_STR, &log_path, 0, 0, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&train_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;

    signmf_params params = signmf_params_default();
    params.dim = (size_t)dim;
    params.lr = lr;
    params.seed = (uint32_t)seed;
    params.threads = (int)threads;
    params.precision = SIGNMF_F32;
    params.rescale = rescale;
    signmf_load_options lo;
    if ((rc = cli_parse_precision(&train_cmd, precision, &params.precision)) >= 0 ||
        (rc = cli_parse_sign_rule(&train_cmd, rule, &params)) >= 0 ||
        (rc = cli_load_options(&train_cmd, &la, &lo)) >= 0)
        return rc;

    if ((rc = cli_check_output(out)) >= 0 || (rc = cli_check_output(log_path)) >= 0)
        return rc;

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_ratings *r = NULL;
    signmf_status st = signmf_ratings_load(pos[0], &lo, &r, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    cli_train_job job = {r, params, epochs, quiet, out, log_path};
    rc = cli_train(&job, NULL);
    signmf_ratings_free(r);
    return rc;
}
