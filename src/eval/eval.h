/* Evaluation in shares: signmf_evaluate is one share over every user and
 * its combination. The MPI driver evaluates each process's own users as a
 * share and combines the shares' figures on one process, in user order,
 * which gives signmf_evaluate's bits. */
#ifndef SM_EVAL_H
#define SM_EVAL_H

#include "../model/model.h"
#include "../rng/rng.h"

/* The figures of one evaluated user: precision, recall, ndcg, map, hit and
 * auc (NaN when N is empty), of the model's ranking and of popularity's. */
typedef struct sm_eval_fig {
    double model[6], pop[6];
} sm_eval_fig;

typedef struct sm_eval_share {
    size_t users;       /* evaluated users, in user order */
    sm_eval_fig *fig;   /* users */
    unsigned char *cov; /* 2 x items: 1 where an item is in some model list, then popularity */
} sm_eval_share;

/* Evaluate the users of `test`'s pairs (every pair is counted in *counts:
 * the count fields of a signmf_eval_result, k and relevant). `pop_count`
 * (items; NULL: from m's rated rows) is each item's number of training
 * ratings, for a model holding the rated rows of only some users. */
signmf_status sm_evaluate_share(const signmf_model *m, const signmf_ratings *test,
                                const signmf_eval_options *opt, const double *pop_count,
                                signmf_eval_result *counts, sm_eval_share *out, signmf_error *err);
void sm_eval_share_free(sm_eval_share *s);

/* The metrics of `res` from all evaluated users' figures in user order and
 * the union of the coverage marks (2 x items); res's counts are kept, its
 * users and auc_users set. */
void sm_eval_combine(const sm_eval_fig *fig, size_t users, const unsigned char *cov, size_t items,
                     signmf_eval_result *res);

/* signmf_ratings_split in pieces: the draws a set of whole users' sorted
 * ratings takes from the stream, and the split of such a set with the
 * stream where its first user's draws begin (the users before it having
 * taken theirs), so consecutive pieces split as the whole set does. */
uint64_t sm_split_draws(const signmf_ratings *r, double fraction);
signmf_status sm_ratings_split_rng(const signmf_ratings *r, double fraction, sm_rng *rng,
                                   signmf_ratings **train, signmf_ratings **holdout,
                                   signmf_error *err);

#endif
