/* Evaluation pieces of the CLI shared by eval and train. */
#ifndef SIGNMF_CLI_EVAL_H
#define SIGNMF_CLI_EVAL_H

#include "cli.h"

/* A metrics table: one row per metric, model and popularity side by side,
 * then the counts. `title` (may be NULL) heads it. */
void cli_eval_print_text(FILE *f, const signmf_eval_result *r, const char *title);
/* {"k", "relevant", "model": {...}, "popularity": {...}, "counts": {...}},
 * no newline; NaN prints as null. */
void cli_eval_print_json(FILE *f, const signmf_eval_result *r);
/* ndcg|precision|recall|map|hit|auc|coverage; -1 when fine, else the exit
 * code after a usage message. */
int cli_parse_metric(const cli_command *cmd, const char *s, signmf_metric *out);

/* Evaluation during training (train_eval.c). */
typedef struct cli_eval_plan {
    const signmf_ratings *test; /* held-out pairs (--test or --holdout) */
    signmf_eval_options opt;
    uint64_t every;    /* evaluate every this many epochs (0: only at the end) */
    uint64_t patience; /* early stop after this many evaluations without gain (0: off) */
    signmf_metric metric;
    const char *test_name; /* for messages */
} cli_eval_plan;

/* Run `epochs` epochs of `t` in chunks of plan->every, evaluating after
 * each chunk (and before the first when every > 0), adding metric columns
 * to the progress log. With early stopping, *best receives a snapshot of
 * the best evaluated model (else NULL). Returns the trainer's status. */
signmf_status cli_eval_train(signmf_trainer *t, uint64_t epochs, const cli_eval_plan *plan,
                             cli_progress *prog, bool quiet, signmf_model **best,
                             signmf_error *err);

int cmd_eval(int argc, char **argv);

#endif
