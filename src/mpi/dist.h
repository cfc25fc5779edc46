/* signmf-mpi: data-parallel training over MPI. The processes share the
 * rows of P and Q by ownership (train/part.h); this header joins the
 * driver's pieces: communication hooks and counters (comm.c) and the
 * partitioned loading of a ratings file (load.c). */
#ifndef SM_MPI_DIST_H
#define SM_MPI_DIST_H

#include "signs/signs.h"
#include "train/part.h"

#include <mpi.h>

typedef struct mp_ctx {
    MPI_Comm comm;
    int rank, size;
    size_t *bounds[2]; /* size + 1 row bounds of users (0) and items (1) */
    int *counts, *displs;
    /* --mpi-stats: time inside the training hooks and the bytes this
     * process sent there (each owned row to size - 1 others) */
    double comm_seconds;
    uint64_t bytes_sent;
} mp_ctx;

/* A failure of this process alone (out of memory, mostly): the others
 * may be waiting in a collective call, so the message names the process
 * and MPI_Abort ends the whole job. */
_Noreturn void mp_abort(const mp_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The trainer's hooks over ctx (an mp_ctx). */
int mp_gather(void *ctx, int side, void *base, size_t row_bytes);
int mp_any(void *ctx, int v);
int mp_gather_even(void *ctx, void *base, size_t count, size_t elem_bytes);

/* Every process calls it with its own outcome: when any failed, the
 * lowest-ranked failure's message (cli_lib_error form) is printed by that
 * process alone and all return true. */
bool mp_failed(mp_ctx *c, signmf_status st, const signmf_error *err);

/* Rows [0, n) with costs cost[r] cut into c->size contiguous ranges of
 * about equal total: bounds[0 .. size]. */
void mp_cut(const uint64_t *cost, size_t n, int parts, size_t *bounds);
/* The process that owns row r of a side. */
int mp_owner(const mp_ctx *c, int side, size_t r);

/* Load the ratings file: each process parses its own byte range and the
 * triplets travel to their users' owners. Fills in (without hooks) and
 * c->bounds; *owned_ratings counts the ratings of this process's users.
 * With holdout > 0 the owned users' ratings are split as
 * signmf_ratings_split(holdout, seed) splits the whole set: *held gets
 * this process's users' held-out ratings (indices, not ids: its maps are
 * not the data set's) and training sees the rest. Collective; on failure
 * the message has been printed and SIGNMF_E* is returned on every
 * process. */
signmf_status mp_load(mp_ctx *c, const char *path, const signmf_load_options *lo,
                      const sm_sign_options *so, double holdout, uint32_t seed, sm_part_input *in,
                      size_t *owned_ratings, signmf_ratings **held);

/* The rated rows of every user on process 0 (ptr: users + 1, idx), from
 * the owners' D and neutral rows. Collective; NULLs elsewhere. */
signmf_status mp_rated_rows(mp_ctx *c, const sm_signs *by_user, const sm_zeros *zero, size_t users,
                            size_t **ptr, uint32_t **idx);

#endif
