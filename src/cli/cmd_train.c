/* signmf train: fit embeddings to a ratings file and save the model. */
#include "cli.h"
#include "cli_eval.h"

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
    "  --method M         notebook (default) or orthonormal. notebook: the\n"
    "                     notebook's plain step; orthonormal: the same loss\n"
    "                     with P and Q kept orthonormal, a weighted and\n"
    "                     degree-normalised D,\n"
    "                     and a final Rayleigh-Ritz step (docs/quality.md)\n"
    "  --dim K            embedding dimension (default 512; orthonormal 32,\n"
    "                     at most min(users, items))\n"
    "  --epochs N         gradient steps (default 20; orthonormal 50)\n"
    "  --lr A             learning rate, finite and >= 0 (default 1e-3;\n"
    "                     orthonormal 1)\n"
    "  --rated-weight W   orthonormal: every rating counts W plus its sign\n"
    "                     (liked W+1, neutral W, disliked W-1; default 3)\n"
    "  --degree-exp G     orthonormal: rows and columns of D scaled by their\n"
    "                     rating counts to the power -G, undone for scores\n"
    "                     (0..1, default 0.2)\n"
    "  --shrink T         orthonormal: scores use the Ritz values less T times\n"
    "                     the smallest one, which damps the weak directions\n"
    "                     (0..1, default 0.75; 0: plain Rayleigh-Ritz)\n"
    "  --seed S           numpy-compatible seed, 0..4294967295 (default 1)\n"
    "  --threads T        worker threads (default: all cores)\n"
    "  --precision P      f32, f64 or bf16 (default f32; bf16: f32 factors\n"
    "                     whose gathered rows are read from a bf16 copy)\n"
    "  --sign-rule R      mean, threshold:T or observed (default mean)\n"
    "  --rescale          rescale P and Q by a common factor each epoch\n"
    "  --format F         auto, tsv, csv, mm, npy or npz (default auto)\n"
    "  --ids M            auto, direct or compact (default auto)\n"
    "  --npz-key NAME     array to read from an .npz file\n"
    "  --out MODEL        write the trained model here (atomically)\n"
    "  --log CSV          write epoch,loss,seconds for every report (and\n"
    "                     log_scale with --rescale)\n"
    "  --rating-range MIN:MAX  reject ratings outside [MIN, MAX]\n"
    "  --checkpoint-every N  save the model every N epochs (to --checkpoint,\n"
    "                     else --out), atomically\n"
    "  --checkpoint PATH  where checkpoints go\n"
    "  --resume MODEL     continue training MODEL (saved by --out or a\n"
    "                     checkpoint) on the same RATINGS up to --epochs in\n"
    "                     total; the result is bit-identical to an\n"
    "                     uninterrupted run. The model fixes --method, --dim,\n"
    "                     --lr, --seed, --precision, --sign-rule, --rescale,\n"
    "                     --rated-weight, --degree-exp and --shrink.\n"
    "  --quiet            no progress and no summary\n"
    "\n"
    "Evaluation (docs/evaluation.md):\n"
    "  --test FILE        held-out ratings (the model's ids): report ranking\n"
    "                     metrics after training (table on stdout)\n"
    "  --holdout F        instead, hold out floor(F x n) random ratings of\n"
    "                     each user (seeded by --seed) and train on the rest\n"
    "  --eval-every M     also evaluate at epoch 0 and every M epochs; the\n"
    "                     --log CSV gets metric columns\n"
    "  --early-stop P     stop when --metric has not improved for P\n"
    "                     evaluations and keep the best model (default M 1)\n"
    "  --metric NAME      ndcg (default), precision, recall, map, hit, auc\n"
    "                     or coverage\n"
    "  --eval-k K         list length (default 10)\n"
    "  --relevant R       a test rating >= R is relevant (default 4)\n"
    "  -h, --help         show this help\n"
    "\n"
    "On SIGINT or SIGTERM the current epoch is finished, the model is saved\n"
    "(to --out and --checkpoint) and signmf exits with status 1.\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n",
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *precision_name(signmf_precision p)
{
    return p == SIGNMF_F64 ? "f64" : p == SIGNMF_BF16 ? "bf16" : "f32";
}

/* Chunked runs report the boundary epoch twice (after the last epoch of one
 * chunk, before the first of the next); the log and the bar should see it
 * once, with seconds counted from the start of the whole run. */
typedef struct chunk_ctx {
    cli_progress *prog;
    double t0;
    bool any;
    uint64_t last_epoch;
} chunk_ctx;

static int chunk_cb(void *user, uint64_t epoch, double loss, double log_scale, double seconds)
{
    chunk_ctx *c = user;
    (void)seconds;
    if (c->any && epoch == c->last_epoch)
        return cli_interrupted() ? 1 : 0;
    c->any = true;
    c->last_epoch = epoch;
    return cli_progress_cb(c->prog, epoch, loss, log_scale, now_seconds() - c->t0);
}

static signmf_status save_model(signmf_trainer *t, const char *path, signmf_error *err)
{
    signmf_model *m = NULL;
    signmf_status st = signmf_trainer_model(t, &m);
    if (st == SIGNMF_OK)
        st = signmf_model_save(m, path, err);
    signmf_model_free(m);
    return st;
}

int cli_train(const cli_train_job *job, signmf_model **model_out)
{
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_trainer *t = NULL;
    signmf_ratings *ratings = job->ratings;
    signmf_status st =
        job->resume != NULL
            ? signmf_trainer_resume_consume(&ratings, job->resume, job->params.threads, &t, &err)
            : signmf_trainer_create_consume(&ratings, &job->params, &t, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);

    cli_progress prog;
    cli_progress_init(&prog, job->epochs, job->quiet, job->log_path != NULL);
    prog.base = signmf_trainer_epochs_done(t);
    prog.with_scale = job->resume != NULL ? signmf_model_params(job->resume).rescale != 0
                                          : job->params.rescale != 0;
    if (prog.with_scale && prog.log != NULL)
        prog.log_len = (size_t)snprintf(prog.log, prog.log_cap, "epoch,loss,seconds,log_scale\n");
    /* SIGTERM (a scheduler, a shutdown) gets the same treatment as Ctrl-C:
     * finish the epoch, save, say where. */
    cli_install_sigint();
    struct sigaction sa;
    if (sigaction(SIGINT, NULL, &sa) == 0)
        sigaction(SIGTERM, &sa, NULL);
    const char *ckpt = job->checkpoint != NULL ? job->checkpoint : job->out;
    double t0 = now_seconds();
    chunk_ctx cc = {&prog, t0, false, 0};
    signmf_error run_err;
    memset(&run_err, 0, sizeof run_err);
    signmf_status run = SIGNMF_OK;
    int rc = CLI_OK;
    uint64_t left = job->epochs;
    cli_eval_state *ev = job->eval != NULL ? cli_eval_begin(job->eval, job->quiet) : NULL;
    if (job->eval != NULL && ev == NULL)
        rc = cli_error("out of memory");
    else if (ev != NULL && cli_eval_step(ev, t, &prog, false) < 0)
        rc = CLI_ERROR;
    while (rc == CLI_OK) {
        /* Chunks end on multiples of N epochs done, counted from the very
         * first epoch, so a resumed run checkpoints where the original
         * would have. */
        uint64_t before = signmf_trainer_epochs_done(t), n = left;
        if (job->checkpoint_every > 0 && ckpt != NULL) {
            uint64_t to_next = job->checkpoint_every - before % job->checkpoint_every;
            if (to_next < n)
                n = to_next;
        }
        if (cli_eval_until(ev, before) < n)
            n = cli_eval_until(ev, before);
        run = signmf_trainer_run(t, n, chunk_cb, &cc, &run_err);
        uint64_t ran = signmf_trainer_epochs_done(t) - before;
        left -= ran < left ? ran : left;
        if (run == SIGNMF_OK && cli_interrupted())
            run = SIGNMF_EINTERRUPTED;
        if (ev != NULL && run == SIGNMF_OK) {
            int e = cli_eval_step(ev, t, &prog, false);
            if (e != 0) {
                rc = e < 0 ? CLI_ERROR : rc;
                break;
            }
        }
        if (run != SIGNMF_OK || left == 0)
            break;
        /* pieces may also end on evaluation epochs */
        if (job->checkpoint_every == 0 || ckpt == NULL ||
            signmf_trainer_epochs_done(t) % job->checkpoint_every != 0)
            continue;
        memset(&err, 0, sizeof err);
        st = save_model(t, ckpt, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            break;
        }
    }
    double elapsed = now_seconds() - t0;
    /* Saving is quick and atomic: a signal from now on should just stop the
     * program, leaving the previous file in place. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cli_progress_finish(&prog);

    /* with early stopping the best evaluated model is the one kept */
    signmf_model *model = NULL, *best = NULL;
    if (ev != NULL)
        best = cli_eval_finish(ev, t, &prog, rc == CLI_OK && run == SIGNMF_OK);
    bool saved_ckpt = false;
    uint64_t done = signmf_trainer_epochs_done(t);
    double loss = prog.last_loss;
    if (rc == CLI_OK && run == SIGNMF_OK && !job->quiet && prog.reports == 0)
        (void)signmf_trainer_loss(t, &loss);
    if (rc == CLI_OK &&
        (run == SIGNMF_OK || run == SIGNMF_ENONFINITE || run == SIGNMF_EINTERRUPTED)) {
        /* Even a failed run keeps its last finite model: worth saving. The
         * trainer is done with, so its memory becomes the model's. */
        model = best;
        best = NULL;
        st = model != NULL ? SIGNMF_OK : signmf_trainer_into_model(&t, &model);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, NULL);
        } else if (job->out != NULL) {
            memset(&err, 0, sizeof err);
            st = signmf_model_save(model, job->out, &err);
            if (st != SIGNMF_OK)
                rc = cli_lib_error(st, &err);
        }
        /* An interrupted run also refreshes a separate checkpoint file, the
         * one a later --resume is most likely to be pointed at. */
        if (rc == CLI_OK && run == SIGNMF_EINTERRUPTED && job->checkpoint != NULL &&
            (job->out == NULL || strcmp(job->checkpoint, job->out) != 0)) {
            memset(&err, 0, sizeof err);
            st = signmf_model_save(model, job->checkpoint, &err);
            if (st != SIGNMF_OK)
                rc = cli_lib_error(st, &err);
            else
                saved_ckpt = true;
        }
    }
    if (job->log_path != NULL) {
        char msg[512];
        if (prog.log_failed)
            rc = cli_error("%s: out of memory while collecting the log", job->log_path);
        else if (!cli_write_atomic(job->log_path, prog.log, prog.log_len, msg, sizeof msg))
            rc = cli_error("%s", msg);
    }
    if (rc != CLI_OK) {
        /* the failure has been reported */
    } else if (run == SIGNMF_OK) {
        if (!job->quiet) {
            signmf_params mp = signmf_model_params(model);
            char how[160] = "";
            if (mp.method == SIGNMF_METHOD_ORTHONORMAL)
                snprintf(how, sizeof how,
                         ", orthonormal: lr %g, rated weight %g, degree exponent %g, shrink %g, "
                         "sigma %.4g to %.4g",
                         mp.lr, mp.rated_weight, mp.degree_exp, mp.shrink,
                         signmf_model_sigma(model)[0],
                         signmf_model_sigma(model)[signmf_model_dim(model) - 1]);
            fprintf(
                stderr,
                "trained %llu epochs in %.3fs: final loss %.4f (kernel %s, %s, dim %zu%s)%s%s\n",
                (unsigned long long)done, elapsed, loss, signmf_kernel_name(),
                precision_name(signmf_model_params(model).precision), signmf_model_dim(model), how,
                job->out ? ", saved to " : "", job->out ? job->out : "");
        }
    } else if (run == SIGNMF_EINTERRUPTED) {
        if (job->out != NULL || saved_ckpt)
            cli_error("interrupted after %llu epochs; model saved to %s%s%s (continue with "
                      "--resume)",
                      (unsigned long long)done, job->out ? job->out : job->checkpoint,
                      job->out && saved_ckpt ? " and " : "",
                      job->out && saved_ckpt ? job->checkpoint : "");
        else
            cli_error("interrupted after %llu epochs; nothing saved (no --out or --checkpoint)",
                      (unsigned long long)done);
        rc = CLI_ERROR;
    } else {
        cli_lib_error(run, &run_err);
        if (run == SIGNMF_ENONFINITE && job->out != NULL && model != NULL)
            cli_error("saved the last finite model (%llu epochs) to %s", (unsigned long long)done,
                      job->out);
        rc = CLI_ERROR;
    }
    cli_progress_free(&prog);
    signmf_model_free(best);
    cli_eval_free(ev);
    signmf_trainer_free(t);
    if (rc == CLI_OK && model_out != NULL)
        *model_out = model;
    else
        signmf_model_free(model);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    uint64_t dim = 512, epochs = 20, seed = 1, threads = 0, ckpt_every = 0;
    double lr = 1e-3, rated_weight = 0, degree_exp = 0, shrink = 0;
    bool quiet = false, rescale = false, epochs_seen = false;
    const char *precision = NULL, *rule = NULL, *out = NULL, *log_path = NULL;
    const char *ckpt = NULL, *resume_path = NULL, *method = NULL;
    /* with --resume the model's own settings apply; saying otherwise is an error */
    bool fixed_seen[10] = {false}, threads_seen = false;
    cli_load_args la = {0};
    cli_eval_args ea = CLI_EVAL_ARGS_INIT;
    const cli_opt opts[] = {
        {"dim", 0, CLI_UINT, &dim, 1, UINT32_MAX, 0, 0, &fixed_seen[0]},
        {"epochs", 0, CLI_UINT, &epochs, 0, UINT64_MAX, 0, 0, &epochs_seen},
        {"method", 0, CLI_STR, &method, 0, 0, 0, 0, &fixed_seen[6]},
        {"rated-weight", 0, CLI_DOUBLE, &rated_weight, 0, 0, 0, 1e300, &fixed_seen[7]},
        {"degree-exp", 0, CLI_DOUBLE, &degree_exp, 0, 0, 0, 1, &fixed_seen[8]},
        {"shrink", 0, CLI_DOUBLE, &shrink, 0, 0, 0, 1, &fixed_seen[9]},
        {"lr", 0, CLI_DOUBLE, &lr, 0, 0, 0, 1e300, &fixed_seen[1]},
        {"seed", 0, CLI_UINT, &seed, 0, UINT32_MAX, 0, 0, &fixed_seen[2]},
        {"threads", 0, CLI_UINT, &threads, 1, INT_MAX, 0, 0, &threads_seen},
        {"precision", 0, CLI_STR, &precision, 0, 0, 0, 0, &fixed_seen[3]},
        {"sign-rule", 0, CLI_STR, &rule, 0, 0, 0, 0, &fixed_seen[4]},
        {"rescale", 0, CLI_FLAG, &rescale, 0, 0, 0, 0, &fixed_seen[5]},
        {"format", 0, CLI_STR, &la.format, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, 0, 0, NULL},
        {"log", 0, CLI_STR, &log_path, 0, 0, 0, 0, NULL},
        {"rating-range", 0, CLI_STR, &la.rating_range, 0, 0, 0, 0, NULL},
        {"checkpoint-every", 0, CLI_UINT, &ckpt_every, 1, UINT64_MAX, 0, 0, NULL},
        {"checkpoint", 0, CLI_STR, &ckpt, 0, 0, 0, 0, NULL},
        {"resume", 0, CLI_STR, &resume_path, 0, 0, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        CLI_EVAL_OPTS(ea),
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&train_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;

    if (resume_path != NULL && (rc = cli_resume_fixed(&train_cmd, fixed_seen)) >= 0)
        return rc;
    signmf_params params;
    if ((rc = cli_train_method(method, fixed_seen, epochs_seen, rescale, rated_weight, degree_exp,
                               shrink, &dim, &lr, &epochs, &params)) >= 0)
        return rc;
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

    if ((rc = cli_eval_check(&train_cmd, &ea)) >= 0)
        return rc;
    if (ckpt_every > 0 && ckpt == NULL && out == NULL)
        return cli_usage_error(&train_cmd, "--checkpoint-every needs --checkpoint or --out");
    if ((rc = cli_check_output(out)) >= 0 || (rc = cli_check_output(log_path)) >= 0 ||
        (rc = cli_check_output(ckpt)) >= 0)
        return rc;

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_ratings *r = NULL;
    signmf_status st = signmf_ratings_load(pos[0], &lo, &r, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    size_t side = signmf_ratings_users(r) < signmf_ratings_items(r) ? signmf_ratings_users(r)
                                                                    : signmf_ratings_items(r);
    if (resume_path == NULL && params.method == SIGNMF_METHOD_ORTHONORMAL && params.dim > side) {
        rc = cli_error("%s: --dim %zu: the orthonormal method needs at most min(users, items) = "
                       "%zu dimensions (%zu users, %zu items)",
                       pos[0], params.dim, side, signmf_ratings_users(r), signmf_ratings_items(r));
        signmf_ratings_free(r);
        return rc;
    }
    signmf_model *resume = NULL;
    if (resume_path != NULL) {
        memset(&err, 0, sizeof err);
        st = signmf_model_open(resume_path, 0, &resume, &err);
        if (st != SIGNMF_OK) {
            signmf_ratings_free(r);
            return cli_lib_error(st, &err);
        }
        /* a --holdout split must be the one the model was trained on */
        seed = signmf_model_params(resume).seed;
        /* --epochs counts the total, so its default is the model's method's */
        if (!epochs_seen && signmf_model_method(resume) == SIGNMF_METHOD_ORTHONORMAL)
            epochs = SIGNMF_ORTHONORMAL_EPOCHS;
    }
    signmf_ratings *eval_test = NULL;
    cli_eval_plan plan;
    if ((rc = cli_eval_setup(&ea, &lo, (uint32_t)seed, (int)threads, &r, &eval_test, &plan)) >= 0) {
        signmf_ratings_free(r);
        signmf_model_free(resume);
        return rc;
    }
    cli_train_job job = {r, params, epochs, quiet, out, log_path, ckpt, ckpt_every, NULL, NULL};
    job.eval = eval_test != NULL ? &plan : NULL;
    if (resume != NULL) {
        /* --epochs is the total, as in the run being continued */
        uint64_t done = signmf_model_epochs(resume);
        job.epochs = epochs > done ? epochs - done : 0;
        job.params = signmf_model_params(resume);
        /* the thread count is recorded in the model file: keep it unless
         * told otherwise, so the resumed file matches the uninterrupted one */
        if (threads_seen)
            job.params.threads = (int)threads;
        job.resume = resume;
    }
    rc = cli_train(&job, NULL);
    signmf_model_free(resume);
    signmf_ratings_free(eval_test);
    return rc;
}
