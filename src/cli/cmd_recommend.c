/* signmf recommend: top-k unrated items for a user, as text or JSON, with
 * MovieLens titles when given u.item. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_command rec_cmd = {
    "recommend",
    "Usage: signmf recommend MODEL (--user ID | --users ID,ID,... | --all |\n"
    "                               --ratings ITEM:RATING,...) [options]\n"
    "\n"
    "Print the top-k items a user did not rate in training, by descending\n"
    "score (P Q)[user, item]; ties go to the lower item, ids are the original\n"
    "ones. Scores are the fused kernel's float sums (see signmf.h, Serving).\n"
    "\n"
    "  --user ID          one user: rank<TAB>item<TAB>score[<TAB>title] lines\n"
    "  --users LIST       several users (comma-separated ids), and\n"
    "  --all              every user, streamed as they are scored: both print\n"
    "                     user<TAB>rank<TAB>item<TAB>score[<TAB>title] lines\n"
    "  --ratings LIST     fold in a new user from ITEM:RATING pairs without\n"
    "                     retraining: the ratings are centred and signed as in\n"
    "                     training (mean rule: above the mean liked, D = -1;\n"
    "                     below disliked, D = +1; equal 0), the embedding is the\n"
    "                     gradient direction p = -(D row) Q^T, i.e. the sum of\n"
    "                     the liked items' embeddings minus the disliked ones',\n"
    "                     and every item not in the list is ranked by p . q\n"
    "\n"
    "Options:\n"
    "  -k, --top K        how many items (default 10, at most the item count)\n"
    "  --items FILE       MovieLens u.item (id|title|...) for titles\n"
    "  --json             JSON instead: {\"user\": ID, \"items\": [{\"rank\", \"item\",\n"
    "                     \"score\"[, \"title\"]}, ...]} for --user and --ratings\n"
    "                     (user null), a JSON array of such objects, one per\n"
    "                     line, for --users and --all\n"
    "  --threads N        threads for --users and --all (default: all cores)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 1 for an unknown user or item id or k beyond the item count,\n"
    "2 for wrong usage, including a malformed --users or --ratings list.\n",
};

typedef struct title_entry {
    int64_t id;
    char *title;
} title_entry;

struct cli_titles {
    title_entry *v;
    size_t n;
};

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and out-of-range code points */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* MovieLens ships Latin-1; a file already in UTF-8 is kept as it is. */
static char *to_utf8(const char *s, size_t n)
{
    bool ascii_or_utf8 = valid_utf8((const unsigned char *)s, n);
    char *out = malloc(2 * n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 || ascii_or_utf8) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
    return out;
}

static int cmp_title(const void *a, const void *b)
{
    int64_t x = ((const title_entry *)a)->id, y = ((const title_entry *)b)->id;
    return (x > y) - (x < y);
}

void cli_titles_free(cli_titles *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].title);
    free(t->v);
    free(t);
}

int cli_titles_load(const char *path, cli_titles **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cli_error("%s: cannot open: %s", path, strerror(errno));
    cli_titles *t = calloc(1, sizeof *t);
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    int rc = CLI_OK;
    while (t != NULL && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *bar = memchr(line, '|', (size_t)len);
        if (bar == NULL) {
            rc = cli_error("%s:%" PRIu64 ":%zu: expected 'id|title|...', found no '|'", path,
                           lineno, (size_t)len + 1);
            break;
        }
        *bar = '\0';
        int64_t id;
        if (!cli_parse_i64(line, &id)) {
            rc = cli_error("%s:%" PRIu64 ":1: expected an item id, found '%.40s'", path, lineno,
                           line);
            break;
        }
        char *title = bar + 1;
        char *end = memchr(title, '|', (size_t)(line + len - title));
        size_t tlen = end ? (size_t)(end - title) : strlen(title);
        if (t->n == cap) {
            cap = cap ? 2 * cap : 2048;
            title_entry *v = realloc(t->v, cap * sizeof *v);
            if (v == NULL) {
                rc = cli_error("%s: out of memory", path);
                break;
            }
            t->v = v;
        }
        char *u = to_utf8(title, tlen);
        if (u == NULL) {
            rc = cli_error("%s: out of memory", path);
            break;
        }
        t->v[t->n].id = id;
        t->v[t->n].title = u;
        t->n++;
    }
    if (t == NULL)
        rc = cli_error("%s: out of memory", path);
    else if (rc == CLI_OK && ferror(f))
        rc = cli_error("%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (rc != CLI_OK) {
        cli_titles_free(t);
        return rc;
    }
    qsort(t->v, t->n, sizeof *t->v, cmp_title);
    *out = t;
    return CLI_OK;
}

const char *cli_titles_get(const cli_titles *t, int64_t id)
{
    if (t == NULL)
        return NULL;
    title_entry key = {id, NULL};
    const title_entry *e = bsearch(&key, t->v, t->n, sizeof *t->v, cmp_title);
    return e ? e->title : NULL;
}

static void print_score(FILE *f, double s, bool json, bool exact)
{
    if (isfinite(s))
        fprintf(f, exact ? "%.17g" : "%.3f", s);
    else
        fputs(json ? "null" : (isnan(s) ? "nan" : (s > 0 ? "inf" : "-inf")), f);
}

/* One line per recommendation: [user] rank item score [title]. */
static void print_rows(FILE *f, const int64_t *user, const signmf_rec *recs, size_t n,
                       const cli_titles *titles, bool exact)
{
    for (size_t i = 0; i < n; i++) {
        if (user != NULL)
            fprintf(f, "%" PRId64 "\t", *user);
        fprintf(f, "%zu\t%" PRId64 "\t", i + 1, recs[i].item);
        print_score(f, recs[i].score, false, exact);
        const char *title = cli_titles_get(titles, recs[i].item);
        if (title != NULL) {
            fputc('\t', f);
            /* Keep one record per line whatever the title holds. */
            for (const char *c = title; *c; c++)
                fputc((*c == '\t' || *c == '\n' || *c == '\r') ? ' ' : *c, f);
        }
        fputc('\n', f);
    }
}

void cli_print_recs_text(FILE *f, const signmf_rec *recs, size_t n, const cli_titles *titles,
                         bool exact)
{
    print_rows(f, NULL, recs, n, titles, exact);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*c < 0x20 || *c == 0x7F)
                fprintf(f, "\\u%04x", *c);
            else
                fputc(*c, f);
        }
    }
    fputc('"', f);
}

void cli_print_recs_json(FILE *f, const char *key, const int64_t *id, const signmf_rec *recs,
                         size_t n, const cli_titles *titles)
{
    fprintf(f, "{\"%s\": ", key);
    if (id != NULL)
        fprintf(f, "%" PRId64, *id);
    else
        fputs("null", f);
    fputs(", \"items\": [", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{\"rank\":%zu,\"item\":%" PRId64 ",\"score\":", i ? ", " : "", i + 1,
                recs[i].item);
        print_score(f, recs[i].score, true, true);
        const char *title = cli_titles_get(titles, recs[i].item);
        if (title != NULL) {
            fputs(",\"title\":", f);
            json_string(f, title);
        }
        fputc('}', f);
    }
    fputs("]}", f);
}

/* Comma-separated list of tokens; each token goes to `each`, which returns
 * false to reject it. Empty tokens are rejected. */
static int parse_list(const char *opt, const char *list, bool (*each)(const char *, void *),
                      void *ctx)
{
    size_t len = strlen(list);
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return cli_error("out of memory");
    memcpy(buf, list, len + 1);
    int rc = CLI_OK;
    char *tok = buf;
    for (;;) {
        char *comma = strchr(tok, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*tok == '\0' || !each(tok, ctx)) {
            rc = cli_value_error(&rec_cmd, "%s: malformed entry '%s' in '%s'", opt, tok, list);
            break;
        }
        if (comma == NULL)
            break;
        tok = comma + 1;
    }
    free(buf);
    return rc;
}

typedef struct id_list {
    int64_t *ids;
    double *ratings;
    size_t n, cap;
    bool oom;
} id_list;

static bool push(id_list *l, int64_t id, double r)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        int64_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (ids != NULL)
            l->ids = ids;
        double *rs = realloc(l->ratings, cap * sizeof *rs);
        if (rs != NULL)
            l->ratings = rs;
        if (ids == NULL || rs == NULL) {
            l->oom = true;
            return false;
        }
        l->cap = cap;
    }
    l->ids[l->n] = id;
    l->ratings[l->n] = r;
    l->n++;
    return true;
}

static bool user_token(const char *tok, void *ctx)
{
    int64_t id;
    return cli_parse_i64(tok, &id) && push(ctx, id, 0);
}

static bool rating_token(const char *tok, void *ctx)
{
    const char *colon = strchr(tok, ':');
    if (colon == NULL || colon == tok || colon[1] == '\0')
        return false;
    char id_part[32];
    size_t n = (size_t)(colon - tok);
    if (n >= sizeof id_part)
        return false;
    memcpy(id_part, tok, n);
    id_part[n] = '\0';
    int64_t id;
    double r;
    if (!cli_parse_i64(id_part, &id) || !cli_parse_double(colon + 1, &r) || r == 0)
        return false;
    return push(ctx, id, r);
}

typedef struct stream_ctx {
    const cli_titles *titles;
    bool json, first;
} stream_ctx;

/* The multi-user format: the user id leads every line. */
static void print_user_rows_ranked(FILE *f, int64_t user, const signmf_rec *recs, size_t n,
                                   const cli_titles *titles)
{
    print_rows(f, &user, recs, n, titles, true);
}

static int stream_user(void *ctx, int64_t user, const signmf_rec *recs, size_t count)
{
    stream_ctx *s = ctx;
    if (s->json) {
        fputs(s->first ? "[\n" : ",\n", stdout);
        cli_print_recs_json(stdout, "user", &user, recs, count, s->titles);
    } else {
        print_user_rows_ranked(stdout, user, recs, count, s->titles);
    }
    s->first = false;
    /* a closed pipe (| head) should stop the run, not score on */
    return ferror(stdout) ? 1 : 0;
}

int cmd_recommend(int argc, char **argv)
{
    int64_t user = 0;
    bool have_user = false, all = false, json = false, have_k = false;
    uint64_t k = 10, threads = 0;
    const char *items_path = NULL, *users_arg = NULL, *ratings_arg = NULL;
    const cli_opt opts[] = {
        {"user", 'u', CLI_INT, &user, 0, 0, 0, 0, &have_user},
        {"users", 0, CLI_STR, &users_arg, 0, 0, 0, 0, NULL},
        {"all", 0, CLI_FLAG, &all, 0, 0, 0, 0, NULL},
        {"ratings", 0, CLI_STR, &ratings_arg, 0, 0, 0, 0, NULL},
        {"top", 'k', CLI_UINT, &k, 1, UINT64_MAX, 0, 0, &have_k},
        {"items", 0, CLI_STR, &items_path, 0, 0, 0, 0, NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, 0, 0, NULL},
        {"threads", 0, CLI_UINT, &threads, 0, 4096, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&rec_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    int modes = (int)have_user + (users_arg != NULL) + (int)all + (ratings_arg != NULL);
    if (modes != 1)
        return cli_usage_error(&rec_cmd,
                               "give exactly one of --user, --users, --all and --ratings");
    id_list list = {0};
    if (users_arg != NULL && (rc = parse_list("--users", users_arg, user_token, &list)) != CLI_OK)
        goto out_list;
    if (ratings_arg != NULL &&
        (rc = parse_list("--ratings", ratings_arg, rating_token, &list)) != CLI_OK)
        goto out_list;
    if (list.oom) {
        rc = cli_error("out of memory");
        goto out_list;
    }

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK) {
        rc = cli_lib_error(st, &err);
        goto out_list;
    }
    cli_titles *titles = NULL;
    signmf_rec *recs = NULL;
    size_t *counts = NULL;
    size_t items = signmf_model_items(m), index;
    /* ids first, so a typo fails before any output */
    if (have_user && signmf_model_user_index(m, user, &index) != SIGNMF_OK) {
        rc = cli_error("%s: user %" PRId64 " is not in the model (%zu users)", pos[0], user,
                       signmf_model_users(m));
        goto done;
    }
    /* the default top 10 shrinks to a small catalogue; an explicit -k
     * beyond it is an error */
    if (k > items && !have_k)
        k = items;
    if (k > items) {
        rc = cli_error("k exceeds the %zu items of the model (k = %" PRIu64 ")", items, k);
        goto done;
    }
    for (size_t i = 0; users_arg != NULL && i < list.n; i++)
        if (signmf_model_user_index(m, list.ids[i], &index) != SIGNMF_OK) {
            rc = cli_error("%s: user %" PRId64 " is not in the model (%zu users)", pos[0],
                           list.ids[i], signmf_model_users(m));
            goto done;
        }
    for (size_t i = 0; ratings_arg != NULL && i < list.n; i++)
        if (signmf_model_item_index(m, list.ids[i], &index) != SIGNMF_OK) {
            rc = cli_error("%s: item %" PRId64 " is not in the model (%zu items)", pos[0],
                           list.ids[i], items);
            goto done;
        }
    if (items_path != NULL && (rc = cli_titles_load(items_path, &titles)) != CLI_OK)
        goto done;

    if (all) {
        stream_ctx sc = {titles, json, true};
        st = signmf_recommend_all(m, (size_t)k, (int)threads, stream_user, &sc, &err);
        if (st == SIGNMF_EINTERRUPTED && ferror(stdout)) {
            rc = cli_error("cannot write to standard output");
            goto done;
        }
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json)
            fputs(sc.first ? "[]\n" : "\n]\n", stdout);
    } else if (users_arg != NULL) {
        size_t total;
        if (__builtin_mul_overflow(list.n, (size_t)k, &total) ||
            (recs = malloc((total ? total : 1) * sizeof *recs)) == NULL ||
            (counts = malloc(list.n * sizeof *counts)) == NULL) {
            rc = cli_error("out of memory for %zu x %" PRIu64 " results", list.n, k);
            goto done;
        }
        st =
            signmf_recommend_many(m, list.ids, list.n, (size_t)k, (int)threads, recs, counts, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json)
            fputs("[\n", stdout);
        for (size_t i = 0; i < list.n; i++) {
            if (json) {
                cli_print_recs_json(stdout, "user", &list.ids[i], recs + i * k, counts[i], titles);
                fputs(i + 1 < list.n ? ",\n" : "\n", stdout);
            } else {
                print_user_rows_ranked(stdout, list.ids[i], recs + i * k, counts[i], titles);
            }
        }
        if (json)
            fputs("]\n", stdout);
    } else {
        if ((recs = malloc((size_t)k * sizeof *recs)) == NULL) {
            rc = cli_error("out of memory");
            goto done;
        }
        size_t n = 0;
        if (ratings_arg != NULL)
            st = signmf_recommend_foldin(m, list.ids, list.ratings, list.n, (size_t)k, recs, &n,
                                         &err);
        else
            st = signmf_recommend(m, user, (size_t)k, recs, &n, &err);
        if (st != SIGNMF_OK) {
            rc = cli_lib_error(st, &err);
            goto done;
        }
        if (json) {
            cli_print_recs_json(stdout, "user", ratings_arg ? NULL : &user, recs, n, titles);
            fputc('\n', stdout);
        } else {
            cli_print_recs_text(stdout, recs, n, titles, true);
        }
    }
    rc = fflush(stdout) == 0 && !ferror(stdout) ? CLI_OK
                                                : cli_error("cannot write to standard output");
done:
    free(recs);
    free(counts);
    cli_titles_free(titles);
    signmf_model_free(m);
out_list:
    free(list.ids);
    free(list.ratings);
    return rc;
}
