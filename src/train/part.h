/* One share of a partitioned training run (the MPI driver, src/mpi/).
 *
 * Each process owns a contiguous range of users and one of items. It
 * holds the signs of its own rows only, computes those rows of the next
 * state with the very kernels and sum orders of a whole trainer, and the
 * hooks then gather the other rows from their owners, so every process
 * ends each pass with the whole state and the whole loss, bit for bit what
 * one process computes. The library itself knows nothing of how the hooks
 * communicate. */
#ifndef SM_PART_H
#define SM_PART_H

#include "train.h"

typedef struct sm_part_input {
    size_t users, items;
    size_t own[2][2]; /* [side][lo, hi): users (0) and items (1) computed here */
    /* Consumed (moved into the trainer or freed), whatever the outcome: */
    sm_signs by_user;            /* D, rows = users; entries in owned rows only */
    sm_zeros zero;               /* neutral rated entries of the owned users */
    sm_signs cols;               /* D entries of the owned items, by user (rows = users) */
    sm_zeros cols_zero;          /* neutral entries of the owned items, by user */
    sm_idmap user_map, item_map; /* the whole data set's */
    uint32_t data_crc;           /* sm_ratings_crc of the whole data set */
    sm_part_hooks hooks;         /* gather and any must be set */
} sm_part_input;

/* A trainer for one share, from the seed's draws (resume NULL) or from a
 * model of the same data (its settings apply; threads >= 0 overrides its
 * thread count). Every process must call it with the same data set and
 * settings: the setup gathers the rows' degrees. */
signmf_status sm_part_trainer(sm_part_input *in, const signmf_params *p, const signmf_model *resume,
                              int threads, signmf_trainer **out, signmf_error *err);

/* The model of a share's trainer, with the rated rows of every user
 * (gathered by the caller; users + 1 offsets into rated_idx). Only one
 * process need call it: it communicates nothing once a pass has given the
 * orthonormal method's Rayleigh-Ritz matrix, as every run does at its end
 * (EINVAL otherwise). */
signmf_status sm_part_model(const signmf_trainer *t, const size_t *rated_ptr,
                            const uint32_t *rated_idx, signmf_model **out);

#endif
