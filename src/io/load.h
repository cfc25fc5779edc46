/* Private plumbing shared by the ratings loaders: the growable triplet
 * buffer every parser fills, the builder that turns it into a
 * signmf_ratings, and the per-format entry points. */
#ifndef SM_IO_LOAD_H
#define SM_IO_LOAD_H

#include "ratings.h"

/* Longest text line accepted; anything longer is a parse error, so a file
 * without newlines cannot make a line-oriented caller buffer without bound. */
#define SM_MAX_LINE ((size_t)1 << 20)

/* Triplets in original ids, in file order. Ids are kept as uint32_t while
 * every id seen fits (MovieLens and most real sets: 8 bytes a rating less
 * than int64_t), and the arrays are widened in place by the first id that
 * does not. The arrays grow by doubling through realloc, which moves large
 * blocks by remapping pages, so capacity never read or written costs no
 * memory. In locate mode nothing is stored: a second parse of the same
 * input only records the lines of the first two records carrying
 * (find_user, find_item), which is how a duplicate found after sorting is
 * traced back to both of its lines without keeping a line number per
 * rating. */
typedef struct sm_tbuf {
    void *user, *item; /* uint32_t, or int64_t when `wide` */
    double *value;
    size_t count, cap;
    bool wide;
    bool locate;
    int64_t find_user, find_item;
    uint64_t found_line[2];
    size_t found;
} sm_tbuf;

signmf_status sm_tbuf_grow(sm_tbuf *b, size_t cap);
signmf_status sm_tbuf_widen(sm_tbuf *b);
void sm_tbuf_release(sm_tbuf *b);

static inline signmf_status sm_tbuf_push(sm_tbuf *b, int64_t u, int64_t i, double v, uint64_t line)
{
    if (SM_UNLIKELY(b->locate)) {
        if (u == b->find_user && i == b->find_item && b->found < 2)
            b->found_line[b->found++] = line;
        return SIGNMF_OK;
    }
    signmf_status s;
    if (SM_UNLIKELY(b->count == b->cap) &&
        (s = sm_tbuf_grow(b, b->cap < 1024 ? 1024 : b->cap * 2)) != SIGNMF_OK)
        return s;
    /* negative ids also compare above UINT32_MAX here */
    if (SM_UNLIKELY(!b->wide && ((uint64_t)u > UINT32_MAX || (uint64_t)i > UINT32_MAX)) &&
        (s = sm_tbuf_widen(b)) != SIGNMF_OK)
        return s;
    if (SM_LIKELY(!b->wide)) {
        ((uint32_t *)b->user)[b->count] = (uint32_t)u;
        ((uint32_t *)b->item)[b->count] = (uint32_t)i;
    } else {
        ((int64_t *)b->user)[b->count] = u;
        ((int64_t *)b->item)[b->count] = i;
    }
    b->value[b->count] = v;
    b->count++;
    return SIGNMF_OK;
}

/* Outcome of sm_ratings_build when it finds the same pair twice: the
 * caller knows how to name the records (lines or triplet numbers). */
typedef struct sm_dup {
    bool found;
    int64_t user, item;
} sm_dup;

/* Map ids, sort by (user, item) and check for duplicates. `fixed_users` /
 * `fixed_items` nonzero force a direct map of exactly that dimension (Matrix
 * Market size line); the ids must already be within it. The buffer's arrays
 * are consumed (released) whatever the outcome. `what` names the input in
 * messages. On a duplicate returns SIGNMF_EDUPLICATE with `dup` filled and
 * `err` untouched, so the caller can write a message with record positions. */
signmf_status sm_ratings_build(sm_tbuf *b, signmf_id_mode ids, size_t fixed_users,
                               size_t fixed_items, const char *what, signmf_ratings **out,
                               sm_dup *dup, signmf_error *err);

/* Sort triplets (malloc'd arrays, replaced by sorted malloc'd ones) by
 * (user, item): an LSD radix sort of packed keys. False, with all three
 * freed and NULL, for want of memory. */
bool sm_sort_triplets(uint32_t **pu, uint32_t **pi, double **pv, size_t n, size_t users,
                      size_t items);

/* A ratings set of the given dimensions with room for `count` triplets and
 * direct maps; used by the dense loaders, which produce sorted output. */
signmf_status sm_ratings_alloc_direct(size_t users, size_t items, size_t count,
                                      signmf_ratings **out);

/* Whole file into memory, NUL-terminated (the terminator is not counted). */
signmf_status sm_read_file(const char *path, char **buf, size_t *len, signmf_error *err);

/* Bytes of a text input: a regular file is read through one buffer of
 * SM_SRC_CAP bytes, refilled as lines are consumed, so loading never holds
 * the file (nor maps it: mapped pages count as resident too); anything
 * else (a pipe) was read whole into buf beforehand (fd = -1), since a
 * duplicate's lines are found by reading the input a second time. Bytes
 * [pos, len) of buf are unread. */
#define SM_SRC_CAP (2 * SM_MAX_LINE + 2)
typedef struct sm_src {
    const char *path;
    int fd;
    char *buf;
    size_t cap, pos, len;
    bool eof;
    uint64_t size; /* total bytes, 0 when unknown */
    /* A byte range of the file (sm_text_parse_range): reading stops after
     * `left` more bytes. */
    bool bounded;
    uint64_t left;
} sm_src;

/* Move the unread bytes to the front and read until the buffer is full or
 * the input ends. */
signmf_status sm_src_fill(sm_src *s, signmf_error *err);
/* Back to the first byte (and refill), for a second parse. */
signmf_status sm_src_rewind(sm_src *s, signmf_error *err);
/* Open s->path: streamed if it is a regular file and not `whole`, else read
 * whole; filled once either way. */
signmf_status sm_src_open(sm_src *s, bool whole, signmf_error *err);
void sm_src_close(sm_src *s);

/* Text formats; `fmt` is TSV, CSV or MM (AUTO sniffs the content). `src`
 * has been filled once. */
signmf_status sm_text_load(const char *path, sm_src *src, signmf_format fmt,
                           const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);
signmf_format sm_text_sniff(const char *buf, size_t len);

/* What a byte range of a TSV or CSV file held beyond its triplets, for the
 * checks that span ranges (partitioned loading, src/mpi/). */
typedef struct sm_range_info {
    uint64_t blank_line; /* first of the blank lines that end the range, 0: none */
    bool content;        /* a line that is not blank was read */
    int fields;          /* CSV: fields per line fixed by a header, 0: none */
} sm_range_info;

/* Parse bytes [start, end) of a TSV or CSV file (start at a line start,
 * end at a line start or the end of the file) into `b`, numbering lines
 * from line0 + 1, so that messages name the file's own lines. `fields`:
 * -1 when the range starts the file (a CSV header is looked for there),
 * else the header's field count (0: no header). Blank lines that reach
 * the end of the range are accepted and noted in info. */
signmf_status sm_text_parse_range(const char *path, signmf_format fmt, uint64_t start, uint64_t end,
                                  uint64_t line0, int fields, const signmf_load_options *opt,
                                  sm_tbuf *b, sm_range_info *info, signmf_error *err);

/* A Matrix Market file in byte ranges (src/mpi/): the banner and size
 * line, with the byte where the entry lines begin; then the entries of
 * bytes [start, end) (line starts after data_start), numbered from
 * line0 + 1, at most `limit` of them before the error of an entry beyond
 * the declared count. *seen counts the entries read (those before an
 * error), *last_line the last line's number. The count check at the end
 * is the caller's, over all ranges. */
typedef struct sm_mm_head {
    uint64_t rows, cols, nnz;
    bool integer;
    uint64_t size_line;  /* its line number */
    uint64_t data_start; /* byte after the size line */
} sm_mm_head;
signmf_status sm_mm_parse_head(const char *path, const signmf_load_options *opt, sm_mm_head *h,
                               signmf_error *err);
signmf_status sm_mm_parse_range(const char *path, const sm_mm_head *h, uint64_t start, uint64_t end,
                                uint64_t line0, uint64_t limit, const signmf_load_options *opt,
                                sm_tbuf *b, uint64_t *seen, uint64_t *last_line, signmf_error *err);

/* A dense .npy file in row slices (src/mpi/): sm_npy_check reads the
 * header in buf (which holds at least the header; len is the whole
 * image's length) and checks shape and size as sm_npy_load does;
 * sm_npy_rows checks rows [r0, r0 + nrows) held in `data` in the file's
 * order (C: the rows; Fortran: for each column, its nrows elements), in
 * row-major order as sm_npy_load does, counts their ratings and, with b,
 * appends them (ids row + 1, column + 1). */
typedef struct sm_npy_layout {
    const void *dt; /* the element type (npy.c's) */
    bool fortran;
    size_t rows, cols, es;
    size_t data_off;
} sm_npy_layout;
signmf_status sm_npy_check(const char *name, const unsigned char *buf, size_t len,
                           sm_npy_layout *lay, signmf_error *err);
signmf_status sm_npy_rows(const char *name, const sm_npy_layout *lay, const unsigned char *data,
                          size_t r0, size_t nrows, const signmf_load_options *opt, sm_tbuf *b,
                          size_t *nnz, signmf_error *err);

/* A .npy image in memory; `name` is used in messages. */
signmf_status sm_npy_load(const char *name, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);
signmf_status sm_npz_load(const char *path, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);

/* The .npz member sm_npz_load would read (the --npz-key rules), found and
 * checked in the archive image buf without inflating it: its name for
 * messages ("path[member]"), method (0 stored, 8 deflate), the offset of
 * its data in the file, its sizes and CRC-32. */
typedef struct sm_npz_member {
    char name[512];
    unsigned method;
    uint64_t data, csize, usize;
    uint32_t crc;
} sm_npz_member;
signmf_status sm_npz_locate(const char *path, const unsigned char *buf, size_t len,
                            const signmf_load_options *opt, sm_npz_member *m, signmf_error *err);

/* The member's plain bytes in order, without holding them: `rd` fills buf
 * with up to n bytes of the file at off (returns how many; fewer only at
 * an error or the end), `sink` takes each run of plain bytes with its
 * offset in the member and returns nonzero to stop (then SIGNMF_EINVAL and
 * err untouched). With dst (usize + 1 bytes) the plain bytes are written
 * there instead, and sink may be NULL. Sizes and the CRC-32 are checked
 * with sm_npz_load's messages. */
typedef size_t (*sm_npz_read_fn)(void *ctx, uint64_t off, unsigned char *buf, size_t n);
typedef int (*sm_npz_sink_fn)(void *ctx, const unsigned char *p, size_t n, uint64_t off);
signmf_status sm_npz_stream(const sm_npz_member *m, sm_npz_read_fn rd, void *rctx,
                            sm_npz_sink_fn sink, void *sctx, unsigned char *dst, signmf_error *err);

#endif
