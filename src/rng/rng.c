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
    /* tempering all 624 at once vectorises, one at a time does not */
    for (i = 0; i < SM_MT_N; i++) {
        y = r->mt[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        y ^= y >> 18;
        r->out[i] = y;
    }
    r->pos = 0;
}

static inline uint32_t next_u32(sm_rng *r)
{
    if (r->pos >= SM_MT_N)
        sm_rng_generate(r);
    return r->out[r->pos++];
}

static inline double next_double(sm_rng *r)
{
    /* Evaluation order matters: a is drawn before b. */
    uint32_t a = next_u32(r) >> 5;
    uint32_t b = next_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

uint32_t sm_rng_u32(sm_rng *r)
{
    return next_u32(r);
}

double sm_rng_double(sm_rng *r)
{
    return next_double(r);
}

/* One accepted polar pair: x1, x2 and r2 = x1^2 + x2^2 in (0, 1). */
static inline double polar_pair(sm_rng *r, double *x1, double *x2)
{
    double a, b, r2;
    do {
        a = 2.0 * next_double(r) - 1.0;
        b = 2.0 * next_double(r) - 1.0;
        r2 = a * a + b * b;
    } while (r2 >= 1.0 || r2 == 0.0);
    *x1 = a;
    *x2 = b;
    return r2;
}

double sm_rng_gauss(sm_rng *r)
{
    double g;
    sm_rng_gauss_fill(r, &g, 1);
    return g;
}

/* Polar method: of an accepted pair, f*x2 is returned first and f*x1
 * second, or cached for the next call (numpy's has_gauss). The pairs are
 * drawn a batch ahead of their logarithms: the draws are a serial chain
 * through the generator's state and the logs are not, so separating them
 * lets the logs of a batch overlap. */
#define SM_GAUSS_BATCH 256

void sm_rng_gauss_fill(sm_rng *r, double *out, size_t n)
{
    size_t i = 0;
    if (n > 0 && r->has_gauss) {
        out[i++] = r->gauss;
        r->has_gauss = 0;
        r->gauss = 0.0;
    }
    double x1[SM_GAUSS_BATCH], x2[SM_GAUSS_BATCH], r2[SM_GAUSS_BATCH];
    while (i < n) {
        size_t want = (n - i + 1) / 2, nb = want < SM_GAUSS_BATCH ? want : SM_GAUSS_BATCH;
        for (size_t b = 0; b < nb; ++b)
            r2[b] = polar_pair(r, &x1[b], &x2[b]);
        for (size_t b = 0; b < nb; ++b) {
            double f = sqrt(-2.0 * log(r2[b]) / r2[b]);
            out[i++] = f * x2[b];
            if (i < n) {
                out[i++] = f * x1[b];
            } else {
                r->gauss = f * x1[b];
                r->has_gauss = 1;
            }
        }
    }
}
