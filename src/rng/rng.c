/* numpy's legacy RandomState (randomkit / mt19937.c + legacy-distributions.c)
 * reproduced bit for bit, because the notebook's initial P and Q come from
 * np.random.seed(s); np.random.normal(...). */
#include "rng.h"

#include <math.h>

#define SM_MT_N        624
#define SM_MT_M        397
#define SM_MT_MATRIX_A 0x9908b0dfU
#define SM_MT_UPPER    0x80000000U
#define SM_MT_LOWER    0x7fffffffU

void sm_rng_seed(sm_rng *r, uint32_t seed)
{
    r->mt[0] = seed;
    for (int i = 1; i < SM_MT_N; i++)
        r->mt[i] = 1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    /* numpy's seed() leaves pos at N so the first draw regenerates. */
    r->pos = SM_MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void sm_rng_generate(sm_rng *r)
{
    uint32_t y;
    int i;
    for (i = 0; i < SM_MT_N - SM_MT_M; i++) {
        y = (r->mt[i] & SM_MT_UPPER) | (r->mt[i + 1] & SM_MT_LOWER);
        r->mt[i] = r->mt[i + SM_MT_M] ^ (y >> 1) ^ (-(y & 1U) & SM_MT_MATRIX_A);
    }
    for (; i < SM_MT_N - 1; i++) {
        y = (r->mt[i] & SM_MT_UPPER) | (r->mt[i + 1] & SM_MT_LOWER);
        r->mt[i] = r->mt[i + (SM_MT_M - SM_MT_N)] ^ (y >> 1) ^ (-(y & 1U) & SM_MT_MATRIX_A);
    }
    y = (r->mt[SM_MT_N - 1] & SM_MT_UPPER) | (r->mt[0] & SM_MT_LOWER);
    r->mt[SM_MT_N - 1] = r->mt[SM_MT_M - 1] ^ (y >> 1) ^ (-(y & 1U) & SM_MT_MATRIX_A);
    r->pos = 0;
}

uint32_t sm_rng_u32(sm_rng *r)
{
    if (r->pos >= SM_MT_N)
        sm_rng_generate(r);
    uint32_t y = r->mt[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

double sm_rng_double(sm_rng *r)
{
    /* Evaluation order matters: a is drawn before b. */
    uint32_t a = sm_rng_u32(r) >> 5;
    uint32_t b = sm_rng_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double sm_rng_gauss(sm_rng *r)
{
    if (r->has_gauss) {
        r->has_gauss = 0;
        double g = r->gauss;
        r->gauss = 0.0;
        return g;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * sm_rng_double(r) - 1.0;
        x2 = 2.0 * sm_rng_double(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    /* Polar method; the cached value is f*x1, the returned one f*x2. */
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}
