/* What the benchmarks share: the data they run on, a clock and a sort for
 * medians. All static inline, so that a benchmark takes what it uses. */
#ifndef SM_BENCH_COMMON_H
#define SM_BENCH_COMMON_H

#include "signmf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic seconds. */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ua.base's shape, 943 x 1682, `per` ratings per user on log-uniformly
 * skewed items, deterministic: for machines without MovieLens. */
static inline signmf_ratings *bench_synthetic(size_t per)
{
    size_t users = 943, items = 1682, n = users * per, e = 0;
    int64_t *u = malloc(n * sizeof *u), *it = malloc(n * sizeof *it);
    double *r = malloc(n * sizeof *r);
    unsigned char *seen = calloc(items, 1);
    uint64_t x = 88172645463325252ull;
    signmf_ratings *out = NULL;
    if (u && it && r && seen) {
        for (size_t i = 0; i < users; ++i) {
            memset(seen, 0, items);
            for (size_t c = 0; c < per; ++c) {
                size_t j;
                do {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    double q = (double)(x >> 11) / 9007199254740992.0;
                    j = (size_t)pow((double)items, q) - 1;
                    if (j >= items)
                        j = items - 1;
                } while (seen[j]);
                seen[j] = 1;
                u[e] = (int64_t)i + 1, it[e] = (int64_t)j + 1, r[e] = (double)(1 + (x >> 7) % 5);
                ++e;
            }
        }
        signmf_ratings_from_triplets(u, it, r, n, SIGNMF_IDS_DIRECT, &out, NULL);
    }
    free(u), free(it), free(r), free(seen);
    return out;
}

/* `file` if given, else ml-100k/ua.base under SIGNMF_DATA_DIR, else the
 * synthetic set; *what names the source. NULL (message printed) on a load
 * error. */
static inline signmf_ratings *bench_data(const char *prog, const char *file, size_t per,
                                         const char **what)
{
    static char path[4096];
    const char *dir = getenv("SIGNMF_DATA_DIR");
    if (!file && dir && *dir) {
        snprintf(path, sizeof path, "%s/ml-100k/ua.base", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            fclose(f);
            file = path;
        }
    }
    if (!file) {
        *what = "synthetic ua.base shape";
        return bench_synthetic(per);
    }
    signmf_ratings *r = NULL;
    signmf_error err;
    signmf_load_options o = signmf_load_options_default();
    if (signmf_ratings_load(file, &o, &r, &err) != SIGNMF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.message);
        return NULL;
    }
    *what = file;
    return r;
}

#endif
