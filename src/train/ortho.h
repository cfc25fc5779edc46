/* The orthonormal method's part of the trainer (signmf.h, signmf_method). */
#ifndef SM_ORTHO_H
#define SM_ORTHO_H

#include "train.h"

/* Per-class sums, weights and state of the orthonormal method. The rated
 * entries are gathered once an epoch, in three classes: D = +1 (disliked)
 * and D = -1 (liked) from the trainer's own D, and the neutral ones (a
 * rating equal to the user's mean) from `neu`. */
typedef struct sm_ortho {
    sm_signs neu[2];    /* neutral entries by user [0] and by item [1], all in the +1 segment */
    uint32_t *dofs[2];  /* block tables of D per side, (nblocks + 1) x rows, +1 then -1 parts */
    uint32_t *dmofs[2]; /*   (when the trainer has none of its own) */
    uint32_t *nofs[2], *nmofs[2]; /* block tables of neu */
    double *scale[2];             /* n^-g per row of each side (n = 0 counts as 1) */
    uint32_t *degree[2];          /* n per row of each side */
    void *state[2];               /* orthonormal P (users x dim) and Q^T (items x dim), row-major */
    void *acc[2][2]; /* per side: liked and neutral sums in panels (disliked: the spare buffer) */
    double *y[2];    /* per side, rows x dim: the step before orthonormalising */
    double *rowdot;  /* per user: its part of the loss */
    double *B;       /* dim x dim: P^T (-D~) Q^T of the state, when b_valid */
    bool b_valid;
    size_t replaced;
} sm_ortho;

/* Build the classes, scales and buffers (after alloc_layout). */
signmf_status sm_ortho_setup(signmf_trainer *t, signmf_error *err);
/* The initial state: the trainer's Gaussian draws (in its panels),
 * orthonormalised. */
signmf_status sm_ortho_init_from_draws(signmf_trainer *t, signmf_error *err);
/* Load the state from row-major P and Q^T in the trainer's precision. */
signmf_status sm_ortho_set_state(signmf_trainer *t, const void *P, const void *Qt,
                                 signmf_error *err);
void sm_ortho_free(sm_ortho *o);
/* One pass over the current state: its loss into *loss; with `step`, also
 * the step of both sides, which sm_ortho_commit then orthonormalises into
 * the new state; with `want_b` (and no step), B of the current state.
 * Returns 1 when a value was not finite, 0 on success, -1 for want of
 * memory. The state changes only in sm_ortho_commit. */
int sm_ortho_pass(signmf_trainer *t, bool step, bool want_b, double *loss);
/* Orthonormalise the last step into the state (0, or -1 for want of
 * memory). */
int sm_ortho_commit(signmf_trainer *t);
/* The model of the current state (Rayleigh-Ritz), filled into m (allocated
 * for t, with the orthonormal sections). */
signmf_status sm_ortho_fill_model(signmf_trainer *t, signmf_model *m);

#endif
