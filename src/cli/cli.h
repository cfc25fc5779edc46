/* Shared pieces of the signmf command-line tool. The CLI sees the library
 * only through include/signmf.h. */
#ifndef SIGNMF_CLI_H
#define SIGNMF_CLI_H

#include "signmf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes scripts rely on. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* ---- option parsing (args.c) ---------------------------------------- */

typedef enum cli_opt_kind {
    CLI_FLAG,   /* bool*, no value */
    CLI_STR,    /* const char ** */
    CLI_UINT,   /* uint64_t*, decimal, within [umin, umax] */
    CLI_INT,    /* int64_t*, decimal, may be negative */
    CLI_DOUBLE, /* double*, finite, within [dmin, dmax] */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 when none */
    cli_opt_kind kind;
    void *dst;
    uint64_t umin, umax;
    double dmin, dmax;
    bool *seen; /* optional: set when the option was given */
} cli_opt;

#define CLI_OPT_END                                                                                \
    {                                                                                              \
        NULL, 0, CLI_FLAG, NULL, 0, 0, 0, 0, NULL                                                  \
    }

typedef struct cli_command {
    const char *name;
    const char *usage; /* full help text, printed by --help */
} cli_command;

/* Parse argv[1..argc) (argv[0] is the command name). Positional arguments
 * are stored in `pos` (room for max_pos). Returns -1 to go on, otherwise the
 * exit code: 0 after --help, CLI_USAGE after a message on stderr. */
int cli_parse(const cli_command *cmd, int argc, char **argv, const cli_opt *opts, const char **pos,
              size_t min_pos, size_t max_pos, size_t *npos);

/* Strict number parsing shared with commands that parse sub-values. */
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_i64(const char *s, int64_t *out);
bool cli_parse_double(const char *s, double *out);

/* "signmf <cmd>: <msg>" plus a hint to --help; returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* "signmf <cmd>: <msg>" for an option value that is present but not
 * acceptable (bad input, not wrong usage); returns CLI_ERROR. */
int cli_value_error(const cli_command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* "signmf: <msg>" on stderr; returns CLI_ERROR. */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Report a library failure with its message (or the status name). */
int cli_lib_error(signmf_status st, const signmf_error *err);

/* Load options shared by the commands that read ratings. */
typedef struct cli_load_args {
    const char *format;
    const char *ids;
    const char *npz_key;
    const char *rating_range; /* "MIN:MAX" or NULL for the library default */
} cli_load_args;
int cli_load_options(const cli_command *cmd, const cli_load_args *a, signmf_load_options *out);
int cli_parse_precision(const cli_command *cmd, const char *s, signmf_precision *out);
int cli_parse_sign_rule(const cli_command *cmd, const char *s, signmf_params *p);

/* train's --method and the settings that belong to it (signmf train and
 * signmf-mpi): *params becomes the method's defaults (the notebook's on
 * any error) with its own options applied; *dim, *lr and *epochs take the
 * method's defaults where `seen` (train's fixed-option flags: [0] --dim,
 * [1] --lr, [7] --rated-weight, [8] --degree-exp, [9] --shrink) and
 * `epochs_seen` say they were not given. -1 when fine, else the exit code
 * after a message. */
int cli_train_method(const char *method, const bool seen[10], bool epochs_seen, bool rescale,
                     double rated_weight, double degree_exp, double shrink, uint64_t *dim,
                     double *lr, uint64_t *epochs, signmf_params *params);
/* With --resume the model fixes train's settings: the first of `seen`
 * (the flags above) that was given is wrong usage. -1 when none was,
 * else the exit code after a message. */
int cli_resume_fixed(const cli_command *cmd, const bool seen[10]);

/* ---- output helpers (progress.c) ------------------------------------ */

/* Write `len` bytes to `path` atomically: a temporary sibling, fsync,
 * rename. On failure returns false with a message in msg. */
bool cli_write_atomic(const char *path, const char *data, size_t len, char *msg, size_t msglen);

typedef struct cli_progress {
    bool quiet, tty;
    uint64_t total;   /* epochs requested */
    uint64_t base;    /* epochs done before this run */
    double last_loss; /* most recent reported loss */
    uint64_t last_epoch;
    double last_seconds;
    size_t reports;
    bool bar_open;
    /* log rows, kept in memory and written atomically at the end */
    char *log;
    size_t log_len, log_cap;
    bool log_failed;
    bool with_scale; /* --rescale: the log gets a log_scale column */
} cli_progress;

void cli_progress_init(cli_progress *p, uint64_t total, bool quiet, bool want_log);
/* The signmf_progress_fn; `user` is a cli_progress. */
int cli_progress_cb(void *user, uint64_t epoch, double loss, double log_scale, double seconds);
/* Close the bar line, if any. */
void cli_progress_finish(cli_progress *p);
void cli_progress_free(cli_progress *p);
/* Set by SIGINT; the callback then asks the trainer to stop. */
void cli_install_sigint(void);
bool cli_interrupted(void);

/* ---- training shared by train and demo (cmd_train.c) ---------------- */
typedef struct cli_train_job {
    /* consumed: cli_train frees it as soon as the trainer has its signs,
     * before the embeddings take memory */
    signmf_ratings *ratings;
    signmf_params params;
    uint64_t epochs;
    bool quiet;
    const char *out;      /* model path or NULL */
    const char *log_path; /* CSV path or NULL */
    /* Checkpoints and resume (zero / NULL: off). `epochs` above is then the
     * number still to run. */
    const char *checkpoint;           /* periodic saves go here (NULL: out) */
    uint64_t checkpoint_every;        /* save every N epochs done, 0: never */
    const signmf_model *resume;       /* continue this model instead of starting afresh */
    const struct cli_eval_plan *eval; /* metrics during training (cli_eval.h), or NULL */
} cli_train_job;
/* Train, save, log, summarise. On success *model_out (if non-NULL)
 * receives the trained model. Returns an exit code. */
int cli_train(const cli_train_job *job, signmf_model **model_out);
/* -1 when the directory of `path` (NULL: nothing to check) is writable,
 * else CLI_ERROR after a message. */
int cli_check_output(const char *path);

/* ---- recommendations shared by recommend and demo (cmd_recommend.c) - */
typedef struct cli_titles cli_titles;
/* Read a MovieLens u.item file; titles converted to UTF-8. */
int cli_titles_load(const char *path, cli_titles **out);
const char *cli_titles_get(const cli_titles *t, int64_t id);
void cli_titles_free(cli_titles *t);
/* Text lines rank<TAB>item<TAB>score[<TAB>title], scores as fmt_double
 * (shortest round-trip, fmt.h), or 3 decimals when !exact. */
void cli_print_recs_text(FILE *f, const signmf_rec *recs, size_t n, const cli_titles *titles,
                         bool exact);
/* {"<key>": id or null, "items": [{"rank", "item", "score"[, "title"]}]},
 * no newline. */
void cli_print_recs_json(FILE *f, const char *key, const int64_t *id, const signmf_rec *recs,
                         size_t n, const cli_titles *titles);

/* ---- buffered output (out.c) ----------------------------------------- */
/* Output assembled in a caller's buffer and handed to `f` in cap-sized
 * fwrite calls. The first failed write is kept in `err` (an errno value);
 * after it everything is dropped, so writers need not check each call. */
typedef struct cli_out {
    FILE *f;
    char *buf;
    size_t len, cap;
    int err;
} cli_out;

/* Room a writer reserves for one line without a title (the longest ids,
 * rank and score, their separators); cap must be at least this. */
#define CLI_OUT_LINE 128

void cli_out_init(cli_out *o, FILE *f, char *buf, size_t cap);
/* Hand the buffer to the stream (no fflush); false once a write failed. */
bool cli_out_drain(cli_out *o);
/* Drain and fflush; false once a write failed. */
bool cli_out_flush(cli_out *o);
void cli_out_write(cli_out *o, const char *s, size_t n);
/* "signmf: cannot write to standard output: <strerror(err)>"; returns
 * CLI_ERROR. */
int cli_out_error(const cli_out *o);

/* n contiguous free bytes at the buffer's end (n <= cap), draining first
 * when fewer are left; NULL after a failed write. Writers fill them and
 * add what they used to len. */
static inline char *cli_out_room(cli_out *o, size_t n)
{
    if (o->cap - o->len < n && !cli_out_drain(o))
        return NULL;
    return o->err != 0 ? NULL : o->buf + o->len;
}

/* The writers behind cli_print_recs_*: with `user`, every text line starts
 * user<TAB> (the --users and --all format). */
void cli_out_recs_text(cli_out *o, const int64_t *user, const signmf_rec *recs, size_t n,
                       const cli_titles *titles, bool exact);
void cli_out_recs_json(cli_out *o, const char *key, const int64_t *id, const signmf_rec *recs,
                       size_t n, const cli_titles *titles);

/* recommend --all's signmf_recs_fn: user-led text lines, or one JSON
 * object per user after "[\n" (first) or ",\n"; the caller closes the
 * array. Returns non-zero, stopping the run, once a write failed. */
typedef struct cli_rec_stream {
    cli_out *out;
    const cli_titles *titles;
    bool json, first;
} cli_rec_stream;
int cli_rec_stream_fn(void *ctx, int64_t user, const signmf_rec *recs, size_t count);

/* ---- synthetic data (cmd_synth.c) ----------------------------------- */
typedef struct cli_synth_params {
    uint64_t users, items, ratings, seed;
} cli_synth_params;

/* Receives one user's ratings, sorted by item; ids are 1-based. Return
 * non-zero to stop. */
typedef int (*cli_synth_sink)(void *ctx, uint32_t user, size_t n, const uint32_t *items,
                              const uint8_t *ratings, const uint32_t *timestamps);
/* Returns 0, or CLI_ERROR with a message printed. */
int cli_synth_run(const cli_synth_params *p, cli_synth_sink sink, void *ctx);
/* Build an in-memory ratings set with the generator. */
int cli_synth_ratings(const cli_synth_params *p, signmf_ratings **out);

/* ---- commands --------------------------------------------------------- */
int cmd_train(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_split(int argc, char **argv);

#endif
