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
    "Usage: signmf recommend MODEL --user ID [options]\n"
    "\n"
    "Print the top-k items the user did not rate in training, by descending\n"
    "score (P Q)[user, item]; ties go to the lower item.\n"
    "Text output: rank<TAB>item<TAB>score[<TAB>title], one line per item.\n"
    "\n"
    "Options:\n"
    "  --user ID          original user id (required)\n"
    "  -k, --top K        how many items (default 10)\n"
    "  --items FILE       MovieLens u.item (id|title|...) for titles\n"
    "  --json             print {\"user\": ID, \"items\": [...]} instead\n"
    "  -h, --help         show this help\n",
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

void cli_print_recs_text(FILE *f, const signmf_rec *recs, size_t n, const cli_titles *titles,
                         bool exact)
{
    for (size_t i = 0; i < n; i++) {
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

static void print_recs_json(FILE *f, int64_t user, const signmf_rec *recs, size_t n,
                            const cli_titles *titles)
{
    fprintf(f, "{\"user\": %" PRId64 ", \"items\": [", user);
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
    fputs("]}\n", f);
}

int cmd_recommend(int argc, char **argv)
{
    int64_t user = 0;
    bool have_user = false, json = false;
    uint64_t k = 10;
    const char *items_path = NULL;
    const cli_opt opts[] = {
        {"user", 'u', CLI_INT, &user, 0, 0, 0, 0, &have_user},
        {"top", 'k', CLI_UINT, &k, 1, UINT64_MAX, 0, 0, NULL},
        {"items", 0, CLI_STR, &items_path, 0, 0, 0, 0, NULL},
        {"json", 0, CLI_FLAG, &json, 0, 0, 0, 0, NULL},
        CLI_OPT_END,
    };
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(&rec_cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc >= 0)
        return rc;
    if (!have_user)
        return cli_usage_error(&rec_cmd, "--user ID is required");

    signmf_error err;
    memset(&err, 0, sizeof err);
    signmf_model *m = NULL;
    signmf_status st = signmf_model_open(pos[0], SIGNMF_OPEN_MMAP, &m, &err);
    if (st != SIGNMF_OK)
        return cli_lib_error(st, &err);
    cli_titles *titles = NULL;
    signmf_rec *recs = NULL;
    size_t index;
    if (signmf_model_user_index(m, user, &index) != SIGNMF_OK) {
        rc = cli_error("%s: user %" PRId64 " is not in the model (%zu users)", pos[0], user,
                       signmf_model_users(m));
        goto done;
    }
    size_t items = signmf_model_items(m);
    if (k > items) {
        rc = cli_error("k exceeds the %zu items of the model (k = %" PRIu64 ")", items, k);
        goto done;
    }
    if (items_path != NULL && (rc = cli_titles_load(items_path, &titles)) != CLI_OK)
        goto done;
    recs = malloc((size_t)k * sizeof *recs);
    if (recs == NULL) {
        rc = cli_error("out of memory");
        goto done;
    }
    size_t n = 0;
    st = signmf_recommend(m, user, (size_t)k, recs, &n, &err);
    if (st != SIGNMF_OK) {
        rc = cli_lib_error(st, &err);
        goto done;
    }
    if (json)
        print_recs_json(stdout, user, recs, n, titles);
    else
        cli_print_recs_text(stdout, recs, n, titles, true);
    rc = fflush(stdout) == 0 && !ferror(stdout) ? CLI_OK
                                                : cli_error("cannot write to standard output");
done:
    free(recs);
    cli_titles_free(titles);
    signmf_model_free(m);
    return rc;
}
