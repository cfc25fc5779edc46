/* Ratings loaders: every format, every rejection (status and message),
 * awkward-but-valid inputs, id modes, the MovieLens shape and a load-time
 * sanity check. Inputs are written to a fresh mkdtemp directory per test;
 * the committed fixtures in tests/data/io were made with numpy. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/load.h"

static char tmpdir[256];
static char paths[16][512];
static int npaths;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/signmf-io-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert(mkdtemp(tmpdir), "mkdtemp failed");
    npaths = 0;
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[1024];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                remove(p);
            }
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

TestSuite(io, .init = setup, .fini = teardown);

static const char *write_bytes(const char *name, const void *data, size_t len)
{
    cr_assert(npaths < 16);
    char *p = paths[npaths++];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f, "cannot create %s", p);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static const char *fixture(const char *name)
{
    const char *src = getenv("SIGNMF_SOURCE_DIR");
    cr_assert(src, "SIGNMF_SOURCE_DIR is not set");
    cr_assert(npaths < 16);
    char *p = paths[npaths++];
    snprintf(p, 512, "%s/tests/data/io/%s", src, name);
    return p;
}

static signmf_ratings *load_ok(const char *path, const signmf_load_options *opt)
{
    signmf_ratings *r = NULL;
    signmf_error err;
    signmf_status st = signmf_ratings_load(path, opt, &r, &err);
    cr_assert_eq(st, SIGNMF_OK, "loading %s: status %d: %s", path, st, err.message);
    cr_assert(r);
    return r;
}

/* Load `text` as file `name` and expect `status` with a message containing
 * every given fragment (NULL-terminated) and the base name of the file. */
static signmf_error expect_fail_opt(const char *name, const char *text,
                                    const signmf_load_options *opt, signmf_status status, ...)
{
    const char *path = write_text(name, text);
    signmf_ratings *r = (signmf_ratings *)1;
    signmf_error err;
    signmf_status st = signmf_ratings_load(path, opt, &r, &err);
    cr_assert_eq(st, status, "%s: expected status %d, got %d: %s", name, status, st, err.message);
    cr_assert_eq(err.status, status);
    cr_assert_null(r);
    cr_assert(strstr(err.message, name), "message does not name the file: %s", err.message);
    va_list ap;
    va_start(ap, status);
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        cr_assert(strstr(err.message, frag), "message lacks '%s': %s", frag, err.message);
    va_end(ap);
    return err;
}

#define expect_fail(name, text, status, ...)                                                       \
    expect_fail_opt(name, text, NULL, status, __VA_ARGS__, NULL)

static void expect_triplet(const signmf_ratings *r, size_t k, uint32_t u, uint32_t i, double v)
{
    cr_assert_lt(k, r->count);
    cr_assert_eq(r->user[k], u, "triplet %zu: user %u, expected %u", k, r->user[k], u);
    cr_assert_eq(r->item[k], i, "triplet %zu: item %u, expected %u", k, r->item[k], i);
    cr_assert_eq(r->value[k], v, "triplet %zu: value %g, expected %g", k, r->value[k], v);
}

/* Plain checks in the loops: under --full-stats every passing cr_assert is
 * an IPC message, and a million of them take minutes. */
static void expect_sorted(const signmf_ratings *r)
{
    size_t bad = r->count;
    for (size_t k = 1; k < r->count && bad == r->count; k++)
        if (!(r->user[k - 1] < r->user[k] ||
              (r->user[k - 1] == r->user[k] && r->item[k - 1] < r->item[k])))
            bad = k;
    cr_assert_eq(bad, r->count, "not sorted at %zu", bad);
    for (size_t k = 0; k < r->count && bad == r->count; k++)
        if (!(r->user[k] < r->users && r->item[k] < r->items && isfinite(r->value[k]) &&
              r->value[k] != 0))
            bad = k;
    cr_assert_eq(bad, r->count, "bad triplet at %zu", bad);
}

/* ------------------------------------------------------------------ */
/* TSV                                                                 */
/* ------------------------------------------------------------------ */

Test(io, tsv_basic_sorted_direct)
{
    signmf_ratings *r =
        load_ok(write_text("r.tsv", "2\t3\t4\t881250949\n1\t1\t5\t874965758\n1\t3\t1\t1\n"), NULL);
    cr_assert_eq(signmf_ratings_users(r), 2);
    cr_assert_eq(signmf_ratings_items(r), 3);
    cr_assert_eq(signmf_ratings_count(r), 3);
    expect_triplet(r, 0, 0, 0, 5);
    expect_triplet(r, 1, 0, 2, 1);
    expect_triplet(r, 2, 1, 2, 4);
    cr_assert(r->user_map.direct && r->item_map.direct);
    cr_assert_eq(sm_idmap_id(&r->item_map, 2), 3);
    signmf_ratings_free(r);
}

Test(io, tsv_awkward_but_valid)
{
    /* BOM, CRLF, spaces and tabs mixed, leading/trailing blanks around
     * fields, no timestamp on some lines, halves, no final newline after
     * trailing blank lines' predecessor. */
    signmf_ratings *r = load_ok(write_text("awk.data", "\xef\xbb\xbf"
                                                       "1 1 5\r\n"
                                                       "  1\t 2   3.5  \r\n"
                                                       "\t2\t1\t+4\t12\r\n"
                                                       "3 2 2.25e0\r\n"
                                                       "\r\n"
                                                       "   \n"
                                                       "\n"),
                                NULL);
    cr_assert_eq(r->count, 4);
    cr_assert_eq(r->users, 3);
    cr_assert_eq(r->items, 2);
    expect_triplet(r, 0, 0, 0, 5);
    expect_triplet(r, 1, 0, 1, 3.5);
    expect_triplet(r, 2, 1, 0, 4);
    expect_triplet(r, 3, 2, 1, 2.25);
    signmf_ratings_free(r);

    r = load_ok(write_text("nofinal.tsv", "1\t1\t5\n2\t2\t1"), NULL);
    cr_assert_eq(r->count, 2);
    signmf_ratings_free(r);
}

Test(io, tsv_unsorted_input_is_sorted_with_values)
{
    char buf[1 << 16];
    size_t o = 0;
    /* 40 users x 30 items, written in a scrambled order. */
    for (int k = 0; k < 1200; k++) {
        int x = (k * 7919) % 1200;
        int u = x / 30 + 1, i = x % 30 + 1;
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%d\t%d\t%d.5\n", u, i, (u * 31 + i) % 5);
    }
    signmf_ratings *r = load_ok(write_text("scrambled.tsv", buf), NULL);
    cr_assert_eq(r->count, 1200);
    cr_assert_eq(r->users, 40);
    cr_assert_eq(r->items, 30);
    expect_sorted(r);
    size_t wrong = 0;
    for (size_t k = 0; k < r->count; k++) {
        int u = (int)r->user[k] + 1, i = (int)r->item[k] + 1;
        wrong += r->value[k] != (u * 31 + i) % 5 + 0.5;
    }
    cr_assert_eq(wrong, 0);
    signmf_ratings_free(r);
}

Test(io, tsv_parse_errors)
{
    expect_fail("cols.tsv", "1\t1\t5\n2\t2\n", SIGNMF_EPARSE, "cols.tsv:2:4:", "expected rating",
                "end of line");
    expect_fail("many.tsv", "1\t1\t5\t9\n2\t2\t4\t9\t7\n", SIGNMF_EPARSE,
                "many.tsv:2:9:", "expected end of line", "found '7'");
    expect_fail("alpha.tsv", "1\t1\t5\n1\tx12\t4\n", SIGNMF_EPARSE,
                "alpha.tsv:2:3:", "expected item id", "found 'x12'");
    expect_fail("rate.tsv", "1\t1\t5\n1\t2\tfive\n", SIGNMF_EPARSE,
                "rate.tsv:2:5:", "expected rating", "found 'five'");
    expect_fail("ts.tsv", "1\t1\t5\tnoon\n", SIGNMF_EPARSE, "ts.tsv:1:7:", "timestamp",
                "found 'noon'");
    expect_fail("comment.tsv", "# user item rating\n1\t1\t5\n", SIGNMF_EPARSE,
                "comment.tsv:1:1:", "found '#'");
    expect_fail("blank.tsv", "1\t1\t5\n\n2\t2\t5\n", SIGNMF_EPARSE, "blank.tsv:2:1:", "empty line");
    expect_fail("csvish.tsv", "1;1;5\n", SIGNMF_EPARSE, "csvish.tsv:1:1:", "found '1;1;5'");
}

Test(io, tsv_error_sets_line_and_column)
{
    signmf_error e =
        expect_fail("lc.tsv", "1 1 5\n1 2 5\n1 3 oops\n", SIGNMF_EPARSE, "lc.tsv:3:5:");
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 5);
}

Test(io, tsv_range_errors)
{
    expect_fail("nan.tsv", "1\t1\t5\n1\t2\tnan\n", SIGNMF_ERANGE, "nan.tsv:2:5:", "finite",
                "found 'nan'");
    expect_fail("inf.tsv", "1\t1\t-inf\n", SIGNMF_ERANGE, "inf.tsv:1:5:", "finite");
    expect_fail("huge.tsv", "1\t1\t1e999\n", SIGNMF_ERANGE, "huge.tsv:1:5:", "finite");
    expect_fail("zero.tsv", "1\t1\t5\n2\t1\t0.0\n", SIGNMF_ERANGE, "zero.tsv:2:5:", "nonzero",
                "0 means unrated");
    signmf_load_options o = signmf_load_options_default();
    o.rating_min = 1;
    o.rating_max = 5;
    expect_fail_opt("minmax.tsv", "1\t1\t5\n1\t2\t5.5\n", &o, SIGNMF_ERANGE,
                    "minmax.tsv:2:5:", "[1, 5]", "found '5.5'", NULL);
    expect_fail("bigid.tsv", "9223372036854775808\t1\t5\n", SIGNMF_ERANGE,
                "bigid.tsv:1:1:", "64-bit");
    o = signmf_load_options_default();
    o.ids = SIGNMF_IDS_DIRECT;
    expect_fail_opt("direct0.tsv", "1\t1\t5\n1\t0\t5\n", &o, SIGNMF_ERANGE,
                    "direct0.tsv:2:3:", "direct ids", "found '0'", NULL);
    expect_fail_opt("directbig.tsv", "1\t4294967296\t5\n", &o, SIGNMF_ERANGE,
                    "directbig.tsv:1:3:", "4294967295", NULL);
}

Test(io, tsv_duplicate_names_both_lines)
{
    signmf_error e = expect_fail("ratings.tsv",
                                 "3\t1\t4\n3\t12\t5\n1\t1\t1\n2\t2\t2\n1\t2\t2\n4\t4\t4\n"
                                 "3\t12\t1\n",
                                 SIGNMF_EDUPLICATE,
                                 "ratings.tsv:7: duplicate rating for user 3, item 12 (first at "
                                 "line 2)");
    cr_assert_eq(e.line, 7);
    /* Sorted input takes the no-sort path; the duplicate must still be seen. */
    expect_fail("sorted_dup.tsv", "1\t1\t4\n1\t2\t5\n1\t2\t5\n", SIGNMF_EDUPLICATE,
                "sorted_dup.tsv:3:", "(first at line 2)");
}

Test(io, io_errors)
{
    signmf_ratings *r = (signmf_ratings *)1;
    signmf_error err;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-file.tsv", tmpdir);
    cr_assert_eq(signmf_ratings_load(missing, NULL, &r, &err), SIGNMF_EIO);
    cr_assert_null(r);
    cr_assert(strstr(err.message, "no-such-file.tsv") && strstr(err.message, "No such file"), "%s",
              err.message);
    cr_assert_eq(signmf_ratings_load(tmpdir, NULL, &r, &err), SIGNMF_EIO);
    cr_assert(strstr(err.message, tmpdir) && strstr(err.message, "directory"), "%s", err.message);
    expect_fail("empty.tsv", "", SIGNMF_EEMPTY, "empty");
    expect_fail("blanks.tsv", "\n  \n\r\n", SIGNMF_EEMPTY, "no ratings");
    cr_assert_eq(signmf_ratings_load(NULL, NULL, &r, &err), SIGNMF_EINVAL);
    cr_assert_eq(signmf_ratings_load(missing, NULL, NULL, &err), SIGNMF_EINVAL);
}

Test(io, long_line_is_rejected)
{
    size_t n = (2u << 20) + 10;
    char *big = malloc(n + 1);
    cr_assert(big);
    memcpy(big, "1\t1\t5\n1\t2\t", 10);
    memset(big + 10, '7', n - 10);
    big[n] = '\0';
    expect_fail("long.tsv", big, SIGNMF_EPARSE, "long.tsv:2:", "at most 1048576 bytes");
    free(big);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */
/* ------------------------------------------------------------------ */

Test(io, csv_header_and_sparse_ids_compact)
{
    signmf_ratings *r = load_ok(write_text("ratings.csv", "userId,movieId,rating,timestamp\n"
                                                          "1,1,4.0,964982703\n"
                                                          "1,193609,3.5,964981247\n"
                                                          "2,50,0.5,964982224\n"
                                                          "2,1,5.0,964983815\n"),
                                NULL);
    cr_assert_eq(r->users, 2);
    cr_assert(r->user_map.direct);
    cr_assert_eq(r->items, 3);
    cr_assert_not(r->item_map.direct);
    cr_assert_eq(sm_idmap_id(&r->item_map, 0), 1);
    cr_assert_eq(sm_idmap_id(&r->item_map, 1), 50);
    cr_assert_eq(sm_idmap_id(&r->item_map, 2), 193609);
    size_t at;
    cr_assert_eq(sm_idmap_index(&r->item_map, 193609, &at), SIGNMF_OK);
    cr_assert_eq(at, 2);
    cr_assert_eq(sm_idmap_index(&r->item_map, 2, &at), SIGNMF_ENOTFOUND);
    expect_triplet(r, 0, 0, 0, 4.0);
    expect_triplet(r, 1, 0, 2, 3.5);
    expect_triplet(r, 2, 1, 0, 5.0);
    expect_triplet(r, 3, 1, 1, 0.5);
    signmf_ratings_free(r);
}

Test(io, csv_variants)
{
    /* Case-insensitive header, three columns, spaces around fields, CRLF,
     * found by content under a neutral extension. */
    signmf_ratings *r = load_ok(
        write_text("ratings.txt", "USERID , MovieId,RATING\r\n 1 , 2 , 3.5 \r\n2,1,4\r\n"), NULL);
    cr_assert_eq(r->count, 2);
    expect_triplet(r, 0, 0, 1, 3.5);
    signmf_ratings_free(r);
    /* No header: numeric first field. */
    r = load_ok(write_text("plain.csv", "1,2,3\n2,2,4,17\n"), NULL);
    cr_assert_eq(r->count, 2);
    signmf_ratings_free(r);
}

Test(io, csv_errors)
{
    expect_fail("header_only.csv", "userId,movieId,rating,timestamp\n", SIGNMF_EEMPTY,
                "header_only.csv", "no ratings");
    expect_fail("badhdr.csv", "userId,itemName,rating\n1,1,5\n", SIGNMF_EPARSE,
                "badhdr.csv:1:8:", "'movieId'", "found 'itemName'");
    expect_fail("shorthdr.csv", "userId,movieId\n1,1\n", SIGNMF_EPARSE,
                "shorthdr.csv:1:", "'rating'");
    expect_fail("cols.csv", "userId,movieId,rating,timestamp\n1,1,5,9\n1,2,5\n", SIGNMF_EPARSE,
                "cols.csv:3:", "timestamp");
    expect_fail("cols3.csv", "userId,movieId,rating\n1,1,5,9\n", SIGNMF_EPARSE,
                "cols3.csv:2:7:", "end of line", "found '9'");
    expect_fail("emptyfield.csv", "userId,movieId,rating\n1,,5\n", SIGNMF_EPARSE,
                "emptyfield.csv:2:3:", "item id", "found ''");
    expect_fail("dup.csv", "userId,movieId,rating\n5,7,1\n5,8,1\n5,7,2\n", SIGNMF_EDUPLICATE,
                "dup.csv:4: duplicate rating for user 5, item 7 (first at line 2)");
    expect_fail("nan.csv", "userId,movieId,rating\n5,7,NaN\n", SIGNMF_ERANGE, "nan.csv:2:5:");
}

/* ------------------------------------------------------------------ */
/* Matrix Market                                                       */
/* ------------------------------------------------------------------ */

Test(io, mm_real_keeps_size_line_dims)
{
    signmf_ratings *r =
        load_ok(write_text("m.mtx", "%%MatrixMarket matrix coordinate real general\n"
                                    "% a comment\n"
                                    "%\n"
                                    "5 6 3\n"
                                    "4 2 2.5\n"
                                    "1 6 -1\n"
                                    "% comment between entries\n"
                                    "4 1 3\n"),
                NULL);
    cr_assert_eq(r->users, 5);
    cr_assert_eq(r->items, 6);
    cr_assert_eq(r->count, 3);
    expect_triplet(r, 0, 0, 5, -1);
    expect_triplet(r, 1, 3, 0, 3);
    expect_triplet(r, 2, 3, 1, 2.5);
    signmf_ratings_free(r);

    signmf_load_options o = signmf_load_options_default();
    o.ids = SIGNMF_IDS_COMPACT;
    r = load_ok(write_text("m2.mm", "%%MatrixMarket matrix coordinate integer general\n"
                                    "5 6 2\n4 2 2\n1 6 -1\n"),
                &o);
    cr_assert_eq(r->users, 2);
    cr_assert_eq(r->items, 2);
    cr_assert_eq(sm_idmap_id(&r->user_map, 1), 4);
    cr_assert_eq(sm_idmap_id(&r->item_map, 1), 6);
    signmf_ratings_free(r);
}

Test(io, mm_errors)
{
    const char *hdr = "%%MatrixMarket matrix coordinate real general\n";
    char b[512];
    expect_fail("pattern.mtx", "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n",
                SIGNMF_EUNSUPPORTED, "pattern.mtx:1:", "found 'pattern'");
    expect_fail("sym.mtx", "%%MatrixMarket matrix coordinate real symmetric\n2 2 1\n1 1 1\n",
                SIGNMF_EUNSUPPORTED, "sym.mtx:1:", "'general'");
    expect_fail("array.mtx", "%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n",
                SIGNMF_EUNSUPPORTED, "array.mtx:1:", "'coordinate'");
    snprintf(b, sizeof b, "%s3 3 2\n1 1 1\n", hdr);
    expect_fail("few.mtx", b, SIGNMF_EPARSE, "few.mtx:", "expected 2 entries", "found 1");
    snprintf(b, sizeof b, "%s3 3 1\n1 1 1\n2 2 2\n", hdr);
    expect_fail("more.mtx", b, SIGNMF_EPARSE, "more.mtx:4:1:", "1 entries declared on line 2");
    snprintf(b, sizeof b, "%s3 3 1\n4 1 1\n", hdr);
    expect_fail("oob.mtx", b, SIGNMF_ERANGE, "oob.mtx:3:1:", "row index in 1..3", "found '4'");
    snprintf(b, sizeof b, "%s3 3 1\n1 0 1\n", hdr);
    expect_fail("zeroidx.mtx", b, SIGNMF_ERANGE, "zeroidx.mtx:3:3:", "column index");
    snprintf(b, sizeof b, "%s3 3 2\n1 1 1\n2 2 0\n", hdr);
    expect_fail("zero.mtx", b, SIGNMF_ERANGE, "zero.mtx:4:5:", "0 means unrated");
    snprintf(b, sizeof b, "%s3 3 2\n1 1 1\n1 1 2\n", hdr);
    expect_fail("dup.mtx", b, SIGNMF_EDUPLICATE, "dup.mtx:4: duplicate", "(first at line 3)");
    expect_fail("int.mtx", "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 1.5\n",
                SIGNMF_EPARSE, "int.mtx:3:5:", "integer");
    expect_fail("nosize.mtx", "%%MatrixMarket matrix coordinate real general\n% only\n",
                SIGNMF_EEMPTY, "nosize.mtx:2:", "size line");
    snprintf(b, sizeof b, "%s3 x 2\n", hdr);
    expect_fail("badsize.mtx", b, SIGNMF_EPARSE, "badsize.mtx:2:3:", "column count");
}

/* ------------------------------------------------------------------ */
/* .npy and .npz                                                       */
/* ------------------------------------------------------------------ */

/* The fixtures hold [[5,0,3,0],[0,0,0,0],[1,2,0,0]]. */
static void expect_dense_fixture(signmf_ratings *r)
{
    cr_assert_eq(r->users, 3);
    cr_assert_eq(r->items, 4);
    cr_assert_eq(r->count, 4);
    cr_assert(r->user_map.direct && r->item_map.direct);
    expect_triplet(r, 0, 0, 0, 5);
    expect_triplet(r, 1, 0, 2, 3);
    expect_triplet(r, 2, 2, 0, 1);
    expect_triplet(r, 3, 2, 1, 2);
    signmf_ratings_free(r);
}

Test(io, npy_npz_fixtures)
{
    expect_dense_fixture(load_ok(fixture("dense_f8.npy"), NULL));
    expect_dense_fixture(load_ok(fixture("dense_i4_fortran.npy"), NULL));
    expect_dense_fixture(load_ok(fixture("dense_stored.npz"), NULL));
    expect_dense_fixture(load_ok(fixture("dense_deflated.npz"), NULL));
}

static size_t read_all(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* A hand-made .npy image: header dict text, then `data_len` bytes. */
static const char *write_npy(const char *name, const char *dict, const void *data, size_t len)
{
    unsigned char buf[4096];
    size_t dl = strlen(dict);
    size_t total = 10 + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = dl + pad + 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', pad);
    buf[10 + dl + pad] = '\n';
    memcpy(buf + 10 + hlen, data, len);
    return write_bytes(name, buf, 10 + hlen + len);
}

static signmf_error expect_bin_fail(const char *path, const signmf_load_options *opt,
                                    signmf_status status, const char *frag)
{
    signmf_ratings *r = (signmf_ratings *)1;
    signmf_error err;
    signmf_status st = signmf_ratings_load(path, opt, &r, &err);
    cr_assert_eq(st, status, "%s: expected %d, got %d: %s", path, status, st, err.message);
    cr_assert_null(r);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    cr_assert(strstr(err.message, base), "message does not name %s: %s", base, err.message);
    cr_assert(strstr(err.message, frag), "message lacks '%s': %s", frag, err.message);
    return err;
}

Test(io, npy_handmade_dtypes_and_rejections)
{
    const uint8_t u1[6] = {0, 1, 2, 0, 0, 3};
    signmf_ratings *r = load_ok(
        write_npy("u1.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", u1, 6),
        NULL);
    cr_assert_eq(r->count, 3);
    expect_triplet(r, 2, 1, 2, 3);
    signmf_ratings_free(r);
    const int16_t i2[4] = {-2, 0, 0, 7};
    r = load_ok(write_npy("i2.npy", "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 2), }",
                          i2, sizeof i2),
                NULL);
    expect_triplet(r, 0, 0, 0, -2);
    expect_triplet(r, 1, 1, 1, 7);
    signmf_ratings_free(r);

    double d[6] = {1, 2, 3, 4, 5, 6};
    expect_bin_fail(write_npy("be.npy",
                              "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", d,
                              sizeof d),
                    NULL, SIGNMF_EUNSUPPORTED, "'>f8'");
    expect_bin_fail(write_npy("obj.npy",
                              "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", d,
                              sizeof d),
                    NULL, SIGNMF_EUNSUPPORTED, "object dtype '|O'");
    expect_bin_fail(write_npy("cplx.npy",
                              "{'descr': '<c16', 'fortran_order': False, 'shape': (1, 3), }", d,
                              sizeof d),
                    NULL, SIGNMF_EUNSUPPORTED, "'<c16'");
    expect_bin_fail(write_npy("rec.npy",
                              "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (6,), }",
                              d, sizeof d),
                    NULL, SIGNMF_EUNSUPPORTED, "structured");
    expect_bin_fail(write_npy("one.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", d,
                              sizeof d),
                    NULL, SIGNMF_EFORMAT, "found shape (6,)");
    expect_bin_fail(write_npy("three.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }", d,
                              sizeof d),
                    NULL, SIGNMF_EFORMAT, "(1, 2, 3)");
    expect_bin_fail(write_npy("trunc.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d,
                              sizeof d - 5),
                    NULL, SIGNMF_EFORMAT, "expected 48 bytes for a 2 x 3 <f8 array, found 43");
    double bad[2] = {1, NAN};
    expect_bin_fail(write_npy("nan.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", bad,
                              sizeof bad),
                    NULL, SIGNMF_ERANGE, "finite rating at [0, 1]");
    double zero[2] = {0, 0};
    expect_bin_fail(write_npy("zeros.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", zero,
                              sizeof zero),
                    NULL, SIGNMF_EEMPTY, "no ratings");
    signmf_load_options o = signmf_load_options_default();
    o.rating_max = 5;
    expect_bin_fail(write_npy("big.npy",
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d,
                              sizeof d),
                    &o, SIGNMF_ERANGE, "at [1, 2], found 6");
    expect_bin_fail(write_bytes("garbage.npy", "\x93NUMPX....", 10), NULL, SIGNMF_EFORMAT, "magic");
}

Test(io, npy_header_version_2)
{
    unsigned char img[256];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
    size_t dl = strlen(dict), total = 12 + dl + 1, pad = (64 - total % 64) % 64;
    uint32_t hlen = (uint32_t)(dl + pad + 1);
    memcpy(img, "\x93NUMPY\x02\x00", 8);
    memcpy(img + 8, &hlen, 4);
    memcpy(img + 12, dict, dl);
    memset(img + 12 + dl, ' ', pad);
    img[12 + dl + pad] = '\n';
    float v[2] = {0, 2.5f};
    memcpy(img + 12 + hlen, v, sizeof v);
    signmf_ratings *r = load_ok(write_bytes("v2.npy", img, 12 + hlen + sizeof v), NULL);
    cr_assert_eq(r->count, 1);
    expect_triplet(r, 0, 0, 1, 2.5);
    signmf_ratings_free(r);
}

Test(io, npz_member_selection_and_rejections)
{
    unsigned char buf[4096];
    signmf_load_options o = signmf_load_options_default();
    /* 'other' is a 1-D array: selecting it reaches the npy checks. */
    o.npz_key = "other";
    expect_bin_fail(fixture("dense_deflated.npz"), &o, SIGNMF_EFORMAT, "[other.npy]");
    o.npz_key = "nope";
    expect_bin_fail(fixture("dense_deflated.npz"), &o, SIGNMF_ENOTFOUND, "'nope.npy'");
    /* A lone member is used whatever its name. */
    size_t n = read_all(fixture("dense_stored.npz"), buf, sizeof buf);
    o = signmf_load_options_default();
    o.max_inflated = 64;
    expect_bin_fail(fixture("dense_deflated.npz"), &o, SIGNMF_EFORMAT, "above the cap of 64");

    /* Flip a payload byte of the stored member: CRC mismatch. */
    unsigned char bad[4096];
    memcpy(bad, buf, n);
    bad[n / 2] ^= 0x5a;
    expect_bin_fail(write_bytes("crc.npz", bad, n), NULL, SIGNMF_ECHECKSUM, "CRC-32");
    /* Truncated archive: the end record is gone. */
    expect_bin_fail(write_bytes("cut.npz", buf, n - 30), NULL, SIGNMF_EFORMAT, "zip");
    expect_bin_fail(write_bytes("notzip.npz", "hello world, not a zip at all", 29), NULL,
                    SIGNMF_EFORMAT, "zip");
}

/* The streaming reader signmf-mpi uses: the member's plain bytes in
 * order, its sizes and CRC-32 checked as sm_npz_load checks them. */
typedef struct mem_src {
    const unsigned char *p;
    size_t n;
} mem_src;
static size_t mem_read(void *ctx, uint64_t off, unsigned char *buf, size_t n)
{
    const mem_src *m = ctx;
    if (off >= m->n)
        return 0;
    size_t k = m->n - (size_t)off < n ? m->n - (size_t)off : n;
    memcpy(buf, m->p + off, k);
    return k;
}
typedef struct mem_sink {
    unsigned char out[8192];
    size_t n;
    int stop_at; /* stop after this many calls, or never (< 0) */
} mem_sink;
static int mem_take(void *ctx, const unsigned char *p, size_t n, uint64_t off)
{
    mem_sink *s = ctx;
    cr_assert_eq(off, s->n, "runs arrive in order");
    cr_assert_leq(s->n + n, sizeof s->out);
    memcpy(s->out + s->n, p, n);
    s->n += n;
    return s->stop_at >= 0 && --s->stop_at < 0;
}

Test(io, npz_stream_matches_the_member)
{
    unsigned char buf[4096], plain[8192];
    signmf_load_options o = signmf_load_options_default();
    signmf_error err;
    size_t plain_n = 0;
    const char *names[] = {"dense_stored.npz", "dense_deflated.npz"};
    for (int f = 0; f < 2; ++f) {
        size_t n = read_all(fixture(names[f]), buf, sizeof buf);
        sm_npz_member m;
        cr_assert_eq(sm_npz_locate("a.npz", buf, n, &o, &m, &err), SIGNMF_OK, "%s", err.message);
        cr_assert_eq(m.method, f ? 8u : 0u);
        mem_src src = {buf, n};
        mem_sink *snk = calloc(1, sizeof *snk);
        snk->stop_at = -1;
        cr_assert_eq(sm_npz_stream(&m, mem_read, &src, mem_take, snk, NULL, &err), SIGNMF_OK, "%s",
                     err.message);
        cr_assert_eq(snk->n, m.usize);
        cr_assert_eq(memcmp(snk->out, "\x93NUMPY", 6), 0);
        if (f == 0) {
            cr_assert_eq(memcmp(snk->out, buf + m.data, snk->n), 0,
                         "stored: the bytes as they are");
        } else {
            /* against zlib's own one-shot raw inflate */
            z_stream z;
            memset(&z, 0, sizeof z);
            cr_assert_eq(inflateInit2(&z, -15), Z_OK);
            z.next_in = buf + m.data;
            z.avail_in = (uInt)m.csize;
            z.next_out = plain;
            z.avail_out = sizeof plain;
            cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
            plain_n = z.total_out;
            inflateEnd(&z);
            cr_assert_eq(snk->n, plain_n);
            cr_assert_eq(memcmp(snk->out, plain, plain_n), 0);
        }
        /* the sink can stop the stream */
        memset(snk, 0, sizeof *snk);
        snk->stop_at = 0;
        cr_assert_eq(sm_npz_stream(&m, mem_read, &src, mem_take, snk, NULL, &err), SIGNMF_EINVAL);
        /* a flipped byte: the stored member's CRC, the deflated one's stream */
        unsigned char bad[4096];
        memcpy(bad, buf, n);
        bad[m.data + m.csize / 2] ^= 0x5a;
        mem_src bsrc = {bad, n};
        memset(snk, 0, sizeof *snk);
        snk->stop_at = -1;
        signmf_status st = sm_npz_stream(&m, mem_read, &bsrc, mem_take, snk, NULL, &err);
        cr_assert(f ? st == SIGNMF_EFORMAT || st == SIGNMF_ECHECKSUM : st == SIGNMF_ECHECKSUM,
                  "%s: status %d", names[f], (int)st);
        signmf_ratings *r;
        signmf_error err2;
        cr_assert_eq(sm_npz_load("a.npz", bad, n, &o, &r, &err2), st, "sm_npz_load agrees");
        cr_assert_str_eq(strstr(err.message, "a.npz"), strstr(err2.message, "a.npz"));
        /* cut short: the reader runs out */
        mem_src cut = {buf, (size_t)(m.data + m.csize / 2)};
        memset(snk, 0, sizeof *snk);
        snk->stop_at = -1;
        cr_assert_eq(sm_npz_stream(&m, mem_read, &cut, mem_take, snk, NULL, &err), SIGNMF_EFORMAT);
        cr_assert(strstr(err.message, "truncated") != NULL, "%s", err.message);
        free(snk);
    }
}

Test(io, npz_bomb_declared_size_lie)
{
    /* Rewrite the central directory's uncompressed size of the deflated
     * member to something small: inflation must stop there, not trust it. */
    unsigned char buf[4096];
    size_t n = read_all(fixture("dense_deflated.npz"), buf, sizeof buf);
    size_t changed = 0;
    for (size_t k = 0; k + 46 < n; k++) {
        if (buf[k] == 'P' && buf[k + 1] == 'K' && buf[k + 2] == 1 && buf[k + 3] == 2) {
            buf[k + 24] = 16;
            buf[k + 25] = buf[k + 26] = buf[k + 27] = 0;
            changed++;
        }
    }
    cr_assert_gt(changed, 0);
    expect_bin_fail(write_bytes("lie.npz", buf, n), NULL, SIGNMF_EFORMAT, "found more");
}

static bool have_numpy(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

Test(io, npz_from_numpy_at_test_time)
{
    if (!have_numpy())
        cr_skip("numpy is not available in /usr/bin/python3");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && /usr/bin/python3 -c \""
             "import numpy as np\n"
             "rng = np.random.default_rng(7)\n"
             "a = rng.integers(0, 6, size=(57, 83)).astype(np.float32)\n"
             "a[:, 5] = 0\n"
             "np.save('a.npy', a)\n"
             "np.save('af.npy', np.asfortranarray(a.astype(np.int64)))\n"
             "np.savez('s.npz', data=a)\n"
             "np.savez_compressed('c.npz', data=a.astype(np.float64))\n"
             "np.savez_compressed('k.npz', foo=a, bar=a[:2])\n"
             "\"",
             tmpdir);
    cr_assert_eq(system(cmd), 0, "numpy fixture generation failed");
    const char *names[] = {"a.npy", "af.npy", "s.npz", "c.npz", "k.npz"};
    signmf_ratings *ref = NULL;
    signmf_load_options o = signmf_load_options_default();
    o.npz_key = "foo";
    for (int k = 0; k < 5; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[k]);
        signmf_ratings *r = load_ok(p, k == 4 ? &o : NULL);
        cr_assert_eq(r->users, 57);
        cr_assert_eq(r->items, 83);
        expect_sorted(r);
        if (!ref) {
            ref = r;
            continue;
        }
        cr_assert_eq(r->count, ref->count, "%s", names[k]);
        size_t diff = 0;
        for (size_t j = 0; j < r->count; j++)
            diff += r->user[j] != ref->user[j] || r->item[j] != ref->item[j] ||
                    r->value[j] != ref->value[j];
        cr_assert_eq(diff, 0, "%s differs from a.npy in %zu triplets", names[k], diff);
        signmf_ratings_free(r);
    }
    size_t in5 = 0;
    for (size_t j = 0; j < ref->count; j++)
        in5 += ref->item[j] == 5;
    cr_assert_eq(in5, 0);
    signmf_ratings_free(ref);
}

/* ------------------------------------------------------------------ */
/* Id modes and triplets                                               */
/* ------------------------------------------------------------------ */

Test(io, id_modes)
{
    const char *text = "10\t1000\t1\n-5\t7\t2\n10\t7\t3\n";
    /* Non-positive ids are rejected by default (issue 5) and taken as
     * opaque ids in compact mode, which is the only one they fit. */
    signmf_load_options oc = signmf_load_options_default();
    oc.ids = SIGNMF_IDS_COMPACT;
    signmf_ratings *r = load_ok(write_text("ids.tsv", text), &oc);
    cr_assert_not(r->user_map.direct);
    cr_assert_eq(r->users, 2);
    cr_assert_eq(sm_idmap_id(&r->user_map, 0), -5);
    cr_assert_not(r->item_map.direct);
    cr_assert_eq(r->items, 2);
    signmf_ratings_free(r);

    signmf_load_options o = signmf_load_options_default();
    o.ids = SIGNMF_IDS_DIRECT;
    r = load_ok(write_text("direct.tsv", "10\t1000\t1\n3\t7\t2\n"), &o);
    cr_assert(r->user_map.direct && r->item_map.direct);
    cr_assert_eq(r->users, 10);
    cr_assert_eq(r->items, 1000);
    expect_triplet(r, 0, 2, 6, 2);
    signmf_ratings_free(r);

    o.ids = SIGNMF_IDS_COMPACT;
    r = load_ok(write_text("compact.tsv", "1\t1\t1\n3\t2\t2\n"), &o);
    cr_assert_eq(r->users, 2);
    cr_assert_eq(r->items, 2);
    cr_assert_eq(sm_idmap_id(&r->user_map, 1), 3);
    signmf_ratings_free(r);

    /* AUTO boundary: largest id 1.5 x distinct + 16 stays direct. */
    r = load_ok(write_text("edge.tsv", "1\t1\t1\n2\t19\t1\n"), NULL);
    cr_assert(r->item_map.direct);
    cr_assert_eq(r->items, 19);
    signmf_ratings_free(r);
    r = load_ok(write_text("edge2.tsv", "1\t1\t1\n2\t20\t1\n"), NULL);
    cr_assert_not(r->item_map.direct);
    cr_assert_eq(r->items, 2);
    signmf_ratings_free(r);

    /* Ids over a range far wider than their count (the sorting branch). */
    r = load_ok(write_text("wide.tsv", "1\t9000000000000000000\t1\n1\t-9000000000000000000\t2\n"
                                       "1\t42\t3\n"),
                &oc);
    cr_assert_eq(r->items, 3);
    cr_assert_eq(sm_idmap_id(&r->item_map, 0), -9000000000000000000LL);
    cr_assert_eq(sm_idmap_id(&r->item_map, 2), 9000000000000000000LL);
    expect_triplet(r, 0, 0, 0, 2);
    expect_triplet(r, 2, 0, 2, 1);
    signmf_ratings_free(r);
}

Test(io, idmap_copy_and_lookup)
{
    int64_t ids[3] = {-4, 10, 99};
    sm_idmap m = {.direct = false, .count = 3, .ids = sm_alloc(3, sizeof(int64_t))};
    memcpy(m.ids, ids, sizeof ids);
    sm_idmap c;
    cr_assert_eq(sm_idmap_copy(&m, &c), SIGNMF_OK);
    sm_idmap_release(&m);
    size_t at;
    cr_assert_eq(sm_idmap_index(&c, 99, &at), SIGNMF_OK);
    cr_assert_eq(at, 2);
    cr_assert_eq(sm_idmap_index(&c, -4, &at), SIGNMF_OK);
    cr_assert_eq(at, 0);
    cr_assert_eq(sm_idmap_index(&c, 11, &at), SIGNMF_ENOTFOUND);
    cr_assert_eq(sm_idmap_id(&c, 1), 10);
    sm_idmap_release(&c);
    sm_idmap d = {.direct = true, .count = 5, .ids = NULL};
    cr_assert_eq(sm_idmap_index(&d, 5, &at), SIGNMF_OK);
    cr_assert_eq(at, 4);
    cr_assert_eq(sm_idmap_index(&d, 6, &at), SIGNMF_ENOTFOUND);
    cr_assert_eq(sm_idmap_index(&d, 0, &at), SIGNMF_ENOTFOUND);
    cr_assert_eq(sm_idmap_id(&d, 0), 1);
    sm_idmap_release(NULL);
}

Test(io, from_triplets)
{
    int64_t u[4] = {2, 1, 2, 1}, i[4] = {5, 5, 1, 2};
    double v[4] = {1, 2, 3, 4};
    signmf_ratings *r = NULL;
    signmf_error err;
    cr_assert_eq(signmf_ratings_from_triplets(u, i, v, 4, SIGNMF_IDS_AUTO, &r, &err), SIGNMF_OK,
                 "%s", err.message);
    cr_assert_eq(r->users, 2);
    cr_assert_eq(r->items, 5);
    expect_triplet(r, 0, 0, 1, 4);
    expect_triplet(r, 1, 0, 4, 2);
    expect_triplet(r, 2, 1, 0, 3);
    expect_triplet(r, 3, 1, 4, 1);
    signmf_ratings_free(r);

    int64_t du[3] = {1, 2, 1}, di[3] = {1, 1, 1};
    cr_assert_eq(signmf_ratings_from_triplets(du, di, v, 3, SIGNMF_IDS_AUTO, &r, &err),
                 SIGNMF_EDUPLICATE);
    cr_assert_null(r);
    cr_assert(strstr(err.message, "triplet 3: duplicate rating for user 1, item 1 (first at "
                                  "triplet 1)"),
              "%s", err.message);
    double z[3] = {1, 0, 2};
    cr_assert_eq(signmf_ratings_from_triplets(u, i, z, 3, SIGNMF_IDS_AUTO, &r, &err),
                 SIGNMF_ERANGE);
    cr_assert(strstr(err.message, "triplet 2"), "%s", err.message);
    double n[1] = {NAN};
    cr_assert_eq(signmf_ratings_from_triplets(u, i, n, 1, SIGNMF_IDS_AUTO, &r, &err),
                 SIGNMF_ERANGE);
    int64_t zu[1] = {0};
    cr_assert_eq(signmf_ratings_from_triplets(zu, i, v, 1, SIGNMF_IDS_DIRECT, &r, &err),
                 SIGNMF_ERANGE);
    cr_assert_eq(signmf_ratings_from_triplets(zu, i, v, 1, SIGNMF_IDS_COMPACT, &r, &err),
                 SIGNMF_OK);
    signmf_ratings_free(r);
    cr_assert_eq(signmf_ratings_from_triplets(u, i, v, 0, SIGNMF_IDS_AUTO, &r, &err),
                 SIGNMF_EEMPTY);
    signmf_ratings_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Real data and scale                                                 */
/* ------------------------------------------------------------------ */

Test(io, movielens_ua_base_shape)
{
    const char *dir = getenv("SIGNMF_DATA_DIR");
    if (!dir || !*dir)
        cr_skip("SIGNMF_DATA_DIR is not set");
    char p[1024];
    snprintf(p, sizeof p, "%s/ml-100k/ua.base", dir);
    if (access(p, R_OK) != 0)
        cr_skip("%s is not readable", p);
    double t0 = sm_now();
    signmf_ratings *r = load_ok(p, NULL);
    double dt = sm_now() - t0;
    cr_assert_eq(r->users, 943);
    cr_assert_eq(r->items, 1682);
    cr_assert_eq(r->count, 90570);
    cr_assert(r->user_map.direct && r->item_map.direct);
    expect_sorted(r);
    expect_triplet(r, 0, 0, 0, 5);
    cr_assert_lt(dt, 1.0, "ua.base took %.3f s", dt);
    signmf_ratings_free(r);
}

Test(io, large_generated_file_loads_quickly, .timeout = 60)
{
    const size_t users = 3000, items = 2000, n = 1000000;
    char p[600];
    snprintf(p, sizeof p, "%s/big.tsv", tmpdir);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    /* A permutation of distinct cells, so no duplicates and unsorted order. */
    uint64_t cells = (uint64_t)users * items;
    for (size_t k = 0; k < n; k++) {
        uint64_t c = (k * 2654435761u) % cells;
        fprintf(f, "%llu\t%llu\t%d.5\t%zu\n", (unsigned long long)(c / items + 1),
                (unsigned long long)(c % items + 1), (int)(c % 5), k);
    }
    fclose(f);
    double t0 = sm_now();
    signmf_ratings *r = load_ok(p, NULL);
    double dt = sm_now() - t0;
    cr_assert_eq(r->count, n);
    expect_sorted(r);
    cr_assert_lt(dt, 3.0, "1M lines took %.3f s", dt);
    signmf_ratings_free(r);
    remove(p);
}

Test(io, dimension_limits)
{
    expect_bin_fail(
        write_npy("wide.npy",
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 5000000000), }", "", 0),
        NULL, SIGNMF_ERANGE, "at most 4294967295 columns");
    expect_fail("rows.mtx",
                "%%MatrixMarket matrix coordinate real general\n5000000000 2 1\n1 1 1\n",
                SIGNMF_ERANGE, "rows.mtx:2:1:", "row count at most 4294967295");
}

Test(io, explicit_format_overrides_extension)
{
    signmf_load_options o = signmf_load_options_default();
    o.format = SIGNMF_FORMAT_TSV;
    signmf_ratings *r = load_ok(write_text("tabs.csv", "1\t2\t3\n"), &o);
    cr_assert_eq(r->count, 1);
    signmf_ratings_free(r);
    o.format = SIGNMF_FORMAT_CSV;
    r = load_ok(write_text("commas.dat", "userId,movieId,rating\n1,2,3\n"), &o);
    cr_assert_eq(r->count, 1);
    signmf_ratings_free(r);
    /* Content sniffing under an unknown extension: Matrix Market and npy. */
    r = load_ok(
        write_text("matrix.txt", "%%MatrixMarket matrix coordinate real general\n2 2 1\n2 2 4\n"),
        NULL);
    cr_assert_eq(r->users, 2);
    signmf_ratings_free(r);
    o = signmf_load_options_default();
    o.format = SIGNMF_FORMAT_NPY;
    expect_dense_fixture(load_ok(fixture("dense_f8.npy"), &o));
    o.format = (signmf_format)42;
    signmf_error err;
    cr_assert_eq(signmf_ratings_load(fixture("dense_f8.npy"), &o, &r, &err), SIGNMF_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Streaming: files are read through a buffer of SM_SRC_CAP bytes      */
/* ------------------------------------------------------------------ */

/* `lines` records "u\tj\tv\r\n" with user u = k / 50 + 1, item j = k % 50 +
 * 1 and a value with a half; the line for record k starts at line k + 1. */
static char *stream_text(size_t lines, size_t *len)
{
    size_t cap = lines * 32 + 1, o = 0;
    char *t = malloc(cap);
    cr_assert(t);
    for (size_t k = 0; k < lines; k++)
        o += (size_t)snprintf(t + o, cap - o, "%zu\t%zu\t%zu.5\r\n", k / 50 + 1, k % 50 + 1,
                              k % 4 + 1);
    *len = o;
    return t;
}

Test(io, streamed_file_spans_many_buffers)
{
    const size_t lines = 400000; /* about 6 MB, three buffer fills */
    size_t len;
    char *t = stream_text(lines, &len);
    cr_assert_gt(len, 2 * (size_t)SM_SRC_CAP);
    signmf_ratings *r = load_ok(write_bytes("big.tsv", t, len), NULL);
    cr_assert_eq(r->count, lines);
    cr_assert_eq(r->users, lines / 50);
    cr_assert_eq(r->items, 50);
    size_t bad = lines;
    for (size_t k = 0; k < lines && bad == lines; k++)
        if (r->user[k] != k / 50 || r->item[k] != k % 50 || r->value[k] != (double)(k % 4) + 1.5)
            bad = k;
    cr_assert_eq(bad, lines, "triplet %zu differs", bad);
    signmf_ratings_free(r);

    /* an error far past the first buffer names its own line */
    const size_t at = 300000; /* 0-based record, line at + 1 */
    char *p = t;
    for (size_t k = 0; k < at; k++)
        p = strchr(p, '\n') + 1;
    char *save = malloc(len + 1);
    memcpy(save, t, len + 1);
    p[0] = 'x';
    char want[64];
    snprintf(want, sizeof want, "bad.tsv:%zu:1: expected user id (an integer)", at + 1);
    expect_fail("bad.tsv", t, SIGNMF_EPARSE, want);

    /* a duplicate there: both lines found by reading the file again */
    memcpy(t, save, len + 1);
    size_t u = at / 50 + 1, j = at % 50 + 1;
    int n = snprintf(p, 32, "%zu\t%zu\t%zu.5\r", u, j == 1 ? 2 : j - 1, at % 4 + 1);
    p[n] = '\n';
    cr_assert_eq(j, 1);
    snprintf(want, sizeof want, "dup.tsv:%zu: duplicate rating for user %zu, item 2", at + 2, u);
    expect_fail("dup.tsv", t, SIGNMF_EDUPLICATE, want, "(first at line 300001)");

    /* a blank line, then more blank bytes than a buffer holds, then a
     * record: the blank line is the error; without the record, the end */
    memcpy(t, save, len + 1);
    size_t head = (size_t)(p - t), pad = 3u << 20;
    char *b = malloc(head + 2 + pad + 16);
    memcpy(b, t, head);
    memcpy(b + head, "\n", 1);
    memset(b + head + 1, ' ', pad);
    for (size_t q = head + 1; q < head + 1 + pad; q += 1000)
        b[q] = '\n';
    strcpy(b + head + 1 + pad, "\n1\t1\t1\n");
    snprintf(want, sizeof want, "blank.tsv:%zu:1: expected a rating line", at + 1);
    expect_fail("blank.tsv", b, SIGNMF_EPARSE, want);
    b[head + 1 + pad] = '\0';
    r = load_ok(write_bytes("tail.tsv", b, strlen(b)), NULL);
    cr_assert_eq(r->count, at);
    signmf_ratings_free(r);

    /* an overlong line past the first buffer */
    memcpy(t, save, len + 1);
    char *lng = malloc(head + (2u << 20) + 8);
    memcpy(lng, t, head);
    memset(lng + head, '7', 2u << 20);
    strcpy(lng + head + (2u << 20), "\n");
    snprintf(want, sizeof want, "long2.tsv:%zu:1048577: expected a line of at most", at + 1);
    expect_fail("long2.tsv", lng, SIGNMF_EPARSE, want);
    free(lng), free(b), free(save), free(t);
}

/* Ids are held as 32 bits until one does not fit; widening in mid-file
 * keeps every earlier id. */
Test(io, ids_widen_in_mid_file)
{
    size_t len = 0, cap = 5000 * 24 + 128;
    char *t = malloc(cap);
    for (size_t k = 0; k < 5000; k++)
        len += (size_t)snprintf(t + len, cap - len, "%zu\t%zu\t1\n", k + 1, k % 7 + 1);
    len += (size_t)snprintf(t + len, cap - len, "9000000000\t3\t2\n-4\t8\t3\n");
    signmf_load_options oc = signmf_load_options_default();
    oc.ids = SIGNMF_IDS_COMPACT;
    signmf_ratings *r = load_ok(write_bytes("widen.tsv", t, len), &oc);
    cr_assert_eq(r->count, 5002);
    cr_assert_eq(r->users, 5002);
    cr_assert_eq(r->items, 8);
    cr_assert_eq(sm_idmap_id(&r->user_map, 0), -4);
    cr_assert_eq(sm_idmap_id(&r->user_map, 1), 1);
    cr_assert_eq(sm_idmap_id(&r->user_map, 5001), 9000000000LL);
    expect_triplet(r, 0, 0, 7, 3);
    expect_triplet(r, 1, 1, 0, 1);
    expect_triplet(r, 5000, 5000, 4999 % 7, 1);
    expect_triplet(r, 5001, 5001, 2, 2);
    signmf_ratings_free(r);
    /* the default (auto) mode maps large ids compactly too */
    r = load_ok(write_bytes("widen2.tsv", t, len - strlen("-4\t8\t3\n")), NULL);
    cr_assert_eq(r->users, 5001);
    cr_assert_eq(sm_idmap_id(&r->user_map, 5000), 9000000000LL);
    signmf_ratings_free(r);
    free(t);
}

/* A pipe cannot be read twice, so it is read whole: a duplicate still
 * names both lines. The writer is a thread: a forked one would outlive the
 * test inside Criterion's sandbox. */
typedef struct fifo_job {
    const char *path, *text;
} fifo_job;

static void *fifo_writer(void *arg)
{
    const fifo_job *j = arg;
    int fd = open(j->path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, j->text, strlen(j->text));
        (void)w;
        close(fd);
    }
    return NULL;
}

Test(io, pipe_is_read_whole)
{
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/ratings.fifo", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    for (int round = 0; round < 2; round++) {
        fifo_job j = {fifo, round == 0 ? "1\t1\t4\n2\t2\t3\n" : "1\t1\t4\n2\t2\t3\n1\t1\t2\n"};
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, fifo_writer, &j), 0);
        signmf_ratings *r = NULL;
        signmf_error err;
        signmf_status st = signmf_ratings_load(fifo, NULL, &r, &err);
        pthread_join(th, NULL);
        if (round == 0) {
            cr_assert_eq(st, SIGNMF_OK, "%s", err.message);
            cr_assert_eq(r->count, 2);
            signmf_ratings_free(r);
        } else {
            cr_assert_eq(st, SIGNMF_EDUPLICATE);
            cr_assert(strstr(err.message, "ratings.fifo:3: duplicate rating for user 1, item 1 "
                                          "(first at line 1)"),
                      "%s", err.message);
        }
    }
    remove(fifo);
}

Test(io, ratings_triplets)
{
    /* compact ids on both axes: the copies must give the original ids back */
    int64_t u[4] = {20, 10, 20, 10}, i[4] = {500, 500, 7, 9};
    double v[4] = {1.5, 2, 0.1, -4};
    signmf_ratings *r = NULL;
    signmf_error err;
    cr_assert_eq(signmf_ratings_from_triplets(u, i, v, 4, SIGNMF_IDS_COMPACT, &r, &err), SIGNMF_OK,
                 "%s", err.message);
    int64_t gu[4], gi[4];
    double gv[4];
    cr_assert_eq(signmf_ratings_triplets(r, 0, 4, gu, gi, gv, &err), SIGNMF_OK, "%s", err.message);
    const int64_t wu[4] = {10, 10, 20, 20}, wi[4] = {9, 500, 7, 500};
    const double wv[4] = {-4, 2, 0.1, 1.5};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(gu[k], wu[k], "user %d", k);
        cr_assert_eq(gi[k], wi[k], "item %d", k);
        cr_assert_eq(gv[k], wv[k], "rating %d", k);
    }
    /* a window, one column only */
    int64_t one[2] = {0, 0};
    cr_assert_eq(signmf_ratings_triplets(r, 2, 2, NULL, one, NULL, &err), SIGNMF_OK);
    cr_assert_eq(one[0], 7);
    cr_assert_eq(one[1], 500);
    cr_assert_eq(signmf_ratings_triplets(r, 4, 0, gu, gi, gv, &err), SIGNMF_OK);
    one[0] = -1;
    cr_assert_eq(signmf_ratings_triplets(r, 3, 2, one, NULL, NULL, &err), SIGNMF_ERANGE);
    cr_assert_eq(one[0], -1, "nothing written on ERANGE");
    cr_assert(strstr(err.message, "beyond the 4 ratings"), "%s", err.message);
    cr_assert_eq(signmf_ratings_triplets(r, SIZE_MAX, 2, NULL, NULL, NULL, &err), SIGNMF_ERANGE);
    cr_assert_eq(signmf_ratings_triplets(NULL, 0, 0, NULL, NULL, NULL, &err), SIGNMF_EINVAL);
    signmf_ratings_free(r);

    /* direct ids: index + 1 */
    int64_t du[2] = {3, 1}, di[2] = {2, 4};
    cr_assert_eq(signmf_ratings_from_triplets(du, di, v, 2, SIGNMF_IDS_DIRECT, &r, &err),
                 SIGNMF_OK);
    cr_assert_eq(signmf_ratings_triplets(r, 0, 2, gu, gi, gv, &err), SIGNMF_OK);
    cr_assert(gu[0] == 1 && gi[0] == 4 && gv[0] == 2);
    cr_assert(gu[1] == 3 && gi[1] == 2 && gv[1] == 1.5);
    signmf_ratings_free(r);
}
