/* The sparse sign structure D: never dense. */
#ifndef SM_SIGNS_H
#define SM_SIGNS_H

#include "../io/ratings.h"

/* One orientation of D in compressed rows. For row r the entries
 * idx[ptr[r] .. mid[r]) have D = +1 (disliked) and idx[mid[r] .. ptr[r+1])
 * have D = -1 (liked); each segment is sorted ascending. A gradient row is
 *   sum over the +1 segment of src rows  minus  sum over the -1 segment,
 * accumulated in exactly that order by every kernel. */
typedef struct sm_signs {
    size_t rows, cols, nnz;
    size_t *ptr;   /* rows + 1 */
    size_t *mid;   /* rows */
    uint32_t *idx; /* nnz */
} sm_signs;

typedef struct sm_sign_options {
    signmf_sign_rule rule;
    double threshold;
} sm_sign_options;

/* The rated entries that get no sign (a rating equal to its user's mean),
 * in compressed rows of ascending columns. Together with D they are every
 * rated pair, which models need (recommendations skip rated items), so the
 * ratings themselves need not outlive sign construction. */
typedef struct sm_zeros {
    size_t rows, nnz;
    size_t *ptr;   /* rows + 1 */
    uint32_t *idx; /* nnz */
} sm_zeros;

/* Build D (users x items) and its transpose from `r`. Means follow numpy:
 * mean_i = sum_j W_ij / count_i, D_ij = -1 if W_ij > mean_i, +1 if below. */
signmf_status sm_signs_build(const signmf_ratings *r, const sm_sign_options *opt, sm_signs *by_user,
                             sm_signs *by_item, signmf_error *err);
/* The two halves of sm_signs_build, so that a caller can free the ratings
 * between them: D by user (and, when `zero` is not NULL, the unsigned
 * rated entries) from `r`, then the transpose from D alone. */
signmf_status sm_signs_build_rows(const signmf_ratings *r, const sm_sign_options *opt,
                                  sm_signs *by_user, sm_zeros *zero, signmf_error *err);
signmf_status sm_signs_transpose(const sm_signs *by_user, sm_signs *by_item, signmf_error *err);
void sm_signs_release(sm_signs *s);
void sm_zeros_release(sm_zeros *z);

/* Number of rated items of row u (signed or not). */
static inline size_t sm_rated_count(const sm_signs *d, const sm_zeros *z, size_t u)
{
    return d->ptr[u + 1] - d->ptr[u] + z->ptr[u + 1] - z->ptr[u];
}
/* The rated items of row u, ascending, into out (sm_rated_count entries):
 * a merge of the +1, -1 and unsigned segments, which are disjoint. */
void sm_rated_row(const sm_signs *d, const sm_zeros *z, size_t u, uint32_t *out);

#endif
