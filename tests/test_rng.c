/* The generator must reproduce numpy's legacy RandomState exactly: the
 * expected values below were produced by numpy 1.24 with
 *   np.random.seed(s); np.random.normal(0, 1, 10)
 * and are compared bit for bit. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng/rng.h"

static void check_seq(uint32_t seed, const double *want, size_t n)
{
    sm_rng r;
    sm_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double got = sm_rng_gauss(&r);
        cr_assert(memcmp(&got, &want[i], sizeof got) == 0, "seed %u draw %zu: got %a want %a", seed,
                  i, got, want[i]);
    }
}

Test(rng, seed1)
{
    static const double want[10] = {
        0x1.9fd5190657c50p+0, -0x1.393822fb7d9adp-1, -0x1.0e6c872548fd2p-1, -0x1.12ae1255cb80cp+0,
        0x1.bb16b5735117dp-1, -0x1.2698d1ecca259p+1, 0x1.beabfbd8fc605p+0,  -0x1.85bce931aaff6p-1,
        0x1.46b22f4ed7b24p-2, -0x1.feb5e53a223c6p-3};
    check_seq(1, want, 10);
}

Test(rng, seed0)
{
    static const double want[10] = {
        0x1.c398ef3e5cfa5p+0,  0x1.99c2cfacc8953p-2,  0x1.f51d25222c9abp-1, 0x1.1ed5969e3314ep+1,
        0x1.de1847cb13ddap+0,  -0x1.f45dc42a58c82p-1, 0x1.e671fd33295e9p-1, -0x1.35fac49d38436p-3,
        -0x1.a6c8cf8c8b459p-4, 0x1.a473ef0672966p-2};
    check_seq(0, want, 10);
}

Test(rng, seed12345)
{
    static const double want[10] = {
        -0x1.a33dc4f5d203dp-3, 0x1.ea701f566080fp-2, -0x1.09f3df0ae3d0ep-1, -0x1.1c88aeb5231f1p-1,
        0x1.f73d654602e58p+0,  0x1.64b63ea2acb4bp+0, 0x1.7c8cf8427b26ep-4,  0x1.20821040b7d8bp-2,
        0x1.89bd53738ebe6p-1,  0x1.3f1658cd60a17p+0};
    check_seq(12345, want, 10);
}

Test(rng, seed_max)
{
    static const double want[10] = {
        0x1.4bfc38c486d8ap-1,  0x1.56b192e507eeep-1, -0x1.149e836f192fdp+0, 0x1.23543dec5a0fcp-2,
        0x1.d27bf27c6aaafp-4,  0x1.bc38efd644bd1p-1, -0x1.68a93f10b89eep-5, 0x1.fd7bf9478f663p-3,
        -0x1.f9f94d65c3902p-1, -0x1.17832e95fd734p-1};
    check_seq(UINT32_MAX, want, 10);
}

/* The notebook draws Usr (943 x 512) and then Itm from one stream, so Itm's
 * first entries are draws 482816.. of seed 1. */
Test(rng, notebook_q_start)
{
    static const double want[5] = {-0x1.44a4285b7beaap-2, 0x1.529f196dddb35p-2,
                                   -0x1.353ef11a0259bp-1, 0x1.98f14d3427e3ep-1,
                                   -0x1.2d5db27f0098bp-2};
    sm_rng r;
    sm_rng_seed(&r, 1);
    for (size_t i = 0; i < 482816; i++)
        (void)sm_rng_gauss(&r);
    for (size_t i = 0; i < 5; i++) {
        double got = sm_rng_gauss(&r);
        cr_assert(memcmp(&got, &want[i], sizeof got) == 0, "draw %zu: got %a want %a", 482816 + i,
                  got, want[i]);
    }
}

Test(rng, reseed_clears_cached_gauss)
{
    sm_rng r;
    sm_rng_seed(&r, 7);
    double a0 = sm_rng_gauss(&r);
    (void)a0;
    cr_assert(r.has_gauss);
    sm_rng_seed(&r, 7);
    cr_assert(!r.has_gauss);
    double b0 = sm_rng_gauss(&r);
    cr_assert(memcmp(&a0, &b0, sizeof a0) == 0);
}

/* sm_rng_gauss_fill is n calls of sm_rng_gauss (a fill of one, checked
 * against numpy above): same values, same state after (the cached second
 * value too), for odd and even counts, counts around the batch size, and
 * fills that start with a cached value. */
Test(rng, fill_equals_single_draws)
{
    static const size_t counts[] = {0, 1, 2, 3, 255, 256, 257, 511, 512, 513, 1001, 5};
    sm_rng a, b;
    sm_rng_seed(&a, 1);
    sm_rng_seed(&b, 1);
    double buf[1001];
    size_t drawn = 0, bad = 0;
    for (size_t c = 0; c < sizeof counts / sizeof *counts; ++c) {
        size_t n = counts[c];
        sm_rng_gauss_fill(&a, buf, n);
        for (size_t i = 0; i < n; ++i) {
            double want = sm_rng_gauss(&b);
            if (memcmp(&want, &buf[i], sizeof want) != 0 && bad++ == 0)
                cr_log_error("count %zu, draw %zu (overall %zu): fill %a, single %a", n, i,
                             drawn + i, buf[i], want);
        }
        drawn += n;
        cr_assert_eq(a.has_gauss, b.has_gauss, "after %zu draws: cached flag differs", drawn);
        cr_assert(memcmp(&a.gauss, &b.gauss, sizeof a.gauss) == 0, "after %zu draws", drawn);
        cr_assert_eq(a.pos, b.pos, "after %zu draws: generator position differs", drawn);
    }
    cr_assert_eq(bad, 0, "%zu of %zu filled draws differ from single draws", bad, drawn);
}

Test(rng, double_range)
{
    sm_rng r;
    sm_rng_seed(&r, 3);
    for (int i = 0; i < 100000; i++) {
        double d = sm_rng_double(&r);
        cr_assert(d >= 0.0 && d < 1.0);
    }
}

static bool numpy_available(void)
{
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* A million draws against a live numpy, mixing seeds, so the whole state
 * regeneration path (many 624-word refills) is covered. */
Test(rng, live_numpy_million, .timeout = 60)
{
    if (access("/usr/bin/python3", X_OK) != 0 || !numpy_available())
        cr_skip_test("numpy not available in /usr/bin/python3");
    char path[] = "/tmp/signmf_rng_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    const size_t n = 1000000;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; np.random.seed(424242); "
             "np.random.normal(0, 1, %zu).astype('<f8').tofile('%s')\"",
             n, path);
    int rc = system(cmd);
    if (rc != 0) {
        unlink(path);
        cr_assert_fail("python failed: %d", rc);
    }
    FILE *fp = fopen(path, "rb");
    cr_assert(fp);
    double *want = malloc(n * sizeof *want);
    cr_assert(want);
    size_t got_n = fread(want, sizeof *want, n, fp);
    fclose(fp);
    unlink(path);
    cr_assert_eq(got_n, n);
    sm_rng r;
    sm_rng_seed(&r, 424242);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = sm_rng_gauss(&r);
        if (memcmp(&g, &want[i], sizeof g) != 0 && bad++ == 0)
            first_bad = i;
    }
    free(want);
    cr_assert_eq(bad, 0, "%zu mismatches, first at %zu", bad, first_bad);
}
