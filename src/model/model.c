/* Models: allocation, accessors and the model file.
 *
 * File format, version 2. Little-endian; laid out so that a server can mmap
 * the file read-only and use the arrays in place.
 *
 *   0   magic "\x89SIGNMF\n" (the high byte and newline catch text-mode
 *       transfers, as in PNG)
 *   8   u32 format version (2)          12  u32 header size (256)
 *   16  u32 flags (0)                   20  u32 precision (0 f32, 1 f64,
 *                                           2 bf16: every factor section, P,
 *                                           Qt, Q panels and the states, holds
 *                                           2-byte bf16, signmf.h)
 *   24  u64 users   32 u64 items   40 u64 dim   48 u64 epochs
 *   56  f64 log_scale                   64  f64 last_loss
 *   72  params: u64 dim, f64 lr, u32 seed, i32 threads, u32 precision (of
 *       training: 2 = bf16, whose factors are stored as f32),
 *       u32 sign_rule, f64 threshold, i32 rescale      (72 .. 116)
 *   116 u32 data_crc (CRC-32 of the training ratings)
 *   120 u32 user map mode, 124 u32 item map mode (1 direct, 2 compact)
 *   128 u64 rated count                 136 u64 file length
 *   144 section table: 6 x (u64 offset, u64 length): P, Qt, user ids,
 *       item ids, rated_ptr, rated_idx                   (144 .. 240)
 *   240 f64 rescale reference: the loss estimate the next --rescale
 *       decision is taken from (part of the optimiser position)
 *   248 u32 CRC-32 of bytes [0, 248): the header alone, so that a damaged
 *       size field reads as damage rather than as truncation
 *   252 u32 CRC-32 of the whole file except these 4 bytes
 *
 * Sections follow in table order, each at the first 64-byte boundary after
 * the previous one (zero padding), so P and Qt are SM_ALIGN-aligned in a
 * mapping. P is users x dim and Qt items x dim, row-major, in the model
 * precision; compact id maps are sorted int64 arrays (binary-searchable in
 * place), empty for direct maps; rated_ptr is u64[users + 1] and rated_idx
 * u32[rated count].
 *
 * Version 2 adds a seventh section after rated_idx, at the next 64-byte
 * boundary: "Q panels", Qt packed for the scoring kernels (kernels.h:
 * panels of 16 items, zero-padded), ceil(items / 16) * 16 * dim elements.
 * It is what serving reads, so a mapped model scores without packing or
 * copying anything. Its place and length follow from the dimensions, so
 * the header's table keeps its six entries. Version 1 files (no panels)
 * still open: the panels are then built at open, in memory.
 *
 * Version 3 (signmf_method) makes the u32 at 16, the flags (0) of
 * earlier versions, the method: 0 notebook, 1 orthonormal. The panels then
 * hold Qt times sigma (signmf.h, Scores), and five more sections follow,
 * each at the next 64-byte boundary, with places and lengths that follow
 * from the dimensions and the method:
 *   "parameters" 64 bytes: f64 rated_weight, f64 degree_exp, zeros;
 *   "sigma" f64[dim];
 *   and for the orthonormal method only (empty otherwise):
 *   "item degrees" u32[items], the training ratings of each item (fold-in);
 *   "P state" users x dim and "Qt state" items x dim in the model
 *   precision: the trainer's orthonormal state, which resume continues.
 * Versions 1 and 2 open as notebook models with sigma = 1.
 *
 * Version 4 adds the shrink (signmf_method) to the parameters block: f64
 * shrink t at 16 and f64 tau at 24, so that sigma holds the Ritz values
 * less tau and fold-in can divide by the Ritz values themselves. Version 3
 * has zeros there (no shrink), so it opens with the same reader; the
 * version goes up because a version 3 reader would fold users in wrongly
 * with a shrunk sigma.
 * The file ends at the end of the last section. */
#include "model/model.h"

#include "kernels/bf16.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The on-disk rated_ptr is u64 and is used in place as size_t. */
_Static_assert(sizeof(size_t) == 8, "the model file format assumes a 64-bit size_t");

#define SM_MODEL_MAGIC   "\x89SIGNMF\n"
#define SM_MODEL_VERSION 4u
#define SM_MODEL_HEADER  256u
#define SM_SECTIONS      12
#define SM_SECTIONS_V2   7
#define SM_EXT_BYTES     64
#define SM_TABLE         6 /* sections listed in the header */
#define SM_MAP_DIRECT    1u
#define SM_MAP_COMPACT   2u

enum {
    SEC_P,
    SEC_QT,
    SEC_UIDS,
    SEC_IIDS,
    SEC_RPTR,
    SEC_RIDX,
    SEC_QP,
    SEC_EXT,
    SEC_SIGMA,
    SEC_IDEG,
    SEC_PST,
    SEC_QST
};
static const char *const sm_section_names[SM_SECTIONS] = {
    "P",        "Qt",         "user ids", "item ids",     "rated_ptr", "rated_idx",
    "Q panels", "parameters", "sigma",    "item degrees", "P state",   "Qt state"};

/* ---------------------------------------------------------------- */
/* Allocation and accessors                                          */
/* ---------------------------------------------------------------- */

signmf_status sm_model_alloc(size_t users, size_t items, size_t dim, signmf_precision precision,
                             size_t rated_count, signmf_model **out)
{
    *out = NULL;
    size_t np, nq, nr, npk;
    if (sm_mul_overflows(users, dim, &np) || sm_mul_overflows(items, dim, &nq) ||
        sm_mul_overflows(np, sm_elem_size(precision), &np) ||
        sm_mul_overflows(nq, sm_elem_size(precision), &nq) || sm_add_overflows(users, 1, &nr) ||
        !sm_packed_bytes(items, dim, sm_elem_size(precision), &npk))
        return SIGNMF_EOVERFLOW;
    signmf_model *m = calloc(1, sizeof *m);
    if (!m)
        return SIGNMF_ENOMEM;
    m->users = users;
    m->items = items;
    m->dim = dim;
    m->precision = precision;
    m->params.dim = dim;
    m->params.precision = precision;
    m->last_loss = NAN;
    m->user_map.direct = m->item_map.direct = true;
    m->P = sm_alloc(np, 1);
    m->Qt = sm_alloc(nq, 1);
    m->Qp = sm_alloc(npk, 1);
    m->rated_ptr = sm_calloc(nr, sizeof *m->rated_ptr);
    m->rated_idx = sm_alloc(rated_count, sizeof *m->rated_idx);
    m->sigma = sm_alloc(dim ? dim : 1, sizeof *m->sigma);
    m->sigma_owned = true;
    for (size_t t = 0; m->sigma && t < dim; ++t)
        m->sigma[t] = 1.0;
    if (!m->P || !m->Qt || !m->Qp || !m->rated_ptr || !m->rated_idx || !m->sigma) {
        signmf_model_free(m);
        return SIGNMF_ENOMEM;
    }
    *out = m;
    return SIGNMF_OK;
}

bool sm_packed_bytes(size_t items, size_t dim, size_t es, size_t *out)
{
    size_t n = items / SM_PANEL + (items % SM_PANEL != 0);
    return !sm_mul_overflows(n, SM_PANEL * es, &n) && !sm_mul_overflows(n, dim, out);
}

signmf_status sm_model_alloc_ortho(signmf_model *m)
{
    size_t es = sm_elem_size(m->precision), np, nq;
    if (sm_mul_overflows(m->users, m->dim, &np) || sm_mul_overflows(m->items, m->dim, &nq))
        return SIGNMF_EOVERFLOW;
    m->item_degree = sm_alloc(m->items ? m->items : 1, sizeof *m->item_degree);
    m->Pst = sm_alloc(np ? np : 1, es);
    m->Qst = sm_alloc(nq ? nq : 1, es);
    m->ortho_owned = true;
    m->params.method = SIGNMF_METHOD_ORTHONORMAL;
    return m->item_degree && m->Pst && m->Qst ? SIGNMF_OK : SIGNMF_ENOMEM;
}

void sm_model_pack(signmf_model *m)
{
    const sm_kernels *k = sm_kernels_active();
    if (m->precision == SIGNMF_F64)
        k->pack_f64(m->Qt, m->dim, m->items, m->dim, m->Qp);
    else if (m->precision == SIGNMF_BF16)
        k->pack_bf16(m->Qt, m->dim, m->items, m->dim, m->Qp);
    else
        k->pack_f32(m->Qt, m->dim, m->items, m->dim, m->Qp);
    if (m->params.method != SIGNMF_METHOD_ORTHONORMAL)
        return;
    /* panel b, element t, lane l: Qp[(b * dim + t) * 16 + l] */
    size_t panels = (m->items + SM_PANEL - 1) / SM_PANEL;
    for (size_t b = 0; b < panels; ++b)
        for (size_t t = 0; t < m->dim; ++t) {
            size_t at = (b * m->dim + t) * SM_PANEL;
            for (size_t l = 0; l < SM_PANEL; ++l) {
                if (m->precision == SIGNMF_F64)
                    ((double *)m->Qp)[at + l] *= m->sigma[t];
                else if (m->precision == SIGNMF_BF16) /* via float32, as the f32 model */
                    ((uint16_t *)m->Qp)[at + l] = sm_bf16_from_f32(
                        (float)(m->sigma[t] * (double)sm_bf16_to_f32(((uint16_t *)m->Qp)[at + l])));
                else
                    ((float *)m->Qp)[at + l] =
                        (float)(m->sigma[t] * (double)((float *)m->Qp)[at + l]);
            }
        }
}

void signmf_model_free(signmf_model *m)
{
    if (!m)
        return;
    if (m->map_base) {
        /* Everything that points into the mapping goes with it. */
        munmap(m->map_base, m->map_len);
        if (m->qp_owned)
            sm_free(m->Qp);
        if (m->sigma_owned)
            sm_free(m->sigma);
        if (m->ortho_owned) {
            sm_free(m->item_degree);
            sm_free(m->Pst);
            sm_free(m->Qst);
        }
    } else {
        sm_free(m->sigma);
        sm_free(m->item_degree);
        sm_free(m->Pst);
        sm_free(m->Qst);
        sm_free(m->P);
        sm_free(m->Qt);
        sm_free(m->Qp);
        sm_free(m->rated_ptr);
        sm_free(m->rated_idx);
        sm_idmap_release(&m->user_map);
        sm_idmap_release(&m->item_map);
    }
    free(m);
}

size_t signmf_model_users(const signmf_model *m)
{
    return m ? m->users : 0;
}
size_t signmf_model_items(const signmf_model *m)
{
    return m ? m->items : 0;
}
size_t signmf_model_dim(const signmf_model *m)
{
    return m ? m->dim : 0;
}
signmf_precision signmf_model_precision(const signmf_model *m)
{
    return m ? m->precision : SIGNMF_F32;
}
uint64_t signmf_model_epochs(const signmf_model *m)
{
    return m ? m->epochs : 0;
}
signmf_method signmf_model_method(const signmf_model *m)
{
    return m ? m->params.method : SIGNMF_METHOD_NOTEBOOK;
}
const double *signmf_model_sigma(const signmf_model *m)
{
    return m ? m->sigma : NULL;
}
double signmf_model_shrink_tau(const signmf_model *m)
{
    return m ? m->sigma_tau : 0.0;
}
double signmf_model_loss(const signmf_model *m)
{
    return m ? m->last_loss : NAN;
}
const void *signmf_model_user_factors(const signmf_model *m)
{
    return m ? m->P : NULL;
}
const void *signmf_model_item_factors(const signmf_model *m)
{
    return m ? m->Qt : NULL;
}
signmf_params signmf_model_params(const signmf_model *m)
{
    signmf_params p;
    memset(&p, 0, sizeof p);
    return m ? m->params : p;
}

/* Out-of-range indices have no id; 0 is never a valid direct id and is
 * what we return rather than reading past the map. */
int64_t signmf_model_user_id(const signmf_model *m, size_t index)
{
    if (!m || index >= m->users)
        return 0;
    return sm_idmap_id(&m->user_map, index);
}

int64_t signmf_model_item_id(const signmf_model *m, size_t index)
{
    if (!m || index >= m->items)
        return 0;
    return sm_idmap_id(&m->item_map, index);
}

static signmf_status sm_lookup(const sm_idmap *map, size_t dim, int64_t id, size_t *index)
{
    if (!index)
        return SIGNMF_EINVAL;
    size_t i;
    signmf_status st = sm_idmap_index(map, id, &i);
    if (st != SIGNMF_OK)
        return st;
    if (i >= dim)
        return SIGNMF_ENOTFOUND;
    *index = i;
    return SIGNMF_OK;
}

signmf_status signmf_model_user_index(const signmf_model *m, int64_t id, size_t *index)
{
    if (!m)
        return SIGNMF_EINVAL;
    return sm_lookup(&m->user_map, m->users, id, index);
}

signmf_status signmf_model_item_index(const signmf_model *m, int64_t id, size_t *index)
{
    if (!m)
        return SIGNMF_EINVAL;
    return sm_lookup(&m->item_map, m->items, id, index);
}

/* ---------------------------------------------------------------- */
/* CRC helpers                                                       */
/* ---------------------------------------------------------------- */

/* zlib takes uInt lengths; feed large buffers in pieces. */
static uint32_t sm_crc(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        crc = (uint32_t)crc32(crc, p, (uInt)chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}

static const unsigned char sm_pad_zeros[64];

uint32_t sm_ratings_crc(const signmf_ratings *r)
{
    uint64_t dims[3] = {r->users, r->items, r->count};
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    crc = sm_crc(crc, dims, sizeof dims);
    crc = sm_crc(crc, r->user, r->count * sizeof *r->user);
    crc = sm_crc(crc, r->item, r->count * sizeof *r->item);
    crc = sm_crc(crc, r->value, r->count * sizeof *r->value);
    return crc;
}

/* ---------------------------------------------------------------- */
/* Header encoding                                                   */
/* ---------------------------------------------------------------- */

static void put_u32(unsigned char *h, size_t off, uint32_t v)
{
    memcpy(h + off, &v, 4);
}
static void put_u64(unsigned char *h, size_t off, uint64_t v)
{
    memcpy(h + off, &v, 8);
}
static void put_f64(unsigned char *h, size_t off, double v)
{
    memcpy(h + off, &v, 8);
}
static uint32_t get_u32(const unsigned char *h, size_t off)
{
    uint32_t v;
    memcpy(&v, h + off, 4);
    return v;
}
static uint64_t get_u64(const unsigned char *h, size_t off)
{
    uint64_t v;
    memcpy(&v, h + off, 8);
    return v;
}
static double get_f64(const unsigned char *h, size_t off)
{
    double v;
    memcpy(&v, h + off, 8);
    return v;
}

typedef struct sm_layout {
    uint64_t off[SM_SECTIONS];
    uint64_t len[SM_SECTIONS];
    int nsec; /* sections in the file: SM_TABLE for version 1 */
    uint64_t file_len;
} sm_layout;

/* Section lengths for a model of these dimensions, and their canonical
 * offsets. Fails on overflow. */
static bool sm_compute_layout(uint64_t users, uint64_t items, uint64_t dim, unsigned precision,
                              bool ucompact, bool icompact, uint64_t rated, unsigned version,
                              unsigned method, sm_layout *L)
{
    L->nsec = version >= 3 ? SM_SECTIONS : version >= 2 ? SM_SECTIONS_V2 : SM_TABLE;
    uint64_t es = sm_elem_size((signmf_precision)precision), t;
    if (__builtin_mul_overflow(users, dim, &t) || __builtin_mul_overflow(t, es, &L->len[SEC_P]))
        return false;
    if (__builtin_mul_overflow(items, dim, &t) || __builtin_mul_overflow(t, es, &L->len[SEC_QT]))
        return false;
    if (__builtin_mul_overflow(ucompact ? users : 0, 8, &L->len[SEC_UIDS]) ||
        __builtin_mul_overflow(icompact ? items : 0, 8, &L->len[SEC_IIDS]) ||
        __builtin_add_overflow(users, 1, &t) || __builtin_mul_overflow(t, 8, &L->len[SEC_RPTR]) ||
        __builtin_mul_overflow(rated, 4, &L->len[SEC_RIDX]))
        return false;
    size_t qp;
    if (!sm_packed_bytes(items, dim, es, &qp))
        return false;
    L->len[SEC_QP] = qp;
    bool ortho = method == SIGNMF_METHOD_ORTHONORMAL;
    L->len[SEC_EXT] = SM_EXT_BYTES;
    if (__builtin_mul_overflow(dim, 8, &L->len[SEC_SIGMA]) ||
        __builtin_mul_overflow(ortho ? items : 0, 4, &L->len[SEC_IDEG]))
        return false;
    L->len[SEC_PST] = ortho ? L->len[SEC_P] : 0;
    L->len[SEC_QST] = ortho ? L->len[SEC_QT] : 0;
    uint64_t pos = SM_MODEL_HEADER;
    for (int s = 0; s < L->nsec; s++) {
        if (__builtin_add_overflow(pos, 63, &t))
            return false;
        L->off[s] = t / 64 * 64;
        if (__builtin_add_overflow(L->off[s], L->len[s], &pos))
            return false;
    }
    L->file_len = pos;
    /* Everything must also be addressable in memory. */
    return pos <= SIZE_MAX;
}

/* ---------------------------------------------------------------- */
/* Save                                                              */
/* ---------------------------------------------------------------- */

static signmf_status sm_map_check(const sm_idmap *map, size_t dim, const char *what,
                                  const char *path, signmf_error *err)
{
    if (map->direct)
        return SIGNMF_OK;
    if (map->count != dim || (dim > 0 && !map->ids))
        return sm_fail(err, SIGNMF_EINVAL,
                       "%s: the %s id map holds %zu ids but the model has %zu %ss", path, what,
                       map->count, dim, what);
    return SIGNMF_OK;
}

signmf_status signmf_model_save(const signmf_model *m, const char *path, signmf_error *err)
{
    if (!m || !path)
        return sm_fail(err, SIGNMF_EINVAL, "model save: NULL model or path");
    signmf_status st;
    if ((st = sm_map_check(&m->user_map, m->users, "user", path, err)) != SIGNMF_OK ||
        (st = sm_map_check(&m->item_map, m->items, "item", path, err)) != SIGNMF_OK)
        return st;
    const uint64_t rated = m->rated_ptr[m->users];
    sm_layout L;
    const unsigned method = m->params.method == SIGNMF_METHOD_ORTHONORMAL ? 1u : 0u;
    if (method && (!m->Pst || !m->Qst || !m->item_degree))
        return sm_fail(err, SIGNMF_EINVAL, "%s: an orthonormal model without its state", path);
    if (!sm_compute_layout(m->users, m->items, m->dim, m->precision, !m->user_map.direct,
                           !m->item_map.direct, rated, SM_MODEL_VERSION, method, &L))
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: a model of %zu x %zu x %zu is too large", path,
                       m->users, m->items, m->dim);

    unsigned char h[SM_MODEL_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, SM_MODEL_MAGIC, 8);
    put_u32(h, 8, SM_MODEL_VERSION);
    put_u32(h, 12, SM_MODEL_HEADER);
    put_u32(h, 16, method);
    put_u32(h, 20, (uint32_t)m->precision);
    put_u64(h, 24, m->users);
    put_u64(h, 32, m->items);
    put_u64(h, 40, m->dim);
    put_u64(h, 48, m->epochs);
    put_f64(h, 56, m->log_scale);
    put_f64(h, 64, m->last_loss);
    put_f64(h, 240, m->scale_ref);
    put_u64(h, 72, m->params.dim);
    put_f64(h, 80, m->params.lr);
    put_u32(h, 88, m->params.seed);
    put_u32(h, 92, (uint32_t)m->params.threads);
    put_u32(h, 96, (uint32_t)m->params.precision);
    put_u32(h, 100, (uint32_t)m->params.sign_rule);
    put_f64(h, 104, m->params.threshold);
    put_u32(h, 112, (uint32_t)m->params.rescale);
    put_u32(h, 116, m->data_crc);
    put_u32(h, 120, m->user_map.direct ? SM_MAP_DIRECT : SM_MAP_COMPACT);
    put_u32(h, 124, m->item_map.direct ? SM_MAP_DIRECT : SM_MAP_COMPACT);
    put_u64(h, 128, rated);
    put_u64(h, 136, L.file_len);
    for (int s = 0; s < SM_TABLE; s++) {
        put_u64(h, 144 + 16 * (size_t)s, L.off[s]);
        put_u64(h, 152 + 16 * (size_t)s, L.len[s]);
    }
    uint32_t init = (uint32_t)crc32(0L, Z_NULL, 0);
    put_u32(h, 248, sm_crc(init, h, 248));

    unsigned char ext[SM_EXT_BYTES];
    memset(ext, 0, sizeof ext);
    put_f64(ext, 0, m->params.rated_weight);
    put_f64(ext, 8, m->params.degree_exp);
    put_f64(ext, 16, m->params.shrink);
    put_f64(ext, 24, m->sigma_tau);
    const void *data[SM_SECTIONS] = {m->P,         m->Qt,          m->user_map.ids, m->item_map.ids,
                                     m->rated_ptr, m->rated_idx,   m->Qp,           ext,
                                     m->sigma,     m->item_degree, m->Pst,          m->Qst};
    /* The CRC goes in the header, which is written first: one pass to
     * checksum, one to write. */
    uint32_t crc = sm_crc(init, h, 252);
    uint64_t pos = SM_MODEL_HEADER;
    for (int s = 0; s < L.nsec; s++) {
        crc = sm_crc(crc, sm_pad_zeros, (size_t)(L.off[s] - pos));
        crc = sm_crc(crc, data[s], (size_t)L.len[s]);
        pos = L.off[s] + L.len[s];
    }
    put_u32(h, 252, crc);

    sm_atomic_file f;
    if ((st = sm_atomic_open(&f, path, err)) != SIGNMF_OK)
        return st;
    if ((st = sm_atomic_write(&f, h, sizeof h, err)) != SIGNMF_OK)
        return st;
    pos = SM_MODEL_HEADER;
    for (int s = 0; s < L.nsec; s++) {
        if ((st = sm_atomic_write(&f, sm_pad_zeros, (size_t)(L.off[s] - pos), err)) != SIGNMF_OK ||
            (st = sm_atomic_write(&f, data[s], (size_t)L.len[s], err)) != SIGNMF_OK)
            return st;
        pos = L.off[s] + L.len[s];
    }
    return sm_atomic_commit(&f, err);
}

/* ---------------------------------------------------------------- */
/* Open                                                              */
/* ---------------------------------------------------------------- */

typedef struct sm_header {
    uint64_t users, items, dim, rated;
    unsigned version;
    unsigned precision;
    unsigned method;
    bool ucompact, icompact;
    sm_layout L;
} sm_header;

/* Everything that can be checked from the header and the file size. */
static signmf_status sm_parse_header(const unsigned char *h, size_t have, uint64_t file_size,
                                     const char *path, sm_header *H, signmf_error *err)
{
    size_t n = have < 8 ? have : 8;
    if (memcmp(h, SM_MODEL_MAGIC, n) != 0)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: not a signmf model (expected the magic bytes \\x89SIGNMF\\n at offset "
                       "0, found different bytes)",
                       path);
    if (have < SM_MODEL_HEADER)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: truncated model: expected at least %u bytes of header, found %llu "
                       "bytes",
                       path, SM_MODEL_HEADER, (unsigned long long)file_size);
    uint32_t version = get_u32(h, 8);
    if (version > SM_MODEL_VERSION)
        return sm_fail(err, SIGNMF_EVERSION,
                       "%s: model format version %u was written by a newer signmf; this signmf "
                       "(%s) reads format version %u",
                       path, version, SIGNMF_VERSION_STRING, SM_MODEL_VERSION);
    uint32_t init = (uint32_t)crc32(0L, Z_NULL, 0);
    uint32_t hcrc = sm_crc(init, h, 248);
    if (hcrc != get_u32(h, 248))
        return sm_fail(err, SIGNMF_ECHECKSUM,
                       "%s: header checksum mismatch: expected %08x, found %08x (the file is "
                       "damaged)",
                       path, get_u32(h, 248), hcrc);
    if (version == 0)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: model format version: expected 1 to %u, found 0",
                       path, SM_MODEL_VERSION);
    H->version = version;
    if (get_u32(h, 12) != SM_MODEL_HEADER)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: header size: expected %u, found %u", path,
                       SM_MODEL_HEADER, get_u32(h, 12));
    H->method = get_u32(h, 16);
    if (version < 3 && H->method != 0)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: flags: expected 0, found %#x", path, H->method);
    if (H->method > SIGNMF_METHOD_ORTHONORMAL)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: method: expected 0 (notebook) or 1 (orthonormal), found %u", path,
                       H->method);
    uint64_t file_len = get_u64(h, 136);
    if (file_size < file_len)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: truncated model: expected %llu bytes, found %llu bytes", path,
                       (unsigned long long)file_len, (unsigned long long)file_size);
    if (file_size > file_len)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: expected %llu bytes, found %llu bytes (trailing data)", path,
                       (unsigned long long)file_len, (unsigned long long)file_size);
    H->precision = get_u32(h, 20);
    H->users = get_u64(h, 24);
    H->items = get_u64(h, 32);
    H->dim = get_u64(h, 40);
    H->rated = get_u64(h, 128);
    uint32_t um = get_u32(h, 120), im = get_u32(h, 124);
    if (H->precision > 2)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: precision: expected 0 (f32), 1 (f64) or 2 (bf16), found %u", path,
                       H->precision);
    if (H->users > SM_MAX_DIM || H->items > SM_MAX_DIM || H->dim == 0)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: dimensions: expected users and items at most %zu and dim >= 1, found "
                       "%llu x %llu x %llu",
                       path, SM_MAX_DIM, (unsigned long long)H->users, (unsigned long long)H->items,
                       (unsigned long long)H->dim);
    if ((um != SM_MAP_DIRECT && um != SM_MAP_COMPACT) ||
        (im != SM_MAP_DIRECT && im != SM_MAP_COMPACT))
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: id map modes: expected 1 (direct) or 2 (compact), found %u and %u",
                       path, um, im);
    H->ucompact = um == SM_MAP_COMPACT;
    H->icompact = im == SM_MAP_COMPACT;
    /* training precision 2 (bf16) keeps a float32 master: its factors are
     * stored as f32, or as bf16 once converted, never as f64 */
    if (get_u32(h, 100) > SIGNMF_SIGN_OBSERVED || get_u32(h, 96) > 2 ||
        (get_u32(h, 96) == 2 && H->precision == 1))
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: parameters: expected sign rule <= 2 and precision <= 2 (2 not with "
                       "f64 factors), found %u and %u",
                       path, get_u32(h, 100), get_u32(h, 96));
    if (!sm_compute_layout(H->users, H->items, H->dim, H->precision, H->ucompact, H->icompact,
                           H->rated, H->version, H->method, &H->L))
        return sm_fail(
            err, SIGNMF_EOVERFLOW, "%s: a model of %llu x %llu x %llu does not fit in memory", path,
            (unsigned long long)H->users, (unsigned long long)H->items, (unsigned long long)H->dim);
    for (int s = 0; s < SM_TABLE; s++) {
        uint64_t off = get_u64(h, 144 + 16 * (size_t)s), len = get_u64(h, 152 + 16 * (size_t)s);
        if (off != H->L.off[s] || len != H->L.len[s])
            return sm_fail(err, SIGNMF_EFORMAT,
                           "%s: section %s: expected offset %llu and length %llu, found %llu and "
                           "%llu",
                           path, sm_section_names[s], (unsigned long long)H->L.off[s],
                           (unsigned long long)H->L.len[s], (unsigned long long)off,
                           (unsigned long long)len);
    }
    if (H->L.file_len != file_len)
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: file length field: expected %llu from the sections, found %llu", path,
                       (unsigned long long)H->L.file_len, (unsigned long long)file_len);
    return SIGNMF_OK;
}

static void sm_fill_scalars(signmf_model *m, const unsigned char *h)
{
    m->epochs = get_u64(h, 48);
    m->log_scale = get_f64(h, 56);
    m->last_loss = get_f64(h, 64);
    m->scale_ref = get_f64(h, 240);
    m->params.dim = (size_t)get_u64(h, 72);
    m->params.lr = get_f64(h, 80);
    m->params.seed = get_u32(h, 88);
    m->params.threads = (int)get_u32(h, 92);
    m->params.precision = (signmf_precision)get_u32(h, 96);
    m->params.sign_rule = (signmf_sign_rule)get_u32(h, 100);
    m->params.threshold = get_f64(h, 104);
    m->params.rescale = (int)get_u32(h, 112);
    m->params.method = (signmf_method)get_u32(h, 16);
    m->data_crc = get_u32(h, 116);
}

/* The parameters block (version 3 and later), and checks of sigma a CRC
 * cannot make. */
static signmf_status sm_fill_ext(signmf_model *m, const unsigned char *ext, const char *path,
                                 signmf_error *err)
{
    m->params.rated_weight = get_f64(ext, 0);
    m->params.degree_exp = get_f64(ext, 8);
    m->params.shrink = get_f64(ext, 16);
    m->sigma_tau = get_f64(ext, 24);
    bool ortho =
        m->params.method == SIGNMF_METHOD_ORTHONORMAL && m->Pst && m->Qst && m->item_degree;
    if (!isfinite(m->params.rated_weight) || !isfinite(m->params.degree_exp) ||
        (!ortho && (m->params.rated_weight != 0 || m->params.degree_exp != 0)))
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: parameters: expected a finite rated weight and degree exponent (0 for "
                       "the notebook method), found %g and %g",
                       path, m->params.rated_weight, m->params.degree_exp);
    if (!(m->params.shrink >= 0 && m->params.shrink <= 1) || !(m->sigma_tau >= 0) ||
        !isfinite(m->sigma_tau) || (!ortho && (m->params.shrink != 0 || m->sigma_tau != 0)))
        return sm_fail(err, SIGNMF_EFORMAT,
                       "%s: parameters: expected a shrink in [0, 1] and a finite tau >= 0 (0 for "
                       "the notebook method), found %g and %g",
                       path, m->params.shrink, m->sigma_tau);
    for (size_t t = 0; t < m->dim; ++t)
        if (!isfinite(m->sigma[t]) || m->sigma[t] < 0)
            return sm_fail(err, SIGNMF_EFORMAT,
                           "%s: sigma[%zu]: expected a finite value >= 0, found %g", path, t,
                           m->sigma[t]);
    return SIGNMF_OK;
}

/* Checks a checksum cannot make: a file written by a buggy or hostile
 * program with a valid CRC must still not send readers out of bounds. */
static signmf_status sm_check_structure(const signmf_model *m, const char *path, signmf_error *err)
{
    const size_t *rp = m->rated_ptr;
    size_t rated = rp[m->users];
    if (rp[0] != 0)
        return sm_fail(err, SIGNMF_EFORMAT, "%s: rated_ptr[0]: expected 0, found %zu", path, rp[0]);
    for (size_t u = 0; u < m->users; u++) {
        if (rp[u + 1] < rp[u] || rp[u + 1] > rated)
            return sm_fail(err, SIGNMF_EFORMAT,
                           "%s: rated_ptr[%zu]: expected a value in [%zu, %zu], found %zu", path,
                           u + 1, rp[u], rated, rp[u + 1]);
    }
    for (size_t u = 0; u < m->users; u++) {
        for (size_t k = rp[u]; k < rp[u + 1]; k++) {
            if (m->rated_idx[k] >= m->items)
                return sm_fail(err, SIGNMF_EFORMAT,
                               "%s: rated_idx[%zu] (user %zu): expected an item < %zu, found %u",
                               path, k, u, m->items, m->rated_idx[k]);
            if (k > rp[u] && m->rated_idx[k] <= m->rated_idx[k - 1])
                return sm_fail(err, SIGNMF_EFORMAT,
                               "%s: rated_idx[%zu] (user %zu): expected ascending items, found "
                               "%u after %u",
                               path, k, u, m->rated_idx[k], m->rated_idx[k - 1]);
        }
    }
    const sm_idmap *maps[2] = {&m->user_map, &m->item_map};
    for (int a = 0; a < 2; a++) {
        const sm_idmap *map = maps[a];
        if (map->direct)
            continue;
        for (size_t i = 1; i < map->count; i++)
            if (map->ids[i] <= map->ids[i - 1])
                return sm_fail(err, SIGNMF_EFORMAT,
                               "%s: %s ids: expected strictly ascending ids, found %lld after "
                               "%lld at index %zu",
                               path, a == 0 ? "user" : "item", (long long)map->ids[i],
                               (long long)map->ids[i - 1], i);
    }
    return SIGNMF_OK;
}

static void sm_set_maps(signmf_model *m, const sm_header *H)
{
    m->user_map.direct = !H->ucompact;
    m->item_map.direct = !H->icompact;
    m->user_map.count = m->users;
    m->item_map.count = m->items;
}

static signmf_status sm_open_mmap(int fd, uint64_t size, const char *path, signmf_model **out,
                                  signmf_error *err)
{
    if (size < SM_MODEL_HEADER) {
        unsigned char h[SM_MODEL_HEADER];
        ssize_t got = pread(fd, h, sizeof h, 0);
        sm_header H;
        return sm_parse_header(h, got < 0 ? 0 : (size_t)got, size, path, &H, err);
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return sm_fail(err, SIGNMF_EIO, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *h = base;
    sm_header H;
    signmf_status st = sm_parse_header(h, SM_MODEL_HEADER, size, path, &H, err);
    if (st == SIGNMF_OK) {
        uint32_t crc = sm_crc((uint32_t)crc32(0L, Z_NULL, 0), h, 252);
        crc = sm_crc(crc, h + SM_MODEL_HEADER, (size_t)size - SM_MODEL_HEADER);
        if (crc != get_u32(h, 252))
            st = sm_fail(err, SIGNMF_ECHECKSUM,
                         "%s: checksum mismatch: expected %08x, found %08x (the file is damaged)",
                         path, get_u32(h, 252), crc);
    }
    signmf_model *m = NULL;
    if (st == SIGNMF_OK && !(m = calloc(1, sizeof *m)))
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", path);
    if (st != SIGNMF_OK) {
        munmap(base, (size_t)size);
        return st;
    }
    m->map_base = base;
    m->map_len = (size_t)size;
    m->users = (size_t)H.users;
    m->items = (size_t)H.items;
    m->dim = (size_t)H.dim;
    m->precision = (signmf_precision)H.precision;
    sm_fill_scalars(m, h);
    unsigned char *b = base;
    m->P = b + H.L.off[SEC_P];
    m->Qt = b + H.L.off[SEC_QT];
    if (H.version >= 2) {
        m->Qp = b + H.L.off[SEC_QP];
    } else {
        size_t n;
        if (sm_packed_bytes(m->items, m->dim, sm_elem_size(m->precision), &n))
            m->Qp = sm_alloc(n, 1);
        if (m->Qp == NULL) {
            signmf_model_free(m);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for the item panels", path);
        }
        m->qp_owned = true;
        sm_model_pack(m);
    }
    if (H.version >= 3) {
        m->sigma = (double *)(void *)(b + H.L.off[SEC_SIGMA]);
        if (H.method == SIGNMF_METHOD_ORTHONORMAL) {
            m->item_degree = (uint32_t *)(void *)(b + H.L.off[SEC_IDEG]);
            m->Pst = b + H.L.off[SEC_PST];
            m->Qst = b + H.L.off[SEC_QST];
        }
    } else {
        m->sigma = sm_alloc(m->dim, sizeof *m->sigma);
        if (m->sigma == NULL) {
            signmf_model_free(m);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", path);
        }
        m->sigma_owned = true;
        for (size_t t = 0; t < m->dim; ++t)
            m->sigma[t] = 1.0;
    }
    m->rated_ptr = (size_t *)(void *)(b + H.L.off[SEC_RPTR]);
    m->rated_idx = (uint32_t *)(void *)(b + H.L.off[SEC_RIDX]);
    sm_set_maps(m, &H);
    m->user_map.ids = H.ucompact ? (int64_t *)(void *)(b + H.L.off[SEC_UIDS]) : NULL;
    m->item_map.ids = H.icompact ? (int64_t *)(void *)(b + H.L.off[SEC_IIDS]) : NULL;
    if (m->rated_ptr[m->users] != H.rated) {
        st = sm_fail(err, SIGNMF_EFORMAT, "%s: rated_ptr[%zu]: expected %llu, found %zu", path,
                     m->users, (unsigned long long)H.rated, m->rated_ptr[m->users]);
    } else {
        st = sm_check_structure(m, path, err);
    }
    if (st == SIGNMF_OK && H.version >= 3)
        st = sm_fill_ext(m, b + H.L.off[SEC_EXT], path, err);
    if (st != SIGNMF_OK) {
        signmf_model_free(m);
        return st;
    }
    *out = m;
    return SIGNMF_OK;
}

/* Read exactly n bytes into dst, adding them to the CRC. */
static signmf_status sm_read_crc(FILE *fp, void *dst, size_t n, uint32_t *crc, const char *path,
                                 signmf_error *err)
{
    if (n == 0)
        return SIGNMF_OK;
    if (fread(dst, 1, n, fp) != n)
        return sm_fail(err, ferror(fp) ? SIGNMF_EIO : SIGNMF_EFORMAT, "%s: read failed: %s", path,
                       ferror(fp) ? strerror(errno) : "unexpected end of file");
    *crc = sm_crc(*crc, dst, n);
    return SIGNMF_OK;
}

static signmf_status sm_open_read(FILE *fp, uint64_t size, const char *path, signmf_model **out,
                                  signmf_error *err)
{
    unsigned char h[SM_MODEL_HEADER];
    size_t have = fread(h, 1, sizeof h, fp);
    if (have < sizeof h && ferror(fp))
        return sm_fail(err, SIGNMF_EIO, "%s: read failed: %s", path, strerror(errno));
    sm_header H;
    signmf_status st = sm_parse_header(h, have, size, path, &H, err);
    if (st != SIGNMF_OK)
        return st;
    signmf_model *m;
    st = sm_model_alloc((size_t)H.users, (size_t)H.items, (size_t)H.dim,
                        (signmf_precision)H.precision, (size_t)H.rated, &m);
    if (st != SIGNMF_OK)
        return sm_fail(err, st, "%s: cannot allocate a model of %llu x %llu x %llu", path,
                       (unsigned long long)H.users, (unsigned long long)H.items,
                       (unsigned long long)H.dim);
    sm_fill_scalars(m, h);
    sm_set_maps(m, &H);
    if (H.method == SIGNMF_METHOD_ORTHONORMAL && sm_model_alloc_ortho(m) != SIGNMF_OK)
        st = SIGNMF_ENOMEM;
    if (H.ucompact && !(m->user_map.ids = sm_alloc(m->users, sizeof(int64_t))))
        st = SIGNMF_ENOMEM;
    if (H.icompact && !(m->item_map.ids = sm_alloc(m->items, sizeof(int64_t))))
        st = SIGNMF_ENOMEM;
    if (st != SIGNMF_OK) {
        signmf_model_free(m);
        return sm_fail(err, st, "%s: out of memory for the id maps", path);
    }
    unsigned char ext[SM_EXT_BYTES];
    void *dst[SM_SECTIONS] = {m->P,         m->Qt,          m->user_map.ids, m->item_map.ids,
                              m->rated_ptr, m->rated_idx,   m->Qp,           ext,
                              m->sigma,     m->item_degree, m->Pst,          m->Qst};
    uint32_t crc = sm_crc((uint32_t)crc32(0L, Z_NULL, 0), h, 252);
    uint64_t pos = SM_MODEL_HEADER;
    unsigned char pad[64];
    for (int s = 0; s < H.L.nsec && st == SIGNMF_OK; s++) {
        st = sm_read_crc(fp, pad, (size_t)(H.L.off[s] - pos), &crc, path, err);
        if (st == SIGNMF_OK)
            st = sm_read_crc(fp, dst[s], (size_t)H.L.len[s], &crc, path, err);
        pos = H.L.off[s] + H.L.len[s];
    }
    if (st == SIGNMF_OK && crc != get_u32(h, 252))
        st = sm_fail(err, SIGNMF_ECHECKSUM,
                     "%s: checksum mismatch: expected %08x, found %08x (the file is damaged)", path,
                     get_u32(h, 252), crc);
    if (st == SIGNMF_OK && m->rated_ptr[m->users] != H.rated)
        st = sm_fail(err, SIGNMF_EFORMAT, "%s: rated_ptr[%zu]: expected %llu, found %zu", path,
                     m->users, (unsigned long long)H.rated, m->rated_ptr[m->users]);
    if (st == SIGNMF_OK)
        st = sm_check_structure(m, path, err);
    if (st == SIGNMF_OK && H.version >= 3)
        st = sm_fill_ext(m, ext, path, err);
    if (st != SIGNMF_OK) {
        signmf_model_free(m);
        return st;
    }
    if (H.version < 2)
        sm_model_pack(m);
    *out = m;
    return SIGNMF_OK;
}

signmf_status signmf_model_open(const char *path, unsigned flags, signmf_model **out,
                                signmf_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return sm_fail(err, SIGNMF_EINVAL, "model open: NULL path or output");
    if (flags & ~SIGNMF_OPEN_MMAP)
        return sm_fail(err, SIGNMF_EINVAL,
                       "%s: open flags: expected 0 or SIGNMF_OPEN_MMAP, found %#x", path, flags);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_fail(err, SIGNMF_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sm_fail(err, SIGNMF_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sm_fail(err, SIGNMF_EIO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    signmf_status st;
    if (flags & SIGNMF_OPEN_MMAP) {
        st = sm_open_mmap(fd, size, path, out, err);
        close(fd); /* the mapping outlives the descriptor */
        return st;
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return sm_fail(err, SIGNMF_EIO, "%s: %s", path, strerror(e));
    }
    st = sm_open_read(fp, size, path, out, err);
    fclose(fp);
    return st;
}

/* ---------------------------------------------------------------- */
/* Export                                                            */
/* ---------------------------------------------------------------- */

/* Narrow (or widen) every factor array of `src` into `dst` (same shape). */
static void convert_factors(const void *src, signmf_precision from, void *dst, signmf_precision to,
                            size_t n)
{
    const sm_kernels *k = sm_kernels_active();
    if (from == to) {
        memcpy(dst, src, n * sm_elem_size(to));
    } else if (from == SIGNMF_F32 && to == SIGNMF_BF16) {
        k->cvt_bf16((const float *)src, n, (uint16_t *)dst);
    } else if (from == SIGNMF_F64 && to == SIGNMF_BF16) {
        for (size_t i = 0; i < n; ++i)
            ((uint16_t *)dst)[i] = sm_bf16_from_f32((float)((const double *)src)[i]);
    } else if (from == SIGNMF_BF16) {
        for (size_t i = 0; i < n; ++i) {
            float x = sm_bf16_to_f32(((const uint16_t *)src)[i]);
            if (to == SIGNMF_F64)
                ((double *)dst)[i] = x;
            else
                ((float *)dst)[i] = x;
        }
    } else if (to == SIGNMF_F32) {
        for (size_t i = 0; i < n; ++i)
            ((float *)dst)[i] = (float)((const double *)src)[i];
    } else {
        for (size_t i = 0; i < n; ++i)
            ((double *)dst)[i] = ((const float *)src)[i];
    }
}

signmf_status signmf_model_export_npy(const signmf_model *m, const char *dir, signmf_error *err)
{
    if (!m || !dir || !*dir)
        return sm_fail(err, SIGNMF_EINVAL, "export: NULL model or empty directory");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sm_fail(err, SIGNMF_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return sm_fail(err, SIGNMF_EIO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sm_fail(err, SIGNMF_EIO, "%s: expected a directory, found another kind of file",
                       dir);
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof "/sigma.npy");
    if (!path)
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", dir);
    memcpy(path, dir, n);
    memcpy(path + n, "/P.npy", sizeof "/P.npy");
    /* numpy has no bf16: a bf16 model exports its factors widened to
     * float32, exactly */
    const void *P = m->P, *Qt = m->Qt;
    float *wide = NULL;
    signmf_precision prec = m->precision;
    if (prec == SIGNMF_BF16) {
        size_t np = m->users * m->dim, nq = m->items * m->dim;
        wide = sm_alloc(np + nq + 1, sizeof *wide);
        if (!wide) {
            free(path);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory", dir);
        }
        convert_factors(m->P, SIGNMF_BF16, wide, SIGNMF_F32, np);
        convert_factors(m->Qt, SIGNMF_BF16, wide + np, SIGNMF_F32, nq);
        P = wide, Qt = wide + np, prec = SIGNMF_F32;
    }
    signmf_status st = sm_npy_write(path, P, prec, m->users, m->dim, m->dim, false, err);
    if (st == SIGNMF_OK) {
        /* The notebook's Itm is k x items: the transpose of our Qt. */
        path[n + 1] = 'Q';
        st = sm_npy_write(path, Qt, prec, m->items, m->dim, m->dim, true, err);
    }
    sm_free(wide);
    if (st == SIGNMF_OK) {
        memcpy(path + n, "/sigma.npy", sizeof "/sigma.npy");
        st = sm_npy_write_vector(path, m->sigma, m->dim, err);
    }
    free(path);
    return st;
}

signmf_status signmf_model_convert(const signmf_model *m, signmf_precision to, signmf_model **out,
                                   signmf_error *err)
{
    if (out)
        *out = NULL;
    if (!m || !out)
        return sm_fail(err, SIGNMF_EINVAL, "convert: model and out must not be NULL");
    if (to != SIGNMF_F32 && to != SIGNMF_F64 && to != SIGNMF_BF16)
        return sm_fail(err, SIGNMF_EINVAL, "convert: unknown precision %d", (int)to);
    size_t rated = m->rated_ptr[m->users];
    signmf_model *c;
    signmf_status st = sm_model_alloc(m->users, m->items, m->dim, to, rated, &c);
    if (st != SIGNMF_OK)
        return sm_fail(err, st, "convert: cannot allocate a model of %zu x %zu x %zu", m->users,
                       m->items, m->dim);
    bool ortho =
        m->params.method == SIGNMF_METHOD_ORTHONORMAL && m->Pst && m->Qst && m->item_degree;
    if (ortho && (st = sm_model_alloc_ortho(c)) != SIGNMF_OK) {
        signmf_model_free(c);
        return sm_fail(err, st, "convert: out of memory");
    }
    convert_factors(m->P, m->precision, c->P, to, m->users * m->dim);
    convert_factors(m->Qt, m->precision, c->Qt, to, m->items * m->dim);
    if (ortho) {
        convert_factors(m->Pst, m->precision, c->Pst, to, m->users * m->dim);
        convert_factors(m->Qst, m->precision, c->Qst, to, m->items * m->dim);
        memcpy(c->item_degree, m->item_degree, m->items * sizeof *m->item_degree);
    }
    memcpy(c->sigma, m->sigma, m->dim * sizeof *m->sigma);
    c->sigma_tau = m->sigma_tau;
    memcpy(c->rated_ptr, m->rated_ptr, (m->users + 1) * sizeof *m->rated_ptr);
    memcpy(c->rated_idx, m->rated_idx, rated * sizeof *m->rated_idx);
    c->params = m->params;
    c->epochs = m->epochs;
    c->log_scale = m->log_scale;
    c->last_loss = m->last_loss;
    c->scale_ref = m->scale_ref;
    c->data_crc = m->data_crc;
    if (sm_idmap_copy(&m->user_map, &c->user_map) != SIGNMF_OK ||
        sm_idmap_copy(&m->item_map, &c->item_map) != SIGNMF_OK) {
        signmf_model_free(c);
        return sm_fail(err, SIGNMF_ENOMEM, "convert: out of memory");
    }
    sm_model_pack(c);
    *out = c;
    return SIGNMF_OK;
}
