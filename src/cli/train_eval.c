/* Evaluation during training: metrics every M epochs, metric columns in
 * the log, early stopping that keeps the best evaluated model.
 *
 * cli_train cuts the run into pieces that end on evaluation epochs
 * (signmf_trainer_run is resumable: pieces give the same bits as one run)
 * and calls back here between them. Evaluations fall on multiples of M
 * epochs done (and epoch 0), so they do not depend on how the run was
 * cut otherwise (checkpoints). */
#include "cli_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct eval_row {
    uint64_t epoch;
    signmf_metrics m;
} eval_row;

struct cli_eval_state {
    cli_eval_plan plan;
    bool quiet;
    eval_row *rows;
    size_t nrows, cap;
    signmf_model *keep; /* best so far (with early stopping) */
    signmf_eval_result keep_res, last_res;
    uint64_t best_epoch, last_epoch, since;
    double best_v;
    bool any, stopped;
};

cli_eval_state *cli_eval_begin(const cli_eval_plan *plan, bool quiet)
{
    cli_eval_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->plan = *plan;
    s->quiet = quiet;
    s->best_v = -INFINITY;
    return s;
}

void cli_eval_free(cli_eval_state *s)
{
    if (s == NULL)
        return;
    signmf_model_free(s->keep);
    free(s->rows);
    free(s);
}

uint64_t cli_eval_until(const cli_eval_state *s, uint64_t done)
{
    if (s == NULL || s->plan.every == 0)
        return UINT64_MAX;
    return s->plan.every - done % s->plan.every;
}

static int evaluate_whole(void *ctx, signmf_trainer *t, signmf_model **m, signmf_eval_result *res)
{
    const cli_eval_plan *plan = ctx;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st = signmf_trainer_model(t, m);
    if (st == SIGNMF_OK)
        st = signmf_evaluate(*m, plan->test, &plan->opt, res, &err);
    if (st != SIGNMF_OK) {
        signmf_model_free(*m);
        *m = NULL;
        return cli_lib_error(st, &err), -1;
    }
    return 0;
}

int cli_eval_step(cli_eval_state *s, signmf_trainer *t, cli_progress *prog, bool force)
{
    uint64_t ep = signmf_trainer_epochs_done(t);
    if (s->any && s->last_epoch == ep)
        return 0;
    if (!force && (s->plan.every == 0 || ep % s->plan.every != 0))
        return 0;
    signmf_model *m = NULL;
    signmf_eval_result res;
    cli_progress_finish(prog);
    int (*evaluate)(void *, signmf_trainer *, signmf_model **, signmf_eval_result *) =
        s->plan.evaluate ? s->plan.evaluate : evaluate_whole;
    if (evaluate(s->plan.evaluate ? s->plan.ctx : &s->plan, t, &m, &res) < 0)
        return -1;
    if (s->nrows == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        eval_row *g = realloc(s->rows, cap * sizeof *g);
        if (g == NULL) {
            signmf_model_free(m);
            cli_lib_error(SIGNMF_ENOMEM, NULL);
            return -1;
        }
        s->rows = g;
        s->cap = cap;
    }
    s->rows[s->nrows++] = (eval_row){ep, res.model};
    s->any = true;
    s->last_epoch = ep;
    s->last_res = res;
    double v = signmf_metric_value(&res.model, s->plan.metric);
    if (!s->quiet && !s->plan.silent) {
        fprintf(stderr,
                "eval epoch %llu: precision@%zu %.4f recall %.4f ndcg %.4f map %.4f hit %.4f "
                "auc %.4f coverage %.4f\n",
                (unsigned long long)ep, res.k, res.model.precision, res.model.recall,
                res.model.ndcg, res.model.map, res.model.hit, res.model.auc, res.model.coverage);
    }
    /* only strict gains count, so a plateau keeps the earlier model */
    if (s->keep == NULL || v > s->best_v) {
        s->best_v = v;
        s->best_epoch = ep;
        s->since = 0;
        s->keep_res = res;
        if (s->plan.patience > 0) {
            signmf_model_free(s->keep);
            s->keep = m;
            m = NULL;
        }
    } else {
        s->since++;
    }
    signmf_model_free(m);
    if (s->plan.patience > 0 && s->since >= s->plan.patience) {
        s->stopped = true;
        if (!s->quiet && !s->plan.silent)
            fprintf(stderr,
                    "early stop at epoch %llu: no gain in %s for %llu evaluations; keeping "
                    "epoch %llu (%s %.4f)\n",
                    (unsigned long long)ep, signmf_metric_name(s->plan.metric),
                    (unsigned long long)s->since, (unsigned long long)s->best_epoch,
                    signmf_metric_name(s->plan.metric), s->best_v);
        return 1;
    }
    return 0;
}

/* Rewrite the log with the metric columns; rows without an evaluation get
 * empty cells. */
static void add_log_columns(cli_progress *p, const eval_row *rows, size_t n)
{
    if (p->log == NULL || p->log_failed)
        return;
    size_t lines = 1;
    for (size_t i = 0; i < p->log_len; ++i)
        lines += p->log[i] == '\n';
    size_t cap = p->log_len + lines * SIGNMF_METRIC_COUNT_ + n * SIGNMF_METRIC_COUNT_ * 26 + 128;
    char *out = malloc(cap);
    if (out == NULL) {
        p->log_failed = true;
        return;
    }
    size_t len = 0, r = 0;
    const char *s = p->log, *end = p->log + p->log_len;
    bool header = true;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
        memcpy(out + len, s, ll);
        len += ll;
        if (header) {
            for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i)
                len += (size_t)snprintf(out + len, cap - len, ",%s",
                                        signmf_metric_name((signmf_metric)i));
            header = false;
        } else {
            uint64_t e = strtoull(s, NULL, 10);
            while (r < n && rows[r].epoch < e)
                r++;
            for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i) {
                double v = r < n && rows[r].epoch == e
                               ? signmf_metric_value(&rows[r].m, (signmf_metric)i)
                               : NAN;
                if (isfinite(v))
                    len += (size_t)snprintf(out + len, cap - len, ",%.17g", v);
                else
                    out[len++] = ',';
            }
        }
        out[len++] = '\n';
        s += ll + 1;
    }
    out[len] = '\0';
    free(p->log);
    p->log = out;
    p->log_len = len;
    p->log_cap = cap;
}

signmf_model *cli_eval_finish(cli_eval_state *s, signmf_trainer *t, cli_progress *prog, bool report)
{
    if (report && !s->stopped && cli_eval_step(s, t, prog, true) < 0)
        report = false;
    add_log_columns(prog, s->rows, s->nrows);
    if (report && s->any && !s->plan.silent) {
        bool best = s->plan.patience > 0;
        const signmf_eval_result *shown = best ? &s->keep_res : &s->last_res;
        char title[512];
        snprintf(title, sizeof title,
                 "%s at epoch %llu%s (k %zu, relevant >= %g):", s->plan.test_name,
                 (unsigned long long)(best ? s->best_epoch : s->last_epoch),
                 best ? (s->stopped ? ", the best; stopped early" : ", the best") : "", shown->k,
                 shown->relevant);
        cli_progress_finish(prog);
        cli_eval_print_text(stdout, shown, title);
        fflush(stdout);
    }
    signmf_model *m = s->keep;
    s->keep = NULL;
    return m;
}

int cli_eval_check(const cli_command *cmd, const cli_eval_args *a)
{
    bool on = a->test != NULL || a->holdout_seen;
    if (a->test != NULL && a->holdout_seen)
        return cli_usage_error(cmd, "--test and --holdout cannot be combined");
    if (a->holdout_seen && !(a->holdout > 0.0 && a->holdout < 1.0))
        return cli_usage_error(cmd, "--holdout expects a fraction in (0, 1), found %g", a->holdout);
    if (!on && (a->every > 0 || a->patience > 0 || a->metric != NULL))
        return cli_usage_error(cmd, "--eval-every, --early-stop and --metric need --test or "
                                    "--holdout");
    signmf_metric m;
    return cli_parse_metric(cmd, a->metric, &m);
}

int cli_eval_setup(const cli_eval_args *a, const signmf_load_options *lo, uint32_t seed,
                   int threads, signmf_ratings **ratings, signmf_ratings **test_out,
                   cli_eval_plan *plan)
{
    *test_out = NULL;
    memset(plan, 0, sizeof *plan);
    if (a->test == NULL && !a->holdout_seen)
        return -1;
    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_status st;
    if (a->test != NULL) {
        st = signmf_ratings_load(a->test, lo, test_out, &err);
        plan->test_name = a->test;
    } else {
        signmf_ratings *tr = NULL;
        st = signmf_ratings_split(*ratings, a->holdout, seed, &tr, test_out, &err);
        if (st == SIGNMF_OK) {
            signmf_ratings_free(*ratings);
            *ratings = tr;
        }
        plan->test_name = "holdout";
    }
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    plan->test = *test_out;
    cli_eval_plan_init(a, threads, plan);
    return -1;
}

void cli_eval_plan_init(const cli_eval_args *a, int threads, cli_eval_plan *plan)
{
    plan->opt = signmf_eval_options_default();
    plan->opt.k = (size_t)a->k;
    plan->opt.relevant = a->relevant;
    plan->opt.threads = threads;
    /* early stopping needs something to compare: every epoch unless told */
    plan->every = a->every == 0 && a->patience > 0 ? 1 : a->every;
    plan->patience = a->patience;
    plan->metric = SIGNMF_METRIC_NDCG;
    if (a->metric != NULL)
        (void)cli_parse_metric(NULL, a->metric, &plan->metric);
}
