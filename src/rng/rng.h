/* numpy's legacy RandomState: MT19937 seeded by init_genrand, 53-bit
 * doubles, and the polar (Marsaglia) Gaussian with its cached second value. */
#ifndef SM_RNG_H
#define SM_RNG_H

#include <stdint.h>

typedef struct sm_rng {
    uint32_t mt[624];
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

#endif
