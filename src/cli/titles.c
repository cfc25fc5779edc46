/* MovieLens u.item titles for the recommend, similar and demo output. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
