/* Internal layout of a loaded ratings set, and the id maps that travel with
 * it into models. */
#ifndef SM_RATINGS_H
#define SM_RATINGS_H

#include "../common/common.h"

/* Maps between original 64-bit ids and dense 0-based indices.
 * direct:  index = id - 1, ids = NULL, count = largest id.
 * compact: ids[index] = original id, ids sorted ascending and unique, so
 *          id -> index is a binary search. */
typedef struct sm_idmap {
    bool direct;
    size_t count;
    int64_t *ids; /* sm_alloc'd, count entries; NULL when direct */
} sm_idmap;

int64_t sm_idmap_id(const sm_idmap *map, size_t index);
/* SIGNMF_ENOTFOUND when the id is not mapped. */
signmf_status sm_idmap_index(const sm_idmap *map, int64_t id, size_t *index);
signmf_status sm_idmap_copy(const sm_idmap *src, sm_idmap *dst);
void sm_idmap_release(sm_idmap *map);

/* Triplets sorted by (user, item), no duplicates, values finite and != 0. */
struct signmf_ratings {
    size_t users, items, count;
    uint32_t *user; /* count entries, 0-based row */
    uint32_t *item; /* count entries, 0-based column */
    double *value;  /* count entries */
    sm_idmap user_map, item_map;
};

/* Row and column indices are uint32_t: a dimension above this is rejected
 * with SIGNMF_ERANGE. */
#define SM_MAX_DIM ((size_t)UINT32_MAX)

#endif
