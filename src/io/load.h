/* Private plumbing shared by the ratings loaders: the growable triplet
 * buffer every parser fills, the builder that turns it into a
 * signmf_ratings, and the per-format entry points. */
#ifndef SM_IO_LOAD_H
#define SM_IO_LOAD_H

#include "ratings.h"

/* Longest text line accepted; anything longer is a parse error, so a file
 * without newlines cannot make a line-oriented caller buffer without bound. */
#define SM_MAX_LINE ((size_t)1 << 20)

/* Triplets in original ids, in file order. In locate mode nothing is
 * stored: a second parse of the same input only records the lines of the
 * first two records carrying (find_user, find_item), which is how a
 * duplicate found after sorting is traced back to both of its lines without
 * keeping a line number per rating. */
typedef struct sm_tbuf {
    int64_t *user, *item;
    double *value;
    size_t count, cap;
    bool locate;
    int64_t find_user, find_item;
    uint64_t found_line[2];
    size_t found;
} sm_tbuf;

signmf_status sm_tbuf_grow(sm_tbuf *b, size_t cap);
void sm_tbuf_release(sm_tbuf *b);

static inline signmf_status sm_tbuf_push(sm_tbuf *b, int64_t u, int64_t i, double v, uint64_t line)
{
    if (SM_UNLIKELY(b->locate)) {
        if (u == b->find_user && i == b->find_item && b->found < 2)
            b->found_line[b->found++] = line;
        return SIGNMF_OK;
    }
    if (SM_UNLIKELY(b->count == b->cap)) {
        signmf_status s = sm_tbuf_grow(b, b->cap < 1024 ? 1024 : b->cap * 2);
        if (s != SIGNMF_OK)
            return s;
    }
    b->user[b->count] = u;
    b->item[b->count] = i;
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

/* A ratings set of the given dimensions with room for `count` triplets and
 * direct maps; used by the dense loaders, which produce sorted output. */
signmf_status sm_ratings_alloc_direct(size_t users, size_t items, size_t count,
                                      signmf_ratings **out);

/* Whole file into memory, NUL-terminated (the terminator is not counted). */
signmf_status sm_read_file(const char *path, char **buf, size_t *len, signmf_error *err);

/* Text formats; `fmt` is TSV, CSV or MM (AUTO sniffs the content). */
signmf_status sm_text_load(const char *path, const char *buf, size_t len, signmf_format fmt,
                           const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);
signmf_format sm_text_sniff(const char *buf, size_t len);

/* A .npy image in memory; `name` is used in messages. */
signmf_status sm_npy_load(const char *name, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);
signmf_status sm_npz_load(const char *path, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err);

#endif
