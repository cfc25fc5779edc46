/* Partitioned loading: no process holds more than its share of the
 * ratings. Each parses the lines of its byte range of the file (numbered
 * as the file numbers them: newline counts before the range by exscan),
 * the id maps are agreed from the sets of distinct ids, which are small,
 * with the one-process loader's rules (io/ratings.c, sm_axis_map), and the
 * triplets travel to their users' owners, who build their users' signs
 * and send each signed entry on to its item's owner. */
#include "dist.h"

#include "cli.h"
#include "eval/eval.h"
#include "io/load.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct mp_trip {
    uint32_t u, i;
    double v;
} mp_trip;

typedef struct mp_entry {
    uint32_t u, j;
    int32_t cls; /* +1, -1: D; 0: neutral */
} mp_entry;

static bool has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

static ssize_t pread_full(int fd, char *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The first line start at or after byte x (x itself when byte x - 1 ends
 * a line), or size. */
static uint64_t line_start(int fd, uint64_t x, uint64_t size)
{
    if (x == 0 || x >= size)
        return x >= size ? size : 0;
    char buf[65536];
    uint64_t at = x - 1;
    while (at < size) {
        ssize_t got = pread_full(fd, buf, sizeof buf, at);
        if (got <= 0)
            return size;
        char *nl = memchr(buf, '\n', (size_t)got);
        if (nl)
            return at + (uint64_t)(nl - buf) + 1;
        at += (uint64_t)got;
    }
    return size;
}

static uint64_t count_newlines(int fd, uint64_t a, uint64_t b)
{
    static char buf[1 << 20];
    uint64_t n = 0;
    while (a < b) {
        size_t want = b - a < sizeof buf ? (size_t)(b - a) : sizeof buf;
        ssize_t got = pread_full(fd, buf, want, a);
        if (got <= 0)
            break;
        for (char *p = buf, *e = buf + got; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; ++p)
            ++n;
        a += (uint64_t)got;
    }
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static inline int64_t tb_id(const sm_tbuf *b, int axis, size_t k)
{
    const void *col = axis ? b->item : b->user;
    return b->wide ? ((const int64_t *)col)[k] : (int64_t)((const uint32_t *)col)[k];
}

/* The map of one axis, as sm_axis_map would make it from all the ids, and
 * the index of each local id into idx. */
static signmf_status map_axis(mp_ctx *c, const sm_tbuf *b, int axis, signmf_id_mode mode,
                              size_t fixed, const char *what, sm_idmap *map, uint32_t *idx,
                              signmf_error *err)
{
    const char *name = axis ? "item" : "user";
    size_t n = b->count;
    if (fixed) {
        /* the parser has checked the ids against it */
        map->direct = true;
        map->ids = NULL;
        map->count = fixed;
        for (size_t k = 0; k < n; ++k)
            idx[k] = (uint32_t)(tb_id(b, axis, k) - 1);
        return SIGNMF_OK;
    }
    int64_t lh[2] = {INT64_MAX, INT64_MIN};
    for (size_t k = 0; k < n; ++k) {
        int64_t id = tb_id(b, axis, k);
        lh[0] = id < lh[0] ? id : lh[0];
        lh[1] = id > lh[1] ? id : lh[1];
    }
    int64_t lo, hi, nhi = -lh[1], mhi;
    uint64_t nl = n, ntot;
    MPI_Allreduce(&lh[0], &lo, 1, MPI_INT64_T, MPI_MIN, c->comm);
    MPI_Allreduce(&nhi, &mhi, 1, MPI_INT64_T, MPI_MIN, c->comm);
    hi = -mhi;
    MPI_Allreduce(&nl, &ntot, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    map->direct = true;
    map->ids = NULL;
    map->count = 0;
    if (mode == SIGNMF_IDS_DIRECT) {
        if (lo < 1)
            return sm_fail(err, SIGNMF_ERANGE, "%s: expected %s ids >= 1 (direct ids), found %lld",
                           what, name, (long long)lo);
        if ((uint64_t)hi > SM_MAX_DIM)
            return sm_fail(err, SIGNMF_ERANGE,
                           "%s: expected %s ids <= %zu (direct ids), found %lld", what, name,
                           SM_MAX_DIM, (long long)hi);
        for (size_t k = 0; k < n; ++k)
            idx[k] = (uint32_t)(tb_id(b, axis, k) - 1);
        map->count = (size_t)hi;
        return SIGNMF_OK;
    }
    /* the distinct ids of all processes: over a small range (every real
     * data set) as a bitmap or'ed across processes, else each process's
     * sorted set gathered and merged */
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    int64_t *ids = NULL;
    size_t dist = 0;
    if (range < ntot + ((uint64_t)1 << 22)) {
        size_t words = (size_t)(range / 64 + 1);
        uint64_t *bits = calloc(words, sizeof *bits), *all = calloc(words, sizeof *all);
        if (!bits || !all) {
            free(bits);
            free(all);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, name);
        }
        for (size_t k = 0; k < n; ++k) {
            uint64_t x = (uint64_t)tb_id(b, axis, k) - (uint64_t)lo;
            bits[x >> 6] |= (uint64_t)1 << (x & 63);
        }
        for (size_t w0 = 0; w0 < words; w0 += (size_t)1 << 28) {
            size_t cnt = words - w0 < ((size_t)1 << 28) ? words - w0 : (size_t)1 << 28;
            MPI_Allreduce(bits + w0, all + w0, (int)cnt, MPI_UINT64_T, MPI_BOR, c->comm);
        }
        free(bits);
        for (size_t w = 0; w < words; ++w)
            dist += (size_t)__builtin_popcountll(all[w]);
        ids = sm_alloc(dist ? dist : 1, sizeof *ids);
        if (!ids) {
            free(all);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, name);
        }
        size_t at = 0;
        for (size_t w = 0; w < words; ++w)
            for (uint64_t x = all[w]; x; x &= x - 1)
                ids[at++] = (int64_t)((uint64_t)lo + w * 64 + (uint64_t)__builtin_ctzll(x));
        free(all);
    } else {
        int64_t *mine = malloc((n ? n : 1) * sizeof *mine);
        if (!mine)
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, name);
        for (size_t k = 0; k < n; ++k)
            mine[k] = tb_id(b, axis, k);
        qsort(mine, n, sizeof *mine, cmp_i64);
        size_t d = 0;
        for (size_t k = 0; k < n; ++k)
            if (k == 0 || mine[k] != mine[k - 1])
                mine[d++] = mine[k];
        int dl = (int)d;
        MPI_Allgather(&dl, 1, MPI_INT, c->counts, 1, MPI_INT, c->comm);
        size_t all = 0;
        for (int r = 0; r < c->size; ++r) {
            c->displs[r] = (int)all;
            all += (size_t)c->counts[r];
        }
        ids = sm_alloc(all ? all : 1, sizeof *ids);
        if (!ids) {
            free(mine);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, name);
        }
        MPI_Allgatherv(mine, dl, MPI_INT64_T, ids, c->counts, c->displs, MPI_INT64_T, c->comm);
        free(mine);
        qsort(ids, all, sizeof *ids, cmp_i64);
        for (size_t k = 0; k < all; ++k)
            if (k == 0 || ids[k] != ids[dist - 1])
                ids[dist++] = ids[k];
    }
    bool direct = mode == SIGNMF_IDS_AUTO && lo >= 1 && (uint64_t)hi <= SM_MAX_DIM &&
                  (uint64_t)hi <= ntot + ntot / 2 + 16 && (uint64_t)hi <= dist + dist / 2 + 16;
    if (direct) {
        sm_free(ids);
        for (size_t k = 0; k < n; ++k)
            idx[k] = (uint32_t)(tb_id(b, axis, k) - 1);
        map->count = (size_t)hi;
        return SIGNMF_OK;
    }
    if (dist > SM_MAX_DIM) {
        sm_free(ids);
        return sm_fail(err, SIGNMF_ERANGE, "%s: %zu distinct %s ids, more than %zu", what, dist,
                       name, SM_MAX_DIM);
    }
    map->direct = false;
    map->count = dist;
    map->ids = ids;
    for (size_t k = 0; k < n; ++k) {
        size_t at = 0;
        sm_idmap_index(map, tb_id(b, axis, k), &at);
        idx[k] = (uint32_t)at;
    }
    return SIGNMF_OK;
}

/* One Alltoallv of `esize`-byte elements already grouped by destination
 * (sc[r] for process r, in rank order); *recv (sm_alloc'd) gets every
 * source's elements in source order. */
static signmf_status exchange(mp_ctx *c, const void *send, const int *sc, size_t esize, void **recv,
                              size_t *nrecv)
{
    int P = c->size;
    int *sd = calloc((size_t)P * 3, sizeof *sd), *rc = sd + P, *rd = sd + 2 * P;
    if (!sd)
        return SIGNMF_ENOMEM;
    size_t at = 0;
    for (int r = 0; r < P; ++r) {
        sd[r] = (int)at;
        at += (size_t)sc[r];
    }
    MPI_Alltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, c->comm);
    size_t total = 0;
    for (int r = 0; r < P; ++r) {
        rd[r] = (int)total;
        total += (size_t)rc[r];
    }
    char *out = sm_alloc(total ? total : 1, esize);
    if (!out) {
        free(sd);
        return SIGNMF_ENOMEM;
    }
    MPI_Datatype el;
    MPI_Type_contiguous((int)esize, MPI_BYTE, &el);
    MPI_Type_commit(&el);
    MPI_Alltoallv(send, sc, sd, el, out, rc, rd, el, c->comm);
    MPI_Type_free(&el);
    free(sd);
    *recv = out;
    *nrecv = total;
    return SIGNMF_OK;
}

/* CRC-32 of the whole data set as sm_ratings_crc computes it: the pieces
 * of each array lie on the processes in order, and zlib combines CRCs of
 * consecutive pieces. */
static uint32_t whole_crc(mp_ctx *c, size_t users, size_t items, const signmf_ratings *r,
                          uint64_t total)
{
    uint32_t z = (uint32_t)crc32(0L, Z_NULL, 0);
    size_t n = r->count;
    uint64_t part[4] = {crc32_z(z, (const Bytef *)r->user, n * sizeof *r->user),
                        crc32_z(z, (const Bytef *)r->item, n * sizeof *r->item),
                        crc32_z(z, (const Bytef *)r->value, n * sizeof *r->value), n};
    uint64_t *all = malloc((size_t)c->size * sizeof part);
    if (!all)
        mp_abort(c, "out of memory combining the data fingerprint");
    MPI_Allgather(part, 4, MPI_UINT64_T, all, 4, MPI_UINT64_T, c->comm);
    uint64_t dims[3] = {users, items, total};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, (const Bytef *)dims, sizeof dims);
    const size_t es[3] = {sizeof(uint32_t), sizeof(uint32_t), sizeof(double)};
    for (int a = 0; a < 3; ++a)
        for (int p = 0; p < c->size; ++p)
            crc = crc32_combine64(crc, (uLong)all[p * 4 + a], (z_off64_t)(all[p * 4 + 3] * es[a]));
    free(all);
    return (uint32_t)crc;
}

/* The lines of the first two records of (user, item), by original ids,
 * over every process's range. */
static void locate_dup(mp_ctx *c, const char *path, signmf_format fmt, const sm_mm_head *mh,
                       uint64_t start, uint64_t end, uint64_t line0, int fields,
                       const signmf_load_options *lo, int64_t user, int64_t item, uint64_t found[2])
{
    sm_tbuf loc = {.locate = true, .find_user = user, .find_item = item};
    sm_range_info info;
    signmf_error e;
    memset(&e, 0, sizeof e);
    uint64_t seen, last;
    if (fmt == SIGNMF_FORMAT_MM)
        (void)sm_mm_parse_range(path, mh, start, end, line0, UINT64_MAX, lo, &loc, &seen, &last,
                                &e);
    else
        (void)sm_text_parse_range(path, fmt, start, end, line0, fields, lo, &loc, &info, &e);
    uint64_t mine[2] = {loc.found > 0 ? loc.found_line[0] : UINT64_MAX,
                        loc.found > 1 ? loc.found_line[1] : UINT64_MAX};
    uint64_t *all = malloc((size_t)c->size * sizeof mine);
    if (!all)
        mp_abort(c, "out of memory locating a duplicate rating");
    MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, c->comm);
    /* ranges ascend, and so do the lines within one */
    size_t k = 0;
    found[0] = found[1] = 0;
    for (int i = 0; i < 2 * c->size && k < 2; ++i)
        if (all[i] != UINT64_MAX)
            found[k++] = all[i];
    free(all);
}

static signmf_status npy_finish(mp_ctx *c, const char *path, const sm_npy_layout *lay,
                                unsigned char *buf, size_t r0, size_t nr, signmf_status st,
                                signmf_error *errp, const signmf_load_options *lo, sm_tbuf *b);

/* A .npy header's whole length from its first got bytes (at least 10 for
 * version 1, 12 for 2 and 3), or 0 when they do not tell: the length
 * field is in bytes 8..9 (version 1) or 8..11. */
static size_t npy_header_len(const unsigned char *pre, size_t got)
{
    if (got >= 10 && pre[6] == 1)
        return 10 + ((size_t)pre[8] | (size_t)pre[9] << 8);
    if (got >= 12 && (pre[6] == 2 || pre[6] == 3))
        return 12 + ((size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
                     (size_t)pre[11] << 24);
    return 0;
}

/* This process's rows of a dense .npy file (rows cut evenly: any cut
 * gives the same triplets), checked in row-major order as sm_npy_load
 * checks them, so the lowest-ranked failure is the one process's first.
 * Collective; on failure the message has been printed by one process. */
static signmf_status npy_rows(mp_ctx *c, int fd, const char *path, uint64_t size,
                              const signmf_load_options *lo, sm_tbuf *b, sm_npy_layout *lay)
{
    signmf_error err;
    memset(&err, 0, sizeof err);
    /* the header: its length is in bytes 8..11 */
    unsigned char pre[12] = {0};
    size_t want = size < sizeof pre ? (size_t)size : sizeof pre;
    ssize_t got = pread_full(fd, (char *)pre, want, 0);
    size_t hlen = npy_header_len(pre, got < 0 ? 0 : (size_t)got);
    size_t hn = hlen > sizeof pre ? hlen : sizeof pre;
    if (hn > size)
        hn = (size_t)size;
    unsigned char *hb = malloc(hn ? hn : 1);
    if (!hb)
        mp_abort(c, "%s: out of memory for a %zu-byte .npy header", path, hn);
    signmf_status st = pread_full(fd, (char *)hb, hn, 0) == (ssize_t)hn
                           ? sm_npy_check(path, hb, (size_t)size, lay, &err)
                           : sm_fail(&err, SIGNMF_EIO, "%s: cannot read", path);
    free(hb);
    if (mp_failed(c, st, &err))
        return SIGNMF_EFORMAT;
    size_t r0 = lay->rows * (size_t)c->rank / (size_t)c->size;
    size_t r1 = lay->rows * (size_t)(c->rank + 1) / (size_t)c->size, nr = r1 - r0;
    size_t bytes = nr * lay->cols * lay->es;
    unsigned char *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        mp_abort(c, "%s: out of memory for rows %zu..%zu (%zu bytes)", path, r0, r1, bytes);
    bool ok = true;
    if (!lay->fortran)
        ok = pread_full(fd, (char *)buf, bytes, lay->data_off + r0 * lay->cols * lay->es) ==
             (ssize_t)bytes;
    else
        for (size_t k = 0; ok && k < lay->cols; ++k)
            ok = pread_full(fd, (char *)buf + k * nr * lay->es, nr * lay->es,
                            lay->data_off + (k * lay->rows + r0) * lay->es) ==
                 (ssize_t)(nr * lay->es);
    if (!ok)
        sm_fail(&err, SIGNMF_EIO, "%s: cannot read", path);
    return npy_finish(c, path, lay, buf, r0, nr, ok ? SIGNMF_OK : SIGNMF_EIO, &err, lo, b);
}

/* The rest of npy_rows, on this process's rows in buf (freed here) or the
 * failure st of reading them. Collective. */
static signmf_status npy_finish(mp_ctx *c, const char *path, const sm_npy_layout *lay,
                                unsigned char *buf, size_t r0, size_t nr, signmf_status st,
                                signmf_error *errp, const signmf_load_options *lo, sm_tbuf *b)
{
    signmf_error err = *errp;
    size_t nnz = 0;
    if (st == SIGNMF_OK)
        st = sm_npy_rows(path, lay, buf, r0, nr, lo, b, &nnz, &err);
    free(buf);
    if (mp_failed(c, st, &err))
        return SIGNMF_ERANGE;
    uint64_t mine = nnz, total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (total == 0) {
        st =
            sm_fail(&err, SIGNMF_EEMPTY, "%s: no ratings (every entry of the %zu x %zu array is 0)",
                    path, lay->rows, lay->cols);
        mp_failed(c, c->rank == 0 ? st : SIGNMF_OK, &err);
        return SIGNMF_EEMPTY;
    }
    return SIGNMF_OK;
}

/* .npz: every process streams the member through (inflating it if it is
 * deflated) and keeps only its own rows, so none holds the array; the
 * header, sizes and CRC-32 get signmf train's checks and messages. */
typedef struct npz_sink {
    mp_ctx *c;
    const sm_npz_member *m;
    unsigned char *hdr; /* the member's first bytes, until its header is whole */
    size_t hlen, hgot, hcap;
    bool checked;
    sm_npy_layout lay;
    signmf_status st;
    signmf_error err;
    size_t r0, nr;
    unsigned char *buf; /* this process's rows, in the file's order */
} npz_sink;

typedef struct npz_src {
    int fd;
} npz_src;

static size_t npz_read(void *ctx, uint64_t off, unsigned char *buf, size_t n)
{
    ssize_t got = pread_full(((npz_src *)ctx)->fd, (char *)buf, n, off);
    return got < 0 ? 0 : (size_t)got;
}

/* Copy the part of [off, off + n) of the member that falls in [a, a + len)
 * to dst + (that part's offset from a). */
static void npz_overlap(const unsigned char *p, size_t n, uint64_t off, uint64_t a, uint64_t len,
                        unsigned char *dst)
{
    uint64_t lo = off > a ? off : a, hi = off + n < a + len ? off + n : a + len;
    if (lo < hi)
        memcpy(dst + (lo - a), p + (lo - off), (size_t)(hi - lo));
}

static int npz_check_header(npz_sink *k)
{
    k->checked = true;
    k->st = sm_npy_check(k->m->name, k->hdr, (size_t)k->m->usize, &k->lay, &k->err);
    free(k->hdr);
    k->hdr = NULL;
    if (k->st != SIGNMF_OK)
        return 1;
    const sm_npy_layout *lay = &k->lay;
    k->r0 = lay->rows * (size_t)k->c->rank / (size_t)k->c->size;
    k->nr = lay->rows * (size_t)(k->c->rank + 1) / (size_t)k->c->size - k->r0;
    size_t bytes = k->nr * lay->cols * lay->es;
    k->buf = malloc(bytes ? bytes : 1);
    if (!k->buf)
        mp_abort(k->c, "%s: out of memory for rows %zu..%zu (%zu bytes)", k->m->name, k->r0,
                 k->r0 + k->nr, bytes);
    return 0;
}

static int npz_take(void *ctx, const unsigned char *p, size_t n, uint64_t off)
{
    npz_sink *k = ctx;
    if (!k->checked) {
        /* the header's whole length, once its first 12 bytes are in */
        size_t want = k->hlen ? k->hlen : 12;
        while (k->hgot < want && off + n > k->hgot) {
            if (k->hgot >= k->hcap) {
                size_t cap = k->hcap ? 2 * k->hcap : 4096;
                unsigned char *h = realloc(k->hdr, cap);
                if (!h)
                    mp_abort(k->c, "%s: out of memory for a %zu-byte .npy header", k->m->name, cap);
                k->hdr = h, k->hcap = cap;
            }
            size_t at = (size_t)(k->hgot - off), take = n - at;
            if (take > k->hcap - k->hgot)
                take = k->hcap - k->hgot;
            memcpy(k->hdr + k->hgot, p + at, take);
            k->hgot += take;
            if (!k->hlen && k->hgot >= 12) {
                k->hlen = npy_header_len(k->hdr, k->hgot);
                if (k->hlen < 12)
                    k->hlen = 12;
                if (k->hlen > k->m->usize)
                    k->hlen = (size_t)k->m->usize;
                want = k->hlen < 12 ? 12 : k->hlen;
            }
        }
        if (k->hgot < want && k->hgot < k->m->usize)
            return 0;
        /* a bad header is reported after the stream, as signmf train
         * checks the CRC-32 before the array */
        if (npz_check_header(k))
            return 0;
    }
    if (k->st != SIGNMF_OK)
        return 0;
    const sm_npy_layout *lay = &k->lay;
    size_t es = lay->es;
    if (!lay->fortran) {
        npz_overlap(p, n, off, lay->data_off + (uint64_t)k->r0 * lay->cols * es,
                    (uint64_t)k->nr * lay->cols * es, k->buf);
    } else if (k->nr) {
        uint64_t col = (uint64_t)lay->rows * es;
        uint64_t first = off + n <= lay->data_off ? 0
                         : off > lay->data_off    ? off - lay->data_off
                                                  : 0;
        for (uint64_t q = first / col; q < lay->cols && lay->data_off + q * col < off + n; ++q)
            npz_overlap(p, n, off, lay->data_off + q * col + (uint64_t)k->r0 * es,
                        (uint64_t)k->nr * es, k->buf + q * k->nr * es);
    }
    return 0;
}

static signmf_status npz_rows(mp_ctx *c, int fd, const char *path, uint64_t size,
                              const signmf_load_options *lo, sm_tbuf *b, sm_npy_layout *lay)
{
    signmf_error err;
    memset(&err, 0, sizeof err);
    sm_npz_member m;
    memset(&m, 0, sizeof m);
    /* the directory and the member's local header: the map is touched only
     * there, and unmapped before the member is read */
    signmf_status st;
    void *map =
        size <= SIZE_MAX ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (map == MAP_FAILED) {
        st = sm_fail(&err, SIGNMF_EIO, "%s: cannot map the archive", path);
    } else {
        st = sm_npz_locate(path, map, (size_t)size, lo, &m, &err);
        munmap(map, (size_t)size);
    }
    if (mp_failed(c, st, &err))
        return SIGNMF_EFORMAT;
    npz_sink k = {.c = c, .m = &m};
    npz_src src = {fd};
    st = sm_npz_stream(&m, npz_read, &src, npz_take, &k, NULL, &err);
    if (st == SIGNMF_OK && !k.checked)
        npz_check_header(&k);
    if (st == SIGNMF_OK && k.st != SIGNMF_OK) {
        st = k.st;
        err = k.err;
    }
    free(k.hdr);
    *lay = k.lay;
    if (st != SIGNMF_OK) {
        free(k.buf);
        mp_failed(c, st, &err);
        return SIGNMF_EFORMAT;
    }
    mp_failed(c, SIGNMF_OK, &err);
    return npy_finish(c, m.name, &k.lay, k.buf, k.r0, k.nr, SIGNMF_OK, &err, lo, b);
}

/* The entries of this process's range of a Matrix Market file, with the
 * whole file's checks: the first process in file order to meet an error
 * or the entry after the declared count reports it (a second parse, with
 * the entries before its range known, finds which comes first); too few
 * entries are reported by the last process, which read the last line.
 * Collective; on failure the message has been printed by one process. */
static signmf_status mm_entries(mp_ctx *c, const char *path, const sm_mm_head *mh, uint64_t start,
                                uint64_t end, uint64_t line0, const signmf_load_options *lo,
                                sm_tbuf *b, signmf_error *err)
{
    uint64_t seen = 0, last = 0, before = 0, total = 0;
    signmf_status st =
        sm_mm_parse_range(path, mh, start, end, line0, UINT64_MAX, lo, b, &seen, &last, err);
    MPI_Exscan(&seen, &before, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (c->rank == 0)
        before = 0;
    bool over = before + seen > mh->nnz;
    int mine = st != SIGNMF_OK || over ? c->rank : c->size, first = c->size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c->comm);
    if (first < c->size) {
        if (first == c->rank && over) {
            sm_tbuf loc = {.locate = true, .find_user = INT64_MIN, .find_item = INT64_MIN};
            memset(err, 0, sizeof *err);
            st = sm_mm_parse_range(path, mh, start, end, line0, mh->nnz - before, lo, &loc, &seen,
                                   &last, err);
        }
        mp_failed(c, first == c->rank ? st : SIGNMF_OK, err);
        return SIGNMF_EPARSE;
    }
    MPI_Allreduce(&seen, &total, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (total < mh->nnz) {
        if (c->rank == c->size - 1)
            st = sm_fail_at(err, SIGNMF_EPARSE, last, 1,
                            "%s:%llu: expected %llu entries as declared on line %llu, found %llu",
                            path, (unsigned long long)last, (unsigned long long)mh->nnz,
                            (unsigned long long)mh->size_line, (unsigned long long)total);
        mp_failed(c, st, err);
        return SIGNMF_EPARSE;
    }
    return SIGNMF_OK;
}

signmf_status mp_load(mp_ctx *c, const char *path, const signmf_load_options *lo,
                      const sm_sign_options *so, double holdout, uint32_t seed, sm_part_input *in,
                      size_t *owned_ratings, signmf_ratings **held)
{
    *held = NULL;
    signmf_error err;
    memset(&err, 0, sizeof err);
    memset(in, 0, sizeof *in);
    signmf_status st = SIGNMF_OK;
    signmf_format fmt = lo->format;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint64_t size = 0;
    char head[4096];
    ssize_t hn = 0;
    if (fd < 0) {
        char eb[128];
        st = sm_fail(&err, errno == ENOENT ? SIGNMF_ENOTFOUND : SIGNMF_EIO, "%s: cannot open: %s",
                     path, strerror_r(errno, eb, sizeof eb));
    } else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = sm_fail(&err, SIGNMF_EINVAL, "%s: signmf-mpi reads a regular file", path);
    } else if ((size = (uint64_t)sb.st_size) == 0) {
        st = sm_fail(&err, SIGNMF_EEMPTY, "%s: file is empty", path);
    } else if ((hn = pread_full(fd, head, sizeof head, 0)) < 0) {
        st = sm_fail(&err, SIGNMF_EIO, "%s: cannot read", path);
    }
    if (st == SIGNMF_OK && fmt == SIGNMF_FORMAT_AUTO) {
        if (has_ext(path, ".npy"))
            fmt = SIGNMF_FORMAT_NPY;
        else if (has_ext(path, ".npz"))
            fmt = SIGNMF_FORMAT_NPZ;
        else if (has_ext(path, ".mtx") || has_ext(path, ".mm"))
            fmt = SIGNMF_FORMAT_MM;
        else if (has_ext(path, ".csv"))
            fmt = SIGNMF_FORMAT_CSV;
        else if (hn >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
            fmt = SIGNMF_FORMAT_NPY;
        else if (hn >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
            fmt = SIGNMF_FORMAT_NPZ;
        else
            fmt = sm_text_sniff(head, (size_t)hn);
    }
    if (mp_failed(c, st, &err)) {
        if (fd >= 0)
            close(fd);
        return SIGNMF_EINVAL;
    }

    /* Matrix Market: every process reads the banner and size line; the
     * entry lines after it are shared out like a TSV file's lines */
    sm_tbuf b = {0};
    sm_npy_layout lay;
    memset(&lay, 0, sizeof lay);
    sm_mm_head mh;
    memset(&mh, 0, sizeof mh);
    sm_range_info info;
    memset(&info, 0, sizeof info);
    uint64_t start = 0, end = 0, line0 = 0;
    int fields = -1;
    if (fmt == SIGNMF_FORMAT_NPY || fmt == SIGNMF_FORMAT_NPZ) {
        st = fmt == SIGNMF_FORMAT_NPY ? npy_rows(c, fd, path, size, lo, &b, &lay)
                                      : npz_rows(c, fd, path, size, lo, &b, &lay);
        close(fd);
        if (st != SIGNMF_OK) {
            sm_tbuf_release(&b);
            return st;
        }
    } else {
        if (fmt == SIGNMF_FORMAT_MM) {
            st = sm_mm_parse_head(path, lo, &mh, &err);
            if (mp_failed(c, st, &err)) {
                close(fd);
                return SIGNMF_EPARSE;
            }
        }
        /* this process's lines: from the first line start at or after its
         * share of the bytes to the next process's */
        uint64_t base = mh.data_start, span = size - base;
        start = line_start(fd, base + span * (uint64_t)c->rank / (uint64_t)c->size, size);
        end = line_start(fd, base + span * (uint64_t)(c->rank + 1) / (uint64_t)c->size, size);
        if (c->rank == 0)
            start = base;
        uint64_t nl = count_newlines(fd, start, end);
        MPI_Exscan(&nl, &line0, 1, MPI_UINT64_T, MPI_SUM, c->comm);
        if (c->rank == 0)
            line0 = 0;
        line0 += mh.size_line;
        /* a CSV header fixes the field count of every line: all read line 1 */
        if (start > 0 && fmt == SIGNMF_FORMAT_CSV) {
            uint64_t e1 = line_start(fd, 1, size);
            sm_tbuf hb = {0};
            sm_range_info hi;
            signmf_error he;
            memset(&he, 0, sizeof he);
            fields = sm_text_parse_range(path, fmt, 0, e1, 0, -1, lo, &hb, &hi, &he) == SIGNMF_OK
                         ? hi.fields
                         : 0;
            sm_tbuf_release(&hb);
        }
        close(fd);
        if (fmt == SIGNMF_FORMAT_MM) {
            if (mm_entries(c, path, &mh, start, end, line0, lo, &b, &err) != SIGNMF_OK) {
                sm_tbuf_release(&b);
                return SIGNMF_EPARSE;
            }
        } else
            st = sm_text_parse_range(path, fmt, start, end, line0, fields, lo, &b, &info, &err);
        if (start > 0 && fmt == SIGNMF_FORMAT_CSV)
            info.fields = fields;
        /* blank lines end a file, never a range that more lines follow */
        int content = st != SIGNMF_OK || info.content;
        int *later = malloc((size_t)c->size * sizeof *later);
        if (!later)
            mp_abort(c, "out of memory for %d processes' flags", c->size);
        MPI_Allgather(&content, 1, MPI_INT, later, 1, MPI_INT, c->comm);
        bool after = false;
        for (int r = c->rank + 1; r < c->size; ++r)
            after |= later[r] != 0;
        free(later);
        if (st == SIGNMF_OK && info.blank_line && after)
            st = sm_fail_at(&err, SIGNMF_EPARSE, info.blank_line, 1,
                            "%s:%llu:1: expected a rating line, found an empty line", path,
                            (unsigned long long)info.blank_line);
        if (mp_failed(c, st, &err)) {
            sm_tbuf_release(&b);
            return SIGNMF_EPARSE;
        }
    }
    uint64_t nloc = b.count, ntot = 0;
    MPI_Allreduce(&nloc, &ntot, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    int hdr = info.fields;
    MPI_Bcast(&hdr, 1, MPI_INT, 0, c->comm);
    if (ntot == 0) {
        st = sm_fail(&err, SIGNMF_EEMPTY,
                     fmt == SIGNMF_FORMAT_CSV && hdr ? "%s: no ratings after the header line"
                                                     : "%s: no ratings",
                     path);
        mp_failed(c, c->rank == 0 ? st : SIGNMF_OK, &err);
        sm_tbuf_release(&b);
        return SIGNMF_EEMPTY;
    }

    /* dense indices, then the triplets to their users' owners */
    /* narrow ids become indices in place, as in the one-process loader */
    uint32_t *ui = b.user, *ii = b.item;
    if (b.wide) {
        ui = malloc((b.count ? b.count : 1) * sizeof *ui);
        ii = malloc((b.count ? b.count : 1) * sizeof *ii);
        if (!ui || !ii)
            mp_abort(c, "%s: out of memory for %zu ratings' indices", path, b.count);
    }
    /* a Matrix Market size line fixes the dimensions, unless compact ids */
    bool fixed = fmt == SIGNMF_FORMAT_MM && lo->ids != SIGNMF_IDS_COMPACT;
    /* and an array's shape always does */
    size_t fix[2] = {fixed ? (size_t)mh.rows : lay.rows, fixed ? (size_t)mh.cols : lay.cols};
    st = map_axis(c, &b, 0, lo->ids, fix[0], path, &in->user_map, ui, &err);
    if (!mp_failed(c, st, &err)) {
        st = map_axis(c, &b, 1, lo->ids, fix[1], path, &in->item_map, ii, &err);
        if (mp_failed(c, st, &err))
            st = SIGNMF_ERANGE;
    } else
        st = SIGNMF_ERANGE;
    if (st != SIGNMF_OK) {
        if (b.wide) {
            free(ui);
            free(ii);
        }
        sm_tbuf_release(&b);
        sm_idmap_release(&in->user_map);
        sm_idmap_release(&in->item_map);
        return st;
    }
    size_t users = in->user_map.count, items = in->item_map.count, n = b.count;
    in->users = users;
    in->items = items;
    /* owners balanced by ratings, each row counted once more as the
     * trainer's tasks count it */
    for (int side = 0; side < 2; ++side) {
        size_t rows = side ? items : users;
        uint64_t *cnt = calloc(rows ? rows : 1, sizeof *cnt),
                 *sum = calloc(rows ? rows : 1, sizeof *sum);
        c->bounds[side] = malloc(((size_t)c->size + 1) * sizeof(size_t));
        if (!cnt || !sum || !c->bounds[side])
            mp_abort(c, "%s: out of memory for %zu rows' rating counts", path,
                     side ? items : users);
        const uint32_t *ix = side ? ii : ui;
        for (size_t k = 0; k < n; ++k)
            cnt[ix[k]]++;
        MPI_Allreduce(cnt, sum, (int)rows, MPI_UINT64_T, MPI_SUM, c->comm);
        for (size_t r = 0; r < rows; ++r)
            sum[r] += 1;
        mp_cut(sum, rows, c->size, c->bounds[side]);
        free(cnt);
        free(sum);
        in->own[side][0] = c->bounds[side][c->rank];
        in->own[side][1] = c->bounds[side][c->rank + 1];
    }
    /* grouped by owner as they are made, in file order within each */
    int *sc = calloc((size_t)c->size, sizeof *sc);
    size_t *at = calloc((size_t)c->size + 1, sizeof *at);
    mp_trip *tr = malloc((n ? n : 1) * sizeof *tr);
    if (!sc || !at || !tr)
        mp_abort(c, "%s: out of memory for %zu ratings to send", path, n);
    for (size_t k = 0; k < n; ++k)
        sc[mp_owner(c, 0, ui[k])]++;
    for (int p = 0; p < c->size; ++p)
        at[p + 1] = at[p] + (size_t)sc[p];
    for (size_t k = 0; k < n; ++k)
        tr[at[mp_owner(c, 0, ui[k])]++] = (mp_trip){ui[k], ii[k], b.value[k]};
    if (b.wide) {
        free(ui);
        free(ii);
    }
    sm_tbuf_release(&b);
    void *rv = NULL;
    size_t nr = 0;
    if (exchange(c, tr, sc, sizeof *tr, &rv, &nr) != SIGNMF_OK)
        mp_abort(c, "%s: out of memory receiving the owned users' ratings", path);
    free(tr);
    /* this process's users' ratings, sorted as the one-process loader
     * sorts them */
    signmf_ratings r;
    memset(&r, 0, sizeof r);
    r.users = users;
    r.items = items;
    r.count = nr;
    r.user = malloc((nr ? nr : 1) * sizeof *r.user);
    r.item = malloc((nr ? nr : 1) * sizeof *r.item);
    r.value = malloc((nr ? nr : 1) * sizeof *r.value);
    if (!r.user || !r.item || !r.value)
        mp_abort(c, "%s: out of memory for %zu owned ratings", path, nr);
    const mp_trip *mine = rv;
    for (size_t k = 0; k < nr; ++k) {
        r.user[k] = mine[k].u;
        r.item[k] = mine[k].i;
        r.value[k] = mine[k].v;
    }
    sm_free(rv);
    /* a sorted file arrives sorted: the sources' ranges ascend */
    bool sorted = true;
    for (size_t k = 1; k < nr && sorted; ++k)
        sorted =
            r.user[k - 1] < r.user[k] || (r.user[k - 1] == r.user[k] && r.item[k - 1] < r.item[k]);
    if (!sorted && !sm_sort_triplets(&r.user, &r.item, &r.value, nr, users, items))
        mp_abort(c, "%s: out of memory sorting %zu owned ratings", path, nr);
    uint64_t dup = UINT64_MAX, first_dup;
    for (size_t k = 1; k < nr; ++k)
        if (r.user[k] == r.user[k - 1] && r.item[k] == r.item[k - 1]) {
            dup = (uint64_t)r.user[k] << 32 | r.item[k];
            break;
        }
    MPI_Allreduce(&dup, &first_dup, 1, MPI_UINT64_T, MPI_MIN, c->comm);
    if (first_dup != UINT64_MAX) {
        int64_t du = sm_idmap_id(&in->user_map, (size_t)(first_dup >> 32));
        int64_t di = sm_idmap_id(&in->item_map, (size_t)(first_dup & 0xffffffffu));
        uint64_t found[2];
        locate_dup(c, path, fmt, &mh, start, end, line0, fields, lo, du, di, found);
        if (c->rank == 0)
            cli_error("%s:%llu: duplicate rating for user %lld, item %lld (first at line %llu)",
                      path, (unsigned long long)found[1], (long long)du, (long long)di,
                      (unsigned long long)found[0]);
        free(r.user);
        free(r.item);
        free(r.value);
        sm_idmap_release(&in->user_map);
        sm_idmap_release(&in->item_map);
        free(sc);
        free(at);
        return SIGNMF_EDUPLICATE;
    }
    r.user_map.direct = r.item_map.direct = true;
    if (holdout > 0) {
        /* one MT19937 stream over the users in order: this process's
         * users start where the earlier processes' users' draws end */
        uint64_t draws = sm_split_draws(&r, holdout), skip = 0;
        MPI_Exscan(&draws, &skip, 1, MPI_UINT64_T, MPI_SUM, c->comm);
        if (c->rank == 0)
            skip = 0;
        sm_rng *rng = malloc(sizeof *rng);
        signmf_ratings *tr = NULL;
        if (!rng)
            mp_abort(c, "out of memory for the --holdout split");
        sm_rng_seed(rng, seed);
        for (uint64_t k = 0; k < skip; ++k)
            (void)sm_rng_u32(rng);
        st = sm_ratings_split_rng(&r, holdout, rng, &tr, held, &err);
        free(rng);
        if (st != SIGNMF_OK)
            mp_abort(c, "%s", err.message);
        free(r.user);
        free(r.item);
        free(r.value);
        r.user = tr->user;
        r.item = tr->item;
        r.value = tr->value;
        r.count = tr->count;
        tr->user = tr->item = NULL;
        tr->value = NULL;
        signmf_ratings_free(tr);
        nr = r.count;
        nloc = nr;
        MPI_Allreduce(&nloc, &ntot, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    }
    in->data_crc = whole_crc(c, users, items, &r, ntot);
    *owned_ratings = nr;
    st = sm_signs_build_rows(&r, so, &in->by_user, &in->zero, &err);
    free(r.user);
    free(r.item);
    free(r.value);
    if (mp_failed(c, st, &err)) {
        sm_signs_release(&in->by_user);
        sm_zeros_release(&in->zero);
        sm_idmap_release(&in->user_map);
        sm_idmap_release(&in->item_map);
        free(sc);
        free(at);
        return st != SIGNMF_OK ? st : SIGNMF_EINVAL;
    }

    /* each signed or neutral entry to its item's owner, in user order,
     * so that the owners receive them sorted by user */
    const sm_signs *d = &in->by_user;
    const sm_zeros *z = &in->zero;
    memset(sc, 0, (size_t)c->size * sizeof *sc);
    for (size_t u = in->own[0][0]; u < in->own[0][1]; ++u) {
        for (size_t e = d->ptr[u]; e < d->ptr[u + 1]; ++e)
            sc[mp_owner(c, 1, d->idx[e])]++;
        for (size_t e = z->ptr[u]; e < z->ptr[u + 1]; ++e)
            sc[mp_owner(c, 1, z->idx[e])]++;
    }
    at[0] = 0;
    for (int p = 0; p < c->size; ++p)
        at[p + 1] = at[p] + (size_t)sc[p];
    size_t ne = at[c->size];
    mp_entry *ent = malloc((ne ? ne : 1) * sizeof *ent);
    if (!ent)
        mp_abort(c, "%s: out of memory for %zu signed entries to send", path, ne);
    for (size_t u = in->own[0][0]; u < in->own[0][1]; ++u) {
        for (size_t e = d->ptr[u]; e < d->ptr[u + 1]; ++e)
            ent[at[mp_owner(c, 1, d->idx[e])]++] =
                (mp_entry){(uint32_t)u, d->idx[e], e < d->mid[u] ? 1 : -1};
        for (size_t e = z->ptr[u]; e < z->ptr[u + 1]; ++e)
            ent[at[mp_owner(c, 1, z->idx[e])]++] = (mp_entry){(uint32_t)u, z->idx[e], 0};
    }
    if (exchange(c, ent, sc, sizeof *ent, &rv, &nr) != SIGNMF_OK)
        mp_abort(c, "%s: out of memory receiving the owned items' entries", path);
    free(ent);
    free(sc);
    free(at);
    mp_entry *got = rv;
    /* D's columns of the owned items, and their neutral entries, by user */
    sm_signs *cs = &in->cols;
    sm_zeros *cz = &in->cols_zero;
    size_t nd = 0, nz = 0;
    for (size_t e = 0; e < nr; ++e)
        got[e].cls ? ++nd : ++nz;
    cs->rows = users;
    cs->cols = items;
    cs->nnz = nd;
    cs->ptr = sm_alloc(users + 1, sizeof *cs->ptr);
    cs->mid = sm_alloc(users ? users : 1, sizeof *cs->mid);
    cs->idx = sm_alloc(nd ? nd : 1, sizeof *cs->idx);
    cz->rows = users;
    cz->nnz = nz;
    cz->ptr = sm_alloc(users + 1, sizeof *cz->ptr);
    cz->idx = sm_alloc(nz ? nz : 1, sizeof *cz->idx);
    if (!cs->ptr || !cs->mid || !cs->idx || !cz->ptr || !cz->idx)
        mp_abort(c, "%s: out of memory for the owned items' %zu entries", path, nr);
    size_t e = 0, pd = 0, pz = 0;
    for (size_t u = 0; u < users; ++u) {
        cs->ptr[u] = pd;
        cz->ptr[u] = pz;
        size_t e0 = e;
        while (e < nr && got[e].u == u)
            ++e;
        /* a sender wrote the +1 entries, then the -1, then the neutral */
        for (size_t x = e0; x < e; ++x)
            if (got[x].cls == 1)
                cs->idx[pd++] = got[x].j;
        cs->mid[u] = pd;
        for (size_t x = e0; x < e; ++x)
            if (got[x].cls == -1)
                cs->idx[pd++] = got[x].j;
        for (size_t x = e0; x < e; ++x)
            if (got[x].cls == 0)
                cz->idx[pz++] = got[x].j;
    }
    cs->ptr[users] = pd;
    cz->ptr[users] = pz;
    sm_free(got);
    return SIGNMF_OK;
}

signmf_status mp_rated_rows(mp_ctx *c, const sm_signs *by_user, const sm_zeros *zero, size_t users,
                            size_t **ptr, uint32_t **idx)
{
    *ptr = NULL;
    *idx = NULL;
    size_t u0 = c->bounds[0][c->rank], u1 = c->bounds[0][c->rank + 1], n = 0;
    uint64_t *cnt = malloc((u1 - u0 + 1) * sizeof *cnt);
    if (!cnt)
        mp_abort(c, "out of memory for %zu users' rated counts", u1 - u0);
    for (size_t u = u0; u < u1; ++u) {
        cnt[u - u0] = sm_rated_count(by_user, zero, u);
        n += cnt[u - u0];
    }
    uint32_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows)
        mp_abort(c, "out of memory for %zu rated entries", n);
    for (size_t u = u0, at = 0; u < u1; ++u) {
        sm_rated_row(by_user, zero, u, rows + at);
        at += cnt[u - u0];
    }
    uint64_t *all = NULL;
    if (c->rank == 0) {
        all = malloc((users + 1) * sizeof *all);
        *ptr = sm_alloc(users + 1, sizeof **ptr);
        if (!all || !*ptr)
            mp_abort(c, "out of memory for %zu users' rated rows", users);
    }
    for (int r = 0; r < c->size; ++r) {
        c->counts[r] = (int)(c->bounds[0][r + 1] - c->bounds[0][r]);
        c->displs[r] = (int)c->bounds[0][r];
    }
    MPI_Gatherv(cnt, (int)(u1 - u0), MPI_UINT64_T, all, c->counts, c->displs, MPI_UINT64_T, 0,
                c->comm);
    size_t total = 0;
    if (c->rank == 0) {
        (*ptr)[0] = 0;
        for (size_t u = 0; u < users; ++u)
            (*ptr)[u + 1] = (*ptr)[u] + all[u];
        total = (*ptr)[users];
        *idx = sm_alloc(total ? total : 1, sizeof **idx);
        if (!*idx)
            mp_abort(c, "out of memory for %zu rated entries", total);
        for (int r = 0; r < c->size; ++r) {
            size_t a = (*ptr)[c->bounds[0][r]], z = (*ptr)[c->bounds[0][r + 1]];
            c->counts[r] = (int)(z - a);
            c->displs[r] = (int)a;
        }
    }
    MPI_Gatherv(rows, (int)n, MPI_UINT32_T, *idx, c->counts, c->displs, MPI_UINT32_T, 0, c->comm);
    free(all);
    free(cnt);
    free(rows);
    return SIGNMF_OK;
}
