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

/* Build D (users x items) and its transpose from `r`. Means follow numpy:
 * mean_i = sum_j W_ij / count_i, D_ij = -1 if W_ij > mean_i, +1 if below. */
signmf_status sm_signs_build(const signmf_ratings *r, const sm_sign_options *opt, sm_signs *by_user,
                             sm_signs *by_item, signmf_error *err);
void sm_signs_release(sm_signs *s);

#endif
