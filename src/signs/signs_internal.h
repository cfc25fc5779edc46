/* Internals of the sign construction exposed for tests. */
#ifndef SM_SIGNS_INTERNAL_H
#define SM_SIGNS_INTERNAL_H

#include "signs/signs.h"

/* The user mean the MEAN rule compares against: numpy's
 * np.sum(dense_row) / count for the row made of ratings [k0, k1) of `r`
 * (all of one user). */
double sm_signs_row_mean(const signmf_ratings *r, size_t k0, size_t k1);

#endif
