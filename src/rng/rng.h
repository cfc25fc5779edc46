/* numpy's legacy RandomState: MT19937 seeded by init_genrand, 53-bit
 * doubles, and the polar (Marsaglia) Gaussian with its cached second value. */
#ifndef SM_RNG_H
#define SM_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sm_rng {
    uint32_t mt[624];
    uint32_t out[624]; /* mt tempered, filled with each regeneration */
    int pos;
    int has_gauss;
    double gauss;
} sm_rng;

/* np.random.seed(seed) for an integer seed. */
void sm_rng_seed(sm_rng *r, uint32_t seed);
uint32_t sm_rng_u32(sm_rng *r);
/* random_sample(): (a >> 5, b >> 6) -> [0, 1) with 53 bits. */
double sm_rng_double(sm_rng *r);
/* np.random.normal(0, 1) / standard_normal() under the legacy generator. */
double sm_rng_gauss(sm_rng *r);
/* n draws of sm_rng_gauss into out, the same values in the same order and
 * the same state afterwards (the cached second value included); faster
 * than n calls. */
void sm_rng_gauss_fill(sm_rng *r, double *out, size_t n);

#endif
