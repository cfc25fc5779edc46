/* Loader entry points and the builder shared by every format: id maps,
 * (user, item) sort and duplicate detection. */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

signmf_load_options signmf_load_options_default(void)
{
    signmf_load_options o = {
        .format = SIGNMF_FORMAT_AUTO,
        .ids = SIGNMF_IDS_AUTO,
        .rating_min = -1e9,
        .rating_max = 1e9,
        .npz_key = NULL,
        .max_inflated = 0,
    };
    return o;
}

size_t signmf_ratings_users(const signmf_ratings *r)
{
    return r ? r->users : 0;
}
size_t signmf_ratings_items(const signmf_ratings *r)
{
    return r ? r->items : 0;
}
size_t signmf_ratings_count(const signmf_ratings *r)
{
    return r ? r->count : 0;
}

signmf_status signmf_ratings_triplets(const signmf_ratings *r, size_t first, size_t n,
                                      int64_t *users, int64_t *items, double *ratings,
                                      signmf_error *err)
{
    sm_error_clear(err);
    if (r == NULL)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_triplets: ratings is NULL");
    if (first > r->count || n > r->count - first)
        return sm_fail(err, SIGNMF_ERANGE,
                       "signmf_ratings_triplets: entries %zu + %zu beyond the %zu ratings", first,
                       n, r->count);
    for (size_t k = 0; k < n; k++) {
        size_t e = first + k;
        if (users != NULL)
            users[k] = sm_idmap_id(&r->user_map, r->user[e]);
        if (items != NULL)
            items[k] = sm_idmap_id(&r->item_map, r->item[e]);
        if (ratings != NULL)
            ratings[k] = r->value[e];
    }
    return SIGNMF_OK;
}

void signmf_ratings_free(signmf_ratings *r)
{
    if (!r)
        return;
    free(r->user);
    free(r->item);
    free(r->value);
    sm_idmap_release(&r->user_map);
    sm_idmap_release(&r->item_map);
    free(r);
}

signmf_status sm_tbuf_grow(sm_tbuf *b, size_t cap)
{
    if (cap <= b->cap)
        return SIGNMF_OK;
    const size_t idsize = b->wide ? sizeof(int64_t) : sizeof(uint32_t);
    if (cap > SIZE_MAX / sizeof(double))
        return SIGNMF_EOVERFLOW;
    void *u = realloc(b->user, cap * idsize);
    if (!u)
        return SIGNMF_ENOMEM;
    b->user = u;
    void *i = realloc(b->item, cap * idsize);
    if (!i)
        return SIGNMF_ENOMEM;
    b->item = i;
    double *v = realloc(b->value, cap * sizeof *v);
    if (!v)
        return SIGNMF_ENOMEM;
    b->value = v;
    b->cap = cap;
    return SIGNMF_OK;
}

static signmf_status sm_widen_ids(void **ids, size_t count, size_t cap)
{
    int64_t *w = realloc(*ids, (cap ? cap : 1) * sizeof *w);
    if (!w)
        return SIGNMF_ENOMEM;
    /* back to front: each 8-byte slot lies at or after the 4-byte one it
     * replaces */
    const uint32_t *n = (const uint32_t *)(void *)w;
    for (size_t k = count; k-- > 0;)
        w[k] = (int64_t)n[k];
    *ids = w;
    return SIGNMF_OK;
}

signmf_status sm_tbuf_widen(sm_tbuf *b)
{
    if (b->wide)
        return SIGNMF_OK;
    if (b->cap > SIZE_MAX / sizeof(int64_t))
        return SIGNMF_EOVERFLOW;
    signmf_status st = sm_widen_ids(&b->user, b->count, b->cap);
    if (st != SIGNMF_OK)
        return st;
    /* the user array is wide already: widen the items or fail as a whole */
    st = sm_widen_ids(&b->item, b->count, b->cap);
    if (st != SIGNMF_OK) {
        int64_t *w = b->user;
        uint32_t *n = b->user;
        for (size_t k = 0; k < b->count; k++)
            n[k] = (uint32_t)w[k];
        return st;
    }
    b->wide = true;
    return SIGNMF_OK;
}

void sm_tbuf_release(sm_tbuf *b)
{
    free(b->user);
    free(b->item);
    free(b->value);
    b->user = b->item = NULL;
    b->value = NULL;
    b->count = b->cap = 0;
    b->wide = false;
}

/* One id column of a triplet buffer, narrow or wide. */
typedef struct sm_idcol {
    const uint32_t *n;
    const int64_t *w;
} sm_idcol;
#define SM_ID(c, k) ((c).w ? (c).w[k] : (int64_t)(c).n[k])

/* Sort 64-bit keys ascending, LSD by byte; passes whose byte is the same
 * for every key are skipped, so narrow ranges cost one or two passes. */
static void sm_radix_u64(uint64_t *a, uint64_t *tmp, size_t n)
{
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t k = 0; k < n; k++)
            cnt[((a[k] >> shift) & 0xff) + 1]++;
        bool trivial = false;
        for (unsigned d = 1; d <= 256; d++)
            if (cnt[d] == n)
                trivial = true;
        if (trivial)
            continue;
        for (unsigned d = 1; d <= 256; d++)
            cnt[d] += cnt[d - 1];
        for (size_t k = 0; k < n; k++)
            tmp[cnt[(a[k] >> shift) & 0xff]++] = a[k];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static signmf_status sm_axis_compact(sm_idcol ids, size_t n, int64_t lo, int64_t hi, uint32_t *idx,
                                     sm_idmap *map, const char *what, const char *axis,
                                     signmf_error *err)
{
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    if (range < (uint64_t)n + ((uint64_t)1 << 22)) {
        /* A rank table over the id range: linear time, and real data sets
         * (MovieLens item ids up to ~200k) always take this branch. */
        uint32_t *t = calloc((size_t)range + 1, sizeof *t);
        if (!t)
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, axis);
        for (size_t k = 0; k < n; k++)
            t[(uint64_t)SM_ID(ids, k) - (uint64_t)lo] = 1;
        size_t d = 0;
        for (uint64_t x = 0; x <= range; x++)
            d += t[x];
        if (d > SM_MAX_DIM) {
            free(t);
            return sm_fail(err, SIGNMF_ERANGE, "%s: %zu distinct %s ids, more than %zu", what, d,
                           axis, SM_MAX_DIM);
        }
        int64_t *out = sm_alloc(d, sizeof *out);
        if (!out) {
            free(t);
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, axis);
        }
        uint32_t r = 0;
        for (uint64_t x = 0; x <= range; x++) {
            if (t[x]) {
                out[r] = (int64_t)((uint64_t)lo + x);
                t[x] = r++;
            }
        }
        for (size_t k = 0; k < n; k++)
            idx[k] = t[(uint64_t)SM_ID(ids, k) - (uint64_t)lo];
        free(t);
        map->direct = false;
        map->count = d;
        map->ids = out;
        return SIGNMF_OK;
    }
    /* Sparse ids over a huge range (hashes, timestamps): sort a copy. */
    uint64_t *s = malloc(n * sizeof *s), *tmp = malloc(n * sizeof *tmp);
    if (!s || !tmp) {
        free(s);
        free(tmp);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, axis);
    }
    const uint64_t flip = (uint64_t)1 << 63; /* signed order as unsigned order */
    for (size_t k = 0; k < n; k++)
        s[k] = (uint64_t)SM_ID(ids, k) ^ flip;
    sm_radix_u64(s, tmp, n);
    free(tmp);
    size_t d = 0;
    for (size_t k = 0; k < n; k++)
        if (k == 0 || s[k] != s[k - 1])
            s[d++] = s[k];
    if (d > SM_MAX_DIM) {
        free(s);
        return sm_fail(err, SIGNMF_ERANGE, "%s: %zu distinct %s ids, more than %zu", what, d, axis,
                       SM_MAX_DIM);
    }
    int64_t *out = sm_alloc(d, sizeof *out);
    if (!out) {
        free(s);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, axis);
    }
    for (size_t k = 0; k < d; k++)
        out[k] = (int64_t)(s[k] ^ flip);
    free(s);
    map->direct = false;
    map->count = d;
    map->ids = out;
    for (size_t k = 0; k < n; k++) {
        size_t at = 0;
        sm_idmap_index(map, SM_ID(ids, k), &at);
        idx[k] = (uint32_t)at;
    }
    return SIGNMF_OK;
}

static signmf_status sm_axis_map(sm_idcol ids, size_t n, signmf_id_mode mode, size_t fixed,
                                 uint32_t *idx, sm_idmap *map, const char *what, const char *axis,
                                 signmf_error *err)
{
    map->direct = true;
    map->ids = NULL;
    map->count = 0;
    if (fixed) {
        for (size_t k = 0; k < n; k++)
            idx[k] = (uint32_t)(SM_ID(ids, k) - 1);
        map->count = fixed;
        return SIGNMF_OK;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t k = 0; k < n; k++) {
        lo = SM_ID(ids, k) < lo ? SM_ID(ids, k) : lo;
        hi = SM_ID(ids, k) > hi ? SM_ID(ids, k) : hi;
    }
    bool direct = false;
    if (mode == SIGNMF_IDS_DIRECT) {
        if (lo < 1)
            return sm_fail(err, SIGNMF_ERANGE, "%s: expected %s ids >= 1 (direct ids), found %lld",
                           what, axis, (long long)lo);
        if ((uint64_t)hi > SM_MAX_DIM)
            return sm_fail(err, SIGNMF_ERANGE,
                           "%s: expected %s ids <= %zu (direct ids), found %lld", what, axis,
                           SM_MAX_DIM, (long long)hi);
        direct = true;
    } else if (mode == SIGNMF_IDS_AUTO && lo >= 1 && (uint64_t)hi <= SM_MAX_DIM &&
               (uint64_t)hi <= (uint64_t)n + n / 2 + 16) {
        /* The distinct count never exceeds n, so only a range this small
         * can pass the density test; count exactly with a bitmap. */
        size_t words = ((size_t)hi + 63) / 64;
        uint64_t *bits = calloc(words, sizeof *bits);
        if (!bits)
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory mapping %s ids", what, axis);
        for (size_t k = 0; k < n; k++) {
            uint64_t x = (uint64_t)SM_ID(ids, k) - 1;
            bits[x >> 6] |= (uint64_t)1 << (x & 63);
        }
        size_t d = 0;
        for (size_t w = 0; w < words; w++)
            d += (size_t)__builtin_popcountll(bits[w]);
        free(bits);
        direct = (uint64_t)hi <= (uint64_t)d + d / 2 + 16;
    }
    if (direct) {
        for (size_t k = 0; k < n; k++)
            idx[k] = (uint32_t)(SM_ID(ids, k) - 1);
        map->count = (size_t)hi;
        return SIGNMF_OK;
    }
    return sm_axis_compact(ids, n, lo, hi, idx, map, what, axis, err);
}

typedef struct sm_kv {
    uint64_t key; /* user << item_bits | item */
    double v;
} sm_kv;

static unsigned sm_bits(size_t count)
{
    return count <= 1 ? 0 : (unsigned)(64 - __builtin_clzll((unsigned long long)count - 1));
}

/* LSD radix sort of packed (user, item) keys with at most 12-bit digits:
 * the bucket heads stay in cache, unlike a counting sort over a dimension
 * of 10^5 or more, which misses on nearly every scatter (3x slower on 25M
 * ratings). Takes ownership of the three arrays and replaces them with
 * sorted ones; on allocation failure they are all freed and set to NULL. */
bool sm_sort_triplets(uint32_t **pu, uint32_t **pi, double **pv, size_t n, size_t users,
                      size_t items)
{
    const unsigned ib = sm_bits(items), total = ib + sm_bits(users);
    sm_kv *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    const unsigned passes = (total + 11) / 12;
    const unsigned width = passes ? (total + passes - 1) / passes : 1;
    size_t(*hist)[4096] = calloc(passes ? passes : 1, sizeof *hist);
    uint32_t *u = *pu, *it = *pi;
    double *v = *pv;
    bool ok = a && b && hist;
    if (ok) {
        for (size_t k = 0; k < n; k++)
            a[k] = (sm_kv){(uint64_t)u[k] << ib | it[k], v[k]};
    }
    free(u);
    free(it);
    free(v);
    *pu = NULL;
    *pi = NULL;
    *pv = NULL;
    if (!ok)
        goto out;
    const uint64_t mask = ((uint64_t)1 << width) - 1;
    for (size_t k = 0; k < n; k++)
        for (unsigned p = 0; p < passes; p++)
            hist[p][(a[k].key >> (p * width)) & mask]++;
    for (unsigned p = 0; p < passes; p++) {
        size_t *h = hist[p], sum = 0;
        bool trivial = false;
        for (size_t d = 0; d <= mask; d++) {
            size_t c = h[d];
            trivial |= c == n;
            h[d] = sum;
            sum += c;
        }
        if (trivial)
            continue;
        const unsigned shift = p * width;
        for (size_t k = 0; k < n; k++)
            b[h[(a[k].key >> shift) & mask]++] = a[k];
        sm_kv *t = a;
        a = b;
        b = t;
    }
    u = malloc(n * sizeof *u);
    it = malloc(n * sizeof *it);
    v = malloc(n * sizeof *v);
    ok = u && it && v;
    if (ok) {
        const uint64_t imask = ((uint64_t)1 << ib) - 1;
        for (size_t k = 0; k < n; k++) {
            u[k] = (uint32_t)(a[k].key >> ib);
            it[k] = (uint32_t)(a[k].key & imask);
            v[k] = a[k].v;
        }
        *pu = u;
        *pi = it;
        *pv = v;
    } else {
        free(u);
        free(it);
        free(v);
    }
out:
    free(a);
    free(b);
    free(hist);
    return ok;
}

signmf_status sm_ratings_build(sm_tbuf *b, signmf_id_mode ids, size_t fixed_users,
                               size_t fixed_items, const char *what, signmf_ratings **out,
                               sm_dup *dup, signmf_error *err)
{
    *out = NULL;
    dup->found = false;
    size_t n = b->count;
    signmf_status st = SIGNMF_OK;
    if (n == 0) {
        sm_tbuf_release(b);
        return sm_fail(err, SIGNMF_EEMPTY, "%s: no ratings", what);
    }
    signmf_ratings *r = calloc(1, sizeof *r);
    uint32_t *u = NULL, *it = NULL;
    double *v = NULL;
    if (r && !b->wide) {
        /* narrow ids become indices in place */
        u = b->user;
        it = b->item;
        b->user = b->item = NULL;
    } else if (r) {
        u = malloc(n * sizeof *u);
        it = malloc(n * sizeof *it);
    }
    if (!r || !u || !it) {
        st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for %zu ratings", what, n);
        goto fail;
    }
    r->user_map.direct = r->item_map.direct = true;
    sm_idcol uc = b->wide ? (sm_idcol){NULL, b->user} : (sm_idcol){u, NULL};
    sm_idcol ic = b->wide ? (sm_idcol){NULL, b->item} : (sm_idcol){it, NULL};
    st = sm_axis_map(uc, n, ids, fixed_users, u, &r->user_map, what, "user", err);
    if (st != SIGNMF_OK)
        goto fail;
    free(b->user);
    b->user = NULL;
    st = sm_axis_map(ic, n, ids, fixed_items, it, &r->item_map, what, "item", err);
    if (st != SIGNMF_OK)
        goto fail;
    free(b->item);
    b->item = NULL;
    r->users = r->user_map.count;
    r->items = r->item_map.count;
    v = b->value;
    b->value = NULL;

    bool sorted = true;
    for (size_t k = 1; k < n && sorted; k++)
        sorted = u[k - 1] < u[k] || (u[k - 1] == u[k] && it[k - 1] < it[k]);
    if (!sorted) {
        if (!sm_sort_triplets(&u, &it, &v, n, r->users, r->items)) {
            st = sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory sorting %zu ratings", what, n);
            goto fail;
        }
        for (size_t k = 1; k < n; k++) {
            if (u[k] == u[k - 1] && it[k] == it[k - 1]) {
                dup->found = true;
                dup->user = sm_idmap_id(&r->user_map, u[k]);
                dup->item = sm_idmap_id(&r->item_map, it[k]);
                st = SIGNMF_EDUPLICATE;
                goto fail;
            }
        }
    }
    r->user = u;
    r->item = it;
    r->value = v;
    r->count = n;
    sm_tbuf_release(b);
    *out = r;
    return SIGNMF_OK;

fail:
    free(u);
    free(it);
    free(v);
    signmf_ratings_free(r);
    sm_tbuf_release(b);
    return st;
}

signmf_status sm_ratings_alloc_direct(size_t users, size_t items, size_t count,
                                      signmf_ratings **out)
{
    *out = NULL;
    signmf_ratings *r = calloc(1, sizeof *r);
    if (!r)
        return SIGNMF_ENOMEM;
    r->users = users;
    r->items = items;
    r->count = count;
    r->user_map = (sm_idmap){.direct = true, .count = users, .ids = NULL};
    r->item_map = (sm_idmap){.direct = true, .count = items, .ids = NULL};
    if (count > SIZE_MAX / sizeof(double)) {
        free(r);
        return SIGNMF_EOVERFLOW;
    }
    r->user = malloc((count ? count : 1) * sizeof *r->user);
    r->item = malloc((count ? count : 1) * sizeof *r->item);
    r->value = malloc((count ? count : 1) * sizeof *r->value);
    if (!r->user || !r->item || !r->value) {
        signmf_ratings_free(r);
        return SIGNMF_ENOMEM;
    }
    *out = r;
    return SIGNMF_OK;
}

/* Open and stat `path`; the messages of every loader. */
static signmf_status sm_open_stat(const char *path, int *fd_out, struct stat *sb, signmf_error *err)
{
    char eb[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_fail(err, SIGNMF_EIO, "%s: cannot open: %s", path,
                       strerror_r(errno, eb, sizeof eb));
    if (fstat(fd, sb) != 0) {
        int e = errno;
        close(fd);
        return sm_fail(err, SIGNMF_EIO, "%s: cannot stat: %s", path, strerror_r(e, eb, sizeof eb));
    }
    *fd_out = fd;
    return SIGNMF_OK;
}

/* The rest of an open file into memory; closes fd. A FIFO cannot be opened
 * a second time for this (its writer may be gone), hence the fd. */
static signmf_status sm_read_fd(const char *path, int fd, const struct stat *st, char **buf,
                                size_t *len, signmf_error *err);

signmf_status sm_read_file(const char *path, char **buf, size_t *len, signmf_error *err)
{
    *buf = NULL;
    *len = 0;
    int fd = -1;
    struct stat sb;
    signmf_status st = sm_open_stat(path, &fd, &sb, err);
    if (st != SIGNMF_OK)
        return st;
    return sm_read_fd(path, fd, &sb, buf, len, err);
}

static signmf_status sm_read_fd(const char *path, int fd, const struct stat *st, char **buf,
                                size_t *len, signmf_error *err)
{
    char eb[128];
    *buf = NULL;
    *len = 0;
    if (S_ISDIR(st->st_mode)) {
        close(fd);
        return sm_fail(err, SIGNMF_EIO, "%s: cannot read: %s", path,
                       strerror_r(EISDIR, eb, sizeof eb));
    }
    size_t cap = 65536;
    if (S_ISREG(st->st_mode) && st->st_size > 0) {
        if ((uint64_t)st->st_size >= SIZE_MAX - 1) {
            close(fd);
            return sm_fail(err, SIGNMF_EOVERFLOW, "%s: file too large", path);
        }
        cap = (size_t)st->st_size + 1;
    }
    char *b = malloc(cap);
    size_t n = 0;
    if (!b) {
        close(fd);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (cap - n < 2) {
            /* Growing while the file is read (a pipe, or a file that grew
             * after fstat). */
            if (cap > SIZE_MAX / 2) {
                free(b);
                close(fd);
                return sm_fail(err, SIGNMF_EOVERFLOW, "%s: file too large", path);
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                close(fd);
                return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory reading", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t want = cap - n - 1;
        if (want > ((size_t)1 << 30))
            want = (size_t)1 << 30;
        ssize_t got = read(fd, b + n, want);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(b);
            close(fd);
            return sm_fail(err, SIGNMF_EIO, "%s: cannot read: %s", path,
                           strerror_r(e, eb, sizeof eb));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return SIGNMF_OK;
}

signmf_status sm_src_fill(sm_src *s, signmf_error *err)
{
    if (s->eof)
        return SIGNMF_OK;
    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
    }
    while (!s->eof && s->len < s->cap) {
        size_t want = s->cap - s->len;
        if (s->bounded && want > s->left)
            want = (size_t)s->left;
        if (s->bounded && want == 0) {
            s->eof = true;
            break;
        }
        ssize_t got = read(s->fd, s->buf + s->len, want);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            char eb[128];
            return sm_fail(err, SIGNMF_EIO, "%s: cannot read: %s", s->path,
                           strerror_r(errno, eb, sizeof eb));
        }
        if (got == 0)
            s->eof = true;
        else {
            s->len += (size_t)got;
            if (s->bounded)
                s->left -= (uint64_t)got;
        }
    }
    return SIGNMF_OK;
}

signmf_status sm_src_rewind(sm_src *s, signmf_error *err)
{
    s->pos = 0;
    if (s->fd < 0)
        return SIGNMF_OK;
    if (lseek(s->fd, 0, SEEK_SET) != 0) {
        char eb[128];
        return sm_fail(err, SIGNMF_EIO, "%s: cannot read: %s", s->path,
                       strerror_r(errno, eb, sizeof eb));
    }
    s->len = 0;
    s->eof = false;
    return sm_src_fill(s, err);
}

void sm_src_close(sm_src *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    s->fd = -1;
    s->buf = NULL;
    s->cap = s->pos = s->len = 0;
}

/* A regular file is streamed unless `whole`; anything else is read whole
 * (a pipe cannot be read twice). Open, stat and read errors are worded as
 * sm_read_file words them. */
signmf_status sm_src_open(sm_src *s, bool whole, signmf_error *err)
{
    const char *path = s->path;
    s->fd = -1;
    s->buf = NULL;
    s->cap = s->pos = s->len = 0;
    s->eof = false;
    s->size = 0;
    s->bounded = false;
    s->left = 0;
    int fd = -1;
    struct stat sb;
    signmf_status st = sm_open_stat(path, &fd, &sb, err);
    if (st != SIGNMF_OK)
        return st;
    if (whole || !S_ISREG(sb.st_mode)) {
        if ((st = sm_read_fd(path, fd, &sb, &s->buf, &s->len, err)) != SIGNMF_OK)
            return st;
        s->cap = s->len + 1;
        s->eof = true;
        s->size = s->len;
        return SIGNMF_OK;
    }
    s->buf = malloc(SM_SRC_CAP);
    if (!s->buf) {
        close(fd);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory reading %zu bytes", path,
                       (size_t)SM_SRC_CAP);
    }
    s->fd = fd;
    s->cap = SM_SRC_CAP;
    s->size = (uint64_t)sb.st_size;
    st = sm_src_fill(s, err);
    if (st != SIGNMF_OK)
        sm_src_close(s);
    return st;
}

static bool sm_has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcasecmp(path + n - e, ext) == 0;
}

signmf_status signmf_ratings_load(const char *path, const signmf_load_options *opt,
                                  signmf_ratings **out, signmf_error *err)
{
    sm_error_clear(err);
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_load: out is NULL");
    *out = NULL;
    if (!path)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_load: path is NULL");
    signmf_load_options def = signmf_load_options_default();
    if (!opt)
        opt = &def;
    if ((unsigned)opt->format > SIGNMF_FORMAT_NPZ)
        return sm_fail(err, SIGNMF_EINVAL, "%s: unknown format %d", path, (int)opt->format);
    if ((unsigned)opt->ids > SIGNMF_IDS_COMPACT)
        return sm_fail(err, SIGNMF_EINVAL, "%s: unknown id mode %d", path, (int)opt->ids);
    if (!(opt->rating_min <= opt->rating_max))
        return sm_fail(err, SIGNMF_EINVAL, "%s: rating range [%g, %g] is empty", path,
                       opt->rating_min, opt->rating_max);

    signmf_format fmt = opt->format;
    if (fmt == SIGNMF_FORMAT_AUTO) {
        if (sm_has_ext(path, ".npy"))
            fmt = SIGNMF_FORMAT_NPY;
        else if (sm_has_ext(path, ".npz"))
            fmt = SIGNMF_FORMAT_NPZ;
        else if (sm_has_ext(path, ".mtx") || sm_has_ext(path, ".mm"))
            fmt = SIGNMF_FORMAT_MM;
        else if (sm_has_ext(path, ".csv"))
            fmt = SIGNMF_FORMAT_CSV;
    }
    sm_src src = {.path = path, .fd = -1};
    bool whole = fmt == SIGNMF_FORMAT_NPY || fmt == SIGNMF_FORMAT_NPZ;
    signmf_status st = sm_src_open(&src, whole, err);
    if (st != SIGNMF_OK)
        return st;
    if (src.len == 0) {
        sm_src_close(&src);
        return sm_fail(err, SIGNMF_EEMPTY, "%s: file is empty", path);
    }
    if (fmt == SIGNMF_FORMAT_AUTO) {
        if (src.len >= 6 && memcmp(src.buf, "\x93NUMPY", 6) == 0)
            fmt = SIGNMF_FORMAT_NPY;
        else if (src.len >= 4 && memcmp(src.buf, "PK\x03\x04", 4) == 0)
            fmt = SIGNMF_FORMAT_NPZ;
        else
            fmt = sm_text_sniff(src.buf, src.len);
    }
    /* the binary formats need the whole image */
    if ((fmt == SIGNMF_FORMAT_NPY || fmt == SIGNMF_FORMAT_NPZ) && src.fd >= 0) {
        sm_src_close(&src);
        if ((st = sm_src_open(&src, true, err)) != SIGNMF_OK)
            return st;
    }
    switch (fmt) {
    case SIGNMF_FORMAT_NPY:
        st = sm_npy_load(path, (const unsigned char *)src.buf, src.len, opt, out, err);
        break;
    case SIGNMF_FORMAT_NPZ:
        st = sm_npz_load(path, (const unsigned char *)src.buf, src.len, opt, out, err);
        break;
    default:
        st = sm_text_load(path, &src, fmt, opt, out, err);
        break;
    }
    sm_src_close(&src);
    return st;
}

signmf_status signmf_ratings_from_triplets(const int64_t *users, const int64_t *items,
                                           const double *ratings, size_t count, signmf_id_mode ids,
                                           signmf_ratings **out, signmf_error *err)
{
    sm_error_clear(err);
    if (!out)
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_triplets: out is NULL");
    *out = NULL;
    if (count && (!users || !items || !ratings))
        return sm_fail(err, SIGNMF_EINVAL, "signmf_ratings_from_triplets: NULL array");
    if ((unsigned)ids > SIGNMF_IDS_COMPACT)
        return sm_fail(err, SIGNMF_EINVAL, "triplets: unknown id mode %d", (int)ids);
    for (size_t k = 0; k < count; k++) {
        if (!isfinite(ratings[k]))
            return sm_fail(err, SIGNMF_ERANGE, "triplet %zu: expected a finite rating, found %g",
                           k + 1, ratings[k]);
        if (ratings[k] == 0)
            return sm_fail(err, SIGNMF_ERANGE,
                           "triplet %zu: expected a nonzero rating (0 means unrated), found 0",
                           k + 1);
        if (ids == SIGNMF_IDS_DIRECT && (users[k] < 1 || items[k] < 1))
            return sm_fail(err, SIGNMF_ERANGE,
                           "triplet %zu: expected ids >= 1 (direct ids), found user %lld, "
                           "item %lld",
                           k + 1, (long long)users[k], (long long)items[k]);
    }
    sm_tbuf b = {.wide = true};
    if (sm_tbuf_grow(&b, count ? count : 1) != SIGNMF_OK) {
        sm_tbuf_release(&b);
        return sm_fail(err, SIGNMF_ENOMEM, "triplets: out of memory for %zu ratings", count);
    }
    if (count) {
        memcpy(b.user, users, count * sizeof *users);
        memcpy(b.item, items, count * sizeof *items);
        memcpy(b.value, ratings, count * sizeof *ratings);
    }
    b.count = count;
    sm_dup dup;
    signmf_status st = sm_ratings_build(&b, ids, 0, 0, "triplets", out, &dup, err);
    if (st == SIGNMF_EDUPLICATE && dup.found) {
        size_t pos[2] = {0, 0}, f = 0;
        for (size_t k = 0; k < count && f < 2; k++)
            if (users[k] == dup.user && items[k] == dup.item)
                pos[f++] = k + 1;
        return sm_fail(err, SIGNMF_EDUPLICATE,
                       "triplet %zu: duplicate rating for user %lld, item %lld (first at "
                       "triplet %zu)",
                       pos[1], (long long)dup.user, (long long)dup.item, pos[0]);
    }
    return st;
}
