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
    /* The trainer's model and its figures, or -1 after reporting a failure;
     * NULL: signmf_trainer_model and signmf_evaluate. signmf-mpi's
     * evaluates in shares. */
    int (*evaluate)(void *ctx, signmf_trainer *t, signmf_model **m, signmf_eval_result *res);
    void *ctx;
    bool silent; /* print nothing (another process reports) */
} cli_eval_plan;

/* The evaluation side of a training run, driven by cli_train's epoch loop:
 * it runs the trainer in pieces that end where cli_eval_until says, calls
 * cli_eval_step after each piece and cli_eval_finish at the end. */
typedef struct cli_eval_state cli_eval_state;
cli_eval_state *cli_eval_begin(const cli_eval_plan *plan, bool quiet);
/* Epochs to run from `done` before the next evaluation (UINT64_MAX: none
 * due before the end). */
uint64_t cli_eval_until(const cli_eval_state *s, uint64_t done);
/* Evaluate the trainer's model if one is due at this epoch (always when
 * `force`). Returns 1 when early stopping says stop, 0 to go on, or -1
 * after an error was reported. */
int cli_eval_step(cli_eval_state *s, signmf_trainer *t, cli_progress *prog, bool force);
/* When `report` (a run that ended normally): evaluate the final model
 * unless just done and print the table. Always add the metric columns to
 * the progress log. With early stopping
 * the best evaluated model is returned (the caller owns it), else NULL. */
signmf_model *cli_eval_finish(cli_eval_state *s, signmf_trainer *t, cli_progress *prog,
                              bool report);
void cli_eval_free(cli_eval_state *s);

/* train's evaluation options. */
typedef struct cli_eval_args {
    const char *test; /* --test FILE */
    double holdout;   /* --holdout FRACTION */
    bool holdout_seen;
    uint64_t every;     /* --eval-every M */
    uint64_t patience;  /* --early-stop P */
    uint64_t k;         /* --eval-k K */
    double relevant;    /* --relevant R */
    const char *metric; /* --metric NAME */
} cli_eval_args;
#define CLI_EVAL_ARGS_INIT                                                                         \
    {                                                                                              \
        NULL, 0.0, false, 0, 0, 10, 4.0, NULL                                                      \
    }
/* train's option rows for the evaluation options, into a's fields (signmf
 * train and signmf-mpi take the same). */
#define CLI_EVAL_OPTS(a)                                                                           \
    {"test", 0, CLI_STR, &(a).test, 0, 0, 0, 0, NULL},                                             \
        {"holdout", 0, CLI_DOUBLE, &(a).holdout, 0, 0, 0, 1, &(a).holdout_seen},                   \
        {"eval-every", 0, CLI_UINT, &(a).every, 1, UINT64_MAX, 0, 0, NULL},                        \
        {"early-stop", 0, CLI_UINT, &(a).patience, 1, UINT64_MAX, 0, 0, NULL},                     \
        {"metric", 0, CLI_STR, &(a).metric, 0, 0, 0, 0, NULL},                                     \
        {"eval-k", 0, CLI_UINT, &(a).k, 1, UINT32_MAX, 0, 0, NULL},                                \
    {                                                                                              \
        "relevant", 0, CLI_DOUBLE, &(a).relevant, 0, 0, -1e300, 1e300, NULL                        \
    }
/* Check the combination before anything is loaded: -1 when fine. */
int cli_eval_check(const cli_command *cmd, const cli_eval_args *a);
/* After the ratings are loaded: load --test (with `lo`) or split *ratings
 * by --holdout with `seed` (then *ratings becomes the training part and
 * the original is freed). Fills `plan`; *test_out is the held-out set to
 * free afterwards (NULL when no evaluation was asked for). -1 when fine,
 * else an exit code after a message. */
/* The plan's options from the arguments (test, test_name and the hook
 * left unset). */
void cli_eval_plan_init(const cli_eval_args *a, int threads, cli_eval_plan *plan);
int cli_eval_setup(const cli_eval_args *a, const signmf_load_options *lo, uint32_t seed,
                   int threads, signmf_ratings **ratings, signmf_ratings **test_out,
                   cli_eval_plan *plan);

int cmd_eval(int argc, char **argv);

#endif
