/* Construction of the sparse sign matrix D and its transpose.
 *
 * The notebook computes each user's mean with np.sum over the dense row, so
 * the sign of a rating sitting within an ulp of the mean depends on numpy's
 * exact summation order. We reproduce that order without densifying. */
#include "signs/signs.h"
#include "signs/signs_internal.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* numpy 1.24 reduces a contiguous row in iterator chunks of its buffer size
 * (8192 elements), adding each chunk's pairwise sum to the running result;
 * within a chunk it uses pairwise_sum with 8 accumulators over blocks of at
 * most 128 elements. Verified against numpy in tests/test_signs.c. */
#define SM_NP_BUFSIZE  8192
#define SM_NP_PW_BLOCK 128

/* The nonzeros of one dense row: positions (ascending) and values. Zeros
 * contribute exactly nothing to any partial sum (no partial sum of nonzero
 * finite values is ever -0.0 under round-to-nearest), so skipping them while
 * keeping each nonzero in its accumulator slot is bit-identical to summing
 * the dense row. */
typedef struct sm_sparse_row {
    const uint32_t *pos;
    const double *val;
} sm_sparse_row;

/* First k in [lo, hi) with pos[k] >= p. */
static size_t sm_lower_bound(const uint32_t *pos, size_t lo, size_t hi, size_t p)
{
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (pos[m] < p)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

/* numpy's pairwise_sum over dense positions [start, start + n), whose
 * nonzeros are entries [k0, k1) of the row. */
static double sm_pairwise(const sm_sparse_row *row, size_t start, size_t n, size_t k0, size_t k1)
{
    if (k0 == k1)
        return 0.0;
    if (n < 8) {
        double res = 0.0;
        for (size_t k = k0; k < k1; k++)
            res += row->val[k];
        return res;
    }
    if (n <= SM_NP_PW_BLOCK) {
        double r[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        size_t blocked = start + (n - n % 8);
        size_t k = k0;
        for (; k < k1 && row->pos[k] < blocked; k++)
            r[(row->pos[k] - start) % 8] += row->val[k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; k < k1; k++)
            res += row->val[k];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    size_t km = sm_lower_bound(row->pos, k0, k1, start + n2);
    return sm_pairwise(row, start, n2, k0, km) + sm_pairwise(row, start + n2, n - n2, km, k1);
}

/* np.sum(dense_row) for a row of `width` elements with nonzeros [k0, k1). */
static double sm_numpy_row_sum(const sm_sparse_row *row, size_t width, size_t k0, size_t k1)
{
    double res = 0.0;
    size_t k = k0;
    for (size_t start = 0; start < width && k < k1; start += SM_NP_BUFSIZE) {
        size_t n = width - start < SM_NP_BUFSIZE ? width - start : SM_NP_BUFSIZE;
        size_t kend = sm_lower_bound(row->pos, k, k1, start + n);
        res += sm_pairwise(row, start, n, k, kend);
        k = kend;
    }
    return res;
}

/* Sum of a row in any order when that is provably exact: every value a
 * multiple of 0.5 and the total magnitude far below 2^53 halves, so every
 * partial sum in any order is representable. Returns false otherwise. */
static bool sm_exact_sum(const double *val, size_t k0, size_t k1, double *sum)
{
    double s = 0.0, mag = 0.0;
    for (size_t k = k0; k < k1; k++) {
        double t = 2.0 * val[k];
        if (t != floor(t))
            return false;
        s += val[k];
        mag += fabs(val[k]);
    }
    /* mag is itself a sum of multiples of 0.5; while below 2^50 it is exact
     * too, and bounds every partial sum. */
    if (!(mag < 0x1p50))
        return false;
    *sum = s;
    return true;
}

double sm_signs_row_mean(const signmf_ratings *r, size_t k0, size_t k1)
{
    double sum;
    if (!sm_exact_sum(r->value, k0, k1, &sum)) {
        const sm_sparse_row row = {r->item, r->value};
        sum = sm_numpy_row_sum(&row, r->items, k0, k1);
    }
    /* numpy divides by the int64 count converted to double. */
    return sum / (double)(k1 - k0);
}

/* ptr and mid only: idx is allocated once the count is known. */
static signmf_status sm_signs_alloc_rows(sm_signs *s, size_t rows, size_t cols)
{
    s->rows = rows;
    s->cols = cols;
    s->nnz = 0;
    s->ptr = sm_calloc(rows + 1, sizeof *s->ptr);
    s->mid = sm_alloc(rows == 0 ? 1 : rows, sizeof *s->mid);
    if (!s->ptr || !s->mid)
        return SIGNMF_ENOMEM;
    return SIGNMF_OK;
}

void sm_signs_release(sm_signs *s)
{
    if (!s)
        return;
    sm_free(s->ptr);
    sm_free(s->mid);
    sm_free(s->idx);
    memset(s, 0, sizeof *s);
}

static signmf_status sm_validate(const signmf_ratings *r, const sm_sign_options *opt,
                                 signmf_error *err)
{
    if (!r || !opt)
        return sm_fail(err, SIGNMF_EINVAL, "sign construction: NULL ratings or options");
    if (opt->rule != SIGNMF_SIGN_MEAN && opt->rule != SIGNMF_SIGN_THRESHOLD &&
        opt->rule != SIGNMF_SIGN_OBSERVED)
        return sm_fail(err, SIGNMF_EINVAL,
                       "sign rule: expected 0 (mean), 1 (threshold) or 2 "
                       "(observed), found %d",
                       (int)opt->rule);
    if (opt->rule == SIGNMF_SIGN_THRESHOLD && !isfinite(opt->threshold))
        return sm_fail(err, SIGNMF_EINVAL, "sign threshold: expected a finite number, found %g",
                       opt->threshold);
    if (r->users > SM_MAX_DIM || r->items > SM_MAX_DIM)
        return sm_fail(err, SIGNMF_ERANGE,
                       "ratings of %zu users x %zu items: at most %zu rows and columns supported",
                       r->users, r->items, SM_MAX_DIM);
    if (r->count > 0 && (!r->user || !r->item || !r->value))
        return sm_fail(err, SIGNMF_EINVAL, "ratings: %zu triplets but NULL arrays", r->count);
    /* Everything below relies on (user, item) order and in-range indices;
     * checking is one cheap pass and turns a corrupt set into an error
     * instead of out-of-bounds writes. */
    for (size_t k = 0; k < r->count; k++) {
        if (r->user[k] >= r->users || r->item[k] >= r->items)
            return sm_fail(err, SIGNMF_EINVAL,
                           "rating %zu: expected user < %zu and item < %zu, found (%u, %u)", k,
                           r->users, r->items, r->user[k], r->item[k]);
        if (k > 0 && (r->user[k] < r->user[k - 1] ||
                      (r->user[k] == r->user[k - 1] && r->item[k] <= r->item[k - 1])))
            return sm_fail(err, SIGNMF_EINVAL,
                           "rating %zu: expected triplets sorted by (user, item) without "
                           "duplicates, found (%u, %u) after (%u, %u)",
                           k, r->user[k], r->item[k], r->user[k - 1], r->item[k - 1]);
    }
    return SIGNMF_OK;
}

/* Sign of one rating: +1 below (disliked), -1 above (liked), 0 equal. */
static inline int8_t sm_sign_of(double v, double ref, signmf_sign_rule rule)
{
    if (rule == SIGNMF_SIGN_OBSERVED)
        return -1;
    if (rule == SIGNMF_SIGN_THRESHOLD)
        return v >= ref ? -1 : 1;
    return v > ref ? -1 : (v < ref ? 1 : 0);
}

/* Threads for the counting sort: each keeps a 2 x items histogram, so do
 * not use more than the data can pay for. */
static int sm_sort_threads(size_t count, size_t items)
{
    int t = omp_get_max_threads();
    size_t by_work = count / 262144 + 1;
    size_t by_mem = items == 0 ? (size_t)t : ((size_t)256 << 20) / (8 * items) + 1;
    if ((size_t)t > by_work)
        t = (int)by_work;
    if ((size_t)t > by_mem)
        t = (int)by_mem;
    return t < 1 ? 1 : t;
}

void sm_zeros_release(sm_zeros *z)
{
    if (!z)
        return;
    sm_free(z->ptr);
    sm_free(z->idx);
    memset(z, 0, sizeof *z);
}

void sm_rated_row(const sm_signs *d, const sm_zeros *z, size_t u, uint32_t *out)
{
    const uint32_t *a = d->idx + d->ptr[u], *ae = d->idx + d->mid[u];
    const uint32_t *b = ae, *be = d->idx + d->ptr[u + 1];
    const uint32_t *c = z->idx + z->ptr[u], *ce = z->idx + z->ptr[u + 1];
    size_t o = 0;
    while (a < ae || b < be || c < ce) {
        uint32_t x = a < ae ? *a : UINT32_MAX, y = b < be ? *b : UINT32_MAX;
        uint32_t w = c < ce ? *c : UINT32_MAX;
        /* an exhausted segment reads UINT32_MAX, never a column index */
        if (a < ae && x <= y && x <= w)
            out[o++] = *a++;
        else if (b < be && y <= w)
            out[o++] = *b++;
        else
            out[o++] = *c++;
    }
}

signmf_status sm_signs_build_rows(const signmf_ratings *r, const sm_sign_options *opt,
                                  sm_signs *by_user, sm_zeros *zero, signmf_error *err)
{
    if (by_user)
        memset(by_user, 0, sizeof *by_user);
    if (zero)
        memset(zero, 0, sizeof *zero);
    if (!by_user)
        return sm_fail(err, SIGNMF_EINVAL, "sign construction: NULL output");
    signmf_status st = sm_validate(r, opt, err);
    if (st != SIGNMF_OK)
        return st;

    const size_t items = r->items, users = r->users, count = r->count;
    const bool par = sm_sort_threads(count, items) > 1;
    size_t *ustart = sm_alloc(users + 1, sizeof *ustart);
    /* One reference per user instead of one sign per rating: the second
     * pass recomputes each sign, which is a compare. */
    double *ref = sm_alloc(users == 0 ? 1 : users, sizeof *ref);
    bool ok = ustart && ref && sm_signs_alloc_rows(by_user, users, items) == SIGNMF_OK;
    if (ok && zero) {
        zero->rows = users;
        zero->ptr = sm_calloc(users + 1, sizeof *zero->ptr);
        ok = zero->ptr != NULL;
    }
    if (!ok) {
        st = sm_fail(err, SIGNMF_ENOMEM, "sign construction: out of memory for %zu users", users);
        goto out;
    }
    for (size_t k = 0, u = 0; u <= users; u++) {
        while (k < count && r->user[k] < u)
            k++;
        ustart[u] = k;
    }

    /* References and per-user segment sizes (stashed in mid, ptr + 1 and
     * zero->ptr + 1). */
    const signmf_sign_rule rule = opt->rule;
#pragma omp parallel for schedule(dynamic, 256) if (par)
    for (size_t u = 0; u < users; u++) {
        size_t k0 = ustart[u], k1 = ustart[u + 1];
        double rf = rule == SIGNMF_SIGN_THRESHOLD ? opt->threshold : 0.0;
        if (rule == SIGNMF_SIGN_MEAN && k1 > k0)
            rf = sm_signs_row_mean(r, k0, k1);
        ref[u] = rf;
        size_t np = 0, nm = 0;
        for (size_t k = k0; k < k1; k++) {
            int8_t s = sm_sign_of(r->value[k], rf, rule);
            np += s > 0;
            nm += s < 0;
        }
        by_user->mid[u] = np;
        by_user->ptr[u + 1] = np + nm;
        if (zero)
            zero->ptr[u + 1] = (k1 - k0) - np - nm;
    }
    size_t nnz = 0;
    by_user->ptr[0] = 0;
    for (size_t u = 0; u < users; u++) {
        size_t np = by_user->mid[u];
        by_user->mid[u] = nnz + np;
        nnz += by_user->ptr[u + 1];
        by_user->ptr[u + 1] = nnz;
        if (zero)
            zero->ptr[u + 1] += zero->ptr[u];
    }
    by_user->nnz = nnz;
    by_user->idx = sm_alloc(nnz == 0 ? 1 : nnz, sizeof *by_user->idx);
    if (zero) {
        zero->nnz = zero->ptr[users];
        zero->idx = sm_alloc(zero->nnz == 0 ? 1 : zero->nnz, sizeof *zero->idx);
    }
    if (!by_user->idx || (zero && !zero->idx)) {
        st = sm_fail(err, SIGNMF_ENOMEM, "sign construction: out of memory for %zu signs", nnz);
        goto out;
    }

    /* The input is in (user, item) order, so each row is its +1 entries
     * then its -1 entries, both already ascending. */
#pragma omp parallel for schedule(dynamic, 256) if (par)
    for (size_t u = 0; u < users; u++) {
        size_t p = by_user->ptr[u], m = by_user->mid[u], z = zero ? zero->ptr[u] : 0;
        const double rf = ref[u];
        for (size_t k = ustart[u]; k < ustart[u + 1]; k++) {
            int8_t s = sm_sign_of(r->value[k], rf, rule);
            if (s > 0)
                by_user->idx[p++] = r->item[k];
            else if (s < 0)
                by_user->idx[m++] = r->item[k];
            else if (zero)
                zero->idx[z++] = r->item[k];
        }
    }
out:
    sm_free(ustart);
    sm_free(ref);
    if (st != SIGNMF_OK) {
        sm_signs_release(by_user);
        sm_zeros_release(zero);
    }
    return st;
}

/* First row r < rows with ptr[r] >= goal, else rows. */
static size_t sm_first_from(const size_t *ptr, size_t rows, size_t goal)
{
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (ptr[m] < goal)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

signmf_status sm_signs_transpose(const sm_signs *by_user, sm_signs *by_item, signmf_error *err)
{
    if (by_item)
        memset(by_item, 0, sizeof *by_item);
    if (!by_user || !by_item)
        return sm_fail(err, SIGNMF_EINVAL, "sign transpose: NULL argument");
    const size_t users = by_user->rows, items = by_user->cols, nnz = by_user->nnz;
    const int nt = sm_sort_threads(nnz, items);
    const bool par = nt > 1;
    size_t hist_len;
    if (sm_mul_overflows((size_t)nt, 2 * items + 1, &hist_len))
        return sm_fail(err, SIGNMF_EOVERFLOW, "sign construction: %zu items", items);
    /* Per thread and item: plus and minus counts, then per-thread offsets
     * within the item's segments. An item has at most `users` <= 2^32 - 1
     * entries, so 32 bits suffice and keep the histograms cache-friendly. */
    uint32_t *hist = sm_calloc(hist_len, sizeof *hist);
    if (!hist || sm_signs_alloc_rows(by_item, items, users) != SIGNMF_OK ||
        !(by_item->idx = sm_alloc(nnz == 0 ? 1 : nnz, sizeof *by_item->idx))) {
        sm_free(hist);
        sm_signs_release(by_item);
        return sm_fail(err, SIGNMF_ENOMEM, "sign construction: out of memory for %zu signs", nnz);
    }
    by_item->nnz = nnz;
    const size_t *ptr = by_user->ptr, *mid = by_user->mid;
    const uint32_t *idx = by_user->idx;

    /* A stable parallel counting sort. Thread t owns the users whose
     * entries start in [nnz*t/nt, nnz*(t+1)/nt); giving each thread offsets
     * after those of earlier threads keeps every segment ascending by user. */
#pragma omp parallel num_threads(nt) if (par)
    {
        const size_t t = (size_t)omp_get_thread_num(), tn = (size_t)omp_get_num_threads();
        const size_t u0 = t == 0 ? 0 : sm_first_from(ptr, users, nnz / tn * t + nnz % tn * t / tn);
        const size_t u1 =
            t + 1 == tn ? users
                        : sm_first_from(ptr, users, nnz / tn * (t + 1) + nnz % tn * (t + 1) / tn);
        uint32_t *h = hist + t * 2 * items;
        for (size_t u = u0; u < u1; u++) {
            for (size_t e = ptr[u]; e < mid[u]; e++)
                h[2 * (size_t)idx[e]]++;
            for (size_t e = mid[u]; e < ptr[u + 1]; e++)
                h[2 * (size_t)idx[e] + 1]++;
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (size_t s = 0; s < 2 * items; s++) {
            uint32_t run = 0;
            for (size_t w = 0; w < tn; w++) {
                uint32_t c = hist[w * 2 * items + s];
                hist[w * 2 * items + s] = run;
                run += c;
            }
            /* Item totals, stashed in mid and ptr + 1. */
            if (s % 2 == 0)
                by_item->mid[s / 2] = run;
            else
                by_item->ptr[s / 2 + 1] = run;
        }
#pragma omp single
        {
            size_t acc = 0;
            by_item->ptr[0] = 0;
            for (size_t j = 0; j < items; j++) {
                size_t np = by_item->mid[j], nm = by_item->ptr[j + 1];
                by_item->mid[j] = acc + np;
                acc += np + nm;
                by_item->ptr[j + 1] = acc;
            }
        }
        for (size_t u = u0; u < u1; u++) {
            for (size_t e = ptr[u]; e < mid[u]; e++) {
                size_t j = idx[e];
                by_item->idx[by_item->ptr[j] + h[2 * j]++] = (uint32_t)u;
            }
            for (size_t e = mid[u]; e < ptr[u + 1]; e++) {
                size_t j = idx[e];
                by_item->idx[by_item->mid[j] + h[2 * j + 1]++] = (uint32_t)u;
            }
        }
    }
    sm_free(hist);
    return SIGNMF_OK;
}

signmf_status sm_signs_build(const signmf_ratings *r, const sm_sign_options *opt, sm_signs *by_user,
                             sm_signs *by_item, signmf_error *err)
{
    if (by_item)
        memset(by_item, 0, sizeof *by_item);
    if (!by_user || !by_item) {
        if (by_user)
            memset(by_user, 0, sizeof *by_user);
        return sm_fail(err, SIGNMF_EINVAL, "sign construction: NULL output");
    }
    signmf_status st = sm_signs_build_rows(r, opt, by_user, NULL, err);
    if (st == SIGNMF_OK)
        st = sm_signs_transpose(by_user, by_item, err);
    if (st != SIGNMF_OK)
        sm_signs_release(by_user);
    return st;
}
