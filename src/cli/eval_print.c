/* The metrics table, its JSON form and --metric: signmf eval's, and
 * train's (signmf train and signmf-mpi both build this file). */
#include "cli_eval.h"

#include <math.h>
#include <string.h>

int cli_parse_metric(const cli_command *cmd, const char *s, signmf_metric *out)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i)
        if (strcmp(s, signmf_metric_name((signmf_metric)i)) == 0) {
            *out = (signmf_metric)i;
            return -1;
        }
    return cli_usage_error(cmd,
                           "--metric expects ndcg, precision, recall, map, hit, auc or coverage, "
                           "found '%s'",
                           s);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void json_metrics(FILE *f, const signmf_metrics *m)
{
    fputc('{', f);
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i) {
        fprintf(f, "%s\"%s\": ", i ? ", " : "", signmf_metric_name((signmf_metric)i));
        json_num(f, signmf_metric_value(m, (signmf_metric)i));
    }
    fputc('}', f);
}

void cli_eval_print_json(FILE *f, const signmf_eval_result *r)
{
    fprintf(f, "{\"k\": %zu, \"relevant\": ", r->k);
    json_num(f, r->relevant);
    fputs(", \"model\": ", f);
    json_metrics(f, &r->model);
    fputs(", \"popularity\": ", f);
    json_metrics(f, &r->popularity);
    fprintf(f,
            ", \"counts\": {\"test_pairs\": %zu, \"unknown_user_pairs\": %zu, "
            "\"unknown_item_pairs\": %zu, \"train_pairs\": %zu, \"relevant_pairs\": %zu, "
            "\"test_users\": %zu, \"users\": %zu, \"auc_users\": %zu}}",
            r->test_pairs, r->unknown_user_pairs, r->unknown_item_pairs, r->train_pairs,
            r->relevant_pairs, r->test_users, r->users, r->auc_users);
}

void cli_eval_print_text(FILE *f, const signmf_eval_result *r, const char *title)
{
    if (title != NULL)
        fprintf(f, "%s\n", title);
    fprintf(f, "%-14s %10s %10s\n", "metric", "model", "popularity");
    for (int i = 0; i < SIGNMF_METRIC_COUNT_; ++i) {
        char name[32];
        signmf_metric w = (signmf_metric)i;
        if (w == SIGNMF_METRIC_AUC || w == SIGNMF_METRIC_COVERAGE)
            snprintf(name, sizeof name, "%s", signmf_metric_name(w));
        else
            snprintf(name, sizeof name, "%s@%zu", signmf_metric_name(w), r->k);
        fprintf(f, "%-14s %10.4f %10.4f\n", name, signmf_metric_value(&r->model, w),
                signmf_metric_value(&r->popularity, w));
    }
    fprintf(f,
            "users evaluated %zu (auc %zu) of %zu test users; test pairs %zu: relevant (>= %g) "
            "%zu, unknown user %zu, unknown item %zu, rated in training %zu\n",
            r->users, r->auc_users, r->test_users, r->test_pairs, r->relevant, r->relevant_pairs,
            r->unknown_user_pairs, r->unknown_item_pairs, r->train_pairs);
}
