/* signmf synth: a deterministic MovieLens-like ratings generator.
 *
 * The output is part of the interface (tests and benchmarks hash it), so the
 * generator is fully specified here and uses only integer arithmetic and
 * IEEE +, -, *, /, sqrt and floor, which round identically everywhere; no
 * libm transcendental whose last bit may change between libc versions.
 *
 *  - random numbers: splitmix64 streams, one per (seed, purpose, index), so
 *    each user's draws do not depend on any other user's;
 *  - item popularity: a random permutation gives each item a rank r, its
 *    weight is 1 / (r + 15) (Zipf, exponent 1, flattened at the head);
 *  - ratings per user: 20 plus a share of the rest proportional to
 *    U^(-1/4) - 1 (U uniform in (0, 1]: a Pareto tail of index 4),
 *    capped at the number of items, the excess handed to the others;
 *  - items of a user: drawn by popularity without replacement, by an alias
 *    table with rejection for light users, by the n smallest keys U / w
 *    for heavy ones (at least items / 8); then, when ratings >= items,
 *    every item that no one drew replaces an entry of an item drawn
 *    twice or more, so every id 1..items occurs;
 *  - rating = clamp(floor(3.5 + b_u + q_j + x_u . y_j + e + 0.5), 1, 5)
 *    with b_u, q_j, e and the 8 latent coordinates approximately normal
 *    (Irwin-Hall sums of 4 uniforms): a real low-rank signal;
 *  - output sorted by user, then item: user item rating timestamp. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SYNTH_MIN_PER_USER = 20, SYNTH_LATENT = 8 };

enum { TAG_ITEMS = 1, TAG_ACTIVITY = 2, TAG_SAMPLE = 3, TAG_USER = 4 };

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_next(rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

static rng rng_stream(uint64_t seed, uint64_t tag, uint64_t index)
{
    rng r = {mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (tag * 0xd1b54a32d192ed03ULL)) ^
             mix64(index + 0x632be59bd9b4e019ULL)};
    return r;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in (0, 1]. */
static double rng_unit_open0(rng *r)
{
    return (double)((rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

/* Uniform integer in [0, n) by a multiply-high: no loop, so the number of
 * draws per value is fixed. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Approximately standard normal: the centred sum of four uniforms, scaled
 * to unit variance. */
static double rng_gauss(rng *r)
{
    double s = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
    return (s - 2.0) * 1.7320508075688772;
}

typedef struct synth_state {
    uint64_t users, items, ratings, seed;
    double *weight;    /* items: popularity */
    double *quality;   /* items */
    double *latent;    /* items x SYNTH_LATENT */
    double *alias_p;   /* items */
    uint32_t *alias_j; /* items */
    uint64_t *count;   /* users: ratings of each user */
    uint64_t *offset;  /* users + 1 */
    uint32_t *list;    /* ratings: item indices of each user */
    uint32_t *stamp;   /* items: user + 1 that last drew the item */
    uint64_t *used;    /* items: how many users drew the item */
} synth_state;

static void synth_free(synth_state *s)
{
    free(s->weight);
    free(s->quality);
    free(s->latent);
    free(s->alias_p);
    free(s->alias_j);
    free(s->count);
    free(s->offset);
    free(s->list);
    free(s->stamp);
    free(s->used);
}

static void *xcalloc(uint64_t n, size_t size)
{
    if (n > SIZE_MAX / size)
        return NULL;
    return calloc((size_t)(n ? n : 1), size);
}

static void build_items(synth_state *s)
{
    uint64_t n = s->items;
    rng r = rng_stream(s->seed, TAG_ITEMS, 0);
    /* rank[j]: Fisher-Yates on the identity, kept in alias_j for now */
    uint32_t *rank = s->alias_j;
    for (uint64_t j = 0; j < n; j++)
        rank[j] = (uint32_t)j;
    for (uint64_t j = n; j > 1; j--) {
        uint64_t k = rng_below(&r, j);
        uint32_t t = rank[j - 1];
        rank[j - 1] = rank[k];
        rank[k] = t;
    }
    for (uint64_t j = 0; j < n; j++) {
        double rk = (double)rank[j];
        s->weight[j] = 1.0 / (rk + 15.0);
        /* popular items are rated a little higher, as in MovieLens */
        s->quality[j] = 0.45 * rng_gauss(&r) + 0.4 * (0.5 - rk / (double)n);
        for (int d = 0; d < SYNTH_LATENT; d++)
            s->latent[j * SYNTH_LATENT + d] = 0.55 * rng_gauss(&r);
    }
}

/* Vose's alias method over the popularity weights. */
static bool build_alias(synth_state *s)
{
    uint64_t n = s->items;
    double total = 0;
    for (uint64_t j = 0; j < n; j++)
        total += s->weight[j];
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    double *p = malloc(n * sizeof *p);
    if (small == NULL || large == NULL || p == NULL) {
        free(small);
        free(large);
        free(p);
        return false;
    }
    size_t ns = 0, nl = 0;
    for (uint64_t j = 0; j < n; j++) {
        p[j] = s->weight[j] * (double)n / total;
        if (p[j] < 1.0)
            small[ns++] = (uint32_t)j;
        else
            large[nl++] = (uint32_t)j;
    }
    while (ns > 0 && nl > 0) {
        uint32_t a = small[--ns], b = large[nl - 1];
        s->alias_p[a] = p[a];
        s->alias_j[a] = b;
        p[b] = (p[b] + p[a]) - 1.0;
        if (p[b] < 1.0) {
            nl--;
            small[ns++] = b;
        }
    }
    while (nl > 0) {
        uint32_t b = large[--nl];
        s->alias_p[b] = 1.0;
        s->alias_j[b] = b;
    }
    while (ns > 0) {
        uint32_t a = small[--ns];
        s->alias_p[a] = 1.0;
        s->alias_j[a] = a;
    }
    free(small);
    free(large);
    free(p);
    return true;
}

static bool build_counts(synth_state *s)
{
    uint64_t U = s->users, extra = s->ratings - SYNTH_MIN_PER_USER * U;
    double *a = malloc(U * sizeof *a);
    if (a == NULL)
        return false;
    rng r = rng_stream(s->seed, TAG_ACTIVITY, 0);
    double total = 0;
    for (uint64_t u = 0; u < U; u++) {
        a[u] = 1.0 / sqrt(sqrt(rng_unit_open0(&r))) - 1.0;
        total += a[u];
    }
    /* Differences of floored prefix shares: non-negative, summing to extra. */
    double cum = 0;
    uint64_t prev = 0;
    for (uint64_t u = 0; u < U; u++) {
        cum += a[u];
        uint64_t upto = u + 1 == U ? extra : (uint64_t)floor((double)extra * cum / total);
        if (upto > extra)
            upto = extra;
        if (upto < prev)
            upto = prev;
        s->count[u] = SYNTH_MIN_PER_USER + (upto - prev);
        prev = upto;
    }
    free(a);
    uint64_t excess = 0;
    for (uint64_t u = 0; u < U; u++) {
        if (s->count[u] > s->items) {
            excess += s->count[u] - s->items;
            s->count[u] = s->items;
        }
    }
    /* ratings <= users * items guarantees room; fill it in user order */
    while (excess > 0) {
        uint64_t open = 0;
        for (uint64_t u = 0; u < U; u++)
            open += s->count[u] < s->items;
        uint64_t share = (excess + open - 1) / open;
        for (uint64_t u = 0; u < U && excess > 0; u++) {
            uint64_t room = s->items - s->count[u];
            uint64_t add = room < share ? room : share;
            if (add > excess)
                add = excess;
            s->count[u] += add;
            excess -= add;
        }
    }
    s->offset[0] = 0;
    for (uint64_t u = 0; u < U; u++)
        s->offset[u + 1] = s->offset[u] + s->count[u];
    return true;
}

typedef struct keyed {
    double key;
    uint32_t j;
} keyed;

static int cmp_keyed(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static bool sample_items(synth_state *s)
{
    keyed *keys = NULL;
    for (uint64_t u = 0; u < s->users; u++) {
        uint64_t n = s->count[u];
        uint32_t *out = s->list + s->offset[u];
        rng r = rng_stream(s->seed, TAG_SAMPLE, u);
        if (n * 8 >= s->items) {
            /* Heavy user: rejection would stall on the rare tail. Taking
             * the n smallest U / w includes item j with probability about
             * min(1, t w_j): still skewed towards popular items. */
            if (keys == NULL && (keys = malloc(s->items * sizeof *keys)) == NULL)
                return false;
            for (uint64_t j = 0; j < s->items; j++) {
                keys[j].key = rng_unit_open0(&r) / s->weight[j];
                keys[j].j = (uint32_t)j;
            }
            qsort(keys, s->items, sizeof *keys, cmp_keyed);
            for (uint64_t i = 0; i < n; i++)
                out[i] = keys[i].j;
        } else {
            uint32_t mark = (uint32_t)(u + 1);
            for (uint64_t i = 0; i < n;) {
                uint64_t col = rng_below(&r, s->items);
                uint32_t j = rng_unit(&r) < s->alias_p[col] ? (uint32_t)col : s->alias_j[col];
                if (s->stamp[j] == mark)
                    continue;
                s->stamp[j] = mark;
                out[i++] = j;
            }
        }
        for (uint64_t i = 0; i < n; i++)
            s->used[out[i]]++;
    }
    free(keys);
    return true;
}

/* Give every item that nobody drew to some user, in place of an item drawn
 * at least twice. An entry passed over (its item drawn at most once) can
 * never qualify later, since counts of drawn items only fall, so one
 * forward scan per user suffices. */
static bool cover_items(synth_state *s)
{
    if (s->ratings < s->items)
        return true;
    uint64_t *pos = malloc(s->users * sizeof *pos);
    if (pos == NULL)
        return false;
    memcpy(pos, s->offset, s->users * sizeof *pos);
    uint64_t u = 0;
    for (uint64_t j = 0; j < s->items; j++) {
        if (s->used[j] != 0)
            continue;
        /* Terminates: ratings >= items and j unused means some item was
         * drawn twice, and its entry lies ahead of some scan position. */
        for (;;) {
            if (pos[u] == s->offset[u + 1]) {
                u = u + 1 == s->users ? 0 : u + 1;
                continue;
            }
            uint32_t old = s->list[pos[u]];
            if (s->used[old] > 1) {
                s->used[old]--;
                s->used[j] = 1;
                s->list[pos[u]++] = (uint32_t)j;
                /* the next replacement goes to the next user */
                u = u + 1 == s->users ? 0 : u + 1;
                break;
            }
            pos[u]++;
        }
    }
    free(pos);
    return true;
}

int cli_synth_run(const cli_synth_params *p, cli_synth_sink sink, void *ctx)
{
    if (p->users == 0 || p->items == 0)
        return cli_error("synth: users and items must be at least 1");
    if (p->users >= UINT32_MAX || p->items >= UINT32_MAX)
        return cli_error("synth: at most %u users and items", UINT32_MAX - 1);
    unsigned __int128 least = (unsigned __int128)p->users * SYNTH_MIN_PER_USER;
    unsigned __int128 most = (unsigned __int128)p->users * p->items;
    if ((unsigned __int128)p->ratings < least)
        return cli_error("synth: %llu ratings cannot give each of %llu users the minimum of %d "
                         "(need at least %llu)",
                         (unsigned long long)p->ratings, (unsigned long long)p->users,
                         SYNTH_MIN_PER_USER, (unsigned long long)least);
    if ((unsigned __int128)p->ratings > most)
        return cli_error("synth: %llu ratings exceed the %llu users x %llu items = %.0f pairs",
                         (unsigned long long)p->ratings, (unsigned long long)p->users,
                         (unsigned long long)p->items, (double)most);

    synth_state s;
    memset(&s, 0, sizeof s);
    s.users = p->users;
    s.items = p->items;
    s.ratings = p->ratings;
    s.seed = p->seed;
    s.weight = xcalloc(s.items, sizeof *s.weight);
    s.quality = xcalloc(s.items, sizeof *s.quality);
    s.latent = xcalloc(s.items, SYNTH_LATENT * sizeof *s.latent);
    s.alias_p = xcalloc(s.items, sizeof *s.alias_p);
    s.alias_j = xcalloc(s.items, sizeof *s.alias_j);
    s.stamp = xcalloc(s.items, sizeof *s.stamp);
    s.used = xcalloc(s.items, sizeof *s.used);
    s.count = xcalloc(s.users, sizeof *s.count);
    s.offset = xcalloc(s.users + 1, sizeof *s.offset);
    s.list = xcalloc(s.ratings, sizeof *s.list);
    int rc = CLI_OK;
    if (!s.weight || !s.quality || !s.latent || !s.alias_p || !s.alias_j || !s.stamp || !s.used ||
        !s.count || !s.offset || !s.list) {
        rc = cli_error("synth: out of memory for %llu ratings", (unsigned long long)s.ratings);
        goto done;
    }
    build_items(&s);
    if (!build_alias(&s) || !build_counts(&s) || !sample_items(&s)) {
        rc = cli_error("synth: out of memory");
        goto done;
    }
    if (!cover_items(&s)) {
        rc = cli_error("synth: out of memory");
        goto done;
    }

    uint64_t maxn = 0;
    for (uint64_t u = 0; u < s.users; u++)
        maxn = s.count[u] > maxn ? s.count[u] : maxn;
    uint32_t *items = malloc(maxn * sizeof *items);
    uint8_t *ratings = malloc(maxn);
    uint32_t *stamps = malloc(maxn * sizeof *stamps);
    if (items == NULL || ratings == NULL || stamps == NULL) {
        rc = cli_error("synth: out of memory");
    } else {
        for (uint64_t u = 0; u < s.users && rc == CLI_OK; u++) {
            uint64_t n = s.count[u];
            uint32_t *list = s.list + s.offset[u];
            qsort(list, n, sizeof *list, cmp_u32);
            rng r = rng_stream(s.seed, TAG_USER, u);
            double bias = 0.35 * rng_gauss(&r);
            double x[SYNTH_LATENT];
            for (int d = 0; d < SYNTH_LATENT; d++)
                x[d] = 0.55 * rng_gauss(&r);
            uint64_t start = 874724710u + rng_below(&r, 20000000u);
            for (uint64_t i = 0; i < n; i++) {
                uint32_t j = list[i];
                const double *y = s.latent + (size_t)j * SYNTH_LATENT;
                double dot = 0;
                for (int d = 0; d < SYNTH_LATENT; d++)
                    dot += x[d] * y[d];
                double v = floor(3.5 + bias + s.quality[j] + dot + 0.6 * rng_gauss(&r) + 0.5);
                ratings[i] = (uint8_t)(v < 1 ? 1 : v > 5 ? 5 : v);
                stamps[i] = (uint32_t)(start + rng_below(&r, 30u * 86400u));
                items[i] = j + 1;
            }
            if (sink(ctx, (uint32_t)(u + 1), (size_t)n, items, ratings, stamps) != 0)
                rc = CLI_ERROR;
        }
    }
    free(items);
    free(ratings);
    free(stamps);
done:
    synth_free(&s);
    return rc;
}

/* ---- text output ------------------------------------------------------ */

typedef struct tsv_writer {
    FILE *f;
    char *buf;
    size_t len, cap;
    bool failed;
} tsv_writer;

static char *put_u32(char *p, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static bool tsv_flush(tsv_writer *w)
{
    if (w->len > 0 && fwrite(w->buf, 1, w->len, w->f) != w->len)
        w->failed = true;
    w->len = 0;
    return !w->failed;
}

static int tsv_sink(void *ctx, uint32_t user, size_t n, const uint32_t *items,
                    const uint8_t *ratings, const uint32_t *timestamps)
{
    tsv_writer *w = ctx;
    char ubuf[12];
    size_t ulen = (size_t)(put_u32(ubuf, user) - ubuf);
    for (size_t i = 0; i < n; i++) {
        /* at most 10 + 1 + 10 + 1 + 1 + 1 + 10 + 1 bytes per line */
        if (w->cap - w->len < 40 && !tsv_flush(w))
            return 1;
        char *p = w->buf + w->len;
        memcpy(p, ubuf, ulen);
        p += ulen;
        *p++ = '\t';
        p = put_u32(p, items[i]);
        *p++ = '\t';
        *p++ = (char)('0' + ratings[i]);
        *p++ = '\t';
        p = put_u32(p, timestamps[i]);
        *p++ = '\n';
        w->len = (size_t)(p - w->buf);
    }
    return 0;
}

/* ---- in-memory triplets --------------------------------------------- */

typedef struct triplets {
    int64_t *u, *i;
    double *r;
    size_t n;
} triplets;

static int triplet_sink(void *ctx, uint32_t user, size_t n, const uint32_t *items,
                        const uint8_t *ratings, const uint32_t *timestamps)
{
    (void)timestamps;
    triplets *t = ctx;
    for (size_t k = 0; k < n; k++) {
        t->u[t->n] = user;
        t->i[t->n] = items[k];
        t->r[t->n] = ratings[k];
        t->n++;
    }
    return 0;
}

int cli_synth_ratings(const cli_synth_params *p, signmf_ratings **out)
{
    *out = NULL;
    triplets t = {xcalloc(p->ratings, sizeof(int64_t)), xcalloc(p->ratings, sizeof(int64_t)),
                  xcalloc(p->ratings, sizeof(double)), 0};
    int rc;
    if (t.u == NULL || t.i == NULL || t.r == NULL) {
        rc = cli_error("synth: out of memory");
    } else if ((rc = cli_synth_run(p, triplet_sink, &t)) == CLI_OK) {
        signmf_error err;
        memset(&err, 0, sizeof err);
        signmf_status st =
            signmf_ratings_from_triplets(t.u, t.i, t.r, t.n, SIGNMF_IDS_DIRECT, out, &err);
        if (st != SIGNMF_OK)
            rc = cli_lib_error(st, &err);
    }
    free(t.u);
    free(t.i);
    free(t.r);
    return rc;
}

static const cli_command synth_cmd = {
    "synth",
    "Usage: signmf synth [options] > ratings.tsv\n"
    "\n"
    "Write a deterministic MovieLens-like ratings set to standard output as\n"
    "user<TAB>item<TAB>rating<TAB>timestamp lines, sorted by user then item.\n"
    "Ids are 1..users and 1..items; every user has at least 20 ratings;\n"
    "item popularity is Zipf-like; ratings 1..5 carry a low-rank signal.\n"
    "The same options always give the same bytes.\n"
    "\n"
    "Options:\n"
    "  --users N          number of users (default 943)\n"
    "  --items N          number of items (default 1682)\n"
    "  --ratings N        number of ratings (default 100000)\n"
    "  --seed S           generator seed (default 1)\n"
    "  -h, --help         show this help\n",
};

int cmd_synth(int argc, char **argv)
{
    cli_synth_params p = {943, 1682, 100000, 1};
    const cli_opt opts[] = {
        {"users", 0, CLI_UINT, &p.users, 1, UINT32_MAX - 1, 0, 0, NULL},
        {"items", 0, CLI_UINT, &p.items, 1, UINT32_MAX - 1, 0, 0, NULL},
        {"ratings", 0, CLI_UINT, &p.ratings, 1, UINT64_MAX, 0, 0, NULL},
        {"seed", 0, CLI_UINT, &p.seed, 0, UINT64_MAX, 0, 0, NULL},
        CLI_OPT_END,
    };
    size_t npos;
    int rc = cli_parse(&synth_cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc >= 0)
        return rc;
    tsv_writer w = {stdout, malloc(1u << 20), 0, 1u << 20, false};
    if (w.buf == NULL)
        return cli_error("synth: out of memory");
    rc = cli_synth_run(&p, tsv_sink, &w);
    if (rc == CLI_OK && (!tsv_flush(&w) || fflush(stdout) != 0))
        w.failed = true;
    free(w.buf);
    if (w.failed)
        return cli_error("synth: cannot write to standard output: %s", strerror(errno));
    return rc;
}
