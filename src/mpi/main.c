/* signmf-mpi: `mpirun -n N signmf-mpi train RATINGS [options]` trains the
 * model `signmf train` would, bit for bit, with the rows of P and Q shared
 * among N processes (docs/scale-out.md). Process 0 prints the progress
 * and writes the model and checkpoints; every process holds only its
 * share of the ratings. */
#include "cli.h"
#include "cli_eval.h"
#include "dist.h"

#include "eval/eval.h"
#include "model/model.h"
#include "train/ortho.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command train_cmd = {
    "train",
    "Usage: mpirun -n N signmf-mpi train RATINGS [options]\n"
    "\n"
    "Train as `signmf train` does, on N processes: each owns a range of\n"
    "users and of items (balanced by ratings), reads its share of RATINGS\n"
    "(TSV, CSV, Matrix Market, .npy, or .npz, which every process streams\n"
    "through, keeping its rows) and computes its rows of every epoch; the\n"
    "model is the one `signmf train` writes, to the bit, for any N and any\n"
    "--threads.\n"
    "\n"
    "Options: those of `signmf train` (see `signmf train --help`); the\n"
    "evaluation options (--test, --holdout, --eval-every, --early-stop, ...)\n"
    "print and keep what `signmf train` does, each process evaluating its\n"
    "own users; and\n"
    "  --mpi-stats        per process: rows owned, load, compute and\n"
    "                     communication time per epoch, bytes sent, peak RSS\n"
    "\n"
    "Process 0 writes --out, --checkpoint and --log atomically. A process\n"
    "that dies ends the whole job (Open MPI's default error handler).\n"
    "\n"
    "SIGUSR1 or SIGUSR2 to mpirun (which forwards them to every process), or\n"
    "SIGINT or SIGTERM to the processes: all finish the same epoch, the model\n"
    "is saved (to --out and --checkpoint) and the job exits with status 1.\n"
    "SIGINT or SIGTERM to mpirun itself (Ctrl-C) does the same, but mpirun\n"
    "kills the processes a few seconds later (odls_base_sigkill_timeout).\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n",
};

static mp_ctx ctx;

static double vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    return kb;
}

/* The same argv everywhere, or options would differ between processes. */
static uint64_t argv_hash(int argc, char **argv)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < argc; ++i)
        for (const unsigned char *p = (const unsigned char *)argv[i];; ++p) {
            h = (h ^ *p) * 1099511628211ull;
            if (!*p)
                break;
        }
    return h;
}

/* Rank 0 alone reports the option errors every process finds. */
static int quiet_fd = -1, saved_fd = -1;
static void mute(bool on)
{
    if (ctx.rank == 0)
        return;
    fflush(stderr);
    if (on) {
        saved_fd = dup(2);
        quiet_fd = open("/dev/null", O_WRONLY);
        if (quiet_fd >= 0)
            dup2(quiet_fd, 2);
    } else if (saved_fd >= 0) {
        dup2(saved_fd, 2);
        close(saved_fd);
        if (quiet_fd >= 0)
            close(quiet_fd);
        saved_fd = quiet_fd = -1;
    }
}

/* Process 0's verdict on a step only it takes, for everyone. */
static int agree(int rc)
{
    MPI_Bcast(&rc, 1, MPI_INT, 0, ctx.comm);
    return rc;
}

typedef struct run_cb {
    cli_progress *prog;
    double t0;
    bool any;
    uint64_t last_epoch;
} run_cb;

/* A signal seen by any process, agreed at each epoch's report. */
static int stop_agreed;

/* Progress on process 0, and the stop: every process reports the same
 * epochs, so each report agrees on a signal seen by any process and all
 * stop after the same epoch (a stop on one process alone would leave the
 * others waiting in the next pass). */
static int progress_cb(void *user, uint64_t epoch, double loss, double log_scale, double seconds)
{
    run_cb *c = user;
    (void)seconds;
    int stop = cli_interrupted() ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, ctx.comm);
    stop_agreed |= stop;
    if (ctx.rank != 0 || (c->any && epoch == c->last_epoch))
        return stop_agreed;
    c->any = true;
    c->last_epoch = epoch;
    (void)cli_progress_cb(c->prog, epoch, loss, log_scale, MPI_Wtime() - c->t0);
    return stop_agreed;
}

/* Before the first pass (epoch 0) or after a run stopped by a signal the
 * orthonormal method's Rayleigh-Ritz matrix is not there: a collective
 * loss pass makes it, as signmf_trainer_model's own pass does in one
 * process (which leaves the recorded loss alone). */
static signmf_status ready_for_model(signmf_trainer *t)
{
    if (!t->orth || t->orth->b_valid)
        return SIGNMF_OK;
    double loss, keep = t->last_loss;
    signmf_status st = signmf_trainer_loss(t, &loss);
    t->last_loss = keep;
    return st;
}

/* Collective: the rated rows to process 0, which writes the model. */
static int save(signmf_trainer *t, const sm_part_input *in, const char *path)
{
    if (ready_for_model(t) != SIGNMF_OK) {
        if (ctx.rank == 0)
            cli_error("%s: the model's final pass failed (out of memory or non-finite)", path);
        return CLI_ERROR;
    }
    size_t *rp;
    uint32_t *ri;
    mp_rated_rows(&ctx, &t->by_user, &t->zero, in->users, &rp, &ri);
    int rc = CLI_OK;
    if (ctx.rank == 0) {
        signmf_model *m = NULL;
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st = sm_part_model(t, rp, ri, &m);
        if (st == SIGNMF_OK)
            st = signmf_model_save(m, path, &err);
        if (st != SIGNMF_OK)
            rc = cli_lib_error(st, &err);
        signmf_model_free(m);
    }
    sm_free(rp);
    sm_free(ri);
    return agree(rc);
}

/* Evaluation in shares: each process evaluates its own users (the test
 * pairs of those users, its users' rated rows) and process 0 combines the
 * figures in user order, as signmf_evaluate sums them. */
typedef struct mp_eval {
    signmf_trainer *t;
    signmf_ratings test; /* this process's pairs, with ids to map */
    size_t *rated_ptr;   /* users + 1: every user's on process 0, else the own users' */
    uint32_t *rated_idx;
    double *pop; /* items: training ratings of each item, over all users */
    const signmf_eval_options *opt;
} mp_eval;

/* Keep the pairs of this process's users; process 0 also keeps those of
 * users the model does not know, which it alone counts. */
static void keep_own_pairs(const sm_part_input *in, signmf_ratings *r)
{
    size_t kept = 0;
    for (size_t k = 0; k < r->count; ++k) {
        size_t u = 0;
        int64_t id = sm_idmap_id(&r->user_map, r->user[k]);
        bool known = sm_idmap_index(&in->user_map, id, &u) == SIGNMF_OK && u < in->users;
        if (known ? mp_owner(&ctx, 0, u) != ctx.rank : ctx.rank != 0)
            continue;
        r->user[kept] = r->user[k];
        r->item[kept] = r->item[k];
        r->value[kept] = r->value[k];
        kept++;
    }
    r->count = kept;
}

/* Collective. */
static void mp_eval_init(mp_eval *e, signmf_trainer *t, const sm_part_input *in,
                         const signmf_ratings *test, const signmf_ratings *held,
                         const signmf_eval_options *opt)
{
    memset(e, 0, sizeof *e);
    e->t = t;
    e->opt = opt;
    e->test = *(test != NULL ? test : held);
    if (test == NULL) {
        /* held-out pairs are indices into the data set's own maps */
        e->test.user_map = in->user_map;
        e->test.item_map = in->item_map;
    }
    size_t users = in->users, items = in->items, u0 = in->own[0][0], u1 = in->own[0][1];
    /* process 0 keeps whole models for early stopping and the saved file */
    mp_rated_rows(&ctx, &t->by_user, &t->zero, users, &e->rated_ptr, &e->rated_idx);
    if (ctx.rank != 0) {
        e->rated_ptr = sm_calloc(users + 1, sizeof *e->rated_ptr);
        if (!e->rated_ptr)
            mp_abort(&ctx, "out of memory for %zu users' rated rows", users);
        for (size_t u = 0; u < users; ++u)
            e->rated_ptr[u + 1] =
                e->rated_ptr[u] +
                (u >= u0 && u < u1 ? sm_rated_count(&t->by_user, &t->zero, u) : 0);
        e->rated_idx =
            sm_alloc(e->rated_ptr[users] ? e->rated_ptr[users] : 1, sizeof *e->rated_idx);
        if (!e->rated_idx)
            mp_abort(&ctx, "out of memory for %zu rated entries", e->rated_ptr[users]);
        for (size_t u = u0; u < u1; ++u)
            sm_rated_row(&t->by_user, &t->zero, u, e->rated_idx + e->rated_ptr[u]);
    }
    double *mine = calloc(items ? items : 1, sizeof *mine);
    e->pop = malloc((items ? items : 1) * sizeof *e->pop);
    if (!mine || !e->pop)
        mp_abort(&ctx, "out of memory for %zu items' rating counts", items);
    for (size_t i = e->rated_ptr[u0]; i < e->rated_ptr[u1]; ++i)
        mine[e->rated_idx[i]] += 1;
    /* integer counts: exact in any order */
    MPI_Allreduce(mine, e->pop, (int)items, MPI_DOUBLE, MPI_SUM, ctx.comm);
    free(mine);
}

static void mp_eval_free(mp_eval *e)
{
    sm_free(e->rated_ptr);
    sm_free(e->rated_idx);
    free(e->pop);
}

static int mp_evaluate(void *vctx, signmf_trainer *t, signmf_model **m, signmf_eval_result *res)
{
    mp_eval *e = vctx;
    sm_eval_share sh = {0};
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st = ready_for_model(t);
    if (st == SIGNMF_OK)
        st = sm_part_model(t, e->rated_ptr, e->rated_idx, m);
    if (st == SIGNMF_OK)
        st = sm_evaluate_share(*m, &e->test, e->opt, e->pop, res, &sh, &err);
    if (mp_failed(&ctx, st, &err)) {
        signmf_model_free(*m);
        *m = NULL;
        sm_eval_share_free(&sh);
        return -1;
    }
    uint64_t cnt[6] = {res->test_pairs,  res->unknown_user_pairs, res->unknown_item_pairs,
                       res->train_pairs, res->relevant_pairs,     res->test_users};
    MPI_Allreduce(MPI_IN_PLACE, cnt, 6, MPI_UINT64_T, MPI_SUM, ctx.comm);
    res->test_pairs = cnt[0];
    res->unknown_user_pairs = cnt[1];
    res->unknown_item_pairs = cnt[2];
    res->train_pairs = cnt[3];
    res->relevant_pairs = cnt[4];
    res->test_users = cnt[5];
    /* the users' figures in rank order, which is user order */
    int mine = (int)sh.users;
    MPI_Gather(&mine, 1, MPI_INT, ctx.counts, 1, MPI_INT, 0, ctx.comm);
    size_t total = 0;
    for (int r = 0; ctx.rank == 0 && r < ctx.size; ++r) {
        ctx.displs[r] = (int)total;
        total += (size_t)ctx.counts[r];
    }
    size_t items = (*m)->items;
    sm_eval_fig *all = NULL;
    unsigned char *cov = NULL;
    if (ctx.rank == 0) {
        all = malloc((total ? total : 1) * sizeof *all);
        cov = malloc(2 * (items ? items : 1));
        if (!all || !cov)
            mp_abort(&ctx, "out of memory for %zu users' figures", total);
    }
    MPI_Datatype fig;
    MPI_Type_contiguous((int)(sizeof(sm_eval_fig) / sizeof(double)), MPI_DOUBLE, &fig);
    MPI_Type_commit(&fig);
    MPI_Gatherv(sh.fig, mine, fig, all, ctx.counts, ctx.displs, fig, 0, ctx.comm);
    MPI_Type_free(&fig);
    /* coverage is a union: or the marks */
    MPI_Reduce(sh.cov, cov, (int)(2 * items), MPI_UNSIGNED_CHAR, MPI_BOR, 0, ctx.comm);
    if (ctx.rank == 0)
        sm_eval_combine(all, total, cov, items, res);
    free(all);
    free(cov);
    sm_eval_share_free(&sh);
    MPI_Bcast(res, (int)sizeof *res, MPI_BYTE, 0, ctx.comm);
    return 0;
}

/* cli_eval_step on every process: a failure of one (reported there) stops
 * all, which would otherwise wait for it in the next pass. */
static int eval_step(cli_eval_state *ev, signmf_trainer *t, cli_progress *prog)
{
    int e = cli_eval_step(ev, t, prog, false), all = e;
    MPI_Allreduce(&e, &all, 1, MPI_INT, MPI_MIN, ctx.comm);
    return all < 0 ? -1 : e;
}

static int train(int argc, char **argv)
{
    uint64_t dim = 512, epochs = 20, seed = 1, threads = 0, ckpt_every = 0;
    double lr = 1e-3, rated_weight = 0, degree_exp = 0, shrink = 0;
    bool quiet = false, rescale = false, epochs_seen = false, stats = false;
    const char *precision = NULL, *rule = NULL, *out = NULL, *log_path = NULL;
    const char *ckpt = NULL, *resume_path = NULL, *method = NULL;
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
        {"npz-key", 0, CLI_STR, &la.npz_key, 0, 0, 0, 0, NULL},
        {"ids", 0, CLI_STR, &la.ids, 0, 0, 0, 0, NULL},
        {"out", 'o', CLI_STR, &out, 0, 0, 0, 0, NULL},
        {"log", 0, CLI_STR, &log_path, 0, 0, 0, 0, NULL},
        {"rating-range", 0, CLI_STR, &la.rating_range, 0, 0, 0, 0, NULL},
        {"checkpoint-every", 0, CLI_UINT, &ckpt_every, 1, UINT64_MAX, 0, 0, NULL},
        {"checkpoint", 0, CLI_STR, &ckpt, 0, 0, 0, 0, NULL},
        {"resume", 0, CLI_STR, &resume_path, 0, 0, 0, 0, NULL},
        {"quiet", 'q', CLI_FLAG, &quiet, 0, 0, 0, 0, NULL},
        {"mpi-stats", 0, CLI_FLAG, &stats, 0, 0, 0, 0, NULL},
        CLI_EVAL_OPTS(ea),
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    mute(true);
    int rc = cli_parse(&train_cmd, argc, argv, opts, pos, 1, 1, &npos);
    signmf_params params = signmf_params_for(SIGNMF_METHOD_NOTEBOOK);
    if (rc < 0 && resume_path != NULL)
        rc = cli_resume_fixed(&train_cmd, fixed_seen);
    if (rc < 0)
        rc = cli_train_method(method, fixed_seen, epochs_seen, rescale, rated_weight, degree_exp,
                              shrink, &dim, &lr, &epochs, &params);
    params.dim = (size_t)dim;
    params.lr = lr;
    params.seed = (uint32_t)seed;
    params.threads = (int)threads;
    params.precision = SIGNMF_F32;
    params.rescale = rescale;
    signmf_load_options lo;
    if (rc < 0)
        rc = cli_parse_precision(&train_cmd, precision, &params.precision);
    if (rc < 0)
        rc = cli_parse_sign_rule(&train_cmd, rule, &params);
    if (rc < 0)
        rc = cli_load_options(&train_cmd, &la, &lo);
    if (rc < 0)
        rc = cli_eval_check(&train_cmd, &ea);
    if (rc < 0 && ckpt_every > 0 && ckpt == NULL && out == NULL)
        rc = cli_usage_error(&train_cmd, "--checkpoint-every needs --checkpoint or --out");
    mute(false);
    /* only process 0 writes; its view of the outputs is the one that counts */
    if (rc < 0 && ctx.rank == 0)
        rc = cli_check_output(out);
    if (rc < 0 && ctx.rank == 0)
        rc = cli_check_output(log_path);
    if (rc < 0 && ctx.rank == 0)
        rc = cli_check_output(ckpt);
    /* --help and option errors are alike on every process */
    if ((rc = agree(rc)) >= 0)
        return rc;

    signmf_model *resume = NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    /* a --holdout split must be the one the model was trained on, so the
     * model is read first (signmf train reads it after the ratings) */
    bool resume_read = false;
    if (resume_path != NULL && ea.holdout_seen) {
        signmf_status st = signmf_model_open(resume_path, SIGNMF_OPEN_MMAP, &resume, &err);
        if (mp_failed(&ctx, st, &err))
            return CLI_ERROR;
        seed = signmf_model_params(resume).seed;
        resume_read = true;
    }
    double tl = MPI_Wtime();
    sm_part_input in;
    size_t owned = 0;
    sm_sign_options so = {params.sign_rule, params.threshold};
    signmf_ratings *held = NULL;
    if (mp_load(&ctx, pos[0], &lo, &so, ea.holdout_seen ? ea.holdout : 0, (uint32_t)seed, &in,
                &owned, &held) != SIGNMF_OK) {
        signmf_model_free(resume);
        return CLI_ERROR;
    }
    double load_s = MPI_Wtime() - tl;
    size_t users = in.users, items = in.items;
    size_t side = users < items ? users : items;
    rc = CLI_OK;
    if (resume_path == NULL && params.method == SIGNMF_METHOD_ORTHONORMAL && params.dim > side) {
        if (ctx.rank == 0)
            cli_error("%s: --dim %zu: the orthonormal method needs at most min(users, items) = "
                      "%zu dimensions (%zu users, %zu items)",
                      pos[0], params.dim, side, users, items);
        rc = CLI_ERROR;
    } else if (users > INT_MAX || items > INT_MAX) {
        if (ctx.rank == 0)
            cli_error("%s: %zu x %zu: signmf-mpi handles at most %d rows a side", pos[0], users,
                      items, INT_MAX);
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK && resume_path != NULL && !resume_read) {
        signmf_status st = signmf_model_open(resume_path, SIGNMF_OPEN_MMAP, &resume, &err);
        if (mp_failed(&ctx, st, &err))
            rc = CLI_ERROR;
    }
    /* this process's users' test pairs */
    signmf_ratings *test = NULL;
    if (rc == CLI_OK && ea.test != NULL) {
        signmf_status st = signmf_ratings_load(ea.test, &lo, &test, &err);
        if (mp_failed(&ctx, st, &err))
            rc = CLI_ERROR;
        else
            keep_own_pairs(&in, test);
    }
    if (rc != CLI_OK) {
        signmf_model_free(resume);
        signmf_ratings_free(held);
        signmf_ratings_free(test);
        sm_signs_release(&in.by_user);
        sm_zeros_release(&in.zero);
        sm_signs_release(&in.cols);
        sm_zeros_release(&in.cols_zero);
        sm_idmap_release(&in.user_map);
        sm_idmap_release(&in.item_map);
        return rc;
    }
    if (resume != NULL) {
        if (!epochs_seen && signmf_model_method(resume) == SIGNMF_METHOD_ORTHONORMAL)
            epochs = SIGNMF_ORTHONORMAL_EPOCHS;
        uint64_t done = signmf_model_epochs(resume);
        epochs = epochs > done ? epochs - done : 0;
    }
    in.hooks = (sm_part_hooks){&ctx,          mp_gather, mp_any, (size_t)ctx.rank, (size_t)ctx.size,
                               mp_gather_even};
    signmf_trainer *t = NULL;
    double ts = MPI_Wtime();
    signmf_status st = sm_part_trainer(&in, &params, resume,
                                       resume && !threads_seen ? -1 : (int)threads, &t, &err);
    signmf_model_free(resume);
    if (mp_failed(&ctx, st, &err))
        return CLI_ERROR;
    double setup_s = MPI_Wtime() - ts;
    ctx.comm_seconds = 0;
    ctx.bytes_sent = 0;

    cli_progress prog;
    cli_progress_init(&prog, epochs, quiet || ctx.rank != 0, ctx.rank == 0 && log_path != NULL);
    prog.base = signmf_trainer_epochs_done(t);
    prog.with_scale = t->params.rescale != 0;
    if (prog.with_scale && prog.log != NULL)
        prog.log_len = (size_t)snprintf(prog.log, prog.log_cap, "epoch,loss,seconds,log_scale\n");
    const char *ck = ckpt != NULL ? ckpt : out;
    mp_eval me;
    cli_eval_plan plan;
    cli_eval_state *ev = NULL;
    if (test != NULL || held != NULL) {
        memset(&plan, 0, sizeof plan);
        cli_eval_plan_init(&ea, (int)threads, &plan);
        plan.test_name = test != NULL ? ea.test : "holdout";
        plan.evaluate = mp_evaluate;
        plan.ctx = &me;
        plan.silent = ctx.rank != 0;
        mp_eval_init(&me, t, &in, test, held, &plan.opt);
        if ((ev = cli_eval_begin(&plan, quiet)) == NULL)
            mp_abort(&ctx, "out of memory for the evaluation");
    }
    /* mpirun forwards SIGTERM, SIGUSR1 and SIGUSR2 to every process;
     * each is the Ctrl-C of signmf train (docs/scale-out.md) */
    cli_install_sigint();
    struct sigaction sa;
    static const int sigs[] = {SIGTERM, SIGUSR1, SIGUSR2};
    if (sigaction(SIGINT, NULL, &sa) == 0)
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; ++i)
            sigaction(sigs[i], &sa, NULL);
    double t0 = MPI_Wtime();
    run_cb cb = {&prog, t0, false, 0};
    signmf_error run_err;
    memset(&run_err, 0, sizeof run_err);
    signmf_status run = SIGNMF_OK;
    uint64_t left = epochs, first = signmf_trainer_epochs_done(t);
    rc = CLI_OK;
    if (ev != NULL && eval_step(ev, t, &prog) < 0)
        rc = CLI_ERROR;
    while (rc == CLI_OK) {
        uint64_t before = signmf_trainer_epochs_done(t), n = left;
        if (ckpt_every > 0 && ck != NULL) {
            uint64_t to_next = ckpt_every - before % ckpt_every;
            if (to_next < n)
                n = to_next;
        }
        if (cli_eval_until(ev, before) < n)
            n = cli_eval_until(ev, before);
        run = signmf_trainer_run(t, n, progress_cb, &cb, &run_err);
        uint64_t ran = signmf_trainer_epochs_done(t) - before;
        left -= ran < left ? ran : left;
        if (run == SIGNMF_OK && stop_agreed)
            run = SIGNMF_EINTERRUPTED;
        /* every process evaluates the same epochs and sees rank 0's
         * figures, so all agree on an early stop */
        if (ev != NULL && run == SIGNMF_OK) {
            int e = eval_step(ev, t, &prog);
            if (e != 0) {
                rc = e < 0 ? CLI_ERROR : rc;
                break;
            }
        }
        if (run != SIGNMF_OK || left == 0)
            break;
        if (ckpt_every == 0 || ck == NULL || signmf_trainer_epochs_done(t) % ckpt_every != 0)
            continue;
        if ((rc = save(t, &in, ck)) != CLI_OK)
            break;
    }
    double train_s = MPI_Wtime() - t0;
    /* saving is quick and atomic: a signal from now on just ends the
     * process, the previous file staying in place */
    signal(SIGINT, SIG_DFL);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; ++i)
        signal(sigs[i], SIG_DFL);
    cli_progress_finish(&prog);
    /* with early stopping the best evaluated model is the one kept; rank
     * 0's has every user's rated rows */
    signmf_model *best = NULL;
    if (ev != NULL)
        best = cli_eval_finish(ev, t, &prog, rc == CLI_OK && run == SIGNMF_OK);
    uint64_t done = signmf_trainer_epochs_done(t);
    /* an interrupted run also refreshes a separate checkpoint, the file a
     * later --resume is most likely to be pointed at */
    bool stopped = run == SIGNMF_EINTERRUPTED, saved_ckpt = false;
    const char *dest[2] = {out, stopped && ckpt && (!out || strcmp(ckpt, out) != 0) ? ckpt : NULL};
    for (int d = 0; d < 2; ++d) {
        if (rc != CLI_OK || dest[d] == NULL ||
            !(run == SIGNMF_OK || run == SIGNMF_ENONFINITE || stopped))
            continue;
        if (best != NULL) {
            if (ctx.rank == 0) {
                memset(&err, 0, sizeof err);
                signmf_status sst = signmf_model_save(best, dest[d], &err);
                if (sst != SIGNMF_OK)
                    rc = cli_lib_error(sst, &err);
            }
            rc = agree(rc);
        } else
            rc = save(t, &in, dest[d]);
        saved_ckpt |= d == 1 && rc == CLI_OK;
    }
    signmf_model_free(best);
    cli_eval_free(ev);
    if (ev != NULL)
        mp_eval_free(&me);
    signmf_ratings_free(test);
    signmf_ratings_free(held);
    if (ctx.rank == 0 && log_path != NULL) {
        char msg[512];
        if (prog.log_failed)
            rc = cli_error("%s: out of memory while collecting the log", log_path);
        else if (!cli_write_atomic(log_path, prog.log, prog.log_len, msg, sizeof msg))
            rc = cli_error("%s", msg);
    }
    rc = agree(rc);
    if (rc == CLI_OK && stopped) {
        if (ctx.rank == 0 && (out != NULL || saved_ckpt))
            cli_error("interrupted after %llu epochs; model saved to %s%s%s (continue with "
                      "--resume)",
                      (unsigned long long)done, out ? out : ckpt, out && saved_ckpt ? " and " : "",
                      out && saved_ckpt ? ckpt : "");
        else if (ctx.rank == 0)
            cli_error("interrupted after %llu epochs; nothing saved (no --out or --checkpoint)",
                      (unsigned long long)done);
        rc = CLI_ERROR;
    } else if (rc == CLI_OK && run != SIGNMF_OK) {
        if (ctx.rank == 0) {
            cli_lib_error(run, &run_err);
            if (run == SIGNMF_ENONFINITE && out != NULL)
                cli_error("saved the last finite model (%llu epochs) to %s",
                          (unsigned long long)done, out);
        }
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK && run == SIGNMF_OK && !quiet && ctx.rank == 0)
        fprintf(stderr,
                "trained %llu epochs in %.3fs on %d processes: final loss %.4f (kernel %s, %s, dim "
                "%zu)%s%s\n",
                (unsigned long long)done, train_s, ctx.size, prog.last_loss, signmf_kernel_name(),
                t->params.precision == SIGNMF_F64 ? "f64" : "f32", t->dim, out ? ", saved to " : "",
                out ? out : "");
    if (stats) {
        uint64_t ran = done - first;
        double row[12] = {(double)in.own[0][0],
                          (double)in.own[0][1],
                          (double)in.own[1][0],
                          (double)in.own[1][1],
                          (double)owned,
                          load_s,
                          setup_s,
                          train_s,
                          ctx.comm_seconds,
                          (double)ctx.bytes_sent,
                          vm_hwm_kb(),
                          (double)ran};
        double *all = ctx.rank == 0 ? malloc((size_t)ctx.size * sizeof row) : NULL;
        if (ctx.rank == 0 && !all)
            mp_abort(&ctx, "out of memory for the --mpi-stats table");
        MPI_Gather(row, 12, MPI_DOUBLE, all, 12, MPI_DOUBLE, 0, ctx.comm);
        for (int r = 0; ctx.rank == 0 && all && r < ctx.size; ++r) {
            const double *x = all + r * 12;
            double per = x[11] > 0 ? x[11] : 1;
            fprintf(stderr,
                    "mpi-stats rank %d/%d: users %.0f-%.0f items %.0f-%.0f ratings %.0f load %.3fs "
                    "setup %.3fs epochs %.0f compute %.4fs/epoch comm %.4fs/epoch sent %.0f "
                    "bytes/epoch VmHWM %.0f kB\n",
                    r, ctx.size, x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[11],
                    (x[7] - x[8]) / per, x[8] / per, x[9] / per, x[10]);
        }
        free(all);
    }
    cli_progress_free(&prog);
    signmf_trainer_free(t);
    sm_idmap_release(&in.user_map);
    sm_idmap_release(&in.item_map);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    ctx.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(ctx.comm, &ctx.rank);
    MPI_Comm_size(ctx.comm, &ctx.size);
    ctx.counts = calloc((size_t)ctx.size, sizeof *ctx.counts);
    ctx.displs = calloc((size_t)ctx.size, sizeof *ctx.displs);
    if (!ctx.counts || !ctx.displs)
        mp_abort(&ctx, "out of memory for %d processes' counts", ctx.size);
    /* a test hook: where a test finds the processes it kills */
    const char *piddir = getenv("SIGNMF_MPI_PID_DIR");
    if (piddir && *piddir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/rank-%d.pid", piddir, ctx.rank);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)getpid());
            fclose(f);
        }
    }
    uint64_t h = argv_hash(argc, argv), lo_h, hi_h;
    MPI_Allreduce(&h, &lo_h, 1, MPI_UINT64_T, MPI_MIN, ctx.comm);
    MPI_Allreduce(&h, &hi_h, 1, MPI_UINT64_T, MPI_MAX, ctx.comm);
    int rc;
    if (lo_h != hi_h) {
        if (ctx.rank == 0)
            cli_error("the processes were started with different arguments");
        rc = CLI_USAGE;
    } else if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (ctx.rank == 0)
            fputs(train_cmd.usage, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? CLI_USAGE : CLI_OK;
    } else if (strcmp(argv[1], "train") != 0) {
        if (ctx.rank == 0)
            cli_error("signmf-mpi runs `train` only, found '%s'", argv[1]);
        rc = CLI_USAGE;
    } else
        rc = train(argc - 1, argv + 1);
    for (int s = 0; s < 2; ++s)
        free(ctx.bounds[s]);
    free(ctx.counts);
    free(ctx.displs);
    MPI_Finalize();
    return rc;
}
