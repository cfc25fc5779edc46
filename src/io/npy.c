/* Dense .npy ratings: a 2-D users x items array where 0 means unrated.
 * Rows and columns map directly to ids r + 1 and c + 1, and every row and
 * column is kept even when empty, so the shape survives a round trip. */
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SM_K_BOOL, SM_K_UINT, SM_K_INT, SM_K_FLOAT } sm_kind;

typedef struct sm_dtype {
    const char *name;
    sm_kind kind;
    size_t size;
} sm_dtype;

static const sm_dtype sm_dtypes[] = {
    {"|b1", SM_K_BOOL, 1}, {"|u1", SM_K_UINT, 1},  {"|i1", SM_K_INT, 1},   {"<u2", SM_K_UINT, 2},
    {"<i2", SM_K_INT, 2},  {"<u4", SM_K_UINT, 4},  {"<i4", SM_K_INT, 4},   {"<u8", SM_K_UINT, 8},
    {"<i8", SM_K_INT, 8},  {"<f4", SM_K_FLOAT, 4}, {"<f8", SM_K_FLOAT, 8},
};

static uint64_t sm_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;)
        v = v << 8 | p[k];
    return v;
}

static inline double sm_npy_get(const unsigned char *p, const sm_dtype *dt)
{
    uint64_t bits = sm_le(p, dt->size);
    switch (dt->kind) {
    case SM_K_BOOL:
        return bits ? 1.0 : 0.0;
    case SM_K_UINT:
        return (double)bits;
    case SM_K_INT: {
        unsigned shift = (unsigned)(64 - 8 * dt->size);
        return (double)((int64_t)(bits << shift) >> shift);
    }
    default:
        if (dt->size == 4) {
            uint32_t b = (uint32_t)bits;
            float f;
            memcpy(&f, &b, sizeof f);
            return (double)f;
        } else {
            double d;
            memcpy(&d, &bits, sizeof d);
            return d;
        }
    }
}

typedef struct sm_hdr {
    const char *p, *e;
    const char *name;
    signmf_error *err;
} sm_hdr;

static void sm_hdr_ws(sm_hdr *h)
{
    while (h->p < h->e && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static signmf_status sm_hdr_bad(sm_hdr *h, const char *what)
{
    char found[48];
    size_t n = 0;
    for (const char *q = h->p; q < h->e && n < 24; q++)
        found[n++] = (*q >= 0x20 && *q < 0x7f) ? *q : '?';
    found[n] = '\0';
    return sm_fail(h->err, SIGNMF_EFORMAT, "%s: npy header: expected %s, found '%s'", h->name, what,
                   found);
}

static bool sm_hdr_string(sm_hdr *h, const char **s, size_t *n)
{
    sm_hdr_ws(h);
    if (h->p >= h->e || (*h->p != '\'' && *h->p != '"'))
        return false;
    char q = *h->p++;
    const char *start = h->p;
    while (h->p < h->e && *h->p != q)
        h->p++;
    if (h->p >= h->e)
        return false;
    *s = start;
    *n = (size_t)(h->p - start);
    h->p++;
    return true;
}

static bool sm_hdr_lit(sm_hdr *h, const char *lit)
{
    sm_hdr_ws(h);
    size_t n = strlen(lit);
    if ((size_t)(h->e - h->p) < n || memcmp(h->p, lit, n) != 0)
        return false;
    h->p += n;
    return true;
}

typedef struct sm_npy_info {
    const sm_dtype *dt;
    bool fortran;
    size_t ndim;
    uint64_t shape[8];
    size_t data_off;
} sm_npy_info;

static signmf_status sm_npy_header(const char *name, const unsigned char *buf, size_t len,
                                   sm_npy_info *info, signmf_error *err)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: expected the .npy magic '\\x93NUMPY', not found",
                       name);
    unsigned major = buf[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)sm_le(buf + 8, 2);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return sm_fail(err, SIGNMF_EFORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)sm_le(buf + 8, 4);
        hoff = 12;
    } else {
        return sm_fail(err, SIGNMF_EUNSUPPORTED,
                       "%s: expected .npy format version 1, 2 or 3, found %u.%u", name, major,
                       buf[7]);
    }
    if (hlen > len - hoff)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: truncated .npy header: expected %zu header bytes, found %zu", name,
                       hlen, len - hoff);
    sm_hdr h = {(const char *)buf + hoff, (const char *)buf + hoff + hlen, name, err};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!sm_hdr_lit(&h, "{"))
        return sm_hdr_bad(&h, "'{'");
    for (;;) {
        sm_hdr_ws(&h);
        if (sm_hdr_lit(&h, "}"))
            break;
        const char *key;
        size_t kn;
        if (!sm_hdr_string(&h, &key, &kn))
            return sm_hdr_bad(&h, "a quoted key");
        if (!sm_hdr_lit(&h, ":"))
            return sm_hdr_bad(&h, "':'");
        sm_hdr_ws(&h);
        if (kn == 5 && memcmp(key, "descr", 5) == 0) {
            const char *d;
            size_t dn;
            if (h.p < h.e && *h.p == '[')
                return sm_fail(err, SIGNMF_EUNSUPPORTED,
                               "%s: structured dtype is not supported (expected one of <f4 <f8 "
                               "<i4 <i8 <i2 |u1 ...)",
                               name);
            if (!sm_hdr_string(&h, &d, &dn))
                return sm_hdr_bad(&h, "a dtype string");
            info->dt = NULL;
            for (size_t k = 0; k < sizeof sm_dtypes / sizeof *sm_dtypes; k++)
                if (strlen(sm_dtypes[k].name) == dn && memcmp(sm_dtypes[k].name, d, dn) == 0)
                    info->dt = &sm_dtypes[k];
            if (!info->dt) {
                const char *why = "";
                if (dn && d[0] == '>')
                    why = "big-endian ";
                else if (dn > 1 && d[1] == 'O')
                    why = "object ";
                else if (dn > 1 && d[1] == 'c')
                    why = "complex ";
                return sm_fail(err, SIGNMF_EUNSUPPORTED,
                               "%s: %sdtype '%.*s' is not supported (expected one of <f4 <f8 "
                               "<i4 <i8 <i2 <u2 <u4 <u8 |u1 |i1 |b1)",
                               name, why, (int)(dn > 32 ? 32 : dn), d);
            }
            have_descr = true;
        } else if (kn == 13 && memcmp(key, "fortran_order", 13) == 0) {
            if (sm_hdr_lit(&h, "True"))
                info->fortran = true;
            else if (sm_hdr_lit(&h, "False"))
                info->fortran = false;
            else
                return sm_hdr_bad(&h, "True or False");
            have_order = true;
        } else if (kn == 5 && memcmp(key, "shape", 5) == 0) {
            if (!sm_hdr_lit(&h, "("))
                return sm_hdr_bad(&h, "'('");
            info->ndim = 0;
            for (;;) {
                sm_hdr_ws(&h);
                if (sm_hdr_lit(&h, ")"))
                    break;
                uint64_t v = 0;
                const char *s = h.p;
                while (h.p < h.e && *h.p >= '0' && *h.p <= '9') {
                    if (v > (UINT64_MAX - 9) / 10)
                        return sm_hdr_bad(&h, "a dimension below 2^64");
                    v = v * 10 + (uint64_t)(*h.p++ - '0');
                }
                if (h.p == s)
                    return sm_hdr_bad(&h, "a dimension");
                if (info->ndim == 8)
                    return sm_fail(err, SIGNMF_EFORMAT,
                                   "%s: expected a 2-D array, found more than 8 dimensions", name);
                info->shape[info->ndim++] = v;
                sm_hdr_ws(&h);
                if (sm_hdr_lit(&h, ")"))
                    break;
                if (!sm_hdr_lit(&h, ","))
                    return sm_hdr_bad(&h, "',' or ')'");
            }
            have_shape = true;
        } else {
            return sm_fail(err, SIGNMF_EFORMAT, "%s: npy header: unexpected key '%.*s'", name,
                           (int)(kn > 32 ? 32 : kn), key);
        }
        sm_hdr_ws(&h);
        if (sm_hdr_lit(&h, "}"))
            break;
        if (!sm_hdr_lit(&h, ","))
            return sm_hdr_bad(&h, "',' or '}'");
    }
    if (!have_descr || !have_order || !have_shape)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: npy header: expected keys 'descr', "
                       "'fortran_order' and 'shape', found %s%s%s missing",
                       name, have_descr ? "" : "'descr' ", have_order ? "" : "'fortran_order' ",
                       have_shape ? "" : "'shape' ");
    info->data_off = hoff + hlen;
    return SIGNMF_OK;
}

signmf_status sm_npy_check(const char *name, const unsigned char *buf, size_t len,
                           sm_npy_layout *lay, signmf_error *err)
{
    sm_npy_info info = {0};
    signmf_status st = sm_npy_header(name, buf, len, &info, err);
    if (st != SIGNMF_OK)
        return st;
    if (info.ndim != 2) {
        char shape[160] = "(";
        size_t o = 1;
        for (size_t k = 0; k < info.ndim && o < 120; k++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%llu", k ? ", " : "",
                                  (unsigned long long)info.shape[k]);
        snprintf(shape + o, sizeof shape - o, "%s)", info.ndim == 1 ? "," : "");
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: expected a 2-D array (users x items), found shape %s", name, shape);
    }
    for (int k = 0; k < 2; k++)
        if (info.shape[k] > SM_MAX_DIM)
            return sm_fail(err, SIGNMF_ERANGE, "%s: expected at most %zu %s, found %llu", name,
                           SM_MAX_DIM, k ? "columns" : "rows", (unsigned long long)info.shape[k]);
    size_t rows = (size_t)info.shape[0], cols = (size_t)info.shape[1], cells, bytes;
    if (sm_mul_overflows(rows, cols, &cells) || sm_mul_overflows(cells, info.dt->size, &bytes))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: a %zu x %zu array does not fit in memory", name,
                       rows, cols);
    size_t found = len - info.data_off;
    if (found < bytes)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: truncated data: expected %zu bytes for a %zu x %zu %s array, found "
                       "%zu",
                       name, bytes, rows, cols, info.dt->name, found);
    if (found > bytes)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: expected %zu data bytes for a %zu x %zu %s array, found %zu "
                       "(trailing data)",
                       name, bytes, rows, cols, info.dt->name, found);
    if (cells == 0)
        return sm_fail(err, SIGNMF_EEMPTY, "%s: no ratings (the array is %zu x %zu)", name, rows,
                       cols);
    lay->dt = info.dt;
    lay->fortran = info.fortran;
    lay->rows = rows;
    lay->cols = cols;
    lay->es = info.dt->size;
    lay->data_off = info.data_off;
    return SIGNMF_OK;
}

/* sm_npy_rows' walk; inlined once with b and once with NULL, so that the
 * counting pass of sm_npy_load tests no buffer per cell. */
static inline __attribute__((always_inline)) signmf_status
npy_walk(const char *name, const sm_npy_layout *lay, const unsigned char *data, size_t r0,
         size_t nrows, const signmf_load_options *opt, sm_tbuf *b, size_t *nnz_out,
         signmf_error *err)
{
    const sm_dtype *dt = lay->dt;
    const size_t es = lay->es, cols = lay->cols;
    /* Element (r, c) in either memory order; the walk is always row-major
     * so the triplets come out sorted by (user, item). */
    const size_t rstride = lay->fortran ? es : cols * es;
    const size_t cstride = lay->fortran ? nrows * es : es;
    size_t nnz = 0;
    *nnz_out = 0;
    for (size_t r = 0; r < nrows; r++) {
        const unsigned char *row = data + r * rstride;
        for (size_t c = 0; c < cols; c++) {
            double v = sm_npy_get(row + c * cstride, dt);
            if (v == 0)
                continue;
            if (!isfinite(v))
                return sm_fail(err, SIGNMF_ERANGE,
                               "%s: expected a finite rating at [%zu, %zu], "
                               "found %g",
                               name, r0 + r, c, v);
            if (v < opt->rating_min || v > opt->rating_max)
                return sm_fail(err, SIGNMF_ERANGE,
                               "%s: expected a rating in [%g, %g] at [%zu, %zu], found %g", name,
                               opt->rating_min, opt->rating_max, r0 + r, c, v);
            signmf_status st;
            if (b &&
                (st = sm_tbuf_push(b, (int64_t)(r0 + r) + 1, (int64_t)c + 1, v, 0)) != SIGNMF_OK)
                return sm_fail(err, st, "%s: out of memory for %zu ratings", name, nnz + 1);
            nnz++;
        }
    }
    *nnz_out = nnz;
    return SIGNMF_OK;
}

signmf_status sm_npy_rows(const char *name, const sm_npy_layout *lay, const unsigned char *data,
                          size_t r0, size_t nrows, const signmf_load_options *opt, sm_tbuf *b,
                          size_t *nnz_out, signmf_error *err)
{
    return b ? npy_walk(name, lay, data, r0, nrows, opt, b, nnz_out, err)
             : npy_walk(name, lay, data, r0, nrows, opt, NULL, nnz_out, err);
}

signmf_status sm_npy_load(const char *name, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err)
{
    *out = NULL;
    sm_npy_layout lay;
    signmf_status st = sm_npy_check(name, buf, len, &lay, err);
    if (st != SIGNMF_OK)
        return st;
    const size_t rows = lay.rows, cols = lay.cols, es = lay.es;
    const unsigned char *data = buf + lay.data_off;
    size_t nnz = 0;
    if ((st = sm_npy_rows(name, &lay, data, 0, rows, opt, NULL, &nnz, err)) != SIGNMF_OK)
        return st;
    if (nnz == 0)
        return sm_fail(err, SIGNMF_EEMPTY,
                       "%s: no ratings (every entry of the %zu x %zu array "
                       "is 0)",
                       name, rows, cols);
    const sm_dtype *dt = lay.dt;
    const size_t rstride = lay.fortran ? es : cols * es;
    const size_t cstride = lay.fortran ? rows * es : es;
    signmf_ratings *res;
    if ((st = sm_ratings_alloc_direct(rows, cols, nnz, &res)) != SIGNMF_OK)
        return sm_fail(err, st, "%s: out of memory for %zu ratings", name, nnz);
    size_t k = 0;
    for (size_t r = 0; r < rows; r++) {
        const unsigned char *row = data + r * rstride;
        for (size_t c = 0; c < cols; c++) {
            double v = sm_npy_get(row + c * cstride, dt);
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
