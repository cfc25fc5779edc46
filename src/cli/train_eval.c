/* Evaluation during training: chunked runs, metric columns in the log,
 * early stopping that keeps the best evaluated model.
 *
 * The trainer is run M epochs at a time (signmf_trainer_run is resumable:
 * pieces give the same bits as one run). Each piece reports its starting
 * epoch again, with the same loss, so the duplicate is dropped and the
 * seconds are carried over: the log's seconds are training time, without
 * the evaluations in between. */
#include "cli_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk_ctx {
    cli_progress *prog;
    double offset; /* training seconds of the finished pieces */
    double seconds;
    uint64_t last_epoch;
    bool any;
} chunk_ctx;

static int chunk_cb(void *user, uint64_t epoch, double loss, double log_scale, double seconds)
{
    chunk_ctx *c = user;
    c->seconds = seconds;
    if (c->any && epoch == c->last_epoch)
        return cli_interrupted() ? 1 : 0;
    c->any = true;
    c->last_epoch = epoch;
    return cli_progress_cb(c->prog, epoch, loss, log_scale, c->offset + seconds);
}

typedef struct eval_row {
    uint64_t epoch;
    signmf_metrics m;
} eval_row;

/* Rewrite the log with the metric columns; rows without an evaluation get
 * empty cells. */
static void add_log_columns(cli_progress *p, const eval_row *rows, size_t n)
{
    if (p->log == NULL || p->log_failed)
        return;
    size_t cap = p->log_len + 64 * 8 + n * 8 * 26 + 64, len = 0;
    /* every line gains at most 7 commas besides the metric values */
    for (size_t i = 0; i < p->log_len; ++i)
        cap += p->log[i] == '\n' ? 8 : 0;
    char *out = malloc(cap);
    if (out == NULL) {
        p->log_failed = true;
        return;
    }
    const char *s = p->log, *end = p->log + p->log_len;
    bool header = true;
    size_t r = 0;
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

signmf_status cli_eval_train(signmf_trainer *t, uint64_t epochs, const cli_eval_plan *plan,
                             cli_progress *prog, bool quiet, signmf_model **best, signmf_error *err)
{
    *best = NULL;
    chunk_ctx cc = {prog, 0, 0, 0, false};
    eval_row *rows = NULL;
    size_t nrows = 0, cap = 0;
    signmf_model *keep = NULL;
    signmf_eval_result keep_res, last_res;
    uint64_t last_epoch = 0;
    double best_v = -INFINITY;
    uint64_t since = 0, best_epoch = 0;
    bool stopped = false;
    signmf_status st = SIGNMF_OK;
    uint64_t done = 0;
    const char *mname = signmf_metric_name(plan->metric);
    for (;;) {
        bool at_end = done == epochs;
        /* evaluate at epoch 0 and every M epochs, and at the end */
        if (plan->every > 0 || at_end) {
            signmf_model *m = NULL;
            signmf_eval_result res;
            signmf_error e2;
            st = signmf_trainer_model(t, &m);
            if (st == SIGNMF_OK)
                st = signmf_evaluate(m, plan->test, &plan->opt, &res, &e2);
            if (st != SIGNMF_OK) {
                signmf_model_free(m);
                if (err)
                    *err = e2;
                break;
            }
            uint64_t ep = signmf_trainer_epochs_done(t);
            if (nrows == cap) {
                cap = cap ? 2 * cap : 16;
                eval_row *g = realloc(rows, cap * sizeof *rows);
                if (g == NULL) {
                    signmf_model_free(m);
                    st = SIGNMF_ENOMEM;
                    break;
                }
                rows = g;
            }
            rows[nrows++] = (eval_row){ep, res.model};
            last_res = res;
            last_epoch = ep;
            double v = signmf_metric_value(&res.model, plan->metric);
            if (!quiet) {
                cli_progress_finish(prog);
                fprintf(stderr,
                        "eval epoch %llu: precision@%zu %.4f recall %.4f ndcg %.4f map %.4f "
                        "hit %.4f auc %.4f coverage %.4f\n",
                        (unsigned long long)ep, res.k, res.model.precision, res.model.recall,
                        res.model.ndcg, res.model.map, res.model.hit, res.model.auc,
                        res.model.coverage);
            }
            /* the first evaluation, then only strict gains, so ties keep
             * the earlier (cheaper) model */
            if (keep == NULL || v > best_v) {
                best_v = v;
                best_epoch = ep;
                since = 0;
                signmf_model_free(keep);
                keep = m;
                keep_res = res;
            } else {
                since++;
                signmf_model_free(m);
            }
            if (plan->patience > 0 && since >= plan->patience && !at_end) {
                stopped = true;
                if (!quiet)
                    fprintf(stderr,
                            "early stop at epoch %llu: no gain in %s for %llu evaluations; "
                            "keeping epoch %llu (%s %.4f)\n",
                            (unsigned long long)ep, mname, (unsigned long long)since,
                            (unsigned long long)best_epoch, mname, best_v);
                break;
            }
        }
        if (at_end)
            break;
        uint64_t step =
            plan->every > 0 && plan->every < epochs - done ? plan->every : epochs - done;
        cc.offset += cc.seconds;
        cc.seconds = 0;
        st = signmf_trainer_run(t, step, chunk_cb, &cc, err);
        if (st != SIGNMF_OK)
            break;
        done += step;
    }
    add_log_columns(prog, rows, nrows);
    if (keep != NULL && (st == SIGNMF_OK || st == SIGNMF_EINTERRUPTED || st == SIGNMF_ENONFINITE)) {
        cli_progress_finish(prog);
        /* with early stopping the kept model is the best one, else the last */
        const signmf_eval_result *shown = plan->patience > 0 ? &keep_res : &last_res;
        char title[256];
        snprintf(title, sizeof title,
                 "%s at epoch %llu%s (k %zu, relevant >= %g):", plan->test_name,
                 (unsigned long long)(plan->patience > 0 ? best_epoch : last_epoch),
                 plan->patience > 0 ? (stopped ? ", the best, early stop" : ", the best") : "",
                 shown->k, shown->relevant);
        if (st == SIGNMF_OK)
            cli_eval_print_text(stdout, shown, title);
        fflush(stdout);
    }
    if (plan->patience > 0 && keep != NULL) {
        *best = keep;
        keep = NULL;
    }
    signmf_model_free(keep);
    free(rows);
    return st;
}
