/* Ratings from arrays in the caller's memory (dense matrices and CSR), read
 * in place, for bindings that hold numpy or scipy arrays: the only copy is
 * the ratings set itself, and the triplets come out sorted, so nothing is
 * sorted or mapped again. */
#include "load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double get_value(const char *p, signmf_dtype t)
{
    if (t == SIGNMF_DTYPE_F32) {
        float f;
        memcpy(&f, p, sizeof f);
        return (double)f;
    }
    double d;
    memcpy(&d, p, sizeof d);
    return d;
}

static int64_t get_index(const void *a, signmf_dtype t, size_t i)
{
    if (t == SIGNMF_DTYPE_I32) {
        int32_t v;
        memcpy(&v, (const char *)a + i * sizeof v, sizeof v);
        return v;
    }
    int64_t v;
    memcpy(&v, (const char *)a + i * sizeof v, sizeof v);
    return v;
}

static size_t value_size(signmf_dtype t)
{
    return t == SIGNMF_DTYPE_F32 ? 4 : 8;
}

/* id_base 1: the direct maps of the file loaders; otherwise explicit maps
 * index + id_base, which need no search structure beyond being sorted. */
static signmf_status set_maps(signmf_ratings *r, int64_t id_base)
{
    if (id_base == 1)
        return SIGNMF_OK;
    sm_idmap *maps[2] = {&r->user_map, &r->item_map};
    size_t n[2] = {r->users, r->items};
    for (int a = 0; a < 2; a++) {
        int64_t *ids = sm_alloc(n[a] ? n[a] : 1, sizeof *ids);
        if (!ids)
            return SIGNMF_ENOMEM;
        for (size_t i = 0; i < n[a]; i++)
            ids[i] = id_base + (int64_t)i;
        *maps[a] = (sm_idmap){.direct = false, .count = n[a], .ids = ids};
    }
    return SIGNMF_OK;
}

static signmf_status check_shape(size_t rows, size_t cols, int64_t id_base, const char *what,
                                 signmf_error *err)
{
    if (rows > SM_MAX_DIM || cols > SM_MAX_DIM)
        return sm_fail(err, SIGNMF_ERANGE,
                       "%s: expected at most %zu rows and columns, found %zu x %zu", what,
                       SM_MAX_DIM, rows, cols);
    if (id_base < 0 || (uint64_t)id_base > (uint64_t)INT64_MAX - SM_MAX_DIM)
        return sm_fail(err, SIGNMF_EINVAL,
                       "%s: expected an id base in [0, 2^63 - 2^32], found %lld", what,
                       (long long)id_base);
    if (rows == 0 || cols == 0)
        return sm_fail(err, SIGNMF_EEMPTY, "%s: no ratings (the matrix is %zu x %zu)", what, rows,
                       cols);
    return SIGNMF_OK;
}

signmf_status signmf_ratings_from_dense(const void *data, signmf_dtype dtype, size_t rows,
                                        size_t cols, ptrdiff_t row_stride, ptrdiff_t col_stride,
                                        int64_t id_base, signmf_ratings **out, signmf_error *err)
{
    static const char what[] = "dense matrix";
    sm_error_clear(err);
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_dense: out is NULL");
    *out = NULL;
    if (dtype != SIGNMF_DTYPE_F64 && dtype != SIGNMF_DTYPE_F32)
        return sm_fail(err, SIGNMF_EUNSUPPORTED, "%s: expected float64 or float32 values", what);
    signmf_status st = check_shape(rows, cols, id_base, what, err);
    if (st != SIGNMF_OK)
        return st;
    if (!data)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_dense: data is NULL");
    const char *base = data;
    /* Two passes, count then fill, so the set is allocated at its size
     * instead of grown: the matrix is read twice but never copied. */
    size_t nnz = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *row = base + (ptrdiff_t)r * row_stride;
        for (size_t c = 0; c < cols; c++) {
            double v = get_value(row + (ptrdiff_t)c * col_stride, dtype);
            if (v == 0)
                continue;
            if (!isfinite(v))
                return sm_fail(err, SIGNMF_ERANGE,
                               "%s: expected a finite rating at [%zu, %zu], found %g", what, r, c,
                               v);
            nnz++;
        }
    }
    if (nnz == 0)
        return sm_fail(err, SIGNMF_EEMPTY,
                       "%s: no ratings (every entry of the %zu x %zu matrix is 0)", what, rows,
                       cols);
    signmf_ratings *res;
    if ((st = sm_ratings_alloc_direct(rows, cols, nnz, &res)) != SIGNMF_OK ||
        (st = set_maps(res, id_base)) != SIGNMF_OK) {
        signmf_ratings_free(res);
        return sm_fail(err, st, "%s: out of memory for %zu ratings", what, nnz);
    }
    size_t k = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *row = base + (ptrdiff_t)r * row_stride;
        for (size_t c = 0; c < cols; c++) {
            double v = get_value(row + (ptrdiff_t)c * col_stride, dtype);
            if (v == 0)
                continue;
            res->user[k] = (uint32_t)r;
            res->item[k] = (uint32_t)c;
            res->value[k] = v;
            k++;
        }
    }
    *out = res;
    return SIGNMF_OK;
}

typedef struct entry {
    uint32_t item;
    double value;
} entry;

static int cmp_entry(const void *a, const void *b)
{
    uint32_t x = ((const entry *)a)->item, y = ((const entry *)b)->item;
    return (x > y) - (x < y);
}

/* Sort one row's (item, value) pairs in place in the set's arrays; only
 * unsorted rows pay for it (scipy keeps most CSR matrices sorted). */
static signmf_status sort_row(signmf_ratings *r, size_t a, size_t b)
{
    entry *e = malloc((b - a) * sizeof *e);
    if (!e)
        return SIGNMF_ENOMEM;
    for (size_t k = a; k < b; k++)
        e[k - a] = (entry){r->item[k], r->value[k]};
    qsort(e, b - a, sizeof *e, cmp_entry);
    for (size_t k = a; k < b; k++) {
        r->item[k] = e[k - a].item;
        r->value[k] = e[k - a].value;
    }
    free(e);
    return SIGNMF_OK;
}

signmf_status signmf_ratings_from_csr(size_t rows, size_t cols, const void *indptr,
                                      signmf_dtype indptr_type, const void *indices,
                                      signmf_dtype index_type, const void *values,
                                      signmf_dtype value_type, int64_t id_base,
                                      signmf_ratings **out, signmf_error *err)
{
    static const char what[] = "CSR matrix";
    sm_error_clear(err);
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_csr: out is NULL");
    *out = NULL;
    if ((indptr_type != SIGNMF_DTYPE_I32 && indptr_type != SIGNMF_DTYPE_I64) ||
        (index_type != SIGNMF_DTYPE_I32 && index_type != SIGNMF_DTYPE_I64))
        return sm_fail(err, SIGNMF_EUNSUPPORTED, "%s: expected int32 or int64 indptr and indices",
                       what);
    if (value_type != SIGNMF_DTYPE_F64 && value_type != SIGNMF_DTYPE_F32)
        return sm_fail(err, SIGNMF_EUNSUPPORTED, "%s: expected float64 or float32 values", what);
    signmf_status st = check_shape(rows, cols, id_base, what, err);
    if (st != SIGNMF_OK)
        return st;
    if (!indptr)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_csr: indptr is NULL");
    int64_t first = get_index(indptr, indptr_type, 0);
    if (first != 0)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: expected indptr[0] = 0, found %lld", what,
                       (long long)first);
    int64_t end = get_index(indptr, indptr_type, rows);
    if (end > 0 && (!indices || !values))
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_csr: indices or values is NULL");
    const char *vals = values;
    const size_t vs = value_size(value_type);
    size_t nnz = 0;
    int64_t prev = 0;
    for (size_t r = 0; r < rows; r++) {
        int64_t next = get_index(indptr, indptr_type, r + 1);
        if (next < prev)
            return sm_fail(err, SIGNMF_EFORMAT,
                           "%s: expected non-decreasing indptr, found indptr[%zu] = %lld after "
                           "%lld",
                           what, r + 1, (long long)next, (long long)prev);
        for (int64_t k = prev; k < next; k++) {
            int64_t c = get_index(indices, index_type, (size_t)k);
            if (c < 0 || (uint64_t)c >= cols)
                return sm_fail(err, SIGNMF_ERANGE,
                               "%s: row %zu: expected a column index in [0, %zu), found %lld", what,
                               r, cols, (long long)c);
            double v = get_value(vals + (size_t)k * vs, value_type);
            if (v == 0)
                continue;
            if (!isfinite(v))
                return sm_fail(err, SIGNMF_ERANGE,
                               "%s: expected a finite rating at [%zu, %lld], found %g", what, r,
                               (long long)c, v);
            nnz++;
        }
        prev = next;
    }
    if (nnz == 0)
        return sm_fail(err, SIGNMF_EEMPTY, "%s: no ratings (no nonzero entry in %zu x %zu)", what,
                       rows, cols);
    signmf_ratings *res;
    if ((st = sm_ratings_alloc_direct(rows, cols, nnz, &res)) != SIGNMF_OK ||
        (st = set_maps(res, id_base)) != SIGNMF_OK) {
        signmf_ratings_free(res);
        return sm_fail(err, st, "%s: out of memory for %zu ratings", what, nnz);
    }
    size_t n = 0;
    prev = 0;
    for (size_t r = 0; r < rows; r++) {
        int64_t next = get_index(indptr, indptr_type, r + 1);
        size_t row0 = n;
        bool sorted = true;
        for (int64_t k = prev; k < next; k++) {
            double v = get_value(vals + (size_t)k * vs, value_type);
            if (v == 0)
                continue;
            uint32_t c = (uint32_t)get_index(indices, index_type, (size_t)k);
            if (n > row0 && c <= res->item[n - 1])
                sorted = false;
            res->user[n] = (uint32_t)r;
            res->item[n] = c;
            res->value[n] = v;
            n++;
        }
        prev = next;
        if (!sorted && sort_row(res, row0, n) != SIGNMF_OK) {
            signmf_ratings_free(res);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory sorting row %zu", what, r);
        }
        for (size_t k = row0 + 1; k < n; k++)
            if (res->item[k] == res->item[k - 1]) {
                uint32_t c = res->item[k];
                signmf_ratings_free(res);
                return sm_fail(err, SIGNMF_EDUPLICATE,
                               "%s: row %zu: column %u is given twice (duplicate entries)", what, r,
                               c);
            }
    }
    *out = res;
    return SIGNMF_OK;
}
