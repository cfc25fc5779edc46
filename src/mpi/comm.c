/* The trainer's hooks over MPI and the agreement on failures. */
#include "dist.h"

#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void mp_abort(const mp_ctx *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "signmf-mpi: process %d of %d: %s; ending the job\n", c->rank, c->size, msg);
    fflush(stderr);
    MPI_Abort(c->comm, 1);
    abort(); /* MPI_Abort does not return */
}

int mp_gather(void *ctx, int side, void *base, size_t row_bytes)
{
    mp_ctx *c = ctx;
    double t0 = MPI_Wtime();
    const size_t *b = c->bounds[side];
    for (int r = 0; r < c->size; ++r) {
        c->counts[r] = (int)(b[r + 1] - b[r]);
        c->displs[r] = (int)b[r];
    }
    /* rows in units of a row type, so counts stay far below INT_MAX */
    MPI_Datatype row;
    if (MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row) != MPI_SUCCESS ||
        MPI_Type_commit(&row) != MPI_SUCCESS)
        return -1;
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, base, c->counts, c->displs, row,
                            c->comm);
    MPI_Type_free(&row);
    c->bytes_sent += (uint64_t)c->counts[c->rank] * row_bytes * (uint64_t)(c->size - 1);
    c->comm_seconds += MPI_Wtime() - t0;
    return rc == MPI_SUCCESS ? 0 : -1;
}

int mp_gather_even(void *ctx, void *base, size_t count, size_t elem_bytes)
{
    mp_ctx *c = ctx;
    double t0 = MPI_Wtime();
    size_t P = (size_t)c->size;
    for (size_t r = 0; r < P; ++r) {
        c->displs[r] = (int)(count * r / P);
        c->counts[r] = (int)(count * (r + 1) / P) - c->displs[r];
    }
    MPI_Datatype el;
    if (MPI_Type_contiguous((int)elem_bytes, MPI_BYTE, &el) != MPI_SUCCESS ||
        MPI_Type_commit(&el) != MPI_SUCCESS)
        return -1;
    int rc =
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, base, c->counts, c->displs, el, c->comm);
    MPI_Type_free(&el);
    c->bytes_sent += (uint64_t)c->counts[c->rank] * elem_bytes * (uint64_t)(c->size - 1);
    c->comm_seconds += MPI_Wtime() - t0;
    return rc == MPI_SUCCESS ? 0 : -1;
}

int mp_any(void *ctx, int v)
{
    mp_ctx *c = ctx;
    double t0 = MPI_Wtime();
    int out = 1;
    MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_BOR, c->comm);
    c->comm_seconds += MPI_Wtime() - t0;
    return out;
}

bool mp_failed(mp_ctx *c, signmf_status st, const signmf_error *err)
{
    int mine = st != SIGNMF_OK ? c->rank : c->size, first = c->size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c->comm);
    if (first == c->size)
        return false;
    if (first == c->rank) {
        cli_lib_error(st, err);
        /* one process short of memory is not bad input: say which */
        if (st == SIGNMF_ENOMEM)
            fprintf(stderr, "signmf-mpi: process %d of %d ran out of memory\n", c->rank, c->size);
    }
    return true;
}

void mp_cut(const uint64_t *cost, size_t n, int parts, size_t *bounds)
{
    uint64_t total = 0;
    for (size_t r = 0; r < n; ++r)
        total += cost[r];
    size_t r = 0;
    uint64_t sum = 0;
    bounds[0] = 0;
    for (int p = 1; p < parts; ++p) {
        /* the first row whose prefix reaches p / parts of the total */
        uint64_t goal = (uint64_t)((double)total * p / parts);
        while (r < n && sum + cost[r] <= goal)
            sum += cost[r++];
        bounds[p] = r;
    }
    bounds[parts] = n;
}

int mp_owner(const mp_ctx *c, int side, size_t r)
{
    const size_t *b = c->bounds[side];
    int lo = 0, hi = c->size - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (b[mid] <= r)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}
