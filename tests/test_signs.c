/* Sign construction: hand cases, the transpose, numpy's mean bit for bit,
 * and the MovieLens count. The ratings struct is built directly here so the
 * tests do not depend on the loaders. */
#include <criterion/criterion.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signs/signs.h"
#include "signs/signs_internal.h"

typedef struct trip {
    uint32_t u, i;
    double v;
} trip;

static int trip_cmp(const void *a, const void *b)
{
    const trip *x = a, *y = b;
    if (x->u != y->u)
        return x->u < y->u ? -1 : 1;
    if (x->i != y->i)
        return x->i < y->i ? -1 : 1;
    return 0;
}

/* Builds a ratings set owning its arrays (free with free_ratings). */
static signmf_ratings *make_ratings(size_t users, size_t items, trip *t, size_t n)
{
    if (n > 1)
        qsort(t, n, sizeof *t, trip_cmp);
    signmf_ratings *r = calloc(1, sizeof *r);
    cr_assert(r);
    r->users = users;
    r->items = items;
    r->count = n;
    r->user = malloc((n + 1) * sizeof *r->user);
    r->item = malloc((n + 1) * sizeof *r->item);
    r->value = malloc((n + 1) * sizeof *r->value);
    cr_assert(r->user && r->item && r->value);
    for (size_t k = 0; k < n; k++) {
        r->user[k] = t[k].u;
        r->item[k] = t[k].i;
        r->value[k] = t[k].v;
    }
    r->user_map.direct = r->item_map.direct = true;
    r->user_map.count = users;
    r->item_map.count = items;
    return r;
}

static void free_ratings(signmf_ratings *r)
{
    free(r->user);
    free(r->item);
    free(r->value);
    free(r);
}

/* D_ij from one orientation: 0 when absent. */
static int sign_at(const sm_signs *s, size_t row, size_t col)
{
    for (size_t k = s->ptr[row]; k < s->ptr[row + 1]; k++)
        if (s->idx[k] == col)
            return k < s->mid[row] ? 1 : -1;
    return 0;
}

/* Structural invariants plus: by_item is exactly the transpose of by_user.
 * Failures are collected and asserted once: Criterion's --full-stats
 * reports every passing assertion, which is far too slow per entry. */
static void check_consistent(const sm_signs *bu, const sm_signs *bi)
{
    cr_assert_eq(bu->nnz, bi->nnz);
    cr_assert_eq(bu->rows, bi->cols);
    cr_assert_eq(bu->cols, bi->rows);
    const sm_signs *both[2] = {bu, bi};
    size_t bad = 0;
    char first[256] = "";
    for (int o = 0; o < 2; o++) {
        const sm_signs *s = both[o];
        cr_assert_eq(s->ptr[0], 0);
        cr_assert_eq(s->ptr[s->rows], s->nnz);
        for (size_t r = 0; r < s->rows; r++) {
            if (!(s->ptr[r] <= s->mid[r] && s->mid[r] <= s->ptr[r + 1]) && bad++ == 0)
                snprintf(first, sizeof first, "orientation %d row %zu: bad ptr/mid", o, r);
            for (size_t k = s->ptr[r]; k < s->ptr[r + 1]; k++) {
                if (s->idx[k] >= s->cols && bad++ == 0)
                    snprintf(first, sizeof first, "orientation %d row %zu: index %u out of range",
                             o, r, s->idx[k]);
                if (k > s->ptr[r] && k != s->mid[r] && s->idx[k - 1] >= s->idx[k] && bad++ == 0)
                    snprintf(first, sizeof first, "orientation %d row %zu: not ascending at %zu", o,
                             r, k);
            }
        }
    }
    cr_assert_eq(bad, 0, "%zu problems; first: %s", bad, first);
    /* Every by_user entry appears in by_item with the same sign; equal
     * counts then make the multisets equal. */
    for (size_t u = 0; u < bu->rows; u++)
        for (size_t k = bu->ptr[u]; k < bu->ptr[u + 1]; k++) {
            int sg = k < bu->mid[u] ? 1 : -1;
            if (sign_at(bi, bu->idx[k], u) != sg && bad++ == 0)
                snprintf(first, sizeof first, "transpose mismatch at (%zu, %u)", u, bu->idx[k]);
        }
    cr_assert_eq(bad, 0, "%zu problems; first: %s", bad, first);
}

static void build(const signmf_ratings *r, signmf_sign_rule rule, double thr, sm_signs *bu,
                  sm_signs *bi)
{
    sm_sign_options opt = {rule, thr};
    signmf_error err;
    signmf_status st = sm_signs_build(r, &opt, bu, bi, &err);
    cr_assert_eq(st, SIGNMF_OK, "%s", err.message);
    check_consistent(bu, bi);
}

Test(signs, mean_hand_case)
{
    /* user 0: 1 2 3 -> mean 2: item for 2 gets 0.
     * user 1: none.  user 2: one item -> equal to its mean -> 0.
     * user 3: 5, 1 -> mean 3: 5 liked (-1), 1 disliked (+1). */
    trip t[] = {{0, 0, 1}, {0, 2, 2}, {0, 3, 3}, {2, 1, 4}, {3, 3, 5}, {3, 0, 1}};
    signmf_ratings *r = make_ratings(4, 4, t, 6);
    sm_signs bu, bi;
    build(r, SIGNMF_SIGN_MEAN, 0, &bu, &bi);
    cr_assert_eq(bu.nnz, 4);
    cr_assert_eq(sign_at(&bu, 0, 0), 1);
    cr_assert_eq(sign_at(&bu, 0, 2), 0);
    cr_assert_eq(sign_at(&bu, 0, 3), -1);
    cr_assert_eq(bu.ptr[1], bu.ptr[2], "user 1 has no ratings");
    cr_assert_eq(bu.ptr[2], bu.ptr[3], "a single rating equals its mean");
    cr_assert_eq(sign_at(&bu, 3, 3), -1);
    cr_assert_eq(sign_at(&bu, 3, 0), 1);
    /* Transpose: item 0 rows hold users 0 and 3 in the +1 segment. */
    cr_assert_eq(bi.mid[0] - bi.ptr[0], 2);
    cr_assert_eq(bi.idx[bi.ptr[0]], 0);
    cr_assert_eq(bi.idx[bi.ptr[0] + 1], 3);
    cr_assert_eq(bi.ptr[2], bi.ptr[1], "item 1 was only rated at the mean");
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    cr_assert_null(bu.ptr);
    free_ratings(r);
}

Test(signs, threshold_and_observed)
{
    trip t[] = {{0, 0, 1}, {0, 1, 3.5}, {0, 2, 4}, {1, 2, -2}, {1, 0, 5}};
    signmf_ratings *r = make_ratings(3, 3, t, 5);
    sm_signs bu, bi;
    build(r, SIGNMF_SIGN_THRESHOLD, 3.5, &bu, &bi);
    cr_assert_eq(bu.nnz, 5);
    cr_assert_eq(sign_at(&bu, 0, 0), 1);
    cr_assert_eq(sign_at(&bu, 0, 1), -1, ">= threshold is liked");
    cr_assert_eq(sign_at(&bu, 0, 2), -1);
    cr_assert_eq(sign_at(&bu, 1, 2), 1);
    cr_assert_eq(sign_at(&bu, 1, 0), -1);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    build(r, SIGNMF_SIGN_OBSERVED, 0, &bu, &bi);
    cr_assert_eq(bu.nnz, 5);
    for (size_t u = 0; u < 3; u++)
        cr_assert_eq(bu.mid[u], bu.ptr[u], "observed: no +1 entries");
    cr_assert_eq(sign_at(&bu, 1, 2), -1);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    free_ratings(r);
}

Test(signs, empty_and_single_item)
{
    signmf_ratings *r = make_ratings(5, 1, NULL, 0);
    sm_signs bu, bi;
    build(r, SIGNMF_SIGN_MEAN, 0, &bu, &bi);
    cr_assert_eq(bu.nnz, 0);
    cr_assert_eq(bu.rows, 5);
    cr_assert_eq(bi.rows, 1);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    free_ratings(r);

    trip t[] = {{0, 0, 2}, {1, 0, 3}, {4, 0, -1}};
    r = make_ratings(5, 1, t, 3);
    build(r, SIGNMF_SIGN_MEAN, 0, &bu, &bi);
    cr_assert_eq(bu.nnz, 0, "each user's only rating is its mean");
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    build(r, SIGNMF_SIGN_THRESHOLD, 2.5, &bu, &bi);
    cr_assert_eq(bu.nnz, 3);
    cr_assert_eq(bi.mid[0] - bi.ptr[0], 2);
    cr_assert_eq(bi.idx[bi.mid[0]], 1);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    free_ratings(r);
}

Test(signs, rejects_bad_input)
{
    trip t[] = {{0, 0, 2}, {0, 1, 3}};
    signmf_ratings *r = make_ratings(1, 2, t, 2);
    sm_signs bu, bi;
    signmf_error err;
    sm_sign_options opt = {(signmf_sign_rule)7, 0};
    cr_assert_eq(sm_signs_build(r, &opt, &bu, &bi, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "found 7"), "%s", err.message);
    opt.rule = SIGNMF_SIGN_THRESHOLD;
    opt.threshold = NAN;
    cr_assert_eq(sm_signs_build(r, &opt, &bu, &bi, &err), SIGNMF_EINVAL);
    opt.rule = SIGNMF_SIGN_MEAN;
    r->item[1] = 0; /* duplicate */
    cr_assert_eq(sm_signs_build(r, &opt, &bu, &bi, &err), SIGNMF_EINVAL);
    cr_assert(strstr(err.message, "sorted"), "%s", err.message);
    r->item[1] = 2; /* out of range */
    cr_assert_eq(sm_signs_build(r, &opt, &bu, &bi, &err), SIGNMF_EINVAL);
    cr_assert_null(bu.ptr);
    free_ratings(r);
}

/* Transpose consistency on a larger random set under every rule. */
Test(signs, random_transpose)
{
    const size_t users = 300, items = 500;
    trip *t = malloc(users * items * sizeof *t);
    cr_assert(t);
    size_t n = 0;
    srand(12);
    for (uint32_t u = 0; u < users; u++)
        for (uint32_t i = 0; i < items; i++)
            if (rand() % 7 == 0)
                t[n++] = (trip){u, i, (double)(rand() % 10 + 1) / 2.0};
    signmf_ratings *r = make_ratings(users, items, t, n);
    for (int rule = 0; rule < 3; rule++) {
        sm_signs bu, bi;
        build(r, (signmf_sign_rule)rule, 3.0, &bu, &bi);
        sm_signs_release(&bu);
        sm_signs_release(&bi);
    }
    free(t);
    free_ratings(r);
}

/* The rated rows a model needs come from D plus the unsigned entries:
 * together exactly the ratings' items, row by row, for every rule; the
 * unsigned ones are exactly the ratings equal to their user's mean. */
Test(signs, rated_rows_are_signs_plus_zeros)
{
    const size_t users = 200, items = 300;
    trip *t = malloc(users * items * sizeof *t);
    cr_assert(t);
    size_t n = 0;
    srand(5);
    for (uint32_t u = 0; u < users; u++)
        for (uint32_t i = 0; i < items; i++)
            if (rand() % (u % 5 == 0 ? 60 : 6) == 0)
                /* few distinct values: many ratings equal their mean */
                t[n++] = (trip){u, i, (double)(rand() % 3 + 2)};
    signmf_ratings *r = make_ratings(users, items, t, n);
    uint32_t *row = malloc(items * sizeof *row);
    for (int rule = 0; rule < 3; rule++) {
        sm_sign_options opt = {(signmf_sign_rule)rule, 3.0};
        sm_signs bu, bi;
        sm_zeros z;
        signmf_error err;
        cr_assert_eq(sm_signs_build_rows(r, &opt, &bu, &z, &err), SIGNMF_OK, "%s", err.message);
        cr_assert_eq(sm_signs_transpose(&bu, &bi, &err), SIGNMF_OK, "%s", err.message);
        check_consistent(&bu, &bi);
        cr_assert_eq(bu.nnz + z.nnz, n);
        size_t k = 0, zeros = 0, bad = 0;
        for (size_t u = 0; u < users; u++) {
            size_t k0 = k;
            while (k < n && r->user[k] == u)
                k++;
            cr_assert_eq(sm_rated_count(&bu, &z, u), k - k0, "user %zu", u);
            sm_rated_row(&bu, &z, u, row);
            double mean = k > k0 ? sm_signs_row_mean(r, k0, k) : 0.0;
            for (size_t q = k0; q < k; q++) {
                bad += row[q - k0] != r->item[q];
                zeros += rule == SIGNMF_SIGN_MEAN && r->value[q] == mean;
            }
        }
        cr_assert_eq(bad, 0, "rule %d: %zu rated entries differ", rule, bad);
        if (rule == SIGNMF_SIGN_MEAN) {
            cr_assert_eq(z.nnz, zeros);
            cr_assert_gt(zeros, 0, "the case should have ratings equal to their mean");
        } else {
            cr_assert_eq(z.nnz, 0);
        }
        sm_signs_release(&bu);
        sm_signs_release(&bi);
        sm_zeros_release(&z);
    }
    free(row);
    free(t);
    free_ratings(r);
}

/* The transpose is a parallel counting sort over ranges of users; any
 * thread count must give the same arrays as one thread. */
Test(signs, transpose_same_for_any_thread_count, .timeout = 60)
{
    const size_t users = 3000, items = 2000;
    trip *t = malloc(users * items / 4 * sizeof *t);
    cr_assert(t);
    size_t n = 0;
    srand(77);
    for (uint32_t u = 0; u < users; u++)
        for (uint32_t i = 0; i < items; i++)
            if (rand() % 5 == 0 && n < users * items / 4)
                t[n++] = (trip){u, i, (double)(rand() % 10 + 1) / 2.0};
    signmf_ratings *r = make_ratings(users, items, t, n);
    sm_signs bu[3], bi[3];
    const int threads[3] = {1, 2, 3};
    for (int c = 0; c < 3; c++) {
        omp_set_num_threads(threads[c]);
        build(r, SIGNMF_SIGN_MEAN, 0.0, &bu[c], &bi[c]);
    }
    for (int c = 1; c < 3; c++) {
        cr_assert_eq(bi[c].nnz, bi[0].nnz);
        cr_assert_eq(memcmp(bi[c].ptr, bi[0].ptr, (items + 1) * sizeof(size_t)), 0);
        cr_assert_eq(memcmp(bi[c].mid, bi[0].mid, items * sizeof(size_t)), 0);
        cr_assert_eq(memcmp(bi[c].idx, bi[0].idx, bi[0].nnz * sizeof(uint32_t)), 0, "%d threads",
                     threads[c]);
        cr_assert_eq(memcmp(bu[c].idx, bu[0].idx, bu[0].nnz * sizeof(uint32_t)), 0);
    }
    for (int c = 0; c < 3; c++) {
        sm_signs_release(&bu[c]);
        sm_signs_release(&bi[c]);
    }
    free(t);
    free_ratings(r);
}

static bool numpy_available(void)
{
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* Non-half ratings make the summation order visible: the mean must equal
 * numpy's np.sum(dense, axis=1) / count bit for bit, including rows wider
 * than numpy's 8192-element reduction buffer, and D must equal the
 * notebook's sign(W - mean). */
Test(signs, numpy_mean_parity, .timeout = 60)
{
    if (!numpy_available())
        cr_skip_test("numpy not available in /usr/bin/python3");
    char path[] = "/tmp/signmf_signs_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    const size_t users = 64, items = 20011;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"\n"
             "import numpy as np\n"
             "g = np.random.default_rng(99)\n"
             "W = np.zeros((%zu, %zu))\n"
             "for u in range(W.shape[0]):\n"
             "    d = [0.0, 0.0005, 0.01, 0.2, 0.7, 1.0][u %% 6]\n"
             "    m = g.random(W.shape[1]) < d\n"
             "    W[u, m] = np.round(g.random(m.sum()) * 9 + 0.5, [1, 3, 7, 15][u %% 4])\n"
             "W[7, :] = 0; W[7, 3] = 0.1; W[7, 9] = 0.2; W[7, 11] = 0.3\n"
             "cnt = (W != 0).sum(axis=1)\n"
             "with np.errstate(all='ignore'):\n"
             "    mean = np.sum(W, axis=1) / cnt\n"
             "D = W - mean.reshape(-1, 1); D[W == 0] = 0\n"
             "S = np.where(D > 0, -1.0, np.where(D < 0, 1.0, 0.0))\n"
             "np.concatenate([W.ravel(), mean, S.ravel()]).astype('<f8').tofile('%s')\n"
             "\"",
             users, items, path);
    int rc = system(cmd);
    if (rc != 0) {
        unlink(path);
        cr_assert_fail("python failed: %d", rc);
    }
    size_t total = users * items * 2 + users;
    double *buf = malloc(total * sizeof *buf);
    cr_assert(buf);
    FILE *fp = fopen(path, "rb");
    cr_assert(fp);
    size_t got = fread(buf, sizeof *buf, total, fp);
    fclose(fp);
    unlink(path);
    cr_assert_eq(got, total);
    const double *W = buf, *mean = buf + users * items, *S = mean + users;

    size_t n = 0;
    for (size_t k = 0; k < users * items; k++)
        n += W[k] != 0;
    trip *t = malloc((n + 1) * sizeof *t);
    cr_assert(t);
    n = 0;
    for (size_t u = 0; u < users; u++)
        for (size_t i = 0; i < items; i++)
            if (W[u * items + i] != 0)
                t[n++] = (trip){(uint32_t)u, (uint32_t)i, W[u * items + i]};
    signmf_ratings *r = make_ratings(users, items, t, n);

    size_t k0 = 0, naive_differs = 0, bad = 0;
    char first[256] = "";
    for (size_t u = 0; u < users; u++) {
        size_t k1 = k0;
        while (k1 < n && r->user[k1] == u)
            k1++;
        if (k1 > k0) {
            double m = sm_signs_row_mean(r, k0, k1);
            if (memcmp(&m, &mean[u], sizeof m) != 0 && bad++ == 0)
                snprintf(first, sizeof first, "user %zu: mean %a, numpy %a", u, m, mean[u]);
            double s = 0;
            for (size_t k = k0; k < k1; k++)
                s += r->value[k];
            naive_differs += s / (double)(k1 - k0) != m;
        }
        k0 = k1;
    }
    cr_assert_eq(bad, 0, "%zu users differ; first: %s", bad, first);
    /* Otherwise this test would not distinguish the orders. */
    cr_assert_gt(naive_differs, 0);

    sm_signs bu, bi;
    build(r, SIGNMF_SIGN_MEAN, 0, &bu, &bi);
    for (size_t u = 0; u < users; u++)
        for (size_t k = bu.ptr[u]; k < bu.ptr[u + 1]; k++) {
            double want = S[u * items + bu.idx[k]];
            if ((k < bu.mid[u] ? 1.0 : -1.0) != want && bad++ == 0)
                snprintf(first, sizeof first, "D[%zu][%u]: numpy %g", u, bu.idx[k], want);
        }
    cr_assert_eq(bad, 0, "%zu signs differ; first: %s", bad, first);
    size_t nz = 0;
    for (size_t k = 0; k < users * items; k++)
        nz += S[k] != 0;
    cr_assert_eq(bu.nnz, nz);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    free(t);
    free(buf);
    free_ratings(r);
}

/* ua.base: 943 users, 1682 items, 90570 ratings; the notebook's D has
 * 89938 nonzeros. */
Test(signs, movielens_ua_base, .timeout = 60)
{
    const char *dir = getenv("SIGNMF_DATA_DIR");
    if (!dir || !*dir)
        cr_skip_test("SIGNMF_DATA_DIR not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/ml-100k/ua.base", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        cr_skip_test("%s not readable", path);
    size_t cap = 100000, n = 0;
    trip *t = malloc(cap * sizeof *t);
    cr_assert(t);
    unsigned long u, i, ts;
    double v;
    size_t users = 0, items = 0;
    while (fscanf(fp, "%lu %lu %lf %lu", &u, &i, &v, &ts) == 4) {
        cr_assert_lt(n, cap);
        t[n++] = (trip){(uint32_t)(u - 1), (uint32_t)(i - 1), v};
        users = u > users ? u : users;
        items = i > items ? i : items;
    }
    fclose(fp);
    cr_assert_eq(n, 90570);
    signmf_ratings *r = make_ratings(users, items, t, n);
    sm_signs bu, bi;
    build(r, SIGNMF_SIGN_MEAN, 0, &bu, &bi);
    cr_assert_eq(bu.nnz, 89938);
    sm_signs_release(&bu);
    sm_signs_release(&bi);
    free(t);
    free_ratings(r);
}

/* 25M ratings must build well under a second (the ml-25m size). */
Test(signs, large_is_fast, .timeout = 60)
{
    const size_t users = 160000, per = 156, items = 60000;
    const size_t n = users * per;
    signmf_ratings r = {0};
    r.users = users;
    r.items = items;
    r.count = n;
    r.user = malloc(n * sizeof *r.user);
    r.item = malloc(n * sizeof *r.item);
    r.value = malloc(n * sizeof *r.value);
    cr_assert(r.user && r.item && r.value);
    uint64_t x = 88172645463325252ull;
    size_t k = 0;
    for (size_t u = 0; u < users; u++) {
        size_t step = items / per;
        for (size_t j = 0; j < per; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.user[k] = (uint32_t)u;
            r.item[k] = (uint32_t)(j * step + x % step);
            r.value[k] = (double)(x % 10 + 1) / 2.0;
            k++;
        }
    }
    sm_sign_options opt = {SIGNMF_SIGN_MEAN, 0};
    /* Best of two runs, so a neighbour process stealing the CPU once does
     * not fail the test. */
    double best = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        sm_signs bu, bi;
        double t0 = sm_now();
        cr_assert_eq(sm_signs_build(&r, &opt, &bu, &bi, NULL), SIGNMF_OK);
        double dt = sm_now() - t0;
        best = dt < best ? dt : best;
        cr_log_info("built %zu signs in %.3f s", bu.nnz, dt);
        sm_signs_release(&bu);
        sm_signs_release(&bi);
    }
    /* About 0.5 s on two idle cores. A shared CI machine, a sanitizer build
     * or parallel tests can be several times slower, so this only catches a
     * pathological (say quadratic) construction; the speed itself is a
     * benchmark figure, not a unit test. */
    cr_assert_lt(best, 15.0, "took %.3f s", best);
    free(r.user);
    free(r.item);
    free(r.value);
}
