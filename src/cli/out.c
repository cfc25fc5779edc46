/* Buffered output and the recommendation writers (cli.h, "output"). A
 * recommend --all run prints one line per user and item, millions on a
 * large model: the lines are assembled in one buffer with fmt.c's
 * formatting and leave in large fwrite calls, so that the CLI costs little
 * beside the scoring it reports. */
#include "cli.h"
#include "fmt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_out_init(cli_out *o, FILE *f, char *buf, size_t cap)
{
    o->f = f;
    o->buf = buf;
    o->len = 0;
    o->cap = cap;
    o->err = 0;
}

bool cli_out_drain(cli_out *o)
{
    if (o->err != 0) {
        o->len = 0;
        return false;
    }
    if (o->len > 0) {
        errno = 0;
        size_t w = fwrite(o->buf, 1, o->len, o->f);
        if (w != o->len) {
            /* the first failure is the one worth reporting; stdio sets
             * errno from write(2), though C does not promise it */
            o->err = errno != 0 ? errno : EIO;
            o->len = 0;
            return false;
        }
        o->len = 0;
    }
    return true;
}

bool cli_out_flush(cli_out *o)
{
    if (!cli_out_drain(o))
        return false;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) {
        o->err = errno != 0 ? errno : EIO;
        return false;
    }
    return true;
}

void cli_out_write(cli_out *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == o->cap && !cli_out_drain(o))
            return;
        size_t room = o->cap - o->len, c = n < room ? n : room;
        memcpy(o->buf + o->len, s, c);
        o->len += c;
        s += c;
        n -= c;
    }
}

int cli_out_error(const cli_out *o)
{
    return cli_error("cannot write to standard output: %s", strerror(o->err ? o->err : EIO));
}

/* a finite score, or the words printf used for the others */
static size_t text_score(char *p, double s)
{
    if (isfinite(s))
        return fmt_double(p, s);
    const char *w = isnan(s) ? "nan" : s > 0 ? "inf" : "-inf";
    size_t n = strlen(w);
    memcpy(p, w, n);
    return n;
}

static void put_title(cli_out *o, const char *title)
{
    /* one record per line whatever the title holds */
    for (const char *c = title; *c;) {
        size_t run = strcspn(c, "\t\n\r");
        cli_out_write(o, c, run);
        c += run;
        if (*c) {
            cli_out_write(o, " ", 1);
            c++;
        }
    }
}

void cli_out_recs_text(cli_out *o, const int64_t *user, const signmf_rec *recs, size_t n,
                       const cli_titles *titles, bool exact)
{
    for (size_t i = 0; i < n; i++) {
        char *p = cli_out_room(o, CLI_OUT_LINE);
        if (p == NULL)
            return;
        char *q = p;
        if (user != NULL) {
            q += fmt_i64(q, *user);
            *q++ = '\t';
        }
        q += fmt_u64(q, (uint64_t)i + 1);
        *q++ = '\t';
        q += fmt_i64(q, recs[i].item);
        *q++ = '\t';
        if (exact || !isfinite(recs[i].score)) {
            q += text_score(q, recs[i].score);
        } else {
            /* the demo's three decimals: a handful of lines, not worth a
             * fixed-point formatter of its own; %.3f of a large double is
             * long, so it goes through cli_out_write */
            char fixed[400];
            int fn = snprintf(fixed, sizeof fixed, "%.3f", recs[i].score);
            o->len += (size_t)(q - p);
            cli_out_write(o, fixed, fn > 0 ? (size_t)fn : 0);
            if ((p = q = cli_out_room(o, 1)) == NULL)
                return;
        }
        const char *title = cli_titles_get(titles, recs[i].item);
        if (title == NULL) {
            *q++ = '\n';
            o->len += (size_t)(q - p);
        } else {
            *q++ = '\t';
            o->len += (size_t)(q - p);
            put_title(o, title);
            cli_out_write(o, "\n", 1);
        }
    }
}

static void put_json_string(cli_out *o, const char *s)
{
    cli_out_write(o, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        const char *w = esc;
        size_t n = 2;
        switch (*c) {
        case '"':
            w = "\\\"";
            break;
        case '\\':
            w = "\\\\";
            break;
        case '\n':
            w = "\\n";
            break;
        case '\r':
            w = "\\r";
            break;
        case '\t':
            w = "\\t";
            break;
        default:
            if (*c < 0x20 || *c == 0x7F) {
                static const char hex[] = "0123456789abcdef";
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*c >> 4];
                esc[5] = hex[*c & 15];
                n = 6;
            } else {
                w = (const char *)c;
                n = 1;
            }
        }
        cli_out_write(o, w, n);
    }
    cli_out_write(o, "\"", 1);
}

void cli_out_recs_json(cli_out *o, const char *key, const int64_t *id, const signmf_rec *recs,
                       size_t n, const cli_titles *titles)
{
    cli_out_write(o, "{\"", 2);
    cli_out_write(o, key, strlen(key));
    cli_out_write(o, "\": ", 3);
    char *p = cli_out_room(o, FMT_I64_MAX + 16);
    if (p == NULL)
        return;
    char *q = p;
    if (id != NULL) {
        q += fmt_i64(q, *id);
    } else {
        memcpy(q, "null", 4);
        q += 4;
    }
    memcpy(q, ", \"items\": [", 12);
    o->len += (size_t)(q + 12 - p);
    for (size_t i = 0; i < n; i++) {
        if ((p = cli_out_room(o, CLI_OUT_LINE)) == NULL)
            return;
        q = p;
        if (i > 0) {
            memcpy(q, ", ", 2);
            q += 2;
        }
        memcpy(q, "{\"rank\":", 8);
        q += 8;
        q += fmt_u64(q, (uint64_t)i + 1);
        memcpy(q, ",\"item\":", 8);
        q += 8;
        q += fmt_i64(q, recs[i].item);
        memcpy(q, ",\"score\":", 9);
        q += 9;
        if (isfinite(recs[i].score)) {
            q += fmt_double(q, recs[i].score);
        } else {
            memcpy(q, "null", 4);
            q += 4;
        }
        o->len += (size_t)(q - p);
        const char *title = cli_titles_get(titles, recs[i].item);
        if (title != NULL) {
            cli_out_write(o, ",\"title\":", 9);
            put_json_string(o, title);
        }
        cli_out_write(o, "}", 1);
    }
    cli_out_write(o, "]}", 2);
}

int cli_rec_stream_fn(void *ctx, int64_t user, const signmf_rec *recs, size_t count)
{
    cli_rec_stream *s = ctx;
    if (s->json) {
        cli_out_write(s->out, s->first ? "[\n" : ",\n", 2);
        cli_out_recs_json(s->out, "user", &user, recs, count, s->titles);
    } else {
        cli_out_recs_text(s->out, &user, recs, count, s->titles, true);
    }
    s->first = false;
    /* a closed pipe (| head) or a full disk should stop the run, not score on */
    return s->out->err != 0;
}

/* The FILE-level helpers keep stdio's order with whatever the caller
 * printed before. A failed fwrite sets the stream's error flag, which the
 * callers check once at the end, after fflush. */
void cli_print_recs_text(FILE *f, const signmf_rec *recs, size_t n, const cli_titles *titles,
                         bool exact)
{
    char buf[4096];
    cli_out o;
    cli_out_init(&o, f, buf, sizeof buf);
    cli_out_recs_text(&o, NULL, recs, n, titles, exact);
    (void)cli_out_drain(&o);
}

void cli_print_recs_json(FILE *f, const char *key, const int64_t *id, const signmf_rec *recs,
                         size_t n, const cli_titles *titles)
{
    char buf[4096];
    cli_out o;
    cli_out_init(&o, f, buf, sizeof buf);
    cli_out_recs_json(&o, key, id, recs, n, titles);
    (void)cli_out_drain(&o);
}
