/* Text ratings: MovieLens TSV, CSV with a header, Matrix Market coordinate.
 *
 * The file is read in chunks through one buffer (sm_src); lines are found
 * with memchr and fields are parsed in place with no allocation per line. Integers use a
 * hand-written parser; ratings take a fast exact path for short decimals (at most 15 significant
 * digits, no exponent: m / 10^k is then correctly rounded, exactly what strtod returns) and fall
 * back to strtod_l in the C locale.
 *
 * Matrix Market: the size line fixes the dimensions (empty rows and columns
 * are kept unless compact ids are asked for), indices must lie within it,
 * and an explicit 0 entry is rejected like in every sparse format, because
 * 0 means unrated. '%' comment lines and blank lines may appear anywhere
 * after the banner. TSV and CSV are strict: no comments, no blank lines
 * except at the end. A CSV file whose first field is numeric has no header
 * line (an extension to the contract, which requires one). */
#include "load.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum { SM_NUM_OK = 0, SM_NUM_BAD, SM_NUM_RANGE } sm_num;

typedef struct sm_text {
    const char *path;
    sm_src *src;
    const signmf_load_options *opt;
    locale_t cloc;
    signmf_error *err;
    bool csv;
    /* Ranges of a file (sm_text_parse_range); a whole file starts at line
     * 1 with fields -1 and no info. */
    uint64_t line0;
    int fields;
    sm_range_info *info;
} sm_text;

/* One line [s, e) without its terminator, and a field cursor over it. */
typedef struct sm_line {
    const char *s, *e, *p;
    uint64_t no;
    bool done; /* CSV: the last field has been returned */
} sm_line;

typedef struct sm_field {
    const char *s, *e;
} sm_field;

static inline bool sm_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Printable excerpt of [s, e) for messages. */
static const char *sm_excerpt(char *dst, size_t cap, const char *s, const char *e)
{
    size_t o = 0;
    const size_t limit = 40;
    size_t shown = 0;
    for (const char *p = s; p < e && o + 8 < cap; p++) {
        if (shown == limit) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            dst[o++] = (char)c;
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        }
        shown++;
    }
    dst[o] = '\0';
    return dst;
}

static uint64_t sm_col(const sm_line *l, const char *at)
{
    return (uint64_t)(at - l->s) + 1;
}

static signmf_status sm_expected(sm_text *t, signmf_status st, const sm_line *l, const char *at,
                                 const char *what, const sm_field *found)
{
    char ex[200];
    if (!found)
        return sm_fail_at(t->err, st, l->no, sm_col(l, at),
                          "%s:%llu:%llu: expected %s, found end of line", t->path,
                          (unsigned long long)l->no, (unsigned long long)sm_col(l, at), what);
    return sm_fail_at(t->err, st, l->no, sm_col(l, at), "%s:%llu:%llu: expected %s, found '%s'",
                      t->path, (unsigned long long)l->no, (unsigned long long)sm_col(l, at), what,
                      sm_excerpt(ex, sizeof ex, found->s, found->e));
}

static bool sm_next_field(sm_line *l, bool csv, sm_field *f)
{
    if (csv) {
        if (l->done)
            return false;
        const char *c = memchr(l->p, ',', (size_t)(l->e - l->p));
        const char *fe = c ? c : l->e;
        const char *s = l->p;
        while (s < fe && sm_is_ws(*s))
            s++;
        const char *e = fe;
        while (e > s && sm_is_ws(e[-1]))
            e--;
        f->s = s;
        f->e = e;
        if (c)
            l->p = c + 1;
        else
            l->done = true;
        return true;
    }
    const char *p = l->p;
    while (p < l->e && sm_is_ws(*p))
        p++;
    if (p == l->e) {
        l->p = p;
        return false;
    }
    const char *s = p;
    while (p < l->e && !sm_is_ws(*p))
        p++;
    f->s = s;
    f->e = p;
    l->p = p;
    return true;
}

static sm_num sm_parse_int(const char *s, const char *e, int64_t *out)
{
    bool neg = false, over = false;
    if (s < e && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
    }
    if (s == e)
        return SM_NUM_BAD;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(unsigned char)*s - '0';
        if (d > 9)
            return SM_NUM_BAD;
        if (v > (UINT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    const uint64_t lim = (uint64_t)INT64_MAX;
    if (over || v > lim + (neg ? 1 : 0))
        return SM_NUM_RANGE;
    if (neg)
        *out = v == lim + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return SM_NUM_OK;
}

static const double sm_pow10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static sm_num sm_parse_real(sm_text *t, const char *s, const char *e, double *out)
{
    const char *p = s;
    bool neg = false, dot = false;
    if (p < e && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;
    int nd = 0, frac = 0;
    for (; p < e; p++) {
        unsigned d = (unsigned)(unsigned char)*p - '0';
        if (d <= 9) {
            if (nd < 19)
                m = m * 10 + d;
            nd++;
            frac += dot;
        } else if (*p == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (p == e && nd > 0 && nd <= 15) {
        double v = (double)m;
        if (frac)
            v /= sm_pow10[frac];
        *out = neg ? -v : v;
        return SM_NUM_OK;
    }
    size_t n = (size_t)(e - s);
    char tmp[72];
    if (n == 0 || n >= sizeof tmp)
        return SM_NUM_BAD;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!t->cloc) {
        t->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!t->cloc)
            return SM_NUM_RANGE;
    }
    char *endp;
    double v = strtod_l(tmp, &endp, t->cloc);
    if (endp != tmp + n)
        return SM_NUM_BAD;
    *out = v;
    return SM_NUM_OK;
}

static signmf_status sm_get_id(sm_text *t, sm_line *l, const char *what, int64_t *id)
{
    sm_field f;
    const char *at = l->p;
    if (!sm_next_field(l, t->csv, &f))
        return sm_expected(t, SIGNMF_EPARSE, l, l->e, what, NULL);
    (void)at;
    sm_num r = sm_parse_int(f.s, f.e, id);
    if (SM_LIKELY(r == SM_NUM_OK)) {
        if (t->opt->ids == SIGNMF_IDS_DIRECT && (*id < 1 || (uint64_t)*id > SM_MAX_DIM)) {
            char ex[200];
            return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, sm_col(l, f.s),
                              "%s:%llu:%llu: expected %s in 1..%zu (direct ids), found '%s'",
                              t->path, (unsigned long long)l->no,
                              (unsigned long long)sm_col(l, f.s), what, SM_MAX_DIM,
                              sm_excerpt(ex, sizeof ex, f.s, f.e));
        }
        /* Issue 5: MovieLens-style ids start at 1, so 0 or a negative id in
         * a default load is far more likely a shifted column or a sentinel
         * than a real id; opaque ids must be asked for with compact mode. */
        if (t->opt->ids == SIGNMF_IDS_AUTO && *id < 1) {
            char ex[200];
            return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, sm_col(l, f.s),
                              "%s:%llu:%llu: expected %s >= 1 (use compact ids for arbitrary "
                              "ids), found '%s'",
                              t->path, (unsigned long long)l->no,
                              (unsigned long long)sm_col(l, f.s), what,
                              sm_excerpt(ex, sizeof ex, f.s, f.e));
        }
        return SIGNMF_OK;
    }
    if (r == SM_NUM_RANGE) {
        char ex[200];
        return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, sm_col(l, f.s),
                          "%s:%llu:%llu: expected %s within 64-bit signed range, found '%s'",
                          t->path, (unsigned long long)l->no, (unsigned long long)sm_col(l, f.s),
                          what, sm_excerpt(ex, sizeof ex, f.s, f.e));
    }
    char w[64];
    snprintf(w, sizeof w, "%s (an integer)", what);
    return sm_expected(t, SIGNMF_EPARSE, l, f.s, w, &f);
}

static signmf_status sm_check_rating(sm_text *t, sm_line *l, const sm_field *f, double v)
{
    char ex[200];
    uint64_t col = sm_col(l, f->s);
    if (!isfinite(v))
        return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, col,
                          "%s:%llu:%llu: expected a finite rating, found '%s'", t->path,
                          (unsigned long long)l->no, (unsigned long long)col,
                          sm_excerpt(ex, sizeof ex, f->s, f->e));
    if (v == 0)
        return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, col,
                          "%s:%llu:%llu: expected a nonzero rating (0 means unrated), found '%s'",
                          t->path, (unsigned long long)l->no, (unsigned long long)col,
                          sm_excerpt(ex, sizeof ex, f->s, f->e));
    if (v < t->opt->rating_min || v > t->opt->rating_max)
        return sm_fail_at(t->err, SIGNMF_ERANGE, l->no, col,
                          "%s:%llu:%llu: expected a rating in [%g, %g], found '%s'", t->path,
                          (unsigned long long)l->no, (unsigned long long)col, t->opt->rating_min,
                          t->opt->rating_max, sm_excerpt(ex, sizeof ex, f->s, f->e));
    return SIGNMF_OK;
}

static signmf_status sm_get_rating(sm_text *t, sm_line *l, bool integer, double *v)
{
    sm_field f;
    if (!sm_next_field(l, t->csv, &f))
        return sm_expected(t, SIGNMF_EPARSE, l, l->e, "rating", NULL);
    if (integer) {
        int64_t x;
        sm_num r = sm_parse_int(f.s, f.e, &x);
        if (r != SM_NUM_OK)
            return sm_expected(t, r == SM_NUM_RANGE ? SIGNMF_ERANGE : SIGNMF_EPARSE, l, f.s,
                               "an integer value", &f);
        *v = (double)x;
    } else if (sm_parse_real(t, f.s, f.e, v) != SM_NUM_OK) {
        return sm_expected(t, SIGNMF_EPARSE, l, f.s, "rating (a number)", &f);
    }
    return sm_check_rating(t, l, &f, *v);
}

static signmf_status sm_end_of_line(sm_text *t, sm_line *l, const char *after)
{
    sm_field f;
    if (sm_next_field(l, t->csv, &f)) {
        char w[96];
        snprintf(w, sizeof w, "end of line after %s", after);
        return sm_expected(t, SIGNMF_EPARSE, l, f.s, w, &f);
    }
    return SIGNMF_OK;
}

static bool sm_blank(const char *s, const char *e)
{
    for (; s < e; s++)
        if (!sm_is_ws(*s) && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/* Line iteration over the input. A line's pointers stay valid until the
 * next call, which may move the buffer's contents. */
typedef struct sm_lines {
    sm_src *src;
    uint64_t no;
    signmf_status st; /* of a failed read */
} sm_lines;

static void sm_lines_init(sm_lines *it, const sm_text *t)
{
    sm_src *src = t->src;
    it->src = src;
    it->no = t->line0;
    it->st = SIGNMF_OK;
    /* a byte-order mark only counts at the start of the file */
    if (t->line0 == 0 && src->len - src->pos >= 3 &&
        memcmp(src->buf + src->pos, "\xef\xbb\xbf", 3) == 0)
        src->pos += 3;
}

/* Next line; returns 0 at end, 1 for a line, -1 for an overlong line, -2
 * when reading failed (it->st, message in t->err). */
static int sm_lines_next(sm_text *t, sm_lines *it, sm_line *l)
{
    sm_src *src = it->src;
    const char *nl;
    for (;;) {
        size_t avail = src->len - src->pos;
        nl = memchr(src->buf + src->pos, '\n', avail);
        if (nl || src->eof || avail > SM_MAX_LINE)
            break;
        if ((it->st = sm_src_fill(src, t->err)) != SIGNMF_OK)
            return -2;
    }
    const char *s = src->buf + src->pos, *end = src->buf + src->len;
    if (s >= end)
        return 0;
    const char *e = nl ? nl : end;
    src->pos = nl ? (size_t)(nl + 1 - src->buf) : src->len;
    it->no++;
    l->no = it->no;
    l->s = l->p = s;
    l->done = false;
    if (SM_UNLIKELY((size_t)(e - s) > SM_MAX_LINE)) {
        l->e = s + SM_MAX_LINE;
        return -1;
    }
    if (e > s && e[-1] == '\r')
        e--;
    l->e = e;
    return 1;
}

static signmf_status sm_overlong(sm_text *t, const sm_line *l)
{
    return sm_fail_at(t->err, SIGNMF_EPARSE, l->no, SM_MAX_LINE + 1,
                      "%s:%llu:%zu: expected a line of at most %zu bytes, found a longer one",
                      t->path, (unsigned long long)l->no, SM_MAX_LINE + 1, SM_MAX_LINE);
}

/* The error of a negative sm_lines_next. */
static signmf_status sm_line_error(sm_text *t, const sm_lines *it, const sm_line *l, int r)
{
    return r == -2 ? it->st : sm_overlong(t, l);
}

/* A blank line is accepted only if nothing but blank lines follows it; the
 * rest of the input is scanned as bytes, not lines. */
static signmf_status sm_blank_line(sm_text *t, sm_lines *it, const sm_line *l, bool *stop)
{
    *stop = true;
    sm_src *src = it->src;
    while (sm_blank(src->buf + src->pos, src->buf + src->len)) {
        src->pos = src->len;
        if (src->eof)
            return SIGNMF_OK;
        signmf_status st = sm_src_fill(src, t->err);
        if (st != SIGNMF_OK)
            return st;
    }
    return sm_fail_at(t->err, SIGNMF_EPARSE, l->no, 1,
                      "%s:%llu:1: expected a rating line, found an empty line", t->path,
                      (unsigned long long)l->no);
}

static bool sm_ieq(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* The common case in one pass: unsigned ids, a short plain decimal rating,
 * an optional unsigned timestamp, every check passing. Anything else
 * (signs, exponents, errors) returns false and the careful path parses the
 * line again and writes the message. */
static inline bool sm_fast_record(const sm_text *t, const sm_line *l, int fields, int64_t *u,
                                  int64_t *i, double *v)
{
    const char *p = l->s, *const e = l->e, *s, *q;
    const bool csv = t->csv;
    uint64_t x;
#define SM_WS()                                                                                    \
    while (p < e && sm_is_ws(*p))                                                                  \
    p++
#define SM_UINT(dst)                                                                               \
    do {                                                                                           \
        s = p;                                                                                     \
        x = 0;                                                                                     \
        while (p < e && (unsigned)(*p - '0') <= 9)                                                 \
            x = x * 10 + (unsigned)(*p++ - '0');                                                   \
        if (p == s || p - s > 18)                                                                  \
            return false;                                                                          \
        dst = (int64_t)x;                                                                          \
    } while (0)
#define SM_SEP()                                                                                   \
    do {                                                                                           \
        q = p;                                                                                     \
        SM_WS();                                                                                   \
        if (csv) {                                                                                 \
            if (p == e || *p != ',')                                                               \
                return false;                                                                      \
            p++;                                                                                   \
            SM_WS();                                                                               \
        } else if (p == q) {                                                                       \
            return false;                                                                          \
        }                                                                                          \
    } while (0)
    SM_WS();
    SM_UINT(*u);
    SM_SEP();
    SM_UINT(*i);
    SM_SEP();
    s = p;
    x = 0;
    while (p < e && (unsigned)(*p - '0') <= 9)
        x = x * 10 + (unsigned)(*p++ - '0');
    ptrdiff_t nd = p - s, frac = 0;
    if (p < e && *p == '.') {
        const char *f = ++p;
        while (p < e && (unsigned)(*p - '0') <= 9)
            x = x * 10 + (unsigned)(*p++ - '0');
        frac = p - f;
        nd += frac;
    }
    if (nd == 0 || nd > 15)
        return false;
    double r = (double)x;
    if (frac)
        r /= sm_pow10[frac];
    q = p;
    SM_WS();
    if (p == e) {
        if (fields == 4)
            return false;
    } else {
        if (fields == 3)
            return false;
        if (csv) {
            if (*p != ',')
                return false;
            p++;
            SM_WS();
        } else if (p == q) {
            return false;
        }
        int64_t ts;
        SM_UINT(ts);
        (void)ts;
        SM_WS();
        if (p != e)
            return false;
    }
#undef SM_WS
#undef SM_UINT
#undef SM_SEP
    if (r == 0 || r < t->opt->rating_min || r > t->opt->rating_max)
        return false;
    if (t->opt->ids == SIGNMF_IDS_DIRECT &&
        (*u < 1 || *i < 1 || (uint64_t)*u > SM_MAX_DIM || (uint64_t)*i > SM_MAX_DIM))
        return false;
    if (t->opt->ids == SIGNMF_IDS_AUTO && (*u < 1 || *i < 1))
        return false;
    *v = r;
    return true;
}

/* TSV and CSV share the record layout user, item, rating[, timestamp]. */
static signmf_status sm_parse_delimited(sm_text *t, sm_tbuf *b)
{
    sm_lines it;
    sm_lines_init(&it, t);
    sm_line l;
    int r;
    /* CSV with a header: exactly this many per line */
    int fields = t->fields > 0 ? t->fields : 0;
    bool first = t->fields < 0;
    signmf_status st;
    if (t->info)
        t->info->fields = fields;
    while ((r = sm_lines_next(t, &it, &l)) != 0) {
        if (r < 0)
            return sm_line_error(t, &it, &l, r);
        if (l.s == l.e || sm_blank(l.s, l.e)) {
            bool stop;
            if ((st = sm_blank_line(t, &it, &l, &stop)) != SIGNMF_OK || stop) {
                if (st == SIGNMF_OK && t->info)
                    t->info->blank_line = l.no;
                return st;
            }
        }
        if (t->info)
            t->info->content = true;
        if (first && t->csv) {
            first = false;
            sm_line h = l;
            sm_field f;
            sm_next_field(&h, true, &f);
            int64_t dummy;
            if (sm_parse_int(f.s, f.e, &dummy) == SM_NUM_BAD) {
                static const char *const want[4][3] = {{"userId", "user", "user_id"},
                                                       {"movieId", "itemId", "item"},
                                                       {"rating", "rating", "rating"},
                                                       {"timestamp", "timestamp", "timestamp"}};
                static const char *const show[5] = {
                    "header field 'userId'", "header field 'movieId'", "header field 'rating'",
                    "header field 'timestamp' or end of line", "end of line after 'timestamp'"};
                sm_field hf[5];
                int k = 0;
                hf[k++] = f;
                while (k < 5 && sm_next_field(&h, true, &hf[k]))
                    k++;
                for (int j = 0; j < k; j++) {
                    bool ok = j < 4 && (sm_ieq(hf[j].s, hf[j].e, want[j][0]) ||
                                        sm_ieq(hf[j].s, hf[j].e, want[j][1]) ||
                                        sm_ieq(hf[j].s, hf[j].e, want[j][2]));
                    if (!ok)
                        return sm_expected(t, SIGNMF_EPARSE, &h, hf[j].s, show[j], &hf[j]);
                }
                if (k < 3)
                    return sm_expected(t, SIGNMF_EPARSE, &h, h.e, show[k], NULL);
                fields = k;
                if (t->info)
                    t->info->fields = fields;
                continue;
            }
        }
        first = false;
        int64_t u, i;
        double v;
        if (SM_LIKELY(sm_fast_record(t, &l, fields, &u, &i, &v))) {
            if ((st = sm_tbuf_push(b, u, i, v, l.no)) != SIGNMF_OK)
                return sm_fail(t->err, st, "%s: out of memory at line %llu", t->path,
                               (unsigned long long)l.no);
            continue;
        }
        if ((st = sm_get_id(t, &l, "user id", &u)) != SIGNMF_OK)
            return st;
        if ((st = sm_get_id(t, &l, "item id", &i)) != SIGNMF_OK)
            return st;
        if ((st = sm_get_rating(t, &l, false, &v)) != SIGNMF_OK)
            return st;
        sm_line save = l;
        sm_field f;
        if (sm_next_field(&l, t->csv, &f)) {
            int64_t ts;
            if (fields == 3)
                return sm_expected(t, SIGNMF_EPARSE, &l, f.s, "end of line after 3 fields", &f);
            if (sm_parse_int(f.s, f.e, &ts) != SM_NUM_OK)
                return sm_expected(t, SIGNMF_EPARSE, &l, f.s, "timestamp (an integer)", &f);
            if ((st = sm_end_of_line(t, &l, "4 fields")) != SIGNMF_OK)
                return st;
        } else if (fields == 4) {
            return sm_expected(t, SIGNMF_EPARSE, &save, save.e, "timestamp", NULL);
        }
        if ((st = sm_tbuf_push(b, u, i, v, l.no)) != SIGNMF_OK)
            return sm_fail(t->err, st, "%s: out of memory at line %llu", t->path,
                           (unsigned long long)l.no);
    }
    if (t->csv && fields && !b->locate && b->count == 0 && !t->info)
        return sm_fail(t->err, SIGNMF_EEMPTY, "%s: no ratings after the header line", t->path);
    return SIGNMF_OK;
}

typedef sm_mm_head sm_mm;

static bool sm_mm_skip(const sm_line *l)
{
    const char *p = l->s;
    while (p < l->e && sm_is_ws(*p))
        p++;
    return p == l->e || *p == '%';
}

/* The banner and the size line. */
static signmf_status sm_parse_mm_head(sm_text *t, sm_lines *itp, sm_mm *mm)
{
    sm_lines it = *itp;
    sm_line l;
    sm_field f;
    int r = sm_lines_next(t, &it, &l);
    signmf_status st;
    if (r < 0)
        return sm_line_error(t, &it, &l, r);
    /* Nothing after a byte-order mark: `l` was never filled (found by
     * tests/fuzz, regression tests/fuzz/regressions/mm/bom-only). */
    if (r == 0)
        return sm_fail(t->err, SIGNMF_EEMPTY,
                       "%s: file is empty (expected a %%%%MatrixMarket banner)", t->path);
    /* Banner: %%MatrixMarket matrix coordinate real|integer general */
    static const char *const what[5] = {"'%%MatrixMarket'", "'matrix'", "'coordinate'",
                                        "'real' or 'integer'", "'general'"};
    for (int k = 0; k < 5; k++) {
        if (!sm_next_field(&l, false, &f))
            return sm_expected(t, SIGNMF_EPARSE, &l, l.e, what[k], NULL);
        bool ok;
        signmf_status bad = SIGNMF_EPARSE;
        switch (k) {
        case 0:
            ok = sm_ieq(f.s, f.e, "%%MatrixMarket");
            break;
        case 1:
            ok = sm_ieq(f.s, f.e, "matrix");
            break;
        case 2:
            ok = sm_ieq(f.s, f.e, "coordinate");
            bad = sm_ieq(f.s, f.e, "array") ? SIGNMF_EUNSUPPORTED : SIGNMF_EPARSE;
            break;
        case 3:
            ok = sm_ieq(f.s, f.e, "real") || sm_ieq(f.s, f.e, "integer");
            mm->integer = sm_ieq(f.s, f.e, "integer");
            bad = sm_ieq(f.s, f.e, "complex") || sm_ieq(f.s, f.e, "pattern") ? SIGNMF_EUNSUPPORTED
                                                                             : SIGNMF_EPARSE;
            break;
        default:
            ok = sm_ieq(f.s, f.e, "general");
            bad = sm_ieq(f.s, f.e, "symmetric") || sm_ieq(f.s, f.e, "skew-symmetric") ||
                          sm_ieq(f.s, f.e, "hermitian")
                      ? SIGNMF_EUNSUPPORTED
                      : SIGNMF_EPARSE;
            break;
        }
        if (!ok)
            return sm_expected(t, bad, &l, f.s, what[k], &f);
    }
    if ((st = sm_end_of_line(t, &l, "the banner")) != SIGNMF_OK)
        return st;

    /* Size line. */
    uint64_t size_line = 0;
    while ((r = sm_lines_next(t, &it, &l)) != 0) {
        if (r < 0)
            return sm_line_error(t, &it, &l, r);
        if (sm_mm_skip(&l))
            continue;
        uint64_t dims[3];
        static const char *const dn[3] = {"row count", "column count", "entry count"};
        for (int k = 0; k < 3; k++) {
            if (!sm_next_field(&l, false, &f))
                return sm_expected(t, SIGNMF_EPARSE, &l, l.e, dn[k], NULL);
            int64_t x;
            sm_num nr = sm_parse_int(f.s, f.e, &x);
            if (nr != SM_NUM_OK || x < 0)
                return sm_expected(t, nr == SM_NUM_BAD ? SIGNMF_EPARSE : SIGNMF_ERANGE, &l, f.s,
                                   dn[k], &f);
            if (k < 2 && (uint64_t)x > SM_MAX_DIM) {
                char w[64];
                snprintf(w, sizeof w, "%s at most %zu", dn[k], SM_MAX_DIM);
                return sm_expected(t, SIGNMF_ERANGE, &l, f.s, w, &f);
            }
            dims[k] = (uint64_t)x;
        }
        if ((st = sm_end_of_line(t, &l, "the size line")) != SIGNMF_OK)
            return st;
        mm->rows = dims[0];
        mm->cols = dims[1];
        mm->nnz = dims[2];
        size_line = l.no;
        break;
    }
    if (!size_line)
        return sm_fail_at(t->err, SIGNMF_EEMPTY, it.no, 1,
                          "%s:%llu:1: expected a size line 'rows columns entries', found end of "
                          "file",
                          t->path, (unsigned long long)it.no);
    mm->size_line = size_line;
    *itp = it;
    return SIGNMF_OK;
}

/* Entry lines until the end of the input; an entry after `limit` of them
 * is the error of one after the declared count. */
static signmf_status sm_parse_mm_entries(sm_text *t, sm_lines *itp, sm_tbuf *b, const sm_mm *mm,
                                         uint64_t limit, uint64_t *seen_out)
{
    sm_lines it = *itp;
    sm_line l;
    sm_field f;
    int r;
    signmf_status st = SIGNMF_OK;
    const uint64_t size_line = mm->size_line;
    uint64_t seen = 0;
    *seen_out = 0;
    while ((r = sm_lines_next(t, &it, &l)) != 0) {
        *itp = it;
        *seen_out = seen;
        if (r < 0)
            return sm_line_error(t, &it, &l, r);
        if (sm_mm_skip(&l))
            continue;
        if (seen == limit) {
            char w[96];
            snprintf(w, sizeof w, "end of file after the %llu entries declared on line %llu",
                     (unsigned long long)mm->nnz, (unsigned long long)size_line);
            sm_next_field(&l, false, &f);
            return sm_expected(t, SIGNMF_EPARSE, &l, f.s, w, &f);
        }
        int64_t ij[2];
        static const char *const in[2] = {"row index", "column index"};
        const uint64_t lim[2] = {mm->rows, mm->cols};
        for (int k = 0; k < 2; k++) {
            if (!sm_next_field(&l, false, &f))
                return sm_expected(t, SIGNMF_EPARSE, &l, l.e, in[k], NULL);
            sm_num nr = sm_parse_int(f.s, f.e, &ij[k]);
            if (nr != SM_NUM_OK || ij[k] < 1 || (uint64_t)ij[k] > lim[k]) {
                char w[96];
                snprintf(w, sizeof w, "%s in 1..%llu", in[k], (unsigned long long)lim[k]);
                return sm_expected(t, nr == SM_NUM_BAD ? SIGNMF_EPARSE : SIGNMF_ERANGE, &l, f.s, w,
                                   &f);
            }
        }
        double v;
        if ((st = sm_get_rating(t, &l, mm->integer, &v)) != SIGNMF_OK)
            return st;
        if ((st = sm_end_of_line(t, &l, "an entry")) != SIGNMF_OK)
            return st;
        if ((st = sm_tbuf_push(b, ij[0], ij[1], v, l.no)) != SIGNMF_OK)
            return sm_fail(t->err, st, "%s: out of memory at line %llu", t->path,
                           (unsigned long long)l.no);
        seen++;
    }
    *itp = it;
    *seen_out = seen;
    return SIGNMF_OK;
}

static signmf_status sm_parse_mm(sm_text *t, sm_tbuf *b, sm_mm *mm)
{
    sm_lines it;
    sm_lines_init(&it, t);
    signmf_status st = sm_parse_mm_head(t, &it, mm);
    if (st != SIGNMF_OK)
        return st;
    /* The entry count is only a hint: never reserve more than the file
     * could hold, an entry taking at least 6 bytes ("1 1 1\n"). */
    uint64_t most = t->src->size / 6 + 1;
    if (!b->locate && mm->nnz > b->cap) {
        if ((st = sm_tbuf_grow(b, mm->nnz < most ? (size_t)mm->nnz : (size_t)most)) != SIGNMF_OK)
            return sm_fail(t->err, st, "%s: out of memory for %llu entries", t->path,
                           (unsigned long long)mm->nnz);
    }
    uint64_t seen = 0;
    if ((st = sm_parse_mm_entries(t, &it, b, mm, mm->nnz, &seen)) != SIGNMF_OK)
        return st;
    const uint64_t size_line = mm->size_line;
    if (seen < mm->nnz)
        return sm_fail_at(t->err, SIGNMF_EPARSE, it.no, 1,
                          "%s:%llu: expected %llu entries as declared on line %llu, found %llu",
                          t->path, (unsigned long long)it.no, (unsigned long long)mm->nnz,
                          (unsigned long long)size_line, (unsigned long long)seen);
    return SIGNMF_OK;
}

signmf_format sm_text_sniff(const char *buf, size_t len)
{
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    if (len >= 14 && strncasecmp(buf, "%%MatrixMarket", 14) == 0)
        return SIGNMF_FORMAT_MM;
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len;
    if (memchr(buf, ',', n))
        return SIGNMF_FORMAT_CSV;
    return SIGNMF_FORMAT_TSV;
}

static signmf_status sm_text_parse(sm_text *t, signmf_format fmt, sm_tbuf *b, sm_mm *mm)
{
    t->csv = fmt == SIGNMF_FORMAT_CSV;
    if (fmt == SIGNMF_FORMAT_MM)
        return sm_parse_mm(t, b, mm);
    return sm_parse_delimited(t, b);
}

signmf_status sm_text_load(const char *path, sm_src *src, signmf_format fmt,
                           const signmf_load_options *opt, signmf_ratings **out, signmf_error *err)
{
    if (fmt != SIGNMF_FORMAT_TSV && fmt != SIGNMF_FORMAT_CSV && fmt != SIGNMF_FORMAT_MM)
        fmt = sm_text_sniff(src->buf + src->pos, src->len - src->pos);
    sm_text t = {.path = path, .src = src, .opt = opt, .err = err, .fields = -1};
    sm_tbuf b = {0};
    sm_mm mm = {0};
    signmf_status st = sm_text_parse(&t, fmt, &b, &mm);
    if (st != SIGNMF_OK) {
        sm_tbuf_release(&b);
        goto done;
    }
    if (b.count == 0) {
        sm_tbuf_release(&b);
        st = sm_fail(err, SIGNMF_EEMPTY, "%s: no ratings", path);
        goto done;
    }
    bool fixed = fmt == SIGNMF_FORMAT_MM && opt->ids != SIGNMF_IDS_COMPACT;
    sm_dup dup;
    st = sm_ratings_build(&b, opt->ids, fixed ? (size_t)mm.rows : 0, fixed ? (size_t)mm.cols : 0,
                          path, out, &dup, err);
    if (st == SIGNMF_EDUPLICATE && dup.found) {
        sm_tbuf loc = {.locate = true, .find_user = dup.user, .find_item = dup.item};
        sm_mm mm2 = {0};
        /* the first parse succeeded, so the second can only fail to read */
        if ((st = sm_src_rewind(src, err)) != SIGNMF_OK)
            goto done;
        if ((st = sm_text_parse(&t, fmt, &loc, &mm2)) != SIGNMF_OK && loc.found < 2)
            goto done;
        st = sm_fail_at(err, SIGNMF_EDUPLICATE, loc.found_line[1], 1,
                        "%s:%llu: duplicate rating for user %lld, item %lld (first at line %llu)",
                        path, (unsigned long long)loc.found_line[1], (long long)dup.user,
                        (long long)dup.item, (unsigned long long)loc.found_line[0]);
    }
done:
    if (t.cloc)
        freelocale(t.cloc);
    return st;
}

/* src reads bytes [start, end) of the regular file at path, filled once. */
static signmf_status sm_src_open_range(const char *path, uint64_t start, uint64_t end, sm_src *src,
                                       signmf_error *err)
{
    *src = (sm_src){.path = path, .fd = -1};
    signmf_status st = sm_src_open(src, false, err);
    if (st != SIGNMF_OK)
        return st;
    if (src->fd < 0) {
        sm_src_close(src);
        return sm_fail(err, SIGNMF_EINVAL, "%s: byte ranges need a regular file", path);
    }
    if (lseek(src->fd, (off_t)start, SEEK_SET) != (off_t)start) {
        char eb[128];
        st = sm_fail(err, SIGNMF_EIO, "%s: cannot seek to byte %llu: %s", path,
                     (unsigned long long)start, strerror_r(errno, eb, sizeof eb));
        sm_src_close(src);
        return st;
    }
    src->pos = src->len = 0;
    src->eof = false;
    src->bounded = true;
    src->left = end > start ? end - start : 0;
    if ((st = sm_src_fill(src, err)) != SIGNMF_OK)
        sm_src_close(src);
    return st;
}

signmf_status sm_text_parse_range(const char *path, signmf_format fmt, uint64_t start, uint64_t end,
                                  uint64_t line0, int fields, const signmf_load_options *opt,
                                  sm_tbuf *b, sm_range_info *info, signmf_error *err)
{
    memset(info, 0, sizeof *info);
    if (fmt != SIGNMF_FORMAT_TSV && fmt != SIGNMF_FORMAT_CSV)
        return sm_fail(err, SIGNMF_EINVAL, "%s: byte ranges are read as TSV or CSV only", path);
    sm_src src;
    signmf_status st = sm_src_open_range(path, start, end, &src, err);
    if (st != SIGNMF_OK)
        return st;
    sm_text t = {.path = path,
                 .src = &src,
                 .opt = opt,
                 .err = err,
                 .line0 = line0,
                 .fields = fields,
                 .info = info};
    t.csv = fmt == SIGNMF_FORMAT_CSV;
    st = sm_parse_delimited(&t, b);
    if (t.cloc)
        freelocale(t.cloc);
    sm_src_close(&src);
    return st;
}

signmf_status sm_mm_parse_head(const char *path, const signmf_load_options *opt, sm_mm_head *h,
                               signmf_error *err)
{
    memset(h, 0, sizeof *h);
    sm_src src = {.path = path, .fd = -1};
    signmf_status st = sm_src_open(&src, false, err);
    if (st != SIGNMF_OK)
        return st;
    if (src.fd < 0) {
        sm_src_close(&src);
        return sm_fail(err, SIGNMF_EINVAL, "%s: byte ranges need a regular file", path);
    }
    sm_text t = {.path = path, .src = &src, .opt = opt, .err = err, .fields = -1};
    sm_lines it;
    sm_lines_init(&it, &t);
    st = sm_parse_mm_head(&t, &it, h);
    if (st == SIGNMF_OK) {
        /* the bytes read so far, less those still unread in the buffer */
        off_t at = lseek(src.fd, 0, SEEK_CUR);
        h->data_start = (uint64_t)at - (uint64_t)(src.len - src.pos);
    }
    if (t.cloc)
        freelocale(t.cloc);
    sm_src_close(&src);
    return st;
}

signmf_status sm_mm_parse_range(const char *path, const sm_mm_head *h, uint64_t start, uint64_t end,
                                uint64_t line0, uint64_t limit, const signmf_load_options *opt,
                                sm_tbuf *b, uint64_t *seen, uint64_t *last_line, signmf_error *err)
{
    *seen = 0;
    *last_line = line0;
    sm_src src;
    signmf_status st = sm_src_open_range(path, start, end, &src, err);
    if (st != SIGNMF_OK)
        return st;
    sm_text t = {.path = path, .src = &src, .opt = opt, .err = err, .line0 = line0, .fields = -1};
    sm_lines it;
    sm_lines_init(&it, &t);
    st = sm_parse_mm_entries(&t, &it, b, h, limit, seen);
    *last_line = it.no;
    if (t.cloc)
        freelocale(t.cloc);
    sm_src_close(&src);
    return st;
}
